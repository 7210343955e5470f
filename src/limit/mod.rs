//! Route limits: session slots and message rates per sending IP, per site and per
//! (IP, site) pair, that adapt to what receivers answer.
//!
//! See [`Limits`] for the decision API and [`SiteLimits::preset`] for what providers
//! publish.

mod alert;
mod config;
#[cfg(feature = "redis")]
mod fleet;
mod limits;
mod state;
mod wait;

pub use alert::{Alert, Escalation};
pub use config::{Adaptive, Rate, ScopeLimits, SiteLimits, WarmUp};
pub use limits::{Limits, LimitsBuilder, PairSnapshot, Permit};
pub use wait::{LimitKind, LimitScope, Wait};
