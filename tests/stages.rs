//! What a reply does to a route depends on the command it answered as much as on its
//! category (Postfix's rule): each combination, through `Limits::feedback` and
//! `Throttle::record_open`, on a fake clock.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock, Reference};
use smtp_throttle::limit::{LimitKind, Limits, PairSnapshot};
use smtp_throttle::reply::Command;
use smtp_throttle::retry::RetryPolicy;
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{Throttle, TransportError};
use smtp_throttle::{classify, Classification, Reply};

const GMAIL_421: &str = "421 4.7.0 Try again later, closing connection.";
const TOO_MUCH_MAIL: &str = "450 4.7.1 Error: too much mail from 192.0.2.7";
const CONNECTION_CAP: &str = "432 4.3.2 Concurrent connections limit exceeded";
const RECIPIENT_RATE: &str = "450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later time.";
const TSS04: &str = "421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1";

fn route() -> Route {
    Route::new(
        "192.0.2.7".parse::<IpAddr>().unwrap(),
        Destination::new("example.org").unwrap(),
    )
}

fn reply(wire: &str, command: Option<Command>) -> Classification {
    let reply = Reply::parse(wire).unwrap();
    classify(&match command {
        Some(command) => reply.with_command(command),
        None => reply,
    })
}

/// Limits with 3 sessions of the route held while `reply` comes in; the pair after it,
/// and what a new session is told.
fn after(reply: &Classification) -> (PairSnapshot<governor::nanos::Nanos>, Option<LimitKind>) {
    let clock = FakeRelativeClock::default();
    // No slow start: three sessions are open when the reply comes.
    let limits = Limits::builder_with_clock(clock.clone())
        .adaptive(smtp_throttle::limit::Adaptive {
            initial_sessions: None,
            ..Default::default()
        })
        .build()
        .unwrap();
    let held: Vec<_> = (0..3)
        .map(|_| limits.try_acquire(&route()).unwrap())
        .collect();
    limits.feedback(&route(), reply);
    drop(held);
    let snapshot = limits.snapshot(&route()).unwrap();
    let refused = limits.try_acquire(&route()).err().map(|wait| wait.kind());
    (snapshot, refused)
}

/// The default pair: 100 messages a second, 10 sessions.
const FULL_RATE: Option<Duration> = Some(Duration::from_millis(10));

#[test]
fn a_refused_greeting_cuts_concurrency_and_delays_the_next_connection() {
    for wire in [GMAIL_421, CONNECTION_CAP] {
        let (pair, refused) = after(&reply(wire, Some(Command::Greeting)));
        assert_eq!(pair.sessions, Some(2), "{wire}: below the 3 in flight");
        assert_eq!(
            pair.interval, FULL_RATE,
            "{wire}: not a verdict on the rate"
        );
        assert_eq!(pair.suspended_until, None, "{wire}");
        assert_eq!(refused, Some(LimitKind::Connections), "{wire}: backoff");
    }
}

#[test]
fn reputation_at_the_greeting_still_slows_and_pauses() {
    let (pair, refused) = after(&reply(TSS04, Some(Command::Greeting)));
    assert_eq!(pair.sessions, Some(2));
    assert_eq!(pair.interval, Some(Duration::from_millis(20)), "halved");
    assert!(pair.suspended_until.is_some());
    assert_eq!(refused, Some(LimitKind::Suspended));
}

#[test]
fn a_421_after_the_message_cuts_concurrency_and_moves_the_rate() {
    let (pair, refused) = after(&reply(GMAIL_421, Some(Command::DataEnd)));
    assert_eq!(pair.sessions, Some(2), "421 closes the session");
    assert_eq!(pair.interval, Some(Duration::from_millis(20)), "halved");
    assert!(pair.suspended_until.is_some());
    assert_eq!(refused, Some(LimitKind::Suspended));
}

