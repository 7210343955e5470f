//! Feature `sqlite`: the durable queue's promises — each message ends once, leases come
//! back, retries go first, what is stored decides as before, garbage is set aside.
#![cfg(feature = "sqlite")]

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use governor::clock::FakeRelativeClock;
use proptest::prelude::*;
use smtp_throttle::limit::Limits;
use smtp_throttle::queue::{MessageState, QueueError, Recorded, RunOptions, SqliteQueue};
use smtp_throttle::retry::{History, RetryPolicy};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{sender_fn, Outcome, Throttle, TransportError};
use smtp_throttle::{Mail, Reply};

/// A fresh queue file in a directory of its own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smtp-throttle-test-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn file(&self) -> PathBuf {
        self.0.join("queue.sqlite")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn route(domain: &str) -> Route {
    Route::new(
        "192.0.2.10".parse::<IpAddr>().unwrap(),
        Destination::new(domain).unwrap(),
    )
}

fn mail(n: u32) -> Mail {
    Mail::new(
        "news@example.com",
        [format!("u{n}@example.org")],
        format!("Message-ID: <{n}@test>\r\n\r\nhello\r\n").into_bytes(),
    )
}

fn reply(wire: &str) -> Reply {
    Reply::parse(wire).unwrap()
}

fn fake_throttle(clock: &FakeRelativeClock, seed: u64) -> Throttle<FakeRelativeClock> {
    Throttle::new(
        Limits::builder_with_clock(clock.clone()).build().unwrap(),
        RetryPolicy::builder().seed(seed).build().unwrap(),
    )
}

#[test]
fn enqueue_is_idempotent_and_refuses_what_cannot_be_sent() {
    let dir = Scratch::new("enqueue");
    let queue = SqliteQueue::open(dir.file()).unwrap();
    let now = SystemTime::now();
    assert!(queue
        .enqueue("a", &route("example.org"), &mail(1), now)
        .unwrap());
    assert!(!queue
        .enqueue("a", &route("example.org"), &mail(2), now)
        .unwrap());
    assert_eq!(queue.counts(now).unwrap().queued, 1);
    let no_rcpt = Mail::new("x@example.com", Vec::<String>::new(), Vec::new());
    for (id, m) in [("", mail(1)), ("b", no_rcpt), (&"x".repeat(300), mail(1))] {
        let err = queue
            .enqueue(id, &route("example.org"), &m, now)
            .unwrap_err();
        assert!(matches!(err, QueueError::Invalid { .. }), "{err}");
    }
    // A second handle on the same file sees the message (WAL, several processes).
    let other = SqliteQueue::open(dir.file()).unwrap();
    assert_eq!(other.state("a").unwrap(), Some((MessageState::Queued, 0)));
    assert_eq!(other.state("missing").unwrap(), None);
}

#[test]
fn a_lease_that_runs_out_comes_back_and_the_late_record_changes_nothing() {
    let dir = Scratch::new("lease");
    let queue = SqliteQueue::open(dir.file()).unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    queue
        .enqueue("a", &route("example.org"), &mail(1), t0)
        .unwrap();
    let lease = Duration::from_secs(60);
    let first = queue.lease(t0, lease).unwrap().expect("due");
    assert!(queue.lease(t0, lease).unwrap().is_none(), "leased: not due");
    assert_eq!(queue.counts(t0).unwrap().leased, 1);
    // The worker died; after the visibility timeout another takes it.
    let later = t0 + lease;
    let second = queue
        .lease(later, lease)
        .unwrap()
        .expect("the lease ran out");
    assert_eq!(second.id(), "a");
    let delivered = Outcome::Delivered {
        classification: smtp_throttle::classify(&reply("250 2.0.0 Ok")),
    };
    let history = second.history().clone();
    assert_eq!(
        queue.record(&first, &delivered, &history, later).unwrap(),
        Recorded::LeaseLost
    );
    assert_eq!(
        queue.record(&second, &delivered, &history, later).unwrap(),
        Recorded::Done
    );
    assert_eq!(
        queue.record(&second, &delivered, &history, later).unwrap(),
        Recorded::LeaseLost,
        "an ended message ends once"
    );
    assert_eq!(
        queue.state("a").unwrap(),
        Some((MessageState::Delivered, 1))
    );
}

