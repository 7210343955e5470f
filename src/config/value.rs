//! Rates and durations as operators write them: `"100/min"`, `"10/s,max_burst=20"`,
//! `"90s"`, `"1h30m"`, `"3 hours"`. Pure text functions, tested here.

use std::time::Duration;

use crate::error::ConfigError;
use crate::limit::Rate;

/// What a rate may look like, for error messages.
pub(super) const RATE_FORMS: &str = "a rate such as \"100/min\", \"2000/hour\", \"1,000/h\", \
     \"10/s,max_burst=20\" (periods s, sec, second, m, min, minute, h, hr, hour, d, day, \
     optionally with a count: \"30/5m\"), or \"unlimited\"";

/// What a duration may look like, for error messages.
pub(super) const DURATION_FORMS: &str = "a duration such as \"90s\", \"5m\", \"4h\", \"1d\", \
     \"1h30m\", \"500ms\" or \"3 hours\" (units ms, s, m, h, d and their English names)";

/// Why a text is not a rate.
#[derive(Debug, PartialEq)]
pub(super) enum RateProblem {
    /// Not of the form `count/period[,max_burst=n]`.
    Form,
    /// Well formed, but the numbers cannot make a rate (zero, too long a period).
    Invalid(ConfigError),
}

/// A whole number, with `,` or `_` between digit groups allowed (`"1,000"`, `"1_000"`).
pub(super) fn number(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty()
        || !text.starts_with(|c: char| c.is_ascii_digit())
        || text.ends_with([',', '_'])
    {
        return None;
    }
    let mut value: u64 = 0;
    for c in text.chars() {
        match c {
            '0'..='9' => {
                value = value
                    .checked_mul(10)?
                    .checked_add(u64::from(c as u8 - b'0'))?;
            }
            ',' | '_' => {}
            _ => return None,
        }
    }
    Some(value)
}

/// The length of one time unit, by the names the formats use.
fn unit(name: &str) -> Option<Duration> {
    let secs = match name.to_ascii_lowercase().as_str() {
        "ms" | "msec" | "millisecond" | "milliseconds" => return Some(Duration::from_millis(1)),
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// A duration: one or more `number unit` pairs (`"90s"`, `"1h30m"`, `"3 hours"`,
/// `"2 hours 30 minutes"`); `None` when it is not one.
pub(super) fn duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '_' || c == ','))
            .unwrap_or(rest.len());
        let count = number(&rest[..digits])?;
        rest = rest[digits..].trim_start();
        let letters = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        if letters == 0 {
            return None;
        }
        let one = unit(&rest[..letters])?;
        total = total.checked_add(one.checked_mul(u32::try_from(count).ok()?)?)?;
        rest = rest[letters..].trim_start();
    }
    Some(total)
}

