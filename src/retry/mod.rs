//! When to try a deferred message again: [`RetryPolicy`], [`RetryDecision`] and a small
//! in-memory [`RetryQueue`].
//!
//! | preset | waits after each failure | gives up after |
//! | --- | --- | --- |
//! | [`RetryPolicy::builder`] (standard) | 5, 15, 30, 60 min, then every 60 min | 5 days |
//! | [`RetryPolicy::postfix`] | the message's age, within 300 s … 4000 s | 5 days |
//! | [`RetryPolicy::exim`] | 15 min for 2 h, then ×1.5 from 1 h until 16 h, then 6 h | 4 days |
//! | [`RetryPolicy::rfc5321`] | 30 min | 5 days |

mod jitter;
mod policy;
mod queue;
mod schedule;
mod time;

pub use jitter::Jitter;
pub use policy::{
    GiveUpReason, History, HistoryParts, RetryDecision, RetryPolicy, RetryPolicyBuilder,
};
pub use queue::RetryQueue;
pub use schedule::ScheduleIter;
pub use time::Timestamp;
