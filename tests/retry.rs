//! Retry schedules and decisions on a fake clock (times are `Duration`s since an epoch).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use smtp_throttle::retry::{GiveUpReason, History, Jitter, RetryDecision, RetryPolicy, RetryQueue};
use smtp_throttle::{classify, Category, Classification, ConfigError, Reply};

const S: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn reply(wire: &str) -> Classification {
    classify(&Reply::parse(wire).unwrap())
}

fn rate_limited() -> Classification {
    reply("421 4.7.0 Try again later, closing connection.")
}

fn retry_at(decision: RetryDecision<Duration>) -> Duration {
    match decision {
        RetryDecision::RetryAt { at, .. } => at,
        RetryDecision::GiveUp(why) => panic!("gave up: {why}"),
    }
}

fn secs(waits: impl Iterator<Item = Duration>) -> Vec<u64> {
    waits.map(|d| d.as_secs()).collect()
}

#[test]
fn standard_schedule() {
    let policy = RetryPolicy::default();
    let waits: Vec<Duration> = policy.schedule().collect();
    assert_eq!(
        secs(waits.iter().copied().take(6)),
        [300, 900, 1800, 3600, 3600, 3600]
    );
    // It ends exactly at the maximum age, 5 days.
    assert_eq!(waits.iter().sum::<Duration>(), 5 * DAY);
    assert_eq!(waits.len(), 4 + (5 * 24 * 3600 - 6600) / 3600 + 1);
}

#[test]
fn postfix_schedule() {
    let policy = RetryPolicy::postfix();
    let waits: Vec<Duration> = policy.schedule().collect();
    assert_eq!(
        secs(waits.iter().copied().take(8)),
        [300, 300, 600, 1200, 2400, 4000, 4000, 4000]
    );
    assert_eq!(waits.iter().sum::<Duration>(), 5 * DAY);
    assert!(waits.iter().all(|w| *w <= Duration::from_secs(4000)));
}

#[test]
fn exim_schedule() {
    let policy = RetryPolicy::exim();
    let waits: Vec<Duration> = policy.schedule().collect();
    let mut expected = vec![15 * 60; 8];
    // G,16h,1h,1.5 from 2 h: 1 h, 1.5 h, 2.25 h, 3.375 h, 5.0625 h, then 7.59375 h
    // (taken at 15.1875 h, still inside 16 h).
    expected.extend([3600, 5400, 8100, 12_150, 18_225, 27_337]);
    assert_eq!(secs(waits.iter().copied().take(14)), expected);
    assert_eq!(waits[13], Duration::from_secs_f64(27_337.5));
    // Then every 6 h up to 4 days, the last wait cut to land on it.
    assert!(waits[14..waits.len() - 1].iter().all(|&w| w == 6 * HOUR));
    assert_eq!(waits.iter().sum::<Duration>(), 4 * DAY);
    assert_eq!(waits.len(), 14 + 12 + 1);
}

#[test]
fn rfc5321_schedule() {
    let waits: Vec<Duration> = RetryPolicy::rfc5321().schedule().collect();
    assert!(waits.iter().all(|&w| w == 30 * MIN));
    assert_eq!(waits.len(), 5 * 48);
}

#[test]
fn max_attempts_ends_the_schedule_and_the_message() {
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .max_attempts(3)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    assert_eq!(secs(policy.schedule()), [300, 900]);
    let mut h = History::new(Duration::ZERO);
    let t1 = retry_at(policy.next_retry(&rate_limited(), &mut h, Duration::ZERO, None));
    let t2 = retry_at(policy.next_retry(&rate_limited(), &mut h, t1, None));
    assert_eq!(
        policy.next_retry(&rate_limited(), &mut h, t2, None),
        RetryDecision::GiveUp(GiveUpReason::MaxAttempts { attempts: 3 })
    );
}

#[test]
fn final_replies_give_up_at_once() {
    let policy = RetryPolicy::default();
    let mut h = History::new(Duration::ZERO);
    let unknown = reply("550 5.1.1 User unknown");
    assert_eq!(
        policy.next_retry(&unknown, &mut h, S, None),
        RetryDecision::GiveUp(GiveUpReason::NotRetryable {
            category: Category::UnknownUser
        })
    );
    assert_eq!(h.attempts(), 1);
    assert_eq!(h.last_category(), Some(Category::UnknownUser));
}

