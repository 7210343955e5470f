//! [`Wait`]: "not now", with the scope and limit in the way and until when.

use std::fmt;
use std::time::Duration;

use governor::clock::Reference;

/// Which of a route's three scopes a limit belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitScope {
    /// The sending IP, towards every site.
    Source,
    /// The receiving site, from every sending IP.
    Site,
    /// The (sending IP, site) pair.
    Pair,
}

/// Which limit is in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// The message rate: wait until the instant given.
    Rate,
    /// Every session slot is taken: wait until a session ends.
    Sessions,
    /// The scope is suspended until the instant given.
    Suspended,
    /// This session carried as many messages as the site takes per connection: open
    /// a new session.
    SessionFull,
    /// The cold sending IP used its warm-up budget for today at this site.
    WarmUp,
    /// No new connection on the pair yet: its connection rate, or the backoff after
    /// connections that failed; wait until the instant given.
    Connections,
    /// The shared store (Redis, feature `redis`) is unreachable or too slow and the
    /// limits are set to refuse rather than fall back to local limits: wait until the
    /// instant given, when the store is asked again.
    SharedUnavailable,
}

/// "Not now": which limit stands in the way, and until when when that is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait<I> {
    /// The earliest instant the limit allows the next step (the limiter's own answer);
    /// `None` when it depends on another session ending.
    pub until: Option<I>,
    /// The scope whose limit it is.
    pub scope: LimitScope,
    /// The limit.
    pub kind: LimitKind,
}

impl<I: Reference> Wait<I> {
    /// How long from `now` until the limit allows the next step; `None` when that
    /// depends on another session ending.
    pub fn wait_time_from(&self, now: I) -> Option<Duration> {
        self.until.map(|until| until.duration_since(now).into())
    }
}

impl<I> fmt::Display for Wait<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            LimitScope::Source => "source IP",
            LimitScope::Site => "site",
            LimitScope::Pair => "source IP and site",
        };
        let kind = match self.kind {
            LimitKind::Rate => "message rate reached",
            LimitKind::Sessions => "all session slots taken",
            LimitKind::Suspended => "suspended",
            LimitKind::SessionFull => "session carried its maximum of messages",
            LimitKind::WarmUp => "warm-up budget for today used",
            LimitKind::Connections => "no new connection yet (connection rate or backoff)",
            LimitKind::SharedUnavailable => "shared limits unavailable (Redis), refusing",
        };
        write!(f, "{scope}: {kind}")
    }
}
