//! "Nothing lost", measured: `examples/queue_worker` sends 2 000 messages through the
//! durable queue to an in-process SMTP receiver that records every accepted message,
//! is killed with SIGKILL at three random points and restarted each time. Then: every
//! message ended delivered exactly once in the queue, none is missing at the receiver,
//! and a message reached it twice only if it was in flight at a kill (at most one per
//! worker per kill).
#![cfg(all(feature = "sqlite", feature = "lettre", unix))]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::receiver::{Config, Receiver, Running};
use smtp_throttle::queue::{MessageState, SqliteQueue};

const MESSAGES: usize = 2_000;
const WORKERS: usize = 4;
const KILLS: usize = 3;
/// The visibility timeout the worker runs with: a killed worker's messages come back
/// after it.
const LEASE_SECS: &str = "2";
/// How long before a kill a message accepted by the receiver can still be unrecorded
/// by the worker (one SMTP reply and one SQLite commit, on a loaded machine).
const IN_FLIGHT: Duration = Duration::from_secs(5);
/// How long after a kill the receiver may still finish a transaction it had whole.
const FINISHING: Duration = Duration::from_millis(500);

fn worker(db: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(common::example_binary(
        "queue_worker",
        &["sqlite", "lettre"],
    ));
    command.args(args).arg("--db").arg(db);
    command
}

fn start_run(db: &std::path::Path, server: &str) -> Child {
    worker(
        db,
        &[
            "run",
            "--server",
            server,
            "--workers",
            &WORKERS.to_string(),
            "--lease",
            LEASE_SECS,
            "--until-empty",
            "--no-progress",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("the worker starts")
}

/// Messages the receiver accepted, by queue id (the Message-ID up to its last `@`).
fn accepted(receiver: &Running) -> HashMap<String, Vec<Duration>> {
    let mut by_id: HashMap<String, Vec<Duration>> = HashMap::new();
    for message in receiver.messages() {
        let id = message
            .message_id
            .as_deref()
            .and_then(|m| m.trim_matches(['<', '>']).rsplit_once('@'))
            .map(|(id, _domain)| id)
            .unwrap_or_default()
            .to_owned();
        by_id.entry(id).or_default().push(message.at);
    }
    by_id
}

#[test]
fn every_message_ends_once_across_three_kills() {
    let receiver = Receiver::start(Config::default()).expect("the receiver starts");
    let server = receiver.addr().to_string();
    let dir = std::env::temp_dir().join(format!("smtp-throttle-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("queue.sqlite");
    let _ = std::fs::remove_file(&db);

    let enqueued = worker(
        &db,
        &[
            "enqueue",
            "--generate",
            &MESSAGES.to_string(),
            "--domain",
            "crash.test",
        ],
    )
    .output()
    .expect("enqueue runs");
    assert!(enqueued.status.success(), "{enqueued:?}");

    // Three kill points, random each run (the seed is printed to repeat one).
    let seed = RandomState::new().hash_one(SystemTime::now());
    let mut points: Vec<usize> = (0..KILLS as u64)
        .map(|i| {
            let span = MESSAGES as u64 * 8 / 10 / KILLS as u64;
            let offset = (seed.rotate_left(i as u32 * 17) ^ (i * 0x9E37_79B9)) % span;
            (i * span + offset + 50) as usize
        })
        .collect();
    points.sort_unstable();
    eprintln!("seed={seed} kill points (messages accepted): {points:?}");

    let started = Instant::now();
    let mut kills = Vec::new();
    for &point in &points {
        let mut child = start_run(&db, &server);
        let deadline = Instant::now() + Duration::from_secs(300);
        while receiver.messages().len() < point {
            assert!(Instant::now() < deadline, "no progress to {point}");
            if let Some(status) = child.try_wait().unwrap() {
                let out = child.wait_with_output().unwrap();
                panic!(
                    "the worker ended before the kill: {status}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        kills.push(receiver.now());
        eprintln!("killed at {} accepted", receiver.messages().len());
    }
    let last = start_run(&db, &server).wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&last.stdout);
    assert!(
        last.status.success(),
        "{summary}\n{}",
        String::from_utf8_lossy(&last.stderr)
    );
    eprintln!("last run: {}", summary.trim());
    let elapsed = started.elapsed();

    // The queue: every message ended once, delivered.
    let queue = SqliteQueue::open(&db).unwrap();
    let counts = queue.counts(SystemTime::now()).unwrap();
    assert_eq!(
        (
            counts.queued,
            counts.delivered,
            counts.bounced,
            counts.expired
        ),
        (0, MESSAGES as u64, 0, 0),
        "{counts:?}"
    );
    // The receiver: none lost; repeats only of messages in flight at a kill.
    let by_id = accepted(&receiver);
    let mut repeats = BTreeMap::new();
    let mut per_kill = BTreeMap::new();
    for n in 0..MESSAGES {
        let id = format!("{n}-user{n}@crash.test");
        let times = by_id.get(&id).map_or(&[][..], Vec::as_slice);
        assert!(!times.is_empty(), "{id} never reached the receiver");
        assert_eq!(
            queue.state(&id).unwrap().map(|(s, _)| s),
            Some(MessageState::Delivered)
        );
        if times.len() > 1 {
            let first = times.iter().min().copied().unwrap_or_default();
            // In flight at a kill: accepted just before it (its 250 not yet recorded),
            // sent again after it.
            // (The receiver may finish a transaction the killed worker had sent whole a
            // moment after the kill.)
            let kill = kills.iter().position(|&kill| first <= kill + FINISHING);
            let in_flight = kill.is_some_and(|k| {
                kills[k].saturating_sub(first) < IN_FLIGHT
                    && times.iter().any(|&t| t > kills[k] + FINISHING)
            });
            assert!(
                in_flight,
                "{id} delivered twice without being in flight at a kill: {times:?}, kills at {kills:?}"
            );
            *per_kill.entry(kill.unwrap_or_default()).or_insert(0) += times.len() - 1;
            repeats.insert(id, times.len());
        }
    }
    for (kill, n) in &per_kill {
        assert!(
            *n <= WORKERS,
            "{n} messages sent twice at kill {kill}, more than {WORKERS} workers"
        );
    }
    assert_eq!(by_id.len(), MESSAGES, "no message the queue did not hold");
    let extra: usize = repeats.values().map(|n| n - 1).sum();
    assert!(
        extra <= WORKERS * KILLS,
        "{extra} repeats, more than {WORKERS} workers × {KILLS} kills: {repeats:?}"
    );
    eprintln!(
        "RESULT messages={MESSAGES} kills={KILLS} workers={WORKERS} delivered_in_queue={} \
         accepted={} duplicates={extra} per_kill={per_kill:?} lost=0 elapsed_s={:.1}",
        counts.delivered,
        receiver.messages().len(),
        elapsed.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
