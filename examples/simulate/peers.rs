//! What users run today instead of this crate, modelled from their documentation and
//! source: Postfix's queue manager and KumoMTA with its published shaping files. The
//! sources are in the README ("The peers"); every constant below names its parameter.

use std::cell::RefCell;
use std::collections::HashMap;

use smtp_throttle::route::Route;
use smtp_throttle::throttle::{Sender, TransportError};
use smtp_throttle::Reply;

use crate::engine::{Open, Policy, Step, Verdict};
use crate::world::{code, Client, Connection, Ms, DAY, HOUR, MINUTE, SECOND};

/// A reply's text, empty for a lost connection.
fn text(attempt: &Result<Reply, TransportError>) -> String {
    match attempt {
        Ok(reply) | Err(TransportError::Rejected(reply)) => reply.to_string(),
        Err(e) => e.to_string(),
    }
}

/// The per-lane state a peer keeps, by route.
struct Lanes<T>(RefCell<HashMap<Route, T>>);

impl<T: Default> Lanes<T> {
    fn new() -> Self {
        Self(RefCell::new(HashMap::new()))
    }
    fn with<R>(&self, route: &Route, f: impl FnOnce(&mut T) -> R) -> R {
        let mut lanes = self.0.borrow_mut();
        f(lanes.entry(route.clone()).or_default())
    }
}

// ---------------------------------------------------------------- Postfix

/// `initial_destination_concurrency`.
const PF_INITIAL: f64 = 5.0;
/// `default_destination_concurrency_limit`.
const PF_LIMIT: f64 = 20.0;
/// `minimal_backoff_time`: also how long a dead destination stays throttled.
const PF_MIN_BACKOFF: Ms = 300 * SECOND;
/// `maximal_backoff_time`.
const PF_MAX_BACKOFF: Ms = 4000 * SECOND;
/// `queue_run_delay`: the deferred queue is scanned this often.
const PF_QUEUE_RUN: Ms = 300 * SECOND;
/// `maximal_queue_lifetime`.
const PF_LIFETIME: Ms = 5 * DAY;

/// One destination's concurrency window in Postfix's queue manager.
struct Destination {
    window: f64,
    success: f64,
    fail_cohorts: f64,
    dead_until: Ms,
}

impl Default for Destination {
    fn default() -> Self {
        Self {
            window: PF_INITIAL,
            success: 0.0,
            fail_cohorts: 0.0,
            dead_until: 0,
        }
    }
}

impl Destination {
    /// A delivery without a site failure: `positive_feedback = 1`, i.e. +1 after a
    /// pseudo-cohort (as many deliveries as the window) of them.
    fn positive(&mut self) {
        self.fail_cohorts = 0.0;
        self.success += 1.0 / self.window;
        while self.success >= 1.0 {
            self.success -= 1.0;
            self.window = (self.window + 1.0).min(PF_LIMIT);
        }
    }

    /// A site failure (connect or handshake failure, a 421, a lost connection):
    /// `negative_feedback = 1` (−1), and a whole failed pseudo-cohort
    /// (`failed_cohort_limit = 1`) makes the destination dead for
    /// `minimal_backoff_time`, after which it starts again at the initial window.
    fn negative(&mut self, now: Ms) {
        self.fail_cohorts += 1.0 / self.window;
        self.window = (self.window - 1.0).max(1.0);
        if self.fail_cohorts >= 1.0 {
            self.dead_until = now + PF_MIN_BACKOFF;
            self.fail_cohorts = 0.0;
            self.success = 0.0;
            self.window = PF_INITIAL;
        }
    }
}

/// Postfix's queue manager with its defaults: concurrency per destination from 5 up to
/// 20 by cohort feedback, no rate limit, per-message backoff of the message's age
/// clamped to 300–4000 s at the next 300 s queue scan, 5 days' lifetime.
pub struct Postfix<'w, 'c> {
    pub client: Client<'w, 'c>,
    destinations: Lanes<Destination>,
}

impl<'w, 'c> Postfix<'w, 'c> {
    pub fn new(client: Client<'w, 'c>) -> Self {
        Self {
            client,
            destinations: Lanes::new(),
        }
    }

