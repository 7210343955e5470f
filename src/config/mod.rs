//! Limits, sites and rules from files (feature `config`): this crate's TOML layout and
//! KumoMTA's `shaping.toml`, read into a [`LimitsFile`] that is applied to a
//! [`LimitsBuilder`], a [`Sites`] table and a [`ClassifierBuilder`].
//!
//! The file layer maps keys onto the existing builders and leaves the checking to
//! them: a value the builders refuse is a [`FileError`] naming the file, the line and
//! the key. Unknown keys are errors in this crate's layout; in KumoMTA's layout keys
//! without a counterpart are listed in a [`KumoReport`].
//!
//! ```
//! use smtp_throttle::config::LimitsFile;
//! use smtp_throttle::limit::Limits;
//! use smtp_throttle::route::Site;
//!
//! let file = LimitsFile::from_toml(r#"
//!     [default]
//!     rate = "100/min"
//!     sessions = 4
//!
//!     [sites.acme]
//!     domain_suffixes = [".acme.example"]
//!     rate = "10/s,max_burst=20"
//! "#)?;
//! let limits = file.apply(Limits::builder()).build()?;
//! let route_site = file.sites().destination("eu.acme.example", None)?.site().clone();
//! assert_eq!(route_site.to_string(), "acme");
//! let acme = limits.site_limits(&route_site);
//! assert_eq!(acme.pair.sessions, Some(4)); // from [default]
//! assert_eq!(acme.pair.rate.map(|r| r.burst()), Some(10)); // at most the count
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A changed file is applied to running limits with
//! [`Limits::reconfigure`](crate::limit::Limits::reconfigure):
//! `limits.reconfigure(LimitsFile::from_file(path)?.apply(Limits::builder()))` moves
//! every route to the new settings and keeps its state; a file that does not read or
//! check leaves the limits in force as they are. `examples/config.rs` (`--reload`,
//! `--watch`) shows it while a sender runs.

mod doc;
mod file;
mod kumo;
mod value;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};

pub use kumo::{KumoKey, KumoReport};

use crate::classify::{ClassifierBuilder, Rule};
use crate::error::{Cause, FileError, FileErrorKind};
use crate::limit::{
    Adaptive, Connections, Escalation, Fallback, Limits, LimitsBuilder, Rate, ScopeLimits,
    SiteLimits, WarmUp,
};
use crate::route::{Site, Sites};

/// Declares an overlay of some fields of a settings struct: the values a file set,
/// laid over the values the builder already holds.
macro_rules! overlay {
    ($(#[$doc:meta])* $name:ident for $target:ty { $($field:ident: $ty:ty,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        struct $name {
            $($field: Option<$ty>,)*
        }

        impl $name {
            /// `base` with the fields this overlay sets replaced.
            fn over(&self, mut base: $target) -> $target {
                $(if let Some(value) = self.$field {
                    base.$field = value;
                })*
                base
            }
        }
    };
}

overlay! {
    /// What a file sets of [`Adaptive`].
    AdaptiveSet for Adaptive {
        decrease: f64,
        floor: Rate,
        ramp_after: u32,
        ramp_step: f64,
        rate_limited_pause: Duration,
        reputation_pause: Duration,
        busy_pause: Duration,
        initial_sessions: Option<u32>,
    }
}

overlay! {
    /// What a file sets of [`Escalation`].
    EscalationSet for Escalation {
        pair_signals: u32,
        distinct_sites: u32,
        window: Duration,
        route_pause: Duration,
        block_pause: Duration,
    }
}

overlay! {
    /// What a file sets of [`Connections`].
    ConnectionsSet for Connections {
        rate: Option<Rate>,
        failures_before_delay: u32,
        first_delay: Duration,
        max_delay: Duration,
        idle: Duration,
    }
}

overlay! {
    /// What a file sets of one scope's [`ScopeLimits`].
    ScopeSet for ScopeLimits {
        rate: Option<Rate>,
        sessions: Option<u32>,
    }
}

/// What a file sets of one site's [`SiteLimits`]; the rest comes from where the site
/// would get it without the file (its preset, the defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct SiteSet {
    pair: ScopeSet,
    site: ScopeSet,
    deliveries_per_session: Option<Option<u32>>,
}

impl SiteSet {
    fn over(&self, base: SiteLimits) -> SiteLimits {
        SiteLimits {
            site: self.site.over(base.site),
            pair: self.pair.over(base.pair),
            deliveries_per_session: self
                .deliveries_per_session
                .unwrap_or(base.deliveries_per_session),
        }
    }
}

/// Limits, site groupings and classification rules read from a file.
///
/// Made by [`from_toml`](LimitsFile::from_toml) / [`from_file`](LimitsFile::from_file)
/// (this crate's layout, shown in the README's "Configuration files") or
/// [`from_kumo_shaping`](LimitsFile::from_kumo_shaping) (KumoMTA's `shaping.toml`).
/// Every value in it has passed the builders' checks; [`apply`](LimitsFile::apply)
/// lays it over a builder's settings, [`sites`](LimitsFile::sites) says which site a
/// destination is on, and [`classifier`](LimitsFile::classifier) holds the rules.
#[derive(Clone, Debug, Default)]
pub struct LimitsFile {
    presets: Option<bool>,
    max_routes: Option<usize>,
    idle_after: Option<Duration>,
    source: ScopeSet,
    default: SiteSet,
    sites: Vec<(Site, SiteSet)>,
    adaptive: AdaptiveSet,
    escalation: EscalationSet,
    connections: ConnectionsSet,
    warm_up: Option<WarmUp>,
    first_sends: Vec<(IpAddr, Duration)>,
    fallback: Option<Fallback>,
    shared_retry_after: Option<Duration>,
    shared_lease: Option<Duration>,
    groups: Sites,
    rules: Vec<Rule>,
}