#[test]
fn greylisting_comes_back_after_the_window_then_follows_the_schedule() {
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .jitter(Jitter::None)
        .seed(1)
        .build()
        .unwrap();
    let grey = reply("450 4.2.0 <xo@wvvw.me>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/wvvw.me.html");
    assert_eq!(grey.category, Category::Greylisted);
    let mut h = History::new(Duration::ZERO);
    let t1 = retry_at(policy.next_retry(&grey, &mut h, Duration::ZERO, None));
    assert!((300 * S..=420 * S).contains(&t1), "{t1:?}");
    // Greylisted again: the normal schedule, from its start.
    let t2 = retry_at(policy.next_retry(&grey, &mut h, t1, None));
    assert_eq!(t2 - t1, 5 * MIN);
    let t3 = retry_at(policy.next_retry(&rate_limited(), &mut h, t2, None));
    assert_eq!(t3 - t2, 15 * MIN);
    assert_eq!(h.greylisted(), 2);
}

#[test]
fn server_hints_are_honoured_within_floor_and_max_age() {
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .seed(2)
        .build()
        .unwrap();
    // "try again in 51 seconds" is under the 60 s floor.
    let short = reply("450 4.2.1 Message was greylisted, try again in 51 seconds");
    let mut h = History::new(Duration::ZERO);
    let at = retry_at(policy.next_retry(&short, &mut h, Duration::ZERO, None));
    // Spread over two minutes past the floor: many messages told the same do not
    // return in one second.
    assert!((60 * S..=180 * S).contains(&at), "{at:?}");

    // Yahoo's 4 hours, honoured (up to 10 % later).
    let yahoo = reply("421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1");
    let mut h = History::new(Duration::ZERO);
    let at = retry_at(policy.next_retry(&yahoo, &mut h, Duration::ZERO, None));
    assert!((4 * HOUR..=4 * HOUR + 24 * MIN).contains(&at), "{at:?}");

    // Never past the maximum age: 2 hours before it, a 4-hour hint cannot be
    // honoured, and a retry before it would be refused again: give up.
    let now = 5 * DAY - 2 * HOUR;
    let mut h = History::new(Duration::ZERO);
    assert!(matches!(
        policy.next_retry(&yahoo, &mut h, now, None),
        RetryDecision::GiveUp(GiveUpReason::MaxAge { .. })
    ));
    // A hint that ends before it is honoured and spread, landing on it at the latest.
    let now = 5 * DAY - 4 * HOUR - 10 * MIN;
    let mut h = History::new(Duration::ZERO);
    let at = retry_at(policy.next_retry(&yahoo, &mut h, now, None));
    assert!((now + 4 * HOUR..=5 * DAY).contains(&at), "{at:?}");
}

#[test]
fn give_up_exactly_at_max_age() {
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let mut h = History::new(Duration::ZERO);
    let just_before = 5 * DAY - S;
    assert_eq!(
        retry_at(policy.next_retry(&rate_limited(), &mut h, just_before, None)),
        5 * DAY
    );
    assert_eq!(
        policy.next_retry(&rate_limited(), &mut h, 5 * DAY, None),
        RetryDecision::GiveUp(GiveUpReason::MaxAge {
            age: 5 * DAY,
            max: 5 * DAY
        })
    );
}

#[test]
fn suspension_pushes_the_retry_without_inflating_backoff() {
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .jitter(Jitter::None)
        .seed(3)
        .build()
        .unwrap();
    let mut h = History::new(Duration::ZERO);
    // First failure while the route is suspended for 2 hours.
    let t1 = retry_at(policy.next_retry(&rate_limited(), &mut h, Duration::ZERO, Some(2 * HOUR)));
    assert!((2 * HOUR..=2 * HOUR + 5 * MIN).contains(&t1), "{t1:?}");
    // The next failure waits the schedule's second step, 15 minutes: not hours.
    let t2 = retry_at(policy.next_retry(&rate_limited(), &mut h, t1, None));
    assert_eq!(t2 - t1, 15 * MIN);

    // Postfix's age-based waits leave suspended time out of the age.
    let postfix = RetryPolicy::postfix();
    let mut h = History::new(Duration::ZERO);
    let t1 = retry_at(postfix.next_retry(&rate_limited(), &mut h, Duration::ZERO, Some(2 * HOUR)));
    let t2 = retry_at(postfix.next_retry(&rate_limited(), &mut h, t1, None));
    assert!(
        t2 - t1 <= 10 * MIN,
        "wait after a suspension: {:?}",
        t2 - t1
    );
    assert!(h.suspended() >= 2 * HOUR - 5 * MIN);
}

