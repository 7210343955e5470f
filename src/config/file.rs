//! This crate's own file layout (see the README's "Configuration files"): every
//! setting of [`LimitsBuilder`](crate::limit::LimitsBuilder) and the user's rules.

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::Range;

use super::doc::{join, Doc, Table, Value};
use super::{AdaptiveSet, ConnectionsSet, EscalationSet, LimitsFile, ScopeSet, SiteSet};
use crate::classify::{Category, Classifier, Rule, Scope};
use crate::error::{ConfigError, FileError, FileErrorKind, RuleError};
use crate::limit::{Adaptive, Connections, Escalation, Fallback, Limits, SiteLimits, WarmUp};
use crate::provider::Provider;
use crate::route::Site;

const TOP: &[&str] = &[
    "presets",
    "max_routes",
    "idle_after",
    "source",
    "default",
    "sites",
    "providers",
    "adaptive",
    "escalation",
    "connections",
    "warm_up",
    "shared",
    "rules",
];
const SCOPE: &[&str] = &["rate", "sessions"];
const SITE_LIMITS: &[&str] = &[
    "rate",
    "sessions",
    "site_rate",
    "site_sessions",
    "deliveries_per_session",
];
const SITE: &[&str] = &[
    "rate",
    "sessions",
    "site_rate",
    "site_sessions",
    "deliveries_per_session",
    "domains",
    "domain_suffixes",
    "mx_hosts",
    "mx_suffixes",
];
const ADAPTIVE: &[&str] = &[
    "decrease",
    "floor",
    "ramp_after",
    "ramp_step",
    "rate_limited_pause",
    "reputation_pause",
    "busy_pause",
    "initial_sessions",
];
const ESCALATION: &[&str] = &[
    "pair_signals",
    "distinct_sites",
    "window",
    "route_pause",
    "block_pause",
];
const CONNECTIONS: &[&str] = &[
    "rate",
    "failures_before_delay",
    "first_delay",
    "max_delay",
    "idle",
];
const WARM_UP: &[&str] = &["schedule", "daily", "first_sends"];
const SHARED: &[&str] = &["fallback", "retry_after", "lease"];
const RULE: &[&str] = &[
    "id",
    "category",
    "phrase",
    "phrases",
    "any",
    "unless",
    "code",
    "codes",
    "class",
    "enhanced",
    "regex",
    "provider",
    "retry",
    "scope",
    "retry_after",
];

/// The scopes a rule may name.
const SCOPES: &[Scope] = &[
    Scope::Recipient,
    Scope::Message,
    Scope::Connection,
    Scope::Route,
    Scope::SourceIp,
];

/// Reads a whole file of this crate's layout.
pub(super) fn read(doc: &Doc<'_>) -> Result<LimitsFile, FileError> {
    let top = doc.parse()?;
    let top = top.get_ref();
    doc.known_keys(top, "", TOP)?;
    let mut file = LimitsFile::default();
    for (key, value) in top.iter() {
        let name = key.get_ref().as_ref();
        let path = join("", name);
        match name {
            "presets" => file.presets = Some(doc.bool(value, &path)?),
            "max_routes" => file.max_routes = Some(doc.count(value, &path)? as usize),
            "idle_after" => file.idle_after = Some(doc.duration(value, &path)?),
            "source" => file.source = scope(doc, value, &path)?,
            "default" => file.default = site_limits(doc, value, &path, SITE_LIMITS)?,
            "sites" => sites(doc, value, &path, &mut file)?,
            "providers" => providers(doc, value, &path, &mut file)?,
            "adaptive" => file.adaptive = adaptive(doc, value, &path)?,
            "escalation" => file.escalation = escalation(doc, value, &path)?,
            "connections" => file.connections = connections(doc, value, &path)?,
            "warm_up" => warm_up(doc, value, &path, &mut file)?,
            "shared" => shared(doc, value, &path, &mut file)?,
            "rules" => file.rules = rules(doc, value, &path)?,
            _ => {}
        }
    }
    // What no section checks on its own (the route cap, the shared-store times) the
    // builder's own checks find.
    if let Err(error) = file.apply(Limits::builder()).validate() {
        let (path, span) = match setting_of(&error) {
            "max_routes" => ("max_routes", top.get("max_routes").map(Value::span)),
            "shared_retry_after" => ("shared.retry_after", shared_span(top, "retry_after")),
            "shared_lease" => ("shared.lease", shared_span(top, "lease")),
            _ => ("", None),
        };
        return Err(match span {
            Some(span) => doc.invalid(&span, path, error),
            None => doc.unplaced(path, FileErrorKind::Invalid(error)),
        });
    }
    Ok(file)
}

