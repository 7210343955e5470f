//! Limits shared by a fleet through a [`Store`] (Redis with the `redis` feature, in
//! memory in the tests): what a decision asks the store, how the pair's adapted state
//! travels, and what happens while the store is away.
//!
//! Local limits always apply; the store adds the fleet-wide view on top: one lease per
//! capped scope for each session, one GCRA charge per rated scope for each message,
//! and the pair's adapted rate, session cap and suspension, written by whichever
//! process heard the receiver and read back by every other with its next message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, Reference};
use parking_lot::Mutex;

use super::rate::Rate;
use super::slot::Slot;
use super::state::{Keys, Pair, State};
use super::time::later;
use super::wait::{LimitKind, LimitScope, Wait};
use crate::error::SharedError;

mod adapted;
#[cfg(test)]
mod memory;
mod status;
mod store;
#[cfg(test)]
mod tests;

use adapted::Adapted;
pub use status::{Fallback, SharedStatus};
pub(crate) use store::{Refusal, RefusalKind, ScopeRequest, Store, Stored};

/// The scopes of a shared decision, in the order they are asked.
const SCOPES: [LimitScope; 3] = [LimitScope::Pair, LimitScope::Site, LimitScope::Source];

/// The store and how to use it.
pub(super) struct Fleet {
    store: Arc<dyn Store>,
    pub(super) fallback: Fallback,
    retry_after: Duration,
    pub(super) lease: Duration,
    health: Mutex<Health>,
    calls: AtomicU64,
    failures: AtomicU64,
    fallbacks: AtomicU64,
}

/// The store's health: after a failure, decisions skip it until `retry_at`, so that a
/// dead Redis costs one timeout per `retry_after`, not one per decision.
#[derive(Default)]
struct Health {
    down_since: Option<Instant>,
    retry_at: Option<Instant>,
    last_error: Option<String>,
}

/// The fleet side of a permit: the scopes' names, the lease holder, which scopes are
/// leased and when the leases were last extended.
pub(super) struct SharedPermit {
    names: [String; 3],
    holder: String,
    leased: [bool; 3],
    extended: Instant,
}

