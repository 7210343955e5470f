//! A shared (Redis) limits decision against the in-memory one, in the same run.
//!
//! `shared/in_memory_acquire_message_release`: `Limits::try_acquire` + `try_message` +
//! drop on a warm route (real clock). `shared/limits_acquire_message_release`: the same
//! with the limits shared through Redis (`LimitsBuilder::shared`: three round trips,
//! lease, message, release). `shared/limits_message`: one more message on an open
//! shared session (one round trip: suspensions and three GCRA rates in one script).
//! `shared/redis_rate`: one `RedisLimits::try_rate`. `shared/redis_lease_release`: one
//! `try_lease` + drop (two round trips). Quotas are high enough that nothing is
//! refused.
//!
//! Needs a Redis: `scripts/redis-test-server start`, then
//! `SMTP_THROTTLE_REDIS=redis://127.0.0.1:6390/ cargo bench --features redis --bench shared`.
//! Without the variable only the in-memory case runs.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smtp_throttle::limit::{Connections, Limits, Rate, ScopeLimits, SiteLimits};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::shared::RedisLimits;

fn bench(c: &mut Criterion) {
    let rate = Rate::per_second(1_000_000).expect("valid rate");
    let ip: IpAddr = "192.0.2.10".parse().expect("valid IP");
    let route = Route::new(ip, Destination::new("example.org").expect("valid domain"));
    let mut group = c.benchmark_group("shared");
    group.throughput(Throughput::Elements(1));

    let builder = || {
        Limits::builder()
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
    };
    let limits = builder().build().expect("valid limits");
    let acquire_message_release = |limits: &Limits| {
        let mut permit = limits.try_acquire(black_box(&route)).expect("a free slot");
        // In memory this outruns even 1M/s now and then; a refusal costs the same.
        let _ = black_box(permit.try_message());
    };
    group.bench_function("in_memory_acquire_message_release", |b| {
        b.iter(|| acquire_message_release(&limits))
    });

    let Some(url) = std::env::var("SMTP_THROTTLE_REDIS")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("SMTP_THROTTLE_REDIS not set: the Redis cases are skipped");
        return;
    };
    let store = || {
        RedisLimits::new(&url, Duration::from_millis(200))
            .expect("a valid URL")
            .with_prefix(&format!("bench-{}", std::process::id()))
    };
    let limits = builder()
        .shared(Arc::new(store()))
        .build()
        .expect("valid limits");
    group.bench_function("limits_acquire_message_release", |b| {
        b.iter(|| acquire_message_release(&limits))
    });
    let mut permit = limits.try_acquire(&route).expect("a free slot");
    group.bench_function("limits_message", |b| {
        b.iter(|| black_box(permit.try_message()).expect("within the rate"))
    });
    drop(permit);
    let status = limits.shared_status().expect("a shared store");
    assert!(status.connected && status.failures == 0, "{status:?}");
    let shared = store();
    group.bench_function("redis_rate", |b| {
        b.iter(|| {
            let _ = black_box(
                shared
                    .try_rate("192.0.2.10|example.org", rate)
                    .expect("Redis"),
            );
        })
    });
    group.bench_function("redis_lease_release", |b| {
        b.iter(|| {
            let lease = shared
                .try_lease("192.0.2.10|example.org", 64, Duration::from_secs(30))
                .expect("Redis");
            black_box(lease.is_some())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
