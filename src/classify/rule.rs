//! [`Rule`]: one condition-to-meaning mapping, as the built-ins and users write them.

use std::borrow::Cow;
use std::time::Duration;

use super::{Category, Scope};
use crate::error::RuleError;
use crate::provider::Provider;
use crate::reply::{EnhancedCode, Reply};

/// A classification rule: conditions on a reply, and the meaning it gives when they hold.
///
/// A rule matches when every condition holds:
/// - the basic code is in its range (by default 400 to 599: rules never judge successes);
/// - the enhanced code fits its pattern, if it has one;
/// - each phrase group finds one of its phrases in the text (matching ignores ASCII case,
///   reads ASCII punctuation as white space and any run of white space, line breaks
///   included, as one space, and reads accented Latin letters as their base letter: the
///   phrase "rate limit" finds "Rate-Limit", "refuse" finds "refusé");
/// - no `unless` phrase is in the text;
/// - the provider, if named, was recognised in the text;
/// - the regular expression, if any (feature `regex`), matches the text as it came
///   (lines joined by `\n`, without the codes; case as sent: write `(?i)` to ignore it).
///
/// Rules are tried in order and the first that matches decides. Add your own with
/// [`ClassifierBuilder::rule`](super::ClassifierBuilder::rule); they go before the
/// built-ins.
///
/// ```
/// use smtp_throttle::classify::{Category, Classifier, Rule};
/// let classifier = Classifier::builder()
///     .rule(Rule::new("acme.slow-down", Category::RateLimited).class(4).phrase("slow down, friend"))
///     .build()?;
/// let reply = smtp_throttle::Reply::parse("451 Slow down, friend")?;
/// let c = classifier.classify(&reply);
/// assert_eq!(c.category, Category::RateLimited);
/// assert_eq!(c.rule.as_str(), "acme.slow-down");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Rule {
    pub(super) id: Cow<'static, str>,
    pub(super) category: Category,
    pub(super) codes: (u16, u16),
    pub(super) enhanced: Option<Cow<'static, str>>,
    pub(super) groups: Vec<Vec<Cow<'static, str>>>,
    pub(super) unless: Vec<Cow<'static, str>>,
    pub(super) provider: Option<Provider>,
    pub(super) retry: Option<bool>,
    pub(super) scope: Option<Scope>,
    pub(super) retry_after: Option<Duration>,
    #[cfg(feature = "regex")]
    pub(super) regex: Option<Cow<'static, str>>,
}

impl Rule {
    /// A rule named `id` that gives `category`. Ids show up in
    /// [`Classification::rule`](super::Classification::rule); choose names that say what
    /// matched, prefixed with your organisation (`acme.…`).
    pub fn new(id: impl Into<Cow<'static, str>>, category: Category) -> Self {
        Self {
            id: id.into(),
            category,
            codes: (400, 599),
            enhanced: None,
            groups: Vec::new(),
            unless: Vec::new(),
            provider: None,
            retry: None,
            scope: None,
            retry_after: None,
            #[cfg(feature = "regex")]
            regex: None,
        }
    }

    /// The text must contain `phrase`.
    #[must_use]
    pub fn phrase(mut self, phrase: impl Into<Cow<'static, str>>) -> Self {
        self.groups.push(vec![phrase.into()]);
        self
    }

    /// The text must contain at least one of `phrases`. Each call adds one more group that
    /// must be met.
    #[must_use]
    pub fn any_phrase<P>(mut self, phrases: impl IntoIterator<Item = P>) -> Self
    where
        P: Into<Cow<'static, str>>,
    {
        self.groups
            .push(phrases.into_iter().map(Into::into).collect());
        self
    }

    /// The text must not contain `phrase`.
    #[must_use]
    pub fn unless(mut self, phrase: impl Into<Cow<'static, str>>) -> Self {
        self.unless.push(phrase.into());
        self
    }

    /// The basic code must be exactly `code`.
    #[must_use]
    pub fn code(self, code: u16) -> Self {
        self.codes(code, code)
    }

    /// The basic code must lie in `low..=high`.
    #[must_use]
    pub fn codes(mut self, low: u16, high: u16) -> Self {
        self.codes = (low, high);
        self
    }

    /// The basic code must be of class `class` (4 for 4xx, 5 for 5xx).
    #[must_use]
    pub fn class(self, class: u8) -> Self {
        let base = u16::from(class) * 100;
        self.codes(base, base.saturating_add(99))
    }

    /// The enhanced code must fit `pattern`: three dot-separated parts, each a number,
    /// a range `500-699` or `*`, as in `"5.7.1"`, `"4.7.*"`, `"*.1.1"`, `"4.7.500-699"`.
    /// A reply without an enhanced code never fits.
    #[must_use]
    pub fn enhanced(mut self, pattern: impl Into<Cow<'static, str>>) -> Self {
        self.enhanced = Some(pattern.into());
        self
    }

