//! [`Bucket`]: one governor rate limiter whose quota can change.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A rate bucket whose quota can change: governor cannot change a live limiter's quota,
/// and one rebuilt from an old state store locks its key out for as long as it lived,
/// so a changed rate swaps in a fresh limiter: drained so that it starts empty (an
/// adaptive step), or charged with the cells the old one still owed (a
/// reconfiguration, see [`Bucket::rerated`]).
pub(super) struct Bucket<C: Clock> {
    limiter: Direct<C>,
    /// The interval in nanoseconds: with the burst beside it, as small as a `Duration`.
    interval_ns: u64,
    pub(super) burst: u32,
}

impl<C: Clock + Clone> Bucket<C> {
    /// A bucket of `burst` cells, one every `interval`; `drained` starts it empty.
    pub(super) fn new(clock: &C, interval: Duration, burst: u32, drained: bool) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        if drained {
            // One call takes every cell of the fresh bucket, however large its burst.
            let _ = limiter.check_n(burst);
        }
        Self {
            limiter,
            interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            burst: burst.get(),
        }
    }

    /// A bucket at another rate that owes what this one owed at `now`: the cells
    /// spent and not yet refilled (rounded up, so a spent cell stays spent), and the
    /// cells a larger burst adds (earned at the new rate, as an adaptive step earns
    /// them), at most the new burst (a drained bucket: the first cell comes one
    /// interval on, so a slower rate never locks the route out for the old one's
    /// debt). So the cells available never grow: a window holds at most one burst
    /// across the change. Returns it with how long its debt binds.
    ///
    /// Governor does not show a limiter's state, so this one is read from its answers
    /// (it is replaced anyway): a refused cell names the instant the next is due,
    /// which is `tau` (the burst less one, in intervals) before the bucket is full; a
    /// granted one is followed by a request for the whole burst, refused at the
    /// instant the bucket is full after that grant, one interval after it was before.
    pub(super) fn rerated(
        self,
        clock: &C,
        now: C::Instant,
        interval: Duration,
        burst: u32,
    ) -> (Self, Nanos) {
        let owed = self.debt(now);
        let old_interval = self.interval_ns.max(1);
        let cells = owed.as_u64().div_ceil(old_interval);
        let fresh = Self::new(clock, interval, burst, false);
        let cells = u32::try_from(cells)
            .unwrap_or(u32::MAX)
            .saturating_add(fresh.burst.saturating_sub(self.burst))
            .min(fresh.burst);
        if let Some(n) = NonZeroU32::new(cells) {
            // A fresh bucket holds its whole burst, so `n` cells are always there.
            let _ = fresh.limiter.check_n(n);
        }
        let binds = Nanos::new(fresh.interval_ns.saturating_mul(u64::from(cells)));
        (fresh, binds)
    }

    /// How long until this bucket is full again (its theoretical arrival time less
    /// `now`), read from the limiter's answers; spends it.
    fn debt(&self, now: C::Instant) -> Nanos {
        let ahead = |due: C::Instant| due.duration_since(now).as_u64();
        let debt = match self.limiter.check() {
            Err(not_until) => {
                ahead(not_until.earliest_possible()).saturating_add(self.tolerance().as_u64())
            }
            Ok(()) => match NonZeroU32::new(self.burst).map(|n| self.limiter.check_n(n)) {
                Some(Ok(Err(not_until))) => {
                    ahead(not_until.earliest_possible()).saturating_sub(self.interval_ns)
                }
                // Not expected (the bucket was just charged): as owing everything.
                _ => self.refill().as_u64(),
            },
        };
        Nanos::new(debt)
    }

    /// Takes one cell, or says the earliest instant one is there.
    pub(super) fn check(&self) -> Result<(), C::Instant> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.earliest_possible())
    }
}

impl<C: Clock> Bucket<C> {
    /// The time between two messages at this bucket's rate.
    pub(super) fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }

    /// Governor's tolerance: the burst less one cell, in time.
    fn tolerance(&self) -> Nanos {
        Nanos::new(
            self.interval_ns
                .saturating_mul(u64::from(self.burst.saturating_sub(1))),
        )
    }

    /// How long this bucket takes to fill up from empty: after a grant, at most this
    /// long until it is full again (integer nanoseconds: no division on the hot path).
    pub(super) fn refill(&self) -> Nanos {
        Nanos::new(self.interval_ns.saturating_mul(u64::from(self.burst)))
    }
}
