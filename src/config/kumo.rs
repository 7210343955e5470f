//! KumoMTA's `shaping.toml` layout, read as it is: the `default` table, domain tables,
//! `provider` tables with their `match` lists, `sources` overrides and `automation`
//! entries, mapped onto this crate's limits, sites and rules. Keys without a
//! counterpart, and keys mapped with a difference, are listed in a [`KumoReport`].

use std::fmt;
use std::ops::Range;

use toml::de::DeValue;
use toml::Spanned;

use super::doc::{join, Doc, Table, Value};
use super::file::{check_rules, named_site};
use super::{LimitsFile, SiteSet};
use crate::classify::{Category, Rule, Scope};
use crate::error::{ConfigError, FileError, FileErrorKind};
use crate::limit::{Connections, ScopeLimits, SiteLimits};
use crate::route::{Destination, Sites};

/// One key of a KumoMTA file that this crate does not take as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KumoKey {
    /// The key's path, as `"example.com".enable_tls` or
    /// `provider.yahoo.automation[0].trigger`.
    pub path: String,
    /// The 1-based line of the key.
    pub line: usize,
    /// Why it is not taken as it is, and what this crate does instead if anything.
    pub reason: &'static str,
}

/// What a KumoMTA file held that this crate does not take as it is: keys with no
/// counterpart (`unmapped`, left out) and keys mapped with a difference
/// (`approximated`). Neither is an error; read it once when migrating.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KumoReport {
    /// Keys left out: nothing here does what they do.
    pub unmapped: Vec<KumoKey>,
    /// Keys taken with a difference in meaning.
    pub approximated: Vec<KumoKey>,
}

impl KumoReport {
    /// Whether every key was taken as it is.
    pub fn is_empty(&self) -> bool {
        self.unmapped.is_empty() && self.approximated.is_empty()
    }
}

impl fmt::Display for KumoReport {
    /// One line per key: `unmapped line 4: "example.com".enable_tls: reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (what, keys) in [
            ("unmapped", &self.unmapped),
            ("approximated", &self.approximated),
        ] {
            for key in keys {
                writeln!(f, "{what} line {}: {}: {}", key.line, key.path, key.reason)?;
            }
        }
        Ok(())
    }
}

/// Why a key is left out or approximated.
mod why {
    pub(super) const NO_COUNTERPART: &str = "no counterpart in this crate";
    pub(super) const TLS: &str = "TLS is the sender's business: this crate opens no connections";
    pub(super) const RECIPIENTS: &str =
        "this crate does not batch recipients; the sender decides RCPTs per message";
    pub(super) const GLOBAL_ONLY: &str = "one setting for every pair here (Connections): \
         taken from the `default` table only";
    pub(super) const SOURCES: &str = "per egress-source overrides have no counterpart: limits \
         apply to every sending IP alike";
    pub(super) const REPLACE_BASE: &str = "one file is read; there is no earlier file to replace";
    pub(super) const MX_ROLLUP: &str = "no DNS lookups here: other domains sharing this domain's \
         MX hosts are grouped with it only when the route names its MX host and a provider \
         table matches it";
    pub(super) const IDLE: &str = "taken as Connections::idle, the longest an open session \
         waits for its next message's rate before it is closed (at most an hour)";
    pub(super) const PROVIDER_LIMIT: &str = "KumoMTA applies connection_limit to each MX site \
         the provider matches; here the provider's domains are one site, so it is their \
         sessions together (provider_connection_limit wins when both are set)";
    pub(super) const MATCH_KIND: &str = "only MXSuffix, DomainSuffix and HostName matches exist";
    pub(super) const ACTION: &str = "no counterpart for this action (tenants and campaigns are \
         not known here); the automation entry makes no rule";
    pub(super) const SET_CONFIG: &str = "SetConfig of this setting has no counterpart; the \
         automation entry makes no rule";
    pub(super) const SET_CONFIG_ADAPTS: &str = "a rule classifies the reply as a rate or \
         connections objection: the adaptive controller lowers the limit by its own steps and \
         ramps it back, instead of setting this value for the duration";
    pub(super) const SUSPEND: &str = "a rule classifies the reply as rate_limited with the \
         duration as its retry-after: the pair pauses that long, and its rate also comes \
         down (KumoMTA resumes at the old rate)";
    pub(super) const BOUNCE: &str = "a rule classifies the reply as policy, no retry: each \
         message it answers bounces; the rest of the queue is not bounced at once";
    pub(super) const THRESHOLD: &str = "the rule applies from the first matching reply; \
         repeated throttling is counted by the escalation settings instead";
    pub(super) const REGEX_CODE: &str = "the regex is matched against the reply's text without \
         its codes; a pattern anchored on a code never matches (use a rule in this crate's \
         layout with `code` / `enhanced`)";
    pub(super) const ACTION_LIST: &str = "a list of actions: only one action per entry is read";
    pub(super) const NO_REGEX: &str = "an automation entry without a regex matches nothing";
    pub(super) const GLOBAL_RULES: &str = "automation rules classify replies from every site, \
         not only this table's (their texts are usually the provider's own)";
}

