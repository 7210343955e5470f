//! Black-box property tests of the promises README.md ("Route limits") and the rustdoc of
//! `limit` make about `Limits`: random configurations that `build()` accepts, random
//! sequences of operations on a fake clock, and checks of what was granted.
//!
//! Every scope (source IP, site, (IP, site) pair) is checked against its CONFIGURED
//! ceiling: adaptation only ever slows a pair down, forgetting idle routes and the route
//! cap must not hand out a fresh quota. Domains are plain (`example-N.org`), so each is
//! its own site and no provider preset applies.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use governor::nanos::Nanos;
use proptest::prelude::*;
use smtp_throttle::limit::{
    Adaptive, Escalation, LimitKind, Limits, Permit, Rate, ScopeLimits, SiteLimits, Wait, WarmUp,
    SESSION_POLL,
};
use smtp_throttle::route::{Destination, Route, Site};
use smtp_throttle::{classify, Classification, ConfigError, Reply, Scope};

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
const WEEK: Duration = Duration::from_secs(7 * 86_400);
/// The fake clock starts here, so that `first_send(ip, ago)` has a past to point into.
const START: Duration = Duration::from_secs(400 * 86_400);
/// Source IPs used.
const IPS: usize = 3;
/// Most domains a sequence uses (each its own site).
const MAX_DOMAINS: usize = 12;

const SUCCESS: &str = "250 2.0.0 OK";
const TOO_MANY_CONNECTIONS: &str = "421 4.7.0 Too many concurrent SMTP connections";
const GMAIL_RECIPIENT_RATE: &str = "450 4.2.1 The user you are trying to contact is receiving \
     mail at a rate that prevents additional messages from being delivered";

/// Real replies fed back at random; index 0 is the success.
const REPLIES: &[&str] = &[
    SUCCESS,
    "421 4.7.0 Try again later, closing connection.",
    "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating\r\n\
     421 4.7.28 from your IP address. Please try again later. - gsmtp\r\n",
    TOO_MANY_CONNECTIONS,
    "450 4.2.0 <xo@wvvw.me>: Recipient address rejected: Greylisted, see \
     http://postgrey.schweikert.ch/help/wvvw.me.html",
    GMAIL_RECIPIENT_RATE,
    "450 4.7.1 Rate limited, try again in 10 minutes",
    "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume \
     or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)",
    "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
    "452 4.2.2 The email account that you tried to reach is over quota",
];

/// Replies whose classification is about one recipient, not the route.
const RECIPIENT_REPLIES: &[&str] = &[
    GMAIL_RECIPIENT_RATE,
    "550 5.2.1 The user you are trying to contact is receiving mail at a rate that prevents \
     additional messages from being delivered",
    "452 4.2.2 The email account that you tried to reach is over quota",
    "550 5.1.1 User unknown",
];

fn classified(wire: &str) -> Classification {
    classify(&Reply::parse(wire).expect("a valid reply"))
}

fn replies() -> &'static [Classification] {
    static CLASSIFIED: OnceLock<Vec<Classification>> = OnceLock::new();
    CLASSIFIED.get_or_init(|| REPLIES.iter().map(|r| classified(r)).collect())
}

fn ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + i as u8))
}

fn domain(d: usize) -> String {
    format!("example-{d}.org")
}

fn route(i: usize, d: usize) -> Route {
    Route::new(ip(i), Destination::new(&domain(d)).expect("a valid domain"))
}

fn now(clock: &FakeRelativeClock) -> Duration {
    clock.now().into()
}

// ---------------------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Config {
    source: ScopeLimits,
    site_default: SiteLimits,
    /// Per-domain overrides (only without route-cap pressure: a genuinely new site in the
    /// overflow site gets the default limits).
    overrides: Vec<(usize, SiteLimits)>,
    max_routes: usize,
    idle_after: Duration,
    warm_up: Option<Vec<u32>>,
    /// `first_send(ip, ago)` per IP index.
    first_sends: Vec<(usize, Duration)>,
    adaptive: Adaptive,
    escalation: Escalation,
    domains: usize,
}

impl Config {
    fn site_limits(&self, site: Option<usize>) -> SiteLimits {
        match site {
            Some(d) => self
                .overrides
                .iter()
                .rev()
                .find(|(o, _)| *o == d)
                .map_or(self.site_default, |(_, l)| *l),
            None => self.site_default,
        }
    }

    fn build(&self, clock: &FakeRelativeClock) -> Result<Limits<FakeRelativeClock>, ConfigError> {
        let mut builder = Limits::builder_with_clock(clock.clone())
            .without_presets()
            .per_source(self.source)
            .site_default(self.site_default)
            .max_routes(self.max_routes)
            .idle_after(self.idle_after)
            .adaptive(self.adaptive)
            .escalation(self.escalation);
        for (d, limits) in &self.overrides {
            builder = builder.site(Site::Named(Arc::from(domain(*d).as_str())), *limits);
        }
        if let Some(daily) = &self.warm_up {
            builder = builder.warm_up(WarmUp::new(daily.iter().copied())?);
        }
        for (i, ago) in &self.first_sends {
            builder = builder.first_send(ip(*i), *ago);
        }
        builder.build()
    }

    /// The IP's day 1 starts here (it is given a first send whenever warm-up is on).
    fn warm_anchor(&self, i: usize) -> Option<Duration> {
        self.first_sends
            .iter()
            .rev()
            .find(|(j, _)| *j == i)
            .map(|(_, ago)| START.saturating_sub(*ago))
    }
}

