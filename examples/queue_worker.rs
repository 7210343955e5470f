//! The standard advice for `421`s — "send through a queue that retries with backoff and
//! respects per-provider limits" — as a program: a durable queue in one SQLite file,
//! worked through a `Throttle` to an SMTP server. Stop it with Ctrl-C (it finishes the
//! messages in hand and saves what it learned) or `kill -9` it: run it again and it
//! resumes, every message ending once (delivery is at least once: see README).
//!
//! ```sh
//! # Queue one message per recipient line (stdin or --file), or --generate N test ones:
//! cargo run --release --features sqlite,lettre --example queue_worker -- \
//!     enqueue --db /tmp/queue.sqlite --from news@example.com --file recipients.txt
//! # Send them (again after any crash: it resumes):
//! cargo run --release --features sqlite,lettre --example queue_worker -- \
//!     run --db /tmp/queue.sqlite --server 127.0.0.1:2525 --until-empty
//! cargo run --release --features sqlite,lettre --example queue_worker -- status --db /tmp/queue.sqlite
//! ```
//!
//! Options of `run`: `--workers N` (4), `--lease SECS` (600), `--greylist-delay SECS`
//! (the retry after a first greylisting, 300), `--retry SECS` (every other retry, the
//! standard schedule when absent), `--max-age SECS` (5 days), `--sessions N` and
//! `--rate PER_MINUTE` (what you know of the receivers' limits per sending IP; the
//! defaults otherwise: 10 sessions, 100 a second, adapting to what they answer),
//! `--bind-source`, `--until-empty`, `--no-progress`. `enqueue` takes `--source IP`
//! (the routes' sending IP, 127.0.0.1) and `--from ADDRESS`.

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use smtp_throttle::lettre::SmtpSender;
use smtp_throttle::limit::{Limits, Rate, ScopeLimits, SiteLimits};
use smtp_throttle::queue::{Progress, RunOptions, SqliteQueue};
use smtp_throttle::retry::RetryPolicy;
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::Throttle;
use smtp_throttle::Mail;

type Error = Box<dyn std::error::Error>;

fn main() {
    if let Err(error) = run_command(std::env::args().skip(1).collect()) {
        eprintln!("queue_worker: {error}");
        let mut source = error.source();
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
        std::process::exit(1);
    }
}

/// `--name value` options after the command.
struct Flags(Vec<String>);

impl Flags {
    fn value(&self, name: &str) -> Option<&str> {
        let at = self.0.iter().position(|a| a == name)?;
        self.0.get(at + 1).map(String::as_str)
    }
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
    fn required(&self, name: &str) -> Result<&str, Error> {
        self.value(name)
            .ok_or_else(|| format!("{name} is required").into())
    }
    fn secs(&self, name: &str) -> Result<Option<Duration>, Error> {
        self.value(name)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("{name}: not a number of seconds: {v:?}").into())
            })
            .transpose()
    }
}

fn run_command(args: Vec<String>) -> Result<(), Error> {
    let (command, flags) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), Flags(rest.to_vec())),
        None => return Err("usage: queue_worker enqueue|run|status --db FILE …".into()),
    };
    let queue = SqliteQueue::open(flags.required("--db")?)?;
    match command {
        "enqueue" => enqueue(&queue, &flags),
        "run" => run(&queue, &flags),
        "status" => {
            let c = queue.counts(SystemTime::now())?;
            println!(
                "queued={} leased={} delivered={} bounced={} expired={} quarantined={}",
                c.queued, c.leased, c.delivered, c.bounced, c.expired, c.quarantined
            );
            Ok(())
        }
        other => Err(format!("unknown command {other:?}: enqueue, run or status").into()),
    }
}

/// One message per recipient; the id is the input line's number and the recipient, so
/// enqueueing the same input again adds nothing twice.
fn enqueue(queue: &SqliteQueue, flags: &Flags) -> Result<(), Error> {
    let from = flags.value("--from").unwrap_or("queue-worker@example.com");
    let source: IpAddr = flags.value("--source").unwrap_or("127.0.0.1").parse()?;
    let recipients: Vec<String> = if let Some(n) = flags.value("--generate") {
        let domain = flags.value("--domain").unwrap_or("example.test");
        let n: u32 = n.parse()?;
        (0..n).map(|i| format!("user{i}@{domain}")).collect()
    } else {
        let input: Box<dyn BufRead> = match flags.value("--file") {
            Some(path) => Box::new(std::io::BufReader::new(std::fs::File::open(path)?)),
            None => Box::new(std::io::stdin().lock()),
        };
        input
            .lines()
            .map(|line| line.map(|l| l.trim().to_owned()))
            .filter(|line| {
                !line
                    .as_ref()
                    .is_ok_and(|l| l.is_empty() || l.starts_with('#'))
            })
            .collect::<Result<_, _>>()?
    };
    let now = SystemTime::now();
    let (mut added, mut known) = (0, 0);
    for (line, to) in recipients.iter().enumerate() {
        let domain = to
            .rsplit_once('@')
            .map(|(_, d)| d)
            .ok_or_else(|| format!("line {}: not an address: {to:?}", line + 1))?;
        let route = Route::new(source, Destination::new(domain)?);
        let id = format!("{line}-{to}");
        let body = format!(
            "Message-ID: <{id}@queue-worker.smtp-throttle>\r\nFrom: <{from}>\r\nTo: <{to}>\r\n\
             Subject: queued message {line}\r\n\r\nSent through smtp-throttle's queue.\r\n"
        );
        let mail = Mail::new(from, [to.as_str()], body.into_bytes());
        if queue.enqueue(&id, &route, &mail, now)? {
            added += 1;
        } else {
            known += 1;
        }
    }
    println!("enqueued={added} already_queued={known}");
    Ok(())
}

