//! `RedisLimits` against a real redis-server (Debian's package, started by `.ci/run` via
//! `scripts/redis-test-server`). Without `SMTP_THROTTLE_REDIS` (e.g.
//! `redis://127.0.0.1:6390/`) the tests say SKIPPED and pass.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_throttle::error::SharedError;
use smtp_throttle::limit::Rate;
use smtp_throttle::shared::RedisLimits;

const TIMEOUT: Duration = Duration::from_millis(500);

/// A store on the test server under a prefix of this test's own, or `None` (skip).
fn store(test: &str) -> Option<RedisLimits> {
    let url = std::env::var("SMTP_THROTTLE_REDIS")
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        eprintln!("SKIPPED {test}: set SMTP_THROTTLE_REDIS=redis://127.0.0.1:6390/");
        return None;
    };
    let prefix = format!("test-{test}-{}", std::process::id());
    Some(
        RedisLimits::new(&url, TIMEOUT)
            .expect("a valid URL")
            .with_prefix(&prefix),
    )
}

#[test]
fn independent_stores_share_one_rate() {
    let Some(_) = store("rate") else { return };
    // Three independent stores (as three machines would have), one key: 50 a second.
    let rate = Rate::per_second(50).unwrap();
    let started = Instant::now();
    let run_for = Duration::from_millis(1500);
    let admitted = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let admitted = admitted.clone();
            std::thread::spawn(move || {
                let shared = store("rate").expect("the server");
                let mut waits = 0;
                while started.elapsed() < run_for {
                    match shared
                        .try_rate("192.0.2.10|google", rate)
                        .expect("Redis answers")
                    {
                        Ok(()) => {
                            admitted.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(wait) => {
                            assert!(wait <= Duration::from_millis(20), "{wait:?}");
                            waits += 1;
                        }
                    }
                }
                waits
            })
        })
        .collect();
    let waits: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = started.elapsed();
    let admitted = admitted.load(Ordering::SeqCst);
    // The server's clock ran at most as long as ours: 1 (burst) + elapsed × 50.
    let quota = 1 + (elapsed.as_secs_f64() * 50.0).ceil() as u32;
    assert!(admitted <= quota, "{admitted} admitted, quota {quota}");
    assert!(waits > 0, "the stores were told to wait");
    assert!(admitted >= 50, "{admitted}: the rate is reachable");
}

#[test]
fn a_changed_rate_starts_fresh() {
    let Some(shared) = store("respec") else {
        return;
    };
    let slow = Rate::per_minute(1).unwrap();
    assert_eq!(shared.try_rate("k", slow).unwrap(), Ok(()));
    let wait = shared.try_rate("k", slow).unwrap().unwrap_err();
    assert!(wait > Duration::from_secs(50), "{wait:?}");
    // A new limit is a new key: not locked out for the old one's minute.
    let fast = Rate::per_second(10).unwrap();
    assert_eq!(shared.try_rate("k", fast).unwrap(), Ok(()));
}

#[test]
fn leases_cap_sessions_across_stores() {
    let Some(_) = store("leases") else { return };
    let held = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (held, most) = (held.clone(), most.clone());
            std::thread::spawn(move || {
                let shared = store("leases").expect("the server");
                let mut got = 0;
                for _ in 0..200 {
                    if let Some(lease) = shared
                        .try_lease("pair", 3, Duration::from_secs(10))
                        .expect("Redis answers")
                    {
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        assert!(lease.extend().expect("Redis answers"));
                        held.fetch_sub(1, Ordering::SeqCst);
                        got += 1;
                    }
                }
                got
            })
        })
        .collect();
    let got: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(most.load(Ordering::SeqCst) <= 3, "never more than the cap");
    assert!(got > 0);
    let shared = store("leases").unwrap();
    assert_eq!(
        shared.leases("pair").unwrap(),
        0,
        "every lease given back on drop"
    );
}

#[test]
fn a_crashed_holders_lease_expires() {
    let Some(shared) = store("crash") else { return };
    let ttl = Duration::from_millis(300);
    let lease = shared
        .try_lease("pair", 1, ttl)
        .unwrap()
        .expect("a free slot");
    // The holder dies without releasing: its lease stays until the expiry.
    std::mem::forget(lease);
    let other = store("crash").unwrap();
    assert!(other.try_lease("pair", 1, ttl).unwrap().is_none());
    std::thread::sleep(ttl + Duration::from_millis(50));
    let lease = other.try_lease("pair", 1, ttl).unwrap();
    assert!(lease.is_some(), "the dead holder's slot came back");
}

#[test]
fn an_expired_lease_cannot_be_extended() {
    let Some(shared) = store("extend") else {
        return;
    };
    let lease = shared
        .try_lease("pair", 1, Duration::from_millis(100))
        .unwrap()
        .expect("a free slot");
    assert!(lease.extend().unwrap());
    std::thread::sleep(Duration::from_millis(150));
    assert!(!lease.extend().unwrap(), "expired: stop using the session");
}

#[test]
fn bad_configuration_and_unreachable_servers_are_errors() {
    assert!(matches!(
        RedisLimits::new("redis://127.0.0.1:6390/", Duration::ZERO),
        Err(SharedError::Config(_))
    ));
    assert!(matches!(
        RedisLimits::new("not a url", TIMEOUT),
        Err(SharedError::Config(_))
    ));
    // Nothing listens on port 1: an error, not a panic, and again on the next call.
    let away = RedisLimits::new("redis://127.0.0.1:1/", TIMEOUT).unwrap();
    let rate = Rate::per_second(1).unwrap();
    for _ in 0..2 {
        let error = away.try_rate("k", rate).unwrap_err();
        assert!(matches!(error, SharedError::Unavailable(_)), "{error}");
    }
    assert!(away.try_lease("k", 1, TIMEOUT).is_err());
    if let Some(shared) = store("config") {
        assert!(matches!(
            shared.try_lease("k", 0, TIMEOUT),
            Err(SharedError::Config(_))
        ));
        assert!(matches!(
            shared.try_lease("k", 1, Duration::from_secs(7200)),
            Err(SharedError::Config(_))
        ));
    }
}

#[test]
fn the_store_reconnects_after_the_connection_breaks() {
    let Some(shared) = store("reconnect") else {
        return;
    };
    let rate = Rate::per_second(1000).unwrap();
    assert_eq!(shared.try_rate("k", rate).unwrap(), Ok(()));
    // Kill this store's own connection (named after its prefix) from the server side.
    let admin = redis::Client::open(std::env::var("SMTP_THROTTLE_REDIS").unwrap()).unwrap();
    let mut admin = admin.get_connection().unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    let name = format!("name=test-reconnect-{} ", std::process::id());
    let ids: Vec<&str> = list
        .lines()
        .filter(|l| l.contains(&name))
        .filter_map(|l| l.strip_prefix("id=")?.split(' ').next())
        .collect();
    assert_eq!(ids.len(), 1, "{list}");
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(ids[0])
        .query(&mut admin)
        .unwrap();
    // The next call may fail (the broken connection), the one after reconnects.
    let first = shared.try_rate("k", rate);
    if let Err(error) = &first {
        assert!(!matches!(error, SharedError::Config(_)), "{error}");
    }
    std::thread::sleep(Duration::from_millis(5));
    assert!(shared.try_rate("k", rate).is_ok(), "reconnected");
}
