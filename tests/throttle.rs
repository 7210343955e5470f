//! The Throttle around a fake receiver, on a fake clock.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use governor::nanos::Nanos;
use parking_lot::Mutex;
use smtp_throttle::limit::{Alert, LimitKind, Limits, Rate, ScopeLimits, SiteLimits};
use smtp_throttle::retry::{RetryPolicy, RetryQueue};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{
    sender_fn, Outcome, Sender, SessionError, Throttle, Throttled, TransportError,
};
use smtp_throttle::{Category, Reply};

fn route() -> Route {
    Route::new(
        "192.0.2.7".parse::<IpAddr>().unwrap(),
        Destination::new("example.org").unwrap(),
    )
}

fn throttle(
    clock: &FakeRelativeClock,
    sessions: u32,
    per_minute: u32,
) -> Throttle<FakeRelativeClock> {
    let limits = Limits::builder_with_clock(clock.clone())
        .site_default(SiteLimits {
            pair: ScopeLimits::sessions(sessions).with_rate(Rate::per_minute(per_minute).unwrap()),
            deliveries_per_session: Some(10),
            ..SiteLimits::default()
        })
        .build()
        .unwrap();
    Throttle::new(limits, RetryPolicy::builder().seed(5).build().unwrap())
}

fn reply(wire: &str) -> Reply {
    Reply::parse(wire).unwrap()
}

/// A receiver that greylists each message's first delivery attempt, refuses one
/// attempt in ten with a 421, and records what it accepted.
struct Receiver {
    seen: Mutex<HashSet<u32>>,
    accepted: Mutex<HashMap<u32, u32>>,
    calls: AtomicU32,
}

impl Sender<u32> for Receiver {
    type Session = ();
    fn open(&self, _route: &Route) -> Result<(), TransportError> {
        Ok(())
    }
    fn send(&self, _session: &mut (), id: &u32) -> Result<Reply, TransportError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.seen.lock().insert(*id) {
            return Ok(reply(
                "450 4.2.0 <u@example.org>: Recipient address rejected: Greylisted",
            ));
        }
        if call % 10 == 7 {
            return Ok(reply("421 4.7.0 Try again later, closing connection."));
        }
        if call % 17 == 3 {
            return Err(TransportError::ConnectionLost("reset by peer".into()));
        }
        *self.accepted.lock().entry(*id).or_default() += 1;
        Ok(reply("250 2.0.0 Ok: queued"))
    }
}

#[test]
fn every_message_ends_exactly_once_with_threads() {
    const MESSAGES: u32 = 300;
    let clock = FakeRelativeClock::default();
    let throttle = throttle(&clock, 3, 600);
    let receiver = Receiver {
        seen: Mutex::new(HashSet::new()),
        accepted: Mutex::new(HashMap::new()),
        calls: AtomicU32::new(0),
    };
    let queue = Mutex::new(RetryQueue::new());
    for id in 0..MESSAGES {
        queue.lock().push((id, throttle.history()), throttle.now());
    }
    let delivered = Mutex::new(Vec::new());
    let bounced = Mutex::new(Vec::new());
    let r = route();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let now = throttle.now();
                let next = queue.lock().pop_next(now);
                let Some((id, mut history)) = next else {
                    let due = queue.lock().next_due();
                    match due {
                        Some(due) if due > now => clock.advance(throttle.until(due)),
                        Some(_) => {}
                        None if delivered.lock().len() + bounced.lock().len()
                            == MESSAGES as usize =>
                        {
                            return
                        }
                        None => std::thread::yield_now(),
                    }
                    continue;
                };
                match throttle.try_send(&receiver, &r, &id, &mut history) {
                    Ok(Outcome::Delivered { .. }) => delivered.lock().push(id),
                    Ok(Outcome::Bounced { .. }) => bounced.lock().push(id),
                    Ok(Outcome::Deferred { retry_at, .. }) => {
                        queue.lock().push((id, history), retry_at)
                    }
                    Ok(other) => panic!("{other:?}"),
                    Err(wait) => {
                        let at = wait.until().max(now + Duration::from_millis(1));
                        queue.lock().push((id, history), at);
                    }
                }
            });
        }
    });
    let delivered = delivered.into_inner();
    let unique: HashSet<_> = delivered.iter().copied().collect();
    assert_eq!(unique.len(), delivered.len(), "a message delivered twice");
    assert!(bounced.lock().is_empty());
    assert_eq!(delivered.len(), MESSAGES as usize, "none lost");
    let accepted = receiver.accepted.into_inner();
    assert_eq!(accepted.len(), MESSAGES as usize);
    assert!(
        accepted.values().all(|&n| n == 1),
        "the receiver accepted a message twice"
    );
    assert!(queue.lock().is_empty());
    let totals = throttle.totals();
    assert_eq!(totals.delivered, u64::from(MESSAGES));
    assert!(totals.deferred[&Category::Greylisted] >= u64::from(MESSAGES));
}