    /// A deferral's next attempt: every message was queued at 0, so its age is now.
    fn deferred(&self, now: Ms) -> Verdict {
        if now >= PF_LIFETIME {
            return Verdict::Bounced;
        }
        let due = now + now.clamp(PF_MIN_BACKOFF, PF_MAX_BACKOFF);
        Verdict::Retry(due.div_ceil(PF_QUEUE_RUN) * PF_QUEUE_RUN)
    }
}

impl<'w, 'c> Policy for Postfix<'w, 'c> {
    type Session<'a>
        = Connection<'w, 'c>
    where
        Self: 'a;
    type Memo = ();

    fn name(&self) -> &'static str {
        "postfix"
    }
    fn memo(&self) {}
    fn open(&self, route: &Route, sessions: u32) -> Open<Connection<'w, 'c>> {
        let now = self.client.0.now();
        let (dead, window) = self
            .destinations
            .with(route, |d| (d.dead_until > now, d.window));
        if dead {
            // qmgr_defer_todo: "delivery temporarily suspended".
            return Open::Failed(TransportError::Other(
                "delivery temporarily suspended".into(),
            ));
        }
        if f64::from(sessions) >= window.floor() {
            return Open::Wait(None);
        }
        match self.client.open(route) {
            Ok(connection) => Open::Session(connection),
            Err(error) => {
                self.destinations.with(route, |d| d.negative(now));
                Open::Failed(error)
            }
        }
    }
    fn send<'a>(
        &'a self,
        session: &mut Connection<'w, 'c>,
        route: &Route,
        id: u32,
        _memo: &mut (),
    ) -> Step {
        let now = self.client.0.now();
        let attempt = self.client.send(session, &id);
        let code = code(&attempt);
        let site_failure = code == 421;
        self.destinations.with(route, |d| {
            if site_failure {
                d.negative(now)
            } else {
                d.positive()
            }
        });
        let verdict = match code {
            200..=399 => Verdict::Delivered,
            400..=499 => self.deferred(now),
            _ => Verdict::Bounced,
        };
        Step::Sent(verdict, !site_failure)
    }
    fn failed(&self, _route: &Route, _error: TransportError, _memo: &mut ()) -> Verdict {
        self.deferred(self.client.0.now())
    }
}

// ---------------------------------------------------------------- KumoMTA

/// An egress path's shaping (source → site).
#[derive(Clone, Copy, Debug)]
struct Shaping {
    /// `connection_limit` (or the provider's `provider_connection_limit`).
    connections: u32,
    /// `max_message_rate`, as the least time between messages.
    message_gap: Ms,
    /// `max_connection_rate`, as the least time between connection opens.
    connect_gap: Ms,
    /// `max_deliveries_per_connection`.
    per_connection: u32,
    /// `consecutive_connection_failures_before_delay`.
    failures_before_delay: u32,
}

/// What a traffic-shaping automation rule does when it fires.
#[derive(Clone, Copy, Debug)]
enum Action {
    Suspend,
    /// `SetConfig max_message_rate` (as a gap) and optionally `connection_limit`.
    Rate(Ms, Option<u32>),
    Connections(u32),
    PerConnection(u32),
}

/// An automation rule: any of `matches` (the regexes' literal parts) in a reply fires
/// `action` for `duration` once `threshold` matches fall within `duration`.
struct Rule {
    matches: &'static [&'static str],
    threshold: u32,
    action: Action,
    duration: Ms,
}