#[test]
fn due_retries_go_before_first_attempts() {
    let dir = Scratch::new("order");
    let queue = SqliteQueue::open(dir.file()).unwrap();
    let clock = FakeRelativeClock::default();
    let throttle = fake_throttle(&clock, 1);
    let t0 = throttle.now();
    queue
        .enqueue("retry", &route("example.org"), &mail(0), t0)
        .unwrap();
    let leased = queue.lease(t0, Duration::from_secs(60)).unwrap().unwrap();
    let mut history = leased.history().clone();
    let greylist = sender_fn(|_r, _m: &Mail| {
        Ok(reply(
            "450 4.2.0 <u@example.org>: Recipient address rejected: Greylisted",
        ))
    });
    let outcome = throttle
        .try_send(&greylist, leased.route(), leased.mail(), &mut history)
        .unwrap();
    let Outcome::Deferred { retry_at, .. } = outcome else {
        panic!("{outcome:?}")
    };
    queue.record(&leased, &outcome, &history, t0).unwrap();
    // New messages queued before the retry is due, all due by then.
    for n in 1..50 {
        queue
            .enqueue(&format!("new-{n}"), &route("example.org"), &mail(n), t0)
            .unwrap();
    }
    let first = queue
        .lease(retry_at, Duration::from_secs(60))
        .unwrap()
        .unwrap();
    assert_eq!(first.id(), "retry", "the due retry goes first");
    assert_eq!(first.history(), &history, "with its history as stored");
}

/// What a queue stores decides exactly as the history kept in memory: random replies,
/// each attempt leased from the file (history read back) and compared.
fn replies() -> Vec<&'static str> {
    vec![
        "450 4.2.0 <u@example.org>: Recipient address rejected: Greylisted",
        "421 4.7.0 Try again later, closing connection.",
        "451 4.3.0 Temporary lookup failure",
        "452 4.2.2 Mailbox full",
        "421 4.7.28 Our system has detected an unusual rate of unsolicited mail - gsmtp",
        "250 2.0.0 Ok: queued",
        "550 5.1.1 <u@example.org>: Recipient address rejected: User unknown",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_stored_history_decides_as_the_one_in_memory(
        seed in any::<u64>(),
        attempts in prop::collection::vec(0usize..7, 1..12),
        max_attempts in prop::option::of(1u32..8),
    ) {
        let dir = Scratch::new("props");
        let queue = SqliteQueue::open(dir.file()).unwrap();
        let clock = FakeRelativeClock::default();
        let policy = {
            let b = RetryPolicy::builder().seed(seed);
            match max_attempts { Some(m) => b.max_attempts(m), None => b }.build().unwrap()
        };
        // Twin policies (clones repeat the same choices) and twin limits.
        let stored = Throttle::new(Limits::builder_with_clock(clock.clone()).build().unwrap(), policy.clone());
        let kept = Throttle::new(Limits::builder_with_clock(clock.clone()).build().unwrap(), policy);
        let t0 = stored.now();
        queue.enqueue("m", &route("example.org"), &mail(1), t0).unwrap();
        let mut memory = History::new(kept.now());
        prop_assert_eq!(memory.parts().first_attempt.duration_since(t0).unwrap_or_default() < Duration::from_millis(5), true);
        for &index in &attempts {
            let now = stored.now();
            let Some(leased) = queue.lease(now, Duration::from_secs(60)).unwrap() else {
                // Ended: the in-memory twin must have ended too.
                let (state, _) = queue.state("m").unwrap().unwrap();
                prop_assert_ne!(state, MessageState::Queued);
                break;
            };
            let mut from_store = leased.history().clone();
            prop_assert_eq!(from_store.attempts(), memory.attempts());
            prop_assert_eq!(from_store.greylisted(), memory.greylisted());
            prop_assert_eq!(from_store.backoff_steps(), memory.backoff_steps());
            prop_assert_eq!(from_store.last_wait(), memory.last_wait());
            prop_assert_eq!(from_store.last_category(), memory.last_category());
            let wire = replies()[index];
            let a = stored.record(leased.route(), Ok(reply(wire)), &mut from_store);
            let b = kept.record(leased.route(), Ok(reply(wire)), &mut memory);
            // The same decision: same kind, same wait after the failure.
            match (&a, &b) {
                (Outcome::Deferred { retry_after: x, .. }, Outcome::Deferred { retry_after: y, .. }) => {
                    prop_assert!(x.abs_diff(*y) < Duration::from_millis(5), "{:?} vs {:?}", x, y)
                }
                (a, b) => prop_assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b)),
            }
            queue.record(&leased, &a, &from_store, now).unwrap();
            if let Outcome::Deferred { retry_after, .. } = a {
                clock.advance(retry_after);
            } else {
                break;
            }
        }
    }
}

#[test]
fn an_unreadable_row_is_set_aside_and_the_rest_goes_on() {
    let dir = Scratch::new("corrupt");
    let queue = SqliteQueue::open(dir.file()).unwrap();
    let now = SystemTime::now();
    for n in 0..3 {
        queue
            .enqueue(&format!("m{n}"), &route("example.org"), &mail(n), now)
            .unwrap();
    }
    let raw = rusqlite::Connection::open(dir.file()).unwrap();
    raw.execute(
        "UPDATE messages SET source = 'not an ip' WHERE id = 'm0'",
        [],
    )
    .unwrap();
    raw.execute("UPDATE messages SET attempts = -4 WHERE id = 'm1'", [])
        .unwrap();
    let throttle = Throttle::new(Limits::builder().build().unwrap(), RetryPolicy::default());
    let ok = sender_fn(|_r, _m: &Mail| Ok(reply("250 2.0.0 Ok")));
    let report = throttle
        .run(
            &queue,
            &ok,
            &RunOptions::default().workers(2).until_empty(true),
        )
        .unwrap();
    assert_eq!((report.delivered, report.quarantined), (1, 2), "{report:?}");
    let counts = queue.counts(SystemTime::now()).unwrap();
    assert_eq!(
        (counts.delivered, counts.quarantined, counts.queued),
        (1, 2, 0)
    );
    assert_eq!(
        queue.state("m0").unwrap().unwrap().0,
        MessageState::Quarantined
    );
}

