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
    assert_eq!(timed_out.unwrap_err().kind(), LimitKind::Sessions);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            drop(first);
        });
        let second = futures_executor::block_on(limits.acquire(&route, Duration::from_secs(10)));
        assert!(second.is_ok());
    });
}

#[test]
fn async_throttled_send_on_a_plain_executor() {
    use smtp_throttle::retry::RetryPolicy;
    use smtp_throttle::throttle::{AsyncSender, Outcome, Throttle, TransportError};
    use smtp_throttle::Reply;

    struct Client;
    impl AsyncSender<str> for Client {
        type Session = u32;
        async fn open(&self, _route: &Route) -> Result<u32, TransportError> {
            Ok(0)
        }
        async fn send(&self, session: &mut u32, message: &str) -> Result<Reply, TransportError> {
            *session += 1;
            if message.contains("refuse") {
                Err(TransportError::Timeout("no answer".into()))
            } else {
                Ok(Reply::parse("250 2.0.0 Ok").expect("valid"))
            }
        }
    }
    let throttle = Throttle::new(Limits::builder().build().unwrap(), RetryPolicy::default());
    let route = Route::new(
        "192.0.2.1".parse::<IpAddr>().unwrap(),
        Destination::new("example.org").unwrap(),
    );
    let mut history = throttle.history();
    let sent = futures_executor::block_on(throttle.send_async(
        &Client,
        &route,
        "hello",
        &mut history,
        Duration::from_secs(5),
    ));
    assert!(matches!(sent, Ok(Outcome::Delivered { .. })));
    let mut history = throttle.history();
    let failed = futures_executor::block_on(throttle.send_async(
        &Client,
        &route,
        "refuse",
        &mut history,
        Duration::from_secs(5),
    ));
    assert!(matches!(failed, Ok(Outcome::Deferred { .. })));
    assert_eq!(throttle.limits().in_flight(&route), 0);
}