fn rate() -> impl Strategy<Value = Rate> {
    let per = prop_oneof![
        Just(MS),
        Just(Duration::from_millis(100)),
        Just(SECOND),
        Just(MINUTE),
        Just(HOUR),
        Just(DAY),
    ];
    prop_oneof![
        4 => (per, 1u32..=300, 1u32..=300).prop_filter_map("accepted rate", |(per, n, b)| {
            Rate::new(n, per).and_then(|r| r.with_burst(b)).ok()
        }),
        // Daily quotas as relays set them: the whole day's volume at once.
        1 => (1u32..=300).prop_map(|n| Rate::new(n, DAY).and_then(|r| r.with_burst(n)).unwrap()),
        1 => Just(Rate::new(200, DAY).and_then(|r| r.with_burst(200)).unwrap()),
    ]
}

fn scope_limits() -> impl Strategy<Value = ScopeLimits> {
    (
        prop::option::weighted(0.6, rate()),
        prop::option::weighted(0.5, 1u32..=4),
    )
        .prop_map(|(rate, sessions)| ScopeLimits { rate, sessions })
}

fn site_limits() -> impl Strategy<Value = SiteLimits> {
    prop_oneof![
        6 => (
            scope_limits(),
            scope_limits(),
            prop::option::weighted(0.4, 1u32..=6)
        )
            .prop_map(|(site, pair, deliveries_per_session)| SiteLimits {
                site,
                pair,
                deliveries_per_session,
            }),
        1 => Just(SiteLimits::amazon_ses_sandbox()),
        1 => Just(SiteLimits::sendgrid_free()),
        1 => rate().prop_map(SiteLimits::relay),
    ]
}

fn adaptive() -> impl Strategy<Value = Adaptive> {
    (
        0.05f64..0.95,
        1u32..=20,
        0.01f64..=1.0,
        prop_oneof![
            Just(Duration::from_secs(300)),
            (1u64..600).prop_map(Duration::from_secs)
        ],
    )
        .prop_map(|(decrease, ramp_after, ramp_step, pause)| Adaptive {
            decrease,
            ramp_after,
            ramp_step,
            rate_limited_pause: pause,
            ..Adaptive::default()
        })
}

fn ago() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(HOUR),
        Just(DAY + HOUR),
        Just(2 * DAY),
        (0u64..(5 * 86_400)).prop_map(Duration::from_secs),
        Just(Duration::from_secs(1000 * 86_400)),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    let caps = prop_oneof![2 => 1usize..=6, 1 => Just(1_000_000usize)];
    let idle = prop_oneof![Just(MS), Just(SECOND), Just(MINUTE), Just(HOUR), Just(DAY)];
    let warm = prop::option::weighted(0.35, prop::collection::vec(1u32..=30, 1..=4));
    (
        prop::option::weighted(0.5, scope_limits()).prop_map(Option::unwrap_or_default),
        site_limits(),
        prop::collection::vec((0..MAX_DOMAINS, site_limits()), 0..3),
        caps,
        idle,
        warm,
        prop::collection::vec(ago(), IPS),
        adaptive(),
        2..=MAX_DOMAINS,
    )
        .prop_map(
            |(
                source,
                site_default,
                overrides,
                max_routes,
                idle_after,
                warm_up,
                agos,
                adaptive,
                domains,
            )| {
                let overrides = if max_routes >= 1_000_000 {
                    overrides
                } else {
                    Vec::new()
                };
                let first_sends = if warm_up.is_some() {
                    agos.into_iter().enumerate().collect()
                } else {
                    Vec::new()
                };
                Config {
                    source,
                    site_default,
                    overrides,
                    max_routes,
                    idle_after,
                    warm_up,
                    first_sends,
                    adaptive,
                    escalation: Escalation::default(),
                    domains,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------
// Operations and their run
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    /// `try_acquire` on (IP, domain).
    Acquire(usize, usize),
    /// Up to this many `try_message` on a held permit (index modulo the held ones).
    Message(usize, u8),
    /// `feedback` on (IP, domain) with reply number.
    Feedback(usize, usize, usize),
    /// `feedback` on a held permit's route.
    FeedbackHeld(usize, usize),
    /// Drops a held permit.
    Drop(usize),
    Advance(Duration),
    Prune,
}

fn reply_index() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 2 => 1..REPLIES.len()]
}

fn advance() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (1u64..1000).prop_map(Duration::from_millis),
        3 => (1u64..120).prop_map(Duration::from_secs),
        2 => (1u64..180).prop_map(|m| Duration::from_secs(m * 60)),
        1 => (1u64..72).prop_map(|h| Duration::from_secs(h * 3600)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..IPS, 0..MAX_DOMAINS).prop_map(|(i, d)| Op::Acquire(i, d)),
        6 => (0usize..8, 1u8..=40).prop_map(|(p, n)| Op::Message(p, n)),
        2 => (0..IPS, 0..MAX_DOMAINS, reply_index()).prop_map(|(i, d, r)| Op::Feedback(i, d, r)),
        3 => (0usize..8, reply_index()).prop_map(|(p, r)| Op::FeedbackHeld(p, r)),
        2 => (0usize..8).prop_map(Op::Drop),
        4 => advance().prop_map(Op::Advance),
        1 => Just(Op::Prune),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..300)
}

/// A scope as the test counts it; `None` as a site is the shared overflow site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Source(usize),
    Site(Option<usize>),
    Pair(usize, Option<usize>),
}

/// One held session and the scopes its messages are charged to.
struct Held {
    permit: Permit<FakeRelativeClock>,
    ip: usize,
    domain: usize,
    /// The scopes whose limits must hold for it: its source, its own site (also when a
    /// KNOWN site is reached through the overflow), and its pair, or the overflow's pair
    /// and site for a genuinely new site at the cap.
    keys: Vec<Key>,
    /// The site whose messages per session apply (`None`: the overflow site's).
    site: Option<usize>,
    messages: u32,
}

