//! Instants on the limits' clock, with arithmetic that cannot overflow.

use std::time::Duration;

use governor::clock::Reference;
use governor::nanos::Nanos;

/// Waits added to an instant are cut here (about 100 years), so that no value a user
/// or a server gives can overflow the clock.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + wait` on the clock's own instants, `wait` cut to [`MAX_WAIT`].
pub(super) fn later<I: Reference>(now: I, wait: Duration) -> I {
    now + nanos(wait)
}

/// `wait` as governor's nanoseconds, cut to [`MAX_WAIT`].
pub(super) fn nanos(wait: Duration) -> Nanos {
    Nanos::from(wait.min(MAX_WAIT))
}

/// How long from `earlier` to `now`; zero when `now` is not later.
pub(super) fn since<I: Reference>(now: I, earlier: I) -> Duration {
    if now > earlier {
        now.duration_since(earlier).into()
    } else {
        Duration::ZERO
    }
}
