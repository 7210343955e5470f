//! [`Limits`]: the decisions — may a session open on this route, what a reply does to
//! it — on the shared state.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};

use super::adapt::{about_route, adapt};
use super::alert::Alert;
use super::fleet::{self, Fleet, SharedStatus};
use super::inner::Inner;
use super::permit::Permit;
use super::settings::Settings;
use super::site::SiteLimits;
use super::time::since;
use super::wait::{LimitScope, Wait};
use crate::classify::{Category, Classification, Severity};
use crate::route::{Route, Site};

/// Alerts kept for [`Limits::drain_alerts`] at most; older ones are dropped first.
const MAX_ALERTS: usize = 1024;

/// Session slots and message rates per sending IP, per site and per (IP, site) pair,
/// adapting to what receivers answer.
///
/// Decisions, not waits: [`try_acquire`](Limits::try_acquire) answers at once with a
/// [`Permit`] (one session slot on all three scopes, given back on drop) or a [`Wait`]
/// saying which limit is in the way and until when. Each message of the session is
/// charged with [`Permit::try_message`]. [`feedback`](Limits::feedback) lets replies
/// move the pair's limits. [`acquire_timeout`](Limits::acquire_timeout) blocks on top.
/// [`reconfigure`](Limits::reconfigure) moves live limits to new settings, keeping every
/// route's state.
///
/// Clones share one state. Time comes from the clock given to the builder (governor's
/// [`Clock`]; `FakeRelativeClock` in tests). Memory is bounded: at most
/// [`max_routes`](super::LimitsBuilder::max_routes) routes are tracked, and routes that no
/// longer bind are forgotten after [`idle_after`](super::LimitsBuilder::idle_after) (see
/// [`prune_idle`](Limits::prune_idle)).
///
/// ```
/// use std::net::IpAddr;
/// use governor::clock::{Clock, FakeRelativeClock};
/// use smtp_throttle::limit::{Limits, LimitKind, Rate, ScopeLimits, SiteLimits};
/// use smtp_throttle::route::{Destination, Route};
///
/// let clock = FakeRelativeClock::default();
/// let limits = Limits::builder_with_clock(clock.clone())
///     .site_default(SiteLimits {
///         pair: ScopeLimits::sessions(2).with_rate(Rate::per_minute(30)?),
///         ..SiteLimits::default()
///     })
///     .build()?;
/// let route = Route::new("192.0.2.1".parse::<IpAddr>()?, Destination::new("example.org")?);
///
/// let mut permit = limits.try_acquire(&route).expect("a free slot");
/// permit.try_message().expect("within the rate");
/// let wait = permit.try_message().unwrap_err();   // 30/min: the next one in 2 s
/// assert_eq!(wait.kind(), LimitKind::Rate);
/// assert_eq!(wait.wait_time_from(clock.now()), std::time::Duration::from_secs(2));
/// drop(permit);                                    // the slot comes back
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Limits<C: Clock = DefaultClock> {
    pub(super) inner: Arc<Inner<C>>,
}

impl<C: Clock> Clone for Limits<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock + Clone> fmt::Debug for Limits<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("routes", &self.len())
            .finish()
    }
}

impl<C: Clock + Clone> Limits<C> {
    /// The clock the limits run on.
    pub fn clock(&self) -> &C {
        &self.inner.clock
    }

    /// Takes one session slot on the route's source, site and pair, or says why not.
    ///
    /// Order of checks: suspensions and then session caps, pair first, then site and
    /// source, then the pair's connection rate and backoff ([`LimitKind::Connections`]).
    /// Nothing is taken when a `Wait` is returned. A permit counts as a connection; one
    /// dropped before any message was charged gives it back, so charge the first
    /// message before you connect (as [`Throttle`](crate::throttle::Throttle) does).
    ///
    /// [`LimitKind::Connections`]: super::LimitKind::Connections
    pub fn try_acquire(&self, route: &Route) -> Result<Permit<C>, Wait<C::Instant>> {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        let keys = self.inner.keys(&mut state, route, now);
        state.each_slot(keys, |slot, scope| slot.check_open(now, scope))?;
        // Last, as it spends a cell: the pair's connection rate and backoff.
        let pace = state.settings.pace;
        let pair = state.pairs.at(keys.pair);
        let binds = pair.gate.check(pace, now)?;
        pair.slot.binds_until = pair.slot.binds_until.max(now + binds);
        state.open(keys, now);
        let plan = self
            .inner
            .fleet
            .as_ref()
            .map(|_| fleet::plan_open(&mut state, keys));
        drop(state);
        let mut permit = Permit::new(Arc::clone(&self.inner), keys, route.source());
        // Refused by the fleet: dropping the permit gives the local slot back.
        if let (Some(fleet), Some(plan)) = (&self.inner.fleet, plan) {
            permit.shared = Some(fleet.open(plan, now)?);
        }
        Ok(permit)
    }

