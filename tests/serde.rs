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
