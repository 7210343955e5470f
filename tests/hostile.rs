//! The real `Throttle`, lettre's `SmtpSender` and real loopback TCP against the hostile
//! receiver of `tests/common/receiver.rs`, which caps simultaneous connections, counts
//! connection and message rates, counts every refusal as a strike that fades, and
//! blocks the client at a threshold, as large providers do. Both sides share one fake
//! clock, so minutes of backoff take no time; eight "workers" hold their sessions open
//! together, so the connection cap is really met.
//!
//! The promise: for connection caps 1–8, message rates and block thresholds down to 10
//! strikes, the throttle is never blocked, delivers every message exactly once, and
//! opens no more connections than messages plus refusals plus a small constant.
#![cfg(feature = "lettre")]

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use common::receiver::{self, Bucket, Config, Receiver};
use governor::clock::FakeRelativeClock;
use lettre::Message;
use proptest::prelude::*;
use smtp_throttle::lettre::SmtpSender;
use smtp_throttle::limit::Limits;
use smtp_throttle::retry::{History, RetryPolicy, RetryQueue};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{Outcome, Session, SessionError, Throttle};

const WORKERS: usize = 8;
/// How long a message takes on its session, in simulated time.
const TRANSFER: Duration = Duration::from_millis(500);

/// What a run saw.
#[derive(Debug)]
struct Run {
    delivered: usize,
    bounced: usize,
    stats: receiver::Stats,
    accepted: HashMap<String, usize>,
    simulated: Duration,
}

fn messages(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            Message::builder()
                .from("Sender <sender@client.test>".parse().expect("an address"))
                .to(format!("user{i}@hostile.test").parse().expect("an address"))
                .message_id(Some(format!("<{i}@client.test>")))
                .subject("hello")
                .body(String::from("hello\r\n"))
                .expect("a message")
        })
        .collect()
}

/// Sends `n` messages through a throttle with default limits and retry policy, eight
/// sessions at a time, until all are delivered or bounced (or 2 simulated days pass).
fn run(config: Config, clock: &FakeRelativeClock, n: usize, seed: u64) -> Run {
    let receiver = Receiver::start(config).expect("the receiver starts");
    let server: SocketAddr = receiver.addr();
    let limits = Limits::builder_with_clock(clock.clone())
        .build()
        .expect("defaults");
    let retry = RetryPolicy::builder().seed(seed).build().expect("defaults");
    let throttle = Throttle::new(limits, retry);
    let sender = SmtpSender::new(server, "client.test")
        .bind_source(false)
        .timeout(Duration::from_secs(5));
    let ip: IpAddr = "127.0.0.1".parse().expect("an IP");
    let route = Route::new(ip, Destination::new("hostile.test").expect("a domain"));
    let mail = messages(n);
    let mut queue: RetryQueue<(usize, History), SystemTime> = RetryQueue::new();
    for i in 0..n {
        queue.push((i, throttle.history()), throttle.now());
    }
    let start = throttle.now();
    let (mut delivered, mut bounced) = (0, 0);
    let deadline = Duration::from_secs(2 * 86_400);
    let ms = Duration::from_millis;
    // Eight workers; a busy one holds its session until the message is through.
    type Busy<'s> = (
        Session<'s, Message, SmtpSender, FakeRelativeClock>,
        usize,
        History,
        SystemTime,
    );
    let mut workers: Vec<Option<Busy<'_>>> = (0..WORKERS).map(|_| None).collect();
    while delivered + bounced < n
        && throttle.now().duration_since(start).unwrap_or_default() < deadline
    {
        let now = throttle.now();
        for worker in &mut workers {
            let Some((_, _, _, send_at)) = worker else {
                continue;
            };
            if *send_at > now {
                continue;
            }
            let Some((mut session, i, mut history, _)) = worker.take() else {
                continue;
            };
            match session.try_send(&mail[i], &mut history) {
                Ok(Outcome::Delivered { .. }) => delivered += 1,
                Ok(Outcome::Deferred { retry_at, .. }) => queue.push((i, history), retry_at),
                Ok(_) => bounced += 1,
                // Not tried: the route was suspended since the session opened.
                Err(wait) => queue.push((i, history), wait.until().max(now + ms(1))),
            }
        }
        let mut next = now + ms(1000);
        for worker in &mut workers {
            if worker.is_some() {
                continue;
            }
            let Some((i, mut history)) = queue.pop_next(now) else {
                break;
            };
            match throttle.try_session(&sender, &route) {
                // The message goes TRANSFER later; meanwhile the session stays open.
                Ok(session) => *worker = Some((session, i, history, now + TRANSFER)),
                Err(SessionError::Transport(error)) => {
                    match throttle.record_open(&route, error, &mut history) {
                        Outcome::Deferred { retry_at, .. } => queue.push((i, history), retry_at),
                        _ => bounced += 1,
                    }
                }
                Err(SessionError::NotNow(wait)) => {
                    if std::env::var_os("HOSTILE_TRACE").is_some() {
                        eprintln!("{now:?} {wait:?}");
                    }
                    queue.push((i, history), wait.until().max(now + ms(1)));
                }
                Err(error) => panic!("{error}"),
            }
        }
        // On to the next event: a message through, or one due.
        for (_, _, _, send_at) in workers.iter().flatten() {
            next = next.min(*send_at);
        }
        if workers.iter().any(Option::is_none) {
            if let Some(due) = queue.next_due() {
                next = next.min(due);
            }
        }
        clock.advance(throttle.until(next).max(Duration::from_millis(1)));
    }
    let mut accepted = HashMap::new();
    for message in receiver.messages() {
        *accepted
            .entry(message.message_id.unwrap_or_default())
            .or_default() += 1;
    }
    Run {
        delivered,
        bounced,
        stats: receiver.stats(),
        accepted,
        simulated: throttle.now().duration_since(start).unwrap_or_default(),
    }
}

