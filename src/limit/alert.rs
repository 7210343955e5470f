//! [`Alert`]s: what the limits noticed that a person should look at, and the
//! [`Escalation`] that raises them when throttling persists.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::Clock;

use super::state::{Keys, State};
use super::time::{later, since};
use crate::classify::{Category, Classification, Scope, Severity};
use crate::error::ConfigError;
use crate::route::Site;

/// The longest escalation pause a setting may have.
const MAX_PAUSE: Duration = Duration::from_secs(30 * 24 * 3600);

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
    /// The pair's suspension on a route-reputation alert; when nothing got through
    /// since the refusals began, as long as they had lasted, up to this.
    pub route_pause: Duration,
    /// The pair's suspension when a block follows throttling.
    pub block_pause: Duration,
}

impl Default for Escalation {
    /// 8 rate or reputation deferral episodes on a pair within an hour (replies heard
    /// while it is paused for one count once) → 1 hour suspension and an alert
    /// (halving the rate on each deferral brings a sender that started 8× too fast
    /// within the receiver's limit in 3; 8 means halving did not help); 3 distinct
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

impl Escalation {
    /// No zero counts or window; pauses of at most 30 days.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (setting, value) in [
            ("escalation pair_signals", self.pair_signals),
            ("escalation distinct_sites", self.distinct_sites),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero { setting });
            }
        }
        if self.window.is_zero() {
            return Err(ConfigError::Zero {
                setting: "escalation window",
            });
        }
        for (setting, value) in [
            ("escalation route_pause", self.route_pause),
            ("escalation block_pause", self.block_pause),
            ("escalation window", self.window),
        ] {
            if value > MAX_PAUSE {
                return Err(ConfigError::TooLong {
                    setting,
                    value,
                    max: MAX_PAUSE,
                });
            }
        }
        Ok(())
    }

    /// Counts a route-level reply towards the thresholds: throttling on the pair and
    /// across sites (once per episode: replies other sessions hear while the pair is
    /// already suspended are the same objection), and a block that follows throttling.
    pub(super) fn count<C: Clock + Clone>(
        &self,
        state: &mut State<C>,
        keys: Keys,
        reply: &Classification,
        (now, escalates, continued): (C::Instant, bool, bool),
        alerts: &mut Vec<Alert>,
    ) {
        let in_window =
            |start: Option<C::Instant>| start.is_some_and(|start| since(now, start) < self.window);
        // A cap on one session's messages is not throttling: the next session carries
        // as many again.
        let throttled = reply.severity == Severity::Transient
            && match reply.category {
                Category::RateLimited => reply.scope != Scope::Connection,
                Category::Reputation => true,
                _ => false,
            };
        let blocked = reply.severity == Severity::Permanent
            && matches!(
                reply.category,
                Category::Blocklisted | Category::Reputation | Category::Policy
            );
        if !(blocked || throttled && escalates) {
            return;
        }
        let site_name = state.sites.at(keys.site).name.clone();
        let source_ip = state.sources.at(keys.source).ip;
        let pair = state.pairs.at(keys.pair);
        if blocked {
            if in_window(pair.signals_since) && pair.signals > 0 {
                pair.slot.suspend(later(now, self.block_pause));
                pair.signals = 0;
                pair.signals_since = None;
                alerts.push(Alert::Blocked {
                    source: source_ip,
                    site: site_name,
                    category: reply.category,
                    suspended_for: self.block_pause,
                });
            }
            return;
        }
        if !in_window(pair.signals_since) {
            pair.signals = 0;
            pair.signals_since = Some(now);
        }
        pair.signals = pair.signals.saturating_add(1);
        if pair.signals == self.pair_signals {
            // An episode that has refused everything since it began (a full window, a
            // receiver that said no to every retry) is suspended as long as it has
            // lasted, up to `route_pause`: a window that reopens on the hour is not
            // waited out for another hour on top.
            let lasted = pair
                .memory
                .as_ref()
                .and_then(|m| m.episode_since)
                .filter(|_| continued)
                .map_or(self.route_pause, |start| since(now, start));
            let pause = self.route_pause.min(lasted.max(Duration::from_secs(60)));
            pair.slot.suspend(later(now, pause));
            alerts.push(Alert::RouteReputation {
                source: source_ip,
                site: site_name,
                signals: pair.signals,
                window: self.window,
                suspended_for: pause,
            });
        }
        let source = state.sources.at(keys.source);
        if !in_window(source.throttled_since) {
            source.throttled_by.clear();
            source.throttled_since = Some(now);
        }
        if !source.throttled_by.contains(&keys.site) {
            source.throttled_by.push(keys.site);
            if source.throttled_by.len() == self.distinct_sites as usize {
                alerts.push(Alert::SourceReputation {
                    source: source_ip,
                    sites: self.distinct_sites,
                    window: self.window,
                });
            }
        }
    }
}
