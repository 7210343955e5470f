//! Limits from a file: loads a limits file (this crate's layout, or KumoMTA's
//! `shaping.toml` with `--kumo`), prints the KumoMTA keys it could not take as they
//! are, and the limits a few routes resolve to.
//!
//! Run:
//! `cargo run --features config --example config -- tests/data/config/limits.toml`
//! `cargo run --features config --example config -- --kumo tests/data/config/kumo/provider.toml someone.example@in1.mx.bigmail.example`
//!
//! Routes are given as `domain` or `domain@mx-host` after the file; without any, a
//! few are shown (gmail.com, a Google Workspace domain, yahoo.com, and the sites the
//! file names).

use std::net::IpAddr;
use std::process::ExitCode;

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

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let kumo = args.first().is_some_and(|a| a == "--kumo");
    if kumo {
        args.remove(0);
    }
    let Some(path) = args.first().cloned() else {
        eprintln!("usage: config [--kumo] FILE [domain[@mx] ...]");
        return ExitCode::FAILURE;
    };
    let loaded = if kumo {
        LimitsFile::from_kumo_file(&path).map(|(file, report)| {
            if report.is_empty() {
                println!("every KumoMTA key was taken as it is");
            } else {
                print!("{report}");
            }
            file
        })
    } else {
        LimitsFile::from_file(&path)
    };
    let file = match loaded {
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
    // Live reload of a changed file is not offered yet: when it is, this is where a
    // watcher of `path` would hand each newly read `LimitsFile` to the running limits.

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
    for (domain, mx) in routes {
        let destination = match file.sites().destination(&domain, mx.as_deref()) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{domain}: {e}");
                continue;
            }
        };
        let route = Route::new(ip, destination);
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
    ExitCode::SUCCESS
}
