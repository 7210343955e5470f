//! [`WallClock`]: the limits' monotonic clock read as wall-clock time.

use std::time::SystemTime;

use crate::retry::Timestamp;

/// Wall-clock time on a monotonic clock: the system time when it was made plus the
/// time elapsed since on the monotonic clock. A fake clock moves it; a step of the
/// system clock (NTP, a user) does not, so that times it gives never go backwards.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WallClock<I> {
    at: I,
    wall: SystemTime,
}

impl<I: Timestamp> WallClock<I> {
    /// Anchors `at` (an instant of the monotonic clock) to the system time now.
    pub(crate) fn new(at: I) -> Self {
        Self {
            at,
            wall: SystemTime::now(),
        }
    }

    /// The wall-clock time of `instant`; an instant before the anchor reads as the
    /// anchor.
    pub(crate) fn wall(&self, instant: I) -> SystemTime {
        self.wall.after(instant.since(self.at))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn follows_the_monotonic_clock_from_the_anchor() {
        let clock = WallClock::new(Duration::from_secs(10));
        let base = clock.wall(Duration::from_secs(10));
        assert_eq!(
            clock
                .wall(Duration::from_secs(70))
                .duration_since(base)
                .ok(),
            Some(Duration::from_secs(60))
        );
        // Before the anchor: the anchor, not a panic.
        assert_eq!(clock.wall(Duration::ZERO), base);
    }
}
