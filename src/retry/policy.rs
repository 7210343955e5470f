//! [`RetryPolicy`]: from a failed attempt to the time of the next one.

use std::fmt;
use std::time::{Duration, SystemTime};

use super::jitter::{Jitter, Rng};
use super::schedule::{Schedule, ScheduleIter};
use super::Timestamp;
use crate::classify::{Category, Classification, Scope};
use crate::error::{ConfigError, HistoryError};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// The longest wait a schedule step, the greylist window or a spread may be.
const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest maximum age.
const MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

/// What happened to one message so far; [`RetryPolicy::next_retry`] updates it.
///
/// Keep one per message. A durable queue stores its [`parts`](History::parts) with the
/// message and rebuilds it with [`from_parts`](History::from_parts): the rebuilt history
/// decides exactly as the original would have (a second greylisting still counts as the
/// second, the attempts still count towards `max_attempts`).
///
/// ```
/// use std::time::Duration;
/// use smtp_throttle::retry::{GiveUpReason, History, RetryDecision, RetryPolicy};
/// use smtp_throttle::{classify, Reply};
///
/// let policy = RetryPolicy::builder().max_attempts(2).seed(1).build()?;
/// let reply = classify(&Reply::parse("451 4.7.1 Greylisting in action, please come back later")?);
/// let mut history = History::new(Duration::ZERO);
/// policy.next_retry(&reply, &mut history, Duration::ZERO, None);
/// // Stored and read back after a restart:
/// let parts = history.parts();
/// let mut restored = History::from_parts(parts)?;
/// assert_eq!(restored, history);
/// // Its second failure is its last, as it would have been without the restart.
/// assert_eq!(
///     policy.next_retry(&reply, &mut restored, Duration::from_secs(400), None),
///     RetryDecision::GiveUp(GiveUpReason::MaxAttempts { attempts: 2 })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<T = SystemTime> {
    /// What it holds; only [`History::from_parts`] and the policy change it.
    parts: HistoryParts<T>,
}

/// Everything a [`History`] holds, to store it with a message and rebuild it
/// ([`History::parts`], [`History::from_parts`]). The fields are the history's
/// accessors; `first_attempt` is in the policy's time: wall-clock `SystemTime` for a
/// [`Throttle`](crate::throttle::Throttle)'s histories (the default), or any
/// [`Timestamp`] your clock gives back after a restart.
///
/// With the `serde` feature it is `Serialize` and `Deserialize` (the category as its
/// snake_case name); what is read back still goes through [`History::from_parts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HistoryParts<T = SystemTime> {
    /// When the message was first tried.
    pub first_attempt: T,
    /// Failed attempts recorded.
    pub attempts: u32,
    /// Steps taken through the policy's schedule (failures that were not a first
    /// greylisting, a server hint or a suspension alone).
    pub backoff_steps: u32,
    /// Times the message was greylisted.
    pub greylisted: u32,
    /// The last wait the policy chose.
    pub last_wait: Option<Duration>,
    /// The category of the last failed attempt.
    pub last_category: Option<Category>,
    /// Time the retries were pushed back by route suspensions.
    pub suspended: Duration,
}

impl<T: Timestamp> History<T> {
    /// A message first tried at `first_attempt`, nothing recorded yet.
    pub fn new(first_attempt: T) -> Self {
        Self {
            parts: HistoryParts {
                first_attempt,
                attempts: 0,
                backoff_steps: 0,
                greylisted: 0,
                last_wait: None,
                last_category: None,
                suspended: Duration::ZERO,
            },
        }
    }

    /// When the message was first tried.
    pub fn first_attempt(&self) -> T {
        self.parts.first_attempt
    }

    /// Failed attempts recorded so far.
    pub fn attempts(&self) -> u32 {
        self.parts.attempts
    }

    /// How many times the message was greylisted.
    pub fn greylisted(&self) -> u32 {
        self.parts.greylisted
    }

