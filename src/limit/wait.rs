//! [`Wait`]: "not now", with the scope and limit in the way and until when.

use std::fmt;
use std::time::{Duration, SystemTime};

use governor::clock::Reference;

use crate::retry::Timestamp;

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
    /// Every session slot is taken: look again when a session ends (its `until` is a
    /// poll, [`SESSION_POLL`] after the refusal).
    Sessions,
    /// The scope is suspended until the instant given.
    Suspended,
    /// This session carried as many messages as the site takes per connection (or it
    /// ended: a 421, a lost connection): open a new session.
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

/// How long after a [`LimitKind::Sessions`] refusal to look again: no slot's end is
/// known in advance (sessions end when their sender is done), so its `until` is this
/// long after the refusal. [`Limits::acquire_timeout`](super::Limits::acquire_timeout)
/// does not poll: it wakes as soon as a session ends.
pub const SESSION_POLL: Duration = Duration::from_secs(1);

/// "Not now": which limit stands in the way, and when to look again.
///
/// `until` is always set: the instant the limiter allows the next step for a timed
/// limit (rate, suspension, connections, warm-up, shared store), [`SESSION_POLL`] after
/// the refusal when every session slot is taken, and the refusal's own instant for
/// [`LimitKind::SessionFull`] (open a new session: that may go at once).
///
/// [`Throttle`](crate::throttle::Throttle) gives it in wall-clock time
/// (`Wait<SystemTime>`), ready to store as a queue's next try; [`Limits`](super::Limits)
/// gives it on its own clock.
///
/// ```
/// use std::time::Duration;
/// use smtp_throttle::limit::{LimitKind, Limits, Rate, ScopeLimits, SiteLimits};
/// use smtp_throttle::retry::RetryPolicy;
/// use smtp_throttle::route::{Destination, Route};
/// use smtp_throttle::throttle::{sender_fn, Throttle};
/// use smtp_throttle::Reply;
///
/// let pair = ScopeLimits::sessions(2).with_rate(Rate::per_minute(1)?);
/// let limits = Limits::builder().site_default(SiteLimits { pair, ..SiteLimits::default() }).build()?;
/// let throttle = Throttle::new(limits, RetryPolicy::default());
/// let sender = sender_fn(|_route, _message: &str| Ok(Reply::parse("250 2.0.0 OK").expect("valid")));
/// let route = Route::new("192.0.2.10".parse::<std::net::IpAddr>()?, Destination::new("example.org")?);
/// let mut history = throttle.history();
/// throttle.try_send(&sender, &route, "first", &mut history).expect("the first goes");
/// let wait = throttle.try_send(&sender, &route, "second", &mut throttle.history()).expect_err("one a minute");
/// assert_eq!(wait.kind(), LimitKind::Rate);
/// assert!(wait.until() > throttle.now());
/// assert!(wait.wait_time_from(throttle.now()) <= Duration::from_secs(60));
/// println!("not now: {wait}"); // "source IP and site: message rate reached"
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait<I = SystemTime> {
    until: I,
    scope: LimitScope,
    kind: LimitKind,
}

impl<I: Copy> Wait<I> {
    /// A refusal of a timed limit: the next step is allowed at `until`.
    pub(crate) fn at(until: I, scope: LimitScope, kind: LimitKind) -> Self {
        Self { until, scope, kind }
    }

    /// When to look again (see the type's docs for what it means for each kind).
    pub fn until(&self) -> I {
        self.until
    }

    /// The scope whose limit it is.
    pub fn scope(&self) -> LimitScope {
        self.scope
    }

    /// The limit.
    pub fn kind(&self) -> LimitKind {
        self.kind
    }

    /// The same refusal with `until` on another clock.
    pub(crate) fn map<J>(self, f: impl FnOnce(I) -> J) -> Wait<J> {
        Wait {
            until: f(self.until),
            scope: self.scope,
            kind: self.kind,
        }
    }
}

impl<I: Timestamp> Wait<I> {
    /// How long from `now` until [`until`](Wait::until); zero once it has passed.
    pub fn wait_time_from(&self, now: I) -> Duration {
        self.until.since(now)
    }
}

impl<I: Reference> Wait<I> {
    /// Every session slot is taken: look again [`SESSION_POLL`] after `now`.
    pub(crate) fn sessions(now: I, scope: LimitScope) -> Self {
        Self::at(
            now + governor::nanos::Nanos::from(SESSION_POLL),
            scope,
            LimitKind::Sessions,
        )
    }

    /// The session carried its maximum: open another, from `now`.
    pub(crate) fn session_full(now: I) -> Self {
        Self::at(now, LimitScope::Pair, LimitKind::SessionFull)
    }

    /// How long a timed limit makes the caller wait; `None` when the wait is for
    /// another session to end or for a new session (not a time to sleep to).
    pub(crate) fn sleep_from(&self, now: I) -> Option<Duration> {
        self.kind
            .is_timed()
            .then(|| self.until.duration_since(now).into())
    }
}

impl LimitKind {
    /// Whether the limit ends at a time known in advance (rather than when a session
    /// ends, or by opening a new one).
    pub(crate) fn is_timed(self) -> bool {
        !matches!(self, LimitKind::Sessions | LimitKind::SessionFull)
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

impl<I: fmt::Debug> std::error::Error for Wait<I> {}
