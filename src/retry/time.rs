//! [`Timestamp`]: the points in time retry decisions are made in.

use std::time::{Duration, Instant, SystemTime};

/// Durations added to a timestamp are capped here, so that no addition overflows.
const MAX_ADD: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A point in time a retry can be scheduled at.
///
/// Implemented for [`Instant`] (in-process queues), [`SystemTime`] (times stored in a
/// database), [`Duration`] read as time since an arbitrary epoch, and governor's clock
/// instants (`Nanos` of `FakeRelativeClock`, `QuantaInstant` of its default clock), so
/// retries can be scheduled on the same clock as the route limits. Arithmetic saturates: a clock that jumps backwards gives an
/// age of zero, never a panic.
pub trait Timestamp: Copy + Ord + std::fmt::Debug {
    /// `self` plus `wait` (waits over 100 years are cut to 100 years).
    fn after(self, wait: Duration) -> Self;
    /// How long after `earlier` this is; zero when it is not after.
    fn since(self, earlier: Self) -> Duration;
}

impl Timestamp for Instant {
    fn after(self, wait: Duration) -> Self {
        let wait = wait.min(MAX_ADD);
        self.checked_add(wait).unwrap_or(self)
    }
    fn since(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl Timestamp for SystemTime {
    fn after(self, wait: Duration) -> Self {
        let wait = wait.min(MAX_ADD);
        self.checked_add(wait).unwrap_or(self)
    }
    fn since(self, earlier: Self) -> Duration {
        self.duration_since(earlier).unwrap_or(Duration::ZERO)
    }
}

impl Timestamp for Duration {
    fn after(self, wait: Duration) -> Self {
        self.saturating_add(wait.min(MAX_ADD))
    }
    fn since(self, earlier: Self) -> Duration {
        self.saturating_sub(earlier)
    }
}

/// governor's `FakeRelativeClock` instants.
impl Timestamp for governor::nanos::Nanos {
    fn after(self, wait: Duration) -> Self {
        self + governor::nanos::Nanos::from(wait.min(MAX_ADD))
    }
    fn since(self, earlier: Self) -> Duration {
        governor::clock::Reference::duration_since(&self, earlier).into()
    }
}

/// governor's default (`QuantaClock`) instants.
impl Timestamp for governor::clock::QuantaInstant {
    fn after(self, wait: Duration) -> Self {
        self + governor::nanos::Nanos::from(wait.min(MAX_ADD))
    }
    fn since(self, earlier: Self) -> Duration {
        governor::clock::Reference::duration_since(&self, earlier).into()
    }
}
