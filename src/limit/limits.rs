//! [`Limits`]: session slots and message rates per source IP, site and pair, adapting to
//! what receivers say.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock, Reference};
use parking_lot::{Condvar, Mutex};

use super::alert::{Alert, Escalation};
use super::config::{Adaptive, Rate, ScopeLimits, SiteLimits, WarmUp};
#[cfg(feature = "redis")]
use super::fleet::{self, Fleet, SharedPermit};
use super::state::{later, Bucket, Creation, Keys, Pair, State};
use super::wait::{LimitKind, LimitScope, Wait};
use crate::classify::{Category, Classification, Severity};
use crate::error::ConfigError;
use crate::route::{Route, Site};
#[cfg(feature = "redis")]
use crate::shared::{Fallback, RedisLimits, SharedStatus};

/// The most routes tracked by default.
const DEFAULT_MAX_ROUTES: usize = 1_000_000;
/// Routes unused this long may be forgotten by default.
const DEFAULT_IDLE_AFTER: Duration = Duration::from_secs(3600);

struct Settings {
    source: ScopeLimits,
    site_default: SiteLimits,
    sites: HashMap<Site, SiteLimits>,
    presets: bool,
    adaptive: Adaptive,
    max_routes: usize,
    idle_after: Duration,
    overflow: Site,
    escalation: Escalation,
    warm_up: Option<WarmUp>,
    first_sends: HashMap<IpAddr, Duration>,
}

/// Alerts kept for [`Limits::drain_alerts`] at most; older ones are dropped first.
const MAX_ALERTS: usize = 1024;

/// A function that receives alerts as they happen.
type AlertHook = Box<dyn Fn(&Alert) + Send + Sync>;

impl Settings {
    fn site(&self, site: &Site) -> SiteLimits {
        if let Some(limits) = self.sites.get(site) {
            return *limits;
        }
        let preset = self
            .presets
            .then(|| site.provider().and_then(SiteLimits::preset))
            .flatten();
        match preset {
            // A preset fills in what it publishes; the defaults cover the rest.
            Some(p) => SiteLimits {
                site: ScopeLimits {
                    rate: p.site.rate.or(self.site_default.site.rate),
                    sessions: p.site.sessions.or(self.site_default.site.sessions),
                },
                pair: ScopeLimits {
                    rate: p.pair.rate.or(self.site_default.pair.rate),
                    sessions: p.pair.sessions.or(self.site_default.pair.sessions),
                },
                deliveries_per_session: p
                    .deliveries_per_session
                    .or(self.site_default.deliveries_per_session),
            },
            None => self.site_default,
        }
    }
}

struct Inner<C: Clock> {
    clock: C,
    settings: Settings,
    state: Mutex<State<C>>,
    released: Condvar,
    /// Async waiters for a released session slot.
    #[cfg(feature = "async")]
    wakers: Mutex<Vec<std::task::Waker>>,
    alerts: Mutex<std::collections::VecDeque<Alert>>,
    on_alert: Option<AlertHook>,
    /// Limits shared with other processes through Redis.
    #[cfg(feature = "redis")]
    fleet: Option<Fleet>,
}

impl<C: Clock + Clone> Inner<C> {
    fn keys(&self, state: &mut State<C>, route: &Route, now: C::Instant) -> Keys {
        let settings = &self.settings;
        let site_limits = |site: &Site| settings.site(site);
        let make = Creation {
            clock: &self.clock,
            now,
            source: &settings.source,
            site: &site_limits,
            max_routes: settings.max_routes,
            idle_after: settings.idle_after,
            first_sends: &settings.first_sends,
        };
        state.keys(&make, route.source(), route.site(), &settings.overflow)
    }
}

