//! Several sending machines (threads here, each with its own connection, as separate
//! processes would have) share one pair's limits through Redis: a rate and a session
//! cap. Prints what each sent and the combined rate they reached against the limit.
//!
//! Needs a Redis: `scripts/redis-test-server start` (127.0.0.1:6390), then
//! `cargo run --release --features redis --example fleet -- --redis redis://127.0.0.1:6390/`
//! Flags: `--machines N` (4), `--seconds S` (3), `--rate PER_SECOND` (200), `--sessions N` (5).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use smtp_throttle::limit::Rate;
use smtp_throttle::shared::RedisLimits;

const KEY: &str = "192.0.2.10|google";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = std::env::var("SMTP_THROTTLE_REDIS").unwrap_or("redis://127.0.0.1:6379/".into());
    let (mut machines, mut seconds, mut per_second, mut sessions) = (4u32, 3u64, 200u32, 5u32);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--redis" => url = value,
            "--machines" => machines = value.parse()?,
            "--seconds" => seconds = value.parse()?,
            "--rate" => per_second = value.parse()?,
            "--sessions" => sessions = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if machines == 0 || seconds == 0 {
        return Err("--machines and --seconds must be above 0".into());
    }
    let rate = Rate::per_second(per_second)?;
    let run = format!("fleet-{}", std::process::id());
    let (open, most) = (AtomicU32::new(0), AtomicU32::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let sent: Vec<Result<u32, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..machines)
            .map(|_| {
                let (url, run, open, most) = (&url, &run, &open, &most);
                s.spawn(move || -> Result<u32, String> {
                    let shared = RedisLimits::new(url, Duration::from_millis(200))
                        .map_err(|e| e.to_string())?
                        .with_prefix(run);
                    let mut sent = 0;
                    while Instant::now() < until {
                        let lease = shared
                            .try_lease(KEY, sessions, Duration::from_secs(10))
                            .map_err(|e| e.to_string())?;
                        let Some(lease) = lease else {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        };
                        let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now_open, Ordering::SeqCst);
                        // One session: up to 50 messages at the shared rate.
                        let mut on_session = 0;
                        while on_session < 50 && Instant::now() < until {
                            match shared.try_rate(KEY, rate).map_err(|e| e.to_string())? {
                                Ok(()) => {
                                    sent += 1;
                                    on_session += 1;
                                }
                                Err(wait) => std::thread::sleep(wait),
                            }
                        }
                        open.fetch_sub(1, Ordering::SeqCst);
                        drop(lease);
                    }
                    Ok(sent)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a machine panicked".into()))
            })
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = 0;
    for (i, result) in sent.into_iter().enumerate() {
        let n = result.map_err(|e| format!("machine {i}: {e}"))?;
        println!("machine {i}: {n} messages");
        total += n;
    }
    let reached = f64::from(total) / elapsed;
    println!(
        "combined: {total} messages in {elapsed:.2} s = {reached:.1}/s against a shared limit of {per_second}/s ({:.1} %); \
         at most {} sessions open at once against a cap of {sessions}",
        100.0 * reached / f64::from(per_second),
        most.load(Ordering::SeqCst)
    );
    println!(
        "without sharing, each machine alone would have allowed {per_second}/s: {}/s in all",
        per_second * machines
    );
    Ok(())
}
