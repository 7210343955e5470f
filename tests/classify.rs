//! Behaviour of `classify` on the cases users ask about.

use std::time::Duration;

use smtp_throttle::classify::Severity;
use smtp_throttle::{classify, Category, ParseError, Provider, Reply, Scope};

fn c(wire: &str) -> smtp_throttle::Classification {
    classify(&Reply::parse(wire).unwrap_or_else(|e| panic!("{wire}: {e}")))
}

#[test]
fn bad_input_is_a_typed_error_never_a_panic() {
    assert_eq!(Reply::parse(""), Err(ParseError::Empty));
    assert!(matches!(
        Reply::parse("x".repeat(100_000)),
        Err(ParseError::TooLong { len: 100_000, .. })
    ));
    assert!(matches!(
        Reply::parse(format!("550 {}", "y".repeat(100_000))),
        Err(ParseError::TooLong { .. })
    ));
    assert_eq!(
        Reply::parse("999 Something"),
        Err(ParseError::InvalidCode { code: 999 })
    );
    assert_eq!(
        "4.7".parse::<smtp_throttle::reply::EnhancedCode>(),
        Err(ParseError::InvalidEnhancedCode { text: "4.7".into() })
    );
    assert!(Reply::from_parts(999, None, "x").is_err());
}

#[test]
fn odd_enhanced_codes_are_text_and_classify_by_class() {
    // "6.0.0" and "4.7" are not enhanced codes: they stay in the text, and the reply is
    // classified by its words and basic code.
    let c1 = c("550 6.0.0 Something odd");
    assert_eq!(
        (c1.category, c1.retry, c1.rule.as_str()),
        (Category::Other, false, "default")
    );
    let c2 = c("450 4.7 Something odd");
    assert_eq!((c2.category, c2.retry), (Category::Other, true));
}

#[test]
fn success_and_intermediate_replies_are_never_retried() {
    let ok = c("250 2.0.0 Ok: queued as 4Xk9F2");
    assert_eq!(
        (ok.severity, ok.retry, ok.category),
        (Severity::Success, false, Category::Other)
    );
    let go = c("354 End data with <CR><LF>.<CR><LF>");
    assert_eq!((go.severity, go.retry), (Severity::Intermediate, false));
    // Rules judge only failures, even when a success text holds their words.
    let odd = c("250 2.0.0 too many connections? no, accepted");
    assert_eq!(odd.rule, "default");
}

#[test]
fn the_reply_code_decides_when_the_enhanced_class_disagrees() {
    // As Postfix's SMTP client does: a 4xx is a temporary failure whatever class its
    // enhanced code gives, and retried unless its words say a retry cannot succeed.
    let r = Reply::parse("421 5.3.5 The submission binary must not be started from inetd, use submission-login instead.").unwrap();
    assert!(r.enhanced_mismatch() && r.is_transient());
    let cl = classify(&r);
    assert_eq!((cl.severity, cl.retry), (Severity::Transient, true));
    // Microsoft's STARTTLS demand is not retried: the sender must turn TLS on first.
    let tls = c("451 5.7.3 STARTTLS is required to send mail");
    assert_eq!((tls.severity, tls.retry), (Severity::Transient, false));
    assert_eq!(tls.category, Category::TlsRequired);
}

#[test]
fn retry_hints_from_text_and_provider() {
    assert_eq!(
        c("450 4.2.1 Message was greylisted, try again in 51 seconds; see https://forwardemail.net/faq").retry_hint,
        Some(Duration::from_secs(51))
    );
    assert_eq!(
        c("421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1").retry_hint,
        Some(Duration::from_secs(4 * 3600))
    );
    // A final answer carries no hint even when its text names a wait.
    assert_eq!(
        c("550 5.1.1 User unknown, try again in 5 minutes").retry_hint,
        None
    );
}

#[test]
fn provider_and_scope() {
    let g = c("421-4.7.28 Our system has detected an unusual rate of\n421 4.7.28 unsolicited mail originating from your IP address. - gsmtp");
    assert_eq!(g.provider, Some(Provider::Google));
    assert_eq!(g.scope, Scope::SourceIp);
    let m = c("451 4.7.500 Server busy. Please try again later from [203.0.113.9]. (S77719) [BN8NAM12FT055.eop-nam12.prod.protection.outlook.com]");
    assert_eq!(
        (m.category, m.provider),
        (Category::RateLimited, Some(Provider::Microsoft))
    );
    let u = c("550 5.1.1 <user@example.com>: Recipient address rejected: User unknown");
    assert_eq!(u.scope, Scope::Recipient);
    assert_eq!(
        c("421 4.7.0 mx Error: too many connections from 192.0.2.1").scope,
        Scope::Connection
    );
}

#[test]
fn phrases_match_across_line_breaks_and_case() {
    let r = c("550-5.7.1 [192.0.2.22 18] Our system has detected that this message is\n550-5.7.1 likely suspicious due to the very low REPUTATION of the sending IP\n550 5.7.1 address.");
    assert_eq!(r.category, Category::Reputation);
    let wrapped = c("421-4.7.0 too many\r\n421 4.7.0 connections");
    assert_eq!(wrapped.category, Category::TooManyConnections);
}

#[test]
fn category_names_round_trip() {
    for cat in Category::ALL {
        assert_eq!(cat.as_str().parse::<Category>(), Ok(cat));
    }
    assert_eq!(Category::ALL.len(), 23);
    assert!("ratelimited".parse::<Category>().is_err());
}

/// Phrases outside ASCII (Chinese, Cyrillic) live in their own automaton, walked only over
/// texts that hold such bytes; a user's phrase of either kind is found in any order, next
/// to ASCII phrases, and a text without them never reaches the second automaton.
#[test]
fn phrases_outside_ascii_are_found_beside_ascii_ones() {
    use smtp_throttle::classify::{Classifier, Rule};
    let classifier = Classifier::builder()
        .rule(
            Rule::new("user.both", Category::RateLimited)
                .phrase("频率")
                .phrase("limit"),
        )
        .rule(Rule::new("user.cyrillic", Category::UnknownUser).phrase("не найден"))
        .rule(Rule::new("user.ascii", Category::Policy).phrase("acme refusal"))
        .build()
        .expect("valid rules");
    let classify = |wire: &str| classifier.classify(&Reply::parse(wire).expect("a reply"));
    let both = classify("550 Frequency limit: 发送频率过高");
    assert_eq!(both.rule.as_str(), "user.both");
    assert_eq!(classify("550 发送频率 LIMIT").rule.as_str(), "user.both");
    assert_eq!(
        classify("550 5.1.1 адрес не найден").rule.as_str(),
        "user.cyrillic"
    );
    // Accented Latin letters fold to ASCII, so they are matched by the first automaton.
    assert_eq!(classify("550 ACME refusal — é").rule.as_str(), "user.ascii");
    // Only one half of the pair: not this rule.
    assert_ne!(classify("550 rate limit").rule.as_str(), "user.both");
    assert_ne!(classify("550 发送频率").rule.as_str(), "user.both");
}