#[test]
fn suspension_release_is_spread() {
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .seed(4)
        .build()
        .unwrap();
    let end = 10 * HOUR;
    let mut per_second: HashMap<u64, u32> = HashMap::new();
    for i in 0..10_000u64 {
        let failed_at = 9 * HOUR + Duration::from_millis(i * 7);
        let mut h = History::new(failed_at);
        let at = retry_at(policy.next_retry(&rate_limited(), &mut h, failed_at, Some(end)));
        assert!(at >= end);
        *per_second.entry(at.as_secs()).or_default() += 1;
    }
    let busiest = per_second.values().copied().max().unwrap();
    assert!(
        busiest <= 200,
        "one second holds {busiest} of 10 000 retries"
    );
}

#[test]
fn jitter_bounds_and_determinism() {
    let run = |jitter: Jitter, seed: u64| -> Vec<Duration> {
        let policy = RetryPolicy::builder()
            .route_retry(None)
            .jitter(jitter)
            .seed(seed)
            .build()
            .unwrap();
        let mut h = History::new(Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let at = retry_at(policy.next_retry(&rate_limited(), &mut h, now, None));
            waits.push(at - now);
            now = at;
        }
        waits
    };
    let base = [300, 900, 1800, 3600, 3600, 3600, 3600, 3600].map(|s| s * S);
    let full = run(Jitter::Full, 9);
    for (w, b) in full.iter().zip(base) {
        assert!(
            *w >= MIN && *w <= b,
            "full jitter {w:?} outside 60 s..={b:?}"
        );
    }
    let decorrelated = run(Jitter::Decorrelated, 9);
    for (w, b) in decorrelated.iter().zip(base) {
        assert!(
            *w >= b && *w <= 2 * b,
            "decorrelated {w:?} outside {b:?}..=2x"
        );
    }
    assert_eq!(run(Jitter::Decorrelated, 9), decorrelated);
    assert_ne!(run(Jitter::Decorrelated, 10), decorrelated);
    assert_eq!(run(Jitter::None, 9).to_vec(), base.to_vec());
}

#[test]
fn clocks_that_jump_back_count_as_age_zero() {
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let mut h = History::new(HOUR);
    assert_eq!(
        retry_at(policy.next_retry(&rate_limited(), &mut h, Duration::ZERO, None)),
        5 * MIN
    );
}

#[test]
fn other_timestamps() {
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let now = Instant::now();
    let mut h = History::new(now);
    match policy.next_retry(&rate_limited(), &mut h, now, None) {
        RetryDecision::RetryAt { at, .. } => assert_eq!(at - now, 5 * MIN),
        other => panic!("{other:?}"),
    }
    let now = SystemTime::now();
    let mut h = History::new(now);
    match policy.next_retry(&rate_limited(), &mut h, now, None) {
        RetryDecision::RetryAt { at, .. } => assert_eq!(at.duration_since(now).unwrap(), 5 * MIN),
        other => panic!("{other:?}"),
    }
}

