//! [`WarmUp`]: the daily volumes of a cold sending IP.

use crate::error::ConfigError;

/// A warm-up schedule for cold sending IPs: messages per day to each site, day by day
/// from the IP's first send; after the last day the IP is warm and only the other
/// limits apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmUp {
    daily: Vec<u32>,
}

impl WarmUp {
    /// A schedule of daily volumes per site (day 1 first). Errors: empty, a zero day,
    /// or more than 365 days.
    pub fn new(daily: impl IntoIterator<Item = u32>) -> Result<Self, ConfigError> {
        let daily: Vec<u32> = daily.into_iter().collect();
        if daily.is_empty() || daily.contains(&0) {
            return Err(ConfigError::Zero {
                setting: "warm-up daily volume",
            });
        }
        if daily.len() > 365 {
            return Err(ConfigError::TooMany {
                setting: "warm-up days",
                value: daily.len() as u64,
                max: 365,
            });
        }
        Ok(Self { daily })
    }

    /// The volume on day `day` (1 for the first day), or `None` once warm.
    pub fn volume_on(&self, day: u32) -> Option<u32> {
        let index = usize::try_from(day.checked_sub(1)?).ok()?;
        self.daily.get(index).copied()
    }

    /// Days the schedule lasts.
    pub fn days(&self) -> u32 {
        self.daily.len() as u32
    }
}

impl Default for WarmUp {
    /// The 16-day ramp of SendGrid's recommended IP warm-up (50, 100, 250, 500, 1 000,
    /// 2 500, 5 000, 7 500, 10 000, 15 000, 20 000, 30 000, 40 000, 55 000, 70 000,
    /// 100 000 messages a day), as reproduced by senders that follow it (e.g. Sitevibes'
    /// "Understanding our IP warming process"), applied to each site separately.
    fn default() -> Self {
        Self {
            daily: vec![
                50, 100, 250, 500, 1_000, 2_500, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000,
                40_000, 55_000, 70_000, 100_000,
            ],
        }
    }
}
