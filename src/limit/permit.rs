//! [`Permit`]: one session slot on a route, charged per message, given back on drop.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};

use super::fleet::{self, Fleet, SharedPermit};
use super::inner::Inner;
use super::state::{FirstSend, Keys, State, WarmDay};
use super::time::later;
use super::wait::{LimitKind, LimitScope, Wait};
use super::warm_up::WarmUp;

const DAY: Duration = Duration::from_secs(86_400);

/// One session slot on a route's source, site and pair; given back when dropped, also
/// when the holder panics.
#[must_use = "a permit holds a session slot until it is dropped; charge messages on it"]
pub struct Permit<C: Clock = DefaultClock> {
    inner: Arc<Inner<C>>,
    keys: Keys,
    source: IpAddr,
    messages: u32,
    /// The fleet side: leases and scope names, with a shared store.
    pub(super) shared: Option<SharedPermit>,
}

impl<C: Clock> fmt::Debug for Permit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("source", &self.source)
            .field("messages", &self.messages)
            .finish()
    }
}

impl<C: Clock + Clone> Permit<C> {
    /// A permit for a session already counted in flight on `keys`.
    pub(super) fn new(inner: Arc<Inner<C>>, keys: Keys, source: IpAddr) -> Self {
        Self {
            inner,
            keys,
            source,
            messages: 0,
            shared: None,
        }
    }

    /// Charges one message to the pair's, site's and source's rates, or says which
    /// limit is in the way: a suspension of any of the three
    /// ([`LimitKind::Suspended`]), the warm-up budget, a rate. Also refuses once the
    /// session carried the site's messages per connection ([`LimitKind::SessionFull`]).
    ///
    /// The pair is checked first, then the site and the source; when a later scope
    /// refuses, the earlier ones have still spent their cell, which errs on the slow
    /// side and never past a quota.
    pub fn try_message(&mut self) -> Result<(), Wait<C::Instant>> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let mut state = inner.state.lock();
        let keys = self.keys;
        // The site's cap as it is now: a reconfiguration reaches open sessions too.
        let max_messages = state.sites.at(keys.site).deliveries;
        if max_messages.is_some_and(|max| self.messages >= max) {
            return Err(Wait::session_full(now));
        }
        // A suspension stops sessions already open too: after a 421 on one session, the
        // others on the same route must not go on sending.
        state.each_slot(keys, |slot, scope| slot.check_suspended(now, scope))?;
        if state.settings.warm_up.is_some() {
            let settings = Arc::clone(&state.settings);
            if let Some(schedule) = &settings.warm_up {
                check_warm_up(&mut state, keys, schedule, now)?;
            }
        }
        let rated = state.each_slot(keys, |slot, scope| slot.check_rate(now, scope));
        if let Err(wait) = rated {
            // A session waited for a rate: more sessions would not send more.
            let pair = state.pairs.at(keys.pair);
            pair.rate_waits = pair.rate_waits.saturating_add(1);
            return Err(wait);
        }
        if let (Some(fleet), Some(shared)) = (&inner.fleet, &mut self.shared) {
            let rates = fleet::rates(&mut state, keys);
            drop(state);
            let (decision, stored) = fleet.message(shared, rates, now);
            if let Some(stored) = stored {
                let mut state = inner.state.lock();
                let floor = state.settings.adaptive.floor;
                Fleet::follow(
                    &inner.clock,
                    state.pairs.at(keys.pair),
                    &stored,
                    &floor,
                    now,
                );
            }
            decision?;
        }
        self.messages += 1;
        Ok(())
    }

    /// A running suspension of the pair, site or source as a `Wait`, without charging
    /// anything: a message charged earlier must not go out on a route suspended since.
    pub(crate) fn check_suspended(&self) -> Result<(), Wait<C::Instant>> {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        state.each_slot(self.keys, |slot, scope| slot.check_suspended(now, scope))
    }

    /// Messages charged to this session.
    pub fn messages(&self) -> u32 {
        self.messages
    }

    /// The sending IP.
    pub fn source(&self) -> IpAddr {
        self.source
    }
}

/// Charges the pair's warm-up budget for the source's current day: at most the day's
/// volume within that day (a count, not a refilling rate), none once the schedule is
/// over. An IP's day counts from its first send (recorded with
/// `LimitsBuilder::first_send`, counted from `build()`, or else its first message),
/// kept for as long as the limits live, even while its routes are forgotten.
fn check_warm_up<C: Clock + Clone>(
    state: &mut State<C>,
    keys: Keys,
    schedule: &WarmUp,
    now: C::Instant,
) -> Result<(), Wait<C::Instant>> {
    let ip = state.sources.at(keys.source).ip;
    let age = state
        .first_sends
        .entry(ip)
        .or_insert(FirstSend {
            at: now,
            age: Duration::ZERO,
        })
        .age_at(now);
    let days = age.as_secs() / DAY.as_secs();
    let day = u32::try_from(days).unwrap_or(u32::MAX).saturating_add(1);
    let pair = state.pairs.at(keys.pair);
    let Some(volume) = schedule.volume_on(day) else {
        pair.warm.retain(|warm| warm.ip != ip);
        return Ok(());
    };
    let into_day = age.saturating_sub(DAY.saturating_mul(day - 1));
    let fresh = WarmDay {
        ip,
        day,
        used: 0,
        ends: later(now, DAY.saturating_sub(into_day)),
    };
    let index = match pair.warm.iter().position(|warm| warm.ip == ip) {
        Some(i) => i,
        None => {
            pair.warm.push(fresh);
            pair.warm.len() - 1
        }
    };
    let warm = &mut pair.warm[index];
    if warm.day != day {
        *warm = fresh;
    }
    if warm.used >= volume {
        return Err(Wait::at(warm.ends, LimitScope::Source, LimitKind::WarmUp));
    }
    warm.used += 1;
    Ok(())
}

impl<C: Clock> Drop for Permit<C> {
    fn drop(&mut self) {
        // The fleet's leases first, so that a local waiter woken below finds them free.
        if let (Some(fleet), Some(shared)) = (&self.inner.fleet, &self.shared) {
            fleet.release(shared);
        }
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        if self.messages == 0 {
            let pace = state.settings.pace;
            state.pairs.at(self.keys.pair).gate.refund(pace, now);
        }
        state.release(self.keys, now);
        drop(state);
        self.inner.released.notify_all();
        #[cfg(feature = "async")]
        for waker in std::mem::take(&mut *self.inner.wakers.lock()) {
            waker.wake();
        }
    }
}