impl SharedPermit {
    /// The names of the scopes this session holds a lease on.
    fn leased_names(&self) -> Vec<&str> {
        self.names
            .iter()
            .zip(self.leased)
            .filter(|(_, leased)| *leased)
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// The pair's adapted state and suspension before a feedback, to tell what changed.
pub(super) struct Before<I> {
    name: String,
    adapted: Adapted,
    suspended: Option<I>,
    /// Sessions the whole fleet has open on the pair (0 when not read).
    pub(super) fleet_sessions: u32,
}

/// What a session asks of the store, read under the state lock.
pub(super) struct OpenPlan {
    names: [String; 3],
    caps: [u32; 3],
}

/// The route's scope names and session caps, for [`Fleet::open`].
pub(super) fn plan_open<C: Clock>(state: &mut State<C>, keys: Keys) -> OpenPlan {
    OpenPlan {
        names: names(state, keys),
        caps: limits_of(state, keys).map(|(cap, _)| cap),
    }
}

/// The route's current rates, for [`Fleet::message`].
pub(super) fn rates<C: Clock>(state: &mut State<C>, keys: Keys) -> [Option<(Duration, u32)>; 3] {
    limits_of(state, keys).map(|(_, rate)| rate)
}

/// A change to write to the store: the pair's adapted state and a suspension.
pub(super) struct Change {
    name: String,
    state: Option<String>,
    ttl: Duration,
    suspend: Duration,
}

/// After a feedback: what changed in the pair since `before`, if anything.
pub(super) fn changes<C: Clock>(
    before: Before<C::Instant>,
    pair: &Pair<C>,
    now: C::Instant,
    ttl: Duration,
) -> Option<Change> {
    let adapted = Adapted::of(pair);
    let state = (adapted != before.adapted).then(|| adapted.encode());
    let suspend = match pair.slot.suspended {
        Some(until) if pair.slot.suspended != before.suspended && until > now => {
            Duration::from(until.duration_since(now))
        }
        _ => Duration::ZERO,
    };
    (state.is_some() || !suspend.is_zero()).then_some(Change {
        name: before.name,
        state,
        ttl,
        suspend,
    })
}

/// Makes the pair follow what the store held for it (so that a receiver's objection
/// heard by several processes slows the pair once) and keeps what to compare with
/// after the feedback.
pub(super) fn before<C: Clock + Clone>(
    state: &mut State<C>,
    keys: Keys,
    stored: Option<Stored>,
    clock: &C,
    floor: &Rate,
    now: C::Instant,
) -> Before<C::Instant> {
    let name = pair_name(state, keys);
    let pair = state.pairs.at(keys.pair);
    let mut fleet_sessions = 0;
    if let Some(stored) = stored {
        if let Some(adapted) = &stored.adapted {
            Fleet::follow(clock, pair, adapted, floor, now);
        }
        if !stored.suspended_for.is_zero() {
            pair.slot.suspend(later(now, stored.suspended_for));
        }
        fleet_sessions = stored.sessions;
    }
    Before {
        name,
        adapted: Adapted::of(pair),
        suspended: pair.slot.suspended,
        fleet_sessions,
    }
}

/// The store's name of the route's pair.
pub(super) fn pair_name<C: Clock>(state: &mut State<C>, keys: Keys) -> String {
    let [pair, _, _] = names(state, keys);
    pair
}

/// A fleet-wide suspension of one of the route's scopes for `time`.
pub(super) fn suspension<C: Clock>(
    state: &mut State<C>,
    keys: Keys,
    scope: LimitScope,
    time: Duration,
) -> Option<Change> {
    let index = SCOPES.iter().position(|s| *s == scope).unwrap_or(0);
    (!time.is_zero()).then(|| Change {
        name: names(state, keys)[index].clone(),
        state: None,
        ttl: Duration::from_secs(1),
        suspend: time,
    })
}

/// The names of a route's scopes in the store.
fn names<C: Clock>(state: &mut State<C>, keys: Keys) -> [String; 3] {
    let site = state.sites.at(keys.site).name.to_string();
    let ip = state.sources.at(keys.source).ip;
    [
        format!("pair:{ip}|{site}"),
        format!("site:{site}"),
        format!("source:{ip}"),
    ]
}

/// The session cap (0: none) and rate of a route's slots, pair first.
fn limits_of<C: Clock>(state: &mut State<C>, keys: Keys) -> [(u32, Option<(Duration, u32)>); 3] {
    let of = |slot: &Slot<C>| {
        (
            slot.sessions.unwrap_or(0),
            slot.rate.as_ref().map(|b| (b.interval(), b.burst)),
        )
    };
    [
        of(&state.pairs.at(keys.pair).slot),
        of(&state.sites.at(keys.site).slot),
        of(&state.sources.at(keys.source).slot),
    ]
}

/// The store's refusal as a `Wait` on the limits' clock.
fn wait_of<I: Reference>(refusal: Refusal, now: I) -> Wait<I> {
    let scope = SCOPES
        .get(refusal.scope)
        .copied()
        .unwrap_or(LimitScope::Pair);
    match refusal.kind {
        RefusalKind::Suspended(wait) => Wait::at(later(now, wait), scope, LimitKind::Suspended),
        RefusalKind::Sessions => Wait::sessions(now, scope),
        RefusalKind::Rate(wait) => Wait::at(later(now, wait), scope, LimitKind::Rate),
    }
}

impl Fleet {
    pub(super) fn new(
        store: Arc<dyn Store>,
        fallback: Fallback,
        retry_after: Duration,
        lease: Duration,
    ) -> Self {
        Self {
            store,
            fallback,
            retry_after,
            lease,
            health: Mutex::new(Health::default()),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// Runs `call` on the store unless it failed less than `retry_after` ago (then one
    /// caller probes it again); `None` when it is away (the caller falls back).
    fn call<T>(&self, call: impl FnOnce(&dyn Store) -> Result<T, SharedError>) -> Option<T> {
        {
            let mut health = self.health.lock();
            if let Some(at) = health.retry_at {
                let now = Instant::now();
                if now < at {
                    return None;
                }
                // One caller probes the store; the others go on falling back meanwhile
                // instead of queueing for a timeout each.
                health.retry_at = Some(now + self.retry_after);
            }
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let result = call(self.store.as_ref());
        let mut health = self.health.lock();
        match result {
            Ok(value) => {
                health.down_since = None;
                health.retry_at = None;
                Some(value)
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                health.down_since.get_or_insert(now);
                health.retry_at = Some(now + self.retry_after);
                health.last_error = Some(error.to_string());
                None
            }
        }
    }

    /// The decision while the store is away.
    fn fall_back<I: Reference>(&self, now: I) -> Result<(), Wait<I>> {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        match self.fallback {
            Fallback::Refuse => Err(Wait::at(
                later(now, self.retry_after),
                LimitScope::Pair,
                LimitKind::SharedUnavailable,
            )),
            _ => Ok(()),
        }
    }

    /// Leases a session on the route's capped scopes (the plan comes from
    /// [`plan_open`], made under the state lock; this runs after letting it go). `Ok`
    /// carries the fleet side of the permit, without leases when the store is away and
    /// the fallback is local.
    pub(super) fn open<I: Reference>(
        &self,
        plan: OpenPlan,
        now: I,
    ) -> Result<SharedPermit, Wait<I>> {
        let OpenPlan { names, caps } = plan;
        let holder = self.store.holder();
        let requests: Vec<ScopeRequest<'_>> = names
            .iter()
            .zip(caps)
            .map(|(name, cap)| ScopeRequest {
                name,
                cap,
                rate: None,
            })
            .collect();
        let leased = match self.call(|s| s.open(&requests, self.lease, &holder)) {
            Some(Ok(())) => caps.map(|cap| cap > 0),
            Some(Err(refusal)) => return Err(wait_of(refusal, now)),
            None => {
                self.fall_back(now)?;
                [false; 3]
            }
        };
        drop(requests);
        Ok(SharedPermit {
            names,
            holder,
            leased,
            extended: Instant::now(),
        })
    }

    /// Charges one message to the route's rated scopes, extending the session's
    /// leases when a third of their time has passed. Returns the pair's adapted state
    /// as stored, to follow, also with a refusal.
    /// `rates` come from [`rates`], read under the state lock; this runs after.
    pub(super) fn message<I: Reference>(
        &self,
        permit: &mut SharedPermit,
        rates: [Option<(Duration, u32)>; 3],
        now: I,
    ) -> (Result<(), Wait<I>>, Option<String>) {
        if permit.leased.contains(&true) && permit.extended.elapsed() >= self.lease / 3 {
            let leased = permit.leased_names();
            match self.call(|s| s.extend(&leased, self.lease, &permit.holder)) {
                Some(true) => permit.extended = Instant::now(),
                // The lease expired (the session idled past it, or Redis lost it):
                // the slot may be someone else's, so this session must end.
                Some(false) => {
                    permit.leased = [false; 3];
                    return (Err(Wait::session_full(now)), None);
                }
                None => {}
            }
        }
        let requests: Vec<ScopeRequest<'_>> = permit
            .names
            .iter()
            .zip(rates)
            .map(|(name, rate)| ScopeRequest { name, cap: 0, rate })
            .collect();
        match self.call(|s| s.message(&requests, Some(&permit.names[0]))) {
            Some((decision, adapted)) => (decision.map_err(|r| wait_of(r, now)), adapted),
            None => (self.fall_back(now), None),
        }
    }

    /// Gives the permit's leases back (skipped while the store is away: they expire).
    pub(super) fn release(&self, permit: &SharedPermit) {
        let leased = permit.leased_names();
        if !leased.is_empty() {
            self.call(|s| s.release(&leased, &permit.holder));
        }
    }

    /// Makes the local pair follow the adapted state read from the store, within its
    /// own bounds (see [`Adapted::apply`]).
    pub(super) fn follow<C: Clock + Clone>(
        clock: &C,
        pair: &mut Pair<C>,
        stored: &str,
        floor: &Rate,
        now: C::Instant,
    ) {
        if let Some(adapted) = Adapted::decode(stored) {
            adapted.apply(clock, pair, floor, now);
        }
    }

    /// What the store holds for the route's pair, before a feedback that may slow it
    /// down; `None` while the store is away.
    pub(super) fn read_pair(&self, name: &str) -> Option<Stored> {
        self.call(|s| s.read(name))
    }

    /// Writes what a feedback changed (see [`changes`]), after the state lock is let go.
    pub(super) fn write(&self, change: Change) {
        self.call(|s| {
            s.write(
                &change.name,
                change.state.as_deref(),
                change.ttl,
                change.suspend,
            )
        });
    }

    /// The store's health and counters.
    pub(super) fn status(&self) -> SharedStatus {
        let health = self.health.lock();
        SharedStatus {
            connected: health.down_since.is_none(),
            fallback: self.fallback,
            down_for: health.down_since.map(|since| since.elapsed()),
            last_error: health.last_error.clone(),
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            fallback_decisions: self.fallbacks.load(Ordering::Relaxed),
        }
    }
}
