//! [`Adapted`]: a pair's adapted rate, session cap and refused rate as the store keeps
//! them, and how a local pair follows what it reads back.

use std::time::Duration;

use governor::clock::Clock;

use super::super::rate::Rate;
use super::super::state::Pair;

/// The most messages per second a stored refused rate may say.
const MAX_REFUSED: f32 = 1.0e6;
/// The largest session cap a stored state may set on a pair configured without one.
const MAX_SESSIONS: u32 = 100_000;

/// A pair's adapted state as stored: interval µs, burst, refused rate, session cap
/// (`-` for none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Adapted {
    rate: Option<(Duration, u32)>,
    refused: f32,
    sessions: Option<u32>,
}

impl Adapted {
    pub(super) fn of<C: Clock>(pair: &Pair<C>) -> Self {
        Self {
            rate: pair.slot.rate.as_ref().map(|b| (b.interval(), b.burst)),
            refused: pair.refused_rate,
            sessions: pair.slot.sessions,
        }
    }

    pub(super) fn encode(&self) -> String {
        let rate = self.rate.map_or("- -".to_string(), |(interval, burst)| {
            format!("{} {burst}", interval.as_micros().max(1))
        });
        let sessions = self.sessions.map_or("-".to_string(), |s| s.to_string());
        format!("{rate} {} {sessions}", self.refused)
    }

    /// `None` for anything this version did not write: the local state stays.
    pub(super) fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(' ');
        let (interval, burst) = (parts.next()?, parts.next()?);
        let refused: f32 = parts.next()?.parse().ok()?;
        let sessions = parts.next()?;
        if parts.next().is_some() || !refused.is_finite() || refused < 0.0 {
            return None;
        }
        let rate = match (interval, burst) {
            ("-", "-") => None,
            (i, b) => {
                let interval = Duration::from_micros(i.parse().ok()?);
                let burst: u32 = b.parse().ok()?;
                (!interval.is_zero() && burst > 0).then_some((interval, burst))?;
                Some((interval, burst))
            }
        };
        let sessions = match sessions {
            "-" => None,
            s => Some(s.parse::<u32>().ok().filter(|&s| s > 0)?),
        };
        Some(Self {
            rate,
            refused,
            sessions,
        })
    }

    /// Makes the local pair follow the stored state, within the pair's own bounds:
    /// the rate between its configured ceiling and the adaptive floor (no rate where
    /// none is configured), the burst at most the ceiling's, the session cap between 1
    /// and the configured cap. Whatever another version or a hand wrote there, the
    /// pair stays within what these limits allow. A changed rate starts a fresh, empty
    /// bucket.
    pub(super) fn apply<C: Clock + Clone>(
        &self,
        clock: &C,
        pair: &mut Pair<C>,
        floor: &Rate,
        now: C::Instant,
    ) {
        let rate = match (pair.ceiling, self.rate) {
            (Some(ceiling), Some((interval, burst))) => {
                let slowest = floor.interval().max(ceiling.interval());
                Some((
                    interval.clamp(ceiling.interval(), slowest),
                    burst.clamp(1, ceiling.burst()),
                ))
            }
            (Some(ceiling), None) => Some((ceiling.interval(), ceiling.burst())),
            (None, _) => None,
        };
        if pair.slot.rate_spec() != rate {
            pair.slot.set_rate(clock, now, rate);
        }
        pair.refused_rate = self.refused.min(MAX_REFUSED);
        pair.slot.sessions = match (pair.session_ceiling, self.sessions) {
            (Some(ceiling), Some(cap)) => Some(cap.clamp(1, ceiling)),
            (Some(ceiling), None) => Some(ceiling),
            (None, cap) => cap.map(|cap| cap.clamp(1, MAX_SESSIONS)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::Adapted;
    use std::time::Duration;

    #[test]
    fn adapted_state_round_trips_and_rejects_garbage() {
        let a = Adapted {
            rate: Some((Duration::from_micros(133_334), 1)),
            refused: 12.5,
            sessions: Some(3),
        };
        assert_eq!(Adapted::decode(&a.encode()), Some(a));
        let b = Adapted {
            rate: None,
            refused: 0.0,
            sessions: None,
        };
        assert_eq!(Adapted::decode(&b.encode()), Some(b));
        for bad in [
            "",
            "1 2 3",
            "0 1 0 -",
            "10 0 0 -",
            "10 1 NaN -",
            "10 1 -1 -",
            "10 1 0 0",
            "10 1 0 - extra",
            "x 1 0 -",
        ] {
            assert_eq!(Adapted::decode(bad), None, "{bad:?}");
        }
    }
}
