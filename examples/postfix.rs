//! Sends N messages to a real SMTP server (the test Postfix of
//! `scripts/postfix-test-server`) through `Throttled<SmtpSender>` with several worker
//! threads, or with `--naive`: no throttle, instant retries.
//!
//! Run: `scripts/postfix-test-server start` then
//! `cargo run --release --features lettre --example postfix -- --server 127.0.0.1:2525 --count 200 [--workers 8] [--naive]`
//!
//! Prints progress, then one line `delivered=N deferred=D bounced=B lost=L elapsed_s=T`
//! and one line with the failure replies seen: `replies_421=… replies_450=… greylisted=…
//! attempts=… run_id=…` (message ids are `<run_id.N@smtp-throttle.test>`, recipients new
//! each run so that greylisting applies).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use lettre::Message;
use parking_lot::Mutex;
use smtp_throttle::lettre::SmtpSender;
use smtp_throttle::limit::Limits;
use smtp_throttle::retry::{History, RetryPolicy, RetryQueue};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{Outcome, Sender, Throttle, Throttled, TransportError};
use smtp_throttle::Reply;

struct Args {
    server: SocketAddr,
    count: u32,
    workers: u32,
    naive: bool,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        server: SocketAddr::from(([127, 0, 0, 1], 2525)),
        count: 200,
        workers: 8,
        naive: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--server" => {
                args.server = value("--server")?
                    .parse()
                    .map_err(|e| format!("--server: {e}"))?
            }
            "--count" => {
                args.count = value("--count")?
                    .parse()
                    .map_err(|e| format!("--count: {e}"))?
            }
            "--workers" => {
                args.workers = value("--workers")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?
            }
            "--naive" => args.naive = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.count == 0 || args.workers == 0 {
        return Err("--count and --workers must be at least 1".into());
    }
    Ok(args)
}

/// Counts the failure replies a sender sees.
#[derive(Default)]
struct Seen {
    r421: AtomicU32,
    r450: AtomicU32,
    greylisted: AtomicU32,
    attempts: AtomicU32,
}

impl Seen {
    fn note(&self, reply: &Reply) {
        match reply.code().get() {
            421 => self.r421.fetch_add(1, Ordering::Relaxed),
            450 | 451 => {
                if reply.text().to_ascii_lowercase().contains("greylist") {
                    self.greylisted.fetch_add(1, Ordering::Relaxed)
                } else {
                    self.r450.fetch_add(1, Ordering::Relaxed)
                }
            }
            _ => 0,
        };
    }
}

/// The lettre sender, counting what comes back.
struct Counting<'a> {
    inner: SmtpSender,
    seen: &'a Seen,
}

impl Sender<Message> for Counting<'_> {
    type Session = <SmtpSender as Sender<Message>>::Session;
    fn open(&self, route: &Route) -> Result<Self::Session, TransportError> {
        self.seen.attempts.fetch_add(1, Ordering::Relaxed);
        self.inner.connect(route).inspect_err(|e| {
            if let TransportError::Rejected(reply) = e {
                self.seen.note(reply);
            }
        })
    }
    fn send(
        &self,
        session: &mut Self::Session,
        message: &Message,
    ) -> Result<Reply, TransportError> {
        let reply = self.inner.send(session, message)?;
        self.seen.note(&reply);
        Ok(reply)
    }
}