    /// The category of the last failed attempt.
    pub fn last_category(&self) -> Option<Category> {
        self.parts.last_category
    }

    /// The last wait the policy chose (before suspensions pushed it).
    pub fn last_wait(&self) -> Option<Duration> {
        self.parts.last_wait
    }

    /// Time the message's retries were pushed back by route suspensions, which does not
    /// count towards its own backoff.
    pub fn suspended(&self) -> Duration {
        self.parts.suspended
    }

    /// Steps taken through the policy's schedule so far.
    pub fn backoff_steps(&self) -> u32 {
        self.parts.backoff_steps
    }

    /// Everything the history holds, to store with the message.
    pub fn parts(&self) -> HistoryParts<T> {
        self.parts
    }

    /// Rebuilds a history from its [`parts`](History::parts).
    ///
    /// Errors: parts no history can hold ([`HistoryError`]) — a greylisting or backoff
    /// count above the attempts, a last category without attempts or attempts without
    /// one, a last wait longer than a policy chooses (a year). Anything else is taken as
    /// it is and is safe to decide on (no panic, no retry set before the failure); a
    /// `suspended` longer than the message's age only means its own backoff counts from
    /// zero.
    pub fn from_parts(parts: HistoryParts<T>) -> Result<Self, HistoryError> {
        for (field, value) in [
            ("greylisted", parts.greylisted),
            ("backoff_steps", parts.backoff_steps),
        ] {
            if value > parts.attempts {
                return Err(HistoryError::MoreThanAttempts {
                    field,
                    value,
                    attempts: parts.attempts,
                });
            }
        }
        if parts.last_category.is_some() != (parts.attempts > 0) {
            return Err(HistoryError::CategoryMismatch {
                attempts: parts.attempts,
            });
        }
        if let Some(wait) = parts.last_wait.filter(|&w| w > MAX_AGE) {
            return Err(HistoryError::WaitTooLong { wait, max: MAX_AGE });
        }
        Ok(Self { parts })
    }
}

/// What to do with a message after a failed attempt.
///
/// Times are in the caller's [`Timestamp`]; a [`Throttle`](crate::throttle::Throttle)
/// decides in wall-clock time (`SystemTime`, the default), which a queue can store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision<T = SystemTime> {
    /// Try again at `at`, which is `after` from the failure.
    RetryAt {
        /// When to try again.
        at: T,
        /// How long from the failed attempt (`now` of the decision) until `at`.
        after: Duration,
    },
    /// Stop: bounce the message or report it failed.
    GiveUp(GiveUpReason),
}

/// Why a message is not retried.
///
/// With the `serde` feature it is `Serialize` and `Deserialize`, tagged by `reason`
/// (`{"reason":"max_attempts","attempts":4}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "reason", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The reply was final (`Classification::retry` is false).
    #[error("the reply is final ({category}); retrying will not help")]
    NotRetryable {
        /// The reply's category.
        category: Category,
    },
    /// The message reached the maximum age.
    #[error("the message is {age:?} old, the maximum age is {max:?}")]
    MaxAge {
        /// Its age at the failed attempt.
        age: Duration,
        /// The policy's maximum age.
        max: Duration,
    },
    /// The message used all its attempts.
    #[error("{attempts} attempts made, the maximum")]
    MaxAttempts {
        /// Attempts made.
        attempts: u32,
    },
}

/// When to try a deferred message again.
///
/// A schedule of waits (standard, Postfix, Exim or RFC 5321), a maximum age and
/// optionally a maximum number of attempts, plus what real receivers ask for: greylisted
/// messages come back just after the greylist window, a server's "try again in N
/// minutes" is honoured (within a floor and the maximum age), a route suspension pushes
/// the retry past its end without inflating the message's own backoff, and jitter
/// spreads messages that failed together. See [`RetryPolicy::next_retry`].
/// Clones continue from the same random state, so they repeat the original's choices
/// for the same calls.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    schedule: Schedule,
    max_age: Duration,
    max_attempts: Option<u32>,
    greylist_delay: Duration,
    greylist_spread: Duration,
    hint_floor: Duration,
    hint_share: f64,
    hint_spread: Duration,
    release_spread: Duration,
    route_retry: Option<Duration>,
    recipient_retry: Option<Duration>,
    jitter: Jitter,
    rng: Rng,
}