#[test]
fn builder_rejects_zero_and_absurd_values() {
    let zero = Duration::ZERO;
    assert_eq!(
        RetryPolicy::builder()
            .route_retry(None)
            .max_age(zero)
            .build()
            .unwrap_err(),
        ConfigError::Zero { setting: "max_age" }
    );
    assert_eq!(
        RetryPolicy::builder()
            .route_retry(None)
            .delays([MIN, zero])
            .build()
            .unwrap_err(),
        ConfigError::Zero { setting: "delays" }
    );
    assert!(matches!(
        RetryPolicy::builder()
            .route_retry(None)
            .then_every(100 * DAY)
            .build(),
        Err(ConfigError::TooLong {
            setting: "then_every",
            ..
        })
    ));
    assert!(matches!(
        RetryPolicy::builder()
            .route_retry(None)
            .max_age(Duration::MAX)
            .build(),
        Err(ConfigError::TooLong {
            setting: "max_age",
            ..
        })
    ));
    assert_eq!(
        RetryPolicy::builder()
            .route_retry(None)
            .max_attempts(0)
            .build()
            .unwrap_err(),
        ConfigError::Zero {
            setting: "max_attempts"
        }
    );
    assert_eq!(
        RetryPolicy::builder()
            .route_retry(None)
            .hint_floor(zero)
            .build()
            .unwrap_err(),
        ConfigError::Zero {
            setting: "hint_floor"
        }
    );
    assert!(RetryPolicy::builder()
        .route_retry(None)
        .release_spread(zero)
        .greylist_spread(zero)
        .build()
        .is_ok());
    let custom = RetryPolicy::builder()
        .route_retry(None)
        .delays([MIN, 2 * MIN])
        .then_every(10 * MIN)
        .max_age(HOUR)
        .build()
        .unwrap();
    assert_eq!(secs(custom.schedule().take(4)), [60, 120, 600, 600]);
}