/// Session slots and message rates per sending IP, per site and per (IP, site) pair,
/// adapting to what receivers answer.
///
/// Decisions, not waits: [`try_acquire`](Limits::try_acquire) answers at once with a
/// [`Permit`] (one session slot on all three scopes, given back on drop) or a [`Wait`]
/// saying which limit is in the way and until when. Each message of the session is
/// charged with [`Permit::try_message`]. [`feedback`](Limits::feedback) lets replies
/// move the pair's limits. [`acquire_timeout`](Limits::acquire_timeout) blocks on top.
///
/// Clones share one state. Time comes from the clock given to the builder (governor's
/// [`Clock`]; `FakeRelativeClock` in tests). Memory is bounded: idle routes are
/// forgotten and at most [`max_routes`](LimitsBuilder::max_routes) are tracked.
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
/// assert_eq!(wait.kind, LimitKind::Rate);
/// assert_eq!(wait.wait_time_from(clock.now()), Some(std::time::Duration::from_secs(2)));
/// drop(permit);                                    // the slot comes back
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Limits<C: Clock = DefaultClock> {
    inner: Arc<Inner<C>>,
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

impl Limits<DefaultClock> {
    /// Starts limits on the system's monotonic clock.
    pub fn builder() -> LimitsBuilder<DefaultClock> {
        LimitsBuilder::new(DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limits<C> {
    /// Starts limits on the given clock.
    pub fn builder_with_clock(clock: C) -> LimitsBuilder<C> {
        LimitsBuilder::new(clock)
    }

    /// The clock the limits run on.
    pub fn clock(&self) -> &C {
        &self.inner.clock
    }

    /// Takes one session slot on the route's source, site and pair, or says why not.
    ///
    /// Order of checks: suspensions and then session caps, pair first, then site and
    /// source. Nothing is taken when a `Wait` is returned.
    pub fn try_acquire(&self, route: &Route) -> Result<Permit<C>, Wait<C::Instant>> {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        let keys = self.inner.keys(&mut state, route, now);
        state.each_slot(keys, |slot, scope| slot.check_open(now, scope))?;
        state.pairs.at(keys.pair).slot.in_flight += 1;
        state.sources.at(keys.source).slot.in_flight += 1;
        let site = state.sites.at(keys.site);
        site.slot.in_flight += 1;
        let max_messages = site.deliveries;
        state.touch(keys, now);
        #[cfg(feature = "redis")]
        let plan = self
            .inner
            .fleet
            .as_ref()
            .map(|_| fleet::plan_open(&mut state, keys));
        drop(state);
        #[allow(unused_mut)]
        let mut permit = Permit {
            inner: Arc::clone(&self.inner),
            keys,
            source: route.source(),
            messages: 0,
            max_messages,
            #[cfg(feature = "redis")]
            shared: None,
        };
        // Refused by the fleet: dropping the permit gives the local slot back.
        #[cfg(feature = "redis")]
        if let (Some(fleet), Some(plan)) = (&self.inner.fleet, plan) {
            permit.shared = Some(fleet.open(plan, now)?);
        }
        Ok(permit)
    }

    /// Like [`try_acquire`](Limits::try_acquire), but waits (blocking the thread) up to
    /// `timeout` of real time: on a session slot until another session ends, on a
    /// suspension until it is over. Returns the last `Wait` when the time runs out.
    ///
    /// Waits are computed on the limits' clock and slept in real time, so with a fake
    /// clock that nobody advances a suspension simply runs until the timeout.
    pub fn acquire_timeout(
        &self,
        route: &Route,
        timeout: Duration,
    ) -> Result<Permit<C>, Wait<C::Instant>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.attempt(route, deadline) {
                Attempt::Done(result) => return result,
                Attempt::Sleep(time) => std::thread::sleep(time),
                Attempt::AwaitRelease(time) => {
                    let mut state = self.inner.state.lock();
                    // A release between try_acquire and here is caught by the timed
                    // wait: at most 50 ms late.
                    self.inner.released.wait_for(&mut state, time);
                }
            }
        }
    }

    /// One round of a waiting acquire: the permit or the final `Wait`, or what to wait
    /// for before the next round.
    fn attempt(&self, route: &Route, deadline: Instant) -> Attempt<C> {
        let wait = match self.try_acquire(route) {
            Ok(permit) => return Attempt::Done(Ok(permit)),
            Err(wait) => wait,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Attempt::Done(Err(wait));
        }
        match wait.wait_time_from(self.inner.clock.now()) {
            Some(time) => Attempt::Sleep(time.min(left).max(Duration::from_millis(1))),
            None => Attempt::AwaitRelease(left.min(Duration::from_millis(50))),
        }
    }

    /// Like [`acquire_timeout`](Limits::acquire_timeout), as a future that runs on any
    /// executor: rate and suspension waits sleep on `futures-timer` (the timer governor
    /// uses), session waits wake when a permit is dropped. Needs the `async` feature.
    ///
    /// ```
    /// # use std::net::IpAddr;
    /// # use std::time::Duration;
    /// # use smtp_throttle::limit::Limits;
    /// # use smtp_throttle::route::{Destination, Route};
    /// let limits = Limits::builder().build()?;
    /// let route = Route::new("192.0.2.1".parse::<IpAddr>()?, Destination::new("example.org")?);
    /// let permit = futures_executor::block_on(limits.acquire(&route, Duration::from_secs(5)));
    /// assert!(permit.is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn acquire(
        &self,
        route: &Route,
        timeout: Duration,
    ) -> Result<Permit<C>, Wait<C::Instant>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.attempt(route, deadline) {
                Attempt::Done(result) => return result,
                Attempt::Sleep(time) => futures_timer::Delay::new(time).await,
                Attempt::AwaitRelease(time) => {
                    Released {
                        inner: &self.inner,
                        timer: futures_timer::Delay::new(time),
                        polled: false,
                    }
                    .await
                }
            }
        }
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
        #[cfg(feature = "redis")]
        if let Some(fleet) = &self.inner.fleet {
            let time = Duration::from(until.duration_since(now));
            let change = fleet::suspension(&mut state, keys, scope, time);
            drop(state);
            if let Some(change) = change {
                fleet.write(change);
            }
        }
    }

    /// Lets a reply move the pair's limits:
    ///
    /// - `rate_limited`, `reputation`: the pair's rate × [`Adaptive::decrease`] (never
    ///   below the floor) and a suspension for the server's hint or the default pause;
    /// - `too_many_connections`: the pair's session cap drops below the sessions in
    ///   flight (never below 1);
    /// - `server_busy`: a short suspension (the hint or [`Adaptive::busy_pause`]);
    /// - a success: after [`Adaptive::ramp_after`] in a row, the rate and the session
    ///   cap step back towards the configured ceiling;
    /// - anything else (greylisting, recipient-level replies …): no change.
    ///
    /// Throttling that persists escalates (see [`Escalation`]): a pair throttled again
    /// and again gets a longer suspension and an [`Alert::RouteReputation`]; a source
    /// throttled by several sites raises [`Alert::SourceReputation`]; a block after
    /// throttling suspends the pair for long and raises [`Alert::Blocked`].
    ///
    /// With a shared store, the pair's adapted rate, session cap and suspension are
    /// the fleet's: read before an objection is applied (so that one heard by several
    /// processes slows the pair once) and written after any change.
    pub fn feedback(&self, route: &Route, reply: &Classification) {
        let now = self.inner.clock.now();
        #[cfg(feature = "redis")]
        let before = self.inner.fleet.as_ref().map(|fleet| {
            let objection = matches!(
                reply.category,
                Category::RateLimited
                    | Category::Reputation
                    | Category::TooManyConnections
                    | Category::ServerBusy
            ) && reply.severity != Severity::Success;
            let keys_of = |state: &mut State<C>| self.inner.keys(state, route, now);
            fleet.before_feedback(&self.inner.clock, &self.inner.state, keys_of, objection)
        });
        let mut alerts = Vec::new();
        let mut state = self.inner.state.lock();
        let keys = self.inner.keys(&mut state, route, now);
        state.touch(keys, now);
        // With a store, "too many connections" is about the fleet's sessions.
        #[cfg(feature = "redis")]
        let fleet_sessions = before.as_ref().map_or(0, |b| b.fleet_sessions);
        #[cfg(not(feature = "redis"))]
        let fleet_sessions = 0;
        self.adapt(&mut state, keys, reply, now, fleet_sessions, &mut alerts);
        #[cfg(feature = "redis")]
        let change = before.and_then(|before| {
            let ttl = self.inner.settings.idle_after;
            fleet::changes(before, state.pairs.at(keys.pair), now, ttl)
        });
        // The store and the alert hook are called outside the state lock.
        drop(state);
        #[cfg(feature = "redis")]
        if let (Some(fleet), Some(change)) = (&self.inner.fleet, change) {
            fleet.write(change);
        }
        self.publish(alerts);
    }

    /// The local part of [`feedback`](Limits::feedback): moves the pair's limits and
    /// counts towards escalation. `fleet_sessions`: the pair's sessions open in the
    /// whole fleet, when a shared store told.
    fn adapt(
        &self,
        state: &mut State<C>,
        keys: Keys,
        reply: &Classification,
        now: C::Instant,
        fleet_sessions: u32,
        alerts: &mut Vec<Alert>,
    ) {
        let adaptive = self.inner.settings.adaptive;
        let clock = &self.inner.clock;
        {
            let pair = state.pairs.at(keys.pair);
            let pause_until = |default: Duration| later(now, reply.retry_hint.unwrap_or(default));
            if reply.severity == Severity::Success {
                pair.successes += 1;
                if pair.successes >= adaptive.ramp_after {
                    pair.successes = 0;
                    ramp_up(clock, pair, &adaptive);
                }
                return;
            }
            match reply.category {
                Category::RateLimited | Category::Reputation => {
                    pair.successes = 0;
                    // Sessions in flight when the receiver objects all hear it: one
                    // decrease per objection, not one per session.
                    if pair.slot.suspended.is_none_or(|until| until <= now) {
                        slow_down(clock, pair, &adaptive);
                    }
                    let pause = if reply.category == Category::RateLimited {
                        adaptive.rate_limited_pause
                    } else {
                        adaptive.reputation_pause
                    };
                    pair.slot.suspend(pause_until(pause));
                }
                Category::TooManyConnections => {
                    pair.successes = 0;
                    let in_flight = pair.slot.in_flight.max(fleet_sessions).max(1);
                    let cap = pair.slot.sessions.unwrap_or(in_flight);
                    pair.slot.sessions = Some(cap.min(in_flight).saturating_sub(1).max(1));
                }
                Category::ServerBusy => pair.slot.suspend(pause_until(adaptive.busy_pause)),
                _ => {}
            }
        }
        self.escalate(state, keys, reply, now, alerts);
    }

    /// Counts throttling and blocks towards the escalation thresholds.
    fn escalate(
        &self,
        state: &mut State<C>,
        keys: Keys,
        reply: &Classification,
        now: C::Instant,
        alerts: &mut Vec<Alert>,
    ) {
        let esc = self.inner.settings.escalation;
        let in_window = |since: Option<C::Instant>| {
            since.is_some_and(|since| Duration::from(now.duration_since(since)) < esc.window)
        };
        let throttled = reply.severity == Severity::Transient
            && matches!(reply.category, Category::RateLimited | Category::Reputation);
        let blocked = reply.severity == Severity::Permanent
            && matches!(
                reply.category,
                Category::Blocklisted | Category::Reputation | Category::Policy
            );
        let site_name = state.sites.at(keys.site).name.clone();
        let source_ip = state.sources.at(keys.source).ip;
        let pair = state.pairs.at(keys.pair);
        if blocked && in_window(pair.signals_since) && pair.signals > 0 {
            pair.slot.suspend(later(now, esc.block_pause));
            pair.signals = 0;
            pair.signals_since = None;
            alerts.push(Alert::Blocked {
                source: source_ip,
                site: site_name,
                category: reply.category,
                suspended_for: esc.block_pause,
            });
            return;
        }
        if !throttled {
            return;
        }
        if !in_window(pair.signals_since) {
            pair.signals = 0;
            pair.signals_since = Some(now);
        }
        pair.signals += 1;
        if pair.signals == esc.pair_signals {
            pair.slot.suspend(later(now, esc.route_pause));
            alerts.push(Alert::RouteReputation {
                source: source_ip,
                site: site_name,
                signals: pair.signals,
                window: esc.window,
                suspended_for: esc.route_pause,
            });
        }
        let source = state.sources.at(keys.source);
        if !in_window(source.throttled_since) {
            source.throttled_by.clear();
            source.throttled_since = Some(now);
        }
        if !source.throttled_by.contains(&keys.site) {
            source.throttled_by.push(keys.site);
            if source.throttled_by.len() == esc.distinct_sites as usize {
                alerts.push(Alert::SourceReputation {
                    source: source_ip,
                    sites: esc.distinct_sites,
                    window: esc.window,
                });
            }
        }
    }

    /// Hands alerts to the callback and keeps them for `drain_alerts`, outside the
    /// state lock.
    fn publish(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        if let Some(hook) = &self.inner.on_alert {
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

    /// The pair's current rate (as the interval between messages) and session cap.
    pub fn pair_limits(&self, route: &Route) -> (Option<Duration>, Option<u32>) {
        let mut state = self.inner.state.lock();
        let keys = self.inner.keys(&mut state, route, self.inner.clock.now());
        let pair = state.pairs.at(keys.pair);
        (
            pair.slot.rate.as_ref().map(|b| b.interval()),
            pair.slot.sessions,
        )
    }

    /// The pair's state now, without creating it: `None` when the route is not tracked.
    pub fn snapshot(&self, route: &Route) -> Option<PairSnapshot<C::Instant>> {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        let keys = state.find(route.source(), route.site())?;
        let pair = state.pairs.at(keys.pair);
        Some(PairSnapshot {
            interval: pair.slot.rate.as_ref().map(|b| b.interval()),
            sessions: pair.slot.sessions,
            in_flight: pair.slot.in_flight,
            suspended_until: pair.slot.suspended.filter(|until| *until > now),
        })
    }

    /// Sessions in flight on the route's pair.
    pub fn in_flight(&self, route: &Route) -> u32 {
        let mut state = self.inner.state.lock();
        match state.find(route.source(), route.site()) {
            Some(keys) => state.pairs.at(keys.pair).slot.in_flight,
            None => 0,
        }
    }

    /// The shared store's health and counters, or `None` without one.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_status(&self) -> Option<SharedStatus> {
        self.inner.fleet.as_ref().map(Fleet::status)
    }

    /// Routes (source, site pairs) tracked now.
    pub fn len(&self) -> usize {
        self.inner.state.lock().routes()
    }

    /// Whether no route is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets routes unused for [`idle_after`](LimitsBuilder::idle_after) with nothing
    /// in flight and no running suspension; returns how many. Also done by itself when
    /// the route cap is reached.
    pub fn prune_idle(&self) -> usize {
        let now = self.inner.clock.now();
        self.inner
            .state
            .lock()
            .prune(now, self.inner.settings.idle_after)
    }
}