impl RetryPolicy {
    /// Starts a policy with the standard schedule: 5, 15, 30, 60 minutes, then every
    /// 60 minutes, for at most 5 days; deferrals for the route's pace retried after
    /// 1–2 minutes ([`route_retry`](RetryPolicyBuilder::route_retry)), deferrals about
    /// one recipient (a full mailbox) every 15–18 minutes for the message's first two
    /// hours ([`recipient_retry`](RetryPolicyBuilder::recipient_retry)).
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder::new(Schedule::standard(), 5 * DAY)
    }

    /// Postfix's queue manager: the wait is the message's age clamped to 300 s … 4000 s
    /// (`minimal_backoff_time`, `maximal_backoff_time`), lifetime 5 days
    /// (`maximal_queue_lifetime`), no jitter; pace and recipient deferrals follow it too
    /// (no [`route_retry`](RetryPolicyBuilder::route_retry) or
    /// [`recipient_retry`](RetryPolicyBuilder::recipient_retry)), as in Postfix.
    pub fn postfix() -> Self {
        RetryPolicyBuilder::new(Schedule::postfix(), 5 * DAY)
            .jitter(Jitter::None)
            .route_retry(None)
            .recipient_retry(None)
            .assemble()
    }

    /// Exim's default retry rule `F,2h,15m; G,16h,1h,1.5; F,4d,6h`: every 15 minutes
    /// for 2 hours, then waits growing ×1.5 from 1 hour until 16 hours, then every
    /// 6 hours up to 4 days; no jitter, no `route_retry` or `recipient_retry`.
    pub fn exim() -> Self {
        RetryPolicyBuilder::new(Schedule::exim(), 4 * DAY)
            .jitter(Jitter::None)
            .route_retry(None)
            .recipient_retry(None)
            .assemble()
    }

    /// RFC 5321 §4.5.4.1: at least 30 minutes between attempts, give up after 5 days;
    /// no jitter, no `route_retry` or `recipient_retry`.
    pub fn rfc5321() -> Self {
        RetryPolicyBuilder::new(Schedule::rfc5321(), 5 * DAY)
            .jitter(Jitter::None)
            .route_retry(None)
            .recipient_retry(None)
            .assemble()
    }

    /// The schedule's waits for a message retried exactly on time, from its first
    /// attempt: before hints, greylisting, suspensions and jitter. It ends at the
    /// maximum age (the last wait cut to land on it) or the maximum attempts.
    ///
    /// ```
    /// use std::time::Duration;
    /// let waits: Vec<u64> = smtp_throttle::retry::RetryPolicy::postfix()
    ///     .schedule().take(7).map(|d| d.as_secs()).collect();
    /// assert_eq!(waits, [300, 300, 600, 1200, 2400, 4000, 4000]);
    /// ```
    pub fn schedule(&self) -> ScheduleIter<'_> {
        ScheduleIter {
            schedule: &self.schedule,
            max_age: self.max_age,
            max_attempts: self.max_attempts,
            attempts: 1,
            age: Duration::ZERO,
            previous: None,
        }
    }

    /// The maximum age of a message.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Decides what follows a failed attempt and records it in `history`.
    ///
    /// - A final reply (`retry == false`) gives up at once, with the reason.
    /// - At or past the maximum age, or with all attempts used, it gives up.
    /// - The first greylisting is retried just after the greylist window
    ///   ([`greylist_delay`](RetryPolicyBuilder::greylist_delay), spread over the next
    ///   [`greylist_spread`](RetryPolicyBuilder::greylist_spread)); later failures follow
    ///   the schedule from its start.
    /// - A server hint (`Classification::retry_hint`) is honoured, at least the
    ///   [`hint_floor`](RetryPolicyBuilder::hint_floor), spread by up to 10 % later
    ///   or over [`hint_spread`](RetryPolicyBuilder::hint_spread) (two minutes),
    ///   whichever is longer.
    /// - A deferral for the route's pace (rate, busy server, too many connections)
    ///   waits [`route_retry`](RetryPolicyBuilder::route_retry) … twice that, for
    ///   its first 12 attempts, without stepping the schedule.
    /// - A deferral about one recipient (a full mailbox, a mailbox or user the server
    ///   cannot look up now) waits [`recipient_retry`](RetryPolicyBuilder::recipient_retry)
    ///   … 20 % more for its first 8 attempts, without stepping the schedule; after
    ///   that the schedule applies, never shorter than that wait.
    /// - Otherwise the schedule gives the wait, spread by the [`Jitter`].
    /// - `suspended_until` (a route suspension) pushes the retry past the suspension's
    ///   end, spread over [`release_spread`](RetryPolicyBuilder::release_spread) (a
    ///   retry due within that spread is spread too); the time it adds does not count
    ///   as the message's age for age-based schedules.
    /// - No retry is set past the maximum age: the last one lands on it. When the hint,
    ///   the greylist window or the suspension ends past the maximum age, it gives up
    ///   ([`GiveUpReason::MaxAge`]): a retry before them would be pointless.
    ///
    /// Times are whatever [`Timestamp`] the caller uses; a `now` before the first
    /// attempt (a clock that jumped back) counts as age zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use smtp_throttle::retry::{History, RetryDecision, RetryPolicy};
    /// use smtp_throttle::{classify, Reply};
    ///
    /// let policy = RetryPolicy::builder().seed(7).build()?;
    /// // Time as a fake clock gives it: a Duration since an epoch.
    /// let t0 = Duration::ZERO;
    /// let mut history = History::new(t0);
    ///
    /// let greylisted = classify(&Reply::parse("450 4.2.0 <a@example.com>: Recipient address rejected: Greylisted")?);
    /// let RetryDecision::RetryAt { at, after } = policy.next_retry(&greylisted, &mut history, t0, None) else { panic!() };
    /// assert_eq!(after, at - t0);
    /// assert!(at >= Duration::from_secs(300) && at <= Duration::from_secs(420)); // just after postgrey's 300 s
    ///
    /// let unknown = classify(&Reply::parse("550 5.1.1 User unknown")?);
    /// assert!(matches!(policy.next_retry(&unknown, &mut history, at, None), RetryDecision::GiveUp(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_retry<T: Timestamp>(
        &self,
        classification: &Classification,
        history: &mut History<T>,
        now: T,
        suspended_until: Option<T>,
    ) -> RetryDecision<T> {
        history.parts.attempts = history.parts.attempts.saturating_add(1);
        history.parts.last_category = Some(classification.category);
        let first_greylisting =
            classification.category == Category::Greylisted && history.parts.greylisted == 0;
        if classification.category == Category::Greylisted {
            history.parts.greylisted = history.parts.greylisted.saturating_add(1);
        }
        if !classification.retry {
            return RetryDecision::GiveUp(GiveUpReason::NotRetryable {
                category: classification.category,
            });
        }
        let age = now.since(history.parts.first_attempt);
        if age >= self.max_age {
            return RetryDecision::GiveUp(GiveUpReason::MaxAge {
                age,
                max: self.max_age,
            });
        }
        if self
            .max_attempts
            .is_some_and(|max| history.parts.attempts >= max)
        {
            return RetryDecision::GiveUp(GiveUpReason::MaxAttempts {
                attempts: history.parts.attempts,
            });
        }

        // What the server or the route set, as opposed to the schedule's own wait: a
        // retry before it is pointless, so one that would fall past the maximum age is
        // a give-up rather than a retry cut to land on it.
        let deadline = history.parts.first_attempt.after(self.max_age);
        let floor = match classification.retry_hint {
            Some(hint) => Some(now.after(hint.max(self.hint_floor))),
            None if first_greylisting => Some(now.after(self.greylist_delay)),
            None => None,
        };
        if let Some(earliest) = floor.max(suspended_until).filter(|&t| t > deadline) {
            return RetryDecision::GiveUp(GiveUpReason::MaxAge {
                age: earliest.since(history.parts.first_attempt),
                max: self.max_age,
            });
        }
        let wait = if let Some(hint) = classification.retry_hint {
            let hint = hint.max(self.hint_floor);
            // Up to 10 % later, and over at least two minutes: messages told the same
            // "try again in 60 seconds" must not all come back in one second.
            let spread = hint
                .mul_f64(self.hint_share)
                .max(self.hint_spread)
                .min(MAX_WAIT);
            self.rng.between(hint, hint.saturating_add(spread))
        } else if first_greylisting {
            self.rng.between(
                self.greylist_delay,
                self.greylist_delay + self.greylist_spread,
            )
        } else if let Some(wait) = self
            .route_retry
            .filter(|_| about_pace(classification) && history.parts.attempts <= ROUTE_RETRIES)
        {
            self.rng.between(wait, wait.saturating_mul(2))
        } else if let Some(wait) = self.recipient_retry.filter(|_| {
            about_recipient(classification) && history.parts.attempts <= RECIPIENT_RETRIES
        }) {
            self.rng.between(wait, wait.saturating_add(wait / 5))
        } else {
            history.parts.backoff_steps = history.parts.backoff_steps.saturating_add(1);
            // Suspensions are not the message's doing: leave them out of its age.
            let own_age = age.saturating_sub(history.parts.suspended);
            let base = self.schedule.delay(
                history.parts.backoff_steps,
                own_age,
                history.parts.last_wait,
            );
            let base = match self.recipient_retry {
                Some(floor) if about_recipient(classification) => base.max(floor),
                _ => base,
            };
            self.jittered(base, history.parts.last_wait)
        };
        history.parts.last_wait = Some(wait);

        let mut at = now.after(wait);
        if let Some(end) = suspended_until {
            // Every retry due before the end of the spread after the suspension is
            // spread over it, also one due exactly at its end.
            let released = end.after(self.rng.between(Duration::ZERO, self.release_spread));
            if released > at {
                history.parts.suspended =
                    history.parts.suspended.saturating_add(released.since(at));
                at = released;
            }
        }
        let at = at.min(deadline);
        RetryDecision::RetryAt {
            at,
            after: at.since(now),
        }
    }

    fn jittered(&self, base: Duration, previous: Option<Duration>) -> Duration {
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => self.rng.between(self.hint_floor.min(base), base),
            Jitter::Decorrelated => {
                // The first retry is spread over base … 2 × base too.
                let grown = previous.map_or(base.saturating_mul(2), |p| p.saturating_mul(3));
                let high = grown.clamp(base, base.saturating_mul(2));
                self.rng.between(base, high)
            }
        }
    }
}

