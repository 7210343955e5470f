//! Opening connections: [`Connections`], how often a pair may open one and how it backs
//! off after connections that failed, and the pair's gate that applies them.

use std::time::Duration;

use governor::clock::Reference;
use governor::nanos::Nanos;

use super::rate::{Rate, MAX_PERIOD};
use super::time::{later, nanos};
use super::wait::{LimitKind, LimitScope, Wait};
use crate::error::ConfigError;

/// How a (source IP, site) pair opens connections: receivers count connection
/// attempts, not only messages (Postfix anvil's connection rate, providers' connection
/// caps), so a session is only started when the pair's connection rate allows it, and
/// after connections that failed at connect, greeting or EHLO the next one waits, longer
/// each time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connections {
    /// New connections per pair (KumoMTA's `max_connection_rate`); `None`: no limit.
    pub rate: Option<Rate>,
    /// Failed connections in a row before the next one is delayed (KumoMTA's
    /// `consecutive_connection_failures_before_delay`); at least 1.
    pub failures_before_delay: u32,
    /// The first delay; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest delay (at most 7 days).
    pub max_delay: Duration,
    /// The longest an open session waits for its next message's rate before the
    /// throttle closes it instead of holding it idle (at most an hour).
    pub idle: Duration,
}

impl Default for Connections {
    /// What a cautious sender picks: two new connections a second per pair on average
    /// (120 a minute), ten at once (the default session cap); after each failed connection the next waits
    /// 1 s, 2 s, 4 s … up to 5 minutes, until a message goes through again; an open
    /// session waits at most 5 s for its next message.
    fn default() -> Self {
        Self {
            rate: Rate::per_minute(120).and_then(|r| r.with_burst(10)).ok(),
            failures_before_delay: 1,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            idle: Duration::from_secs(5),
        }
    }
}

impl Connections {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.failures_before_delay == 0 {
            return Err(ConfigError::Zero {
                setting: "connections failures_before_delay",
            });
        }
        if self.first_delay.is_zero() {
            return Err(ConfigError::Zero {
                setting: "connections first_delay",
            });
        }
        for (setting, value) in [
            ("connections first_delay", self.first_delay),
            ("connections max_delay", self.max_delay),
        ] {
            if value > MAX_PERIOD {
                return Err(ConfigError::TooLong {
                    setting,
                    value,
                    max: MAX_PERIOD,
                });
            }
        }
        if self.idle > Duration::from_secs(3600) {
            return Err(ConfigError::TooLong {
                setting: "connections idle",
                value: self.idle,
                max: Duration::from_secs(3600),
            });
        }
        Ok(())
    }

    /// The connection rate as GCRA's interval and tolerance in nanoseconds, worked
    /// out once so that the gate does no division on the decision path.
    pub(super) fn pace(&self) -> Option<Pace> {
        self.rate.map(|rate| {
            let interval = rate.interval();
            Pace {
                interval: nanos(interval),
                tolerance: nanos(interval.saturating_mul(rate.burst().saturating_sub(1))),
            }
        })
    }

    /// The delay after `failures` failed connections in a row.
    fn delay(&self, failures: u32) -> Option<Duration> {
        let beyond = failures.checked_sub(self.failures_before_delay)?;
        let doubled = self
            .first_delay
            .saturating_mul(1u32.checked_shl(beyond.min(31)).unwrap_or(u32::MAX));
        Some(doubled.min(self.max_delay.max(self.first_delay)))
    }
}

/// A connection rate as GCRA keeps it: one connection every `interval`, `tolerance`
/// ahead of that at most (the burst).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pace {
    interval: Nanos,
    tolerance: Nanos,
}

