//! `Limits` and `Throttle` sharing their limits through a real redis-server: several
//! independent limits (as separate processes would have) on one store, and what
//! happens when Redis stops, stalls and comes back.
//!
//! The fleet tests use the server `.ci/run` starts (`SMTP_THROTTLE_REDIS`); the outage
//! tests start a redis-server of their own on a free port, to kill and restart it.
//! Without `SMTP_THROTTLE_REDIS` the tests say SKIPPED and pass.
#![cfg(feature = "redis")]

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::Clock;
use parking_lot::Mutex;
use smtp_throttle::limit::{
    Adaptive, Connections, LimitKind, LimitScope, Limits, Rate, ScopeLimits, SiteLimits,
};
use smtp_throttle::retry::RetryPolicy;
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::shared::{Fallback, RedisLimits};
use smtp_throttle::throttle::{sender_fn, Outcome, Throttle};
use smtp_throttle::{classify, Reply};

const TIMEOUT: Duration = Duration::from_millis(300);

/// The test server's URL, or `None` after saying SKIPPED (the test then passes).
fn url() -> Option<String> {
    let url = std::env::var("SMTP_THROTTLE_REDIS")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("SKIPPED: set SMTP_THROTTLE_REDIS=redis://127.0.0.1:6390/");
    }
    url
}

fn route() -> Route {
    Route::new(
        "192.0.2.10".parse::<IpAddr>().unwrap(),
        Destination::new("example.org").unwrap(),
    )
}

/// A store of its own (as each process has) on `url`, under `prefix`.
fn store(url: &str, prefix: &str) -> Arc<RedisLimits> {
    Arc::new(
        RedisLimits::new(url, TIMEOUT)
            .expect("a valid URL")
            .with_prefix(prefix),
    )
}

/// Limits for example.org's pair: `sessions` at once, `per_second` messages.
fn limits(
    store: Arc<RedisLimits>,
    sessions: u32,
    per_second: u32,
) -> smtp_throttle::limit::LimitsBuilder<governor::clock::DefaultClock> {
    Limits::builder()
        .without_presets()
        .site_default(SiteLimits {
            pair: ScopeLimits::sessions(sessions).with_rate(Rate::per_second(per_second).unwrap()),
            deliveries_per_session: Some(1000),
            ..SiteLimits::default()
        })
        // These tests send a session per message as fast as the shared limits allow:
        // the local connection rate is not what they measure, nor slow start.
        .connections(Connections {
            rate: None,
            ..Connections::default()
        })
        .adaptive(Adaptive {
            initial_sessions: None,
            ..Adaptive::default()
        })
        .shared(store)
}

