//! A campaign of 1 000 000 messages to 50 000 domains from 4 IPs, sent three ways on a
//! virtual clock: `naive` (no limits, retry at once), `fixed` (static limits, 5-minute
//! retries, no feedback) and `throttle` (this crate). Receivers have hidden limits and
//! answer with real reply texts, so the whole path — reply → classify → feedback →
//! retry — runs as in production. Seeded: the same seed gives the same figures.
//!
//! Run: `cargo run --release --example simulate` (`-- --help` for the flags).
//!
//! Prints a table and one line per policy,
//! `policy=NAME delivered=N bounced=N deferrals=N blocks=N drain_ratio=X wall_s=X`,
//! and writes an SVG chart of deliveries per minute per provider
//! (`target/simulate.svg` by default).
//!
//! The receivers (see `world.rs`): Google, Microsoft, Yahoo/AOL, Apple and Comcast with
//! per-IP message rates (token buckets) and connection caps, plus one Postfix server
//! per long-tail domain (30–120 a minute, 5 or 10 connections, 30 % greylisting for
//! 300 s as postgrey does). Every refusal is a strike; strikes fade at one per 10 s; a
//! receiver that counts too many (40–100) blocks the IP for a day with its 5.7.x
//! block reply. 2 % of recipients are unknown, 0.3 % permanently over quota, 0.5 %
//! over quota for 10–60 minutes; one send in 1000 meets a busy server and one in
//! 2000 a lost connection.

mod chart;
mod engine;
mod peers;
mod policy;
mod replies;
mod scenario;
mod world;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use engine::{Report, HORIZON};
use peers::{Kumo, Postfix};
use policy::{Adaptive, Fixed, Naive};
use world::{Campaign, Client, Ms, World, HOUR, MINUTE};

