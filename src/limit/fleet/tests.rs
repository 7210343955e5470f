//! The fleet logic on an in-memory store: two `Limits` stand for two processes.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::FakeRelativeClock;

use super::memory::MemoryStore;
use super::Fallback;
use crate::classify::classify;
use crate::limit::{LimitKind, LimitScope, Limits, Rate, ScopeLimits, SiteLimits};
use crate::route::{Destination, Route};
use crate::Reply;

const PAIR: &str = "pair:192.0.2.1|example.org";

fn route() -> Route {
    let ip: IpAddr = "192.0.2.1".parse().expect("an IP");
    Route::new(ip, Destination::new("example.org").expect("a domain"))
}

fn process(store: &Arc<MemoryStore>, fallback: Fallback) -> Limits<FakeRelativeClock> {
    Limits::builder_with_clock(FakeRelativeClock::default())
        .site_default(SiteLimits {
            pair: ScopeLimits::sessions(10).with_rate(Rate::per_minute(60).expect("a rate")),
            ..SiteLimits::default()
        })
        .adaptive(crate::limit::Adaptive {
            initial_sessions: None,
            ..Default::default()
        })
        .store(Arc::clone(store) as Arc<dyn super::Store>)
        .shared_fallback(fallback)
        .shared_retry_after(Duration::from_nanos(1))
        .build()
        .expect("valid settings")
}

fn reply(wire: &str) -> crate::Classification {
    classify(&Reply::parse(wire).expect("a reply"))
}

#[test]
fn a_suspension_is_the_fleets() {
    let store = Arc::new(MemoryStore::default());
    let (a, b) = (
        process(&store, Fallback::Local),
        process(&store, Fallback::Local),
    );
    let until = governor::clock::Clock::now(a.clock())
        + governor::nanos::Nanos::from(Duration::from_secs(60));
    a.suspend(&route(), LimitScope::Site, until);
    let wait = b
        .try_acquire(&route())
        .expect_err("suspended for the fleet");
    assert_eq!(
        (wait.kind(), wait.scope()),
        (LimitKind::Suspended, LimitScope::Site)
    );
    store.clock.advance(Duration::from_secs(61));
    assert!(b.try_acquire(&route()).is_ok());
}

#[test]
fn an_objection_heard_by_two_processes_slows_the_pair_once() {
    let store = Arc::new(MemoryStore::default());
    let (a, b) = (
        process(&store, Fallback::Local),
        process(&store, Fallback::Local),
    );
    let rate = reply("421 4.7.0 Our system has detected an unusual rate of unsolicited mail");
    a.feedback(&route(), &rate);
    b.feedback(&route(), &rate);
    // 60/min halved once: one message every 2 s, in both and in the store.
    for limits in [&a, &b] {
        assert_eq!(limits.pair_limits(&route()).0, Some(Duration::from_secs(2)));
    }
    let stored = store.adapted(PAIR).expect("the pair's state is stored");
    assert!(stored.starts_with("2000000 1 "), "{stored}");
}

#[test]
fn too_many_connections_cuts_below_the_fleets_sessions() {
    let store = Arc::new(MemoryStore::default());
    let (a, b) = (
        process(&store, Fallback::Local),
        process(&store, Fallback::Local),
    );
    let held: Vec<_> = (0..3)
        .map(|_| a.try_acquire(&route()).expect("a slot"))
        .collect();
    let mine: Vec<_> = (0..2)
        .map(|_| b.try_acquire(&route()).expect("a slot"))
        .collect();
    b.feedback(
        &route(),
        &reply("421 4.7.0 Too many concurrent SMTP connections"),
    );
    assert_eq!(b.pair_limits(&route()).1, Some(4));
    drop((held, mine));
    // The other process follows with its next message.
    let mut permit = a.try_acquire(&route()).expect("a slot");
    permit.try_message().expect("within the rate");
    assert_eq!(a.pair_limits(&route()).1, Some(4));
}

#[test]
fn while_the_store_is_away_decisions_fall_back() {
    let store = Arc::new(MemoryStore::default());
    let local = process(&store, Fallback::Local);
    let refuse = process(&store, Fallback::Refuse);
    store.down.store(true, Ordering::Relaxed);
    let mut permit = local.try_acquire(&route()).expect("local limits decide");
    permit.try_message().expect("local limits decide");
    let wait = refuse
        .try_acquire(&route())
        .expect_err("refuses without the store");
    assert_eq!(wait.kind(), LimitKind::SharedUnavailable);
    let status = local.shared_status().expect("a store");
    assert!(!status.connected && status.failures >= 1 && status.fallback_decisions >= 1);
    store.down.store(false, Ordering::Relaxed);
    assert!(refuse.try_acquire(&route()).is_ok(), "asks the store again");
    assert!(refuse.shared_status().expect("a store").connected);
}

#[test]
fn garbage_in_the_store_stays_within_the_pairs_bounds() {
    let store = Arc::new(MemoryStore::default());
    let a = process(&store, Fallback::Local);
    // A burst of 4 294 967 295, a rate of one per microsecond, 999 999 sessions.
    store.put_adapted(PAIR, "1 4294967295 0 999999");
    let mut permit = a.try_acquire(&route()).expect("a slot");
    permit.try_message().expect("within the rate");
    let (interval, sessions) = a.pair_limits(&route());
    assert_eq!(
        interval,
        Some(Duration::from_secs(1)),
        "no faster than 60/min"
    );
    assert_eq!(sessions, Some(10), "no more than the configured cap");
    // A stored rate slower than the floor is held at the floor (1/min).
    store.put_adapted(PAIR, "3600000000 1 0 1");
    let advance = |by| {
        a.clock().advance(by);
        store.clock.advance(by);
    };
    advance(Duration::from_secs(1));
    permit
        .try_message()
        .expect("due at 60/min, followed by the store's state");
    advance(Duration::from_secs(1));
    permit.try_message().expect_err("one message a minute now");
    assert_eq!(
        a.pair_limits(&route()),
        (Some(Duration::from_secs(60)), Some(1))
    );
}