fn run(queue: &SqliteQueue, flags: &Flags) -> Result<(), Error> {
    let server: SocketAddr = flags.required("--server")?.parse()?;
    let mut policy = RetryPolicy::builder();
    if let Some(delay) = flags.secs("--greylist-delay")? {
        policy = policy.greylist_delay(delay).greylist_spread(delay / 4);
    }
    if let Some(every) = flags.secs("--retry")? {
        policy = policy.delays([every]).then_every(every);
    }
    if let Some(age) = flags.secs("--max-age")? {
        policy = policy.max_age(age);
    }
    // What you know of the receiver: its session cap and rate per sending IP.
    let mut pair = ScopeLimits::default();
    if let Some(sessions) = flags.value("--sessions") {
        pair.sessions = Some(sessions.parse()?);
    }
    if let Some(per_minute) = flags.value("--rate") {
        pair.rate = Some(Rate::per_minute(per_minute.parse()?)?);
    }
    let mut limits = Limits::builder();
    if pair != ScopeLimits::default() {
        let defaults = SiteLimits::default();
        limits = limits.site_default(SiteLimits {
            pair: ScopeLimits {
                sessions: pair.sessions.or(defaults.pair.sessions),
                rate: pair.rate.or(defaults.pair.rate),
            },
            ..defaults
        });
    }
    let throttle = Throttle::new(limits.build()?, policy.build()?);
    let sender = SmtpSender::new(server, "queue-worker.smtp-throttle")
        .bind_source(flags.has("--bind-source"))
        .timeout(Duration::from_secs(30));

    let stop = Arc::new(AtomicBool::new(false));
    let handler = stop.clone();
    ctrlc::set_handler(move || {
        if handler.swap(true, Ordering::Relaxed) {
            std::process::exit(130); // a second Ctrl-C: the leases return by themselves
        }
        eprintln!("stopping: finishing the messages in hand (Ctrl-C again to quit now)");
    })?;
    let progress = Arc::new(Progress::default());
    let mut options = RunOptions::default()
        .stop(stop.clone())
        .progress(progress.clone())
        .until_empty(flags.has("--until-empty"));
    if let Some(workers) = flags.value("--workers") {
        options = options.workers(workers.parse()?);
    }
    if let Some(lease) = flags.secs("--lease")? {
        options = options
            .lease(lease)
            .send_timeout(lease.min(Duration::from_secs(5)) / 2);
    }

    let started = Instant::now();
    let done = AtomicBool::new(false);
    let total = queue.counts(SystemTime::now())?.queued;
    let report = std::thread::scope(|s| {
        if !flags.has("--no-progress") {
            s.spawn(|| show_progress(queue, &progress, total, &done));
        }
        let report = throttle.run(queue, &sender, &options);
        done.store(true, Ordering::Relaxed);
        report
    })?;
    let counts = queue.counts(SystemTime::now())?;
    println!(
        "delivered={} deferred={} bounced={} expired={} not_tried={} learned_restored={} \
         queue: queued={} delivered={} bounced={} expired={} elapsed_s={:.1}",
        report.delivered,
        report.deferred,
        report.bounced,
        report.expired,
        report.not_tried,
        report.learned_restored,
        counts.queued,
        counts.delivered,
        counts.bounced,
        counts.expired,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// An indicatif bar over the messages queued at the start: delivered, deferred,
/// bounced as they happen.
fn show_progress(queue: &SqliteQueue, progress: &Progress, total: u64, done: &AtomicBool) {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    while !done.load(Ordering::Relaxed) {
        let now = progress.snapshot();
        bar.set_position(now.delivered + now.bounced + now.expired);
        let queued = queue.counts(SystemTime::now()).map_or(0, |c| c.queued);
        bar.set_message(format!(
            "delivered {} · deferred {} · bounced {} · queued {queued}",
            now.delivered, now.deferred, now.bounced
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
    bar.finish();
}