#[test]
fn retry_queue_orders_by_due_time() {
    let mut q = RetryQueue::new();
    assert!(q.is_empty());
    assert_eq!(q.next_due(), None);
    q.push("c", 30 * S);
    q.push("a", 10 * S);
    q.push("b", 10 * S);
    q.push("d", 40 * S);
    assert_eq!(q.len(), 4);
    assert_eq!(q.next_due(), Some(10 * S));
    assert_eq!(q.pop_next(5 * S), None);
    assert_eq!(q.pop_due(30 * S).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(q.len(), 1);
    assert_eq!(q.pop_due(HOUR).collect::<Vec<_>>(), ["d"]);
    assert!(q.is_empty());

    let mut q = RetryQueue::new();
    for i in (0..10_000u64).rev() {
        q.push(i, Duration::from_millis(i % 977));
    }
    let mut last = Duration::ZERO;
    let mut n = 0;
    while let Some(due) = q.next_due() {
        assert!(due >= last);
        last = due;
        q.pop_next(due).unwrap();
        n += 1;
    }
    assert_eq!(n, 10_000);
}

#[test]
fn a_suspension_ending_at_the_scheduled_retry_still_spreads_the_release() {
    // No jitter of its own (Postfix's schedule: 300 s first) and a 300 s suspension
    // that ends exactly then: the release spread alone keeps 1 000 messages apart.
    let policy = RetryPolicy::builder()
        .route_retry(None)
        .jitter(Jitter::None)
        .seed(3)
        .build()
        .unwrap();
    let now = 1_000 * S;
    let end = now + 5 * MIN;
    let mut per_second: HashMap<u64, u32> = HashMap::new();
    for _ in 0..1_000 {
        let mut h = History::new(now);
        let at = retry_at(policy.next_retry(&rate_limited(), &mut h, now, Some(end)));
        assert!(at >= end, "{at:?}");
        *per_second.entry(at.as_secs()).or_default() += 1;
    }
    let busiest = per_second.values().max().copied().unwrap_or(0);
    assert!(busiest <= 20, "{busiest} of 1 000 in one second");
}

#[test]
fn a_deferral_for_the_routes_pace_comes_back_soon_without_stepping_the_schedule() {
    let policy = RetryPolicy::builder().seed(3).build().unwrap();
    let mut h = History::new(Duration::ZERO);
    let mut now = Duration::ZERO;
    // Rate objections, a busy server, too many connections: 1–2 minutes each, for 12
    // attempts; the schedule has not moved.
    for wire in [
        "421 4.7.0 Try again later, closing connection.",
        "450 4.7.1 Error: too much mail from 192.0.2.1",
        "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1",
        "421 too many messages in this connection",
    ] {
        let c = reply(wire);
        let at = retry_at(policy.next_retry(&c, &mut h, now, None));
        assert!(
            (MIN..=2 * MIN).contains(&(at - now)),
            "{wire}: {:?}",
            at - now
        );
        now = at;
    }
    for _ in 4..12 {
        now = retry_at(policy.next_retry(&rate_limited(), &mut h, now, None));
    }
    // The 13th attempt follows the schedule from its start: 5 minutes (up to 10 with
    // the decorrelated jitter).
    let at = retry_at(policy.next_retry(&rate_limited(), &mut h, now, None));
    assert!((5 * MIN..=10 * MIN).contains(&(at - now)), "{:?}", at - now);
    // After a suspension: its end decides.
    let mut h = History::new(Duration::ZERO);
    let end = 30 * MIN;
    let at = retry_at(policy.next_retry(&rate_limited(), &mut h, Duration::ZERO, Some(end)));
    assert!(at >= end && at <= end + 5 * MIN, "{at:?}");
    // Not the message's pace: a full mailbox follows the schedule.
    let mut h = History::new(Duration::ZERO);
    let full = reply("452 4.2.2 The email account that you tried to reach is over quota.");
    let at = retry_at(policy.next_retry(&full, &mut h, Duration::ZERO, None));
    assert!(at >= 5 * MIN, "{at:?}");
    // Zero is refused; None turns it off.
    assert!(RetryPolicy::builder()
        .route_retry(Some(Duration::ZERO))
        .build()
        .is_err());
}

#[test]
fn a_deferral_about_one_recipient_comes_back_every_quarter_hour_eight_times() {
    let policy = RetryPolicy::builder().seed(5).build().unwrap();
    for wire in [
        "452 4.2.2 The email account that you tried to reach is over quota.",
        "452 4.2.2 <bob@example.com>: Recipient address rejected: Mailbox full",
        "450 4.2.1 <bob@example.com>: Recipient address rejected: mailbox temporarily disabled",
    ] {
        let full = reply(wire);
        // 15–18 minutes each for its first 8 attempts (about two hours), wherever its
        // age started; the schedule has not moved.
        let mut h = History::new(Duration::ZERO);
        let mut now = 3 * HOUR;
        for _ in 0..8 {
            let at = retry_at(policy.next_retry(&full, &mut h, now, None));
            assert!(
                (15 * MIN..=18 * MIN).contains(&(at - now)),
                "{wire} at {now:?}: {:?}",
                at - now
            );
            now = at;
        }
        assert_eq!(h.backoff_steps(), 0, "{wire}");
        // Then the schedule from its start, never under 15 minutes.
        let at = retry_at(policy.next_retry(&full, &mut h, now, None));
        assert!(
            (15 * MIN..=30 * MIN).contains(&(at - now)),
            "{wire}: {:?}",
            at - now
        );
        assert_eq!(h.backoff_steps(), 1);
    }
    // A suspension of the route still pushes it.
    let full = reply("452 4.2.2 Mailbox full");
    let mut h = History::new(Duration::ZERO);
    let at = retry_at(policy.next_retry(&full, &mut h, Duration::ZERO, Some(40 * MIN)));
    assert!(at >= 40 * MIN, "{at:?}");
    // Not about a recipient: the schedule's 5 minutes.
    let mut h = History::new(Duration::ZERO);
    let policy_block =
        reply("450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]");
    let at = retry_at(policy.next_retry(&policy_block, &mut h, Duration::ZERO, None));
    assert!((5 * MIN..=10 * MIN).contains(&at), "{at:?}");
    // None: the schedule (5 minutes first); the presets keep their MTA's behaviour.
    let off = RetryPolicy::builder()
        .recipient_retry(None)
        .seed(5)
        .build()
        .unwrap();
    let mut h = History::new(Duration::ZERO);
    let at = retry_at(off.next_retry(&full, &mut h, Duration::ZERO, None));
    assert!((5 * MIN..=10 * MIN).contains(&at), "{at:?}");
    let mut h = History::new(Duration::ZERO);
    let at = retry_at(RetryPolicy::postfix().next_retry(&full, &mut h, Duration::ZERO, None));
    assert_eq!(at, 5 * MIN);
    // Zero is refused.
    assert!(matches!(
        RetryPolicy::builder()
            .recipient_retry(Some(Duration::ZERO))
            .build(),
        Err(ConfigError::Zero {
            setting: "recipient_retry"
        })
    ));
}
