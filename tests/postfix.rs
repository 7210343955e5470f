//! End to end against a real Postfix (`scripts/postfix-test-server`, started by
//! `.ci/run`): `examples/postfix.rs` sends through `Throttled<SmtpSender>` with 4
//! workers; Postfix's own log proves each message was accepted exactly once.
//!
//! Configured by `SMTP_THROTTLE_POSTFIX` (the server, e.g. `127.0.0.1:2525`) and
//! `SMTP_THROTTLE_POSTFIX_LOG` (its mail log). Without them the test says so and
//! checks nothing.
#![cfg(feature = "lettre")]

mod common;

use std::collections::HashMap;
use std::process::Command;

const MESSAGES: u32 = 120;

fn fields(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

#[test]
fn throttled_lettre_against_postfix() {
    let set = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let (Some(server), Some(log)) = (
        set("SMTP_THROTTLE_POSTFIX"),
        set("SMTP_THROTTLE_POSTFIX_LOG"),
    ) else {
        eprintln!(
            "SKIPPED: no Postfix configured. Run `scripts/postfix-test-server start` and set \
             SMTP_THROTTLE_POSTFIX=127.0.0.1:2525 SMTP_THROTTLE_POSTFIX_LOG=/var/log/postfix-smtp-throttle.log"
        );
        return;
    };
    let output = Command::new(common::example_binary("postfix", &["lettre"]))
        .args([
            "--server",
            &server,
            "--count",
            &MESSAGES.to_string(),
            "--workers",
            "4",
        ])
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with("progress"))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let summary = fields(lines[0]);
    let replies = fields(lines[1]);
    println!("{}\n{}", lines[0], lines[1]);
    assert_eq!(summary["delivered"], MESSAGES.to_string());
    assert_eq!(summary["bounced"], "0");
    assert_eq!(summary["lost"], "0");

    // Postfix logs the Message-ID of every message it queued: each one exactly once.
    let run = replies["run_id"];
    let log = std::fs::read_to_string(&log).expect("the Postfix log is readable");
    for id in 0..MESSAGES {
        let needle = format!("message-id=<{run}.{id}@smtp-throttle.test>");
        let count = log.matches(&needle).count();
        assert_eq!(count, 1, "message {id} queued {count} times");
    }

    // Every first attempt was greylisted (fresh recipients), retried, and delivered.
    let greylisted: u32 = replies["greylisted"].parse().unwrap();
    assert!(greylisted >= MESSAGES, "greylisted {greylisted}");

    // The throttle learned Postfix's limits (2 connections, 20 messages per 10 s).
    // Bound: 8 refusals take the session cap from 10 to 2 and ~6 take the rate from
    // 100/s to 2/s; the ramp-ups that follow re-probe a few times a minute over a run
    // of about 90 s. 60 leaves room for scheduling noise; sending the same messages
    // with --naive draws tens of thousands.
    let refusals: u32 = replies["replies_421"].parse::<u32>().unwrap()
        + replies["replies_450"].parse::<u32>().unwrap();
    assert!(
        refusals <= 60,
        "{refusals} 421/450 replies: the throttle did not learn the limits"
    );
}
