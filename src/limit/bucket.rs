//! [`Bucket`]: one governor rate limiter whose quota can change.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A rate bucket whose quota can change: governor cannot change a live limiter's quota,
/// and one rebuilt from an old state store locks its key out for as long as it lived,
/// so a changed rate swaps in a fresh limiter, drained so that it starts empty.
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

    /// How long this bucket takes to fill up from empty: after a grant, at most this
    /// long until it is full again (integer nanoseconds: no division on the hot path).
    pub(super) fn refill(&self) -> Nanos {
        Nanos::new(self.interval_ns.saturating_mul(u64::from(self.burst)))
    }
}