#[test]
fn a_rate_objection_to_mail_moves_the_rate_only() {
    for command in [Some(Command::MailFrom), Some(Command::Data), None] {
        let (pair, refused) = after(&reply(TOO_MUCH_MAIL, command));
        assert_eq!(
            pair.sessions,
            Some(10),
            "{command:?}: concurrency unchanged"
        );
        assert_eq!(
            pair.interval,
            Some(Duration::from_millis(20)),
            "{command:?}"
        );
        assert_eq!(refused, Some(LimitKind::Suspended), "{command:?}");
    }
}

#[test]
fn a_4xx_to_rcpt_defers_that_recipient_only() {
    for wire in [
        TOO_MUCH_MAIL,
        RECIPIENT_RATE,
        GMAIL_421.replace("421", "451").as_str(),
    ] {
        let (pair, refused) = after(&reply(wire, Some(Command::RcptTo)));
        assert_eq!(pair.sessions, Some(10), "{wire}");
        assert_eq!(pair.interval, FULL_RATE, "{wire}");
        assert_eq!(pair.suspended_until, None, "{wire}");
        assert_eq!(refused, None, "{wire}");
    }
}

#[test]
fn too_many_connections_without_a_stage_cuts_concurrency_without_backoff() {
    let (pair, refused) = after(&reply(CONNECTION_CAP, None));
    assert_eq!(pair.sessions, Some(2));
    assert_eq!(pair.interval, FULL_RATE);
    assert_eq!(refused, None);
}

#[test]
fn failed_connections_back_off_doubling_until_a_message_goes_through() {
    let clock = FakeRelativeClock::default();
    let limits = Limits::builder_with_clock(clock.clone()).build().unwrap();
    let throttle = Throttle::new(
        limits.clone(),
        RetryPolicy::builder().seed(1).build().unwrap(),
    );
    let mut delays = Vec::new();
    for _ in 0..10 {
        drop(limits.try_acquire(&route()).unwrap());
        let mut history = throttle.history();
        throttle.record_open(
            &route(),
            TransportError::Refused("connection refused".into()),
            &mut history,
        );
        let wait = limits.try_acquire(&route()).unwrap_err();
        assert_eq!(wait.kind(), LimitKind::Connections);
        let delay: Duration = wait.wait_time_from(clock.now());
        delays.push(delay.as_secs());
        clock.advance(delay);
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
    // A delivered message ends the backoff.
    let mut history = throttle.history();
    throttle.record(
        &route(),
        Ok(Reply::parse("250 2.0.0 Ok").unwrap()),
        &mut history,
    );
    drop(limits.try_acquire(&route()).unwrap());
    throttle.record_open(
        &route(),
        TransportError::Refused("again".into()),
        &mut history,
    );
    let wait = limits.try_acquire(&route()).unwrap_err();
    assert_eq!(wait.wait_time_from(clock.now()), Duration::from_secs(1));
}

#[test]
fn connections_open_at_their_own_rate() {
    // Default: 2 a second, 10 at once, whatever the session cap.
    let clock = FakeRelativeClock::default();
    let limits = Limits::builder_with_clock(clock.clone()).build().unwrap();
    let start = clock.now();
    let mut opened = 0u64;
    for _ in 0..600 {
        // A connection counts once its first message is charged (a permit dropped
        // before gives its connection back).
        match limits.try_acquire(&route()).map(|mut p| p.try_message()) {
            Ok(Ok(())) => opened += 1,
            Ok(Err(_)) => clock.advance(Duration::from_millis(10)),
            Err(wait) => {
                assert_eq!(wait.kind(), LimitKind::Connections);
                clock.advance(Duration::from_millis(100));
            }
        }
    }
    // 10 at once, then two a second.
    let elapsed = Duration::from(clock.now().duration_since(start)).as_secs_f64();
    let most = 10.0 + 2.0 * elapsed;
    assert!(
        opened as f64 <= most + 1.0 && opened as f64 >= most - 2.0,
        "{opened} in {elapsed} s"
    );
    // Permits that carried no message opened no connection: they give it back.
    for _ in 0..100 {
        drop(limits.try_acquire(&route()).unwrap());
    }
}
