//! [`Limits`]: session slots and message rates per source IP, site and pair, adapting to
//! what receivers say.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use parking_lot::{Condvar, Mutex};

use super::config::{Adaptive, Rate, ScopeLimits, SiteLimits};
use crate::classify::{Category, Classification, Severity};
use crate::error::ConfigError;
use crate::route::{Route, Site};

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Which of a route's three scopes a limit belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitScope {
    /// The sending IP, towards every site.
    Source,
    /// The receiving site, from every sending IP.
    Site,
    /// The (sending IP, site) pair.
    Pair,
}

/// Which limit is in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// The message rate: wait until the instant given.
    Rate,
    /// Every session slot is taken: wait until a session ends.
    Sessions,
    /// The scope is suspended until the instant given.
    Suspended,
    /// This session carried as many messages as the site takes per connection: open
    /// a new session.
    SessionFull,
}

/// "Not now": which limit stands in the way, and until when when that is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait<I> {
    /// The earliest instant the limit allows the next step (the limiter's own answer);
    /// `None` when it depends on another session ending.
    pub until: Option<I>,
    /// The scope whose limit it is.
    pub scope: LimitScope,
    /// The limit.
    pub kind: LimitKind,
}

impl<I: Reference> Wait<I> {
    /// How long from `now` until the limit allows the next step; `None` when that
    /// depends on another session ending.
    pub fn wait_time_from(&self, now: I) -> Option<Duration> {
        self.until.map(|until| until.duration_since(now).into())
    }
}

impl<I> fmt::Display for Wait<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            LimitScope::Source => "source IP",
            LimitScope::Site => "site",
            LimitScope::Pair => "source IP and site",
        };
        let kind = match self.kind {
            LimitKind::Rate => "message rate reached",
            LimitKind::Sessions => "all session slots taken",
            LimitKind::Suspended => "suspended",
            LimitKind::SessionFull => "session carried its maximum of messages",
        };
        write!(f, "{scope}: {kind}")
    }
}

/// A rate bucket whose quota can change: governor cannot change a live limiter's quota,
/// and one rebuilt from an old state store locks its key out for as long as it lived,
/// so a changed rate swaps in a fresh limiter, drained so that it starts empty.
struct Bucket<C: Clock> {
    limiter: Direct<C>,
    interval: Duration,
}

impl<C: Clock + Clone> Bucket<C> {
    fn new(clock: &C, interval: Duration, burst: u32, drained: bool) -> Self {
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(nonzero(1)))
            .allow_burst(nonzero(burst));
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        if drained {
            for _ in 0..burst {
                if limiter.check().is_err() {
                    break;
                }
            }
        }
        Self { limiter, interval }
    }
}

fn nonzero(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n.max(1)).unwrap_or(std::num::NonZeroU32::MIN)
}

/// One scope's state: sessions in flight, their cap, the rate, a suspension.
struct Slot<C: Clock> {
    in_flight: u32,
    sessions: Option<u32>,
    rate: Option<Bucket<C>>,
    suspended: Option<C::Instant>,
}

impl<C: Clock + Clone> Slot<C> {
    fn new(clock: &C, limits: &ScopeLimits) -> Self {
        Self {
            in_flight: 0,
            sessions: limits.sessions,
            rate: limits
                .rate
                .map(|rate| Bucket::new(clock, rate.interval(), rate.burst(), false)),
            suspended: None,
        }
    }

    fn check_open(&mut self, now: C::Instant, scope: LimitScope) -> Result<(), Wait<C::Instant>> {
        if let Some(until) = self.suspended {
            if until > now {
                return Err(Wait {
                    until: Some(until),
                    scope,
                    kind: LimitKind::Suspended,
                });
            }
            self.suspended = None;
        }
        if self.sessions.is_some_and(|cap| self.in_flight >= cap) {
            return Err(Wait {
                until: None,
                scope,
                kind: LimitKind::Sessions,
            });
        }
        Ok(())
    }