#[test]
fn independent_limits_share_one_rate_and_one_session_cap() {
    let Some(url) = url() else { return };
    let prefix = format!("test-fleet-{}", std::process::id());
    // Three "machines", two sending threads each, sharing 2 sessions and 50/s.
    let machines: Vec<Limits> = (0..3)
        .map(|_| limits(store(&url, &prefix), 2, 50).build().unwrap())
        .collect();
    let (open, most, sent) = (AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0));
    let started = Instant::now();
    let run_for = Duration::from_millis(1500);
    std::thread::scope(|s| {
        for limits in &machines {
            for _ in 0..2 {
                let (open, most, sent) = (&open, &most, &sent);
                s.spawn(move || {
                    while started.elapsed() < run_for {
                        let Ok(mut permit) = limits.try_acquire(&route()) else {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        };
                        let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now_open, Ordering::SeqCst);
                        for _ in 0..5 {
                            match permit.try_message() {
                                Ok(()) => {
                                    sent.fetch_add(1, Ordering::SeqCst);
                                }
                                Err(wait) => {
                                    assert!(
                                        matches!(wait.kind(), LimitKind::Rate),
                                        "unexpected {wait:?}"
                                    );
                                    std::thread::sleep(Duration::from_millis(5));
                                }
                            }
                        }
                        open.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                });
            }
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let sent = f64::from(sent.load(Ordering::SeqCst));
    eprintln!(
        "fleet: {sent} messages in {elapsed:.3} s ({:.1}/s of 50/s), at most {} of 2 sessions",
        sent / elapsed,
        most.load(Ordering::SeqCst)
    );
    // GCRA with burst 1: at most one at once, then one per 20 ms.
    assert!(sent <= 1.0 + 50.0 * elapsed, "{sent} in {elapsed:.3} s");
    // And the fleet does use its quota: sharing must not starve it.
    assert!(
        sent >= 0.6 * 50.0 * elapsed,
        "only {sent} in {elapsed:.3} s"
    );
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "{} sessions",
        most.load(Ordering::SeqCst)
    );
    for limits in &machines {
        let status = limits.shared_status().expect("a shared store");
        assert!(status.connected, "{status:?}");
        assert_eq!(status.failures, 0);
        assert_eq!(limits.in_flight(&route()), 0);
    }
    let check = store(&url, &prefix);
    assert_eq!(
        check.leases("pair:192.0.2.10|example.org").unwrap(),
        0,
        "every lease given back"
    );
}

/// A Gmail 421 4.7.28: rate_limited, no retry hint.
fn objection() -> smtp_throttle::Classification {
    let reply = Reply::parse(
        "421 4.7.28 Gmail has detected an unusual rate of unsolicited mail. Please try again later. - gsmtp",
    )
    .unwrap();
    classify(&reply)
}

#[test]
fn an_objection_heard_by_one_process_slows_the_whole_fleet_once() {
    let Some(url) = url() else { return };
    let prefix = format!("test-adapt-{}", std::process::id());
    let adaptive = Adaptive {
        rate_limited_pause: Duration::from_millis(300),
        initial_sessions: None,
        ..Adaptive::default()
    };
    let a = limits(store(&url, &prefix), 5, 100)
        .adaptive(adaptive)
        .build()
        .unwrap();
    let b = limits(store(&url, &prefix), 5, 100)
        .adaptive(adaptive)
        .build()
        .unwrap();
    assert_eq!(objection().category.as_str(), "rate_limited");

    a.feedback(&route(), &objection());
    assert_eq!(a.pair_limits(&route()).0, Some(Duration::from_millis(20)));
    // B never heard the receiver, yet its route is suspended…
    let wait = b.try_acquire(&route()).unwrap_err();
    assert_eq!(
        (wait.kind(), wait.scope()),
        (LimitKind::Suspended, LimitScope::Pair)
    );
    std::thread::sleep(Duration::from_millis(350));
    // … and once the pause is over, its next message follows the halved rate.
    let mut permit = b.try_acquire(&route()).expect("the pause is over");
    permit.try_message().expect("the first message");
    assert_eq!(b.pair_limits(&route()).0, Some(Duration::from_millis(20)));
    drop(permit);

    // Deliveries after the pause (the receiver took mail again), then both hear the
    // next objection at once: the fleet halves once, not twice.
    let delivered = classify(&Reply::parse("250 2.0.0 OK").unwrap());
    a.feedback(&route(), &delivered);
    b.feedback(&route(), &delivered);
    a.feedback(&route(), &objection());
    b.feedback(&route(), &objection());
    assert_eq!(a.pair_limits(&route()).0, Some(Duration::from_millis(40)));
    assert_eq!(b.pair_limits(&route()).0, Some(Duration::from_millis(40)));

    // A suspension set by hand is shared too.
    b.suspend(
        &route(),
        LimitScope::Site,
        b.clock().now() + governor::nanos::Nanos::from(Duration::from_secs(60)),
    );
    std::thread::sleep(Duration::from_millis(350));
    let wait = a.try_acquire(&route()).unwrap_err();
    assert_eq!(
        (wait.kind(), wait.scope()),
        (LimitKind::Suspended, LimitScope::Site)
    );
}

#[test]
fn too_many_connections_counts_the_whole_fleets_sessions() {
    let Some(url) = url() else { return };
    let prefix = format!("test-conns-{}", std::process::id());
    let a = limits(store(&url, &prefix), 5, 100).build().unwrap();
    let b = limits(store(&url, &prefix), 5, 100).build().unwrap();
    // A holds 4 sessions; B, with none of its own, hears "too many connections".
    let held: Vec<_> = (0..4).map(|_| a.try_acquire(&route()).unwrap()).collect();
    let reply =
        Reply::parse("421 4.7.0 mx.example.org Error: too many connections from 192.0.2.10")
            .unwrap();
    let refusal = classify(&reply);
    assert_eq!(refusal.category.as_str(), "too_many_connections");
    b.feedback(&route(), &refusal);
    // The fleet had 4 open: the cap becomes 3 (not 1, as B's own count would say)…
    assert_eq!(b.pair_limits(&route()).1, Some(3));
    // … for A too, once it asks the store again.
    drop(held);
    let mut permit = a.try_acquire(&route()).unwrap();
    permit.try_message().unwrap();
    assert_eq!(a.pair_limits(&route()).1, Some(3));
}

#[test]
fn a_crashed_holder_keeps_its_slot_no_longer_than_its_lease() {
    let Some(url) = url() else { return };
    let prefix = format!("test-crash-{}", std::process::id());
    let lease = Duration::from_millis(300);
    let crashed = limits(store(&url, &prefix), 1, 100)
        .shared_lease(lease)
        .build()
        .unwrap();
    let other = limits(store(&url, &prefix), 1, 100)
        .shared_lease(lease)
        .build()
        .unwrap();
    // The holder "crashes": its permit is never dropped, its lease never given back.
    std::mem::forget(crashed.try_acquire(&route()).expect("the only slot"));
    let wait = other.try_acquire(&route()).unwrap_err();
    assert_eq!(
        (wait.kind(), wait.scope()),
        (LimitKind::Sessions, LimitScope::Pair)
    );
    std::thread::sleep(lease + Duration::from_millis(100));
    let permit = other.try_acquire(&route()).expect("the lease expired");
    drop(permit);
}

/// A redis-server of the test's own, on a free loopback port, to stop and restart.
struct OwnServer {
    port: u16,
    child: Option<Child>,
}

impl OwnServer {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self { port, child: None };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's package) on PATH");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let ping = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing.
    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(status.success());
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.signal("-CONT");
        self.stop();
    }
}

