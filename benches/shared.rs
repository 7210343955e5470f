//! A shared (Redis) limits decision against the in-memory one, in the same run.
//!
//! `shared/in_memory_acquire_message_release`: `Limits::try_acquire` + `try_message` +
//! drop on a warm route (real clock). `shared/redis_rate`: one `RedisLimits::try_rate`
//! (one Lua GCRA call over loopback). `shared/redis_lease_release`: one
//! `try_lease` + drop (two round trips). Quotas are high enough that nothing is refused.
//!
//! Needs a Redis: `scripts/redis-test-server start`, then
//! `SMTP_THROTTLE_REDIS=redis://127.0.0.1:6390/ cargo bench --features redis --bench shared`.
//! Without the variable only the in-memory case runs.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smtp_throttle::limit::{Limits, Rate, ScopeLimits, SiteLimits};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::shared::RedisLimits;

fn bench(c: &mut Criterion) {
    let rate = Rate::per_second(1_000_000).expect("valid rate");
    let ip: IpAddr = "192.0.2.10".parse().expect("valid IP");
    let route = Route::new(ip, Destination::new("example.org").expect("valid domain"));
    let mut group = c.benchmark_group("shared");
    group.throughput(Throughput::Elements(1));

    let limits = Limits::builder()
        .site_default(SiteLimits {
            site: ScopeLimits::UNLIMITED,
            pair: ScopeLimits::sessions(64).with_rate(rate),
            deliveries_per_session: None,
        })
        .build()
        .expect("valid limits");
    group.bench_function("in_memory_acquire_message_release", |b| {
        b.iter(|| {
            let mut permit = limits.try_acquire(black_box(&route)).expect("a free slot");
            let _ = black_box(permit.try_message());
        })
    });

    let Some(url) = std::env::var("SMTP_THROTTLE_REDIS")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("SMTP_THROTTLE_REDIS not set: the Redis cases are skipped");
        return;
    };
    let shared = RedisLimits::new(&url, Duration::from_millis(200))
        .expect("a valid URL")
        .with_prefix(&format!("bench-{}", std::process::id()));
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