    fn check_rate(&self, scope: LimitScope) -> Result<(), Wait<C::Instant>> {
        match &self.rate {
            Some(bucket) => bucket.limiter.check().map_err(|not_until| Wait {
                until: Some(not_until.earliest_possible()),
                scope,
                kind: LimitKind::Rate,
            }),
            None => Ok(()),
        }
    }

    fn suspend(&mut self, until: C::Instant) {
        self.suspended = Some(self.suspended.map_or(until, |old| old.max(until)));
    }
}

/// A pair's state: its slot, plus what adaptation needs.
struct Pair<C: Clock> {
    slot: Slot<C>,
    ceiling: Option<Rate>,
    session_ceiling: Option<u32>,
    successes: u32,
}

/// A site's state: its own slot and the messages its sessions may carry.
struct SiteState<C: Clock> {
    slot: Slot<C>,
    deliveries: Option<u32>,
}

/// Where a site's entries are: its slot, and its pairs by sending IP.
struct SiteIndex {
    slot: usize,
    pairs: HashMap<IpAddr, usize, IpHash>,
}

/// A fast hash for the user's own sending IPs (a handful of keys nobody else chooses);
/// site names, which come from recipients, keep the standard DoS-resistant hasher.
#[derive(Clone, Copy, Default)]
struct IpHash;

impl std::hash::BuildHasher for IpHash {
    type Hasher = IpHasher;
    fn build_hasher(&self) -> IpHasher {
        IpHasher(0)
    }
}

/// Multiply-rotate mixing of the address bytes (the FxHash step).
struct IpHasher(u64);

impl std::hash::Hasher for IpHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The slots of one route, by index: found once per `try_acquire`, so that messages
/// and the release do not hash again.
#[derive(Clone, Copy, Debug)]
struct Keys {
    source: usize,
    site: usize,
    pair: usize,
}

/// Every tracked scope, in vectors indexed through the maps.
struct State<C: Clock> {
    source_index: HashMap<IpAddr, usize, IpHash>,
    site_index: HashMap<Site, SiteIndex>,
    sources: Vec<Slot<C>>,
    sites: Vec<SiteState<C>>,
    pairs: Vec<Pair<C>>,
}

struct Settings {
    source: ScopeLimits,
    site_default: SiteLimits,
    sites: HashMap<Site, SiteLimits>,
    presets: bool,
    adaptive: Adaptive,
}

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
}

/// Session slots and message rates per sending IP, per site and per (IP, site) pair,
/// adapting to what receivers answer.
///
/// Decisions, not waits: [`try_acquire`](Limits::try_acquire) answers at once with a
/// [`Permit`] (one session slot on all three scopes, given back on drop) or a [`Wait`]
/// saying which limit is in the way and until when. Each message of the session is
/// charged with [`Permit::try_message`]. [`feedback`](Limits::feedback) lets replies
/// move the pair's limits.
///
/// Clones share one state. Time comes from the clock given to the builder (governor's
/// [`Clock`]; `FakeRelativeClock` in tests).
///
/// ```
/// use std::net::IpAddr;
/// use governor::clock::FakeRelativeClock;
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
/// # use governor::clock::Clock;
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

