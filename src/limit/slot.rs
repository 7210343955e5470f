//! [`Slot`]: one scope's sessions, rate and suspension, and when it may be forgotten.

use std::time::Duration;

use governor::clock::Clock;

use super::bucket::Bucket;
use super::site::ScopeLimits;
use super::time::since;
use super::wait::{LimitKind, LimitScope, Wait};

/// One scope's state: sessions in flight, their cap, the rate, a suspension.
pub(super) struct Slot<C: Clock> {
    pub(super) in_flight: u32,
    pub(super) sessions: Option<u32>,
    pub(super) rate: Option<Bucket<C>>,
    pub(super) suspended: Option<C::Instant>,
    pub(super) last_used: C::Instant,
    /// Until then cells spent on this scope's rates may still be missing: the state
    /// binds and forgetting it would hand out a fresh burst (a day quota binds a day).
    pub(super) binds_until: C::Instant,
}

impl<C: Clock + Clone> Slot<C> {
    pub(super) fn new(clock: &C, limits: &ScopeLimits, now: C::Instant) -> Self {
        Self {
            in_flight: 0,
            sessions: limits.sessions,
            rate: limits
                .rate
                .map(|rate| Bucket::new(clock, rate.interval(), rate.burst(), false)),
            suspended: None,
            last_used: now,
            binds_until: now,
        }
    }

    /// Refuses while suspended or while every session slot is taken.
    pub(super) fn check_open(
        &mut self,
        now: C::Instant,
        scope: LimitScope,
    ) -> Result<(), Wait<C::Instant>> {
        self.check_suspended(now, scope)?;
        if self.sessions.is_some_and(|cap| self.in_flight >= cap) {
            return Err(Wait::sessions(now, scope));
        }
        Ok(())
    }

    /// A running suspension as a `Wait`; an ended one is cleared.
    pub(super) fn check_suspended(
        &mut self,
        now: C::Instant,
        scope: LimitScope,
    ) -> Result<(), Wait<C::Instant>> {
        if let Some(until) = self.suspended {
            if until > now {
                return Err(Wait::at(until, scope, LimitKind::Suspended));
            }
            self.suspended = None;
        }
        Ok(())
    }

    /// Takes one cell of the rate, if there is one.
    pub(super) fn check_rate(
        &mut self,
        now: C::Instant,
        scope: LimitScope,
    ) -> Result<(), Wait<C::Instant>> {
        let Some(bucket) = &self.rate else {
            return Ok(());
        };
        bucket
            .check()
            .map_err(|until| Wait::at(until, scope, LimitKind::Rate))?;
        self.binds_until = self.binds_until.max(now + bucket.refill());
        Ok(())
    }

    /// Swaps in a fresh, drained bucket at another rate (`None`: no rate). What the old
    /// one still owed keeps binding.
    pub(super) fn set_rate(&mut self, clock: &C, now: C::Instant, rate: Option<(Duration, u32)>) {
        self.rate = rate.map(|(interval, burst)| Bucket::new(clock, interval, burst, true));
        if let Some(bucket) = &self.rate {
            self.binds_until = self.binds_until.max(now + bucket.refill());
        }
    }

    /// Moves to another rate (`None`: none) keeping what was spent: the cells the old
    /// rate still owed are owed at the new one (see `Bucket::rerated`); a rate where
    /// there was none starts full, as a new route's; the same rate is left as it is.
    pub(super) fn rerate(&mut self, clock: &C, now: C::Instant, rate: Option<(Duration, u32)>) {
        if self.rate_spec() == rate {
            return;
        }
        self.rate = match (self.rate.take(), rate) {
            (_, None) => None,
            (None, Some((interval, burst))) => Some(Bucket::new(clock, interval, burst, false)),
            (Some(old), Some((interval, burst))) => {
                let (bucket, binds) = old.rerated(clock, now, interval, burst);
                self.binds_until = self.binds_until.max(now + binds);
                Some(bucket)
            }
        };
    }

    /// Takes a scope's new limits without adaptation (a site's, a source's): its
    /// session cap as configured (sessions in flight stay counted against it), its
    /// rate moved keeping what was spent.
    pub(super) fn reconfigure(&mut self, clock: &C, now: C::Instant, limits: &ScopeLimits) {
        self.sessions = limits.sessions;
        let rate = limits.rate.map(|rate| (rate.interval(), rate.burst()));
        self.rerate(clock, now, rate);
    }
}

impl<C: Clock> Slot<C> {
    /// The rate as (interval, burst).
    pub(super) fn rate_spec(&self) -> Option<(Duration, u32)> {
        self.rate.as_ref().map(|b| (b.interval(), b.burst))
    }

    /// Suspends until `until`; a later running suspension wins.
    pub(super) fn suspend(&mut self, until: C::Instant) {
        self.suspended = Some(self.suspended.map_or(until, |old| old.max(until)));
    }

    /// The end of a running suspension.
    pub(super) fn suspended_at(&self, now: C::Instant) -> Option<C::Instant> {
        self.suspended.filter(|until| *until > now)
    }

    /// Nothing in flight, no suspension running, no rate that still binds, and unused
    /// for `idle_after`: forgetting it changes no decision.
    pub(super) fn forgettable(&self, now: C::Instant, idle_after: Duration) -> bool {
        self.in_flight == 0
            && self.suspended_at(now).is_none()
            && self.binds_until <= now
            && since(now, self.last_used) >= idle_after
    }
}
