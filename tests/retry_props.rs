//! Black-box property tests of the promises README.md ("Retry schedules", "Wrapping your
//! sender") and the rustdoc of `RetryPolicy::next_retry` make: the bounds of every
//! `RetryAt`, when it gives up, how messages that failed together are spread, and that a
//! `Throttle` honours suspensions of the route's site and source.
//!
//! Times are `Duration`s since an epoch (a fake clock); every policy is seeded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use proptest::prelude::*;
use smtp_throttle::limit::{LimitScope, Limits};
use smtp_throttle::retry::{GiveUpReason, History, Jitter, RetryDecision, RetryPolicy};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{Outcome, Throttle};
use smtp_throttle::{classify, Category, Classification, Reply};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

const RATE_LIMITED: &str = "421 4.7.0 Try again later, closing connection.";
const HINT_60_S: &str = "450 4.7.1 Rate limited, try again in 60 seconds";
const GREYLISTED: &str = "450 4.2.0 <xo@wvvw.me>: Recipient address rejected: Greylisted, see \
     http://postgrey.schweikert.ch/help/wvvw.me.html";

/// Real replies: with and without server hints, greylisting, rate limiting, final ones.
const REPLIES: &[&str] = &[
    RATE_LIMITED,
    "450 4.7.1 Rate limited, try again in 10 minutes",
    "450 4.7.1 Client host rejected: try again in 1 second",
    "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume \
     or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    GREYLISTED,
    "451 4.7.1 Greylisting in action, please come back in 00:05:00",
    "450 4.2.1 Message was greylisted, try again in 51 seconds; see \
     https://forwardemail.net/faq#do-you-have-a-greylist for more information",
    "421 4.3.2 too many connections, please try again later",
    "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)",
    "452 4.2.2 The email account that you tried to reach is over quota",
    "550 5.2.1 The user you are trying to contact is receiving mail at a rate that prevents \
     additional messages from being delivered",
    "421 4.7.0 Please retry in 4 hours",
    "550 5.1.1 User unknown",
    "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
    HINT_60_S,
];

fn classified(wire: &str) -> Classification {
    classify(&Reply::parse(wire).expect("a valid reply"))
}

// ---------------------------------------------------------------------------------------
// Policies and failure histories
// ---------------------------------------------------------------------------------------

/// A policy's settings as the test knows them (the policy does not expose them all).
#[derive(Clone, Debug)]
struct Settings {
    seed: u64,
    delays: Option<Vec<Duration>>,
    then_every: Option<Duration>,
    max_age: Option<Duration>,
    max_attempts: Option<u32>,
    greylist_delay: Option<Duration>,
    greylist_spread: Option<Duration>,
    hint_floor: Option<Duration>,
    release_spread: Option<Duration>,
    jitter: Option<Jitter>,
}

impl Settings {
    fn build(&self) -> Option<RetryPolicy> {
        let mut b = RetryPolicy::builder().seed(self.seed);
        if let Some(delays) = &self.delays {
            b = b.delays(delays.iter().copied());
        }
        if let Some(wait) = self.then_every {
            b = b.then_every(wait);
        }
        if let Some(age) = self.max_age {
            b = b.max_age(age);
        }
        if let Some(n) = self.max_attempts {
            b = b.max_attempts(n);
        }
        if let Some(wait) = self.greylist_delay {
            b = b.greylist_delay(wait);
        }
        if let Some(spread) = self.greylist_spread {
            b = b.greylist_spread(spread);
        }
        if let Some(floor) = self.hint_floor {
            b = b.hint_floor(floor);
        }
        if let Some(spread) = self.release_spread {
            b = b.release_spread(spread);
        }
        if let Some(jitter) = self.jitter {
            b = b.jitter(jitter);
        }
        b.build().ok()
    }

    fn hint_floor(&self) -> Duration {
        self.hint_floor.unwrap_or(MINUTE)
    }

    fn greylist_delay(&self) -> Duration {
        self.greylist_delay.unwrap_or(Duration::from_secs(300))
    }

    fn greylist_spread(&self) -> Duration {
        self.greylist_spread.unwrap_or(2 * MINUTE)
    }
}

fn secs(range: std::ops::Range<u64>) -> impl Strategy<Value = Duration> {
    range.prop_map(Duration::from_secs)
}