/// Ready when a permit is released or the timer fires, whichever comes first.
#[cfg(feature = "async")]
struct Released<'a, C: Clock> {
    inner: &'a Inner<C>,
    timer: futures_timer::Delay,
    polled: bool,
}

#[cfg(feature = "async")]
impl<C: Clock> std::future::Future for Released<'_, C> {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        // Polled again: woken by a release (or spuriously; the caller checks again).
        if self.polled || std::pin::Pin::new(&mut self.timer).poll(cx).is_ready() {
            return std::task::Poll::Ready(());
        }
        self.polled = true;
        let mut wakers = self.inner.wakers.lock();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        std::task::Poll::Pending
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

/// What a waiting acquire does next.
enum Attempt<C: Clock> {
    Done(Result<Permit<C>, Wait<C::Instant>>),
    Sleep(Duration),
    AwaitRelease(Duration),
}

/// Multiplies the pair's rate by the decrease factor, not below the floor, and
/// remembers the rate the receiver refused.
fn slow_down<C: Clock + Clone>(clock: &C, pair: &mut Pair<C>, adaptive: &Adaptive) {
    let Some(bucket) = &pair.slot.rate else {
        return;
    };
    pair.refused_rate = (1.0 / bucket.interval().as_secs_f64()) as f32;
    let slower = bucket
        .interval()
        .div_f64(adaptive.decrease)
        .min(adaptive.floor.interval().max(bucket.interval()));
    pair.slot.rate = Some(Bucket::new(clock, slower, 1, true));
}