/// A rate: `count/period` with an optional `,max_burst=n`; the period is a unit
/// (`"s"`, `"min"`, `"hour"` …) or a duration (`"5m"`). Without `max_burst` the burst
/// is 1 (this crate's files), or the count when `count_is_burst` (KumoMTA's files: its
/// throttles let a whole period's count go at once unless `max_burst` says otherwise).
pub(super) fn rate(text: &str, count_is_burst: bool) -> Result<Rate, RateProblem> {
    let (spec, burst) = match text.split_once(',') {
        // A comma is also a digit-group separator ("1,000/h"): only a `max_burst`
        // part after the period splits the rate.
        Some(_) => match text.rsplit_once(",max_burst=") {
            Some((spec, burst)) => (spec, Some(burst)),
            None => match text.rsplit_once(", max_burst=") {
                Some((spec, burst)) => (spec, Some(burst)),
                None => (text, None),
            },
        },
        None => (text, None),
    };
    let (count, period) = spec.trim().split_once('/').ok_or(RateProblem::Form)?;
    let count = number(count).ok_or(RateProblem::Form)?;
    let period = period.trim();
    let per = unit(period)
        .or_else(|| duration(period))
        .ok_or(RateProblem::Form)?;
    let count = u32::try_from(count).map_err(|_| {
        RateProblem::Invalid(ConfigError::TooMany {
            setting: "rate count",
            value: count,
            max: u64::from(u32::MAX),
        })
    })?;
    let rate = Rate::new(count, per).map_err(RateProblem::Invalid)?;
    let burst = match burst {
        Some(burst) => {
            let burst = number(burst).ok_or(RateProblem::Form)?;
            u32::try_from(burst).unwrap_or(u32::MAX)
        }
        None if count_is_burst => count,
        None => return Ok(rate),
    };
    rate.with_burst(burst).map_err(RateProblem::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s| duration(s);
        assert_eq!(d("90s"), Some(Duration::from_secs(90)));
        assert_eq!(d("5m"), Some(Duration::from_secs(300)));
        assert_eq!(d("4h"), Some(Duration::from_secs(4 * 3600)));
        assert_eq!(d("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(d("3 hours"), Some(Duration::from_secs(3 * 3600)));
        assert_eq!(d("2 hours 30 minutes"), Some(Duration::from_secs(9000)));
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(d("0s"), Some(Duration::ZERO));
        for bad in ["", "5", "m", "-5m", "5 fortnights", "1.5h", "5m x", "h5"] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rates() {
        let r = |s| rate(s, false).unwrap();
        assert_eq!(r("100/min"), Rate::per_minute(100).unwrap());
        assert_eq!(r("2000/hour"), Rate::per_hour(2000).unwrap());
        assert_eq!(r("1,000/hr"), Rate::per_hour(1000).unwrap());
        assert_eq!(r("1_000/h"), Rate::per_hour(1000).unwrap());
        assert_eq!(r("10_000/d").per(), Duration::from_secs(86_400));
        assert_eq!(r("30/5m"), Rate::new(30, Duration::from_secs(300)).unwrap());
        let burst = r("10/s,max_burst=20");
        assert_eq!((burst.count(), burst.burst()), (10, 10));
        let burst = r("100/s,max_burst=20");
        assert_eq!((burst.count(), burst.burst()), (100, 20));
        assert_eq!(r("100/s").burst(), 1);
        assert_eq!(rate("100/s", true).unwrap().burst(), 100);
        for bad in [
            "",
            "100",
            "100/",
            "/s",
            "100/fortnight",
            "ten/s",
            "-1/s",
            "1/s,max_burst=x",
        ] {
            assert_eq!(rate(bad, false), Err(RateProblem::Form), "{bad:?}");
        }
        assert!(matches!(
            rate("0/min", false),
            Err(RateProblem::Invalid(ConfigError::Zero { .. }))
        ));
        assert!(matches!(
            rate("1/30d", false),
            Err(RateProblem::Invalid(ConfigError::TooLong { .. }))
        ));
    }

    proptest::proptest! {
        /// Every `count/unit` a rate may be written as is that many per that unit,
        /// burst 1 (or the count, for KumoMTA's files), with any digit grouping.
        #[test]
        fn written_rates_are_that_many_per_that_period(
            count in 1u32..1_000_000,
            unit in proptest::sample::select(vec![
                ("s", 1u64), ("sec", 1), ("second", 1), ("m", 60), ("min", 60),
                ("minute", 60), ("h", 3600), ("hr", 3600), ("hour", 3600),
                ("d", 86_400), ("day", 86_400),
            ]),
            grouped in proptest::bool::ANY,
        ) {
            let written = if grouped {
                let digits = count.to_string();
                let mut out = String::new();
                for (i, c) in digits.chars().enumerate() {
                    if i > 0 && (digits.len() - i) % 3 == 0 {
                        out.push('_');
                    }
                    out.push(c);
                }
                out
            } else {
                count.to_string()
            };
            let text = format!("{written}/{}", unit.0);
            let per = Duration::from_secs(unit.1);
            if let Ok(expected) = Rate::new(count, per) {
                proptest::prop_assert_eq!(rate(&text, false), Ok(expected));
                let kumo = rate(&text, true).unwrap();
                proptest::prop_assert_eq!((kumo.count(), kumo.per(), kumo.burst()), (count, per, count));
            }
        }

        /// `NhNmNs` (and the same with spaces and English names) is the sum of its parts.
        #[test]
        fn written_durations_are_the_sum_of_their_parts(
            h in 0u32..1000, m in 0u32..1000, s in 0u32..1000, spaced in proptest::bool::ANY,
        ) {
            let text = if spaced {
                format!("{h} hours {m} minutes {s} seconds")
            } else {
                format!("{h}h{m}m{s}s")
            };
            let expected = Duration::from_secs(u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(s));
            proptest::prop_assert_eq!(duration(&text), Some(expected));
        }
    }
}
