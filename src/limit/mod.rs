//! Route limits: session slots and message rates per sending IP, per site and per
//! (IP, site) pair, that adapt to what receivers answer.
//!
//! See [`Limits`] for the decision API and [`SiteLimits::preset`] for what providers
//! publish.

mod config;
mod limits;

pub use config::{Adaptive, Rate, ScopeLimits, SiteLimits};
pub use limits::{LimitKind, LimitScope, Limits, LimitsBuilder, Permit, Wait};
