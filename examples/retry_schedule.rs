//! Prints the retry schedules side by side, then what greylisting, a server hint, a
//! route suspension and a full mailbox do to one message's next retry.
//!
//! Run: `cargo run --release --example retry_schedule`

use std::time::Duration;

use smtp_throttle::retry::{History, Jitter, RetryDecision, RetryPolicy};
use smtp_throttle::{classify, Classification, Reply};

const ATTEMPTS: usize = 16;

fn main() {
    let presets = [
        (
            "standard",
            RetryPolicy::builder().jitter(Jitter::None).seed(1).build(),
        ),
        ("postfix", Ok(RetryPolicy::postfix())),
        ("exim", Ok(RetryPolicy::exim())),
        ("rfc5321", Ok(RetryPolicy::rfc5321())),
    ];
    let mut columns = Vec::new();
    for (name, policy) in presets {
        match policy {
            Ok(policy) => columns.push((name, policy)),
            Err(e) => {
                eprintln!("{name}: {e}");
                std::process::exit(1);
            }
        }
    }

    println!("Time of each retry after the first attempt (h:mm), waits in brackets:\n");
    print!("{:>7}", "retry");
    for (name, _) in &columns {
        print!("  {name:>22}");
    }
    println!();
    let schedules: Vec<Vec<Duration>> = columns
        .iter()
        .map(|(_, p)| p.schedule().collect())
        .collect();
    for n in 0..ATTEMPTS {
        print!("{:>7}", n + 1);
        for waits in &schedules {
            match waits.get(n) {
                Some(wait) => {
                    let at: Duration = waits[..=n].iter().sum();
                    print!("  {:>22}", format!("{} ({})", clock(at), short(*wait)));
                }
                None => print!("  {:>22}", "-"),
            }
        }
        println!();
    }
    print!("{:>7}", "total");
    for waits in &schedules {
        print!("  {:>22}", format!("{} retries", waits.len()));
    }
    println!("\n{:>7}", "");

    let policy = RetryPolicy::builder().seed(42).build().unwrap_or_default();
    let t0 = Duration::ZERO;
    let case = |title: &str, wire: &str, suspended: Option<Duration>| {
        let classification = match Reply::parse(wire) {
            Ok(reply) => classify(&reply),
            Err(e) => {
                println!("{title}: {e}");
                return;
            }
        };
        let mut history = History::new(t0);
        describe(
            title,
            wire,
            &classification,
            policy.next_retry(&classification, &mut history, t0, suspended),
        );
    };
    case(
        "greylisted (postgrey waits 300 s)",
        "450 4.2.0 <user@example.org>: Recipient address rejected: Greylisted",
        None,
    );
    case(
        "server hint",
        "451 4.7.1 Greylisting in action, please come back in 00:05:00",
        None,
    );
    case(
        "Yahoo deferral (documented 4 h)",
        "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints",
        None,
    );
    case(
        "rate limited, route suspended 2 h",
        "421 4.7.0 Try again later, closing connection.",
        Some(Duration::from_secs(2 * 3600)),
    );
    case(
        "mailbox full (every 15–18 min for 8 attempts: recipient_retry)",
        "452 4.2.2 The email account that you tried to reach is over quota.",
        None,
    );
    case("final reply", "550 5.1.1 User unknown", None);
}

fn describe(title: &str, wire: &str, c: &Classification, decision: RetryDecision<Duration>) {
    println!("{title}\n  {wire}\n  -> {} / rule {}", c.category, c.rule);
    match decision {
        RetryDecision::RetryAt { at, .. } => println!("  -> retry at +{}\n", clock(at)),
        RetryDecision::GiveUp(why) => println!("  -> give up: {why}\n"),
    }
}

/// `h:mm` (and seconds when not whole minutes).
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s % 60 == 0 {
        format!("{}:{:02}", s / 3600, s / 60 % 60)
    } else {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{}m{:02}s", s / 60, s % 60),
    }
}