/// `assets/policy-extras/shaping.toml`'s "default" automation (Immediate, 90 m:
/// `max_message_rate = 1/minute`, `connection_limit = 1`), which applies to every
/// site, and the provider rules of `assets/community/shaping.toml`.
const RULES: &[Rule] = &[
    Rule {
        matches: &[
            "temporarily deferred",
            "will be permanently deferred",
            "has been temporarily rate limited due to IP reputation",
            "weren't sent",
            "Server busy. Please try again later from",
        ],
        threshold: 1,
        action: Action::Rate(MINUTE, Some(1)),
        duration: 90 * MINUTE,
    },
    // gmail
    Rule {
        matches: &["Our system has detected that this message"],
        threshold: 5,
        action: Action::Suspend,
        duration: HOUR,
    },
    Rule {
        matches: &["Our system has detected an unusual rate"],
        threshold: 2,
        action: Action::Rate(6 * SECOND, None),
        duration: 30 * MINUTE,
    },
    // yahoo (the base file's [TS?S04] rule is Immediate, 2 hours)
    Rule {
        matches: &["[TSS04]", "[TS04]"],
        threshold: 1,
        action: Action::Suspend,
        duration: 2 * HOUR,
    },
    Rule {
        matches: &["[IPTS04]"],
        threshold: 2,
        action: Action::Suspend,
        duration: 2 * HOUR,
    },
    Rule {
        matches: &["Max message per connection reached"],
        threshold: 3,
        action: Action::Rate(6 * SECOND, None),
        duration: HOUR,
    },
    // outlook
    Rule {
        matches: &["Server busy. Please try again later"],
        threshold: 5,
        action: Action::Suspend,
        duration: 30 * MINUTE,
    },
    Rule {
        matches: &["Server busy. Please try again later"],
        threshold: 3,
        action: Action::Rate(MINUTE, None),
        duration: 15 * MINUTE,
    },
    Rule {
        matches: &["has been temporarily rate limited"],
        threshold: 3,
        action: Action::Suspend,
        duration: 30 * MINUTE,
    },
    Rule {
        matches: &["has exceeded the maximum number of connections"],
        threshold: 2,
        action: Action::Connections(1),
        duration: HOUR,
    },
    Rule {
        matches: &["has exceeded maximum number of messages per connection"],
        threshold: 2,
        action: Action::PerConnection(2),
        duration: HOUR,
    },
    Rule {
        matches: &["Temporary server error. Please try again later"],
        threshold: 5,
        action: Action::Suspend,
        duration: HOUR,
    },
    // apple
    Rule {
        matches: &["[BS02] Temporary server error."],
        threshold: 5,
        action: Action::Suspend,
        duration: 15 * MINUTE,
    },
    Rule {
        matches: &["Service unavailable - try again later"],
        threshold: 5,
        action: Action::Suspend,
        duration: 15 * MINUTE,
    },
];

/// `retry_interval`: 20 minutes, doubled each attempt, no `max_retry_interval`.
const KUMO_RETRY: Ms = 20 * MINUTE;
/// `max_age`.
const KUMO_MAX_AGE: Ms = 7 * DAY;

/// One egress path's state: its shaping now, the automations in force, rates.
#[derive(Default)]
struct Path {
    /// Per rule: times it matched (within its duration).
    hits: HashMap<usize, Vec<Ms>>,
    /// Per rule: until when its action holds.
    active: HashMap<usize, Ms>,
    next_message: Ms,
    next_connect: Ms,
    failures: u32,
    fail_all_at: Option<Ms>,
}

/// KumoMTA with its published shaping: `shaping.toml`'s defaults and provider
/// entries, the community automation rules, and the default queue retry schedule.
pub struct Kumo<'w, 'c> {
    pub client: Client<'w, 'c>,
    paths: Lanes<Path>,
}

impl<'w, 'c> Kumo<'w, 'c> {
    pub fn new(client: Client<'w, 'c>) -> Self {
        Self {
            client,
            paths: Lanes::new(),
        }
    }

    /// The shaping file's entry for the route's MX (default: 10 connections, 100/s,
    /// 100/min connection opens, 100 per connection, 100 failures before a delay).
    fn base(route: &Route) -> Shaping {
        let mut s = Shaping {
            connections: 10,
            message_gap: 10,
            connect_gap: 600,
            per_connection: 100,
            failures_before_delay: 100,
        };
        let mx = route
            .destination()
            .mx()
            .unwrap_or(route.destination().domain());
        if mx.ends_with(".google.com") || mx.ends_with(".googlemail.com") {
            s.per_connection = 50;
            s.connections = 5;
            s.failures_before_delay = 5;
        } else if mx.ends_with(".yahoodns.net") {
            s.per_connection = 20;
        } else if mx.ends_with(".outlook.com") || mx.ends_with(".mx.microsoft") {
            s.per_connection = 50;
            s.connections = 5;
        } else if mx.ends_with(".icloud.com") {
            s.connections = 10;
            s.per_connection = 5;
        } else if route.destination().domain() == "comcast.net" {
            s.connections = 25;
            s.per_connection = 1000;
            s.failures_before_delay = 24;
        }
        s
    }

