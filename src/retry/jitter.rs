//! [`Jitter`] and the small seedable random source behind it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How a scheduled wait is spread so that messages failed together do not all come back
/// in the same second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// The schedule's wait exactly, as Postfix and Exim do.
    None,
    /// Uniform between zero and the wait ("full jitter"), but never under the policy's
    /// hint floor: the widest spread, at the cost of some early retries.
    Full,
    /// Uniform between the wait and three times the previous one (twice the wait for
    /// the first retry), at most twice the wait ("decorrelated jitter"): never earlier
    /// than the schedule, and messages that keep failing drift apart.
    #[default]
    Decorrelated,
}

/// The golden-ratio Weyl sequence over an atomic counter: lock-free, deterministic for
/// one seed and one order of calls, and of low discrepancy — successive draws fill the
/// range evenly (any stretch holds its share of them, give or take a few), so that
/// messages failing together are spread evenly rather than merely at random, where
/// chance alone would crowd some seconds.
#[derive(Debug)]
pub(super) struct Rng {
    state: AtomicU64,
}

impl Clone for Rng {
    /// The clone starts where the original is and then goes its own way.
    fn clone(&self) -> Self {
        Self {
            state: AtomicU64::new(self.state.load(Ordering::Relaxed)),
        }
    }
}

impl Rng {
    /// Starts the sequence at a point the seed picks (mixed, so that nearby seeds start
    /// far apart).
    pub(super) fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self {
            state: AtomicU64::new(z ^ (z >> 31)),
        }
    }

    /// A seed from the process's hasher keys and the time, for policies built without one.
    pub(super) fn seed_from_environment() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(now.as_nanos());
        }
        hasher.finish()
    }

    fn next_u64(&self) -> u64 {
        // 2^64 / φ: each draw moves on by the golden ratio's fraction of the range.
        self.state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
    }

    /// In `low..=high` (nanosecond steps), evenly over successive draws; `low` when
    /// `high <= low`.
    pub(super) fn between(&self, low: Duration, high: Duration) -> Duration {
        let Some(span) = high.checked_sub(low) else {
            return low;
        };
        let span = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        let pick = (u128::from(self.next_u64()) * (u128::from(span) + 1)) >> 64;
        low + Duration::from_nanos(u64::try_from(pick).unwrap_or(span))
    }
}