fn shared_span(top: &Table<'_>, key: &str) -> Option<Range<usize>> {
    top.get("shared")?
        .get_ref()
        .as_table()?
        .get(key)
        .map(Value::span)
}

/// The setting a builder check names.
pub(super) fn setting_of(error: &ConfigError) -> &'static str {
    match error {
        ConfigError::Zero { setting }
        | ConfigError::TooMany { setting, .. }
        | ConfigError::OutOfRange { setting, .. }
        | ConfigError::TooLong { setting, .. } => setting,
    }
}

/// Turns a section's check into a file error at the key the check names: the
/// setting's last word, which is the key's name (`"escalation window"` → `window`).
pub(super) fn checked(
    doc: &Doc<'_>,
    value: &Value<'_>,
    path: &str,
    result: Result<(), ConfigError>,
) -> Result<(), FileError> {
    let Err(error) = result else {
        return Ok(());
    };
    let setting = setting_of(&error);
    let key = match setting {
        "site sessions" => "site_sessions",
        other => other.rsplit(' ').next().unwrap_or(other),
    };
    let found = value.get_ref().as_table().and_then(|t| t.get(key));
    let (span, path) = match found {
        Some(v) => (v.span(), join(path, key)),
        None => (value.span(), path.to_owned()),
    };
    Err(doc.invalid(&span, &path, error))
}

fn scope(doc: &Doc<'_>, value: &Value<'_>, path: &str) -> Result<ScopeSet, FileError> {
    let mut set = ScopeSet::default();
    doc.fields(value, path, SCOPE, |key, v, key_path| {
        match key {
            "rate" => set.rate = Some(doc.rate(v, key_path, false)?),
            "sessions" => set.sessions = Some(doc.limit(v, key_path)?),
            _ => {}
        }
        Ok(())
    })?;
    checked(
        doc,
        value,
        path,
        set.over(Default::default()).validate("source sessions"),
    )?;
    Ok(set)
}

/// One site's limit keys; `allowed` may hold more keys (the matches) for the caller.
fn site_limits(
    doc: &Doc<'_>,
    value: &Value<'_>,
    path: &str,
    allowed: &'static [&'static str],
) -> Result<SiteSet, FileError> {
    let mut set = SiteSet::default();
    doc.fields(value, path, allowed, |key, v, key_path| {
        match key {
            "rate" => set.pair.rate = Some(doc.rate(v, key_path, false)?),
            "sessions" => set.pair.sessions = Some(doc.limit(v, key_path)?),
            "site_rate" => set.site.rate = Some(doc.rate(v, key_path, false)?),
            "site_sessions" => set.site.sessions = Some(doc.limit(v, key_path)?),
            "deliveries_per_session" => {
                set.deliveries_per_session = Some(doc.limit(v, key_path)?);
            }
            _ => {}
        }
        Ok(())
    })?;
    checked(doc, value, path, set.over(SiteLimits::default()).validate())?;
    Ok(set)
}

fn sites(
    doc: &Doc<'_>,
    value: &Value<'_>,
    path: &str,
    file: &mut LimitsFile,
) -> Result<(), FileError> {
    let table = doc.table(value, path)?;
    for (name, site) in table.iter() {
        let site_path = join(path, name.get_ref());
        let limits = site_limits(doc, site, &site_path, SITE)?;
        let name_text = name.get_ref().as_ref();
        let route_error =
            |span: Range<usize>, key: &str, e| doc.error(&span, key, FileErrorKind::Route(e));
        let mut groups = std::mem::take(&mut file.groups);
        let fields = doc.table(site, &site_path)?;
        for (key, v) in fields.iter() {
            let key = key.get_ref().as_ref();
            let add: fn(crate::route::Sites, &str, &str) -> _ = match key {
                "domains" => |g: crate::route::Sites, n: &str, d: &str| g.group(n, [d]),
                "domain_suffixes" => crate::route::Sites::domain_suffix,
                "mx_hosts" => crate::route::Sites::mx_host,
                "mx_suffixes" => crate::route::Sites::mx_suffix,
                _ => continue,
            };
            let key_path = join(&site_path, key);
            let names = doc.list(v, &key_path, false, |item, p| {
                Ok((doc.str(item, p)?.to_owned(), item.span(), p.to_owned()))
            })?;
            for (text, span, item_path) in names {
                groups = add(groups, name_text, &text)
                    .map_err(|e| route_error(span.clone(), &item_path, e))?;
            }
        }
        file.groups = groups;
        let site_id = named_site(name_text).map_err(|e| route_error(name.span(), &site_path, e))?;
        file.sites.push((site_id, limits));
    }
    Ok(())
}

