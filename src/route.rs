//! Routes: a sending IP and a destination, grouped onto the receiving *site* whose
//! limits apply.
//!
//! A site is a provider when one is recognised (every domain whose MX is Google's is
//! `google`), a group you name, or else the domain itself. No DNS lookups are made: pass
//! the MX host you connect to when you know it.
//!
//! ```
//! use std::net::IpAddr;
//! use smtp_throttle::route::{Destination, Route};
//!
//! let ip: IpAddr = "192.0.2.10".parse()?;
//! let workspace = Destination::new("Example.ORG.")?.with_mx("aspmx.l.google.com")?;
//! let gmail = Destination::new("gmail.com")?;
//! assert_eq!(workspace.domain(), "example.org");
//! assert_eq!(workspace.site(), gmail.site());
//! assert_eq!(workspace.site().to_string(), "google");
//! let route = Route::new(ip, workspace);
//! assert_eq!(route.site().to_string(), "google");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::error::RouteError;
use crate::provider::Provider;

/// The receiving side whose limits a route shares.
///
/// With the `serde` feature it is stored as `{"provider":"google"}` or
/// `{"named":"example.org"}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Site {
    /// A recognised provider.
    Provider(Provider),
    /// A group you named, or a single domain nothing else groups.
    Named(Arc<str>),
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Provider(p) => f.write_str(p.as_str()),
            Site::Named(name) => f.write_str(name),
        }
    }
}

impl Site {
    /// The provider, when the site is one.
    pub fn provider(&self) -> Option<Provider> {
        match self {
            Site::Provider(p) => Some(*p),
            Site::Named(_) => None,
        }
    }
}

/// A recipient domain, normalised, with the site it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    domain: Arc<str>,
    mx: Option<Arc<str>>,
    site: Site,
}

/// The longest domain name (RFC 1035 §2.3.4).
const MAX_NAME: usize = 253;

/// Lowercases, strips one trailing dot and checks a DNS name: labels of 1 to 63 letters,
/// digits and hyphens, not starting or ending with a hyphen, 253 bytes at most.
fn normalise_name(kind: &'static str, name: &str) -> Result<Arc<str>, RouteError> {
    let bad = |reason: &'static str| RouteError::InvalidName {
        kind,
        name: name.chars().take(64).collect(),
        reason,
    };
    let trimmed = name.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    if !trimmed.is_ascii() {
        return Err(bad("it is not ASCII; pass the IDNA (xn--) form"));
    }
    if trimmed.len() > MAX_NAME {
        return Err(bad("it is longer than 253 bytes"));
    }
    let lower = trimmed.to_ascii_lowercase();
    for label in lower.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("a label is empty or longer than 63 bytes"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(
                "a label holds a character other than a-z, 0-9, '-', '_'",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label starts or ends with '-'"));
        }
    }
    Ok(Arc::from(lower))
}

impl Destination {
    /// A destination for recipient `domain`, grouped by the built-in provider table.
    pub fn new(domain: &str) -> Result<Self, RouteError> {
        let domain = normalise_name("domain", domain)?;
        let site = Provider::from_domain(&domain)
            .map_or_else(|| Site::Named(domain.clone()), Site::Provider);
        Ok(Self {
            domain,
            mx: None,
            site,
        })
    }

    /// Records the MX host the sender connects to; a provider's MX regroups the domain
    /// onto that provider's site.
    pub fn with_mx(mut self, host: &str) -> Result<Self, RouteError> {
        let host = normalise_name("MX host", host)?;
        if let Some(provider) = Provider::from_mx_host(&host) {
            self.site = Site::Provider(provider);
        }
        self.mx = Some(host);
        Ok(self)
    }

    /// Puts the destination on a site of your choosing.
    #[must_use]
    pub fn with_site(mut self, site: Site) -> Self {
        self.site = site;
        self
    }

    /// The recipient domain, lowercase, without trailing dot.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The MX host, when given.
    pub fn mx(&self) -> Option<&str> {
        self.mx.as_deref()
    }

    /// The site whose limits apply.
    pub fn site(&self) -> &Site {
        &self.site
    }
}

