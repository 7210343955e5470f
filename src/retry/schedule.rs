//! The backoff schedules: how long to wait after each failed attempt, before hints,
//! greylisting, suspensions and jitter are taken into account.

use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// One stretch of an Exim-style schedule: it applies while the message is younger than
/// `until`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Phase {
    pub(super) until: Duration,
    pub(super) step: Step,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Step {
    /// The same wait every time.
    Fixed(Duration),
    /// `first`, then each wait `factor` times the one before.
    Geometric { first: Duration, factor: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Schedule {
    /// The waits in order, then `then_every` for good.
    Steps {
        steps: Vec<Duration>,
        then_every: Duration,
    },
    /// Postfix: wait as long as the message is old, within `min..=max`.
    AgeClamped { min: Duration, max: Duration },
    /// Exim: stretches by age, the last one lasting for good.
    Phases(Vec<Phase>),
}

impl Schedule {
    /// 5, 15, 30, 60 minutes, then every 60 minutes.
    pub(super) fn standard() -> Self {
        Schedule::Steps {
            steps: vec![5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR],
            then_every: HOUR,
        }
    }

    /// Postfix `minimal_backoff_time = 300s`, `maximal_backoff_time = 4000s`: the next
    /// attempt waits as long as the message has been queued, within those bounds.
    pub(super) fn postfix() -> Self {
        Schedule::AgeClamped {
            min: Duration::from_secs(300),
            max: Duration::from_secs(4000),
        }
    }

    /// Exim's default retry rule `F,2h,15m; G,16h,1h,1.5; F,4d,6h`.
    pub(super) fn exim() -> Self {
        Schedule::Phases(vec![
            Phase {
                until: 2 * HOUR,
                step: Step::Fixed(15 * MINUTE),
            },
            Phase {
                until: 16 * HOUR,
                step: Step::Geometric {
                    first: HOUR,
                    factor: 1.5,
                },
            },
            Phase {
                until: Duration::MAX,
                step: Step::Fixed(6 * HOUR),
            },
        ])
    }

    /// RFC 5321 §4.5.4.1: at least 30 minutes between attempts.
    pub(super) fn rfc5321() -> Self {
        Schedule::Steps {
            steps: Vec::new(),
            then_every: 30 * MINUTE,
        }
    }

    /// The wait after failed attempt number `step` (1 for the first), taken when the
    /// message is `age` old and the wait before was `previous`.
    pub(super) fn delay(&self, step: u32, age: Duration, previous: Option<Duration>) -> Duration {
        match self {
            Schedule::Steps { steps, then_every } => {
                let index = usize::try_from(step.saturating_sub(1)).unwrap_or(usize::MAX);
                steps.get(index).copied().unwrap_or(*then_every)
            }
            Schedule::AgeClamped { min, max } => age.clamp(*min, *max),
            Schedule::Phases(phases) => {
                let Some((index, phase)) = phases.iter().enumerate().find(|(_, p)| age < p.until)
                else {
                    return phases.last().map_or(HOUR, |p| p.step.first());
                };
                let start = index
                    .checked_sub(1)
                    .map_or(Duration::ZERO, |i| phases[i].until);
                match phase.step {
                    Step::Fixed(wait) => wait,
                    Step::Geometric { first, factor } => match previous {
                        // The wait before was taken within this phase: grow it.
                        Some(prev) if age.saturating_sub(prev) >= start && prev >= first => prev
                            .mul_f64(factor)
                            .min(Duration::from_secs(365 * 24 * 3600)),
                        _ => first,
                    },
                }
            }
        }
    }
}

impl Step {
    fn first(&self) -> Duration {
        match self {
            Step::Fixed(wait) => *wait,
            Step::Geometric { first, .. } => *first,
        }
    }
}

/// The schedule's waits for a message tried exactly on time, first attempt at age zero,
/// ending when the message would be older than `max_age` (the last wait is cut to land
/// on it) or `max_attempts` attempts are made.
#[derive(Clone, Debug)]
pub struct ScheduleIter<'a> {
    pub(super) schedule: &'a Schedule,
    pub(super) max_age: Duration,
    pub(super) max_attempts: Option<u32>,
    /// Attempts made so far (the first one, at age zero, to begin with).
    pub(super) attempts: u32,
    pub(super) age: Duration,
    pub(super) previous: Option<Duration>,
}

impl Iterator for ScheduleIter<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.age >= self.max_age || self.max_attempts.is_some_and(|max| self.attempts >= max) {
            return None;
        }
        let wait = self.schedule.delay(self.attempts, self.age, self.previous);
        self.attempts += 1;
        let wait = wait.min(self.max_age - self.age);
        self.age += wait;
        self.previous = Some(wait);
        Some(wait)
    }
}
