//! [`Outcome`]: what became of one message.

use crate::classify::Classification;
use crate::retry::GiveUpReason;

/// What became of one message sent through a [`Throttle`](super::Throttle).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome<I> {
    /// The server accepted it.
    Delivered {
        /// The accepting reply's classification.
        classification: Classification,
    },
    /// Not now: try again at `retry_at`.
    Deferred {
        /// When to try again (from the retry policy).
        retry_at: I,
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

impl<I> Outcome<I> {
    /// The classification of the reply (or transport error) behind the outcome.
    pub fn classification(&self) -> &Classification {
        match self {
            Outcome::Delivered { classification }
            | Outcome::Deferred { classification, .. }
            | Outcome::Bounced { classification, .. } => classification,
        }
    }
}