    /// Suspends one scope of the route until `until` (a later suspension wins).
    ///
    /// With a shared store, the suspension is shared with the whole fleet.
    pub fn suspend(&self, route: &Route, scope: LimitScope, until: C::Instant) {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        let keys = self.inner.keys(&mut state, route, now);
        match scope {
            LimitScope::Source => state.sources.at(keys.source).slot.suspend(until),
            LimitScope::Site => state.sites.at(keys.site).slot.suspend(until),
            LimitScope::Pair => state.pairs.at(keys.pair).slot.suspend(until),
        }
        if let Some(fleet) = &self.inner.fleet {
            let change = fleet::suspension(&mut state, keys, scope, since(until, now));
            drop(state);
            if let Some(change) = change {
                fleet.write(change);
            }
        }
    }

    /// Lets a reply move the pair's limits:
    ///
    /// - `rate_limited`, `reputation`: the pair's rate × [`Adaptive::decrease`] (10 %
    ///   off instead when it is back near the rate last refused; never below the
    ///   floor) and a suspension for the server's hint (at most 7 days) or a pause as
    ///   long as the receiver shows it needs (see [`Adaptive`](super::Adaptive));
    /// - `too_many_connections`: the pair's session cap drops below the sessions in
    ///   flight (never below 1);
    /// - `server_busy`: a short suspension (the hint, or 5 s doubling while the server
    ///   stays busy, up to [`Adaptive::busy_pause`]);
    /// - a success: after [`Adaptive::ramp_after`] in a row, the rate and the session
    ///   cap step back towards the configured ceiling (a pair configured without a
    ///   session cap gets none again once the cap passes twice the refused sessions);
    /// - a reply whose [`scope`](Classification::scope) is a recipient or a message
    ///   (one mailbox's rate, one message's size), greylisting and anything else: no
    ///   change to the route.
    ///
    /// Throttling that persists escalates (see [`Escalation`]): a pair throttled again
    /// and again gets a longer suspension and an [`Alert::RouteReputation`]; a source
    /// throttled by several sites raises [`Alert::SourceReputation`]; a block after
    /// throttling suspends the pair for long and raises [`Alert::Blocked`].
    ///
    /// With a shared store, the pair's adapted rate, session cap and suspension are
    /// the fleet's: read before an objection is applied (so that one heard by several
    /// processes slows the pair once) and written after any change.
    ///
    /// [`Adaptive::decrease`]: super::Adaptive::decrease
    /// [`Adaptive::busy_pause`]: super::Adaptive::busy_pause
    /// [`Adaptive::ramp_after`]: super::Adaptive::ramp_after
    /// [`Escalation`]: super::Escalation
    pub fn feedback(&self, route: &Route, reply: &Classification) {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let route_reply = about_route(reply) && reply.severity != Severity::Success;
        let objection = route_reply
            && matches!(
                reply.category,
                Category::RateLimited
                    | Category::Reputation
                    | Category::TooManyConnections
                    | Category::ServerBusy
            );
        // The store is read outside the state lock.
        let stored = match &inner.fleet {
            Some(fleet) if objection => {
                let name = {
                    let mut state = inner.state.lock();
                    let keys = inner.keys(&mut state, route, now);
                    fleet::pair_name(&mut state, keys)
                };
                fleet.read_pair(&name)
            }
            _ => None,
        };
        let mut alerts = Vec::new();
        let mut state = inner.state.lock();
        let keys = inner.keys(&mut state, route, now);
        let settings = Arc::clone(&state.settings);
        state.touch(keys, now);
        let before = inner.fleet.as_ref().map(|_| {
            fleet::before(
                &mut state,
                keys,
                stored,
                &inner.clock,
                &settings.adaptive.floor,
                now,
            )
        });
        // With a store, "too many connections" is about the fleet's sessions.
        let fleet_sessions = before.as_ref().map_or(0, |b| b.fleet_sessions);
        let pair = state.pairs.at(keys.pair);
        // Objections escalate when slowing down did not help: one count an episode
        // (sessions that hear it during the pause, retries before anything got
        // through), and only for an episode that came soon after the last pause.
        let escalates = pair.objection_persists(now, settings.adaptive.ramp_after);
        let continued = pair.continues_episode(now);
        adapt(
            &inner.clock,
            pair,
            reply,
            now,
            (&settings.adaptive, &settings.connections),
            fleet_sessions,
        );
        if route_reply {
            settings.escalation.count(
                &mut state,
                keys,
                reply,
                (now, escalates, continued),
                &mut alerts,
            );
        }
        let change = before.and_then(|before| {
            fleet::changes(before, state.pairs.at(keys.pair), now, settings.idle_after)
        });
        // The store and the alert hook are called outside the state lock.
        drop(state);
        if let (Some(fleet), Some(change)) = (&inner.fleet, change) {
            fleet.write(change);
        }
        self.publish(&settings, alerts);
    }