/// Attempts after which a message deferred for the route's pace follows the schedule.
const ROUTE_RETRIES: u32 = 12;

/// Attempts after which a message deferred for one recipient follows the schedule:
/// eight retries [`recipient_retry`](RetryPolicyBuilder::recipient_retry) apart, the
/// two hours of Exim's default rule `F,2h,15m` at its 15 minutes.
const RECIPIENT_RETRIES: u32 = 8;

/// Whether a deferral is about one recipient's mailbox: retrying it costs one `RCPT`
/// to that recipient and says nothing about the sender's pace or standing.
fn about_recipient(classification: &Classification) -> bool {
    classification.scope == Scope::Recipient
}

/// Whether a deferral is the receiver objecting to the sender's pace on the route
/// (not to the message, the recipient or the sender's reputation).
fn about_pace(classification: &Classification) -> bool {
    matches!(
        classification.category,
        Category::RateLimited | Category::ServerBusy | Category::TooManyConnections
    ) && !matches!(classification.scope, Scope::Recipient | Scope::Message)
}

impl Default for RetryPolicy {
    /// The standard schedule with the builder's defaults.
    fn default() -> Self {
        RetryPolicy::builder().assemble()
    }
}

/// Builds a [`RetryPolicy`]; see [`RetryPolicy::builder`].
#[derive(Clone, Debug)]
pub struct RetryPolicyBuilder {
    schedule: Schedule,
    max_age: Duration,
    max_attempts: Option<u32>,
    greylist_delay: Duration,
    greylist_spread: Duration,
    hint_floor: Duration,
    hint_spread: Duration,
    release_spread: Duration,
    route_retry: Option<Duration>,
    recipient_retry: Option<Duration>,
    jitter: Jitter,
    seed: Option<u64>,
}