/// The site a file's site name stands for: the name, lowercase, as
/// [`Sites`](crate::route::Sites) names it (a provider's name is the provider's site).
pub(super) fn named_site(name: &str) -> Result<Site, crate::error::RouteError> {
    crate::route::Destination::new(name)
        .map(|d| crate::route::site_named(std::sync::Arc::from(d.domain())))
}

fn providers(
    doc: &Doc<'_>,
    value: &Value<'_>,
    path: &str,
    file: &mut LimitsFile,
) -> Result<(), FileError> {
    const NAMES: &str = "a provider name: google, microsoft, yahoo, apple, comcast, cox, \
         spectrum, gmx, godaddy, orange, free, zoho, yandex, mailru, qq, mimecast, \
         proofpoint, barracuda";
    let table = doc.table(value, path)?;
    for (name, limits) in table.iter() {
        let provider_path = join(path, name.get_ref());
        let provider = Provider::from_name(name.get_ref()).ok_or_else(|| {
            doc.error(
                &name.span(),
                &provider_path,
                FileErrorKind::BadValue {
                    found: format!("{:?}", name.get_ref().as_ref()),
                    expected: NAMES,
                },
            )
        })?;
        let limits = site_limits(doc, limits, &provider_path, SITE_LIMITS)?;
        file.sites.push((Site::Provider(provider), limits));
    }
    Ok(())
}

fn adaptive(doc: &Doc<'_>, value: &Value<'_>, path: &str) -> Result<AdaptiveSet, FileError> {
    let mut set = AdaptiveSet::default();
    doc.fields(value, path, ADAPTIVE, |key, v, p| {
        match key {
            "decrease" => set.decrease = Some(doc.float(v, p)?),
            "floor" => {
                set.floor = Some(
                    doc.rate(v, p, false)?
                        .ok_or_else(|| doc.bad(v, p, "a rate: the floor cannot be unlimited"))?,
                );
            }
            "ramp_after" => set.ramp_after = Some(doc.count(v, p)?),
            "ramp_step" => set.ramp_step = Some(doc.float(v, p)?),
            "rate_limited_pause" => set.rate_limited_pause = Some(doc.duration(v, p)?),
            "reputation_pause" => set.reputation_pause = Some(doc.duration(v, p)?),
            "busy_pause" => set.busy_pause = Some(doc.duration(v, p)?),
            "initial_sessions" => set.initial_sessions = Some(doc.limit(v, p)?),
            _ => {}
        }
        Ok(())
    })?;
    checked(doc, value, path, set.over(Adaptive::default()).validate())?;
    Ok(set)
}

fn escalation(doc: &Doc<'_>, value: &Value<'_>, path: &str) -> Result<EscalationSet, FileError> {
    let mut set = EscalationSet::default();
    doc.fields(value, path, ESCALATION, |key, v, p| {
        match key {
            "pair_signals" => set.pair_signals = Some(doc.count(v, p)?),
            "distinct_sites" => set.distinct_sites = Some(doc.count(v, p)?),
            "window" => set.window = Some(doc.duration(v, p)?),
            "route_pause" => set.route_pause = Some(doc.duration(v, p)?),
            "block_pause" => set.block_pause = Some(doc.duration(v, p)?),
            _ => {}
        }
        Ok(())
    })?;
    checked(doc, value, path, set.over(Escalation::default()).validate())?;
    Ok(set)
}

fn connections(doc: &Doc<'_>, value: &Value<'_>, path: &str) -> Result<ConnectionsSet, FileError> {
    let mut set = ConnectionsSet::default();
    doc.fields(value, path, CONNECTIONS, |key, v, p| {
        match key {
            "rate" => set.rate = Some(doc.rate(v, p, false)?),
            "failures_before_delay" => set.failures_before_delay = Some(doc.count(v, p)?),
            "first_delay" => set.first_delay = Some(doc.duration(v, p)?),
            "max_delay" => set.max_delay = Some(doc.duration(v, p)?),
            "idle" => set.idle = Some(doc.duration(v, p)?),
            _ => {}
        }
        Ok(())
    })?;
    checked(
        doc,
        value,
        path,
        set.over(Connections::default()).validate(),
    )?;
    Ok(set)
}

