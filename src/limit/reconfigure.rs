//! [`Limits::reconfigure`]: new settings for live limits. Every tracked route moves to
//! them at once and keeps its state; what one pair keeps is [`carry_pair`], a pure
//! function of the pair, unit-tested here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;

use super::adapt::BELOW_REFUSED;
use super::builder::LimitsBuilder;
use super::limits::Limits;
use super::rate::Rate;
use super::site::{ScopeLimits, SiteLimits};
use super::slab::FastHash;
use super::state::{Pair, State};
use crate::error::ConfigError;

impl<C: Clock + Clone> Limits<C> {
    /// Moves the live limits to new settings, checked as [`build`](LimitsBuilder::build)
    /// checks them (an error changes nothing). Safe from any thread while others
    /// decide: every tracked route moves at once under the limits' lock, so a decision
    /// sees either the old settings or the new ones, never a mix.
    ///
    /// What changes: the limits of every scope (per source, site defaults, site
    /// overrides, presets on or off), messages per session (also for sessions already
    /// open), adaptation, connections, escalation, warm-up, `max_routes` and
    /// `idle_after`, all from the next decision. What every tracked route keeps:
    ///
    /// - **sessions in flight** stay counted: under a lowered cap no new session opens
    ///   until enough have closed;
    /// - **spent cells stay spent**: a changed rate owes the cells the old one still
    ///   owed (rounded up), and the cells a larger burst adds are earned at the new
    ///   rate, at most its own burst in all: the cells available never grow, so a
    ///   window never holds two bursts, and a slower rate never locks a route out for
    ///   the old one's debt (the first cell is at most one new interval away); a rate
    ///   where there was none starts full, as a new route's;
    /// - **adaptation keeps its place** under the new ceiling: a pair held below its
    ///   old ceiling (by replies, or slow start) keeps its adapted rate and session cap,
    ///   clamped under the new ceiling (and not slower than a new floor), and ramps up
    ///   from there; a pair at its old ceiling moves to the new one, but not past 90 %
    ///   of a rate the receiver refused, nor to more sessions than one below a count it
    ///   refused. What the pair learned (refused rate and sessions, pauses, episodes,
    ///   escalation counts, connection backoff) is kept;
    /// - **suspensions** stay, and so do warm-up days and the connection gate's
    ///   schedule.
    ///
    /// The settings' first sends are added (an IP already known keeps the earlier
    /// one). Routes beyond a lowered `max_routes` are not dropped: the cap applies to
    /// new routes, and the sweep forgets idle ones as usual. The alert callback is
    /// replaced when `new` has one and kept otherwise. The clock and the shared store
    /// (with its fallback, retry and lease times) are the limits' own: those of `new`
    /// are not used. Reply classification is not part of the limits: a
    /// [`Throttle`](crate::throttle::Throttle)'s [`Classifier`](crate::classify::Classifier)
    /// stays as it was built (a new `Throttle` on a clone of these limits keeps every
    /// route's state).
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use governor::clock::FakeRelativeClock;
    /// use smtp_throttle::limit::{Limits, Rate, ScopeLimits, SiteLimits};
    /// use smtp_throttle::route::{Destination, Route};
    ///
    /// let clock = FakeRelativeClock::default();
    /// let settings = |sessions, rate| {
    ///     let pair = ScopeLimits::sessions(sessions).with_rate(rate);
    ///     Limits::builder_with_clock(clock.clone())
    ///         .without_presets()
    ///         .site_default(SiteLimits { pair, ..SiteLimits::default() })
    /// };
    /// let limits = settings(4, Rate::per_minute(60)?).build()?;
    /// let route = Route::new("192.0.2.1".parse::<IpAddr>()?, Destination::new("example.org")?);
    /// let mut open = limits.try_acquire(&route).expect("a free slot");
    /// open.try_message().expect("within the rate");
    ///
    /// limits.reconfigure(settings(1, Rate::per_minute(6)?))?;
    /// assert!(limits.try_acquire(&route).is_err()); // the open session fills the new cap
    /// assert!(open.try_message().is_err());          // the spent cell is still owed
    /// drop(open);
    /// assert!(limits.try_acquire(&route).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reconfigure(&self, new: LimitsBuilder<C>) -> Result<(), ConfigError> {
        let (_, mut settings, _) = new.checked()?;
        let clock = &self.inner.clock;
        let mut state = self.inner.state.lock();
        let now = clock.now();
        if settings.on_alert.is_none() {
            settings.on_alert = state.settings.on_alert.clone();
        }
        state.settings = Arc::new(settings);
        state.record_first_sends(now);
        move_routes(&mut state, clock, now);
        drop(state);
        // A raised cap may have room for those waiting.
        self.inner.released.notify_all();
        #[cfg(feature = "async")]
        for waker in std::mem::take(&mut *self.inner.wakers.lock()) {
            waker.wake();
        }
        Ok(())
    }
}

