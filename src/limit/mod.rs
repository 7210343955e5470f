//! Route limits: session slots and message rates per sending IP, per site and per
//! (IP, site) pair, that adapt to what receivers answer.
//!
//! See [`Limits`] for the decision API and [`SiteLimits::preset`] for what providers
//! publish. One concept per file: [`builder`](LimitsBuilder) (settings and their
//! checks), `limits` (the decisions), `acquire` (waiting on top), `permit`, `adapt`
//! (what one reply does to a pair: pure), `state` (the tracked routes and their
//! invariants), `slot` and `bucket` (one scope's session count, rate and suspension),
//! `alert` (escalation), and `fleet` (limits shared through a store; the Redis store
//! is in [`shared`](crate::shared) with the `redis` feature).

mod acquire;
mod adapt;
mod alert;
mod bucket;
mod builder;
mod fleet;
mod limits;
mod permit;
mod rate;
mod settings;
mod slab;
mod slot;
mod state;
mod time;
mod wait;

pub(crate) use acquire::deadline_after;
pub use adapt::Adaptive;
pub use alert::{Alert, Escalation};
pub use builder::LimitsBuilder;
pub use fleet::{Fallback, SharedStatus};
#[cfg_attr(not(feature = "redis"), allow(unused_imports))]
pub(crate) use fleet::{Refusal, RefusalKind, ScopeRequest, Store, Stored};
pub use limits::{Limits, PairSnapshot};
pub use permit::Permit;
pub use rate::Rate;
pub use settings::{ScopeLimits, SiteLimits, WarmUp};
pub use wait::{LimitKind, LimitScope, Wait};