fn warm_up(
    doc: &Doc<'_>,
    value: &Value<'_>,
    path: &str,
    file: &mut LimitsFile,
) -> Result<(), FileError> {
    let table = doc.table(value, path)?;
    doc.known_keys(table, path, WARM_UP)?;
    let mut schedule = WarmUp::default();
    if let Some(v) = table.get("schedule") {
        let p = join(path, "schedule");
        if doc.str(v, &p)? != "sendgrid" {
            return Err(doc.bad(
                v,
                &p,
                "\"sendgrid\" (the 16-day ramp), or a `daily` list instead",
            ));
        }
    }
    if let Some(v) = table.get("daily") {
        let p = join(path, "daily");
        if table.get("schedule").is_some() {
            return Err(doc.bad(v, &p, "either `schedule` or `daily`, not both"));
        }
        let days = doc.list(v, &p, false, |item, ip| doc.count(item, ip))?;
        schedule = WarmUp::new(days).map_err(|e| doc.invalid(&v.span(), &p, e))?;
    }
    file.warm_up = Some(schedule);
    if let Some(v) = table.get("first_sends") {
        let p = join(path, "first_sends");
        for (ip, ago) in doc.table(v, &p)?.iter() {
            let ip_path = join(&p, ip.get_ref());
            let address: IpAddr = ip.get_ref().parse().map_err(|_| {
                doc.error(
                    &ip.span(),
                    &ip_path,
                    FileErrorKind::BadValue {
                        found: format!("{:?}", ip.get_ref().as_ref()),
                        expected: "an IP address such as \"192.0.2.10\" or \"2001:db8::1\"",
                    },
                )
            })?;
            file.first_sends
                .push((address, doc.duration(ago, &ip_path)?));
        }
    }
    Ok(())
}

fn shared(
    doc: &Doc<'_>,
    value: &Value<'_>,
    path: &str,
    file: &mut LimitsFile,
) -> Result<(), FileError> {
    doc.fields(value, path, SHARED, |key, v, p| {
        match key {
            "fallback" => {
                file.fallback = Some(match doc.str(v, p)? {
                    "local" => Fallback::Local,
                    "refuse" => Fallback::Refuse,
                    _ => return Err(doc.bad(v, p, "\"local\" or \"refuse\"")),
                });
            }
            "retry_after" => file.shared_retry_after = Some(doc.duration(v, p)?),
            "lease" => file.shared_lease = Some(doc.duration(v, p)?),
            _ => {}
        }
        Ok(())
    })?;
    Ok(())
}

/// A category by its snake_case name.
pub(super) fn category(
    doc: &Doc<'_>,
    value: &Value<'_>,
    path: &str,
) -> Result<Category, FileError> {
    doc.str(value, path)?.parse().map_err(|_| {
        doc.bad(
            value,
            path,
            "a category: rate_limited, too_many_connections, greylisted, reputation, \
             blocklisted, policy, authentication, content, virus, mailbox_full, unknown_user, \
             mailbox_disabled, message_too_large, bad_domain, routing, network, server_busy, \
             tls_required, relay_denied, sender_rejected, too_many_recipients, protocol, other",
        )
    })
}

fn rules(doc: &Doc<'_>, value: &Value<'_>, path: &str) -> Result<Vec<crate::Rule>, FileError> {
    let items = doc.list(value, path, false, |item, p| Ok((item, p.to_owned())))?;
    let mut list = Vec::with_capacity(items.len());
    for (item, p) in &items {
        list.push(rule(doc, item, p)?);
    }
    let places: Vec<_> = items.iter().map(|(v, p)| (v.span(), p.clone())).collect();
    check_rules(doc, &list, &places, (value.span(), path))?;
    Ok(list)
}

