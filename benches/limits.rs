//! Route-limit decisions against raw governor, in the same run.
//!
//! `limits/acquire_message_release`: `try_acquire` + `Permit::try_message` + drop on a
//! warm route (one sending IP, one site), one thread and two threads.
//! `limits/governor_check_key`: a keyed governor limiter's `check_key` on the same key
//! shape, the cost of the rate check alone.
//!
//! Both run on governor's `FakeRelativeClock`, advanced 1 µs per operation against a
//! 1 000 000/s quota, so no decision is a refusal.
//!
//! Run: `cargo bench --bench limits`

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};
use smtp_throttle::limit::{Connections, Limits, Rate, ScopeLimits, SiteLimits};
use smtp_throttle::route::{Destination, Route};

const STEP: Duration = Duration::from_micros(1);

fn limits(clock: &FakeRelativeClock) -> Limits<FakeRelativeClock> {
    let rate = Rate::per_second(1_000_000).expect("valid rate");
    Limits::builder_with_clock(clock.clone())
        .site_default(SiteLimits {
            site: ScopeLimits::UNLIMITED,
            pair: ScopeLimits::sessions(64).with_rate(rate),
            deliveries_per_session: None,
        })
        // New connections at the same pace: the gate is checked, never in the way.
        .connections(Connections {
            rate: Some(rate),
            ..Connections::default()
        })
        .build()
        .expect("valid limits")
}

fn bench(c: &mut Criterion) {
    let ip: IpAddr = "192.0.2.10".parse().expect("valid IP");
    let route = Route::new(ip, Destination::new("example.org").expect("valid domain"));
    let mut group = c.benchmark_group("limits");
    group.throughput(Throughput::Elements(1));

    let clock = FakeRelativeClock::default();
    let one = limits(&clock);
    group.bench_function("acquire_message_release/1_thread", |b| {
        b.iter(|| {
            clock.advance(STEP);
            let mut permit = one.try_acquire(black_box(&route)).expect("a free slot");
            permit.try_message().expect("within the rate");
        })
    });

    let clock2 = FakeRelativeClock::default();
    let two = limits(&clock2);
    group.bench_function("acquire_message_release/2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters / 2 {
                            clock2.advance(STEP);
                            if let Ok(mut permit) = two.try_acquire(black_box(&route)) {
                                black_box(permit.try_message().is_ok());
                            }
                        }
                    });
                }
            });
            // Two threads each did half: time per operation of the pair.
            start.elapsed()
        })
    });

    let gclock = FakeRelativeClock::default();
    let keyed = RateLimiter::dashmap_with_clock(
        Quota::per_second(std::num::NonZeroU32::new(1_000_000).expect("non-zero")),
        gclock.clone(),
    );
    let key = (ip, "example.org");
    group.bench_function("governor_check_key", |b| {
        b.iter(|| {
            gclock.advance(STEP);
            black_box(keyed.check_key(black_box(&key)).is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