struct Run {
    limits: Limits<FakeRelativeClock>,
    clock: FakeRelativeClock,
    held: Vec<Held>,
    /// Grant times per scope.
    grants: HashMap<Key, Vec<Duration>>,
    /// The first session-cap or messages-per-session breach seen.
    session_breach: Option<String>,
    /// The first `Wait` whose `until` disagrees with its kind.
    wait_breach: Option<String>,
    /// The most routes tracked after any step.
    most_routes: usize,
    used: HashSet<(usize, usize)>,
}

impl Drop for Run {
    fn drop(&mut self) {
        // After a panic inside the library its state may be broken: dropping the permits
        // left would panic again while unwinding and abort the whole test binary.
        if std::thread::panicking() {
            std::mem::forget(std::mem::take(&mut self.held));
        }
    }
}

/// Drops the permits one by one (a panic in one leaves the rest to `Run`'s drop).
fn drop_all(held: &mut Vec<Held>) {
    while let Some(permit) = held.pop() {
        drop(permit);
    }
}

fn start_clock() -> FakeRelativeClock {
    let clock = FakeRelativeClock::default();
    clock.advance(START);
    clock
}

/// `run`, with a panic inside the library caught: `Err` then. The properties other than
/// "nothing panics" skip such cases (`prop_assume!`), so that each reports its own
/// promise; `nothing_panics_on_random_operations` and
/// `nothing_panics_on_extreme_accepted_configs` fail on them.
fn run_caught(config: &Config, ops: &[Op]) -> Result<Option<Run>, String> {
    caught(|| run(config, ops))
}

/// The run, or the case rejected when the library panicked: the `nothing_panics_*`
/// tests own panics, so that each other test reports its own promise.
fn ran(config: &Config, ops: &[Op]) -> Result<Option<Run>, TestCaseError> {
    run_caught(config, ops)
        .map_err(|_| TestCaseError::reject("the library panicked (see nothing_panics_*)"))
}

/// `f()`, or the message of the panic it raised.
fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// Runs `ops` on limits built from `config` (which `build()` must accept), recording
/// grants per scope and checking session caps as it goes.
fn run(config: &Config, ops: &[Op]) -> Option<Run> {
    let clock = start_clock();
    let limits = config.build(&clock).ok()?;
    let mut run = Run {
        limits,
        clock,
        held: Vec::new(),
        grants: HashMap::new(),
        session_breach: None,
        wait_breach: None,
        most_routes: 0,
        used: HashSet::new(),
    };
    for op in ops {
        step(config, &mut run, op);
        run.most_routes = run.most_routes.max(run.limits.len());
    }
    Some(run)
}

fn step(config: &Config, run: &mut Run, op: &Op) {
    let domains = config.domains;
    // `PROPS_TRACE=1 cargo test --test limits_props -- --nocapture` prints every step.
    if std::env::var_os("PROPS_TRACE").is_some() {
        eprintln!(
            "{:?} {:?} held={:?} routes={}",
            now(&run.clock).saturating_sub(START),
            op,
            run.held
                .iter()
                .map(|h| (&h.keys, h.messages))
                .collect::<Vec<_>>(),
            run.limits.len()
        );
    }
    match *op {
        Op::Acquire(i, d) => {
            let d = d % domains;
            let r = route(i, d);
            run.used.insert((i, d));
            let permit = match run.limits.try_acquire(&r) {
                Ok(permit) => permit,
                Err(wait) => return check_wait(run, &wait, "try_acquire"),
            };
            let (keys, site) = if run.limits.snapshot(&r).is_some() {
                (
                    vec![Key::Source(i), Key::Site(Some(d)), Key::Pair(i, Some(d))],
                    Some(d),
                )
            } else {
                // Not tracked as its own pair: the route went to the overflow site.
                let known = (0..IPS).any(|j| run.limits.snapshot(&route(j, d)).is_some());
                if known {
                    (vec![Key::Source(i), Key::Site(Some(d))], None)
                } else {
                    (
                        vec![Key::Source(i), Key::Site(None), Key::Pair(i, None)],
                        None,
                    )
                }
            };
            run.held.push(Held {
                permit,
                ip: i,
                domain: d,
                keys,
                site,
                messages: 0,
            });
            check_sessions(config, run);
        }
        Op::Message(p, n) => {
            if run.held.is_empty() {
                return;
            }
            let at = now(&run.clock);
            let index = p % run.held.len();
            let held = &mut run.held[index];
            for _ in 0..n {
                if let Err(wait) = held.permit.try_message() {
                    check_wait(run, &wait, "try_message");
                    break;
                }
                held.messages += 1;
                for key in &held.keys {
                    run.grants.entry(*key).or_default().push(at);
                }
                let max = config.site_limits(held.site).deliveries_per_session;
                if run.session_breach.is_none() && max.is_some_and(|max| held.messages > max) {
                    run.session_breach = Some(format!(
                        "{} messages on one session to example-{}.org, at most {max:?}",
                        held.messages, held.domain
                    ));
                }
            }
        }
        Op::Feedback(i, d, reply) => {
            let d = d % domains;
            run.used.insert((i, d));
            run.limits.feedback(&route(i, d), &replies()[reply]);
        }
        Op::FeedbackHeld(p, reply) => {
            if let Some(held) = run.held.get(p % run.held.len().max(1)) {
                let r = route(held.ip, held.domain);
                run.limits.feedback(&r, &replies()[reply]);
            }
        }
        Op::Drop(p) => {
            if !run.held.is_empty() {
                let index = p % run.held.len();
                run.held.swap_remove(index);
            }
        }
        Op::Advance(time) => run.clock.advance(time),
        Op::Prune => {
            run.limits.prune_idle();
        }
    }
}

