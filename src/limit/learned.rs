//! [`Learned`]: what the limits learned about receivers — adapted rates and session
//! caps, suspensions, escalation counts, connection backoff, warm-up ages — taken out
//! in wall-clock time and put back after a restart
//! ([`Limits::export_learned`], [`Limits::import_learned`]).

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use governor::clock::Clock;

use super::rate::MAX_PERIOD;
use super::state::{FirstSend, Pair, PauseMemory, State};
use super::time::WallAnchor;
use super::Limits;
use crate::error::LearnedError;
use crate::retry::Timestamp;
use crate::route::Site;

/// The learned state of every tracked route that learned something, to store and give
/// back to a new [`Limits`] after a restart, so that it resumes where the old one
/// stopped instead of probing every receiver again. (The one pair that routes share
/// beyond [`max_routes`](super::LimitsBuilder::max_routes) is not exported: it is no
/// route's own.)
///
/// Times are wall-clock time. With the `serde` feature it is `Serialize` and
/// `Deserialize`; what is read back is checked by [`Limits::import_learned`].
///
/// ```
/// use std::net::IpAddr;
/// use smtp_throttle::limit::{Limits, Rate, ScopeLimits, SiteLimits};
/// use smtp_throttle::route::{Destination, Route};
/// use smtp_throttle::{classify, Reply};
///
/// let build = || {
///     let pair = ScopeLimits::sessions(4).with_rate(Rate::per_minute(600)?);
///     Limits::builder().site_default(SiteLimits { pair, ..SiteLimits::default() }).build()
/// };
/// let limits = build()?;
/// let route = Route::new("192.0.2.1".parse::<IpAddr>()?, Destination::new("example.org")?);
/// drop(limits.try_acquire(&route));
/// limits.feedback(&route, &classify(&Reply::parse("421 4.7.0 Try again later, closing connection.")?));
/// let learned = limits.export_learned();
///
/// // After a restart: the slower rate, the smaller cap and the suspension are back.
/// let restarted = build()?;
/// restarted.import_learned(&learned)?;
/// assert_eq!(restarted.pair_limits(&route), limits.pair_limits(&route));
/// assert!(restarted.suspended_until(&route).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Learned {
    /// Per (source IP, site) pair.
    pub pairs: Vec<LearnedPair>,
    /// Per site: its suspension.
    pub sites: Vec<LearnedSite>,
    /// Per source IP: its suspension, escalation and first send.
    pub sources: Vec<LearnedSource>,
}

/// What one (source IP, site) pair learned.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LearnedPair {
    /// The sending IP.
    pub source: IpAddr,
    /// The receiving site.
    pub site: Site,
    /// The adapted interval between messages (`None`: the pair has no rate).
    pub interval: Option<Duration>,
    /// The burst at that rate (1 below the configured rate).
    pub burst: u32,
    /// The adapted cap on sessions at once (`None`: no cap).
    pub sessions: Option<u32>,
    /// Messages per second at which the receiver last said "too fast" (0: never).
    pub refused_rate: f32,
    /// Sessions in flight when the receiver last said "too many connections", on a
    /// pair configured without a cap (0: never).
    pub refused_sessions: u32,
    /// Deliveries since the last ramp-up step.
    pub successes: u32,
    /// Throttling replies in the running escalation window, and when it began.
    pub signals: u32,
    /// When the running escalation window began.
    pub signals_since: Option<SystemTime>,
    /// The end of the pair's suspension.
    pub suspended_until: Option<SystemTime>,
    /// The last pause after a rate objection without a hint (zero: none yet); the next
    /// one starts from it.
    pub rate_pause: Duration,
    /// The last pause after a busy reply without a hint (zero: none yet).
    pub busy_pause: Duration,
    /// Failed connections in a row.
    pub failed_connections: u32,
    /// No new connection before this, after the failed ones.
    pub connect_after: Option<SystemTime>,
}

/// What one site learned.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LearnedSite {
    /// The site.
    pub site: Site,
    /// The end of its suspension.
    pub suspended_until: Option<SystemTime>,
}

/// What one source IP learned.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LearnedSource {
    /// The sending IP.
    pub ip: IpAddr,
    /// The end of its suspension.
    pub suspended_until: Option<SystemTime>,
    /// Sites that throttled it in the running escalation window.
    pub throttled_by: Vec<Site>,
    /// When that window began.
    pub throttled_since: Option<SystemTime>,
    /// When it first sent (its warm-up age).
    pub first_send: Option<SystemTime>,
}

/// Whether a pair holds anything a fresh pair would not.
fn pair_learned<C: Clock>(pair: &Pair<C>, now: C::Instant) -> bool {
    pair.slot.rate_spec() != pair.ceiling.map(|c| (c.interval(), c.burst()))
        || pair.slot.sessions != pair.session_ceiling
        || pair.refused_rate > 0.0
        || pair.refused_sessions > 0
        || pair.signals > 0
        || pair.slot.suspended_at(now).is_some()
        || pair.gate.failures() > 0
        || pair.rate_pause.last_ms > 0
        || pair.busy_pause.last_ms > 0
}

