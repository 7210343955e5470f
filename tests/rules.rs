//! The built-in rules against real replies: each rule decides at least one, no rule is
//! shadowed by an earlier one, and user rules are checked when a classifier is built.

mod common;

use std::collections::BTreeMap;

use smtp_throttle::classify::{Category, Classifier, Rule};
use smtp_throttle::{classify, Reply, RuleError};

/// The replies the rules were written from: the original corpus, the witnesses, and
/// the development side of the large corpus (never its test side).
fn all_rows() -> Vec<common::Labelled> {
    let mut rows = common::load("replies.tsv");
    rows.extend(common::load("witnesses.tsv"));
    rows.extend(
        common::load("corpus.tsv")
            .into_iter()
            .filter(|r| r.split == "dev"),
    );
    rows
}

#[test]
fn every_builtin_rule_decides_a_real_reply() {
    let classifier = Classifier::default();
    let mut decided: BTreeMap<&str, usize> = classifier
        .rules()
        .iter()
        .map(|rule| (rule.id(), 0))
        .collect();
    let rows = all_rows();
    for row in &rows {
        let c = classifier.classify(&row.reply);
        if let Some(count) = decided.get_mut(c.rule.as_str()) {
            *count += 1;
        }
    }
    for (id, count) in &decided {
        println!("{count:>4}  {id}");
    }
    let unreached: Vec<_> = decided
        .iter()
        .filter(|(_, &count)| count == 0)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        unreached.is_empty(),
        "rules that decide no real reply: {unreached:?}"
    );
}

#[test]
fn no_builtin_rule_is_shadowed() {
    assert_eq!(Classifier::default().shadowed(), Vec::<(&str, &str)>::new());
}

#[test]
fn witness_replies_classify_as_labelled() {
    for row in common::load("witnesses.tsv") {
        let c = classify(&row.reply);
        assert_eq!(
            (c.category, c.retry),
            (row.category, row.retry),
            "{}:{} {} (rule {})",
            row.file,
            row.line,
            row.wire,
            c.rule
        );
    }
}

#[test]
fn shadow_detection_finds_dead_user_rules() {
    let err = Classifier::builder()
        .rule(Rule::new("acme.rate", Category::RateLimited).phrase("rate limit"))
        .rule(
            Rule::new("acme.rate421", Category::Reputation)
                .code(421)
                .any_phrase(["rate limited", "hourly rate limit"]),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        RuleError::Shadowed {
            rule: "acme.rate421".into(),
            by: "acme.rate".into()
        }
    );
    // Not shadowed: the later rule also matches texts the earlier one excludes.
    let ok = Classifier::builder()
        .rule(
            Rule::new("acme.rate", Category::RateLimited)
                .phrase("rate limit")
                .unless("ip"),
        )
        .rule(
            Rule::new("acme.rate421", Category::Reputation)
                .code(421)
                .phrase("rate limited"),
        )
        .build();
    assert!(ok.is_ok());
    // Narrower enhanced code, wider earlier one: shadowed.
    let err = Classifier::builder()
        .rule(Rule::new("acme.x71", Category::Policy).enhanced("*.7.*"))
        .rule(
            Rule::new("acme.571", Category::Policy)
                .enhanced("5.7.1")
                .code(550),
        )
        .build();
    assert!(matches!(err, Err(RuleError::Shadowed { .. })));
}

#[test]
fn user_rules_go_first_and_may_override_builtins() {
    let classifier = Classifier::builder()
        .rule(
            Rule::new("acme.tss04", Category::RateLimited)
                .phrase("[tss04]")
                .retry(true),
        )
        .build()
        .unwrap();
    let reply = Reply::parse("421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1").unwrap();
    let c = classifier.classify(&reply);
    assert_eq!(c.rule, "acme.tss04");
    assert_eq!(c.category, Category::RateLimited);
    // It takes one of yahoo.deferred's phrases, so the built-in still decides the rest.
    assert!(classifier.shadowed().is_empty());
    assert_eq!(classify(&reply).rule, "yahoo.deferred");
}

#[test]
fn user_rules_go_ahead_of_the_enhanced_code_registry() {
    let reply = Reply::parse("550 5.2.1 Mailbox on hold").unwrap();
    assert_eq!(classify(&reply).rule, "esc.x.2.1");
    let classifier = Classifier::builder()
        .rule(Rule::new("acme.hold", Category::Policy).enhanced("5.2.1"))
        .build()
        .unwrap();
    let c = classifier.classify(&reply);
    assert_eq!(
        (c.rule.as_str(), c.category),
        ("acme.hold", Category::Policy)
    );
    // Without the built-in rules, the registry does not decide either.
    let bare = Classifier::builder()
        .without_builtin_rules()
        .build()
        .unwrap();
    assert_eq!(bare.classify(&reply).rule, "default");
    // A success reply is never judged by the registry.
    assert_eq!(
        classify(&Reply::parse("250 2.1.5 Destination address valid").unwrap()).rule,
        "default"
    );
}

#[test]
fn qmail_style_trailing_codes_are_read_by_the_registry() {
    let c = classify(&Reply::parse("553 sorry, that domain doesn't answer (#5.4.4)").unwrap());
    assert_eq!(
        (c.rule.as_str(), c.category),
        ("esc.x.4.4", Category::Routing)
    );
}

