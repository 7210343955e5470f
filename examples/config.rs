//! Limits from a file: loads a limits file (this crate's layout, or KumoMTA's
//! `shaping.toml` with `--kumo`), prints the KumoMTA keys it could not take as they
//! are, and the limits a few routes resolve to. Then, with `--reload NEW` or
//! `--watch`, it changes the limits while a sender runs on the first route and prints
//! them moving: the route's state (open sessions, spent cells) carries over.
//!
//! Run:
//! `cargo run --features config --example config -- tests/data/config/limits.toml`
//! `cargo run --features config --example config -- --kumo tests/data/config/kumo/provider.toml someone.example@in1.mx.bigmail.example`
//! `cargo run --features config --example config -- tests/data/config/live.toml --reload tests/data/config/live-slower.toml example.net`
//! `cargo run --features config --example config -- my-limits.toml --watch acme.example` (edit the file while it runs; Ctrl-C ends)
//!
//! Routes are given as `domain` or `domain@mx-host` after the file; without any, a
//! few are shown (gmail.com, a Google Workspace domain, yahoo.com, and the sites the
//! file names). `--reload NEW` sends for 4 s and swaps in `NEW` after 2 s; `--watch`
//! sends until interrupted and reloads the file whenever it changes on disk.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use governor::clock::Clock;
use smtp_throttle::config::LimitsFile;
use smtp_throttle::limit::{Limits, Rate, ScopeLimits};
use smtp_throttle::route::{Route, Site};

fn rate(rate: Option<Rate>) -> String {
    rate.map_or_else(
        || "unlimited".to_owned(),
        |r| format!("{}/{:?} (burst {})", r.count(), r.per(), r.burst()),
    )
}

fn scope(limits: ScopeLimits) -> String {
    let sessions = limits
        .sessions
        .map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    format!("rate {}, sessions {sessions}", rate(limits.rate))
}

/// How the limits change while the sender runs.
enum Live {
    /// Swap in this file halfway through a run of 4 s.
    Reload(String),
    /// Reload the file whenever it changes on disk, until interrupted.
    Watch,
}

/// Reads a limits file in either layout, printing KumoMTA's report.
fn load(path: &str, kumo: bool) -> Result<LimitsFile, String> {
    let loaded = if kumo {
        LimitsFile::from_kumo_file(path).map(|(file, report)| {
            if report.is_empty() {
                println!("every KumoMTA key was taken as it is");
            } else {
                print!("{report}");
            }
            file
        })
    } else {
        LimitsFile::from_file(path)
    };
    loaded.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let kumo = args.first().is_some_and(|a| a == "--kumo");
    if kumo {
        args.remove(0);
    }
    let mut live = None;
    if let Some(i) = args.iter().position(|a| a == "--watch") {
        args.remove(i);
        live = Some(Live::Watch);
    }
    if let Some(i) = args.iter().position(|a| a == "--reload") {
        if i + 1 >= args.len() {
            eprintln!("--reload needs a file");
            return ExitCode::FAILURE;
        }
        args.remove(i);
        live = Some(Live::Reload(args.remove(i)));
    }
    let Some(path) = args.first().cloned() else {
        eprintln!("usage: config [--kumo] FILE [--reload NEW | --watch] [domain[@mx] ...]");
        return ExitCode::FAILURE;
    };
    let file = match load(&path, kumo) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let limits = match file.apply(Limits::builder()).build() {
        Ok(limits) => limits,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut routes: Vec<(String, Option<String>)> = args[1..]
        .iter()
        .map(|a| match a.split_once('@') {
            Some((domain, mx)) => (domain.to_owned(), Some(mx.to_owned())),
            None => (a.clone(), None),
        })
        .collect();
    if routes.is_empty() {
        routes.push(("gmail.com".into(), None));
        routes.push(("corp.example".into(), Some("aspmx.l.google.com".into())));
        routes.push(("yahoo.com".into(), None));
        for site in file.limited_sites() {
            if let Site::Named(name) = site {
                routes.push((name.to_string(), None));
            }
        }
    }
    let ip: IpAddr = "192.0.2.10".parse().expect("a literal IP address");
    let mut first = None;
    for (domain, mx) in routes {
        let destination = match file.sites().destination(&domain, mx.as_deref()) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{domain}: {e}");
                continue;
            }
        };
        let route = Route::new(ip, destination);
        first.get_or_insert_with(|| route.clone());
        let site = limits.site_limits(route.site());
        let per_session = site
            .deliveries_per_session
            .map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
        println!(
            "{domain}{} -> site {}: per IP {}; whole site {}; {per_session} messages per session",
            mx.map(|m| format!(" (MX {m})")).unwrap_or_default(),
            route.site(),
            scope(site.pair),
            scope(site.site),
        );
    }
    match (live, first) {
        (Some(live), Some(route)) => run_live(&limits, &route, &path, kumo, live),
        (Some(_), None) => {
            eprintln!("no route to send on");
            ExitCode::FAILURE
        }
        (None, _) => ExitCode::SUCCESS,
    }
}