impl RetryPolicyBuilder {
    fn new(schedule: Schedule, max_age: Duration) -> Self {
        Self {
            schedule,
            max_age,
            max_attempts: None,
            // postgrey's default --delay is 300 s; come back within two minutes after
            // (its retry window is 2 days), spread so that no second gets 2 %.
            greylist_delay: Duration::from_secs(300),
            greylist_spread: 2 * MINUTE,
            hint_floor: MINUTE,
            // Wide enough that of a thousand messages told the same, no second gets 2 %.
            hint_spread: 2 * MINUTE,
            release_spread: 5 * MINUTE,
            route_retry: Some(MINUTE),
            recipient_retry: Some(15 * MINUTE),
            jitter: Jitter::default(),
            seed: None,
        }
    }

    /// The first waits, in order (default 5, 15, 30, 60 minutes).
    #[must_use]
    pub fn delays(mut self, waits: impl IntoIterator<Item = Duration>) -> Self {
        let then_every = match &self.schedule {
            Schedule::Steps { then_every, .. } => *then_every,
            _ => Duration::from_secs(3600),
        };
        self.schedule = Schedule::Steps {
            steps: waits.into_iter().collect(),
            then_every,
        };
        self
    }

    /// The wait after the listed ones run out, for good (default 60 minutes): the cap.
    #[must_use]
    pub fn then_every(mut self, wait: Duration) -> Self {
        let steps = match &mut self.schedule {
            Schedule::Steps { steps, .. } => std::mem::take(steps),
            _ => Vec::new(),
        };
        self.schedule = Schedule::Steps {
            steps,
            then_every: wait,
        };
        self
    }

