//! Route limits: session slots and message rates per sending IP, per site and per
//! (IP, site) pair, that adapt to what receivers answer.
//!
//! See [`Limits`] for the decision API and [`SiteLimits::preset`] for what providers
//! publish. One concept per file: `builder` (the settings and their checks),
//! `settings`, `site`, `rate` and `warm_up` (what applies where), `limits` (the
//! decisions), `acquire` (waiting on top), `permit`, `adapt` (what one reply does to a
//! pair: pure), `alert` (escalation), `inner` and `state` (the tracked routes and
//! their invariants), `slot` and `bucket` (one scope's sessions, rate and
//! suspension), `reconfigure` (new settings on live limits, state kept), and `fleet` (limits shared through a store; the Redis store is in
//! `shared` with the `redis` feature, and depends on this module,
//! never the reverse).

mod acquire;
mod adapt;
mod alert;
mod bucket;
mod builder;
mod connect;
mod fleet;
mod inner;
mod learned;
mod limits;
mod permit;
mod rate;
mod reconfigure;
mod settings;
mod site;
mod slab;
mod slot;
mod state;
mod time;
mod wait;
mod warm_up;

pub(crate) use acquire::deadline_after;
pub use adapt::Adaptive;
pub use alert::{Alert, Escalation};
pub use builder::LimitsBuilder;
pub use connect::Connections;
pub use fleet::{Fallback, SharedStatus};
#[cfg_attr(not(feature = "redis"), allow(unused_imports))]
pub(crate) use fleet::{Refusal, RefusalKind, ScopeRequest, Store, Stored};
pub use learned::{Learned, LearnedPair, LearnedSite, LearnedSource};
pub use limits::{Limits, PairSnapshot};
pub use permit::Permit;
pub use rate::Rate;
pub use site::{ScopeLimits, SiteLimits};
pub(crate) use time::WallAnchor;
pub use wait::{LimitKind, LimitScope, Wait, SESSION_POLL};
pub use warm_up::WarmUp;
