//! [`Classification`]: the answer `classify` gives, and [`RuleId`], which rule gave it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{Category, Scope, Severity};
use crate::provider::Provider;

/// What a reply means and what to do about it.
///
/// With the `serde` feature it is `Serialize` and `Deserialize`: names as strings
/// (`"category":"rate_limited"`, `"rule":"google.rate"`), the code as a number, the hint
/// as serde's `Duration`. A classification read back is data to show or count; the
/// throttle never takes one as input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Classification {
    /// The reason, by meaning.
    pub category: Category,
    /// How final the reply code is.
    pub severity: Severity,
    /// Whether a well-behaved sender should try this message again later.
    ///
    /// Not always the same as `severity == Transient`: Yahoo's `421 … [TS03] … permanently
    /// deferred` is not worth retrying, Gmail's `550 5.2.1 … receiving mail at a rate …`
    /// is. Success and intermediate replies are never retried.
    pub retry: bool,
    /// What the reply is about: the level at which to slow down or stop.
    pub scope: Scope,
    /// The provider recognised in the text, if any.
    pub provider: Option<Provider>,
    /// The wait the server asked for ("try again in 5 minutes"), or the one the provider
    /// documents for this reply; only given when `retry` is true.
    pub retry_hint: Option<Duration>,
    /// The rule that decided (`"default"` when none did).
    pub rule: RuleId,
    /// The command the reply answered, when the sender knew it
    /// ([`Reply::command`](crate::Reply::command)): the stage decides what the limits
    /// slow down (see [`Limits::feedback`](crate::limit::Limits::feedback)).
    pub command: Option<crate::reply::Command>,
    /// The reply's basic code (`None` for a transport failure without a reply): a 421
    /// closes the session (RFC 5321 §3.8).
    pub code: Option<crate::reply::ReplyCode>,
}

/// The id of the rule that decided a classification.
///
/// Cloning one never allocates: built-in ids are static, a user rule's id is shared.
///
/// Ids are equal when their text is, however they were made (built in, a user rule's,
/// read back from storage).
#[derive(Clone)]
pub struct RuleId(Id);

#[derive(Clone)]
enum Id {
    Static(&'static str),
    Shared(Arc<str>),
}

impl RuleId {
    /// The id given when no rule matched.
    pub const DEFAULT: RuleId = RuleId(Id::Static("default"));

    pub(super) fn new(id: std::borrow::Cow<'static, str>) -> Self {
        match id {
            std::borrow::Cow::Borrowed(s) => RuleId(Id::Static(s)),
            std::borrow::Cow::Owned(s) => RuleId(Id::Shared(Arc::from(s))),
        }
    }

    /// A built-in id, for classifications the crate makes itself.
    pub(crate) const fn builtin(id: &'static str) -> Self {
        RuleId(Id::Static(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Id::Static(s) => s,
            Id::Shared(s) => s,
        }
    }
}

impl PartialEq for RuleId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RuleId {}

impl std::hash::Hash for RuleId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The id as a string.
#[cfg(feature = "serde")]
impl serde::Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Any string: a stored id need not name a rule of this version.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        Ok(RuleId::new(std::borrow::Cow::Owned(id)))
    }
}

impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