    /// Give up on a message this long after its first attempt (default 5 days,
    /// RFC 5321 §4.5.4.1).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Give up after this many attempts in all (default: no limit but the age).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// How long a greylisting server makes a new sender wait (default 300 s, postgrey's).
    #[must_use]
    pub fn greylist_delay(mut self, wait: Duration) -> Self {
        self.greylist_delay = wait;
        self
    }

    /// The retry after a greylisting falls within this long after the window
    /// (default 120 s).
    #[must_use]
    pub fn greylist_spread(mut self, spread: Duration) -> Self {
        self.greylist_spread = spread;
        self
    }

    /// The shortest wait a server hint can set (default 60 s), so that "try again in
    /// 1 second" does not start a hot loop.
    #[must_use]
    pub fn hint_floor(mut self, floor: Duration) -> Self {
        self.hint_floor = floor;
        self
    }

    /// Retries told the same server hint are spread over at least this long after it
    /// (default 120 s), or 10 % of the hint when that is longer.
    #[must_use]
    pub fn hint_spread(mut self, spread: Duration) -> Self {
        self.hint_spread = spread;
        self
    }

    /// Messages released by the end of a route suspension are spread over this long
    /// after it (default 5 minutes).
    #[must_use]
    pub fn release_spread(mut self, spread: Duration) -> Self {
        self.release_spread = spread;
        self
    }