/// The classifier's own checks of `list`, with the built-in rules after it (as a
/// classifier built from the file has them); an error points at the rule it names
/// (`places[i]` is where rule `i` is written), else at `whole`.
pub(super) fn check_rules(
    doc: &Doc<'_>,
    list: &[Rule],
    places: &[(Range<usize>, String)],
    whole: (Range<usize>, &str),
) -> Result<(), FileError> {
    let built = list
        .iter()
        .cloned()
        .fold(
            Classifier::builder(),
            crate::classify::ClassifierBuilder::rule,
        )
        .build();
    let Err(error) = built else {
        return Ok(());
    };
    let id = match &error {
        RuleError::DuplicateId { id }
        | RuleError::NoCondition { id }
        | RuleError::EmptyPhrase { id }
        | RuleError::PhraseTooLong { id, .. }
        | RuleError::BadCodeRange { id, .. }
        | RuleError::BadEnhancedPattern { id, .. }
        | RuleError::BadRegex { id, .. } => Some(id.as_str()),
        RuleError::Shadowed { rule, .. } => Some(rule.as_str()),
        _ => None,
    };
    // The last rule with the id: a repeated id is the second one's fault.
    let at = id.and_then(|id| list.iter().rposition(|r| r.id() == id));
    let (span, key) = match at.and_then(|i| places.get(i)) {
        Some((span, key)) => (span.clone(), key.as_str()),
        None => (whole.0, whole.1),
    };
    Err(doc.error(&span, key, FileErrorKind::Rule(error)))
}

fn rule(doc: &Doc<'_>, value: &Value<'_>, path: &str) -> Result<Rule, FileError> {
    let table = doc.table(value, path)?;
    doc.known_keys(table, path, RULE)?;
    let need = |key: &str| {
        table.get(key).ok_or_else(|| {
            doc.error(
                &value.span(),
                &join(path, key),
                FileErrorKind::BadValue {
                    found: "nothing".to_owned(),
                    expected: "a rule has an `id` and a `category`",
                },
            )
        })
    };
    let id = doc.str(need("id")?, &join(path, "id"))?.to_owned();
    let mut rule = Rule::new(
        id,
        category(doc, need("category")?, &join(path, "category"))?,
    );
    let strings = |v: &Value<'_>, p: &str| -> Result<Vec<Cow<'static, str>>, FileError> {
        doc.list(v, p, true, |item, ip| {
            Ok(Cow::Owned(doc.str(item, ip)?.to_owned()))
        })
    };
    for (key, v) in table.iter() {
        let p = join(path, key.get_ref());
        rule = match key.get_ref().as_ref() {
            "phrase" => rule.phrase(doc.str(v, &p)?.to_owned()),
            "phrases" => strings(v, &p)?.into_iter().fold(rule, Rule::phrase),
            "any" => rule.any_phrase(strings(v, &p)?),
            "unless" => strings(v, &p)?.into_iter().fold(rule, Rule::unless),
            "code" => rule.code(reply_code(doc, v, &p)?),
            "codes" => {
                let codes = doc.list(v, &p, false, |item, ip| reply_code(doc, item, ip))?;
                match codes[..] {
                    [low, high] => rule.codes(low, high),
                    _ => return Err(doc.bad(v, &p, "two codes, [low, high], such as [450, 459]")),
                }
            }
            "class" => match doc.count(v, &p)? {
                class @ (4 | 5) => rule.class(class as u8),
                _ => return Err(doc.bad(v, &p, "4 (for 4xx replies) or 5 (for 5xx)")),
            },
            "enhanced" => rule.enhanced(doc.str(v, &p)?.to_owned()),
            "regex" => rule.regex(doc.str(v, &p)?.to_owned()),
            "provider" => {
                let name = doc.str(v, &p)?;
                rule.from_provider(
                    Provider::from_name(name)
                        .ok_or_else(|| doc.bad(v, &p, "a provider name such as \"yahoo\""))?,
                )
            }
            "retry" => rule.retry(doc.bool(v, &p)?),
            "scope" => {
                let name = doc.str(v, &p)?;
                rule.scope(
                    SCOPES
                        .iter()
                        .copied()
                        .find(|s| s.as_str() == name)
                        .ok_or_else(|| {
                            doc.bad(
                                v,
                                &p,
                                "a scope: recipient, message, connection, route, source_ip",
                            )
                        })?,
                )
            }
            "retry_after" => rule.retry_after(doc.duration(v, &p)?),
            _ => rule,
        };
    }
    Ok(rule)
}

fn reply_code(doc: &Doc<'_>, value: &Value<'_>, path: &str) -> Result<u16, FileError> {
    match doc.count(value, path)? {
        code @ 200..=599 => Ok(code as u16),
        _ => Err(doc.bad(value, path, "a reply code from 200 to 599")),
    }
}
