//! [`Store`]: what the fleet logic asks of a shared store, whichever it is (Redis in
//! `shared` with the `redis` feature; in memory in the tests).

use std::time::Duration;

use crate::error::SharedError;

/// One scope of a shared decision, by the name its keys are built from.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(any(test, feature = "redis")), allow(dead_code))]
pub(crate) struct ScopeRequest<'a> {
    /// The scope's name, e.g. `pair:192.0.2.10|google`.
    pub(crate) name: &'a str,
    /// Session cap; 0 for none.
    pub(crate) cap: u32,
    /// Rate as the interval between messages and the burst; `None` for no rate.
    pub(crate) rate: Option<(Duration, u32)>,
}

/// Why the store said no: the index of the scope in the request, and the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) scope: usize,
    pub(crate) kind: RefusalKind,
}

/// The limit a [`Refusal`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(test, feature = "redis")), allow(dead_code))]
pub(crate) enum RefusalKind {
    /// Suspended for this long yet.
    Suspended(Duration),
    /// Every session slot is leased.
    Sessions,
    /// The rate allows the next message after this long.
    Rate(Duration),
}

/// What the store holds for one scope, from [`Store::read`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Stored {
    pub(crate) adapted: Option<String>,
    pub(crate) suspended_for: Duration,
    pub(crate) sessions: u32,
}

/// A store of fleet-wide limits. Every call is atomic on the store, on the store's own
/// clock; an `Err` is the store failing (unreachable, slow, broken), not a refusal.
pub(crate) trait Store: Send + Sync {
    /// A lease holder id unique to this store and call.
    fn holder(&self) -> String;

    /// Takes a session lease for `ttl` on every capped scope, all or none, unless one
    /// of them is suspended.
    fn open(
        &self,
        scopes: &[ScopeRequest<'_>],
        ttl: Duration,
        holder: &str,
    ) -> Result<Result<(), Refusal>, SharedError>;

    /// Charges one message to every rated scope, all or none, unless one of them is
    /// suspended; also returns the adapted state stored under `adapted` (if given).
    fn message(
        &self,
        scopes: &[ScopeRequest<'_>],
        adapted: Option<&str>,
    ) -> Result<(Result<(), Refusal>, Option<String>), SharedError>;

    /// Extends `holder`'s leases on the named scopes; `Ok(false)` when one had expired.
    fn extend(&self, names: &[&str], ttl: Duration, holder: &str) -> Result<bool, SharedError>;

    /// Gives `holder`'s leases on the named scopes back.
    fn release(&self, names: &[&str], holder: &str) -> Result<(), SharedError>;

    /// What is stored for `name`: its adapted state, its running suspension, and the
    /// leases held on it.
    fn read(&self, name: &str) -> Result<Stored, SharedError>;

    /// Stores the adapted state of `name` for `ttl` (when given) and suspends it for
    /// `suspend` (when not zero; a longer running suspension is kept).
    fn write(
        &self,
        name: &str,
        state: Option<&str>,
        ttl: Duration,
        suspend: Duration,
    ) -> Result<(), SharedError>;
}
