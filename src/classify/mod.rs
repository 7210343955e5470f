//! What a reply means: [`classify`] and the rules behind it.
//!
//! ```
//! use smtp_throttle::{classify, Category, Reply};
//! let reply = Reply::parse("421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1")?;
//! let c = classify(&reply);
//! assert_eq!(c.category, Category::Reputation);
//! assert!(c.retry);
//! assert_eq!(c.rule, "yahoo.deferred");
//! # Ok::<(), smtp_throttle::ParseError>(())
//! ```
//!
//! Rules are tried in order and the first that matches decides: the user's own rules
//! (see [`Classifier::builder`]), then provider tags and texts, specific wording, a
//! specific code of the IANA enhanced status code registry, general wording, a vague
//! enhanced code (`X.y.0`, `X.7.1`, an unregistered detail read by its subject) and the
//! basic reply code. When none matches, the category is [`Category::Other`] and `retry`
//! follows the reply's class.

mod automaton;
mod builtin;
mod category;
mod classification;
mod classifier;
mod registry;
mod rule;
mod text;

use std::sync::LazyLock;

pub use category::{Category, Scope, Severity, UnknownCategory};
pub use classification::{Classification, RuleId};
pub use classifier::{
    Classifier, ClassifierBuilder, MAX_GROUPS, MAX_PHRASES, MAX_PHRASE_BYTES, MAX_RULES,
};
pub use rule::Rule;
pub use text::MAX_HINT;

use crate::reply::Reply;

static DEFAULT: LazyLock<Classifier> = LazyLock::new(|| {
    Classifier::builder()
        .build()
        // The built-in rules are fixed data; tests/rules.rs builds them on every run.
        .expect("the built-in rules compile")
});

pub(crate) fn default_classifier() -> &'static Classifier {
    &DEFAULT
}

/// Classifies a reply with the built-in rules.
///
/// Equivalent to `Classifier::default().classify(reply)`; use a [`Classifier`] of your
/// own to put rules ahead of the built-ins.
pub fn classify(reply: &Reply) -> Classification {
    DEFAULT.classify(reply)
}