    /// A deferral about the route rather than the message — `rate_limited`,
    /// `server_busy` or `too_many_connections`, not about one recipient or message, without
    /// a server hint: the receiver objected to the sender's pace — is retried this
    /// long after it (spread over as long again, and after any route suspension),
    /// without stepping the schedule: the message did nothing wrong, and the route's
    /// own pause already waits for the receiver. After 12 attempts the schedule
    /// applies again. Default 60 s; `None`: such deferrals follow the schedule.
    #[must_use]
    pub fn route_retry(mut self, wait: Option<Duration>) -> Self {
        self.route_retry = wait;
        self
    }

    /// A deferral about one recipient — scope [`Scope::Recipient`]: a full mailbox, a
    /// user the server cannot look up now — is retried this long after it (spread over
    /// 20 % more) for the message's first 8 attempts, without stepping the schedule;
    /// after that the schedule applies, never shorter than this. A mailbox
    /// frees when its owner reads mail, at a time no reply tells; retrying costs one
    /// `RCPT` to that recipient and does not weigh on the route, so it is retried at a
    /// steady pace, as Exim's default `F,2h,15m` does, instead of the schedule's waits
    /// that grow past an hour. Default 15 minutes; `None`: such deferrals follow the
    /// schedule.
    #[must_use]
    pub fn recipient_retry(mut self, wait: Option<Duration>) -> Self {
        self.recipient_retry = wait;
        self
    }

    /// How scheduled waits are spread (default [`Jitter::Decorrelated`]).
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the random spread, for reproducible tests (default: a fresh seed).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the settings: waits and ages must be positive and not absurd (no wait
    /// over 30 days, no maximum age over a year), at least one attempt.
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        let check = |setting: &'static str, value: Duration, max: Duration, zero_ok: bool| {
            if value.is_zero() && !zero_ok {
                Err(ConfigError::Zero { setting })
            } else if value > max {
                Err(ConfigError::TooLong {
                    setting,
                    value,
                    max,
                })
            } else {
                Ok(())
            }
        };
        if let Schedule::Steps { steps, then_every } = &self.schedule {
            for &step in steps {
                check("delays", step, MAX_WAIT, false)?;
            }
            check("then_every", *then_every, MAX_WAIT, false)?;
        }
        check("max_age", self.max_age, MAX_AGE, false)?;
        if self.max_attempts == Some(0) {
            return Err(ConfigError::Zero {
                setting: "max_attempts",
            });
        }
        check("greylist_delay", self.greylist_delay, MAX_WAIT, false)?;
        check("greylist_spread", self.greylist_spread, MAX_WAIT, true)?;
        check("hint_floor", self.hint_floor, MAX_WAIT, false)?;
        check("hint_spread", self.hint_spread, MAX_WAIT, true)?;
        check("release_spread", self.release_spread, MAX_WAIT, true)?;
        if let Some(wait) = self.route_retry {
            check("route_retry", wait, MAX_WAIT, false)?;
        }
        if let Some(wait) = self.recipient_retry {
            check("recipient_retry", wait, MAX_WAIT, false)?;
        }
        Ok(self.assemble())
    }

    /// The policy, unchecked: for presets, whose values are known good.
    fn assemble(self) -> RetryPolicy {
        RetryPolicy {
            schedule: self.schedule,
            max_age: self.max_age,
            max_attempts: self.max_attempts,
            greylist_delay: self.greylist_delay,
            greylist_spread: self.greylist_spread,
            hint_floor: self.hint_floor,
            hint_share: 0.1,
            hint_spread: self.hint_spread,
            release_spread: self.release_spread,
            route_retry: self.route_retry,
            recipient_retry: self.recipient_retry,
            jitter: self.jitter,
            rng: Rng::new(self.seed.unwrap_or_else(Rng::seed_from_environment)),
        }
    }
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Decorrelated => "decorrelated",
        })
    }
}