    /// The provider's markers must be found in the text (see [`Provider`]). The
    /// classification then names this provider.
    #[must_use]
    pub fn from_provider(mut self, provider: Provider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Whether to retry, instead of what the category and code say
    /// (see [`Category::retry_regardless_of_code`]).
    #[must_use]
    pub fn retry(mut self, retry: bool) -> Self {
        self.retry = Some(retry);
        self
    }

    /// What the reply is about, instead of the category's default scope.
    #[must_use]
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The wait the provider documents for this reply, used as the retry hint when the
    /// text itself names none.
    #[must_use]
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The text must match the regular expression `pattern` (the `regex` crate's
    /// syntax), as the reply came: lines joined by `\n`, without the codes, case as
    /// sent. Checked after every other condition, so a rule that also names a phrase
    /// or a code only runs its regex on replies those let through; a regex that does
    /// not compile is an error of [`build`](super::ClassifierBuilder::build).
    ///
    /// Phrases cost nothing per rule (one pass finds all of them) and never allocate;
    /// prefer them where they can say it. A regex may allocate its matching state the
    /// first times it runs on a thread.
    #[cfg(feature = "regex")]
    #[cfg_attr(docsrs, doc(cfg(feature = "regex")))]
    #[must_use]
    pub fn regex(mut self, pattern: impl Into<Cow<'static, str>>) -> Self {
        self.regex = Some(pattern.into());
        self
    }

    /// The regular expression, if the rule has one.
    #[cfg(feature = "regex")]
    #[cfg_attr(docsrs, doc(cfg(feature = "regex")))]
    pub fn regex_pattern(&self) -> Option<&str> {
        self.regex.as_deref()
    }

    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The category the rule gives.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The phrase groups, as given: each inner list must have one phrase in the text.
    pub fn phrase_groups(&self) -> impl Iterator<Item = Vec<&str>> + '_ {
        self.groups
            .iter()
            .map(|group| group.iter().map(|p| p.as_ref()).collect())
    }

    pub(super) fn has_condition(&self) -> bool {
        self.codes != (400, 599)
            || self.enhanced.is_some()
            || !self.groups.is_empty()
            || !self.unless.is_empty()
            || self.provider.is_some()
            || self.has_regex()
    }

    #[cfg(feature = "regex")]
    fn has_regex(&self) -> bool {
        self.regex.is_some()
    }

    #[cfg(not(feature = "regex"))]
    fn has_regex(&self) -> bool {
        false
    }
}

/// A compiled enhanced-code pattern: each part an inclusive range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct EnhancedPattern {
    class: (u16, u16),
    subject: (u16, u16),
    detail: (u16, u16),
}

impl EnhancedPattern {
    pub(super) fn parse(rule: &str, pattern: &str) -> Result<Self, RuleError> {
        let bad = || RuleError::BadEnhancedPattern {
            id: rule.to_owned(),
            pattern: pattern.to_owned(),
        };
        let part = |s: &str| -> Option<(u16, u16)> {
            if s == "*" {
                return Some((0, 999));
            }
            let (lo, hi) = s.split_once('-').unwrap_or((s, s));
            let lo: u16 = lo.parse().ok()?;
            let hi: u16 = hi.parse().ok()?;
            (lo <= hi && hi <= 999).then_some((lo, hi))
        };
        let mut parts = pattern.split('.');
        let (Some(c), Some(s), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let class = part(c).ok_or_else(bad)?;
        if c != "*" && !(class.0 == class.1 && matches!(class.0, 2 | 4 | 5)) {
            return Err(bad());
        }
        Ok(Self {
            class,
            subject: part(s).ok_or_else(bad)?,
            detail: part(d).ok_or_else(bad)?,
        })
    }

    pub(super) fn matches(&self, code: EnhancedCode) -> bool {
        let within = |(lo, hi): (u16, u16), v: u16| lo <= v && v <= hi;
        within(self.class, u16::from(code.class()))
            && within(self.subject, code.subject())
            && within(self.detail, code.detail())
    }

    /// Whether every code this pattern fits, `other` fits too.
    pub(super) fn within(&self, other: &EnhancedPattern) -> bool {
        let inside = |a: (u16, u16), b: (u16, u16)| b.0 <= a.0 && a.1 <= b.1;
        inside(self.class, other.class)
            && inside(self.subject, other.subject)
            && inside(self.detail, other.detail)
    }
}

pub(super) fn reply_enhanced_fits(pattern: Option<&EnhancedPattern>, reply: &Reply) -> bool {
    match pattern {
        None => true,
        Some(p) => reply.enhanced().is_some_and(|code| p.matches(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_patterns() {
        let p = EnhancedPattern::parse("t", "4.7.500-699").unwrap();
        assert!(p.matches("4.7.500".parse().unwrap()));
        assert!(!p.matches("4.7.700".parse().unwrap()));
        let any_class = EnhancedPattern::parse("t", "*.1.1").unwrap();
        assert!(any_class.matches("5.1.1".parse().unwrap()));
        assert!(p.within(&EnhancedPattern::parse("t", "4.7.*").unwrap()));
        for bad in [
            "5.7", "6.0.0", "5.7.1.1", "x.1.1", "5.9-2.1", "5.7.1000", "",
        ] {
            assert!(EnhancedPattern::parse("t", bad).is_err(), "{bad}");
        }
    }
}