impl<C: Clock> fmt::Debug for Limits<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("Limits")
            .field("sources", &state.sources.len())
            .field("sites", &state.sites.len())
            .field("pairs", &state.pairs.len())
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
    /// Order of checks: suspensions (pair, site, source), then session caps (pair,
    /// site, source). Nothing is taken when a `Wait` is returned.
    pub fn try_acquire(&self, route: &Route) -> Result<Permit<C>, Wait<C::Instant>> {
        let now = self.inner.clock.now();
        let mut state = self.inner.state.lock();
        let keys = self.keys(&mut state, route);
        let State {
            sources,
            sites,
            pairs,
            ..
        } = &mut *state;
        let (source, site, pair) = (
            &mut sources[keys.source],
            &mut sites[keys.site],
            &mut pairs[keys.pair].slot,
        );
        pair.check_open(now, LimitScope::Pair)?;
        site.slot.check_open(now, LimitScope::Site)?;
        source.check_open(now, LimitScope::Source)?;
        pair.in_flight += 1;
        site.slot.in_flight += 1;
        source.in_flight += 1;
        Ok(Permit {
            inner: Arc::clone(&self.inner),
            keys,
            source: route.source(),
            messages: 0,
            max_messages: site.deliveries,
        })
    }

    /// The indexes of the route's source, site and pair, created if missing.
    fn keys(&self, state: &mut State<C>, route: &Route) -> Keys {
        let settings = &self.inner.settings;
        let clock = &self.inner.clock;
        let source = match state.source_index.get(&route.source()) {
            Some(&index) => index,
            None => {
                state.sources.push(Slot::new(clock, &settings.source));
                let index = state.sources.len() - 1;
                state.source_index.insert(route.source(), index);
                index
            }
        };
        if !state.site_index.contains_key(route.site()) {
            let limits = settings.site(route.site());
            state.sites.push(SiteState {
                slot: Slot::new(clock, &limits.site),
                deliveries: limits.deliveries_per_session,
            });
            let slot = state.sites.len() - 1;
            state.site_index.insert(
                route.site().clone(),
                SiteIndex {
                    slot,
                    pairs: HashMap::default(),
                },
            );
        }
        let Some(site) = state.site_index.get_mut(route.site()) else {
            unreachable!("inserted above")
        };
        let pair = match site.pairs.get(&route.source()) {
            Some(&index) => index,
            None => {
                let limits = settings.site(route.site());
                state.pairs.push(Pair {
                    slot: Slot::new(clock, &limits.pair),
                    ceiling: limits.pair.rate,
                    session_ceiling: limits.pair.sessions,
                    successes: 0,
                });
                let index = state.pairs.len() - 1;
                site.pairs.insert(route.source(), index);
                index
            }
        };
        Keys {
            source,
            site: site.slot,
            pair,
        }
    }

    /// Suspends one scope of the route until `until` (a later suspension wins).
    pub fn suspend(&self, route: &Route, scope: LimitScope, until: C::Instant) {
        let mut state = self.inner.state.lock();
        let keys = self.keys(&mut state, route);
        match scope {
            LimitScope::Source => state.sources[keys.source].suspend(until),
            LimitScope::Site => state.sites[keys.site].slot.suspend(until),
            LimitScope::Pair => state.pairs[keys.pair].slot.suspend(until),
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
    pub fn feedback(&self, route: &Route, reply: &Classification) {
        let now = self.inner.clock.now();
        let adaptive = self.inner.settings.adaptive;
        let clock = &self.inner.clock;
        let mut state = self.inner.state.lock();
        let keys = self.keys(&mut state, route);
        let pair = &mut state.pairs[keys.pair];
        let pause_until =
            |default: Duration| now + Nanos::from(reply.retry_hint.unwrap_or(default));
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
                slow_down(clock, pair, &adaptive);
                let pause = if reply.category == Category::RateLimited {
                    adaptive.rate_limited_pause
                } else {
                    adaptive.reputation_pause
                };
                pair.slot.suspend(pause_until(pause));
            }
            Category::TooManyConnections => {
                pair.successes = 0;
                let in_flight = pair.slot.in_flight.max(1);
                let cap = pair.slot.sessions.unwrap_or(in_flight);
                pair.slot.sessions = Some(cap.min(in_flight).saturating_sub(1).max(1));
            }
            Category::ServerBusy => pair.slot.suspend(pause_until(adaptive.busy_pause)),
            _ => {}
        }
    }

    /// The pair's current rate (as the interval between messages) and session cap.
    pub fn pair_limits(&self, route: &Route) -> (Option<Duration>, Option<u32>) {
        let mut state = self.inner.state.lock();
        let keys = self.keys(&mut state, route);
        let pair = &state.pairs[keys.pair];
        (
            pair.slot.rate.as_ref().map(|b| b.interval),
            pair.slot.sessions,
        )
    }

    /// Sessions in flight on the route's pair.
    pub fn in_flight(&self, route: &Route) -> u32 {
        let state = self.inner.state.lock();
        state
            .site_index
            .get(route.site())
            .and_then(|site| site.pairs.get(&route.source()))
            .map_or(0, |&pair| state.pairs[pair].slot.in_flight)
    }
}

