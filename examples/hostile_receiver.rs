//! A hostile SMTP receiver on 127.0.0.1:PORT (the one of `tests/common/receiver.rs`):
//! it caps simultaneous connections and connection and message rates per client IP,
//! greylists, tarpits, counts every refusal as a strike and blocks a client that
//! collects too many, with the reply texts of Gmail, Postfix anvil, postgrey and DNSBL
//! blocks. Point a sender at it to see how it copes, e.g. examples/postfix:
//!
//! `cargo run --release --example hostile_receiver -- --port 2526 --connections 2 --window 30/60 --greylist-secs 20 --strikes 10 --fade-secs 30 --block-secs 120`
//! then, in another terminal:
//! `cargo run --release --features lettre --example postfix -- --server 127.0.0.1:2526 --count 200`
//!
//! Prints a stats line every `--every` seconds (default 5), and a last one with the
//! duplicate Message-IDs at stdin EOF (Ctrl-D; unless `--ignore-stdin`) or after
//! `--seconds N` (Ctrl-C ends it without the last line). Flags: `--port N` `--host NAME` `--connections N` `--conn-rate N/SECS`
//! `--rate N/SECS` (token bucket) `--burst N` `--window N/SECS` (fixed window)
//! `--rate-after SECS:N/SECS` `--per-connection N` `--greylist-secs S` `--tarpit-ms MS`
//! `--strikes N` `--fade-secs S` `--block-secs S` (default: the rest of the run)
//! `--refusal TEXT` (message rate) `--greeting-refusal TEXT` (connections cap)
//! `--block-text TEXT` `--seconds N` `--every S` `--ignore-stdin`.

#[path = "../tests/common/receiver.rs"]
mod receiver;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use receiver::{Bucket, Config, Rate, Receiver, Running};

static STOP: AtomicBool = AtomicBool::new(false);

struct Args {
    config: Config,
    seconds: Option<u64>,
    every: u64,
    ignore_stdin: bool,
}

fn rate(text: &str) -> Result<Rate, String> {
    let (n, secs) = text
        .split_once('/')
        .ok_or(format!("{text}: expected N/SECS"))?;
    let n = n.parse().map_err(|e| format!("{text}: {e}"))?;
    let secs: f64 = secs.parse().map_err(|e| format!("{text}: {e}"))?;
    let per = Duration::try_from_secs_f64(secs).map_err(|e| format!("{text}: {e}"))?;
    Ok(Rate::new(n, per))
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        config: Config {
            port: 2525,
            ..Config::default()
        },
        seconds: None,
        every: 5,
        ignore_stdin: false,
    };
    let c = &mut args.config;
    let mut burst = 1;
    let mut bucket = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let secs = |v: String| {
            v.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|e| format!("{v}: {e}"))
        };
        let num = |v: String| v.parse::<u32>().map_err(|e| format!("{v}: {e}"));
        match arg.as_str() {
            "--port" => c.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--host" => c.host = value()?,
            "--connections" => c.max_connections = num(value()?)?,
            "--conn-rate" => c.connection_rate = Some(rate(&value()?)?),
            "--rate" => bucket = Some(rate(&value()?)?),
            "--burst" => burst = num(value()?)?,
            "--window" => c.message_window = Some(rate(&value()?)?),
            "--rate-after" => {
                let v = value()?;
                let (t, r) = v
                    .split_once(':')
                    .ok_or(format!("{v}: expected SECS:N/SECS"))?;
                c.rate_after = Some((secs(t.to_owned())?, rate(r)?));
            }
            "--per-connection" => c.messages_per_connection = num(value()?)?,
            "--greylist-secs" => c.greylist = secs(value()?)?,
            "--tarpit-ms" => {
                let v = value()?;
                c.tarpit = Duration::from_millis(v.parse().map_err(|e| format!("{v}: {e}"))?);
            }
            "--strikes" => c.block_after = num(value()?)?,
            "--fade-secs" => c.fade = secs(value()?)?,
            "--block-secs" => c.block_for = Some(secs(value()?)?),
            "--refusal" => c.texts.message_rate = value()?,
            "--greeting-refusal" => c.texts.connections = value()?,
            "--block-text" => c.texts.blocked = value()?,
            "--seconds" => args.seconds = Some(secs(value()?)?.as_secs()),
            "--every" => args.every = secs(value()?)?.as_secs().max(1),
            "--ignore-stdin" => args.ignore_stdin = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    c.message_bucket = bucket.map(|rate| Bucket { rate, burst });
    Ok(args)
}

fn line(running: &Running, started: Instant) -> String {
    format!(
        "t={:.0}s {}",
        started.elapsed().as_secs_f64(),
        running.stats()
    )
}

fn main() {
    let args = args().unwrap_or_else(|e| {
        eprintln!("hostile_receiver: {e}");
        std::process::exit(2);
    });
    if !args.ignore_stdin {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            STOP.store(true, Ordering::SeqCst);
        });
    }
    let config = args.config;
    let running = Receiver::start(config.clone()).unwrap_or_else(|e| {
        eprintln!("hostile_receiver: 127.0.0.1:{}: {e}", config.port);
        std::process::exit(1);
    });
    let flags: Vec<String> = std::env::args().skip(1).collect();
    println!("listening on {} ({})", running.addr(), flags.join(" "));
    let started = Instant::now();
    let mut next = Duration::from_secs(args.every);
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        let elapsed = started.elapsed();
        if args
            .seconds
            .is_some_and(|s| elapsed >= Duration::from_secs(s))
        {
            break;
        }
        if elapsed >= next {
            println!("{}", line(&running, started));
            next += Duration::from_secs(args.every);
        }
    }
    let mut ids: HashMap<String, u32> = HashMap::new();
    let messages = running.messages();
    for id in messages.iter().filter_map(|m| m.message_id.clone()) {
        *ids.entry(id).or_default() += 1;
    }
    let duplicates = ids.values().filter(|&&n| n > 1).count();
    let without_id = messages.iter().filter(|m| m.message_id.is_none()).count();
    println!("final {}", line(&running, started));
    println!(
        "message_ids={} duplicated_ids={duplicates} without_id={without_id}",
        ids.len()
    );
}
