//! [`Alert`]s: what the limits noticed that a person should look at.

use std::net::IpAddr;
use std::time::Duration;

use crate::classify::Category;
use crate::route::Site;

/// Something the limits noticed beyond speed: a reputation problem in the making.
///
/// Alerts are values: drain them with [`Limits::drain_alerts`](super::Limits::drain_alerts)
/// or receive them with a callback ([`LimitsBuilder::on_alert`](super::LimitsBuilder::on_alert)).
/// The crate prints nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Alert {
    /// One pair kept being throttled: `signals` within `window`; the pair is suspended
    /// for `suspended_for`.
    RouteReputation {
        /// The sending IP.
        source: IpAddr,
        /// The site.
        site: Site,
        /// Throttling replies counted.
        signals: u32,
        /// The window they fell in.
        window: Duration,
        /// How long the pair is now suspended.
        suspended_for: Duration,
    },
    /// Several distinct sites throttled one sending IP within `window`: persistent 421s
    /// from many providers are a reputation problem, not speed.
    SourceReputation {
        /// The sending IP.
        source: IpAddr,
        /// Distinct sites that throttled it.
        sites: u32,
        /// The window.
        window: Duration,
    },
    /// A block (5xx) followed throttling on a pair: the soft deferral hardened. The pair
    /// is suspended for `suspended_for`.
    Blocked {
        /// The sending IP.
        source: IpAddr,
        /// The site.
        site: Site,
        /// The block's category.
        category: Category,
        /// How long the pair is now suspended.
        suspended_for: Duration,
    },
}

/// When throttling escalates into a longer suspension and an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Escalation {
    /// Rate or reputation deferrals on one pair within `window` that make a
    /// route-reputation alert. (Too-many-connections replies only lower the session
    /// cap: they are about concurrency, not reputation.)
    pub pair_signals: u32,
    /// Distinct sites throttling one source within `window` that make a
    /// source-reputation alert.
    pub distinct_sites: u32,
    /// The window signals are counted in.
    pub window: Duration,
    /// The pair's suspension on a route-reputation alert.
    pub route_pause: Duration,
    /// The pair's suspension when a block follows throttling.
    pub block_pause: Duration,
}

impl Default for Escalation {
    /// 8 rate or reputation deferrals on a pair within an hour → 1 hour suspension and
    /// an alert (halving the rate on each deferral brings a sender that started 8× too
    /// fast within the receiver's limit in 3; 8 means halving did not help); 3 distinct
    /// sites throttling a source within an hour → an alert; a block after throttling →
    /// 6 hours suspension and an alert.
    fn default() -> Self {
        Self {
            pair_signals: 8,
            distinct_sites: 3,
            window: Duration::from_secs(3600),
            route_pause: Duration::from_secs(3600),
            block_pause: Duration::from_secs(6 * 3600),
        }
    }
}