fn settings() -> impl Strategy<Value = Settings> {
    let jitter = prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Decorrelated)
    ];
    (
        any::<u64>(),
        prop::option::weighted(0.3, prop::collection::vec(secs(1..7200), 0..5)),
        prop::option::weighted(0.3, secs(60..6 * 3600)),
        prop::option::weighted(
            0.6,
            prop_oneof![secs(60..3600), secs(3600..10 * 86_400), Just(5 * DAY)],
        ),
        prop::option::weighted(0.3, 1u32..20),
        prop::option::weighted(0.2, secs(1..3600)),
        prop::option::weighted(0.2, secs(0..600)),
        prop::option::weighted(0.3, secs(1..600)),
        prop::option::weighted(0.3, secs(0..600)),
        prop::option::weighted(0.5, jitter),
    )
        .prop_map(
            |(
                seed,
                delays,
                then_every,
                max_age,
                max_attempts,
                greylist_delay,
                greylist_spread,
                hint_floor,
                release_spread,
                jitter,
            )| Settings {
                seed,
                delays,
                then_every,
                max_age,
                max_attempts,
                greylist_delay,
                greylist_spread,
                hint_floor,
                release_spread,
                jitter,
            },
        )
}

/// When the next failure happens, after the retry time the policy set.
#[derive(Clone, Copy, Debug)]
enum Next {
    /// Exactly at the retry time.
    OnTime,
    /// This long after it.
    Late(Duration),
    /// This long after the first attempt, whatever the retry time (a queue that ran
    /// late, early, or a clock that jumped).
    At(Duration),
    /// This long BEFORE the first attempt (a clock that jumped back).
    Before(Duration),
}

/// A route suspension relative to the failure.
#[derive(Clone, Copy, Debug)]
enum Suspension {
    None,
    /// Ends this long after the failure.
    Ends(Duration),
    /// Ended this long before the failure.
    Ended(Duration),
}

#[derive(Clone, Debug)]
struct Failure {
    reply: usize,
    next: Next,
    suspension: Suspension,
}

fn failure() -> impl Strategy<Value = Failure> {
    let next = prop_oneof![
        4 => Just(Next::OnTime),
        3 => prop_oneof![secs(0..600), secs(0..3 * 86_400)].prop_map(Next::Late),
        1 => secs(0..12 * 86_400).prop_map(Next::At),
        1 => secs(0..86_400).prop_map(Next::Before),
    ];
    let suspension = prop_oneof![
        3 => Just(Suspension::None),
        3 => prop_oneof![
            secs(0..600),
            Just(Duration::from_secs(300)),
            secs(0..8 * 86_400),
            (0u64..2_000_000_000).prop_map(Duration::from_nanos),
        ]
        .prop_map(Suspension::Ends),
        1 => secs(0..3600).prop_map(Suspension::Ended),
    ];
    (0..REPLIES.len(), next, suspension).prop_map(|(reply, next, suspension)| Failure {
        reply,
        next,
        suspension,
    })
}

/// One decision and what it was made from.
#[derive(Debug)]
struct Step {
    reply: &'static str,
    classification: Classification,
    now: Duration,
    suspended_until: Option<Duration>,
    /// Failed attempts so far, this one included.
    attempts: u32,
    /// Whether this was the message's first greylisting.
    first_greylisting: bool,
    decision: RetryDecision<Duration>,
}

/// Feeds the failures of one message to the policy, each at a time following the retry
/// time before.
fn decide(policy: &RetryPolicy, first: Duration, failures: &[Failure]) -> Vec<Step> {
    decide_restoring(policy, first, failures, None)
}

/// As [`decide`], but before failure `restore` the history is stored as its parts and
/// rebuilt from them, as a queue does across a restart.
fn decide_restoring(
    policy: &RetryPolicy,
    first: Duration,
    failures: &[Failure],
    restore: Option<usize>,
) -> Vec<Step> {
    let mut history = History::new(first);
    let mut now = first;
    let mut steps = Vec::new();
    let mut greylisted = 0;
    for (n, f) in failures.iter().enumerate() {
        if restore == Some(n) {
            history = History::from_parts(history.parts()).expect("a history's own parts");
        }
        let reply = REPLIES[f.reply];
        let classification = classified(reply);
        let suspended_until = match f.suspension {
            Suspension::None => None,
            Suspension::Ends(d) => Some(now + d),
            Suspension::Ended(d) => Some(now.saturating_sub(d)),
        };
        let first_greylisting = classification.category == Category::Greylisted && greylisted == 0;
        if classification.category == Category::Greylisted {
            greylisted += 1;
        }
        let decision = policy.next_retry(&classification, &mut history, now, suspended_until);
        steps.push(Step {
            reply,
            classification,
            now,
            suspended_until,
            attempts: n as u32 + 1,
            first_greylisting,
            decision,
        });
        let RetryDecision::RetryAt { at, .. } = decision else {
            break;
        };
        now = match f.next {
            Next::OnTime => at,
            Next::Late(d) => at + d,
            Next::At(d) => first + d,
            Next::Before(d) => first.saturating_sub(d),
        };
    }
    steps
}