/// Share of the refused rate the ramp-up returns to at once.
const BELOW_REFUSED: f64 = 0.9;
/// How fast the remembered refused rate creeps up per ramp step at that plateau, so
/// that a receiver whose limit rose is found again (about 10 % in 500 steps).
const PROBE: f64 = 0.0002;

/// Adds a step of the ceiling rate and one session, up to the configured ceilings; the
/// rate steps back quickly to just under the rate the receiver last refused, then
/// creeps up from there.
fn ramp_up<C: Clock + Clone>(clock: &C, pair: &mut Pair<C>, adaptive: &Adaptive) {
    if let (Some(ceiling), Some(bucket)) = (pair.ceiling, &pair.slot.rate) {
        if bucket.interval() > ceiling.interval() {
            let per_sec = 1.0 / bucket.interval().as_secs_f64();
            let ceiling_per_sec = 1.0 / ceiling.interval().as_secs_f64();
            let mut cap = ceiling_per_sec;
            if pair.refused_rate > 0.0 {
                let refused = f64::from(pair.refused_rate);
                let plateau = refused * BELOW_REFUSED;
                if per_sec >= plateau * (1.0 - 1e-6) {
                    pair.refused_rate = (refused * (1.0 + PROBE)) as f32;
                }
                cap = cap.min(f64::from(pair.refused_rate) * BELOW_REFUSED);
            }
            let faster = (per_sec + adaptive.ramp_step * ceiling_per_sec)
                .min(cap)
                .max(per_sec);
            let interval = Duration::from_secs_f64(1.0 / faster).max(ceiling.interval());
            let burst = if interval == ceiling.interval() {
                ceiling.burst()
            } else {
                1
            };
            pair.slot.rate = Some(Bucket::new(clock, interval, burst, true));
        }
    }
    if let (Some(ceiling), Some(cap)) = (pair.session_ceiling, pair.slot.sessions) {
        pair.slot.sessions = Some((cap + 1).min(ceiling));
    }
}