#[test]
fn a_panicking_sender_gives_the_slot_back() {
    let clock = FakeRelativeClock::default();
    let throttle = throttle(&clock, 1, 6000);
    let panicking = sender_fn(|_route, _m: &str| -> Result<Reply, TransportError> {
        panic!("the sender blew up")
    });
    let r = route();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut h = throttle.history();
        let _ = throttle.try_send(&panicking, &r, "x", &mut h);
    }));
    assert!(result.is_err());
    assert_eq!(throttle.limits().in_flight(&r), 0);
    let ok = sender_fn(|_route, _m: &str| Ok(reply("250 2.0.0 Ok")));
    clock.advance(Duration::from_secs(1));
    let mut h = throttle.history();
    assert!(matches!(
        throttle.try_send(&ok, &r, "x", &mut h),
        Ok(Outcome::Delivered { .. })
    ));
}

#[test]
fn a_receiver_that_always_says_421_is_left_alone() {
    let clock = FakeRelativeClock::default();
    let throttle = throttle(&clock, 2, 600);
    let calls = AtomicU32::new(0);
    let refusing = sender_fn(|_route, _m: &u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(reply("421 4.7.0 Try again later, closing connection."))
    });
    let r = route();
    let mut queue = RetryQueue::new();
    for id in 0..50u32 {
        queue.push((id, throttle.history()), throttle.now());
    }
    // Two simulated hours, polled every second.
    for _ in 0..7200 {
        clock.advance(Duration::from_secs(1));
        let now = throttle.now();
        let due: Vec<_> = queue.pop_due(now).collect();
        for (id, mut history) in due {
            match throttle.try_send(&refusing, &r, &id, &mut history) {
                Ok(Outcome::Deferred { retry_at, .. }) => queue.push((id, history), retry_at),
                Ok(other) => panic!("{other:?}"),
                Err(wait) => queue.push(
                    (id, history),
                    wait.until().max(now + Duration::from_secs(1)),
                ),
            }
        }
    }
    let calls = calls.load(Ordering::SeqCst);
    // Pauses grow by half while nothing gets through (30 s … 5 minutes), and the
    // escalation suspends the pair as long as the refusals had lasted: about one
    // attempt every 5 minutes, not a hot loop.
    assert!(calls <= 26, "{calls} attempts in two hours: a hot loop");
    let alerts = throttle.drain_alerts();
    assert!(
        alerts
            .iter()
            .any(|a| matches!(a, Alert::RouteReputation { .. })),
        "{alerts:?} after {calls} attempts"
    );
    assert!(throttle.stats(&r).limits.unwrap().suspended_until.is_some());
    assert_eq!(
        queue.len(),
        50,
        "every message still queued with a retry time"
    );
}

#[test]
fn a_transport_error_is_a_deferral() {
    let clock = FakeRelativeClock::default();
    let throttle = throttle(&clock, 2, 600);
    let failing =
        sender_fn(|_route, _m: &str| Err(TransportError::Refused("connection refused".into())));
    let mut h = throttle.history();
    match throttle.try_send(&failing, &route(), "x", &mut h) {
        Ok(Outcome::Deferred {
            classification,
            retry_at,
            retry_after,
        }) => {
            assert_eq!(classification.category, Category::Network);
            assert!(retry_at > throttle.now());
            assert_eq!(throttle.until(retry_at), retry_after);
        }
        other => panic!("{other:?}"),
    }
    let tls = sender_fn(|_route, _m: &str| Err(TransportError::Tls("handshake failed".into())));
    clock.advance(Duration::from_secs(1));
    let out = throttle.try_send(&tls, &route(), "x", &mut h).unwrap();
    assert_eq!(out.classification().category, Category::TlsRequired);
}

