//! What limits do when the shared store fails ([`Fallback`]), and how the store is
//! doing ([`SharedStatus`]).

use std::time::Duration;

/// What [`Limits`](crate::limit::Limits) with a shared store do while Redis is
/// unreachable or slower than its timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fallback {
    /// Go on under this process's own limits (the limits you configured, applied by
    /// this process alone). Mail keeps flowing; while Redis is away, a fleet of N
    /// processes may together send up to N times a shared limit.
    #[default]
    Local,
    /// Send nothing: every decision is a [`Wait`](crate::limit::Wait) of kind
    /// [`LimitKind::SharedUnavailable`](crate::limit::LimitKind::SharedUnavailable)
    /// until Redis answers again. No shared limit is ever exceeded; mail waits.
    Refuse,
}

/// The shared store as the limits see it, for the stats snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedStatus {
    /// Whether the last call to Redis succeeded (or none failed yet).
    pub connected: bool,
    /// What decisions do while Redis is away.
    pub fallback: Fallback,
    /// How long the current outage has lasted, while not connected.
    pub down_for: Option<Duration>,
    /// The error of the last failed call, if any.
    pub last_error: Option<String>,
    /// Calls made to Redis.
    pub calls: u64,
    /// Calls that failed (unreachable, timed out, refused).
    pub failures: u64,
    /// Decisions taken without Redis, under the fallback: allowed on local limits
    /// ([`Fallback::Local`]) or refused ([`Fallback::Refuse`]).
    pub fallback_decisions: u64,
}