impl<C: Clock + Clone> Limits<C> {
    /// What the limits learned, in wall-clock time (the system time now for the limits'
    /// now): every pair that adapted, was suspended, escalated or backs off, with its
    /// site and source. Routes shared through Redis keep their state in Redis.
    pub fn export_learned(&self) -> Learned {
        self.export_learned_at(SystemTime::now())
    }

    /// [`export_learned`](Limits::export_learned) with `wall` as the wall-clock time of
    /// the limits' now: for limits on a clock of your own (a
    /// [`Throttle`](crate::throttle::Throttle) passes its own `now()`).
    pub fn export_learned_at(&self, wall: SystemTime) -> Learned {
        let now = self.inner.clock.now();
        let anchor = WallAnchor::new(now, wall);
        let state = self.inner.state.lock();
        let mut learned = Learned::default();
        let mut sites = std::collections::BTreeSet::new();
        let mut sources = std::collections::BTreeSet::new();
        for (key, pair) in state.pairs.iter() {
            // The pair routes share at the route cap is no route's own.
            if state.overflow_pair() == Some(key) {
                continue;
            }
            let (Some(site), Some(source)) =
                (state.sites.get(pair.site), state.sources.get(pair.source))
            else {
                continue;
            };
            let site_learned = site.slot.suspended_at(now).is_some();
            let source_learned =
                source.slot.suspended_at(now).is_some() || !source.throttled_by.is_empty();
            if !(pair_learned(pair, now) || site_learned || source_learned) {
                continue;
            }
            learned.pairs.push(LearnedPair {
                source: source.ip,
                site: site.name.clone(),
                interval: pair.slot.rate_spec().map(|(interval, _)| interval),
                burst: pair.slot.rate_spec().map_or(1, |(_, burst)| burst),
                sessions: pair.slot.sessions,
                refused_rate: pair.refused_rate,
                refused_sessions: pair.refused_sessions,
                successes: pair.successes,
                signals: pair.signals,
                signals_since: pair.signals_since.map(|at| anchor.wall(at)),
                suspended_until: pair.slot.suspended_at(now).map(|at| anchor.wall(at)),
                rate_pause: Duration::from_millis(u64::from(pair.rate_pause.last_ms)),
                busy_pause: Duration::from_millis(u64::from(pair.busy_pause.last_ms)),
                failed_connections: pair.gate.failures(),
                connect_after: pair
                    .gate
                    .backing_off(now)
                    .then(|| anchor.wall(pair.gate.after())),
            });
            sites.insert(pair.site);
            sources.insert(pair.source);
        }
        for key in sites {
            let Some(site) = state.sites.get(key) else {
                continue;
            };
            if let Some(until) = site.slot.suspended_at(now) {
                learned.sites.push(LearnedSite {
                    site: site.name.clone(),
                    suspended_until: Some(anchor.wall(until)),
                });
            }
        }
        for key in sources {
            let Some(source) = state.sources.get(key) else {
                continue;
            };
            learned.sources.push(LearnedSource {
                ip: source.ip,
                suspended_until: source.slot.suspended_at(now).map(|at| anchor.wall(at)),
                throttled_by: source
                    .throttled_by
                    .iter()
                    .filter_map(|&s| state.sites.get(s).map(|site| site.name.clone()))
                    .collect(),
                throttled_since: source.throttled_since.map(|at| anchor.wall(at)),
                first_send: state
                    .first_sends
                    .get(&source.ip)
                    .and_then(|first| anchor.wall_now().checked_sub(first.age_at(now))),
            });
        }
        learned
    }

    /// Puts back what [`export_learned`](Limits::export_learned) took out, on routes
    /// that start from their configured limits (a restarted worker calls it before
    /// sending). Returns how many pairs took the learned state.
    ///
    /// What is put back stays within today's configuration: a rate no faster and a
    /// session cap no larger than configured (a pair configured without a rate gets
    /// none), suspensions and backoffs that ended in the meantime are dropped, routes
    /// beyond [`max_routes`](super::LimitsBuilder::max_routes) are skipped. A site or
    /// source entry applies when one of its pairs is tracked.
    ///
    /// Errors, before anything is changed: values no limits hold ([`LearnedError`]) —
    /// a zero or absurd interval, a zero session cap, a refused rate that is not a
    /// finite number ≥ 0, an empty site name.
    pub fn import_learned(&self, learned: &Learned) -> Result<usize, LearnedError> {
        self.import_learned_at(learned, SystemTime::now())
    }

    /// [`import_learned`](Limits::import_learned) with `wall` as the wall-clock time of
    /// the limits' now.
    pub fn import_learned_at(
        &self,
        learned: &Learned,
        wall: SystemTime,
    ) -> Result<usize, LearnedError> {
        validate(learned)?;
        let now = self.inner.clock.now();
        let anchor = WallAnchor::new(now, wall);
        let clock = &self.inner.clock;
        let mut state = self.inner.state.lock();
        let mut applied = 0;
        for entry in &learned.pairs {
            let keys = self
                .inner
                .keys_of(&mut state, entry.source, &entry.site, now);
            // At the route cap the route shares another pair: nothing of its own.
            if state.sites.get(keys.site).map(|s| &s.name) != Some(&entry.site) {
                continue;
            }
            apply_pair(clock, state.pairs.at(keys.pair), entry, &anchor);
            applied += 1;
        }
        for entry in &learned.sites {
            if let (Some(key), Some(until)) = (
                state.site_key(&entry.site),
                anchor.future(entry.suspended_until),
            ) {
                state.sites.at(key).slot.suspend(until);
            }
        }
        for entry in &learned.sources {
            apply_source(&mut state, entry, &anchor);
        }
        Ok(applied)
    }
}