/// Sends `count` messages through `throttle`, calling `during(delivered)` between
/// attempts; a message refused with a `Wait` goes back in the queue. Returns how
/// often each message was delivered and the waits seen, by kind.
fn run(
    throttle: &Throttle,
    count: u32,
    mut during: impl FnMut(usize),
) -> (HashMap<u32, u32>, HashMap<LimitKind, u32>) {
    let delivered = Mutex::new(HashMap::new());
    let sender = sender_fn(|_route: &Route, id: &u32| {
        *delivered.lock().entry(*id).or_insert(0) += 1;
        Ok(Reply::parse("250 2.0.0 Ok: queued").unwrap())
    });
    let mut queue: VecDeque<u32> = (0..count).collect();
    let mut waits = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(id) = queue.pop_front() {
        assert!(
            Instant::now() < deadline,
            "{} messages still queued",
            queue.len() + 1
        );
        let mut history = throttle.history();
        match throttle.send(
            &sender,
            &route(),
            &id,
            &mut history,
            Duration::from_millis(50),
        ) {
            Ok(Outcome::Delivered { .. }) => {}
            Ok(other) => panic!("message {id}: {other:?}"),
            Err(wait) => {
                *waits.entry(wait.kind()).or_insert(0) += 1;
                queue.push_front(id);
            }
        }
        let done = delivered.lock().len();
        during(done);
    }
    (delivered.into_inner(), waits)
}

fn fleet_throttle(url: &str, fallback: Fallback) -> Throttle {
    let limits = limits(store(url, "outage"), 5, 1000)
        .shared_fallback(fallback)
        .shared_retry_after(Duration::from_millis(200))
        .build()
        .unwrap();
    Throttle::new(limits, RetryPolicy::default())
}

#[test]
fn redis_stopped_mid_run_falls_back_to_local_limits_and_loses_nothing() {
    if url().is_none() {
        return;
    }
    let mut server = OwnServer::start();
    let throttle = fleet_throttle(&server.url(), Fallback::Local);
    let mut stopped = false;
    let (delivered, _) = run(&throttle, 300, |done| {
        if done == 100 && !stopped {
            server.stop();
            stopped = true;
        }
    });
    assert_eq!(delivered.len(), 300, "every message delivered");
    assert!(delivered.values().all(|&n| n == 1), "none twice");
    let status = throttle.stats(&route()).shared.expect("a shared store");
    assert!(!status.connected, "{status:?}");
    assert!(
        status.failures >= 1 && status.fallback_decisions > 0,
        "{status:?}"
    );
    assert!(status.last_error.is_some_and(|e| e.contains("unavailable")));
}

#[test]
fn redis_stopped_with_refuse_holds_mail_until_it_is_back() {
    if url().is_none() {
        return;
    }
    let mut server = OwnServer::start();
    let throttle = fleet_throttle(&server.url(), Fallback::Refuse);
    let refused = AtomicU64::new(0);
    let mut phase = 0;
    let (delivered, waits) = run(&throttle, 200, |done| match phase {
        0 if done == 50 => {
            server.stop();
            phase = 1;
        }
        1 => {
            // While Redis is away nothing is sent: every attempt is refused.
            assert_eq!(done, 50, "sent while Redis was away");
            if refused.fetch_add(1, Ordering::SeqCst) == 20 {
                server.restart();
                phase = 2;
            }
        }
        _ => {}
    });
    assert_eq!(
        delivered.len(),
        200,
        "every message delivered once Redis was back"
    );
    assert!(delivered.values().all(|&n| n == 1), "none twice");
    assert!(
        waits
            .get(&LimitKind::SharedUnavailable)
            .copied()
            .unwrap_or(0)
            >= 20,
        "{waits:?}"
    );
    let status = throttle.stats(&route()).shared.expect("a shared store");
    assert!(status.connected, "reconnected by itself: {status:?}");
    assert!(status.fallback_decisions >= 20, "{status:?}");
}

