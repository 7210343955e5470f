//! [`Rate`]: messages per time, as governor's GCRA keeps it.

use std::time::Duration;

use crate::error::ConfigError;

/// The longest period a rate may be expressed over.
pub(super) const MAX_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

/// A message rate: `count` per `per`, with up to `burst` at once (GCRA, as governor
/// keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    count: u32,
    per: Duration,
    burst: u32,
}

impl Rate {
    /// One message a minute: the default adaptive floor.
    pub(super) const ONE_PER_MINUTE: Rate = Rate {
        count: 1,
        per: Duration::from_secs(60),
        burst: 1,
    };

    /// `count` messages per `per`, burst 1. Errors: zero count or period, a period over
    /// 7 days, or more than one message per microsecond.
    pub fn new(count: u32, per: Duration) -> Result<Self, ConfigError> {
        if count == 0 {
            return Err(ConfigError::Zero {
                setting: "rate count",
            });
        }
        if per.is_zero() {
            return Err(ConfigError::Zero {
                setting: "rate period",
            });
        }
        if per > MAX_PERIOD {
            return Err(ConfigError::TooLong {
                setting: "rate period",
                value: per,
                max: MAX_PERIOD,
            });
        }
        if per / count < Duration::from_micros(1) {
            return Err(ConfigError::Zero {
                setting: "rate interval (more than one message per microsecond)",
            });
        }
        Ok(Self {
            count,
            per,
            burst: 1,
        })
    }

    /// `count` per second.
    pub fn per_second(count: u32) -> Result<Self, ConfigError> {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` per minute.
    pub fn per_minute(count: u32) -> Result<Self, ConfigError> {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` per hour.
    pub fn per_hour(count: u32) -> Result<Self, ConfigError> {
        Self::new(count, Duration::from_secs(3600))
    }

    /// At most `count` messages in any window of length `per`, half of them (rounded
    /// up) at once: a GCRA with that burst and the rest spread over the period, so that
    /// burst + rate × `per` never exceeds `count`. Use it for quotas counted over a
    /// rolling window (a relay's "200 per 24 hours"); [`Rate::new`] with
    /// [`with_burst`](Rate::with_burst) allows up to burst + `count` in one period.
    ///
    /// ```
    /// use std::time::Duration;
    /// use smtp_throttle::limit::Rate;
    /// let day = Rate::at_most(200, Duration::from_secs(86_400))?;
    /// assert_eq!(day.burst(), 100);
    /// assert_eq!(day.window_bound(Duration::from_secs(86_400)), 200);
    /// # Ok::<(), smtp_throttle::ConfigError>(())
    /// ```
    pub fn at_most(count: u32, per: Duration) -> Result<Self, ConfigError> {
        let burst = count.div_ceil(2);
        // A GCRA with interval τ and burst b grants at most b + ⌈T/τ⌉ − 1 in a
        // half-open window of length T: with τ = per / (count − b + 1) that is `count`.
        let spread = count.saturating_sub(burst).saturating_add(1);
        let rate = Self::new(spread, per)?;
        Ok(Self {
            burst: burst.max(1),
            // Rounds the interval up to the nanosecond, never down past the bound.
            per: per + Duration::from_nanos(u64::from(spread - 1)),
            ..rate
        })
    }

    /// The most messages this rate lets through in any window of length `window`:
    /// burst + ⌈window / interval⌉ − 1 (GCRA's bound for a half-open window).
    pub fn window_bound(&self, window: Duration) -> u64 {
        let interval = self.interval().as_nanos().max(1);
        let steps = window.as_nanos().div_ceil(interval);
        u64::from(self.burst)
            .saturating_add(u64::try_from(steps).unwrap_or(u64::MAX))
            .saturating_sub(1)
    }

    /// Allows up to `burst` messages at once (at most `count`).
    pub fn with_burst(mut self, burst: u32) -> Result<Self, ConfigError> {
        if burst == 0 {
            return Err(ConfigError::Zero { setting: "burst" });
        }
        self.burst = burst.min(self.count);
        Ok(self)
    }

    /// The time one message uses up.
    pub fn interval(&self) -> Duration {
        self.per / self.count
    }

    /// How many messages may go at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Messages per period.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period.
    pub fn per(&self) -> Duration {
        self.per
    }
}