fn apply_pair<C: Clock + Clone>(
    clock: &C,
    pair: &mut Pair<C>,
    entry: &LearnedPair,
    anchor: &WallAnchor<C::Instant>,
) {
    let now = anchor.now();
    match (pair.ceiling, entry.interval) {
        (Some(ceiling), Some(interval)) => {
            let interval = interval.max(ceiling.interval());
            let burst = entry.burst.clamp(1, ceiling.burst());
            pair.slot.set_rate(clock, now, Some((interval, burst)));
        }
        // A rate learned on a pair configured without one.
        (None, Some(interval)) => pair.slot.set_rate(clock, now, Some((interval, 1))),
        _ => {}
    }
    pair.slot.sessions = match (pair.session_ceiling, entry.sessions) {
        (Some(ceiling), Some(sessions)) => Some(sessions.min(ceiling)),
        (ceiling, None) => ceiling,
        (None, Some(sessions)) => Some(sessions),
    };
    pair.refused_rate = entry.refused_rate;
    // The pauses are kept, and a restart counts as "no delivery since": an objection
    // right after it is met with a longer pause, not a shorter one.
    let ms = |pause: Duration| u32::try_from(pause.min(MAX_PERIOD).as_millis()).unwrap_or(u32::MAX);
    pair.rate_pause = PauseMemory {
        last_ms: ms(entry.rate_pause),
        since: 0,
    };
    pair.busy_pause = PauseMemory {
        last_ms: ms(entry.busy_pause),
        since: 0,
    };
    pair.refused_sessions = entry.refused_sessions;
    pair.successes = entry.successes;
    pair.signals = entry.signals;
    pair.signals_since = entry.signals_since.map(|at| anchor.instant(at));
    if let Some(until) = anchor.future(entry.suspended_until) {
        pair.slot.suspend(until);
    }
    pair.gate.restore(
        entry.failed_connections,
        anchor.future(entry.connect_after).unwrap_or(now),
    );
}

fn apply_source<C: Clock + Clone>(
    state: &mut State<C>,
    entry: &LearnedSource,
    anchor: &WallAnchor<C::Instant>,
) {
    let now = anchor.now();
    if let Some(first) = entry.first_send {
        let age = anchor.wall_now().since(first);
        let known = state
            .first_sends
            .entry(entry.ip)
            .or_insert(FirstSend { at: now, age });
        if known.age_at(now) < age {
            *known = FirstSend { at: now, age };
        }
    }
    let Some(key) = state.source_key(entry.ip) else {
        return;
    };
    let throttled_by: Vec<u32> = entry
        .throttled_by
        .iter()
        .filter_map(|site| state.site_key(site))
        .collect();
    let source = state.sources.at(key);
    if let Some(until) = anchor.future(entry.suspended_until) {
        source.slot.suspend(until);
    }
    if !throttled_by.is_empty() {
        source.throttled_by = throttled_by;
        source.throttled_since = entry.throttled_since.map(|at| anchor.instant(at));
    }
}

/// Every value `import_learned` takes must be one the limits could have learned.
fn validate(learned: &Learned) -> Result<(), LearnedError> {
    let bad = |list: &'static str, entry: usize, field: &'static str, reason: &'static str| {
        Err(LearnedError::Invalid {
            list,
            entry,
            field,
            reason,
        })
    };
    let site_ok = |site: &Site| !matches!(site, Site::Named(name) if name.trim().is_empty());
    for (i, pair) in learned.pairs.iter().enumerate() {
        if let Some(interval) = pair.interval {
            if interval.is_zero() || interval > MAX_PERIOD {
                return bad(
                    "pairs",
                    i,
                    "interval",
                    "not between 1 ns and the longest rate period",
                );
            }
        }
        if pair.sessions == Some(0) {
            return bad("pairs", i, "sessions", "a session cap is at least 1");
        }
        if !pair.refused_rate.is_finite() || pair.refused_rate < 0.0 {
            return bad(
                "pairs",
                i,
                "refused_rate",
                "not a finite number of at least 0",
            );
        }
        if !site_ok(&pair.site) {
            return bad("pairs", i, "site", "an empty site name");
        }
    }
    for (i, site) in learned.sites.iter().enumerate() {
        if !site_ok(&site.site) {
            return bad("sites", i, "site", "an empty site name");
        }
    }
    for (i, source) in learned.sources.iter().enumerate() {
        if !source.throttled_by.iter().all(site_ok) {
            return bad("sources", i, "throttled_by", "an empty site name");
        }
    }
    Ok(())
}