/// The route's rate and session cap as the limits hold them now.
fn pair(limits: &Limits, route: &Route) -> String {
    let (interval, sessions) = limits.pair_limits(route);
    let rate = interval.map_or_else(
        || "unlimited".to_owned(),
        |i| format!("{:.1}/s", 1.0 / i.as_secs_f64()),
    );
    let sessions = sessions.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    format!("rate {rate}, sessions {sessions}")
}

/// One sender on `route` (one session, as many messages as the limits let through)
/// while the limits are changed under it; prints the messages per half second.
fn run_live(limits: &Limits, route: &Route, path: &str, kumo: bool, live: Live) -> ExitCode {
    let sent = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    let modified = |p: &str| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen: Option<SystemTime> = modified(path);
    let started = Instant::now();
    println!(
        "sending to {} on one session: {}",
        route.site(),
        pair(limits, route)
    );
    let mut failed = false;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut session = None;
            while !stop.load(Ordering::Relaxed) {
                let permit = match session.take() {
                    Some(p) => Ok(p),
                    None => limits.try_acquire(route),
                };
                let wait = match permit {
                    Ok(mut p) => match p.try_message() {
                        Ok(()) => {
                            sent.fetch_add(1, Ordering::Relaxed);
                            session = Some(p);
                            continue;
                        }
                        Err(wait) => {
                            session = Some(p);
                            wait
                        }
                    },
                    Err(wait) => wait,
                };
                let left = wait.wait_time_from(limits.clock().now());
                std::thread::sleep(left.clamp(Duration::from_millis(1), Duration::from_millis(50)));
            }
        });
        let mut reloaded = false;
        for tick in 1u32.. {
            std::thread::sleep(Duration::from_millis(500));
            let elapsed = started.elapsed().as_secs_f64();
            println!(
                "{elapsed:>5.1} s  {:>3} messages in the last 0.5 s  ({})",
                sent.swap(0, Ordering::Relaxed),
                pair(limits, route)
            );
            let next = match &live {
                Live::Reload(new) if tick == 4 && !reloaded => {
                    reloaded = true;
                    Some(new.clone())
                }
                Live::Reload(_) if tick >= 8 => break,
                Live::Reload(_) => None,
                Live::Watch => {
                    let now = modified(path);
                    (now != seen).then(|| {
                        seen = now;
                        path.to_owned()
                    })
                }
            };
            let Some(next) = next else { continue };
            // A file that does not read or check is reported; the limits in force stay.
            match load(&next, kumo).and_then(|file| {
                limits
                    .reconfigure(file.apply(Limits::builder()))
                    .map_err(|e| e.to_string())
            }) {
                Ok(()) => println!("reloaded {next}: {}", pair(limits, route)),
                Err(e) => {
                    eprintln!("{next}: {e} (the limits stay as they were)");
                    failed = matches!(live, Live::Reload(_));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