const USAGE: &str = "\
usage: simulate [--scenario NAME|FILE.toml] [--messages N] [--domains N] [--ips N]
                [--seed N] [--policy LIST] [--out FILE.svg|none] [--quiet]

  --scenario S   a built-in scenario (default, anvil, hourly-caps, tarpit,
                 reputation-drop, strict-penalty, greylist-heavy) or a TOML file
  --messages N   messages in the campaign (default: the scenario's)
  --domains N    recipient domains (default: the scenario's)
  --ips N        sending IPs (default: the scenario's)
  --seed N       campaign and jitter seed (default: the scenario's)
  --policy LIST  policies to run, comma-separated, of naive, fixed, postfix,
                 kumomta, throttle (default all five)
  --out FILE     the SVG chart (default target/simulate.svg; `none` for no chart)
  --quiet        no progress bars";

/// Every policy, in the table's order.
const POLICIES: [&str; 5] = ["naive", "fixed", "postfix", "kumomta", "throttle"];

struct Options {
    scenario: String,
    messages: Option<usize>,
    domains: Option<usize>,
    ips: Option<usize>,
    seed: Option<u64>,
    policies: Vec<String>,
    out: Option<PathBuf>,
    quiet: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        scenario: "default".into(),
        messages: None,
        domains: None,
        ips: None,
        seed: None,
        policies: POLICIES.iter().map(|p| p.to_string()).collect(),
        out: Some(PathBuf::from("target/simulate.svg")),
        quiet: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--quiet" {
            o.quiet = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |value: &str| {
            value
                .replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--scenario" => o.scenario = value,
            "--messages" => o.messages = Some(number(&value)? as usize),
            "--domains" => o.domains = Some(number(&value)? as usize),
            "--ips" => o.ips = Some(number(&value)? as usize),
            "--seed" => o.seed = Some(number(&value)?),
            "--policy" => {
                o.policies = value.split(',').map(|p| p.trim().to_string()).collect();
                if let Some(bad) = o.policies.iter().find(|p| !POLICIES.contains(&p.as_str())) {
                    return Err(format!("unknown policy {bad:?} ({})", POLICIES.join(", ")));
                }
            }
            "--out" => o.out = (value != "none").then(|| PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

fn hours(ms: Ms) -> String {
    format!("{}h{:02}m", ms / HOUR, ms % HOUR / MINUTE)
}

/// Runs one policy on its own world, reporting progress on `bar`.
fn simulate(campaign: &Campaign, name: &str, bar: &ProgressBar) -> Result<Report, String> {
    let world = World::new(campaign);
    let client = Client(&world);
    let progress = |done: u64, now: Ms| {
        bar.set_position(done);
        bar.set_message(format!("virtual {}", hours(now)));
    };
    let report = match name {
        "naive" => engine::run(&world, &Naive { client }, &progress),
        "fixed" => engine::run(&world, &Fixed::new(client)?, &progress),
        "postfix" => engine::run(&world, &Postfix::new(client), &progress),
        "kumomta" => engine::run(&world, &Kumo::new(client), &progress),
        _ => {
            let policy = Adaptive::new(client, campaign.seed)?;
            let report = engine::run(&world, &policy, &progress);
            let alerts = policy.throttle.drain_alerts().len();
            bar.println(format!("throttle: {alerts} alerts raised"));
            report
        }
    };
    bar.finish_with_message(format!("done in {:.1} s", report.wall.as_secs_f64()));
    Ok(report)
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("simulate: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let campaign = match scenario::load(&o.scenario).and_then(|mut s| {
        let c = &mut s.campaign;
        c.messages = o.messages.unwrap_or(c.messages);
        c.domains = o.domains.unwrap_or(c.domains);
        c.ips = o.ips.unwrap_or(c.ips);
        c.seed = o.seed.unwrap_or(c.seed);
        Campaign::new(&s)
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("simulate: {e}");
            return ExitCode::from(2);
        }
    };
    let deliverable = campaign.deliverable() as u64;
    let ideal = campaign.ideal().max(1);
    let messages = campaign.messages.len();
    println!("{}: {}", campaign.name, campaign.description);
    println!(
        "campaign scenario={} messages={messages} domains={} ips={} seed={} deliverable={deliverable} ideal_s={}",
        campaign.name,
        campaign.domains,
        campaign.ips.len(),
        campaign.seed,
        ideal / 1000
    );

    let bars = MultiProgress::with_draw_target(if o.quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos:>8}/{len} {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    // Policies run side by side, each on its own thread, world and clock.
    let results: Vec<Result<Report, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = o
            .policies
            .iter()
            .map(|name| {
                let bar = bars.add(ProgressBar::new(messages as u64));
                bar.set_style(style.clone());
                bar.set_prefix(name.clone());
                let campaign = &campaign;
                scope.spawn(move || simulate(campaign, name, &bar))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a simulation panicked".into()))
            })
            .collect()
    });
    let mut reports = Vec::new();
    for result in results {
        match result {
            Ok(report) => reports.push(report),
            Err(e) => {
                eprintln!("simulate: {e}");
                return ExitCode::FAILURE;
            }
        }
    }

    let total = messages as f64;
    println!(
        "\n{:<9} {:>17} {:>16} {:>10} {:>9} {:>7} {:>8} {:>8} {:>6} {:>7}",
        "policy",
        "delivered",
        "bounced",
        "deferrals",
        "per msg",
        "blocks",
        "drain",
        "ideal",
        "ratio",
        "wall"
    );
    let drain = |r: &Report| if r.queued > 0 { HORIZON } else { r.drain };
    for r in &reports {
        println!(
            "{:<9} {:>8} ({:>5.1} %) {:>7} ({:>5.1} %) {:>10} {:>9.2} {:>7} {:>8} {:>8} {:>6.2} {:>6.1}s",
            r.policy,
            r.delivered,
            100.0 * r.delivered as f64 / total,
            r.bounced,
            100.0 * r.bounced as f64 / total,
            r.deferrals,
            r.deferrals as f64 / r.delivered.max(1) as f64,
            r.blocks,
            hours(drain(r)),
            hours(ideal),
            drain(r) as f64 / ideal as f64,
            r.wall.as_secs_f64()
        );
        if r.queued > 0 {
            println!(
                "          {} messages still queued after {}",
                r.queued,
                hours(HORIZON)
            );
        }
    }
    println!();
    for r in &reports {
        println!(
            "policy={} delivered={} bounced={} deferrals={} blocks={} drain_ratio={:.2} wall_s={:.2}",
            r.policy,
            r.delivered,
            r.bounced,
            r.deferrals,
            r.blocks,
            drain(r) as f64 / ideal as f64,
            r.wall.as_secs_f64()
        );
    }
    // `SIM_CLASSES=1`: when each provider class finished, and its deliveries.
    if std::env::var_os("SIM_CLASSES").is_some() {
        for r in &reports {
            let [rate, window, connections, connects] = r.refusals;
            println!(
                "refusals policy={} rate={rate} window={window} connections={connections} connects={connects}",
                r.policy
            );
            for (c, name) in campaign.classes.iter().enumerate() {
                let total: u64 = r.per_minute.iter().map(|m| u64::from(m[c])).sum();
                let last = r.per_minute.iter().rposition(|m| m[c] > 0).unwrap_or(0);
                let half = {
                    let mut seen = 0;
                    r.per_minute
                        .iter()
                        .position(|m| {
                            seen += u64::from(m[c]);
                            seen * 2 >= total
                        })
                        .unwrap_or(0)
                };
                println!(
                    "class policy={} {name} delivered={total} half_at_min={half} last_min={last}",
                    r.policy
                );
            }
        }
    }
    // `SIM_TAIL=1`: the last messages settled, their receiver class and fate.
    if std::env::var_os("SIM_TAIL").is_some() {
        for r in &reports {
            for (at, id) in &r.last {
                let m = campaign.messages[*id as usize];
                let class = &campaign.classes[campaign.receivers[m.receiver as usize].class];
                let h = &campaign.receivers[m.receiver as usize].hidden;
                println!(
                    "tail policy={} t={} {class} {:?} receiver={} ip={} {h:?}",
                    r.policy,
                    hours(*at),
                    m.fate,
                    m.receiver,
                    m.ip,
                );
            }
        }
    }
    // `SIM_TRACE=CLASS`: that class's deliveries per 10 minutes.
    if let Some(class) = std::env::var_os("SIM_TRACE") {
        let class = class.to_string_lossy();
        if let Some(c) = campaign.classes.iter().position(|n| *n == class) {
            for r in &reports {
                let tens: Vec<String> = r
                    .per_minute
                    .chunks(10)
                    .map(|m| m.iter().map(|m| m[c]).sum::<u32>().to_string())
                    .collect();
                println!(
                    "trace policy={} {class} per10min={}",
                    r.policy,
                    tens.join(",")
                );
            }
        }
    }
    if let Some(path) = o.out {
        let until = reports
            .iter()
            .map(drain)
            .max()
            .unwrap_or(HOUR)
            .clamp(HOUR, 12 * HOUR);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("simulate: {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        match chart::draw(&path, &reports, &campaign.classes, until) {
            Ok(()) => println!("chart: {}", path.display()),
            Err(e) => {
                eprintln!("simulate: chart {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