/// Your own groupings of domains and MX hosts onto named sites, consulted before the
/// built-in provider table.
///
/// ```
/// use smtp_throttle::route::Sites;
/// let sites = Sites::new()
///     .group("acme", ["acme.com", "acme.co.uk"])?
///     .mx_suffix("acme", ".mx.acme-mail.net")?;
/// let d = sites.destination("acme.co.uk", None)?;
/// assert_eq!(d.site().to_string(), "acme");
/// let d = sites.destination("other.org", Some("in1.mx.acme-mail.net"))?;
/// assert_eq!(d.site().to_string(), "acme");
/// # Ok::<(), smtp_throttle::RouteError>(())
/// ```
///
/// A destination is put on the first site that claims it, in this order: its exact
/// domain ([`group`](Sites::group)), a domain suffix
/// ([`domain_suffix`](Sites::domain_suffix)), its exact MX host
/// ([`mx_host`](Sites::mx_host)), an MX suffix ([`mx_suffix`](Sites::mx_suffix));
/// suffixes are tried in the order added. A site named after a provider
/// (`"google"`, see [`Provider::as_str`]) is that provider's site.
#[derive(Clone, Debug, Default)]
pub struct Sites {
    domains: HashMap<Arc<str>, Arc<str>>,
    domain_suffixes: Vec<(Arc<str>, Arc<str>)>,
    mx_hosts: HashMap<Arc<str>, Arc<str>>,
    mx_suffixes: Vec<(Arc<str>, Arc<str>)>,
}

/// The site a name given to [`Sites`] stands for: a provider's name
/// ([`Provider::as_str`]) is that provider's site, so that its preset and limits
/// apply; any other name is a site of its own.
pub(crate) fn site_named(name: Arc<str>) -> Site {
    Provider::from_name(&name).map_or(Site::Named(name), Site::Provider)
}

/// Whether `name` is `suffix` (written `.example.net`) or ends with it.
fn ends_with_suffix(name: &str, suffix: &str) -> bool {
    name.ends_with(suffix) || name == &suffix[1..]
}

impl Sites {
    /// No groupings: only the built-in provider table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `domains` on the site `name`.
    pub fn group<'a>(
        mut self,
        name: &str,
        domains: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, RouteError> {
        let name: Arc<str> = normalise_name("site name", name)?;
        for domain in domains {
            self.domains
                .insert(normalise_name("domain", domain)?, name.clone());
        }
        Ok(self)
    }

    /// Puts every domain whose MX host ends with `suffix` on the site `name`.
    pub fn mx_suffix(mut self, name: &str, suffix: &str) -> Result<Self, RouteError> {
        let name: Arc<str> = normalise_name("site name", name)?;
        let bare = normalise_name("MX suffix", suffix.trim_start_matches('.'))?;
        self.mx_suffixes.push((Arc::from(format!(".{bare}")), name));
        Ok(self)
    }

    /// Puts every domain that ends with `suffix` (`".acme.example"` or
    /// `"acme.example"`: the domain itself and its subdomains) on the site `name`.
    pub fn domain_suffix(mut self, name: &str, suffix: &str) -> Result<Self, RouteError> {
        let name: Arc<str> = normalise_name("site name", name)?;
        let bare = normalise_name("domain suffix", suffix.trim_start_matches('.'))?;
        self.domain_suffixes
            .push((Arc::from(format!(".{bare}")), name));
        Ok(self)
    }

    /// Puts every domain whose MX host is exactly `host` on the site `name`.
    pub fn mx_host(mut self, name: &str, host: &str) -> Result<Self, RouteError> {
        let name: Arc<str> = normalise_name("site name", name)?;
        self.mx_hosts.insert(normalise_name("MX host", host)?, name);
        Ok(self)
    }

