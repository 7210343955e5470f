//! A scenario file: the campaign and every receiver class with its hidden limits, its
//! penalty model, the changes during the run and its reply texts. The schema is the
//! README's ("Scenario files"); every field not listed there is refused by name.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The built-in scenarios, by name (`--scenario NAME` or `--scenario FILE.toml`).
pub const BUILT_IN: [(&str, &str); 7] = [
    ("default", include_str!("scenarios/default.toml")),
    ("anvil", include_str!("scenarios/anvil.toml")),
    ("hourly-caps", include_str!("scenarios/hourly-caps.toml")),
    ("tarpit", include_str!("scenarios/tarpit.toml")),
    (
        "reputation-drop",
        include_str!("scenarios/reputation-drop.toml"),
    ),
    (
        "strict-penalty",
        include_str!("scenarios/strict-penalty.toml"),
    ),
    (
        "greylist-heavy",
        include_str!("scenarios/greylist-heavy.toml"),
    ),
];

/// One scenario, as read from TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, printed on the campaign line.
    pub name: String,
    /// What kind of world this is (for people; not used).
    #[serde(default)]
    pub description: String,
    pub campaign: CampaignSpec,
    /// The receiver classes, in the order the table and chart show them.
    #[serde(rename = "receiver")]
    pub receivers: Vec<ReceiverSpec>,
}

/// The campaign: its size, where its recipients are and what becomes of them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub messages: usize,
    /// Recipient domains: the receivers' named domains, then a Zipf tail.
    pub domains: usize,
    pub ips: usize,
    #[serde(default = "one")]
    pub seed: u64,
    /// The share of recipients on the long tail (the rest on the named domains, in
    /// proportion to their `domains` shares).
    pub tail_share: f64,
    #[serde(default)]
    pub fates: Fates,
    #[serde(default)]
    pub noise: Noise,
}

fn one() -> u64 {
    1
}

/// What becomes of recipients, as shares of the campaign.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fates {
    /// No such user (5.1.1).
    pub unknown: f64,
    /// Over quota for good (5.2.2).
    pub full: f64,
    /// Over quota for a while after the first attempt (4.2.2), then deliverable.
    pub full_for: f64,
    /// How long such a mailbox stays full: drawn from this range, in minutes.
    pub full_for_minutes: [u64; 2],
}

impl Default for Fates {
    fn default() -> Self {
        Self {
            unknown: 0.02,
            full: 0.003,
            full_for: 0.005,
            full_for_minutes: [10, 60],
        }
    }
}

/// Trouble that is nobody's limit.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noise {
    /// One send in this many meets a busy server (0: never).
    pub busy_one_in: u64,
    /// One send in this many loses its connection (0: never).
    pub lost_one_in: u64,
}

impl Default for Noise {
    fn default() -> Self {
        Self {
            busy_one_in: 1000,
            lost_one_in: 2000,
        }
    }
}

/// A value, or several of which each server of a `per_domain` class draws one.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Choice<T> {
    One(T),
    Any(Vec<T>),
}

impl<T: Copy> Choice<T> {
    /// The value for draw `draw` (any `u64`).
    pub fn pick(&self, draw: u64) -> Option<T> {
        match self {
            Choice::One(v) => Some(*v),
            Choice::Any(v) if v.is_empty() => None,
            Choice::Any(v) => Some(v[(draw % v.len() as u64) as usize]),
        }
    }

    /// Every value it can take.
    pub fn all(&self) -> Vec<T> {
        match self {
            Choice::One(v) => vec![*v],
            Choice::Any(v) => v.clone(),
        }
    }
}

/// A receiver class: one site (a provider's servers, shared by every domain it hosts)
/// or, with `per_domain`, one server per hosted tail domain.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSpec {
    /// The class name in the table and the chart.
    pub name: String,
    /// The MX host sessions are opened for (a provider's, so its preset applies).
    #[serde(default)]
    pub mx: Option<String>,
    /// Named domains and each one's share of all recipients.
    #[serde(default)]
    pub domains: BTreeMap<String, f64>,
    /// The share of the long tail's domains this class hosts (shares are normalised).
    #[serde(default)]
    pub tail: f64,
    /// Each hosted tail domain is its own server, with its own limits drawn from the
    /// `Choice` fields.
    #[serde(default)]
    pub per_domain: bool,
    pub limits: LimitsSpec,
    #[serde(default)]
    pub penalty: Penalty,
    /// Changes during the run, in time order.
    #[serde(default, rename = "change")]
    pub changes: Vec<Change>,
    #[serde(default)]
    pub replies: RepliesSpec,
}