/// One session slot on a route's source, site and pair; given back when dropped, also
/// when the holder panics.
pub struct Permit<C: Clock = DefaultClock> {
    inner: Arc<Inner<C>>,
    keys: Keys,
    source: IpAddr,
    messages: u32,
    max_messages: Option<u32>,
    /// The fleet side: leases and scope names, with a shared store.
    #[cfg(feature = "redis")]
    shared: Option<SharedPermit>,
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
    /// Charges one message to the pair's, site's and source's rates, or says which
    /// limit is in the way: a suspension of any of the three
    /// ([`LimitKind::Suspended`]), a rate. Also refuses once the session carried the site's messages
    /// per connection ([`LimitKind::SessionFull`]).
    ///
    /// The pair is checked first, then the site and the source; when a later scope
    /// refuses, the earlier ones have still spent their cell, which errs on the slow
    /// side and never past a quota.
    pub fn try_message(&mut self) -> Result<(), Wait<C::Instant>> {
        if self.max_messages.is_some_and(|max| self.messages >= max) {
            return Err(Wait {
                until: None,
                scope: LimitScope::Pair,
                kind: LimitKind::SessionFull,
            });
        }
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        // A suspension stops sessions already open too: after a 421 on one session, the
        // others on the same route must not go on sending.
        let keys = self.keys;
        state.each_slot(keys, |slot, scope| slot.check_suspended(now, scope))?;
        if let Some(schedule) = &self.inner.settings.warm_up {
            self.check_warm_up(&mut state, schedule)?;
        }
        state.each_slot(keys, |slot, scope| slot.check_rate(scope))?;
        #[cfg(feature = "redis")]
        if let (Some(fleet), Some(shared)) = (&self.inner.fleet, &mut self.shared) {
            let rates = fleet::rates(&mut state, keys);
            drop(state);
            let (decision, stored) = fleet.message(shared, rates, now);
            if let Some(stored) = stored {
                let mut state = self.inner.state.lock();
                Fleet::follow(&self.inner.clock, state.pairs.at(keys.pair), &stored);
            }
            decision?;
        }
        self.messages += 1;
        Ok(())
    }