/// The receiver on the shared clock, fading one strike every `fade`.
fn hostile(clock: &FakeRelativeClock, cap: u32, per_minute: u32, block_after: u32) -> Config {
    Config {
        max_connections: cap,
        message_bucket: (per_minute > 0).then(|| Bucket {
            rate: receiver::Rate::new(per_minute, Duration::from_secs(60)),
            burst: per_minute.div_ceil(6).max(1),
        }),
        fade: Duration::from_secs(10),
        block_after,
        clock: receiver::clock_of(clock.clone()),
        ..Config::default()
    }
}

fn check(run: &Run, n: usize) {
    let client = run.stats.local();
    assert_eq!(client.blocks, 0, "blocked: {:?}", run.stats);
    assert_eq!(run.delivered, n, "{run:?}");
    assert_eq!(run.bounced, 0, "{run:?}");
    assert_eq!(run.accepted.len(), n, "{run:?}");
    assert!(
        run.accepted.values().all(|&c| c == 1),
        "a message twice: {run:?}"
    );
    // Every connection carried a message, or was refused; besides, when a receiver's
    // objection suspends the route, the sessions other workers already hold end unused
    // rather than send into the suspension: at most one per other worker, per
    // objection (and once at the start, while the cap is found).
    let refusals: u64 = run.stats.refusals.values().sum();
    let objections = run.stats.refused(receiver::Kind::MessageRate) + 1;
    let allowed = n as u64 + refusals + (WORKERS as u64 - 1) * objections;
    assert!(
        run.stats.connections <= allowed,
        "{} connections for {n} messages and {refusals} refusals (allowed {allowed}): {:?}",
        run.stats.connections,
        run.stats
    );
}

#[test]
fn gmails_421_at_the_greeting_over_4_connections_never_blocks() {
    // The first receiver: 4 connections, Gmail's text for the fifth.
    let clock = FakeRelativeClock::default();
    let n = 60;
    let run = run(hostile(&clock, 4, 0, 10), &clock, n, 1);
    check(&run, n);
    println!("cap 4: {:?} in {:?}", run.stats, run.simulated);
}

#[test]
fn exchanges_432_over_2_connections_never_blocks() {
    let clock = FakeRelativeClock::default();
    let mut config = hostile(&clock, 2, 0, 10);
    config.texts.connections = "432 4.3.2 Concurrent connections limit exceeded".into();
    let n = 60;
    let run = run(config, &clock, n, 2);
    check(&run, n);
    assert!(
        run.stats.connections as f64 <= 1.2 * n as f64,
        "{:?}",
        run.stats
    );
    println!("cap 2 (432): {:?} in {:?}", run.stats, run.simulated);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn the_throttle_is_never_blocked_and_delivers_everything(
        cap in 1u32..=8,
        per_minute in prop_oneof![Just(0u32), 6u32..=120],
        block_after in 10u32..=30,
        seed in any::<u64>(),
    ) {
        let clock = FakeRelativeClock::default();
        let n = 30;
        let run = run(hostile(&clock, cap, per_minute, block_after), &clock, n, seed);
        check(&run, n);
    }
}