#[test]
fn a_session_carries_messages_until_full_or_421() {
    let clock = FakeRelativeClock::default();
    let throttle = throttle(&clock, 1, 60_000);
    let ok = sender_fn(|_route, _m: &str| Ok(reply("250 2.0.0 Ok")));
    let wrapped = Throttled::new(ok, throttle.clone());
    let r = route();
    let mut session = wrapped.session(&r, Duration::from_secs(1)).unwrap();
    let mut sent = 0;
    loop {
        clock.advance(Duration::from_millis(10));
        let mut h = throttle.history();
        match session.try_send("m", &mut h) {
            Ok(Outcome::Delivered { .. }) => sent += 1,
            Err(w) => {
                assert_eq!(w.kind(), LimitKind::SessionFull);
                break;
            }
            Ok(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, 10, "the site's messages per session");
    assert!(session.is_ended());
    drop(session);

    let refusing = sender_fn(|_route, _m: &str| Ok(reply("421 4.3.2 Service shutting down")));
    let mut session = throttle.try_session(&refusing, &r).unwrap();
    let mut h = throttle.history();
    assert!(matches!(
        session.try_send("m", &mut h),
        Ok(Outcome::Deferred { .. })
    ));
    assert_eq!(
        session.try_send("m", &mut h).unwrap_err().kind(),
        LimitKind::SessionFull
    );
    drop(session);

    let mut wrapped = wrapped;
    let _ = wrapped.get_mut();
    let _ = wrapped.get_ref();
    let _sender = wrapped.into_inner();
    let stats = throttle.stats(&r);
    assert_eq!(stats.counts.delivered, 10);
    assert_eq!(stats.counts.deferred_total(), 1);
}

#[test]
fn throttle_and_wrapped_senders_are_send_and_sync() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Throttle>();
    shareable::<Throttle<FakeRelativeClock>>();
    shareable::<Limits>();
    type FnSender =
        smtp_throttle::throttle::SendFn<fn(&Route, &str) -> Result<Reply, TransportError>>;
    shareable::<Throttled<FnSender>>();
}

/// Counts connections opened and messages sent on them.
#[derive(Default)]
struct Connections {
    opened: AtomicU32,
    sent: AtomicU32,
}

impl Sender<str> for Connections {
    type Session = ();
    fn open(&self, _route: &Route) -> Result<(), TransportError> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn send(&self, _session: &mut (), _message: &str) -> Result<Reply, TransportError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(reply("250 2.0.0 OK"))
    }
}

#[test]
fn no_connection_is_opened_that_cannot_send() {
    // A queue that retries at each `Wait::until`, against a slow route: 6 a minute.
    let clock = FakeRelativeClock::default();
    let throttle = throttle(&clock, 2, 6);
    let sender = Connections::default();
    let mut delivered = 0;
    for _ in 0..2_000 {
        let mut history = throttle.history();
        match throttle.try_send(&sender, &route(), "hello", &mut history) {
            Ok(Outcome::Delivered { .. }) => delivered += 1,
            Ok(other) => panic!("{other:?}"),
            Err(wait) => clock.advance(wait.wait_time_from(throttle.now())),
        }
    }
    assert!(delivered >= 900, "{delivered}");
    // Every connection opened carried its message; none was opened only to wait.
    assert_eq!(sender.opened.load(Ordering::SeqCst), delivered);
    assert_eq!(sender.sent.load(Ordering::SeqCst), delivered);
    // Sessions too: opening one charges its first message first, so once the rate is
    // spent no session opens.
    let mut sessions = 0;
    let wait = loop {
        match throttle.try_session(&sender, &route()) {
            Ok(session) => {
                sessions += 1;
                drop(session);
            }
            Err(SessionError::NotNow(wait)) => break wait,
            Err(error) => panic!("{error}"),
        }
    };
    assert_eq!(wait.kind(), LimitKind::Rate);
    assert!(sessions <= 1, "{sessions} sessions opened on a spent rate");
    assert_eq!(sender.opened.load(Ordering::SeqCst), delivered + sessions);
}

#[test]
fn a_session_that_cannot_send_soon_is_closed_not_held() {
    use smtp_throttle::limit::LimitScope;
    // 6 a minute: the next message is 10 s away, past the 5 s a session may idle.
    let clock = FakeRelativeClock::default();
    let throttle = throttle(&clock, 2, 6);
    let sender = Connections::default();
    let mut session = throttle
        .session(&sender, &route(), Duration::from_secs(1))
        .unwrap();
    let mut history = throttle.history();
    assert!(matches!(
        session.try_send("one", &mut history),
        Ok(Outcome::Delivered { .. })
    ));
    let wait = session
        .send("two", &mut history, Duration::from_secs(60))
        .unwrap_err();
    assert_eq!(wait.kind(), LimitKind::Rate);
    assert!(session.is_ended(), "closed rather than held 10 s idle");
    drop(session);
    // A suspension ends an open session before it sends, also its first message.
    clock.advance(Duration::from_secs(10));
    let mut session = throttle.try_session(&sender, &route()).unwrap();
    let until = clock.now() + Nanos::from(Duration::from_secs(60));
    throttle.limits().suspend(&route(), LimitScope::Site, until);
    let wait = session.try_send("three", &mut history).unwrap_err();
    assert_eq!(wait.kind(), LimitKind::Suspended);
    assert!(session.is_ended());
    assert_eq!(sender.sent.load(Ordering::SeqCst), 1);
}

#[test]
fn now_and_until_read_the_limits_clock() {
    let clock = FakeRelativeClock::default();
    let throttle = throttle(&clock, 1, 60);
    let start = throttle.now();
    let later = start + Duration::from_secs(90);
    assert_eq!(throttle.until(later), Duration::from_secs(90));
    clock.advance(Duration::from_secs(60));
    assert_eq!(throttle.until(later), Duration::from_secs(30));
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        throttle.until(later),
        Duration::ZERO,
        "a time past is no wait"
    );
    assert_eq!(
        throttle.history().first_attempt(),
        start + Duration::from_secs(120)
    );
}