impl LimitsFile {
    /// Reads this crate's layout from `text`.
    pub fn from_toml(text: &str) -> Result<Self, FileError> {
        file::read(&doc::Doc::new(text, None))
    }

    /// Reads this crate's layout from the file at `path`; errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, FileError> {
        let path = path.as_ref();
        let text = read(path)?;
        file::read(&doc::Doc::new(&text, Some(path)))
    }

    /// Reads KumoMTA's `shaping.toml` layout from `text`: its limits, provider
    /// matches and automation rules, with the keys that have no counterpart here in
    /// the report (see the README's mapping table).
    pub fn from_kumo_shaping(text: &str) -> Result<(Self, KumoReport), FileError> {
        kumo::read(&doc::Doc::new(text, None))
    }

    /// [`from_kumo_shaping`](LimitsFile::from_kumo_shaping) from the file at `path`.
    pub fn from_kumo_file(path: impl AsRef<Path>) -> Result<(Self, KumoReport), FileError> {
        let path = path.as_ref();
        let text = read(path)?;
        kumo::read(&doc::Doc::new(&text, Some(path)))
    }

    /// Lays the file's settings over `builder`'s: what the file sets replaces the
    /// builder's value, the rest is kept. A site the file names gets the keys it sets
    /// over the limits it would have without them (its preset and the defaults, the
    /// file's `[default]` included).
    #[must_use]
    pub fn apply<C: Clock + Clone>(&self, mut builder: LimitsBuilder<C>) -> LimitsBuilder<C> {
        if let Some(presets) = self.presets {
            builder.presets = presets;
        }
        if let Some(max_routes) = self.max_routes {
            builder.max_routes = max_routes;
        }
        if let Some(idle_after) = self.idle_after {
            builder.idle_after = idle_after;
        }
        builder.source = self.source.over(builder.source);
        builder.site_default = self.default.over(builder.site_default);
        for (site, set) in &self.sites {
            let base = builder.resolved_site(site);
            builder.sites.insert(site.clone(), set.over(base));
        }
        builder.adaptive = self.adaptive.over(builder.adaptive);
        builder.escalation = self.escalation.over(builder.escalation);
        builder.connections = self.connections.over(builder.connections);
        if let Some(warm_up) = &self.warm_up {
            builder.warm_up = Some(warm_up.clone());
        }
        for &(ip, ago) in &self.first_sends {
            builder.first_sends.insert(ip, ago);
        }
        if let Some(fallback) = self.fallback {
            builder.fallback = fallback;
        }
        if let Some(time) = self.shared_retry_after {
            builder.retry_after = time;
        }
        if let Some(time) = self.shared_lease {
            builder.lease = time;
        }
        builder
    }

    /// The file's groupings of domains and MX hosts onto sites: build destinations
    /// with [`Sites::destination`] so that routes land on the sites the file limits.
    pub fn sites(&self) -> &Sites {
        &self.groups
    }

    /// The file's classification rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Adds the file's rules to `builder`, ahead of the built-in rules.
    #[must_use]
    pub fn classifier(&self, builder: ClassifierBuilder) -> ClassifierBuilder {
        self.rules
            .iter()
            .cloned()
            .fold(builder, ClassifierBuilder::rule)
    }

    /// The sites the file sets limits for, in file order.
    pub fn limited_sites(&self) -> impl Iterator<Item = &Site> + '_ {
        self.sites.iter().map(|(site, _)| site)
    }
}

/// Reads a file's text; the error names the file.
fn read(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|e| {
        FileError::new(
            Some(path.to_path_buf()),
            None,
            String::new(),
            FileErrorKind::Io(Cause::new(e)),
        )
    })
}

impl LimitsBuilder<DefaultClock> {
    /// Limits on the system clock with the settings of a file in this crate's layout
    /// (see [`LimitsFile`]). The file's site groupings (domains, suffixes, MX hosts)
    /// are not part of the limits: when the file has them, keep the
    /// [`LimitsFile`] and build destinations with its [`sites`](LimitsFile::sites).
    pub fn from_toml(text: &str) -> Result<Self, FileError> {
        Ok(LimitsFile::from_toml(text)?.apply(Limits::builder()))
    }

    /// [`from_toml`](LimitsBuilder::from_toml) from the file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, FileError> {
        Ok(LimitsFile::from_file(path)?.apply(Limits::builder()))
    }
}

impl ClassifierBuilder {
    /// Adds the `[[rules]]` of a file in this crate's layout (the whole file is read
    /// and checked), ahead of the built-in rules.
    pub fn rules_from_toml(self, text: &str) -> Result<Self, FileError> {
        Ok(LimitsFile::from_toml(text)?.classifier(self))
    }
}