fn scenario() -> impl Strategy<Value = (Settings, Duration, Vec<Failure>)> {
    (
        settings(),
        prop_oneof![Just(Duration::ZERO), secs(0..10 * 365 * 86_400)],
        prop::collection::vec(failure(), 1..30),
    )
}

/// The earliest instant a retry may be set at for this step: the server hint (at least
/// the floor) and the end of the suspension.
fn earliest(settings: &Settings, step: &Step) -> Duration {
    // The hint, else the greylist window of a first greylisting: what the server set.
    let hint = match step.classification.retry_hint {
        Some(h) => h.max(settings.hint_floor()),
        None if step.first_greylisting => settings.greylist_delay(),
        None => Duration::ZERO,
    };
    let mut at = step.now + hint;
    if let Some(end) = step.suspended_until {
        at = at.max(end);
    }
    at
}

// ---------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A history stored as its parts and rebuilt at any point decides exactly as the
    /// original: the same decisions, in the same order, for the same failures.
    #[test]
    fn a_restored_history_decides_as_the_original(
        (settings, first, failures) in scenario(),
        at in any::<prop::sample::Index>(),
    ) {
        let (Some(original), Some(restarted)) = (settings.build(), settings.build()) else {
            return Ok(());
        };
        let restore = at.index(failures.len());
        let decided = |steps: Vec<Step>| -> Vec<_> {
            steps.into_iter().map(|s| (s.now, s.decision)).collect()
        };
        prop_assert_eq!(
            decided(decide(&original, first, &failures)),
            decided(decide_restoring(&restarted, first, &failures, Some(restore)))
        );
    }

    /// Whatever `History::from_parts` accepts is safe to decide on: no panic, the
    /// attempt is counted, and a retry is never set before the failure.
    #[test]
    fn accepted_parts_are_safe_to_decide_on(
        settings in settings(),
        (attempts, greylisted, backoff_steps) in any::<u32>().prop_flat_map(|a| (Just(a), 0..=a, 0..=a)),
        first in prop_oneof![secs(0..10 * 365 * 86_400), Just(Duration::MAX)],
        last_wait in prop::option::of(prop_oneof![secs(0..365 * 86_400), Just(365 * DAY)]),
        suspended in prop_oneof![secs(0..400 * 86_400), Just(Duration::MAX)],
        category in 0..Category::ALL.len(),
        reply in 0..REPLIES.len(),
        now in secs(0..12 * 365 * 86_400),
    ) {
        let Some(policy) = settings.build() else { return Ok(()) };
        let parts = smtp_throttle::retry::HistoryParts {
            first_attempt: first,
            attempts,
            backoff_steps,
            greylisted,
            last_wait: if attempts == 0 { None } else { last_wait },
            last_category: (attempts > 0).then_some(Category::ALL[category]),
            suspended,
        };
        let mut history = History::from_parts(parts).expect("consistent parts");
        let decision = policy.next_retry(&classified(REPLIES[reply]), &mut history, now, None);
        prop_assert_eq!(history.attempts(), attempts.saturating_add(1));
        if let RetryDecision::RetryAt { at, .. } = decision {
            prop_assert!(at >= now, "retry at {:?} before the failure at {:?}", at, now);
        }
    }

    /// `Throttle::until(at)` is the time from the limits' clock's now to `at`, and zero
    /// once `at` has passed, however far the clock moved.
    #[test]
    fn until_is_the_wait_from_now_and_zero_once_past(
        offset in prop_oneof![secs(0..86_400), (0u64..u64::MAX / 4).prop_map(Duration::from_nanos)],
        advance in prop_oneof![secs(0..2 * 86_400), (0u64..u64::MAX / 4).prop_map(Duration::from_nanos)],
    ) {
        let clock = FakeRelativeClock::default();
        let throttle = Throttle::new(
            Limits::builder_with_clock(clock.clone()).build().unwrap(),
            RetryPolicy::builder().seed(1).build().unwrap(),
        );
        let start = throttle.now();
        let at = smtp_throttle::retry::Timestamp::after(start, offset);
        clock.advance(advance);
        // Wall-clock time moves with the limits' clock, from the anchor.
        prop_assert_eq!(
            smtp_throttle::retry::Timestamp::since(throttle.now(), start),
            advance.min(Duration::from_secs(100 * 365 * 86_400))
        );
        // `Timestamp::after` cuts waits over 100 years to 100 years.
        let offset = offset.min(Duration::from_secs(100 * 365 * 86_400));
        prop_assert_eq!(throttle.until(at), offset.saturating_sub(advance));
    }

    /// (g) A `RetryAt` is never earlier than the end of the route suspension passed in.
    /// (When that end is past first attempt + maximum age no `RetryAt` can keep both
    /// promises: the answer accepted then is `GiveUp(MaxAge)`, see
    /// `gives_up_exactly_when_documented`.)
    #[test]
    fn retry_never_before_suspension_end((settings, first, failures) in scenario()) {
        let Some(policy) = settings.build() else { return Ok(()) };
        for step in decide(&policy, first, &failures) {
            if let (RetryDecision::RetryAt { at, .. }, Some(end)) = (step.decision, step.suspended_until) {
                prop_assert!(at >= end, "retry at {:?} before the suspension's end {:?}: {:?}", at, end, step);
            }
        }
    }

    /// (g) A `RetryAt` for a reply with a server hint is never earlier than the hint, and
    /// at least the policy's hint floor; without a suspension at most 10 % (or two minutes) later.
    /// (A hint past the maximum age: `GiveUp(MaxAge)`, as above.)
    #[test]
    fn retry_never_before_server_hint((settings, first, failures) in scenario()) {
        let Some(policy) = settings.build() else { return Ok(()) };
        for step in decide(&policy, first, &failures) {
            let (RetryDecision::RetryAt { at, .. }, Some(hint)) = (step.decision, step.classification.retry_hint) else {
                continue;
            };
            let wait = hint.max(settings.hint_floor());
            prop_assert!(
                at >= step.now + wait,
                "retry {:?} after the failure, the hint says {:?} (floor {:?}): {:?}",
                at.saturating_sub(step.now), hint, settings.hint_floor(), step
            );
            if step.suspended_until.is_none() {
                prop_assert!(
                    at <= step.now + wait + wait.mul_f64(0.1).max(Duration::from_secs(120)) + Duration::from_nanos(1),
                    "retry {:?} after the failure, more than 10 % (or 2 minutes) past the hint {:?}", at.saturating_sub(step.now), wait
                );
            }
        }
    }

    /// (g) No `RetryAt` is after first attempt + maximum age.
    #[test]
    fn retry_never_after_max_age((settings, first, failures) in scenario()) {
        let Some(policy) = settings.build() else { return Ok(()) };
        for step in decide(&policy, first, &failures) {
            if let RetryDecision::RetryAt { at, .. } = step.decision {
                prop_assert!(
                    at <= first + policy.max_age(),
                    "retry {:?} after the first attempt, maximum age {:?}: {:?}",
                    at.saturating_sub(first), policy.max_age(), step
                );
            }
        }
    }

    /// (g) It gives up exactly when documented: a final reply (`NotRetryable`), a failure
    /// at or past the maximum age (`MaxAge`), all attempts used (`MaxAttempts`), in that
    /// order; otherwise it sets a retry. (A `MaxAge` give-up is also expected when the
    /// hint, the greylist window or the suspension would put the retry past the maximum
    /// age: a retry before them would be pointless.)
    #[test]
    fn gives_up_exactly_when_documented((settings, first, failures) in scenario()) {
        let Some(policy) = settings.build() else { return Ok(()) };
        for step in decide(&policy, first, &failures) {
            let age = step.now.saturating_sub(first);
            let expected = if !step.classification.retry {
                Some(GiveUpReason::NotRetryable { category: step.classification.category })
            } else if age >= policy.max_age() {
                Some(GiveUpReason::MaxAge { age, max: policy.max_age() })
            } else if settings.max_attempts.is_some_and(|max| step.attempts >= max) {
                Some(GiveUpReason::MaxAttempts { attempts: step.attempts })
            } else {
                None
            };
            match (step.decision, expected) {
                (RetryDecision::GiveUp(got), Some(want)) => prop_assert_eq!(got, want, "{:?}", step),
                (RetryDecision::RetryAt { at: _, .. }, None) => {}
                (RetryDecision::GiveUp(GiveUpReason::MaxAge { .. }), None)
                    if earliest(&settings, &step) > first + policy.max_age() => {}
                (decision, want) => prop_assert!(false, "{:?}, expected {:?}: {:?}", decision, want, step),
            }
        }
    }

    /// (g) The first greylisting comes back just after the greylist window: within
    /// [delay, delay + spread] (when no hint, suspension or maximum age decides).
    #[test]
    fn first_greylisting_comes_back_just_after_the_window((settings, first, failures) in scenario()) {
        let Some(policy) = settings.build() else { return Ok(()) };
        for step in decide(&policy, first, &failures) {
            let RetryDecision::RetryAt { at, .. } = step.decision else { continue };
            let low = step.now + settings.greylist_delay();
            let high = low + settings.greylist_spread();
            if !step.first_greylisting
                || step.classification.retry_hint.is_some()
                // A suspension ending near the window spreads the retry past it.
                || step.suspended_until.is_some()
                || high > first + policy.max_age()
            {
                continue;
            }
            prop_assert!(at >= low && at <= high, "{:?} not in [{:?}, {:?}]: {:?}", at, low, high, step.reply);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Many messages failing in the same instant
// ---------------------------------------------------------------------------------------

/// The most retries that fall in one whole second.
fn busiest_second(times: &[Duration]) -> (u64, usize) {
    let mut per_second: HashMap<u64, usize> = HashMap::new();
    for t in times {
        *per_second.entry(t.as_secs()).or_default() += 1;
    }
    per_second
        .into_iter()
        .max_by_key(|&(s, n)| (n, std::cmp::Reverse(s)))
        .unwrap_or((0, 0))
}

/// `n` messages first tried and failed at `now` with `reply` under ONE default policy
/// seeded with `seed`; returns their first and second retry times (the second failure at
/// each message's own first retry time, the suspension over by then).
fn spread(
    seed: u64,
    n: usize,
    reply: &str,
    suspension: Option<Duration>,
) -> (Vec<Duration>, Vec<Duration>) {
    let policy = RetryPolicy::builder()
        .seed(seed)
        .build()
        .expect("the default policy");
    let c = classified(reply);
    let now = Duration::from_secs(1_000_000);
    let suspended_until = suspension.map(|s| now + s);
    let mut firsts = Vec::with_capacity(n);
    let mut seconds = Vec::with_capacity(n);
    for _ in 0..n {
        let mut history = History::new(now);
        let RetryDecision::RetryAt { at, .. } =
            policy.next_retry(&c, &mut history, now, suspended_until)
        else {
            panic!("gave up on a fresh message after {reply}");
        };
        firsts.push(at);
        let RetryDecision::RetryAt { at: again, .. } =
            policy.next_retry(&c, &mut history, at, None)
        else {
            panic!("gave up on the second failure after {reply}");
        };
        seconds.push(again);
    }
    (firsts, seconds)
}

/// "first retries, n = 1000: 29 (2.9 %) in second 342 after the failure" when the busiest
/// second holds more than 2 %.
fn crowded(what: &str, n: usize, times: &[Duration]) -> Option<String> {
    let (second, count) = busiest_second(times);
    (count * 100 > n * 2).then(|| {
        format!(
            "{what}, n = {n}: {count} ({:.1} %) in second {} after the failure",
            count as f64 * 100.0 / n as f64,
            second.saturating_sub(1_000_000)
        )
    })
}

/// Both message counts, first and second retries: every crowded second in one message.
fn check_both(seed: u64, reply: &str, suspension: Option<Duration>) -> Result<(), TestCaseError> {
    let mut crowds = Vec::new();
    for n in [1000, 10_000] {
        let (firsts, seconds) = spread(seed, n, reply, suspension);
        crowds.extend(crowded("first retries", n, &firsts));
        crowds.extend(crowded("second retries", n, &seconds));
    }
    prop_assert!(
        crowds.is_empty(),
        "more than 2 % in one second: {}",
        crowds.join("; ")
    );
    Ok(())
}

/// Seeds of the default policy tried: fixed, so that these statistical checks are
/// deterministic.
const SEEDS: std::ops::Range<u64> = 0..8;

fn check_seeds(reply: &str, suspension: Option<Duration>) {
    let failed: Vec<String> = SEEDS
        .filter_map(|seed| {
            check_both(seed, reply, suspension)
                .err()
                .map(|e| format!("seed {seed}: {e}"))
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// (h) 1000 / 10 000 messages failing in the same instant with the same reply (a rate
/// limit, no hint), fresh histories, no suspension, under the default policy: no second
/// holds more than 2 % of their retries, first or second.
#[test]
fn simultaneous_failures_spread_without_suspension() {
    check_seeds(RATE_LIMITED, None);
}

/// (h) The same, released by a 300 s suspension ending exactly at now + 300 s (the default
/// rate-limit pause, which is also the first scheduled wait).
#[test]
fn simultaneous_failures_spread_after_suspension_release() {
    check_seeds(RATE_LIMITED, Some(Duration::from_secs(300)));
}

/// (h) The same, with a server hint of 60 s.
#[test]
fn simultaneous_failures_spread_with_server_hint() {
    assert_eq!(classified(HINT_60_S).retry_hint, Some(MINUTE));
    check_seeds(HINT_60_S, None);
}

/// (h) The same, greylisted (postgrey, no hint).
#[test]
fn simultaneous_failures_spread_when_greylisted() {
    assert_eq!(classified(GREYLISTED).category, Category::Greylisted);
    check_seeds(GREYLISTED, None);
}

/// (h) The same, a full mailbox (`recipient_retry`'s 15–18 minutes).
#[test]
fn simultaneous_failures_spread_when_the_mailbox_is_full() {
    assert_eq!(classified(MAILBOX_FULL).category, Category::MailboxFull);
    check_seeds(MAILBOX_FULL, None);
}

const MAILBOX_FULL: &str = "452 4.2.2 The email account that you tried to reach is over quota";

/// Replies about one recipient: full mailboxes, a mailbox or user not available now.
const ABOUT_ONE_RECIPIENT: &[&str] = &[
    MAILBOX_FULL,
    "452 4.2.2 <bob@example.com>: Recipient address rejected: Mailbox full",
    "450 4.2.2 <user@outlook.com>... Mailbox Full",
    "450 4.2.1 <bob@example.com>: Recipient address rejected: mailbox temporarily disabled",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// README / `recipient_retry`: "a deferral about one recipient comes back after
    /// `recipient_retry` … 20 % more for its first 8 attempts, without stepping the
    /// schedule, then follows the schedule, never under that wait" — for any wait, any
    /// age, whatever failed before, short of a suspension or the maximum age.
    #[test]
    fn a_recipient_deferral_waits_the_recipient_retry_then_never_less(
        wait in secs(1..7200),
        age in secs(0..86_400),
        before in prop::collection::vec(prop::sample::select(REPLIES.to_vec()), 0..10),
        replies in prop::collection::vec(prop::sample::select(ABOUT_ONE_RECIPIENT.to_vec()), 1..16),
        seed in any::<u64>(),
    ) {
        let policy = RetryPolicy::builder()
            .recipient_retry(Some(wait))
            .max_age(30 * DAY)
            .seed(seed)
            .build()
            .expect("valid settings");
        let first = Duration::from_secs(1_000_000);
        let mut history = History::new(first);
        let mut now = first + age;
        for wire in before {
            match policy.next_retry(&classified(wire), &mut history, now, None) {
                RetryDecision::RetryAt { at, .. } => now = at,
                RetryDecision::GiveUp(_) => return Ok(()),
            }
        }
        for wire in replies {
            let steps = history.backoff_steps();
            let attempt = history.attempts() + 1;
            let RetryDecision::RetryAt { after, at } =
                policy.next_retry(&classified(wire), &mut history, now, None)
            else {
                return Err(TestCaseError::fail(format!("{wire}: gave up")));
            };
            prop_assert!(after >= wait, "attempt {attempt}: {after:?} < {wait:?}");
            if attempt <= 8 {
                prop_assert!(after <= wait + wait / 5, "attempt {attempt}: {after:?} for {wait:?}");
                prop_assert_eq!(history.backoff_steps(), steps, "the schedule stepped");
            }
            now = at;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Through a Throttle
// ---------------------------------------------------------------------------------------

fn scope() -> impl Strategy<Value = LimitScope> {
    prop_oneof![
        Just(LimitScope::Site),
        Just(LimitScope::Source),
        Just(LimitScope::Pair)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// (i) `Throttle::record`: when the route's site or source (not only the pair) is
    /// suspended with `Limits::suspend`, a deferral's `retry_at` is not before that
    /// suspension's end.
    #[test]
    fn deferral_waits_for_site_and_source_suspensions(
        seed in any::<u64>(),
        scope in scope(),
        reply in prop::sample::select(vec![0usize, 1, 3, 4, 5, 7, 8, 9, 10, 11, 14]),
        suspension in prop_oneof![secs(1..600), secs(600..4 * 86_400)],
        touched in any::<bool>(),
    ) {
        let clock = FakeRelativeClock::default();
        clock.advance(DAY);
        let limits = Limits::builder_with_clock(clock.clone()).build().unwrap();
        let policy = RetryPolicy::builder().seed(seed).build().unwrap();
        let throttle = Throttle::new(limits, policy);
        let route = Route::new(
            "192.0.2.10".parse::<IpAddr>().unwrap(),
            Destination::new("example.org").unwrap(),
        );
        if touched {
            drop(throttle.limits().try_acquire(&route));
        }
        let until = clock.now() + suspension;
        throttle.limits().suspend(&route, scope, until);
        let wall_until = throttle.now() + suspension;
        let mut history = throttle.history();
        let wire = REPLIES[reply];
        let outcome = throttle.record(&route, Ok(Reply::parse(wire).unwrap()), &mut history);
        match outcome {
            Outcome::Deferred { retry_at, retry_after, .. } => prop_assert!(
                retry_at >= wall_until,
                "{:?} suspended for {:?}, {} deferred to {:?} after the failure",
                scope, suspension, wire, retry_after
            ),
            other => prop_assert!(false, "{} was not deferred: {:?}", wire, other),
        }
    }
}

#[test]
fn history_parts_no_history_can_hold_are_refused() {
    use smtp_throttle::retry::HistoryParts;
    use smtp_throttle::HistoryError;
    let good = History::new(Duration::from_secs(5)).parts();
    assert_eq!(
        History::from_parts(good),
        Ok(History::new(Duration::from_secs(5)))
    );
    let with = |f: fn(&mut HistoryParts<Duration>)| {
        let mut p = good;
        p.attempts = 2;
        p.last_category = Some(Category::Greylisted);
        f(&mut p);
        History::from_parts(p)
    };
    assert!(with(|_| {}).is_ok());
    assert_eq!(
        with(|p| p.greylisted = 3),
        Err(HistoryError::MoreThanAttempts {
            field: "greylisted",
            value: 3,
            attempts: 2
        })
    );
    assert_eq!(
        with(|p| p.backoff_steps = 9),
        Err(HistoryError::MoreThanAttempts {
            field: "backoff_steps",
            value: 9,
            attempts: 2
        })
    );
    assert_eq!(
        with(|p| p.last_category = None),
        Err(HistoryError::CategoryMismatch { attempts: 2 })
    );
    let mut untried = good;
    untried.last_category = Some(Category::RateLimited);
    assert_eq!(
        History::from_parts(untried),
        Err(HistoryError::CategoryMismatch { attempts: 0 })
    );
    let err = with(|p| p.last_wait = Some(Duration::MAX)).unwrap_err();
    assert!(matches!(err, HistoryError::WaitTooLong { .. }), "{err}");
    assert!(err.to_string().contains("longer than"), "{err}");
    // A suspension longer than the message's age is accepted: the backoff counts from zero.
    assert!(with(|p| p.suspended = Duration::MAX).is_ok());
    // Whatever is accepted is safe to decide on, with every kind of jitter.
    for jitter in [Jitter::None, Jitter::Full, Jitter::Decorrelated] {
        let policy = RetryPolicy::builder()
            .jitter(jitter)
            .seed(7)
            .build()
            .unwrap();
        for mut history in [
            with(|p| p.suspended = Duration::MAX).unwrap(),
            with(|p| p.last_wait = Some(365 * DAY)).unwrap(),
            with(|p| {
                p.attempts = u32::MAX;
                p.backoff_steps = u32::MAX;
            })
            .unwrap(),
        ] {
            let _ = policy.next_retry(
                &classified(RATE_LIMITED),
                &mut history,
                Duration::from_secs(60),
                None,
            );
        }
    }
}