/// Where mapped keys go.
enum Place<'s> {
    Default,
    Domain,
    Provider {
        connection_limit_wins: bool,
        name: &'s str,
    },
}

struct Reader<'d, 'a> {
    doc: &'d Doc<'a>,
    file: LimitsFile,
    report: KumoReport,
    rules: Vec<(Rule, (Range<usize>, String))>,
}

/// Reads a whole KumoMTA shaping file.
pub(super) fn read(doc: &Doc<'_>) -> Result<(LimitsFile, KumoReport), FileError> {
    let top = doc.parse()?;
    let top_table = top.get_ref();
    let mut reader = Reader {
        doc,
        file: LimitsFile::default(),
        report: KumoReport::default(),
        rules: Vec::new(),
    };
    for (key, value) in top_table.iter() {
        let name = key.get_ref().as_ref();
        let path = join("", name);
        match name {
            "default" => {
                let table = doc.table(value, &path)?;
                let set = reader.limits(table, &path, Place::Default)?;
                reader.file.default = set;
            }
            "provider" => {
                for (provider, body) in doc.table(value, &path)?.iter() {
                    reader.provider(provider.get_ref(), &provider.span(), body, &path)?;
                }
            }
            domain => {
                let table = doc.table(value, &path)?;
                let site = Destination::new(domain)
                    .map(|d| d.site().clone())
                    .map_err(|e| doc.error(&key.span(), &path, FileErrorKind::Route(e)))?;
                let set = reader.limits(table, &path, Place::Domain)?;
                reader.file.sites.push((site, set));
            }
        }
    }
    let Reader {
        mut file,
        report,
        rules,
        ..
    } = reader;
    let (list, places): (Vec<_>, Vec<_>) = rules.into_iter().unzip();
    check_rules(doc, &list, &places, (top.span(), ""))?;
    file.rules = list;
    Ok((file, report))
}

impl Reader<'_, '_> {
    fn unmapped(&mut self, span: &Range<usize>, path: String, reason: &'static str) {
        self.report.unmapped.push(KumoKey {
            path,
            line: self.doc.line(span),
            reason,
        });
    }

    fn approximated(&mut self, span: &Range<usize>, path: String, reason: &'static str) {
        self.report.approximated.push(KumoKey {
            path,
            line: self.doc.line(span),
            reason,
        });
    }

    /// A check of one value, as an error at it.
    fn check(
        &self,
        v: &Value<'_>,
        path: &str,
        result: Result<(), ConfigError>,
    ) -> Result<(), FileError> {
        result.map_err(|e| self.doc.invalid(&v.span(), path, e))
    }

    fn provider(
        &mut self,
        name: &str,
        span: &Range<usize>,
        body: &Value<'_>,
        path: &str,
    ) -> Result<(), FileError> {
        let doc = self.doc;
        let path = join(path, name);
        let table = doc.table(body, &path)?;
        let site = named_site(name).map_err(|e| doc.error(span, &path, FileErrorKind::Route(e)))?;
        let set = self.limits(
            table,
            &path,
            Place::Provider {
                connection_limit_wins: table.get("provider_connection_limit").is_none(),
                name,
            },
        )?;
        self.file.sites.push((site, set));
        Ok(())
    }

