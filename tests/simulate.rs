//! `examples/simulate` on small campaigns (40 000 messages, 2000 domains): the issue's
//! targets (no block, every deliverable message, drain within 1.5 × the ideal, 1.25 ×
//! in the default world) and the ordering against the peers in every built-in
//! scenario, the same numbers for the same seed, and scenario files with mistakes
//! refused.

mod common;

use std::collections::HashMap;
use std::process::Command;

/// Runs the default scenario's reduced campaign with `seed`.
fn simulate(
    seed: &str,
) -> (
    HashMap<String, String>,
    HashMap<String, HashMap<String, String>>,
) {
    simulate_scenario("default", seed)
}

/// Runs the simulator; the campaign line's and each policy line's `key=value` pairs.
fn simulate_scenario(
    scenario: &str,
    seed: &str,
) -> (
    HashMap<String, String>,
    HashMap<String, HashMap<String, String>>,
) {
    let path = common::example_binary("simulate", &[]);
    let out = Command::new(path)
        .args([
            "--scenario",
            scenario,
            "--messages",
            "40000",
            "--domains",
            "2000",
            "--seed",
            seed,
            "--quiet",
            "--out",
            "none",
        ])
        .output()
        .expect("the simulator runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let pairs = |line: &str| -> HashMap<String, String> {
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let campaign = text
        .lines()
        .find(|l| l.starts_with("campaign "))
        .map(pairs)
        .expect("a campaign line");
    let policies = text
        .lines()
        .filter(|l| l.starts_with("policy="))
        .map(pairs)
        .map(|p| (p["policy"].clone(), p))
        .collect();
    (campaign, policies)
}

fn number(p: &HashMap<String, String>, key: &str) -> f64 {
    p[key]
        .parse()
        .unwrap_or_else(|e| panic!("{key}={}: {e}", p[key]))
}

#[test]
fn the_throttle_delivers_everything_deliverable_without_blocks() {
    let (campaign, policies) = simulate("7");
    let keys = [
        "policy",
        "delivered",
        "bounced",
        "deferrals",
        "blocks",
        "drain_ratio",
        "wall_s",
    ];
    for p in policies.values() {
        let mut got: Vec<&str> = p.keys().map(String::as_str).collect();
        got.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "summary line keys");
    }
    let (naive, fixed, throttle) = (
        &policies["naive"],
        &policies["fixed"],
        &policies["throttle"],
    );
    assert!(policies.contains_key("postfix") && policies.contains_key("kumomta"));
    let deliverable = number(&campaign, "deliverable");
    assert_eq!(
        number(throttle, "blocks"),
        0.0,
        "the throttle triggers no block"
    );
    assert_eq!(
        number(throttle, "delivered"),
        deliverable,
        "all deliverable mail"
    );
    assert_eq!(
        number(throttle, "delivered") + number(throttle, "bounced"),
        40_000.0,
        "nothing lost or left queued"
    );
    // The target for the default world: within 1.25 × the ideal (full
    // mailboxes are retried every 15–18 minutes, the big lanes held near their rate).
    assert!(number(throttle, "drain_ratio") <= 1.25, "{throttle:?}");
    assert!(
        number(naive, "blocks") > 0.0,
        "naive sending gets blocked: {naive:?}"
    );
    assert!(
        number(fixed, "blocks") > 0.0,
        "fixed limits above the receivers' too"
    );
    assert!(number(naive, "delivered") < number(throttle, "delivered"));
    assert!(number(fixed, "delivered") < number(throttle, "delivered"));
}

#[test]
fn the_same_seed_gives_the_same_numbers() {
    let strip = |mut p: HashMap<String, HashMap<String, String>>| {
        for line in p.values_mut() {
            line.remove("wall_s");
        }
        p
    };
    let (campaign_a, a) = simulate("11");
    let (campaign_b, b) = simulate("11");
    assert_eq!(campaign_a, campaign_b);
    assert_eq!(strip(a), strip(b));
    let (campaign_c, _) = simulate("12");
    assert_ne!(campaign_a["deliverable"], campaign_c["deliverable"]);
}

#[test]
fn bad_flags_are_refused() {
    let path = common::example_binary("simulate", &[]);
    for args in [
        &["--policy", "greedy"][..],
        &["--messages", "0"],
        &["--domains", "3"],
        &["--ips", "0"],
        &["--seed", "x"],
        &["--frobnicate", "1"],
        &["--messages"],
    ] {
        let out = Command::new(&path).args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

/// (blocks, then drain): fewer blocks first, then the shorter drain.
fn rank(p: &HashMap<String, String>) -> (f64, f64) {
    (number(p, "blocks"), number(p, "drain_ratio"))
}

#[test]
fn in_every_built_in_scenario_the_throttle_is_ahead_of_postfix_and_kumomta() {
    for scenario in [
        "default",
        "anvil",
        "hourly-caps",
        "tarpit",
        "reputation-drop",
        "strict-penalty",
        "greylist-heavy",
    ] {
        let (campaign, policies) = simulate_scenario(scenario, "3");
        assert_eq!(campaign["scenario"], scenario);
        let throttle = &policies["throttle"];
        for peer in ["postfix", "kumomta"] {
            let peer = &policies[peer];
            assert!(
                rank(throttle) < rank(peer),
                "{scenario}: throttle {throttle:?} not ahead of {peer:?}"
            );
        }
        assert!(
            number(throttle, "delivered") >= number(&policies["postfix"], "delivered"),
            "{scenario}"
        );
        // The targets in every built-in world: no block, every deliverable
        // message, within 1.5 × the ideal (1.25 × in the default one).
        assert_eq!(number(throttle, "blocks"), 0.0, "{scenario}: {throttle:?}");
        assert_eq!(
            number(throttle, "delivered"),
            number(&campaign, "deliverable"),
            "{scenario}: every deliverable message"
        );
        let most = if scenario == "default" { 1.25 } else { 1.5 };
        assert!(
            number(throttle, "drain_ratio") <= most,
            "{scenario}: {throttle:?}"
        );
    }
}

#[test]
fn scenario_files_with_mistakes_are_refused_naming_the_field() {
    let path = common::example_binary("simulate", &[]);
    let dir = std::env::temp_dir().join(format!("simulate-scenarios-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let good = include_str!("../examples/simulate/scenarios/anvil.toml");
    for (name, text, says) in [
        (
            "unknown-field",
            good.replace("service_ms = 300", "service_ms = 300, sevrice = 1"),
            "sevrice",
        ),
        (
            "zero-connections",
            good.replace("connections = 2,", "connections = 0,"),
            "connections",
        ),
        (
            "shares",
            good.replace("tail_share = 0.55", "tail_share = 0.9"),
            "add up to 1",
        ),
        (
            "bad-reply",
            good.replace(
                "replies = { base = \"postfix\" }",
                "replies = { base = \"postfix\", window = \"too much mail\" }",
            ),
            "replies.window",
        ),
        ("not-toml", "name = ".to_string(), "TOML"),
    ] {
        assert_ne!(text, good, "{name}: the mistake was put in");
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, &text).expect("written");
        let out = Command::new(&path)
            .args(["--scenario"])
            .arg(&file)
            .args(["--messages", "100", "--quiet", "--out", "none"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
    let out = Command::new(&path)
        .args(["--scenario", "no-such-scenario"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("built-in scenarios"));
    std::fs::remove_dir_all(&dir).ok();
}
