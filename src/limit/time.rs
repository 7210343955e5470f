//! Instants on the limits' clock, with arithmetic that cannot overflow.

use std::time::{Duration, SystemTime};

use governor::clock::Reference;
use governor::nanos::Nanos;

use crate::retry::Timestamp;

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

/// An instant of the limits' clock and the wall-clock time it stands for: reads any
/// other instant as wall-clock time and back. [`Throttle`](crate::throttle::Throttle)
/// anchors its limits' clock to the system time when it is made (a fake clock moves
/// the wall-clock time it reads, a step of the system clock does not), and the
/// learned limits are taken out and put back through one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WallAnchor<I> {
    now: I,
    wall: SystemTime,
}

impl<I: Reference> WallAnchor<I> {
    /// `now` on the limits' clock is `wall`.
    pub(crate) fn new(now: I, wall: SystemTime) -> Self {
        Self { now, wall }
    }

    /// The anchor's instant on the limits' clock.
    pub(crate) fn now(&self) -> I {
        self.now
    }

    /// The anchor's wall-clock time.
    pub(crate) fn wall_now(&self) -> SystemTime {
        self.wall
    }

    /// The wall-clock time of `instant` (the Unix epoch at the earliest).
    pub(crate) fn wall(&self, instant: I) -> SystemTime {
        if instant >= self.now {
            self.wall.after(since(instant, self.now))
        } else {
            let ago = since(self.now, instant);
            self.wall.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH)
        }
    }

    /// The instant of the wall-clock time `wall`.
    pub(crate) fn instant(&self, wall: SystemTime) -> I {
        match wall.duration_since(self.wall) {
            Ok(ahead) => later(self.now, ahead),
            Err(behind) => self.now.saturating_sub(nanos(behind.duration())),
        }
    }

    /// A time still to come, as an instant; `None` once it has passed.
    pub(crate) fn future(&self, wall: Option<SystemTime>) -> Option<I> {
        wall.filter(|&at| at > self.wall).map(|at| self.instant(at))
    }
}

#[cfg(test)]
mod tests {
    use governor::nanos::Nanos;

    use super::*;

    #[test]
    fn wall_clock_time_follows_the_limits_clock_both_ways() {
        let anchor = WallAnchor::new(
            Nanos::new(10_000_000_000),
            SystemTime::UNIX_EPOCH + Duration::from_secs(100),
        );
        let base = anchor.wall(Nanos::new(10_000_000_000));
        assert_eq!(
            anchor
                .wall(Nanos::new(70_000_000_000))
                .duration_since(base)
                .ok(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            base.duration_since(anchor.wall(Nanos::new(0))).ok(),
            Some(Duration::from_secs(10))
        );
        let later_wall = base + Duration::from_secs(5);
        assert_eq!(anchor.instant(later_wall), Nanos::new(15_000_000_000));
        assert_eq!(anchor.future(Some(base)), None, "now has passed");
    }
}