    /// The keys of one `default`, domain or provider table.
    fn limits(
        &mut self,
        table: &Table<'_>,
        path: &str,
        kind: Place<'_>,
    ) -> Result<SiteSet, FileError> {
        let doc = self.doc;
        let mut set = SiteSet::default();
        let is_default = matches!(kind, Place::Default);
        for (key, v) in table.iter() {
            let name = key.get_ref().as_ref();
            let p = join(path, name);
            let span = key.span();
            match name {
                "connection_limit" | "provider_connection_limit" => {
                    let wins = match kind {
                        Place::Provider {
                            connection_limit_wins,
                            ..
                        } => {
                            if name == "connection_limit" {
                                self.approximated(&span, p.clone(), why::PROVIDER_LIMIT);
                            }
                            name == "provider_connection_limit" || connection_limit_wins
                        }
                        _ if name == "provider_connection_limit" => {
                            self.unmapped(&span, p, why::NO_COUNTERPART);
                            continue;
                        }
                        _ => true,
                    };
                    let n = self.count(v, &p)?;
                    self.check(v, &p, ScopeLimits::sessions(n).validate("connection_limit"))?;
                    if wins {
                        set.pair.sessions = Some(Some(n));
                    }
                }
                "max_message_rate" | "provider_max_message_rate" => {
                    if name == "provider_max_message_rate"
                        && !matches!(kind, Place::Provider { .. })
                    {
                        self.unmapped(&span, p, why::NO_COUNTERPART);
                        continue;
                    }
                    let rate = doc.rate(&strip_local(v), &p, true)?;
                    if name == "provider_max_message_rate" || set.pair.rate.is_none() {
                        set.pair.rate = Some(rate);
                    }
                }
                "max_deliveries_per_connection" => {
                    let n = self.count(v, &p)?;
                    let limits = SiteLimits {
                        deliveries_per_session: Some(n),
                        ..SiteLimits::default()
                    };
                    self.check(v, &p, limits.validate())?;
                    set.deliveries_per_session = Some(Some(n));
                }
                "max_connection_rate" if is_default => {
                    let rate = doc.rate(&strip_local(v), &p, true)?;
                    self.file.connections.rate = Some(rate);
                }
                "consecutive_connection_failures_before_delay" if is_default => {
                    let n = self.count(v, &p)?;
                    let connections = Connections {
                        failures_before_delay: n,
                        ..Connections::default()
                    };
                    self.check(v, &p, connections.validate())?;
                    self.file.connections.failures_before_delay = Some(n);
                }
                "idle_timeout" if is_default => {
                    let idle = doc.duration(v, &p)?;
                    let connections = Connections {
                        idle,
                        ..Connections::default()
                    };
                    self.check(v, &p, connections.validate())?;
                    self.file.connections.idle = Some(idle);
                    self.approximated(&span, p, why::IDLE);
                }
                "max_connection_rate"
                | "consecutive_connection_failures_before_delay"
                | "idle_timeout" => self.unmapped(&span, p, why::GLOBAL_ONLY),
                "mx_rollup" => {
                    if doc.bool(v, &p)? {
                        self.approximated(&span, p, why::MX_ROLLUP);
                    }
                }
                "replace_base" => self.unmapped(&span, p, why::REPLACE_BASE),
                "enable_tls"
                | "tls_prefer_openssl"
                | "openssl_cipher_list"
                | "openssl_options"
                | "rustls_cipher_suites"
                | "enable_dane"
                | "enable_mta_sts" => self.unmapped(&span, p, why::TLS),
                "max_recipients_per_message" => self.unmapped(&span, p, why::RECIPIENTS),
                "match" => match kind {
                    Place::Provider { name: site, .. } => self.matches(site, v, &p)?,
                    _ => self.unmapped(&span, p, why::NO_COUNTERPART),
                },
                "sources" => {
                    let sources = doc.table(v, &p)?;
                    for (source, overrides) in sources.iter() {
                        let sp = join(&p, source.get_ref());
                        match overrides.get_ref().as_table() {
                            Some(keys) if !keys.is_empty() => {
                                for (k, _) in keys.iter() {
                                    self.unmapped(&k.span(), join(&sp, k.get_ref()), why::SOURCES);
                                }
                            }
                            _ => self.unmapped(&source.span(), sp, why::SOURCES),
                        }
                    }
                }
                "automation" => {
                    let entries = doc.list(v, &p, false, |item, ip| Ok((item, ip.to_owned())))?;
                    for (entry, ep) in entries {
                        self.automation(entry, &ep, !is_default)?;
                    }
                }
                _ => self.unmapped(&span, p, why::NO_COUNTERPART),
            }
        }
        Ok(set)
    }

    /// A count written as a number or as a string (`"1,000"`, `"local:20"`).
    fn count(&self, v: &Value<'_>, path: &str) -> Result<u32, FileError> {
        self.doc.count(&strip_local(v), path)
    }

    /// A provider's `match` list onto the sites table.
    fn matches(&mut self, site: &str, v: &Value<'_>, path: &str) -> Result<(), FileError> {
        let doc = self.doc;
        let items = doc.list(v, path, true, |item, ip| Ok((item, ip.to_owned())))?;
        for (item, ip) in items {
            let table = doc.table(item, &ip)?;
            for (kind, value) in table.iter() {
                let kp = join(&ip, kind.get_ref());
                let add: fn(Sites, &str, &str) -> Result<Sites, crate::error::RouteError> =
                    match kind.get_ref().as_ref() {
                        "MXSuffix" => Sites::mx_suffix,
                        "DomainSuffix" => Sites::domain_suffix,
                        "HostName" => Sites::mx_host,
                        _ => {
                            self.unmapped(&kind.span(), kp, why::MATCH_KIND);
                            continue;
                        }
                    };
                let text = doc.str(value, &kp)?;
                let groups = std::mem::take(&mut self.file.groups);
                self.file.groups = add(groups, site, text)
                    .map_err(|e| doc.error(&value.span(), &kp, FileErrorKind::Route(e)))?;
            }
        }
        Ok(())
    }