/// A pair's connection gate: its connection rate and the backoff after failures.
///
/// The rate is a GCRA of its own rather than a governor limiter: every pair shares the
/// one [`Connections`] setting, so a pair keeps only its theoretical arrival time —
/// 8 bytes instead of a limiter with its quota, on every tracked route.
pub(super) struct Gate<I> {
    /// When the next connection is due at the rate (GCRA's theoretical arrival time).
    due: I,
    /// Failed connections in a row, and when the next may open after them.
    failures: u32,
    after: I,
    /// The least time between two opens, learned from "too many connections" at
    /// connect (0: none): the receiver counts opens per window (anvil's connection
    /// rate), which the configured rate may exceed.
    spacing_ms: u32,
}

/// The first spacing after opens were refused, and the longest.
const FIRST_SPACING_MS: u32 = 2_000;
const MAX_SPACING_MS: u32 = 60_000;

impl<I: Reference> Gate<I> {
    pub(super) fn new(now: I) -> Self {
        Self {
            due: now,
            failures: 0,
            after: now,
            spacing_ms: 0,
        }
    }

    /// Takes one connection, or says until when none may open; returns how long the
    /// spent cell binds.
    pub(super) fn check(&mut self, pace: Option<Pace>, now: I) -> Result<Nanos, Wait<I>> {
        let refuse = |until| Wait::at(until, LimitScope::Pair, LimitKind::Connections);
        if self.backing_off(now) {
            return Err(refuse(self.after));
        }
        let spacing = Nanos::new(u64::from(self.spacing_ms) * 1_000_000);
        let (interval, tolerance) = match pace {
            // A learned spacing has no burst: the receiver counted the burst.
            Some(pace) if self.spacing_ms > 0 => (pace.interval.max(spacing), Nanos::new(0)),
            Some(pace) => (pace.interval, pace.tolerance),
            None if self.spacing_ms > 0 => (spacing, Nanos::new(0)),
            None => return Ok(Nanos::new(0)),
        };
        let due = self.due.max(now);
        let ahead = due.duration_since(now);
        if ahead > tolerance {
            return Err(refuse(due.saturating_sub(tolerance)));
        }
        self.due = due + interval;
        Ok(ahead + interval)
    }

    /// Gives back the connection taken last: its session carried no message, so no
    /// connection was opened (the throttle charges the first message before it
    /// connects).
    pub(super) fn refund(&mut self, pace: Option<Pace>, now: I) {
        if let Some(pace) = pace {
            self.due = self.due.saturating_sub(pace.interval).max(now);
        }
    }

    /// A connection failed at connect, greeting or EHLO: the next waits when enough
    /// failed in a row.
    pub(super) fn failed(&mut self, settings: &Connections, now: I) {
        self.failures = self.failures.saturating_add(1);
        if let Some(delay) = settings.delay(self.failures) {
            self.after = later(now, delay);
        }
    }

    /// A message went through: connections work again.
    pub(super) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// "Too many connections" at connect: opens were too frequent; the spacing
    /// between them doubles (from 2 s, up to a minute).
    pub(super) fn crowded(&mut self) {
        self.spacing_ms = self
            .spacing_ms
            .saturating_mul(2)
            .clamp(FIRST_SPACING_MS, MAX_SPACING_MS);
    }

    /// A ramp-up step: the spacing shrinks by a tenth, and is gone below a second.
    pub(super) fn relax(&mut self) {
        self.spacing_ms = self.spacing_ms / 10 * 9;
        if self.spacing_ms < 1_000 {
            self.spacing_ms = 0;
        }
    }

    /// Failed connections in a row.
    pub(super) fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next connection may open after the failed ones.
    pub(super) fn after(&self) -> I {
        self.after
    }

    /// Puts back a backoff taken from another gate: `failures` in a row, none to open
    /// before `after`.
    pub(super) fn restore(&mut self, failures: u32, after: I) {
        self.failures = failures;
        self.after = after;
    }

    /// Whether a backoff still runs at `now`.
    pub(super) fn backing_off(&self, now: I) -> bool {
        self.failures > 0 && self.after > now
    }
}
