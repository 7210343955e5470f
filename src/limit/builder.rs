//! [`LimitsBuilder`]: the settings of [`Limits`], checked by [`build`](LimitsBuilder::build)
//! so that every value it accepts is safe to use.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};

use super::adapt::Adaptive;
use super::alert::{Alert, Escalation};
use super::connect::Connections;
use super::fleet::{Fallback, Fleet, Store};
use super::inner::Inner;
use super::limits::Limits;
use super::rate::Rate;
use super::settings::{resolve_site, AlertHook, Settings};
use super::site::{ScopeLimits, SiteLimits};
use super::warm_up::WarmUp;
use crate::error::ConfigError;
use crate::route::Site;

/// The most routes tracked by default.
const DEFAULT_MAX_ROUTES: usize = 1_000_000;
/// The most routes that may be tracked.
const MAX_ROUTES: usize = 100_000_000;
/// Routes unused this long may be forgotten by default.
const DEFAULT_IDLE_AFTER: Duration = Duration::from_secs(3600);
/// The longest `shared_retry_after` and `shared_lease`.
const MAX_SHARED_TIME: Duration = Duration::from_secs(3600);

impl Limits<DefaultClock> {
    /// Starts limits on the system's monotonic clock.
    pub fn builder() -> LimitsBuilder<DefaultClock> {
        LimitsBuilder::new(DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limits<C> {
    /// Starts limits on the given clock.
    pub fn builder_with_clock(clock: C) -> LimitsBuilder<C> {
        LimitsBuilder::new(clock)
    }
}

/// Builds [`Limits`]; see [`Limits::builder`].
pub struct LimitsBuilder<C: Clock> {
    clock: C,
    pub(crate) source: ScopeLimits,
    pub(crate) site_default: SiteLimits,
    pub(crate) sites: HashMap<Site, SiteLimits>,
    pub(crate) presets: bool,
    pub(crate) adaptive: Adaptive,
    pub(crate) connections: Connections,
    pub(crate) max_routes: usize,
    pub(crate) idle_after: Duration,
    pub(crate) escalation: Escalation,
    on_alert: Option<AlertHook>,
    pub(crate) warm_up: Option<WarmUp>,
    pub(crate) first_sends: HashMap<IpAddr, Duration>,
    store: Option<Arc<dyn Store>>,
    pub(crate) fallback: Fallback,
    pub(crate) retry_after: Duration,
    pub(crate) lease: Duration,
}

impl<C: Clock> fmt::Debug for LimitsBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitsBuilder")
            .field("source", &self.source)
            .field("site_default", &self.site_default)
            .field("sites", &self.sites.len())
            .field("presets", &self.presets)
            .field("max_routes", &self.max_routes)
            .field("idle_after", &self.idle_after)
            .field("shared", &self.store.is_some())
            .finish()
    }
}

impl<C: Clock + Clone> LimitsBuilder<C> {
    pub(super) fn new(clock: C) -> Self {
        Self {
            clock,
            source: ScopeLimits::UNLIMITED,
            // KumoMTA's defaults per (source, site): 10 connections, 100 messages per
            // connection, 100 messages per second.
            site_default: SiteLimits {
                site: ScopeLimits::UNLIMITED,
                pair: ScopeLimits {
                    rate: Rate::per_second(100).ok(),
                    sessions: Some(10),
                },
                deliveries_per_session: Some(100),
            },
            sites: HashMap::new(),
            presets: true,
            adaptive: Adaptive::default(),
            connections: Connections::default(),
            max_routes: DEFAULT_MAX_ROUTES,
            idle_after: DEFAULT_IDLE_AFTER,
            escalation: Escalation::default(),
            on_alert: None,
            warm_up: None,
            first_sends: HashMap::new(),
            store: None,
            fallback: Fallback::Local,
            retry_after: Duration::from_secs(1),
            lease: Duration::from_secs(60),
        }
    }

    /// Shares the limits through `store` (see `shared` of feature `redis`).
    #[cfg_attr(not(any(test, feature = "redis")), allow(dead_code))]
    pub(crate) fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// What decisions do while the shared store is unreachable or slower than its
    /// timeout (default [`Fallback::Local`]: go on under this process's own limits).
    /// Without a shared store it changes nothing.
    #[must_use]
    pub fn shared_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// After a failed call, how long decisions skip the store before asking it again
    /// (default 1 s), so that a dead Redis costs one timeout per period, not one per
    /// decision. At most an hour.
    #[must_use]
    pub fn shared_retry_after(mut self, time: Duration) -> Self {
        self.retry_after = time;
        self
    }

    /// How long a session's shared lease lasts (default 60 s): extended while the
    /// session sends (every third of it), and the longest a crashed process holds a
    /// slot. A session idle past it loses the slot and must end. At most an hour.
    #[must_use]
    pub fn shared_lease(mut self, time: Duration) -> Self {
        self.lease = time;
        self
    }

    /// Caps cold sending IPs by a warm-up schedule ([`WarmUp::default`] is SendGrid's
    /// 16-day ramp), applied to each (IP, site) pair as a daily budget on top of its
    /// other limits: at most the day's volume within each day of the IP. An IP's day
    /// counts from its first send: the one recorded with
    /// [`first_send`](LimitsBuilder::first_send), or else its first message through
    /// these limits. Off by default: a restarted process should not re-warm IPs it
    /// knows nothing about, so record the first sends you keep.
    #[must_use]
    pub fn warm_up(mut self, schedule: WarmUp) -> Self {
        self.warm_up = Some(schedule);
        self
    }

