//! Several sending machines share one route's limits through Redis. Each machine is a
//! thread with its own `RedisLimits` connection, `Limits` and `Throttle`, as separate
//! processes would have; they send to one receiver that counts the connections open
//! at once and the messages accepted. Prints what each machine sent, the combined rate
//! and sessions against the shared limits, and the store's health.
//!
//! Needs a Redis: `scripts/redis-test-server start` (127.0.0.1:6390), then
//! `cargo run --release --features redis --example fleet -- --redis redis://127.0.0.1:6390/`
//! Flags: `--machines N` (4), `--seconds S` (3), `--rate PER_SECOND` (200), `--sessions N` (5).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_throttle::limit::{LimitKind, Limits, Rate, ScopeLimits, SiteLimits};
use smtp_throttle::retry::RetryPolicy;
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::shared::RedisLimits;
use smtp_throttle::throttle::{Cause, Outcome, Sender, SessionError, Throttle, TransportError};
use smtp_throttle::Reply;

/// The receiving server: accepts everything, counts what the whole fleet does to it.
#[derive(Default)]
struct Receiver {
    open: AtomicU32,
    most_open: AtomicU32,
    accepted: AtomicU32,
}

/// One SMTP connection to the receiver; closing it frees its count.
struct Connection<'r>(&'r Receiver);

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<'r> Sender<u32> for &'r Receiver {
    type Session = Connection<'r>;

    fn open(&self, _route: &Route) -> Result<Connection<'r>, TransportError> {
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_open.fetch_max(open, Ordering::SeqCst);
        Ok(Connection(self))
    }

    fn send(&self, _session: &mut Connection<'r>, _message: &u32) -> Result<Reply, TransportError> {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Reply::parse("250 2.0.0 Ok: queued").map_err(|e| TransportError::Other(Cause::new(e)))
    }
}

struct Flags {
    url: String,
    machines: u32,
    seconds: u64,
    per_second: u32,
    sessions: u32,
}

fn flags() -> Result<Flags, Box<dyn std::error::Error>> {
    let mut flags = Flags {
        url: std::env::var("SMTP_THROTTLE_REDIS").unwrap_or("redis://127.0.0.1:6379/".into()),
        machines: 4,
        seconds: 3,
        per_second: 200,
        sessions: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--redis" => flags.url = value,
            "--machines" => flags.machines = value.parse()?,
            "--seconds" => flags.seconds = value.parse()?,
            "--rate" => flags.per_second = value.parse()?,
            "--sessions" => flags.sessions = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if flags.machines == 0 || flags.seconds == 0 {
        return Err("--machines and --seconds must be above 0".into());
    }
    Ok(flags)
}

/// One machine: its own store, limits and throttle; sessions of up to 50 messages
/// until the time is up. Returns the messages it sent.
fn machine(
    flags: &Flags,
    prefix: &str,
    receiver: &Receiver,
    until: Instant,
) -> Result<u32, String> {
    let store = RedisLimits::new(&flags.url, Duration::from_millis(200))
        .map_err(|e| e.to_string())?
        .with_prefix(prefix);
    let rate = Rate::per_second(flags.per_second).map_err(|e| e.to_string())?;
    let limits = Limits::builder()
        .without_presets()
        .site_default(SiteLimits {
            pair: ScopeLimits::sessions(flags.sessions).with_rate(rate),
            deliveries_per_session: Some(50),
            ..SiteLimits::default()
        })
        .shared(Arc::new(store))
        .build()
        .map_err(|e| e.to_string())?;
    let throttle = Throttle::new(limits, RetryPolicy::default());
    let route = Route::new(
        "192.0.2.10".parse::<IpAddr>().map_err(|e| e.to_string())?,
        Destination::new("example.org").map_err(|e| e.to_string())?,
    );
    let mut sent = 0;
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        let mut session = match throttle.session(&receiver, &route, left) {
            Ok(session) => session,
            // Every shared session slot taken until the deadline.
            Err(SessionError::NotNow(_)) => continue,
            Err(error) => return Err(error.to_string()),
        };
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            let mut history = throttle.history();
            match session.send(&sent, &mut history, left) {
                Ok(Outcome::Delivered { .. }) => sent += 1,
                Ok(other) => return Err(format!("unexpected {other:?}")),
                Err(wait) if wait.kind() == LimitKind::SessionFull => break,
                Err(_) => {} // the time ran out waiting for the shared rate
            }
        }
    }
    let status = throttle.stats(&route).shared.ok_or("no shared store")?;
    if !status.connected {
        return Err(format!("Redis went away: {:?}", status.last_error));
    }
    Ok(sent)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flags = flags()?;
    let prefix = format!("fleet-{}", std::process::id());
    let receiver = Receiver::default();
    let started = Instant::now();
    let until = started + Duration::from_secs(flags.seconds);
    let sent: Vec<Result<u32, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..flags.machines)
            .map(|_| s.spawn(|| machine(&flags, &prefix, &receiver, until)))
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
    let accepted = receiver.accepted.load(Ordering::SeqCst);
    if accepted != total {
        return Err(format!("the receiver accepted {accepted}, the machines sent {total}").into());
    }
    let reached = f64::from(total) / elapsed;
    println!(
        "combined: {total} messages in {elapsed:.2} s = {reached:.1}/s against a shared limit of {}/s ({:.1} %); \
         at most {} sessions open at once against a cap of {}",
        flags.per_second,
        100.0 * reached / f64::from(flags.per_second),
        receiver.most_open.load(Ordering::SeqCst),
        flags.sessions,
    );
    println!(
        "without sharing, each machine alone would have allowed {}/s and {} sessions: {}/s and {} in all",
        flags.per_second,
        flags.sessions,
        flags.per_second * flags.machines,
        flags.sessions * flags.machines
    );
    Ok(())
}