    /// Charges the pair's warm-up budget for the source's current day: a fresh daily
    /// bucket each day, none once the schedule is over.
    fn check_warm_up(
        &self,
        state: &mut State<C>,
        schedule: &WarmUp,
    ) -> Result<(), Wait<C::Instant>> {
        let clock = &self.inner.clock;
        let now = clock.now();
        let source = state.sources.at(self.keys.source);
        let first = *source.first_send.get_or_insert(now);
        let days = Duration::from(now.duration_since(first)).as_secs() / 86_400;
        let day = u32::try_from(days).unwrap_or(u32::MAX).saturating_add(1);
        let pair = state.pairs.at(self.keys.pair);
        let Some(volume) = schedule.volume_on(day) else {
            pair.warm = None;
            return Ok(());
        };
        if pair.warm.as_ref().is_none_or(|(d, _)| *d != day) {
            let per_message = Duration::from_secs(86_400) / volume;
            pair.warm = Some((day, Bucket::new(clock, per_message, volume, false)));
        }
        match &pair.warm {
            Some((_, bucket)) => bucket.check().map_err(|until| Wait {
                until: Some(until),
                scope: LimitScope::Source,
                kind: LimitKind::WarmUp,
            }),
            None => Ok(()),
        }
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

impl<C: Clock> Drop for Permit<C> {
    fn drop(&mut self) {
        // The fleet's leases first, so that a local waiter woken below finds them free.
        #[cfg(feature = "redis")]
        if let (Some(fleet), Some(shared)) = (&self.inner.fleet, &self.shared) {
            fleet.release(shared);
        }
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        state.release(self.keys, now);
        drop(state);
        self.inner.released.notify_all();
        #[cfg(feature = "async")]
        for waker in std::mem::take(&mut *self.inner.wakers.lock()) {
            waker.wake();
        }
    }
}

/// Builds [`Limits`]; see [`Limits::builder`].
pub struct LimitsBuilder<C: Clock> {
    clock: C,
    source: ScopeLimits,
    site_default: SiteLimits,
    sites: HashMap<Site, SiteLimits>,
    presets: bool,
    adaptive: Adaptive,
    max_routes: usize,
    idle_after: Duration,
    escalation: Escalation,
    on_alert: Option<AlertHook>,
    warm_up: Option<WarmUp>,
    first_sends: HashMap<IpAddr, Duration>,
    #[cfg(feature = "redis")]
    shared: SharedSettings,
}

/// How limits use a shared store.
#[cfg(feature = "redis")]
struct SharedSettings {
    store: Option<Arc<RedisLimits>>,
    fallback: Fallback,
    retry_after: Duration,
    lease: Duration,
}

/// The longest `shared_retry_after` and `shared_lease`.
#[cfg(feature = "redis")]
const MAX_SHARED_TIME: Duration = Duration::from_secs(3600);

impl<C: Clock> fmt::Debug for LimitsBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitsBuilder")
            .field("source", &self.source)
            .field("site_default", &self.site_default)
            .field("sites", &self.sites.len())
            .field("presets", &self.presets)
            .field("max_routes", &self.max_routes)
            .field("idle_after", &self.idle_after)
            .finish()
    }
}