    /// The path's shaping with the automations in force at `now`, and whether it is
    /// suspended.
    fn shaping(route: &Route, path: &mut Path, now: Ms) -> (Shaping, bool) {
        let mut s = Self::base(route);
        let mut suspended = false;
        path.active.retain(|_, until| *until > now);
        for rule in path.active.keys() {
            match RULES[*rule].action {
                Action::Suspend => suspended = true,
                Action::Rate(gap, connections) => {
                    s.message_gap = s.message_gap.max(gap);
                    if let Some(c) = connections {
                        s.connections = s.connections.min(c);
                    }
                }
                Action::Connections(c) => s.connections = s.connections.min(c),
                Action::PerConnection(n) => s.per_connection = s.per_connection.min(n),
            }
        }
        (s, suspended)
    }

    /// Feeds a reply to the automation rules.
    fn observe(path: &mut Path, reply: &str, now: Ms) {
        for (i, rule) in RULES.iter().enumerate() {
            if !rule.matches.iter().any(|m| reply.contains(m)) {
                continue;
            }
            let hits = path.hits.entry(i).or_default();
            hits.retain(|t| now - t < rule.duration);
            hits.push(now);
            if hits.len() as u32 >= rule.threshold {
                path.active.insert(i, now + rule.duration);
            }
        }
    }

    fn deferred(&self, attempts: &mut u32, now: Ms) -> Verdict {
        *attempts += 1;
        let delay = KUMO_RETRY.saturating_mul(1 << (*attempts - 1).min(20));
        if now + delay >= KUMO_MAX_AGE {
            return Verdict::Bounced;
        }
        Verdict::Retry(now + delay)
    }
}

impl<'w, 'c> Policy for Kumo<'w, 'c> {
    type Session<'a>
        = (Connection<'w, 'c>, u32)
    where
        Self: 'a;
    /// Attempts so far.
    type Memo = u32;

    fn name(&self) -> &'static str {
        "kumomta"
    }
    fn memo(&self) -> u32 {
        0
    }
    fn open(&self, route: &Route, sessions: u32) -> Open<Self::Session<'_>> {
        let now = self.client.0.now();
        self.paths.with(route, |path| {
            if path.fail_all_at == Some(now) {
                return Open::Failed(TransportError::Other(
                    "451 4.4.1 No answer from any hosts listed in MX".into(),
                ));
            }
            let (shaping, suspended) = Self::shaping(route, path, now);
            if suspended {
                let until = path.active.values().copied().max().unwrap_or(now + MINUTE);
                return Open::Wait(Some(until));
            }
            if sessions >= shaping.connections {
                return Open::Wait(None);
            }
            if path.next_connect > now {
                return Open::Wait(Some(path.next_connect));
            }
            path.next_connect = now + shaping.connect_gap;
            match self.client.open(route) {
                Ok(connection) => {
                    path.failures = 0;
                    Open::Session((connection, 0))
                }
                Err(error) => {
                    Self::observe(path, &text(&Err(error)), now);
                    path.failures += 1;
                    if path.failures > shaping.failures_before_delay {
                        path.failures = 0;
                        path.fail_all_at = Some(now);
                        return Open::Failed(TransportError::Other(
                            "451 4.4.1 No answer from any hosts listed in MX".into(),
                        ));
                    }
                    Open::Wait(Some(now + SECOND))
                }
            }
        })
    }
    fn send<'a>(
        &'a self,
        (connection, sent): &mut Self::Session<'a>,
        route: &Route,
        id: u32,
        attempts: &mut u32,
    ) -> Step {
        let now = self.client.0.now();
        let wait = self.paths.with(route, |path| {
            let (shaping, suspended) = Self::shaping(route, path, now);
            if suspended || *sent >= shaping.per_connection {
                return Some(None);
            }
            if path.next_message > now {
                return Some(Some(path.next_message));
            }
            path.next_message = now + shaping.message_gap;
            None
        });
        if let Some(until) = wait {
            return Step::Wait(until, until.is_none());
        }
        let attempt = self.client.send(connection, &id);
        *sent += 1;
        let code = code(&attempt);
        if code >= 400 {
            self.paths
                .with(route, |path| Self::observe(path, &text(&attempt), now));
        }
        let verdict = match code {
            200..=399 => Verdict::Delivered,
            400..=499 => self.deferred(attempts, now),
            _ => Verdict::Bounced,
        };
        Step::Sent(verdict, code != 421 && attempt.is_ok())
    }
    fn failed(&self, _route: &Route, _error: TransportError, attempts: &mut u32) -> Verdict {
        self.deferred(attempts, self.client.0.now())
    }
}