/// Moves every tracked source, site and pair to the state's settings.
fn move_routes<C: Clock + Clone>(state: &mut State<C>, clock: &C, now: C::Instant) {
    let settings = Arc::clone(&state.settings);
    for (_, source) in state.sources.iter_mut() {
        source.slot.reconfigure(clock, now, &settings.source);
    }
    let mut of_site: HashMap<u32, SiteLimits, FastHash> = HashMap::default();
    for (key, site) in state.sites.iter_mut() {
        let limits = settings.site(&site.name);
        site.slot.reconfigure(clock, now, &limits.site);
        site.deliveries = limits.deliveries_per_session;
        of_site.insert(key, limits);
    }
    let floor = settings.adaptive.floor;
    for (_, pair) in state.pairs.iter_mut() {
        // Every tracked pair's site is tracked (the state's invariant).
        if let Some(limits) = of_site.get(&pair.site) {
            carry_pair(clock, pair, &limits.pair, floor, now);
        }
    }
}

/// Moves one pair to its new limits, keeping what adaptation made of it (see
/// [`Limits::reconfigure`]). The same limits change nothing.
fn carry_pair<C: Clock + Clone>(
    clock: &C,
    pair: &mut Pair<C>,
    new: &ScopeLimits,
    floor: Rate,
    now: C::Instant,
) {
    let spec = |rate: Rate| (rate.interval(), rate.burst());
    if pair.ceiling != new.rate {
        let rate = carried_rate(pair, new.rate, floor);
        pair.slot.rerate(clock, now, rate);
        pair.ceiling = new.rate;
    } else if pair.ceiling.is_some() && pair.slot.rate_spec() != pair.ceiling.map(spec) {
        // Same ceiling, another floor: an adapted rate is not slower than the floor.
        if let Some((interval, burst)) = pair.slot.rate_spec() {
            let faster = interval.min(floor.interval());
            pair.slot.rerate(clock, now, Some((faster, burst)));
        }
    }
    if pair.session_ceiling != new.sessions {
        pair.slot.sessions = carried_sessions(pair, new.sessions);
        pair.session_ceiling = new.sessions;
    }
}

/// The pair's rate under a new ceiling `new`: a pair at its old ceiling moves to the
/// new one (not past the plateau under a refused rate); an adapted one keeps its rate,
/// clamped under the new ceiling. Neither is slower than the floor unless the new
/// ceiling is.
fn carried_rate<C: Clock>(
    pair: &Pair<C>,
    new: Option<Rate>,
    floor: Rate,
) -> Option<(Duration, u32)> {
    let current = pair.slot.rate_spec();
    let at_ceiling = current == pair.ceiling.map(|rate| (rate.interval(), rate.burst()));
    let refused = f64::from(pair.refused_rate);
    // The rate the ramp-up returns to under a refused rate, as an interval.
    let plateau = (refused > 0.0)
        .then(|| Duration::try_from_secs_f64(1.0 / (refused * BELOW_REFUSED)).ok())
        .flatten();
    match (new, current) {
        (Some(rate), _) if at_ceiling => {
            let mut interval = rate.interval();
            if let Some(plateau) = plateau {
                // Not past the plateau, unless the pair was already faster; not slower
                // than the floor either.
                let held = current.map_or(plateau, |(old, _)| old.min(plateau));
                interval = interval.max(held.min(floor.interval()));
            }
            let burst = if interval == rate.interval() {
                rate.burst()
            } else {
                1
            };
            Some((interval, burst))
        }
        (Some(rate), Some((interval, burst))) => {
            let interval = interval.min(floor.interval()).max(rate.interval());
            let burst = if interval == rate.interval() {
                rate.burst()
            } else {
                burst.clamp(1, rate.burst())
            };
            Some((interval, burst))
        }
        (Some(rate), None) => Some((rate.interval(), rate.burst())),
        // No rate any more: one the receiver refused stays (the ramp-up lifts it
        // towards no ceiling, as for a pair configured without a rate).
        (None, Some((interval, burst))) if plateau.is_some() => {
            Some((interval, if at_ceiling { 1 } else { burst }))
        }
        (None, _) => None,
    }
}

/// The pair's session cap under a new ceiling `new`: at its old ceiling it moves to
/// the new one (not past one below a refused count, under a cap); below it, it stays,
/// at most the new ceiling.
fn carried_sessions<C: Clock>(pair: &Pair<C>, new: Option<u32>) -> Option<u32> {
    let at_ceiling = pair.slot.sessions == pair.session_ceiling;
    match (pair.slot.sessions, new) {
        (_, Some(cap)) if at_ceiling => {
            if pair.session_ceiling.is_some() && pair.refused_sessions > 0 {
                let held = pair.refused_sessions.saturating_sub(1).max(1);
                Some(cap.min(held.max(pair.slot.sessions.unwrap_or(1))))
            } else {
                Some(cap)
            }
        }
        (Some(adapted), Some(cap)) => Some(adapted.min(cap)),
        (None, Some(cap)) => Some(cap),
        (_, None) if at_ceiling => None,
        // Held below the old ceiling: kept, and lifted by the ramp-up (past twice the
        // refused sessions) as on a pair configured without a cap.
        (adapted, None) => adapted,
    }
}

#[cfg(test)]
mod tests;