impl<C: Clock + Clone> LimitsBuilder<C> {
    fn new(clock: C) -> Self {
        Self {
            clock,
            source: ScopeLimits::UNLIMITED,
            // KumoMTA's defaults per (source, site): 10 connections, 100 messages per
            // connection, 100 messages per second.
            site_default: SiteLimits {
                site: ScopeLimits::UNLIMITED,
                pair: ScopeLimits {
                    rate: Rate::per_second(100).ok(),
                    sessions: Some(10),
                },
                deliveries_per_session: Some(100),
            },
            sites: HashMap::new(),
            presets: true,
            adaptive: Adaptive::default(),
            max_routes: DEFAULT_MAX_ROUTES,
            idle_after: DEFAULT_IDLE_AFTER,
            escalation: Escalation::default(),
            on_alert: None,
            warm_up: None,
            first_sends: HashMap::new(),
            #[cfg(feature = "redis")]
            shared: SharedSettings {
                store: None,
                fallback: Fallback::Local,
                retry_after: Duration::from_secs(1),
                lease: Duration::from_secs(60),
            },
        }
    }

    /// Shares the limits with every process that uses the same Redis and key prefix
    /// ([`RedisLimits`]): each session also takes a lease on the pair's, site's and
    /// source's session caps, each message is also charged to their rates, fleet-wide;
    /// the pair's adapted rate, session cap and suspensions are the fleet's. Local
    /// limits keep applying on top. While Redis is away, see
    /// [`shared_fallback`](LimitsBuilder::shared_fallback).
    ///
    /// The clock of shared limits is the Redis server's: give the limits a real clock
    /// (the default), not a fake one, when they share a store.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[must_use]
    pub fn shared(mut self, store: Arc<RedisLimits>) -> Self {
        self.shared.store = Some(store);
        self
    }

    /// What decisions do while the shared store is unreachable or slower than its
    /// timeout (default [`Fallback::Local`]: go on under this process's own limits).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[must_use]
    pub fn shared_fallback(mut self, fallback: Fallback) -> Self {
        self.shared.fallback = fallback;
        self
    }

    /// After a failed call, how long decisions skip the store before asking it again
    /// (default 1 s), so that a dead Redis costs one timeout per period, not one per
    /// decision. At most an hour.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[must_use]
    pub fn shared_retry_after(mut self, time: Duration) -> Self {
        self.shared.retry_after = time;
        self
    }

    /// How long a session's shared lease lasts (default 60 s): extended while the
    /// session sends (every third of it), and the longest a crashed process holds a
    /// slot. A session idle past it loses the slot and must end. At most an hour.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[must_use]
    pub fn shared_lease(mut self, time: Duration) -> Self {
        self.shared.lease = time;
        self
    }

    /// Caps cold sending IPs by a warm-up schedule ([`WarmUp::default`] is SendGrid's
    /// 16-day ramp), applied to each (IP, site) pair as a daily budget on top of its
    /// other limits. An IP's day counts from its first send: the one recorded with
    /// [`first_send`](LimitsBuilder::first_send), or else its first message through
    /// these limits. Off by default: a restarted process should not re-warm IPs it
    /// knows nothing about, so record the first sends you keep.
    #[must_use]
    pub fn warm_up(mut self, schedule: WarmUp) -> Self {
        self.warm_up = Some(schedule);
        self
    }

    /// Records that `ip` first sent `ago` before now (from your own records), so its
    /// warm-up continues on the right day; an IP older than the schedule is warm.
    #[must_use]
    pub fn first_send(mut self, ip: IpAddr, ago: Duration) -> Self {
        self.first_sends.insert(ip, ago);
        self
    }

    /// When persistent throttling escalates (default [`Escalation::default`]).
    #[must_use]
    pub fn escalation(mut self, escalation: Escalation) -> Self {
        self.escalation = escalation;
        self
    }