#[test]
fn run_expires_old_messages_survives_a_panicking_sender_and_keeps_learned_limits() {
    let dir = Scratch::new("run");
    let queue = SqliteQueue::open(dir.file()).unwrap();
    let now = SystemTime::now();
    let policy = RetryPolicy::builder()
        .max_age(Duration::from_secs(3600))
        .build()
        .unwrap();
    queue
        .enqueue(
            "old",
            &route("example.org"),
            &mail(0),
            now - Duration::from_secs(7200),
        )
        .unwrap();
    queue
        .enqueue("boom", &route("example.net"), &mail(1), now)
        .unwrap();
    queue
        .enqueue("gmail", &route("gmail.com"), &mail(2), now)
        .unwrap();
    let throttle = Throttle::new(Limits::builder().build().unwrap(), policy.clone());
    let sender = sender_fn(
        |route: &Route, _m: &Mail| -> Result<Reply, TransportError> {
            match route.destination().domain() {
            "example.net" => panic!("the sender blew up"),
            _ => Ok(reply("421 4.7.28 [192.0.2.10] Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp")),
        }
        },
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let progress = std::sync::Arc::new(smtp_throttle::queue::Progress::default());
    let options = RunOptions::default()
        .workers(1)
        .lease(Duration::from_secs(30))
        .poll(Duration::from_millis(5))
        .stop(stop.clone())
        .progress(progress.clone());
    std::thread::scope(|s| {
        let run = s.spawn(|| throttle.run(&queue, &sender, &options));
        while progress.snapshot().expired
            + progress.snapshot().panicked
            + progress.snapshot().deferred
            < 3
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        let report = run.join().unwrap().unwrap();
        assert_eq!(
            (report.expired, report.panicked, report.deferred),
            (1, 1, 1),
            "{report:?}"
        );
    });
    assert_eq!(
        queue.state("old").unwrap().unwrap().0,
        MessageState::Expired
    );
    assert_eq!(
        queue.state("boom").unwrap().unwrap().0,
        MessageState::Queued
    );
    // The learned suspension of gmail was saved; a restarted throttle gets it back.
    let learned = queue
        .load_learned()
        .unwrap()
        .expect("saved at the end of the run");
    assert!(!learned.pairs.is_empty());
    let restarted = Throttle::new(Limits::builder().build().unwrap(), policy);
    let quiet = sender_fn(|_r, _m: &Mail| Ok(reply("250 2.0.0 Ok")));
    let report = start_and_stop(&restarted, &queue, &quiet);
    assert!(report.learned_restored >= 1, "{report:?}");
    assert!(restarted
        .limits()
        .suspended_until(&route("gmail.com"))
        .is_some());

    // Stored learned limits that are not readable are ignored, not fatal.
    let raw = rusqlite::Connection::open(dir.file()).unwrap();
    raw.execute("UPDATE learned SET json = '{\"pairs\": 7}'", [])
        .unwrap();
    let report = start_and_stop(&restarted, &queue, &quiet);
    assert!(report.learned_unreadable);
}

/// A run stopped before it sends: what it restores at the start.
fn start_and_stop<S: smtp_throttle::throttle::Sender<Mail> + Sync>(
    throttle: &Throttle,
    queue: &SqliteQueue,
    sender: &S,
) -> smtp_throttle::queue::RunReport {
    let stopped = RunOptions::default()
        .workers(1)
        .stop(std::sync::Arc::new(true.into()));
    throttle.run(queue, sender, &stopped).unwrap()
}

#[test]
fn run_options_out_of_range_are_errors() {
    let dir = Scratch::new("options");
    let queue = SqliteQueue::open(dir.file()).unwrap();
    let throttle = Throttle::new(Limits::builder().build().unwrap(), RetryPolicy::default());
    let ok = sender_fn(|_r, _m: &Mail| Ok(reply("250 2.0.0 Ok")));
    for options in [
        RunOptions::default().workers(0),
        RunOptions::default().workers(10_000),
        RunOptions::default().lease(Duration::ZERO),
        RunOptions::default().send_timeout(Duration::from_secs(3600)),
        RunOptions::default().poll(Duration::ZERO),
        RunOptions::default().save_learned_every(Duration::ZERO),
    ] {
        let err = throttle.run(&queue, &ok, &options).unwrap_err();
        assert!(matches!(err, QueueError::Config { .. }), "{err}");
    }
}
