//! The checked settings the limits run on, and which limits apply to a site.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::adapt::Adaptive;
use super::alert::{Alert, Escalation};
use super::connect::{Connections, Pace};
use super::site::{ScopeLimits, SiteLimits};
use super::warm_up::WarmUp;
use crate::route::Site;

/// A function that receives alerts as they happen.
pub(super) type AlertHook = std::sync::Arc<dyn Fn(&Alert) + Send + Sync>;

/// The checked settings the limits run on.
pub(super) struct Settings {
    pub(super) source: ScopeLimits,
    pub(super) site_default: SiteLimits,
    pub(super) sites: HashMap<Site, SiteLimits>,
    pub(super) presets: bool,
    pub(super) adaptive: Adaptive,
    pub(super) connections: Connections,
    /// `connections.rate` as the gate uses it.
    pub(super) pace: Option<Pace>,
    pub(super) max_routes: usize,
    pub(super) idle_after: Duration,
    pub(super) overflow: Site,
    pub(super) escalation: Escalation,
    pub(super) warm_up: Option<WarmUp>,
    pub(super) first_sends: HashMap<IpAddr, Duration>,
    pub(super) on_alert: Option<AlertHook>,
}

impl Settings {
    /// The limits of `site`: its override, else its provider's preset over the
    /// defaults, else the defaults.
    pub(super) fn site(&self, site: &Site) -> SiteLimits {
        resolve_site(site, &self.sites, self.presets, self.site_default)
    }
}

/// The limits of `site`: its override in `sites`, else its provider's preset (when
/// `presets`) over `default`, else `default`.
pub(super) fn resolve_site(
    site: &Site,
    sites: &HashMap<Site, SiteLimits>,
    presets: bool,
    default: SiteLimits,
) -> SiteLimits {
    if let Some(limits) = sites.get(site) {
        return *limits;
    }
    let preset = presets
        .then(|| site.provider().and_then(SiteLimits::preset))
        .flatten();
    match preset {
        // A preset fills in what it publishes; the defaults cover the rest.
        Some(p) => SiteLimits {
            site: ScopeLimits {
                rate: p.site.rate.or(default.site.rate),
                sessions: p.site.sessions.or(default.site.sessions),
            },
            pair: ScopeLimits {
                rate: p.pair.rate.or(default.pair.rate),
                sessions: p.pair.sessions.or(default.pair.sessions),
            },
            deliveries_per_session: p.deliveries_per_session.or(default.deliveries_per_session),
        },
        None => default,
    }
}
