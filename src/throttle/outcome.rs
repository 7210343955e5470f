//! [`Outcome`]: what became of one message.

use std::time::{Duration, SystemTime};

use crate::classify::Classification;
use crate::retry::GiveUpReason;

/// What became of one message sent through a [`Throttle`](super::Throttle).
///
/// Times are wall-clock time, ready to store with the message in a queue. With the
/// `serde` feature it is `Serialize` and `Deserialize`, tagged by `outcome`
/// (`"delivered"`, `"deferred"`, `"bounced"`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "outcome", rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Outcome {
    /// The server accepted it.
    Delivered {
        /// The accepting reply's classification.
        classification: Classification,
    },
    /// Not now: try again at `retry_at`.
    Deferred {
        /// When to try again (from the retry policy).
        retry_at: SystemTime,
        /// How long after the failed attempt `retry_at` is.
        retry_after: Duration,
        /// Why it was deferred.
        classification: Classification,
    },
    /// It will not be delivered: bounce it.
    Bounced {
        /// The final reply's classification.
        classification: Classification,
        /// Why the retry policy gave up.
        reason: GiveUpReason,
    },
}

impl Outcome {
    /// The classification of the reply (or transport error) behind the outcome.
    pub fn classification(&self) -> &Classification {
        match self {
            Outcome::Delivered { classification }
            | Outcome::Deferred { classification, .. }
            | Outcome::Bounced { classification, .. } => classification,
        }
    }
}