/// `Wait`'s promise: `until` always says when to look again and agrees with the kind —
/// after now for a timed limit (it refuses now), `SESSION_POLL` on for a full session
/// cap, now for a full session (open another).
fn check_wait(run: &mut Run, wait: &Wait<Nanos>, call: &str) {
    if run.wait_breach.is_some() {
        return;
    }
    let now = run.clock.now();
    let expected = match wait.kind() {
        LimitKind::Sessions => Some(now + Nanos::from(SESSION_POLL)),
        LimitKind::SessionFull => Some(now),
        _ => None,
    };
    let agrees = match expected {
        Some(at) => wait.until() == at,
        None => wait.until() > now,
    };
    if !agrees {
        run.wait_breach = Some(format!(
            "{call}: {wait:?} at {now:?}, expected {}",
            expected.map_or("a time after now".to_owned(), |at| format!("{at:?}"))
        ));
    }
}

/// Sessions held per scope against that scope's configured cap.
fn check_sessions(config: &Config, run: &mut Run) {
    if run.session_breach.is_some() {
        return;
    }
    let mut open: HashMap<Key, u32> = HashMap::new();
    for held in &run.held {
        for key in &held.keys {
            *open.entry(*key).or_default() += 1;
        }
    }
    for (key, count) in open {
        if let Some(cap) = session_cap(config, key) {
            if count > cap {
                run.session_breach = Some(format!(
                    "{count} sessions held at once on {key:?}, configured cap {cap}"
                ));
                return;
            }
        }
    }
}

fn session_cap(config: &Config, key: Key) -> Option<u32> {
    match key {
        Key::Source(_) => config.source.sessions,
        Key::Site(site) => config.site_limits(site).site.sessions,
        Key::Pair(_, site) => config.site_limits(site).pair.sessions,
    }
}

fn ceiling(config: &Config, key: Key) -> Option<Rate> {
    match key {
        Key::Source(_) => config.source.rate,
        Key::Site(site) => config.site_limits(site).site.rate,
        Key::Pair(_, site) => config.site_limits(site).pair.rate,
    }
}

/// The most messages GCRA with `rate` may grant in a half-open window of length `window`:
/// the burst plus one per interval (governor's truncated interval, or the nominal
/// count × window / period rounded up, whichever is more).
fn window_bound(rate: Rate, window: Duration) -> u128 {
    let tau = rate.interval().as_nanos().max(1);
    let per = rate.per().as_nanos();
    let by_interval = window.as_nanos() / tau;
    let nominal = (u128::from(rate.count()) * window.as_nanos()).div_ceil(per);
    u128::from(rate.burst()) + by_interval.max(nominal)
}

/// The first window of any of the lengths checked that holds more grants than `rate`
/// allows.
fn window_breach(times: &[Duration], rate: Rate) -> Option<String> {
    let mut times = times.to_vec();
    times.sort();
    let windows = [rate.interval(), rate.per(), MS, SECOND, MINUTE, HOUR, DAY];
    for window in windows {
        let bound = window_bound(rate, window);
        let mut end = 0;
        for (i, start) in times.iter().enumerate() {
            while end < times.len() && times[end] < *start + window {
                end += 1;
            }
            let count = (end - i) as u128;
            if count > bound {
                return Some(format!(
                    "{count} messages in [{:?}, +{window:?}) (since start), allowed {bound} \
                     (rate {} per {:?}, burst {})",
                    start.saturating_sub(START),
                    rate.count(),
                    rate.per(),
                    rate.burst()
                ));
            }
        }
    }
    None
}

/// Every scope's grants against its configured ceiling.
fn rate_breach(config: &Config, run: &Run) -> Option<String> {
    let mut keys: Vec<&Key> = run.grants.keys().collect();
    keys.sort();
    for key in keys {
        if let Some(rate) = ceiling(config, *key) {
            if let Some(breach) = window_breach(&run.grants[key], rate) {
                return Some(format!("{key:?}: {breach}"));
            }
        }
    }
    None
}