#[test]
fn builder_rejects_bad_rules_with_typed_errors() {
    let build = |rule: Rule| Classifier::builder().rule(rule).build().map(|_| ());
    assert_eq!(
        build(Rule::new("", Category::Other).code(550)),
        Err(RuleError::EmptyId)
    );
    assert!(matches!(
        build(Rule::new("x", Category::Other)),
        Err(RuleError::NoCondition { .. })
    ));
    assert!(matches!(
        build(Rule::new("x", Category::Other).phrase("  ")),
        Err(RuleError::EmptyPhrase { .. })
    ));
    // Punctuation reads as white space, so a phrase of punctuation only is empty.
    assert!(matches!(
        build(Rule::new("x", Category::Other).phrase("-- !")),
        Err(RuleError::EmptyPhrase { .. })
    ));
    assert!(matches!(
        build(Rule::new("x", Category::Other).any_phrase(Vec::<String>::new())),
        Err(RuleError::EmptyPhrase { .. })
    ));
    assert!(matches!(
        build(Rule::new("x", Category::Other).phrase("a".repeat(200))),
        Err(RuleError::PhraseTooLong { len: 200, .. })
    ));
    assert!(matches!(
        build(Rule::new("x", Category::Other).codes(500, 400)),
        Err(RuleError::BadCodeRange { .. })
    ));
    assert!(matches!(
        build(Rule::new("x", Category::Other).code(999)),
        Err(RuleError::BadCodeRange { .. })
    ));
    assert!(matches!(
        build(Rule::new("x", Category::Other).class(0)),
        Err(RuleError::BadCodeRange { .. })
    ));
    assert!(matches!(
        build(Rule::new("x", Category::Other).enhanced("6.0.0")),
        Err(RuleError::BadEnhancedPattern { .. })
    ));
    let dup = Classifier::builder()
        .rule(Rule::new("x", Category::Other).code(550))
        .rule(Rule::new("x", Category::Other).code(551))
        .build();
    assert!(matches!(dup, Err(RuleError::DuplicateId { .. })));
    let many = (0..2000).fold(Classifier::builder().without_builtin_rules(), |b, i| {
        b.rule(Rule::new(format!("r{i}"), Category::Other).phrase(format!("p{i}")))
    });
    assert!(matches!(
        many.build(),
        Err(RuleError::TooMany { what: "rules", .. })
    ));
}

#[test]
fn without_builtins_only_user_rules_decide() {
    let classifier = Classifier::builder()
        .without_builtin_rules()
        .rule(Rule::new("acme.full", Category::MailboxFull).phrase("box full"))
        .build()
        .unwrap();
    let c = classifier.classify(&Reply::parse("552 5.2.2 Mailbox full").unwrap());
    assert_eq!(c.rule, "acme.full");
    let c = classifier.classify(&Reply::parse("550 5.1.1 User unknown").unwrap());
    assert_eq!(
        (c.rule.as_str(), c.category, c.retry),
        ("default", Category::Other, false)
    );
}

/// Phrases and text words for the property below: prefixes of each other, digits that
/// differ in one place, words inside words.
const VOCAB: [&str; 12] = [
    "ab", "ba", "aba", "abab", "ts01", "ts02", "ts1", "a1", "b2", "12", "x", "quota",
];

fn folded(text: &str) -> String {
    let mut out = String::from(" ");
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

proptest::proptest! {
    /// The promise of rule order, groups and `unless`, tried on random rule sets: the
    /// first rule all of whose groups have a phrase in the text, and none of whose
    /// `unless` phrases is in it, decides; with none, no rule does. Many rules of a few
    /// groups each put group and rule indexes past one 64-bit word.
    #[test]
    fn the_first_rule_whose_groups_all_hold_and_no_unless_decides(
        rules in proptest::collection::vec(
            (
                proptest::collection::vec(proptest::collection::vec(0..VOCAB.len(), 1..4), 1..4),
                proptest::collection::vec(0..VOCAB.len(), 0..3),
            ),
            1..90,
        ),
        words in proptest::collection::vec((0..VOCAB.len(), 0..4usize, proptest::bool::ANY), 0..12),
    ) {
        // Rule i takes codes 500 to 500 + i: a later rule's range is never inside an
        // earlier one's, so none is shadowed, and a 500 reply is in every range.
        let builder = rules.iter().enumerate().fold(
            Classifier::builder().without_builtin_rules(),
            |b, (i, (groups, unless))| {
                let rule = groups.iter().fold(
                    Rule::new(format!("r{i}"), Category::Policy).codes(500, 500 + i as u16),
                    |r, g| r.any_phrase(g.iter().map(|&w| VOCAB[w])),
                );
                b.rule(unless.iter().fold(rule, |r, &w| r.unless(VOCAB[w])))
            },
        );
        let classifier = builder.build().expect("no rule is shadowed");
        let mut text = String::new();
        for &(w, sep, upper) in &words {
            text.push_str([" ", "-", ", ", "_"][sep]);
            let word = VOCAB[w];
            text.push_str(&if upper { word.to_uppercase() } else { word.to_owned() });
        }
        let hay = folded(&text);
        let has = |w: usize| hay.contains(VOCAB[w]);
        let expected = rules
            .iter()
            .position(|(groups, unless)| {
                groups.iter().all(|g| g.iter().any(|&w| has(w))) && !unless.iter().any(|&w| has(w))
            })
            .map(|i| format!("r{i}"));
        let reply = Reply::parse(format!("500 {text}")).expect("a reply");
        let got = classifier.classify(&reply);
        let got = got.rule.as_str().strip_prefix('r').map(|_| got.rule.to_string());
        proptest::prop_assert_eq!(got, expected, "text {:?}", text);
    }
}

#[test]
fn too_many_phrase_groups_is_an_error() {
    let rule = (0..=smtp_throttle::classify::MAX_GROUPS)
        .fold(Rule::new("x", Category::Other), |r, i| {
            r.phrase(format!("p{}", i % 7))
        });
    assert!(matches!(
        Classifier::builder().rule(rule).build(),
        Err(RuleError::TooMany {
            what: "phrase groups",
            ..
        })
    ));
}