    /// Whether no grouping was added.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
            && self.domain_suffixes.is_empty()
            && self.mx_hosts.is_empty()
            && self.mx_suffixes.is_empty()
    }

    /// A destination for `domain` (and the MX host, if known), grouped by your sites
    /// first and the built-in providers second.
    pub fn destination(&self, domain: &str, mx: Option<&str>) -> Result<Destination, RouteError> {
        let mut destination = Destination::new(domain)?;
        if let Some(host) = mx {
            destination = destination.with_mx(host)?;
        }
        let domain = destination.domain();
        let by_suffix = |list: &[(Arc<str>, Arc<str>)], name: &str| {
            list.iter()
                .find(|(suffix, _)| ends_with_suffix(name, suffix))
                .map(|(_, site)| site.clone())
        };
        let by_mx = || {
            destination.mx().and_then(|host| {
                self.mx_hosts
                    .get(host)
                    .cloned()
                    .or_else(|| by_suffix(&self.mx_suffixes, host))
            })
        };
        let found = self
            .domains
            .get(domain)
            .cloned()
            .or_else(|| by_suffix(&self.domain_suffixes, domain))
            .or_else(by_mx);
        if let Some(name) = found {
            destination = destination.with_site(site_named(name));
        }
        Ok(destination)
    }
}

/// A sending IP and a destination: what limits are kept for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    source: IpAddr,
    destination: Destination,
}

impl Route {
    /// The route from `source` to `destination`.
    pub fn new(source: IpAddr, destination: Destination) -> Self {
        Self {
            source,
            destination,
        }
    }

    /// The sending IP.
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// The destination.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The destination's site.
    pub fn site(&self) -> &Site {
        &self.destination.site
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(
            Destination::new(" Gmail.COM. ").unwrap().domain(),
            "gmail.com"
        );
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "exa mple.com",
            "bücher.de",
            &"a".repeat(64),
            &format!("{}.com", "a.".repeat(130)),
        ] {
            assert!(Destination::new(bad).is_err(), "{bad:?}");
        }
        assert!(Destination::new("xn--bcher-kva.de").is_ok());
    }

    #[test]
    fn sites_by_domain_suffix_and_mx_host() {
        let sites = Sites::new()
            .domain_suffix("acme", ".acme.example")
            .unwrap()
            .mx_host("relay", "in.relay.example")
            .unwrap()
            .mx_suffix("hosted", "mx.hosted.example")
            .unwrap();
        let site = |d: &str, mx: Option<&str>| sites.destination(d, mx).unwrap().site().to_string();
        assert_eq!(site("acme.example", None), "acme");
        assert_eq!(site("eu.acme.example", None), "acme");
        assert_eq!(site("notacme.example", None), "notacme.example");
        assert_eq!(site("x.example", Some("in.relay.example")), "relay");
        assert_eq!(site("x.example", Some("a.in.relay.example")), "x.example");
        assert_eq!(site("x.example", Some("a.mx.hosted.example")), "hosted");
        // A domain suffix decides before an MX match.
        assert_eq!(site("eu.acme.example", Some("in.relay.example")), "acme");
        assert!(Sites::new().is_empty() && !sites.is_empty());
        assert!(Sites::new().domain_suffix("acme", "bad..suffix").is_err());
        let google = Sites::new().group("google", ["corp.example"]).unwrap();
        let d = google.destination("corp.example", None).unwrap();
        assert_eq!(d.site(), &Site::Provider(Provider::Google));
    }

    #[test]
    fn groups_by_provider() {
        let site = |d: &str, mx: Option<&str>| {
            let mut dest = Destination::new(d).unwrap();
            if let Some(mx) = mx {
                dest = dest.with_mx(mx).unwrap();
            }
            dest.site().to_string()
        };
        assert_eq!(site("gmail.com", None), "google");
        assert_eq!(site("corp.example", Some("ASPMX.L.GOOGLE.COM.")), "google");
        assert_eq!(
            site(
                "contoso.example",
                Some("contoso-example.mail.protection.outlook.com")
            ),
            "microsoft"
        );
        assert_eq!(site("aol.com", None), "yahoo");
        assert_eq!(site("x.example", Some("mta5.am0.yahoodns.net")), "yahoo");
        assert_eq!(site("example.org", None), "example.org");
        assert_eq!(site("example.org", Some("mx.example.org")), "example.org");
        assert!(Provider::from_mx_host("notgoogle.com").is_none());
    }
}
