//! Bytes of heap per tracked route, counted by dhat: the cap on tracked routes is only
//! useful if each one is small (target ≤ 512 B).

use std::net::IpAddr;

use governor::clock::FakeRelativeClock;
use smtp_throttle::limit::Limits;
use smtp_throttle::route::{Destination, Route};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn bytes_per_tracked_route() {
    const ROUTES: usize = 1_000_000;
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let destinations: Vec<Route> = (0..ROUTES)
        .map(|i| Route::new(ip, Destination::new(&format!("d{i}.example")).unwrap()))
        .collect();
    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get().curr_bytes;
    let limits = Limits::builder_with_clock(FakeRelativeClock::default())
        .build()
        .unwrap();
    for route in &destinations {
        drop(limits.try_acquire(route).unwrap());
    }
    assert_eq!(limits.len(), ROUTES);
    let per_route = (dhat::HeapStats::get().curr_bytes - before) / ROUTES;
    println!("{per_route} bytes per tracked route ({ROUTES} routes, each a distinct site)");
    assert!(per_route <= 512, "{per_route} bytes per route");
}