    /// One `automation` entry: a rule, or a report of why none.
    fn automation(&mut self, entry: &Value<'_>, path: &str, scoped: bool) -> Result<(), FileError> {
        let doc = self.doc;
        let table = doc.table(entry, path)?;
        let mut patterns = Vec::new();
        let mut duration = None;
        let mut action: Option<(&Value<'_>, String)> = None;
        for (key, v) in table.iter() {
            let p = join(path, key.get_ref());
            match key.get_ref().as_ref() {
                "regex" => {
                    patterns =
                        doc.list(v, &p, true, |item, ip| Ok(doc.str(item, ip)?.to_owned()))?;
                    if patterns.iter().any(|r| starts_with_code(r)) {
                        self.approximated(&key.span(), p, why::REGEX_CODE);
                    }
                }
                "duration" => duration = Some(doc.duration(v, &p)?),
                "action" => action = Some((v, p)),
                "trigger" => match v.get_ref().as_str() {
                    Some("Immediate") => {}
                    _ => self.approximated(&key.span(), p, why::THRESHOLD),
                },
                _ => self.unmapped(&key.span(), p, why::NO_COUNTERPART),
            }
        }
        let Some((action, action_path)) = action else {
            self.unmapped(&entry.span(), path.to_owned(), why::ACTION);
            return Ok(());
        };
        // What the action makes of a matching reply: its category, whether to retry,
        // its scope, and why that is not quite KumoMTA's action.
        let (category, retry, scope, reason) = match action.get_ref() {
            v if v.as_str() == Some("Suspend") => {
                (Category::RateLimited, true, Scope::Route, why::SUSPEND)
            }
            v if v.as_str() == Some("Bounce") => {
                (Category::Policy, false, Scope::Message, why::BOUNCE)
            }
            DeValue::Table(t) if t.get("SetConfig").is_some() => {
                let name = t
                    .get("SetConfig")
                    .and_then(|s| s.get_ref().as_table())
                    .and_then(|s| s.get("name"))
                    .and_then(|n| n.get_ref().as_str());
                match name {
                    Some("max_message_rate" | "provider_max_message_rate") => (
                        Category::RateLimited,
                        true,
                        Scope::Route,
                        why::SET_CONFIG_ADAPTS,
                    ),
                    Some(
                        "connection_limit" | "provider_connection_limit" | "max_connection_rate",
                    ) => (
                        Category::TooManyConnections,
                        true,
                        Scope::Connection,
                        why::SET_CONFIG_ADAPTS,
                    ),
                    _ => {
                        self.unmapped(&action.span(), action_path, why::SET_CONFIG);
                        return Ok(());
                    }
                }
            }
            DeValue::Array(_) => {
                self.unmapped(&action.span(), action_path, why::ACTION_LIST);
                return Ok(());
            }
            _ => {
                self.unmapped(&action.span(), action_path, why::ACTION);
                return Ok(());
            }
        };
        if patterns.is_empty() {
            self.unmapped(&entry.span(), path.to_owned(), why::NO_REGEX);
            return Ok(());
        }
        let regex = if patterns.len() == 1 {
            patterns.remove(0)
        } else {
            patterns
                .iter()
                .map(|p| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|")
        };
        let id = format!("kumo.{path}");
        let mut rule = Rule::new(id, category)
            .retry(retry)
            .scope(scope)
            .regex(regex);
        // Only a suspension lasts for the entry's duration; SetConfig's duration is
        // the adaptive controller's to decide (reported above).
        if let (why::SUSPEND, Some(duration)) = (reason, duration) {
            rule = rule.retry_after(duration);
        }
        self.approximated(&action.span(), action_path, reason);
        if scoped {
            self.approximated(&entry.span(), path.to_owned(), why::GLOBAL_RULES);
        }
        self.rules.push((rule, (entry.span(), path.to_owned())));
        Ok(())
    }
}

/// A value with KumoMTA's `local:` prefix removed (this crate's limits are local
/// unless shared through a store).
fn strip_local<'i>(v: &Value<'i>) -> Value<'i> {
    match v.get_ref().as_str().and_then(|s| s.strip_prefix("local:")) {
        Some(rest) => Spanned::new(
            v.span(),
            DeValue::String(std::borrow::Cow::Owned(rest.to_owned())),
        ),
        None => v.clone(),
    }
}

/// Whether a regex is anchored on a reply code (`^4`, `^\d`, `^[45]`).
fn starts_with_code(pattern: &str) -> bool {
    let Some(rest) = pattern.strip_prefix('^') else {
        return false;
    };
    rest.starts_with(|c: char| c.is_ascii_digit())
        || rest.starts_with("\\d")
        || rest.starts_with('[')
}