/// The hidden limits per sending IP.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// A token bucket: messages a minute.
    #[serde(default)]
    pub rate_per_minute: Option<Choice<f64>>,
    /// The bucket's size (default a sixth of the minute's rate, at least 5).
    #[serde(default)]
    pub burst: Option<Choice<f64>>,
    /// Fixed windows of counted messages (Postfix anvil's `smtpd_client_message_rate_limit`
    /// per `anvil_rate_time_unit`, a provider's hourly or daily cap). A window starts
    /// with the first message after the last one ended.
    #[serde(default)]
    pub windows: Vec<Window>,
    /// Simultaneous connections.
    pub connections: Choice<u32>,
    /// Connections opened per window (anvil's `smtpd_client_connection_rate_limit`).
    #[serde(default)]
    pub connects: Option<Window>,
    /// Messages accepted on one connection; the next gets the `per_connection` reply
    /// and the connection is closed.
    #[serde(default)]
    pub messages_per_connection: Option<u32>,
    /// Greylisting: a message's first attempts are refused for this long (postgrey).
    #[serde(default)]
    pub greylist_seconds: Option<Choice<u64>>,
    /// The share of a `per_domain` class's servers that greylist (default all).
    #[serde(default = "all")]
    pub greylist_share: f64,
    /// Tarpitting: over the rate, the answer comes late (up to this long) instead of
    /// as a refusal; a wait longer than this is refused.
    #[serde(default)]
    pub tarpit_seconds: Option<f64>,
    /// Time to answer one message.
    pub service_ms: Choice<u64>,
}

fn all() -> f64 {
    1.0
}

/// `count` messages (or connections) per `seconds`, counted in fixed windows.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub count: Choice<u32>,
    pub seconds: u64,
}

/// How refusals turn into a block.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Penalty {
    /// Refusals (strikes) tolerated before the receiver blocks the IP.
    pub strikes: Choice<f64>,
    /// One strike is forgotten per this many seconds.
    pub fade_seconds: f64,
    /// How long a block lasts.
    pub block_hours: f64,
}

impl Default for Penalty {
    fn default() -> Self {
        Self {
            strikes: Choice::One(50.0),
            fade_seconds: 10.0,
            block_hours: 24.0,
        }
    }
}

/// From `at_minutes` on, the limits change (a reputation drop, a cap lifted).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub at_minutes: f64,
    /// Multiplies the bucket's rate and size and every window's count.
    #[serde(default)]
    pub factor: Option<f64>,
    /// The new simultaneous connections.
    #[serde(default)]
    pub connections: Option<u32>,
    /// The new strikes tolerated.
    #[serde(default)]
    pub strikes: Option<f64>,
    /// From then on, the reply to a message over the rate or a window.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// Reply texts: a built-in set (`base`) with any text replaced.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepliesSpec {
    /// `google`, `microsoft`, `yahoo`, `apple`, `comcast` or `postfix` (the default).
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub rate: Option<String>,
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub connections: Option<String>,
    #[serde(default)]
    pub connects: Option<String>,
    #[serde(default)]
    pub per_connection: Option<String>,
    #[serde(default)]
    pub block: Option<String>,
    #[serde(default)]
    pub busy: Option<String>,
    #[serde(default)]
    pub unknown: Option<String>,
    #[serde(default)]
    pub full: Option<String>,
    #[serde(default)]
    pub full_for_now: Option<String>,
    #[serde(default)]
    pub greylisted: Option<String>,
    #[serde(default)]
    pub accepted: Option<String>,
}

/// Reads `name` (a built-in scenario) or a TOML file at that path, and checks it.
pub fn load(name: &str) -> Result<Scenario, String> {
    let (origin, text) = match BUILT_IN.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => (format!("built-in scenario {name}"), (*text).to_string()),
        None => {
            let path = Path::new(name);
            let text = std::fs::read_to_string(path).map_err(|e| {
                let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                format!(
                    "--scenario {name}: {e} (built-in scenarios: {})",
                    names.join(", ")
                )
            })?;
            (path.display().to_string(), text)
        }
    };
    parse(&text).map_err(|e| format!("{origin}: {e}"))
}

/// Parses and checks one scenario's TOML text.
pub fn parse(text: &str) -> Result<Scenario, String> {
    let scenario: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
    scenario.check()?;
    Ok(scenario)
}

fn share(what: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("{what} = {v}: a share must be in 0..=1"))
    }
}

fn positive(what: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{what} = {v}: must be a finite number above 0"))
    }
}