fn message(run: u128, id: u32) -> Result<Message, Box<dyn std::error::Error>> {
    Ok(Message::builder()
        .from("Sender <sender@smtp-throttle.test>".parse()?)
        .to(format!("user{id}.{run}@example.test").parse()?)
        .message_id(Some(format!("<{run}.{id}@smtp-throttle.test>")))
        .subject(format!("smtp-throttle test {id}"))
        .body(format!("message {id}\n"))?)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("postfix example: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let messages: Vec<Message> = (0..args.count)
        .map(|id| message(run, id))
        .collect::<Result<_, _>>()?;
    let route = Route::new(
        IpAddr::from([127, 0, 0, 1]),
        Destination::new("example.test")?,
    );
    let seen = Seen::default();
    let sender = Counting {
        inner: SmtpSender::new(args.server, "client.smtp-throttle.test")
            .timeout(Duration::from_secs(10)),
        seen: &seen,
    };
    let started = Instant::now();
    let (delivered, deferred, bounced, queued) = if args.naive {
        naive(&args, &sender, &route, &messages)
    } else {
        throttled(&args, sender, &route, &messages)?
    };
    let lost = args.count.saturating_sub(delivered + bounced + queued);
    println!(
        "delivered={delivered} deferred={deferred} bounced={bounced} lost={lost} elapsed_s={:.1}",
        started.elapsed().as_secs_f64()
    );
    println!(
        "replies_421={} replies_450={} greylisted={} attempts={} run_id={run}",
        seen.r421.load(Ordering::Relaxed),
        seen.r450.load(Ordering::Relaxed),
        seen.greylisted.load(Ordering::Relaxed),
        seen.attempts.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Workers share a retry queue; the throttle decides when each message goes.
fn throttled(
    args: &Args,
    sender: Counting<'_>,
    route: &Route,
    messages: &[Message],
) -> Result<(u32, u32, u32, u32), Box<dyn std::error::Error>> {
    // The limits' defaults: the pauses find the server's anvil window (30 s, doubled
    // while it is still full), episodes keep the rate that filled it. The retries come
    // back just after the test postgrey's 5 s greylisting, and the schedule (the pace
    // deferrals' retry too) is in seconds: a test server, not a provider.
    let limits = Limits::builder().build()?;
    let retry = RetryPolicy::builder()
        .greylist_delay(Duration::from_secs(6))
        .greylist_spread(Duration::from_secs(2))
        .delays([
            Duration::from_secs(5),
            Duration::from_secs(10),
            Duration::from_secs(20),
        ])
        .then_every(Duration::from_secs(30))
        // A deferral for the pace ("too much mail") comes back once the route's pause
        // for the window ends, not a minute later: seconds here too.
        .route_retry(Some(Duration::from_secs(5)))
        .hint_floor(Duration::from_secs(5))
        .hint_spread(Duration::from_secs(2))
        .release_spread(Duration::from_secs(2))
        .max_age(Duration::from_secs(3600))
        .build()?;
    let throttle = Throttle::new(limits, retry);
    let sender = Throttled::new(sender, throttle.clone());
    let queue: Mutex<RetryQueue<(u32, History), SystemTime>> = Mutex::new(RetryQueue::new());
    for id in 0..messages.len() as u32 {
        queue.lock().push((id, throttle.history()), throttle.now());
    }
    let done = AtomicU32::new(0);
    let (delivered, deferred, bounced) = (AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0));
    let total = messages.len() as u32;
    std::thread::scope(|s| {
        s.spawn(|| {
            while done.load(Ordering::Relaxed) < total {
                std::thread::sleep(Duration::from_secs(2));
                println!(
                    "progress delivered={}/{total} deferred={} bounced={}",
                    delivered.load(Ordering::Relaxed),
                    deferred.load(Ordering::Relaxed),
                    bounced.load(Ordering::Relaxed)
                );
            }
        });
        for _ in 0..args.workers {
            s.spawn(|| loop {
                if done.load(Ordering::Relaxed) >= total {
                    return;
                }
                let now = throttle.now();
                let next = queue.lock().pop_next(now);
                let Some((id, mut history)) = next else {
                    let due = queue.lock().next_due();
                    let wait = due.map_or(Duration::from_millis(20), |d| throttle.until(d));
                    std::thread::sleep(
                        wait.clamp(Duration::from_millis(1), Duration::from_millis(100)),
                    );
                    continue;
                };
                let outcome = sender.send(
                    route,
                    &messages[id as usize],
                    &mut history,
                    Duration::from_secs(5),
                );
                match outcome {
                    Ok(Outcome::Delivered { .. }) => {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Outcome::Deferred { retry_at, .. }) => {
                        deferred.fetch_add(1, Ordering::Relaxed);
                        queue.lock().push((id, history), retry_at);
                    }
                    Ok(_) => {
                        bounced.fetch_add(1, Ordering::Relaxed);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(wait) => {
                        let later = wait.until().max(now + Duration::from_millis(50));
                        queue.lock().push((id, history), later);
                    }
                }
            });
        }
    });
    let queued = queue.lock().len() as u32;
    Ok((
        delivered.into_inner(),
        deferred.into_inner(),
        bounced.into_inner(),
        queued,
    ))
}

/// No throttle: every worker sends, and retries at once on anything but 2xx or 5xx.
fn naive(
    args: &Args,
    sender: &Counting<'_>,
    route: &Route,
    messages: &[Message],
) -> (u32, u32, u32, u32) {
    let next = AtomicU32::new(0);
    let (delivered, deferred, bounced) = (AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0));
    std::thread::scope(|s| {
        for _ in 0..args.workers {
            s.spawn(|| loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let Some(message) = messages.get(id as usize) else {
                    return;
                };
                // At most 100 000 tries a message, so a broken server cannot hang the run.
                for _ in 0..100_000 {
                    let attempt = sender
                        .open(route)
                        .and_then(|mut session| sender.send(&mut session, message));
                    match attempt {
                        Ok(reply) if reply.code().class() == 2 => {
                            delivered.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Ok(reply) if reply.code().class() == 5 => {
                            bounced.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        _ => {
                            deferred.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    (
        delivered.into_inner(),
        deferred.into_inner(),
        bounced.into_inner(),
        0,
    )
}