    /// Records that `ip` first sent `ago` before now (from your own records), so its
    /// warm-up continues on the right day; an IP older than the schedule is warm.
    #[must_use]
    pub fn first_send(mut self, ip: IpAddr, ago: Duration) -> Self {
        self.first_sends.insert(ip, ago);
        self
    }

    /// When persistent throttling escalates (default [`Escalation::default`]).
    #[must_use]
    pub fn escalation(mut self, escalation: Escalation) -> Self {
        self.escalation = escalation;
        self
    }

    /// Calls `hook` with every alert as it is raised (alerts are also kept for
    /// [`Limits::drain_alerts`]). It runs on the thread that gave the feedback, outside
    /// the limits' lock.
    #[must_use]
    pub fn on_alert(mut self, hook: impl Fn(&Alert) + Send + Sync + 'static) -> Self {
        self.on_alert = Some(Arc::new(hook));
        self
    }

    /// Limits of each sending IP across all sites (default: none).
    #[must_use]
    pub fn per_source(mut self, limits: ScopeLimits) -> Self {
        self.source = limits;
        self
    }

    /// Limits of sites without a preset or override (default: per pair 10 sessions,
    /// 100 messages per second, 100 messages per session; the site as a whole
    /// unlimited).
    #[must_use]
    pub fn site_default(mut self, limits: SiteLimits) -> Self {
        self.site_default = limits;
        self
    }

    /// Limits of one site, instead of its preset and the defaults.
    #[must_use]
    pub fn site(mut self, site: Site, limits: SiteLimits) -> Self {
        self.sites.insert(site, limits);
        self
    }

    /// Leaves out the provider presets ([`SiteLimits::preset`]).
    #[must_use]
    pub fn without_presets(mut self) -> Self {
        self.presets = false;
        self
    }

    /// How pairs adapt to replies.
    #[must_use]
    pub fn adaptive(mut self, adaptive: Adaptive) -> Self {
        self.adaptive = adaptive;
        self
    }

    /// How pairs open connections: their connection rate and the backoff after failed
    /// connections (default [`Connections::default`]: 2 a second, 10 at once; 1 s,
    /// 2 s, 4 s … up to 5 minutes after each failure).
    #[must_use]
    pub fn connections(mut self, connections: Connections) -> Self {
        self.connections = connections;
        self
    }

    /// The most routes tracked at once, the overflow route included (default
    /// 1 000 000). Recipient domains can be chosen by anyone, so this bounds memory:
    /// when it is reached, routes that no longer bind are forgotten; if none is, a
    /// route to a site already tracked shares one of that site's pairs (the site's
    /// limits keep applying), and routes to new sites share one overflow route
    /// (`Site::Named("(overflow)")`, default site limits).
    #[must_use]
    pub fn max_routes(mut self, routes: usize) -> Self {
        self.max_routes = routes;
        self
    }

    /// How long a route must go unused before it may be forgotten (default 1 hour);
    /// routes whose rates or warm-up budget still bind are kept until they no longer
    /// do.
    #[must_use]
    pub fn idle_after(mut self, idle: Duration) -> Self {
        self.idle_after = idle;
        self
    }

    /// Checks the settings: no zero or absurd session caps, no zero messages per
    /// session, adaptive factors in range, pauses of at most 7 days (escalation: 30
    /// days), a route cap between 1 and 100 000 000, shared-store times between 1 ns
    /// and an hour.
    pub fn build(self) -> Result<Limits<C>, ConfigError> {
        let (clock, settings, fleet) = self.checked()?;
        Ok(Limits {
            inner: Arc::new(Inner::new(clock, settings, fleet)),
        })
    }

    /// The clock, the checked settings and the fleet, after the checks of
    /// [`build`](LimitsBuilder::build): what `build` and
    /// [`Limits::reconfigure`] accept is the same.
    pub(super) fn checked(self) -> Result<(C, Settings, Option<Fleet>), ConfigError> {
        self.validate()?;
        let fleet = self
            .store
            .map(|store| Fleet::new(store, self.fallback, self.retry_after, self.lease));
        let settings = Settings {
            source: self.source,
            site_default: self.site_default,
            sites: self.sites,
            presets: self.presets,
            adaptive: self.adaptive,
            connections: self.connections,
            pace: self.connections.pace(),
            max_routes: self.max_routes,
            idle_after: self.idle_after,
            overflow: Site::Named(Arc::from("(overflow)")),
            escalation: self.escalation,
            warm_up: self.warm_up,
            first_sends: self.first_sends,
            on_alert: self.on_alert,
        };
        Ok((self.clock, settings, fleet))
    }

    /// The limits `site` gets with the settings so far: its override, else its
    /// provider's preset over the defaults, else the defaults.
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) fn resolved_site(&self, site: &Site) -> SiteLimits {
        resolve_site(site, &self.sites, self.presets, self.site_default)
    }

    /// The checks of [`build`](LimitsBuilder::build).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.source.validate("source sessions")?;
        self.site_default.validate()?;
        for limits in self.sites.values() {
            limits.validate()?;
        }
        self.adaptive.validate()?;
        self.escalation.validate()?;
        self.connections.validate()?;
        if self.max_routes == 0 {
            return Err(ConfigError::Zero {
                setting: "max_routes",
            });
        }
        if self.max_routes > MAX_ROUTES {
            return Err(ConfigError::TooMany {
                setting: "max_routes",
                value: self.max_routes as u64,
                max: MAX_ROUTES as u64,
            });
        }
        for (setting, value) in [
            ("shared_retry_after", self.retry_after),
            ("shared_lease", self.lease),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Zero { setting });
            }
            if value > MAX_SHARED_TIME {
                return Err(ConfigError::TooLong {
                    setting,
                    value,
                    max: MAX_SHARED_TIME,
                });
            }
        }
        Ok(())
    }
}
