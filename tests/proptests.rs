//! Property tests: no input panics `parse` or `classify`, and what parses writes back to
//! wire form that parses to the same reply.

use proptest::prelude::*;
use smtp_throttle::classify::Severity;
use smtp_throttle::{classify, Reply};

fn check(reply: &Reply) {
    let c = classify(reply);
    assert_eq!(c.severity, Severity::of_class(reply.code().class()));
    if !c.retry {
        assert!(c.retry_hint.is_none());
    }
    let wire = reply.to_string();
    let again = Reply::parse(&wire).unwrap_or_else(|e| panic!("{wire:?} does not parse back: {e}"));
    assert_eq!(&again, reply, "round trip of {wire:?}");
}

/// Lines that look like SMTP, with enough noise to reach the parser's edges.
fn smtp_like() -> impl Strategy<Value = String> {
    let code = prop_oneof![
        Just("421"),
        Just("450"),
        Just("550"),
        Just("250"),
        Just("999"),
        Just("42")
    ];
    let sep = prop_oneof![Just(" "), Just("-"), Just(""), Just("\t"), Just("x")];
    let esc = prop_oneof![
        Just(""),
        Just("4.7.0 "),
        Just("5.1.1 "),
        Just("6.0.0 "),
        Just("4.7 "),
        Just("#5.1.0 ")
    ];
    let text = "[ -~\u{e9}\u{fffd}]{0,40}";
    let line = (code, sep, esc, text).prop_map(|(c, s, e, t)| format!("{c}{s}{e}{t}"));
    let eol = prop_oneof![Just("\r\n"), Just("\n"), Just("")];
    prop::collection::vec((line, eol), 1..6)
        .prop_map(|lines| lines.into_iter().map(|(l, e)| format!("{l}{e}")).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(reply) = Reply::parse(&bytes) {
            check(&reply);
        }
    }

    #[test]
    fn smtp_like_input_never_panics(input in smtp_like()) {
        if let Ok(reply) = Reply::parse(&input) {
            check(&reply);
        }
    }

    #[test]
    fn from_parts_never_panics(code in 0u16..1000, text in "\\PC{0,200}") {
        if let Ok(reply) = Reply::from_parts(code, None, &text) {
            check(&reply);
        }
    }

    #[test]
    fn long_texts_classify(repeat in 1usize..60, word in "[xyz ]{1,12}") {
        let text = format!("550 5.7.1 {} too many connections", word.repeat(repeat * 10));
        if let Ok(reply) = Reply::parse(&text) {
            // A phrase far past the first matching window is still found.
            let c = classify(&reply);
            prop_assert_eq!(c.category.as_str(), "too_many_connections");
        }
    }
}