    /// Calls `hook` with every alert as it is raised (alerts are also kept for
    /// [`Limits::drain_alerts`]). It runs on the thread that gave the feedback, outside
    /// the limits' lock.
    #[must_use]
    pub fn on_alert(mut self, hook: impl Fn(&Alert) + Send + Sync + 'static) -> Self {
        self.on_alert = Some(Box::new(hook));
        self
    }

    /// Limits of each sending IP across all sites (default: none).
    #[must_use]
    pub fn per_source(mut self, limits: ScopeLimits) -> Self {
        self.source = limits;
        self
    }

    /// Limits of sites without a preset or override (default: per pair 10 sessions,
    /// 100 messages per second, 100 messages per session; the site as a whole
    /// unlimited).
    #[must_use]
    pub fn site_default(mut self, limits: SiteLimits) -> Self {
        self.site_default = limits;
        self
    }

    /// Limits of one site, instead of its preset and the defaults.
    #[must_use]
    pub fn site(mut self, site: Site, limits: SiteLimits) -> Self {
        self.sites.insert(site, limits);
        self
    }

    /// Leaves out the provider presets ([`SiteLimits::preset`]).
    #[must_use]
    pub fn without_presets(mut self) -> Self {
        self.presets = false;
        self
    }

    /// How pairs adapt to replies.
    #[must_use]
    pub fn adaptive(mut self, adaptive: Adaptive) -> Self {
        self.adaptive = adaptive;
        self
    }

    /// The most routes tracked at once (default 1 000 000). Recipient domains can be
    /// chosen by anyone, so this bounds memory: when it is reached, idle routes are
    /// forgotten, and if none is idle new routes share one overflow site's limits
    /// (`Site::Named("(overflow)")`, default site limits).
    #[must_use]
    pub fn max_routes(mut self, routes: usize) -> Self {
        self.max_routes = routes;
        self
    }

    /// How long a route must go unused before it may be forgotten (default 1 hour).
    #[must_use]
    pub fn idle_after(mut self, idle: Duration) -> Self {
        self.idle_after = idle;
        self
    }

    /// Checks the settings: no zero or absurd session caps, no zero messages per
    /// session, adaptive factors in range, a route cap between 1 and 100 000 000.
    pub fn build(self) -> Result<Limits<C>, ConfigError> {
        self.source.validate("source sessions")?;
        self.site_default.validate()?;
        for limits in self.sites.values() {
            limits.validate()?;
        }
        self.adaptive.validate()?;
        let esc = self.escalation;
        if esc.pair_signals == 0 {
            return Err(ConfigError::Zero {
                setting: "escalation pair_signals",
            });
        }
        if esc.distinct_sites == 0 {
            return Err(ConfigError::Zero {
                setting: "escalation distinct_sites",
            });
        }
        if esc.window.is_zero() {
            return Err(ConfigError::Zero {
                setting: "escalation window",
            });
        }
        if self.max_routes == 0 {
            return Err(ConfigError::Zero {
                setting: "max_routes",
            });
        }
        if self.max_routes > 100_000_000 {
            return Err(ConfigError::TooMany {
                setting: "max_routes",
                value: self.max_routes as u64,
                max: 100_000_000,
            });
        }
        #[cfg(feature = "redis")]
        let fleet = {
            let shared = self.shared;
            for (setting, value) in [
                ("shared_retry_after", shared.retry_after),
                ("shared_lease", shared.lease),
            ] {
                if value.is_zero() {
                    return Err(ConfigError::Zero { setting });
                }
                if value > MAX_SHARED_TIME {
                    return Err(ConfigError::TooLong {
                        setting,
                        value,
                        max: MAX_SHARED_TIME,
                    });
                }
            }
            shared
                .store
                .map(|store| Fleet::new(store, shared.fallback, shared.retry_after, shared.lease))
        };
        Ok(Limits {
            inner: Arc::new(Inner {
                clock: self.clock,
                settings: Settings {
                    source: self.source,
                    site_default: self.site_default,
                    sites: self.sites,
                    presets: self.presets,
                    adaptive: self.adaptive,
                    max_routes: self.max_routes,
                    idle_after: self.idle_after,
                    overflow: Site::Named(Arc::from("(overflow)")),
                    escalation: self.escalation,
                    warm_up: self.warm_up,
                    first_sends: self.first_sends,
                },
                state: Mutex::new(State::new()),
                released: Condvar::new(),
                #[cfg(feature = "async")]
                wakers: Mutex::new(Vec::new()),
                alerts: Mutex::new(std::collections::VecDeque::new()),
                on_alert: self.on_alert,
                #[cfg(feature = "redis")]
                fleet,
            }),
        })
    }
}