    /// Hands alerts to the callback and keeps them for `drain_alerts`, outside the
    /// state lock.
    fn publish(&self, settings: &Settings, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        if let Some(hook) = &settings.on_alert {
            for alert in &alerts {
                hook(alert);
            }
        }
        let mut kept = self.inner.alerts.lock();
        for alert in alerts {
            if kept.len() == MAX_ALERTS {
                kept.pop_front();
            }
            kept.push_back(alert);
        }
    }

    /// Takes the alerts raised since the last call (the latest 1024 at most).
    pub fn drain_alerts(&self) -> Vec<Alert> {
        self.inner.alerts.lock().drain(..).collect()
    }

    /// The limits configured for `site` (its override, else its provider's preset over
    /// the defaults, else the defaults), before any adaptation: what a new pair to it
    /// starts from.
    pub fn site_limits(&self, site: &Site) -> SiteLimits {
        // The settings in force now (a reconfigure may have replaced them).
        let settings = self.inner.state.lock().settings.clone();
        settings.site(site)
    }

    /// The pair's current rate (as the interval between messages) and session cap.
    pub fn pair_limits(&self, route: &Route) -> (Option<Duration>, Option<u32>) {
        let mut state = self.inner.state.lock();
        let keys = self.inner.keys(&mut state, route, self.inner.clock.now());
        let slot = &state.pairs.at(keys.pair).slot;
        (
            slot.rate_spec().map(|(interval, _)| interval),
            slot.sessions,
        )
    }

    /// The pair's state now, without creating it: `None` when the route is not tracked
    /// with a pair of its own.
    pub fn snapshot(&self, route: &Route) -> Option<PairSnapshot<C::Instant>> {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        let idle_after = state.settings.idle_after;
        state.sweep_if_due(now, idle_after);
        let keys = state.find(route.source(), route.site())?;
        let slot = &state.pairs.at(keys.pair).slot;
        Some(PairSnapshot {
            interval: slot.rate_spec().map(|(interval, _)| interval),
            sessions: slot.sessions,
            in_flight: slot.in_flight,
            suspended_until: slot.suspended_at(now),
        })
    }

    /// The end of the latest suspension running on any of the route's scopes (its
    /// pair, its site, its source IP): what a retry of a message on it must wait for.
    pub fn suspended_until(&self, route: &Route) -> Option<C::Instant> {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        let keys = self.inner.keys(&mut state, route, now);
        state.suspended_until(keys, now)
    }

    /// Sessions in flight on the route's pair.
    pub fn in_flight(&self, route: &Route) -> u32 {
        let mut state = self.inner.state.lock();
        let idle_after = state.settings.idle_after;
        state.sweep_if_due(self.inner.clock.now(), idle_after);
        match state.find(route.source(), route.site()) {
            Some(keys) => state.pairs.at(keys.pair).slot.in_flight,
            None => 0,
        }
    }

    /// The longest an open session waits for its next message's rate before it is
    /// closed ([`Connections::idle`](super::Connections::idle)).
    pub fn session_idle(&self) -> Duration {
        self.inner.state.lock().settings.connections.idle
    }

    /// The shared store's health and counters, or `None` without one.
    pub fn shared_status(&self) -> Option<SharedStatus> {
        self.inner.fleet.as_ref().map(Fleet::status)
    }

    /// Routes (source, site pairs) tracked now, at most
    /// [`max_routes`](super::LimitsBuilder::max_routes) (the overflow route included).
    pub fn len(&self) -> usize {
        let mut state = self.inner.state.lock();
        let idle_after = state.settings.idle_after;
        state.sweep_if_due(self.inner.clock.now(), idle_after);
        state.routes()
    }

    /// Whether no route is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets now the routes that no longer bind: unused for
    /// [`idle_after`](super::LimitsBuilder::idle_after), nothing in flight, no running
    /// suspension, no rate whose spent cells are still missing (a day quota binds
    /// until it has refilled) and no warm-up day running; returns how many. The same
    /// sweep runs by itself every half `idle_after` (at least a second apart) on the
    /// next decision or look at the routes (`snapshot`, `len`, `in_flight`), and when
    /// the route cap is reached.
    pub fn prune_idle(&self) -> usize {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        let idle_after = state.settings.idle_after;
        state.prune(now, idle_after)
    }
}

/// A pair's limits and load at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PairSnapshot<I> {
    /// The current interval between messages (the inverse of the rate), if limited.
    pub interval: Option<Duration>,
    /// The current cap on simultaneous sessions, if any.
    pub sessions: Option<u32>,
    /// Sessions in flight.
    pub in_flight: u32,
    /// The end of a running suspension.
    pub suspended_until: Option<I>,
}

impl<I> PairSnapshot<I> {
    /// The same snapshot with its time on another clock.
    pub(crate) fn map<J>(self, f: impl FnOnce(I) -> J) -> PairSnapshot<J> {
        PairSnapshot {
            interval: self.interval,
            sessions: self.sessions,
            in_flight: self.in_flight,
            suspended_until: self.suspended_until.map(f),
        }
    }
}