#[test]
fn a_stalled_redis_times_out_into_the_fallback() {
    if url().is_none() {
        return;
    }
    let server = OwnServer::start();
    let throttle = fleet_throttle(&server.url(), Fallback::Local);
    let (delivered, _) = run(&throttle, 20, |_| {});
    assert_eq!(delivered.len(), 20);
    server.signal("-STOP");
    let (delivered, _) = run(&throttle, 20, |_| {});
    assert_eq!(
        delivered.len(),
        20,
        "sent on local limits while Redis stalled"
    );
    let status = throttle.stats(&route()).shared.expect("a shared store");
    assert!(!status.connected, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{status:?}"
    );
    server.signal("-CONT");
}

#[test]
fn a_dead_redis_is_probed_by_one_caller_per_retry_period() {
    if url().is_none() {
        return;
    }
    let server = OwnServer::start();
    let limits = limits(store(&server.url(), "probe"), 50, 1000)
        .shared_retry_after(Duration::from_millis(300))
        .build()
        .unwrap();
    drop(limits.try_acquire(&route()).expect("Redis is up"));
    server.signal("-STOP");
    drop(limits.try_acquire(&route()).expect("the local fallback"));
    let failures = |l: &Limits| l.shared_status().expect("a shared store").failures;
    assert_eq!(failures(&limits), 1, "the first call timed out");
    std::thread::sleep(Duration::from_millis(350));
    // Four threads decide at once when the store is due for a retry: one of them
    // probes it (and waits for the timeout), the others fall back at once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    drop(limits.try_acquire(&route()).expect("the local fallback"));
                }
            });
        }
    });
    assert_eq!(failures(&limits), 2, "{:?}", limits.shared_status());
    server.signal("-CONT");
}

#[test]
fn garbage_in_the_store_gives_waits_or_the_fallback_never_a_panic() {
    let Some(url) = url() else { return };
    let prefix = format!("test-garbage-{}", std::process::id());
    let limits = limits(store(&url, &prefix), 5, 100).build().unwrap();
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut set = |key: &str, value: &str| {
        redis::cmd("SET")
            .arg(format!("{prefix}:{key}"))
            .arg(value)
            .exec(&mut raw)
            .unwrap();
    };
    let pair = "pair:192.0.2.10|example.org";
    // Not a number where a rate's state should be: the script fails, the decision
    // falls back to local limits.
    set(&format!("rate:{pair}:10000:1"), "not a number");
    let mut permit = limits.try_acquire(&route()).unwrap();
    permit.try_message().expect("the local fallback");
    assert!(limits.shared_status().unwrap().failures >= 1);
    drop(permit);
    std::thread::sleep(Duration::from_millis(1100)); // past shared_retry_after
                                                     // A rate state a month ahead (µs of the server's clock): a wait, capped at a week.
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs(); // the server runs on this machine's clock
    let month_ahead = (seconds + 30 * 24 * 3600) * 1_000_000;
    set(&format!("rate:{pair}:10000:1"), &month_ahead.to_string());
    let mut permit = limits.try_acquire(&route()).unwrap();
    let wait = permit.try_message().unwrap_err();
    assert_eq!(wait.kind(), LimitKind::Rate);
    let time = wait.wait_time_from(limits.clock().now());
    assert!(time <= Duration::from_secs(7 * 24 * 3600), "{time:?}");
    drop(permit);
    // Adapted state this version did not write: ignored, the local pair stays.
    set(&format!("rate:{pair}:10000:1"), "0");
    set(&format!("adapted:{pair}"), "-5 x NaN 0");
    std::thread::sleep(Duration::from_millis(20)); // the local bucket's next cell
    let mut permit = limits.try_acquire(&route()).unwrap();
    permit.try_message().expect("within the rate");
    assert_eq!(
        limits.pair_limits(&route()),
        (Some(Duration::from_millis(10)), Some(5))
    );
    // A wrong type at the sessions key: the lease script fails, local fallback.
    drop(permit);
    set(&format!("sessions:{pair}"), "a string, not a sorted set");
    std::thread::sleep(Duration::from_millis(1100));
    drop(limits.try_acquire(&route()).expect("the local fallback"));
}