/// Multiplies the pair's rate by the decrease factor, not below the floor.
fn slow_down<C: Clock + Clone>(clock: &C, pair: &mut Pair<C>, adaptive: &Adaptive) {
    let Some(bucket) = &pair.slot.rate else {
        return;
    };
    let slower = bucket
        .interval
        .div_f64(adaptive.decrease)
        .min(adaptive.floor.interval().max(bucket.interval));
    pair.slot.rate = Some(Bucket::new(clock, slower, 1, true));
}

/// Adds a step of the ceiling rate and one session, up to the configured ceilings.
fn ramp_up<C: Clock + Clone>(clock: &C, pair: &mut Pair<C>, adaptive: &Adaptive) {
    if let (Some(ceiling), Some(bucket)) = (pair.ceiling, &pair.slot.rate) {
        if bucket.interval > ceiling.interval() {
            let per_sec = 1.0 / bucket.interval.as_secs_f64();
            let ceiling_per_sec = 1.0 / ceiling.interval().as_secs_f64();
            let faster = (per_sec + adaptive.ramp_step * ceiling_per_sec).min(ceiling_per_sec);
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
    /// limit is in the way. Also refuses once the session carried the site's messages
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
        let state = self.inner.state.lock();
        state.pairs[self.keys.pair]
            .slot
            .check_rate(LimitScope::Pair)?;
        state.sites[self.keys.site]
            .slot
            .check_rate(LimitScope::Site)?;
        state.sources[self.keys.source].check_rate(LimitScope::Source)?;
        self.messages += 1;
        Ok(())
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
        let mut state = self.inner.state.lock();
        let Keys { source, site, pair } = self.keys;
        let source = &mut state.sources[source].in_flight;
        *source = source.saturating_sub(1);
        let site = &mut state.sites[site].slot.in_flight;
        *site = site.saturating_sub(1);
        let pair = &mut state.pairs[pair].slot.in_flight;
        *pair = pair.saturating_sub(1);
        drop(state);
        self.inner.released.notify_all();
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
}

impl<C: Clock> fmt::Debug for LimitsBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitsBuilder")
            .field("source", &self.source)
            .field("site_default", &self.site_default)
            .field("sites", &self.sites.len())
            .field("presets", &self.presets)
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
        }
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

    /// Checks the settings: no zero or absurd session caps, no zero messages per
    /// session, adaptive factors in range.
    pub fn build(self) -> Result<Limits<C>, ConfigError> {
        self.source.validate("source sessions")?;
        self.site_default.validate()?;
        for limits in self.sites.values() {
            limits.validate()?;
        }
        self.adaptive.validate()?;
        Ok(Limits {
            inner: Arc::new(Inner {
                clock: self.clock,
                settings: Settings {
                    source: self.source,
                    site_default: self.site_default,
                    sites: self.sites,
                    presets: self.presets,
                    adaptive: self.adaptive,
                },
                state: Mutex::new(State {
                    source_index: HashMap::default(),
                    site_index: HashMap::new(),
                    sources: Vec::new(),
                    sites: Vec::new(),
                    pairs: Vec::new(),
                }),
                released: Condvar::new(),
            }),
        })
    }
}