/// Grants per (IP, site) and warm-up day against that day's volume.
fn warm_up_breach(config: &Config, run: &Run) -> Option<String> {
    let daily = config.warm_up.as_ref()?;
    let schedule = WarmUp::new(daily.iter().copied()).ok()?;
    let mut keys: Vec<&Key> = run.grants.keys().collect();
    keys.sort();
    for key in keys {
        let Key::Pair(i, _) = *key else { continue };
        let anchor = config.warm_anchor(i)?;
        let mut per_day: HashMap<u32, u32> = HashMap::new();
        for t in &run.grants[key] {
            let day = (t.saturating_sub(anchor).as_secs() / 86_400) as u32 + 1;
            *per_day.entry(day).or_default() += 1;
        }
        let mut days: Vec<_> = per_day.into_iter().collect();
        days.sort();
        for (day, count) in days {
            if let Some(volume) = schedule.volume_on(day) {
                if count > volume {
                    return Some(format!(
                        "{key:?}: {count} messages on warm-up day {day}, budget {volume}"
                    ));
                }
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Extreme but accepted configurations
// ---------------------------------------------------------------------------------------

fn extreme_rate() -> impl Strategy<Value = Rate> {
    prop_oneof![
        // One message per microsecond, the fastest accepted.
        Just(Rate::new(1000, MS).unwrap()),
        Just(
            Rate::new(1_000_000, SECOND)
                .unwrap()
                .with_burst(1_000_000)
                .unwrap()
        ),
        // One a week, the slowest.
        Just(Rate::new(1, WEEK).unwrap()),
        Just(Rate::new(u32::MAX / 2, WEEK).unwrap()),
        Just(Rate::new(3, Duration::from_nanos(3_000)).unwrap()),
        rate(),
    ]
}

fn extreme_scope() -> impl Strategy<Value = ScopeLimits> {
    (
        prop::option::of(extreme_rate()),
        prop::option::of(prop_oneof![Just(1u32), Just(100_000u32), 1u32..4]),
    )
        .prop_map(|(rate, sessions)| ScopeLimits { rate, sessions })
}

fn extreme_site() -> impl Strategy<Value = SiteLimits> {
    (
        extreme_scope(),
        extreme_scope(),
        prop::option::of(prop_oneof![Just(1u32), Just(u32::MAX), 1u32..5]),
    )
        .prop_map(|(site, pair, deliveries_per_session)| SiteLimits {
            site,
            pair,
            deliveries_per_session,
        })
}

fn extreme_f64(low_ok: bool) -> impl Strategy<Value = f64> {
    let mut choices = vec![1e-300, f64::MIN_POSITIVE, 5e-324, 0.5, 1.0 - f64::EPSILON];
    if low_ok {
        choices.push(1.0);
    }
    prop::sample::select(choices)
}

fn extreme_pause() -> impl Strategy<Value = Duration> {
    prop::sample::select(vec![Duration::ZERO, Duration::from_nanos(1), SECOND, WEEK])
}

fn extreme_long() -> impl Strategy<Value = Duration> {
    prop::sample::select(vec![
        Duration::ZERO,
        Duration::from_nanos(1),
        HOUR,
        Duration::from_secs(365 * 86_400),
        Duration::MAX,
    ])
}

fn extreme_config() -> impl Strategy<Value = Config> {
    let adaptive = (
        extreme_f64(false),
        prop::sample::select(vec![
            Rate::new(1, WEEK).unwrap(),
            Rate::new(1000, MS).unwrap(),
            Adaptive::default().floor,
        ]),
        prop::sample::select(vec![1u32, 2, u32::MAX]),
        extreme_f64(true),
        extreme_pause(),
        extreme_pause(),
        extreme_pause(),
        prop::sample::select(vec![None, Some(1u32), Some(2), Some(u32::MAX)]),
    )
        .prop_map(
            |(
                decrease,
                floor,
                ramp_after,
                ramp_step,
                rate_pause,
                reputation_pause,
                busy_pause,
                initial_sessions,
            )| {
                Adaptive {
                    decrease,
                    floor,
                    ramp_after,
                    ramp_step,
                    rate_limited_pause: rate_pause,
                    reputation_pause,
                    busy_pause,
                    initial_sessions,
                }
            },
        );
    let escalation = (
        prop::sample::select(vec![1u32, 2, u32::MAX]),
        prop::sample::select(vec![1u32, 2, u32::MAX]),
        extreme_long().prop_filter("accepted window", |w| !w.is_zero()),
        extreme_long(),
        extreme_long(),
    )
        .prop_map(
            |(pair_signals, distinct_sites, window, route_pause, block_pause)| Escalation {
                pair_signals,
                distinct_sites,
                window,
                route_pause,
                block_pause,
            },
        );
    let warm = prop::option::of(prop_oneof![
        prop::collection::vec(prop::sample::select(vec![1u32, 7, u32::MAX]), 1..4),
        Just(vec![u32::MAX; 365]),
        Just(vec![1; 365]),
    ]);
    (
        extreme_scope(),
        extreme_site(),
        prop::collection::vec((0..MAX_DOMAINS, extreme_site()), 0..3),
        prop::sample::select(vec![1usize, 2, 5, 100_000_000]),
        extreme_long(),
        warm,
        prop::collection::vec((0..IPS, extreme_long()), 0..=IPS),
        adaptive,
        escalation,
        2..=MAX_DOMAINS,
    )
        .prop_map(
            |(
                source,
                site_default,
                overrides,
                max_routes,
                idle_after,
                warm_up,
                first_sends,
                adaptive,
                escalation,
                domains,
            )| Config {
                source,
                site_default,
                overrides,
                max_routes,
                idle_after,
                warm_up,
                first_sends,
                adaptive,
                escalation,
                domains,
            },
        )
}

fn extreme_ops() -> impl Strategy<Value = Vec<Op>> {
    let far = prop_oneof![
        4 => op(),
        1 => prop::sample::select(vec![Duration::from_nanos(1), 30 * DAY, 200 * DAY])
            .prop_map(Op::Advance),
    ];
    prop::collection::vec(far, 1..200)
}

// ---------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) For every scope (pair, site, source IP) and window length T, the messages
    /// granted in any window of length T are at most burst + rate × T of the scope's
    /// configured ceiling, whatever the feedback, forgetting (prune_idle, idle expiry) and
    /// route cap did.
    #[test]
    fn no_window_exceeds_burst_plus_rate(config in config(), ops in ops()) {
        let Some(run) = ran(&config, &ops)? else { return Ok(()) };
        if let Some(breach) = rate_breach(&config, &run) {
            prop_assert!(false, "{}", breach);
        }
    }

    /// (a) Warm-up: a cold IP sends at most the day's volume per (IP, site) on each day
    /// counted from its first send (`first_send(ip, ago)`: `ago` before the build).
    #[test]
    fn warm_up_day_budget_is_never_exceeded(
        config in config().prop_filter("warm-up on", |c| c.warm_up.is_some()),
        ops in ops(),
    ) {
        let Some(run) = ran(&config, &ops)? else { return Ok(()) };
        if let Some(breach) = warm_up_breach(&config, &run) {
            prop_assert!(false, "{}", breach);
        }
    }

    /// (a, b) The route cap: at `max_routes`, a KNOWN site reached from a new source still
    /// obeys its own site-scope rate and session cap; only genuinely new sites share the
    /// overflow site. (The checks above, on configurations with a small cap and site-scope
    /// limits.)
    #[test]
    fn route_cap_keeps_known_sites_on_their_own_limits(
        config in config().prop_filter("cap and site limits", |c| {
            c.max_routes <= 6
                && (c.site_default.site.rate.is_some() || c.site_default.site.sessions.is_some())
        }),
        ops in ops(),
    ) {
        let Some(run) = ran(&config, &ops)? else { return Ok(()) };
        if let Some(breach) = rate_breach(&config, &run) {
            prop_assert!(false, "{}", breach);
        }
        if let Some(breach) = &run.session_breach {
            prop_assert!(false, "{}", breach);
        }
    }

    /// Every `Wait` says when to look again, in agreement with its kind (see
    /// `check_wait`).
    #[test]
    fn every_wait_says_when_to_look_again(config in config(), ops in ops()) {
        let Some(run) = ran(&config, &ops)? else { return Ok(()) };
        if let Some(breach) = &run.wait_breach {
            prop_assert!(false, "{}", breach);
        }
    }

    /// Learned state survives a restart: limits built from the same configuration, given
    /// what the old ones exported, hold every route the old ones tracked as its own at
    /// the same interval, session cap and suspensions (pair, site, source).
    #[test]
    fn learned_state_exported_and_imported_is_the_same(config in config(), ops in ops()) {
        let Some(run) = ran(&config, &ops)? else { return Ok(()) };
        let wall = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let learned = run.limits.export_learned_at(wall);
        let clock = start_clock();
        clock.advance(now(&run.clock).saturating_sub(START));
        prop_assert_eq!(clock.now(), run.clock.now());
        let restarted = config.build(&clock).expect("the same config builds");
        restarted.import_learned_at(&learned, wall).expect("what was exported imports");
        for &(i, d) in &run.used {
            let r = route(i, d);
            let Some(before) = run.limits.snapshot(&r) else { continue };
            let learned_something = learned
                .pairs
                .iter()
                .any(|p| p.source == r.source() && &p.site == r.site());
            if !learned_something {
                continue;
            }
            let after = restarted.snapshot(&r);
            prop_assert!(after.is_some(), "{:?} not tracked after the import", r);
            let after = after.unwrap();
            prop_assert_eq!(
                (before.interval, before.sessions, before.suspended_until),
                (after.interval, after.sessions, after.suspended_until),
                "{:?}", r
            );
            prop_assert_eq!(
                run.limits.suspended_until(&r),
                restarted.suspended_until(&r),
                "{:?}: site or source suspension", r
            );
        }
    }

    /// The route cap: `len()` never exceeds `max_routes`, the overflow route included.
    #[test]
    fn routes_tracked_never_exceed_max_routes(
        config in config().prop_filter("a small cap", |c| c.max_routes <= 6),
        ops in ops(),
    ) {
        let Some(run) = ran(&config, &ops)? else { return Ok(()) };
        prop_assert!(
            run.most_routes <= config.max_routes,
            "{} routes tracked, max_routes {}", run.most_routes, config.max_routes
        );
    }

    /// (b) Sessions held at once never exceed any scope's configured cap, and no session
    /// carries more than the site's messages per session.
    #[test]
    fn sessions_never_exceed_any_scope_cap(config in config(), ops in ops()) {
        let Some(run) = ran(&config, &ops)? else { return Ok(()) };
        if let Some(breach) = &run.session_breach {
            prop_assert!(false, "{}", breach);
        }
    }

    /// (d) Once every permit is dropped nothing is held: `in_flight` is 0 on every route
    /// used, and a fresh `try_acquire` is never refused for session slots.
    #[test]
    fn nothing_is_held_after_all_permits_drop(config in config(), ops in ops()) {
        let Some(mut run) = ran(&config, &ops)? else { return Ok(()) };
        // Operations after the run may hit the same panics: those cases are skipped too.
        let checked = caught(move || -> Result<(), TestCaseError> {
            drop_all(&mut run.held);
            let mut used: Vec<_> = run.used.iter().copied().collect();
            used.sort();
            for &(i, d) in &used {
                prop_assert_eq!(run.limits.in_flight(&route(i, d)), 0, "in flight on ({}, {})", i, d);
            }
            for &(i, d) in &used {
                if let Err(wait) = run.limits.try_acquire(&route(i, d)) {
                    prop_assert_ne!(
                        wait.kind(), LimitKind::Sessions,
                        "({}, example-{}.org) refused for sessions with nothing held: {:?}", i, d, wait
                    );
                }
            }
            Ok(())
        });
        prop_assume!(checked.is_ok(), "the library panicked (see nothing_panics_*)");
        checked.unwrap_or(Ok(()))?;
    }

    /// (e) A recipient-scope reply (Gmail's 4.2.1 "receiving mail at a rate", a full
    /// mailbox, an unknown user) never changes the route: same snapshot and pair limits,
    /// no suspension, no alert.
    #[test]
    fn recipient_replies_never_change_the_route(
        config in config(),
        ops in ops(),
        target in (0..IPS, 0..MAX_DOMAINS),
        which in 0..RECIPIENT_REPLIES.len(),
        repeat in 1usize..10,
    ) {
        let Some(mut run) = ran(&config, &ops)? else { return Ok(()) };
        let checked = caught(move || -> Result<(), TestCaseError> {
            let r = route(target.0, target.1 % config.domains);
            if run.limits.snapshot(&r).is_none() {
                // Track the route first (it may still land in the overflow at the cap).
                drop(run.limits.try_acquire(&r));
            }
            let Some(before) = run.limits.snapshot(&r) else { return Ok(()) };
            let limits_before = run.limits.pair_limits(&r);
            let _ = run.limits.drain_alerts();
            let reply = classified(RECIPIENT_REPLIES[which]);
            prop_assert_eq!(reply.scope, Scope::Recipient, "{:?}", reply);
            for _ in 0..repeat {
                run.limits.feedback(&r, &reply);
            }
            let after = run.limits.snapshot(&r);
            prop_assert_eq!(Some(before), after, "{} changed the route", RECIPIENT_REPLIES[which]);
            prop_assert_eq!(limits_before, run.limits.pair_limits(&r));
            prop_assert!(run.limits.drain_alerts().is_empty());
            drop_all(&mut run.held);
            if before.suspended_until.is_none() {
                if let Err(wait) = run.limits.try_acquire(&r) {
                    prop_assert_ne!(wait.kind(), LimitKind::Suspended, "{:?}", wait);
                }
            }
            Ok(())
        });
        prop_assume!(checked.is_ok(), "the library panicked (see nothing_panics_*)");
        checked.unwrap_or(Ok(()))?;
    }

    /// (c) Nothing panics: random accepted configurations and random operations.
    #[test]
    fn nothing_panics_on_random_operations(config in config(), ops in ops()) {
        if let Err(panic) = run_caught(&config, &ops) {
            prop_assert!(false, "panicked: {}", panic);
        }
    }

    /// (c) Nothing panics, also with extreme values `build()` accepts: decrease 1e-300,
    /// escalation pauses of `Duration::MAX`, `first_send(ip, Duration::MAX)`, huge
    /// bursts, rates of one per microsecond and one per week.
    #[test]
    fn nothing_panics_on_extreme_accepted_configs(config in extreme_config(), ops in extreme_ops()) {
        let clock = start_clock();
        if config.build(&clock).is_err() {
            return Ok(());
        }
        let outcome = caught(|| {
            if let Some(mut run) = run(&config, &ops) {
                // And the reads the other tests make.
                for &(i, d) in &run.used {
                    let _ = run.limits.snapshot(&route(i, d));
                    let _ = run.limits.pair_limits(&route(i, d));
                }
                drop_all(&mut run.held);
                run.clock.advance(30 * DAY);
                run.limits.prune_idle();
            }
        });
        if let Err(panic) = outcome {
            prop_assert!(false, "panicked: {}", panic);
        }
    }
}

/// Which scope a focused test puts its rate on.
#[derive(Clone, Copy, Debug)]
enum On {
    Source,
    Site,
    Pair,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// (a) Forgetting never hands out a fresh quota: a route that used its burst, went
    /// idle for `idle_after` and was forgotten (by `prune_idle`, or by the route cap
    /// pruning for a new route) gets no more than burst + rate × T in any window when it
    /// comes back (e.g. Amazon SES's 200 a day with the default hour of idleness).
    #[test]
    fn forgetting_does_not_reset_quotas(
        rate in rate(),
        on in prop_oneof![Just(On::Source), Just(On::Site), Just(On::Pair)],
        idle_after in prop_oneof![Just(SECOND), Just(MINUTE), Just(HOUR)],
        extra in prop_oneof![Just(Duration::ZERO), (1u64..3600).prop_map(Duration::from_secs)],
        by_cap in any::<bool>(),
        rounds in 2usize..4,
    ) {
        let limits = ScopeLimits { rate: Some(rate), sessions: None };
        let mut config = plain_config();
        config.site_default = SiteLimits::default();
        config.idle_after = idle_after;
        match on {
            On::Source => config.source = limits,
            On::Site => config.site_default.site = limits,
            On::Pair => config.site_default.pair = limits,
        }
        let mut ops = Vec::new();
        for round in 0..rounds {
            if by_cap {
                config.max_routes = 1;
                // Another domain at the cap prunes the idle route.
                ops.push(Op::Feedback(0, 1 + round % 2, 0));
            } else {
                ops.push(Op::Prune);
            }
            ops.push(Op::Acquire(0, 0));
            ops.push(Op::Message(0, 255));
            ops.push(Op::Message(0, 255));
            ops.push(Op::Drop(0));
            ops.push(Op::Advance(idle_after + extra + MS));
        }
        let Some(run) = ran(&config, &ops)? else { return Ok(()) };
        if let Some(breach) = rate_breach(&config, &run) {
            prop_assert!(false, "{}", breach);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// (f) A pair without a session cap (`SiteLimits::relay(rate)`, or pair sessions
    /// `None`) cut by "421 4.7.0 Too many concurrent SMTP connections" comes back above
    /// the level that was refused after a long run of successes (2000 × 250).
    #[test]
    fn cut_unlimited_session_cap_recovers_after_successes(
        rate in rate(),
        relay in any::<bool>(),
        in_flight in 1u32..8,
        ramp_after in prop::option::of(1u32..=20),
    ) {
        let site = if relay {
            SiteLimits::relay(rate)
        } else {
            SiteLimits {
                site: ScopeLimits::UNLIMITED,
                pair: ScopeLimits { rate: Some(rate), sessions: None },
                deliveries_per_session: None,
            }
        };
        let clock = start_clock();
        let adaptive = Adaptive {
            ramp_after: ramp_after.unwrap_or(Adaptive::default().ramp_after),
            ..Adaptive::default()
        };
        let limits = Limits::builder_with_clock(clock.clone())
            .without_presets()
            .site_default(site)
            .adaptive(adaptive)
            .build()
            .unwrap();
        let r = route(0, 0);
        let held: Vec<_> = (0..in_flight).map(|_| limits.try_acquire(&r).unwrap()).collect();
        limits.feedback(&r, &classified(TOO_MANY_CONNECTIONS));
        let cut = limits.pair_limits(&r).1;
        prop_assert!(cut.is_some_and(|c| c < in_flight.max(2)), "cut to {:?}", cut);
        drop(held);
        let success = classified(SUCCESS);
        for _ in 0..2000 {
            clock.advance(SECOND);
            limits.feedback(&r, &success);
        }
        let sessions = limits.pair_limits(&r).1;
        prop_assert!(
            sessions.is_none_or(|s| s > in_flight),
            "session cap {:?} after 2000 successes; cut from unlimited at {} in flight",
            sessions, in_flight
        );
        let reopened: Vec<_> = (0..=in_flight).map(|_| limits.try_acquire(&r)).collect();
        prop_assert!(reopened.iter().all(Result::is_ok), "{} sessions refused again", in_flight + 1);
    }
}

/// A config like the library's defaults (pair: 10 sessions, 100/s, 100 per session).
fn plain_config() -> Config {
    Config {
        source: ScopeLimits::UNLIMITED,
        site_default: SiteLimits {
            site: ScopeLimits::UNLIMITED,
            pair: ScopeLimits::sessions(10).with_rate(Rate::per_second(100).unwrap()),
            deliveries_per_session: Some(100),
        },
        overrides: Vec::new(),
        max_routes: 1_000_000,
        idle_after: HOUR,
        warm_up: None,
        first_sends: Vec::new(),
        adaptive: Adaptive::default(),
        escalation: Escalation::default(),
        domains: 2,
    }
}

/// Every reply on every route, messages, successes enough to ramp up, long waits and
/// pruning: what reaches each adaptive and escalation path.
fn every_path() -> Vec<Op> {
    let mut ops = Vec::new();
    for round in 0..3 {
        for i in 0..2 {
            for d in 0..2 {
                ops.push(Op::Acquire(i, d));
                ops.push(Op::Message(0, 5));
                for reply in 0..REPLIES.len() {
                    ops.push(Op::FeedbackHeld(0, reply));
                    ops.push(Op::Message(0, 3));
                    ops.push(Op::Advance(SECOND));
                }
                for _ in 0..25 {
                    ops.push(Op::Feedback(i, d, 0));
                }
                ops.push(Op::Drop(0));
            }
        }
        ops.push(Op::Advance(if round == 0 { 30 * DAY } else { HOUR }));
        ops.push(Op::Prune);
    }
    ops
}

/// (c) Each extreme value `build()` accepts, alone on an otherwise plain configuration,
/// through every feedback path: none panics. Lists every one that does.
#[test]
fn each_extreme_accepted_value_alone_does_not_panic() {
    type Knob = (&'static str, fn(&mut Config));
    let knobs: Vec<Knob> = vec![
        ("Adaptive.decrease = 1e-300", |c| {
            c.adaptive.decrease = 1e-300
        }),
        ("Adaptive.decrease = 5e-324", |c| {
            c.adaptive.decrease = 5e-324
        }),
        ("Adaptive.decrease = 1 - EPSILON", |c| {
            c.adaptive.decrease = 1.0 - f64::EPSILON
        }),
        ("Adaptive.ramp_step = 1e-300", |c| {
            c.adaptive.ramp_step = 1e-300
        }),
        ("Adaptive.ramp_after = u32::MAX", |c| {
            c.adaptive.ramp_after = u32::MAX
        }),
        ("Adaptive.floor = 1 per week", |c| {
            c.adaptive.floor = Rate::new(1, WEEK).unwrap()
        }),
        ("Adaptive.floor = 1 per µs", |c| {
            c.adaptive.floor = Rate::new(1000, MS).unwrap()
        }),
        ("Adaptive pauses = 7 days", |c| {
            c.adaptive.rate_limited_pause = WEEK;
            c.adaptive.reputation_pause = WEEK;
            c.adaptive.busy_pause = WEEK;
        }),
        ("Escalation.route_pause = Duration::MAX", |c| {
            c.escalation.route_pause = Duration::MAX;
            c.escalation.pair_signals = 1;
        }),
        ("Escalation.block_pause = Duration::MAX", |c| {
            c.escalation.block_pause = Duration::MAX
        }),
        ("Escalation.window = Duration::MAX", |c| {
            c.escalation.window = Duration::MAX
        }),
        ("Escalation counts = u32::MAX", |c| {
            c.escalation.pair_signals = u32::MAX;
            c.escalation.distinct_sites = u32::MAX;
        }),
        ("first_send(ip, Duration::MAX)", |c| {
            c.first_sends = vec![(0, Duration::MAX)];
            c.warm_up = Some(vec![5, 10]);
        }),
        ("first_send(ip, Duration::MAX) without warm-up", |c| {
            c.first_sends = vec![(0, Duration::MAX)]
        }),
        ("warm-up of u32::MAX a day", |c| {
            c.warm_up = Some(vec![u32::MAX; 3])
        }),
        ("idle_after = Duration::MAX", |c| {
            c.idle_after = Duration::MAX
        }),
        ("idle_after = 0", |c| c.idle_after = Duration::ZERO),
        ("max_routes = 1", |c| c.max_routes = 1),
        ("max_routes = 100 000 000", |c| c.max_routes = 100_000_000),
        ("deliveries_per_session = u32::MAX", |c| {
            c.site_default.deliveries_per_session = Some(u32::MAX)
        }),
        ("sessions = 100 000 everywhere", |c| {
            c.source.sessions = Some(100_000);
            c.site_default.site.sessions = Some(100_000);
            c.site_default.pair.sessions = Some(100_000);
        }),
        ("pair rate 1 per µs", |c| {
            c.site_default.pair.rate = Some(Rate::new(1000, MS).unwrap())
        }),
        ("pair rate 1 per week", |c| {
            c.site_default.pair.rate = Some(Rate::new(1, WEEK).unwrap())
        }),
        ("pair rate 1 000 000/s, burst 1 000 000", |c| {
            c.site_default.pair.rate = Some(
                Rate::new(1_000_000, SECOND)
                    .unwrap()
                    .with_burst(1_000_000)
                    .unwrap(),
            )
        }),
        ("site and source rates 1 per week", |c| {
            c.site_default.site.rate = Some(Rate::new(1, WEEK).unwrap());
            c.source.rate = Some(Rate::new(1, WEEK).unwrap());
        }),
    ];
    let ops = every_path();
    let mut panics = Vec::new();
    for (name, knob) in knobs {
        let mut config = plain_config();
        knob(&mut config);
        if config.build(&start_clock()).is_err() {
            continue;
        }
        let outcome = caught(|| {
            if let Some(mut run) = run(&config, &ops) {
                drop_all(&mut run.held);
                run.limits.prune_idle();
            }
        });
        if let Err(panic) = outcome {
            panics.push(format!("{name}: {panic}"));
        }
    }
    assert!(panics.is_empty(), "panicked:\n{}", panics.join("\n"));
}