impl Scenario {
    /// Every value the simulator cannot use is refused here, naming the field.
    pub fn check(&self) -> Result<(), String> {
        let c = &self.campaign;
        if c.messages == 0 || c.messages > 50_000_000 {
            return Err(format!(
                "campaign.messages = {}: must be 1..=50000000",
                c.messages
            ));
        }
        if !(1..=250).contains(&c.ips) {
            return Err(format!("campaign.ips = {}: must be 1..=250", c.ips));
        }
        share("campaign.tail_share", c.tail_share)?;
        let f = &c.fates;
        for (what, v) in [
            ("campaign.fates.unknown", f.unknown),
            ("campaign.fates.full", f.full),
            ("campaign.fates.full_for", f.full_for),
            ("the fates together", f.unknown + f.full + f.full_for),
        ] {
            share(what, v)?;
        }
        if f.full_for_minutes[0] > f.full_for_minutes[1] {
            return Err("campaign.fates.full_for_minutes: [low, high] with low <= high".into());
        }
        if self.receivers.is_empty() || self.receivers.len() > 8 {
            return Err("a scenario has 1 to 8 [[receiver]] classes".into());
        }
        let named: usize = self.receivers.iter().map(|r| r.domains.len()).sum();
        if c.domains <= named && c.tail_share > 0.0 {
            return Err(format!(
                "campaign.domains = {}: must be above the {named} named domains when tail_share > 0",
                c.domains
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let mut tail = 0.0;
        let mut named_share = 0.0;
        for r in &self.receivers {
            let at = |field: &str| format!("receiver {:?}: {field}", r.name);
            if !seen.insert(r.name.as_str()) {
                return Err(at("a second class of this name"));
            }
            share(&at("tail"), r.tail)?;
            tail += r.tail;
            for (domain, s) in &r.domains {
                share(&at(&format!("domains.{domain:?}")), *s)?;
                named_share += s;
            }
            if r.domains.is_empty() && r.tail == 0.0 {
                return Err(at("receives no mail (no domains, tail = 0)"));
            }
            r.limits.check(&at)?;
            for s in r.penalty.strikes.all() {
                positive(&at("penalty.strikes"), s)?;
            }
            if r.penalty.strikes.all().is_empty() {
                return Err(at("penalty.strikes: an empty list"));
            }
            positive(&at("penalty.fade_seconds"), r.penalty.fade_seconds)?;
            positive(&at("penalty.block_hours"), r.penalty.block_hours)?;
            let mut last = 0.0;
            for (i, change) in r.changes.iter().enumerate() {
                let field = |f: &str| at(&format!("change[{i}].{f}"));
                if !(change.at_minutes.is_finite() && change.at_minutes >= last) {
                    return Err(field("at_minutes: changes must be in time order"));
                }
                last = change.at_minutes;
                if let Some(factor) = change.factor {
                    positive(&field("factor"), factor)?;
                }
                if change.connections == Some(0) {
                    return Err(field("connections = 0"));
                }
                if let Some(s) = change.strikes {
                    positive(&field("strikes"), s)?;
                }
            }
        }
        if tail == 0.0 && c.tail_share > 0.0 {
            return Err("no receiver hosts the tail (every tail = 0) but tail_share > 0".into());
        }
        if (named_share + c.tail_share - 1.0).abs() > 0.01 {
            return Err(format!(
                "the named domains' shares ({named_share:.3}) and tail_share ({:.3}) must add up to 1",
                c.tail_share
            ));
        }
        Ok(())
    }
}

impl LimitsSpec {
    fn check(&self, at: &dyn Fn(&str) -> String) -> Result<(), String> {
        if self.rate_per_minute.is_none()
            && self.windows.is_empty()
            && self.tarpit_seconds.is_some()
        {
            return Err(at("limits.tarpit_seconds needs a rate_per_minute"));
        }
        for (field, values) in [
            ("limits.rate_per_minute", self.rate_per_minute.as_ref()),
            ("limits.burst", self.burst.as_ref()),
        ] {
            if let Some(values) = values {
                if values.all().is_empty() {
                    return Err(at(&format!("{field}: an empty list")));
                }
                for v in values.all() {
                    positive(&at(field), v)?;
                }
            }
        }
        for (i, w) in self.windows.iter().chain(&self.connects).enumerate() {
            if w.count.all().is_empty() || w.count.all().contains(&0) || w.seconds == 0 {
                return Err(at(&format!(
                    "limits window {i}: count and seconds must be above 0"
                )));
            }
        }
        if self.connections.all().is_empty() || self.connections.all().contains(&0) {
            return Err(at("limits.connections: at least 1"));
        }
        if self.messages_per_connection == Some(0) {
            return Err(at("limits.messages_per_connection = 0"));
        }
        if let Some(delays) = &self.greylist_seconds {
            if delays.all().is_empty() {
                return Err(at("limits.greylist_seconds: an empty list"));
            }
        }
        share(&at("limits.greylist_share"), self.greylist_share)?;
        if let Some(t) = self.tarpit_seconds {
            positive(&at("limits.tarpit_seconds"), t)?;
        }
        if self.service_ms.all().is_empty() || self.service_ms.all().contains(&0) {
            return Err(at("limits.service_ms: at least 1"));
        }
        Ok(())
    }
}
