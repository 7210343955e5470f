//! The async acquire, on a plain executor: no runtime inside the crate.
#![cfg(feature = "async")]

use std::net::IpAddr;
use std::time::Duration;

use smtp_throttle::limit::{LimitKind, Limits, ScopeLimits, SiteLimits};
use smtp_throttle::route::{Destination, Route};

#[test]
fn async_acquire_waits_for_a_release_and_times_out() {
    let limits = Limits::builder()
        .site_default(SiteLimits {
            pair: ScopeLimits::sessions(1),
            ..SiteLimits::default()
        })
        .build()
        .unwrap();
    let route = Route::new(
        "192.0.2.1".parse::<IpAddr>().unwrap(),
        Destination::new("example.org").unwrap(),
    );
    let first = futures_executor::block_on(limits.acquire(&route, Duration::from_secs(1))).unwrap();
    let timed_out = futures_executor::block_on(limits.acquire(&route, Duration::from_millis(20)));
    assert_eq!(timed_out.unwrap_err().kind, LimitKind::Sessions);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            drop(first);
        });
        let second = futures_executor::block_on(limits.acquire(&route, Duration::from_secs(10)));
        assert!(second.is_ok());
    });
}
