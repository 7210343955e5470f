//! Feature `serde`: a message's retry state stored as JSON and read back decides as
//! before; garbage read back is an error that names what is wrong.
#![cfg(feature = "serde")]

use std::time::Duration;

use smtp_throttle::retry::{History, HistoryParts, RetryPolicy};
use smtp_throttle::{classify, Category, Reply};

fn failed(history: &mut History<Duration>, policy: &RetryPolicy, wire: &str, now: u64) {
    let c = classify(&Reply::parse(wire).unwrap());
    policy.next_retry(&c, history, Duration::from_secs(now), None);
}

#[test]
fn history_parts_round_trip_through_json() {
    let policy = RetryPolicy::builder().seed(3).build().unwrap();
    let mut history = History::new(Duration::from_secs(1_000));
    failed(
        &mut history,
        &policy,
        "451 4.7.1 Greylisting in action, please come back later",
        1_000,
    );
    failed(
        &mut history,
        &policy,
        "421 4.7.0 Try again later, closing connection.",
        1_400,
    );
    let json = serde_json::to_string(&history.parts()).unwrap();
    assert!(json.contains(r#""last_category":"rate_limited""#), "{json}");
    assert!(json.contains(r#""greylisted":1"#), "{json}");
    let parts: HistoryParts<Duration> = serde_json::from_str(&json).unwrap();
    let restored = History::from_parts(parts).unwrap();
    assert_eq!(restored, history);
}

#[test]
fn categories_are_their_snake_case_names() {
    for category in Category::ALL {
        let json = serde_json::to_string(&category).unwrap();
        assert_eq!(json, format!("\"{}\"", category.as_str()));
        assert_eq!(serde_json::from_str::<Category>(&json).unwrap(), category);
    }
}

#[test]
fn garbage_read_back_is_an_error_that_names_it() {
    let bad_category = r#"{"first_attempt":{"secs":0,"nanos":0},"attempts":1,"backoff_steps":0,
        "greylisted":0,"last_wait":null,"last_category":"rate-limited","suspended":{"secs":0,"nanos":0}}"#;
    let err = serde_json::from_str::<HistoryParts<Duration>>(bad_category).unwrap_err();
    assert!(err.to_string().contains("rate-limited"), "{err}");
    let missing = r#"{"attempts":1}"#;
    assert!(serde_json::from_str::<HistoryParts<Duration>>(missing).is_err());
    // Well-formed but impossible parts: from_parts says why.
    let impossible = r#"{"first_attempt":{"secs":0,"nanos":0},"attempts":1,"backoff_steps":0,
        "greylisted":4,"last_wait":null,"last_category":"greylisted","suspended":{"secs":0,"nanos":0}}"#;
    let parts: HistoryParts<Duration> = serde_json::from_str(impossible).unwrap();
    let err = History::from_parts(parts).unwrap_err();
    assert!(err.to_string().contains("greylisted is 4"), "{err}");
}

/// Every outcome a throttle gives, stored as JSON and read back, is the same outcome;
/// its names are strings a person can read in the store.
#[test]
fn outcomes_and_classifications_round_trip_through_json() {
    use smtp_throttle::limit::Limits;
    use smtp_throttle::route::{Destination, Route};
    use smtp_throttle::throttle::{sender_fn, Outcome, Throttle};

    let route = Route::new(
        "192.0.2.10".parse().unwrap(),
        Destination::new("example.org").unwrap(),
    );
    for (wire, kind) in [
        ("250 2.0.0 Ok: queued as 4Bk", "delivered"),
        ("450 4.2.0 <a@example.org>: Recipient address rejected: Greylisted", "deferred"),
        ("421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user complaints", "deferred"),
        ("550 5.1.1 <a@example.org>: Recipient address rejected: User unknown", "bounced"),
    ] {
        // A fresh throttle each time: a throttling reply slows the route down.
        let throttle = Throttle::new(
            Limits::builder().build().unwrap(),
            RetryPolicy::builder().seed(5).build().unwrap(),
        );
        let sender = sender_fn(move |_route, _m: &str| Ok(Reply::parse(wire).unwrap()));
        let mut history = throttle.history();
        let outcome = throttle.try_send(&sender, &route, "m", &mut history).unwrap();
        let json = serde_json::to_string(&outcome).unwrap();
        assert!(json.contains(&format!(r#""outcome":"{kind}""#)), "{json}");
        let category = outcome.classification().category;
        assert!(json.contains(&format!(r#""category":"{category}""#)), "{json}");
        assert!(json.contains(&format!(r#""rule":"{}""#, outcome.classification().rule)), "{json}");
        let back: Outcome = serde_json::from_str(&json).unwrap();
        assert_eq!(back, outcome, "{json}");
        if let Outcome::Deferred { retry_at, retry_after, .. } = back {
            assert!(retry_at > throttle.now() - Duration::from_secs(1));
            assert!(retry_after > Duration::ZERO);
        }
    }
    // A category this version does not know is an error naming it, not a default.
    let unknown = r#"{"outcome":"delivered","classification":{"category":"teleported","severity":"success","retry":false,"scope":"message","provider":null,"retry_hint":null,"rule":"x","command":null,"code":250}}"#;
    let err = serde_json::from_str::<Outcome>(unknown).unwrap_err();
    assert!(err.to_string().contains("teleported"), "{err}");
    let bad_code = unknown
        .replace("teleported", "delivered")
        .replace("250}", "999}");
    assert!(serde_json::from_str::<Outcome>(&bad_code).is_err());
}

/// Learned limits stored as JSON and read back are the same; values no limits could
/// have learned are refused with the entry and field named, and nothing is imported.
#[test]
fn learned_limits_round_trip_through_json() {
    use smtp_throttle::limit::{Learned, Limits, Rate, ScopeLimits, SiteLimits};
    use smtp_throttle::route::{Destination, Route};
    use smtp_throttle::LearnedError;

    let build = || {
        let pair = ScopeLimits::sessions(4).with_rate(Rate::per_minute(600).unwrap());
        Limits::builder()
            .site_default(SiteLimits {
                pair,
                ..SiteLimits::default()
            })
            .build()
            .unwrap()
    };
    let limits = build();
    let route = Route::new(
        "192.0.2.1".parse().unwrap(),
        Destination::new("example.org").unwrap(),
    );
    let gmail = Route::new(
        "192.0.2.1".parse().unwrap(),
        Destination::new("gmail.com").unwrap(),
    );
    for (r, wire) in [
        (&route, "421 4.7.0 Try again later, closing connection."),
        (&gmail, "421 4.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp"),
    ] {
        drop(limits.try_acquire(r));
        limits.feedback(r, &classify(&Reply::parse(wire).unwrap()));
    }
    let learned = limits.export_learned();
    assert_eq!(learned.pairs.len(), 2, "{learned:?}");
    let json = serde_json::to_string_pretty(&learned).unwrap();
    assert!(json.contains(r#""provider": "google""#), "{json}");
    assert!(json.contains(r#""named": "example.org""#), "{json}");
    let back: Learned = serde_json::from_str(&json).unwrap();
    assert_eq!(back, learned);
    let restarted = build();
    assert_eq!(restarted.import_learned(&back), Ok(2));
    assert_eq!(restarted.pair_limits(&route), limits.pair_limits(&route));
    assert!(restarted.suspended_until(&gmail).is_some());

    for (from, to, field) in [
        (r#""sessions": "#, r#""sessions": 0"#, "sessions"),
        (
            r#""refused_rate": "#,
            r#""refused_rate": -1"#,
            "refused_rate",
        ),
    ] {
        let mut bad = json.clone();
        let at = bad.find(from).expect(from);
        // Replace the value that follows the key, up to the end of its line.
        let end = at + bad[at..].find(',').unwrap();
        bad.replace_range(at..end, to);
        let bad: Learned = serde_json::from_str(&bad).unwrap();
        let fresh = build();
        match fresh.import_learned(&bad) {
            Err(LearnedError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
        assert!(fresh.is_empty(), "nothing imported from refused state");
    }
    assert!(serde_json::from_str::<Learned>(r#"{"pairs":[{"source":"not an ip"}]}"#).is_err());
}
