//! `Limits::reconfigure` on live limits (README "Route limits", rustdoc of
//! `Limits::reconfigure`): random old and new settings, random sequences of acquire,
//! message, feedback, release and clock jumps on a fake clock with one reconfiguration
//! at a random point, and a run of threads deciding while another reconfigures.
//!
//! One route (one source IP, one plain site), so that its pair, site and source see
//! the same messages and each scope is checked against its own configured rates.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use proptest::prelude::*;
use smtp_throttle::limit::{
    LimitKind, Limits, LimitsBuilder, Permit, Rate, ScopeLimits, SiteLimits,
};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::{classify, Classification, ConfigError, Reply};

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// Real replies fed back at random; index 0 is the success.
const REPLIES: &[&str] = &[
    "250 2.0.0 OK",
    "421 4.7.0 Try again later, closing connection.",
    "421 4.7.0 Too many concurrent SMTP connections",
    "450 4.7.1 Rate limited, try again in 10 minutes",
    "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume \
     or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)",
    "450 4.2.0 <xo@wvvw.me>: Recipient address rejected: Greylisted",
];

fn replies() -> Vec<Classification> {
    REPLIES
        .iter()
        .map(|wire| classify(&Reply::parse(wire).expect("a valid reply")))
        .collect()
}

fn route() -> Route {
    let ip: IpAddr = "192.0.2.10".parse().expect("an IP");
    Route::new(ip, Destination::new("example.org").expect("a domain"))
}

/// The settings of one side of the reconfiguration.
#[derive(Clone, Copy, Debug)]
struct Config {
    pair: ScopeLimits,
    site: ScopeLimits,
    source: ScopeLimits,
    deliveries: Option<u32>,
}

impl Config {
    fn builder(&self, clock: &FakeRelativeClock) -> LimitsBuilder<FakeRelativeClock> {
        Limits::builder_with_clock(clock.clone())
            .without_presets()
            .per_source(self.source)
            .site_default(SiteLimits {
                site: self.site,
                pair: self.pair,
                deliveries_per_session: self.deliveries,
            })
    }

    fn rate(&self, scope: usize) -> Option<Rate> {
        [self.pair, self.site, self.source][scope].rate
    }

    fn sessions(&self, scope: usize) -> Option<u32> {
        [self.pair, self.site, self.source][scope].sessions
    }
}

fn rate() -> impl Strategy<Value = Rate> {
    let per = prop_oneof![
        Just(Duration::from_millis(100)),
        Just(SECOND),
        Just(MINUTE),
        Just(HOUR),
        Just(DAY),
    ];
    (per, 1u32..=200, 1u32..=50).prop_filter_map("an accepted rate", |(per, n, b)| {
        Rate::new(n, per).and_then(|r| r.with_burst(b)).ok()
    })
}

fn sessions() -> impl Strategy<Value = u32> {
    1u32..=4
}

fn config() -> impl Strategy<Value = Config> {
    (
        (rate(), prop::option::weighted(0.8, sessions())),
        (
            prop::option::weighted(0.5, rate()),
            prop::option::weighted(0.4, sessions()),
        ),
        (
            prop::option::weighted(0.4, rate()),
            prop::option::weighted(0.3, sessions()),
        ),
        prop::option::weighted(0.3, 1u32..=20),
    )
        .prop_map(|(pair, site, source, deliveries)| Config {
            pair: ScopeLimits {
                rate: Some(pair.0),
                sessions: pair.1,
            },
            site: ScopeLimits {
                rate: site.0,
                sessions: site.1,
            },
            source: ScopeLimits {
                rate: source.0,
                sessions: source.1,
            },
            deliveries,
        })
}

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    /// Up to this many messages on held permit `.0`.
    Message(usize, u8),
    /// `feedback` of reply `.0` on the route.
    Feedback(usize),
    Drop(usize),
    Advance(Duration),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Acquire),
        6 => (0usize..6, 1u8..=30).prop_map(|(p, n)| Op::Message(p, n)),
        3 => prop_oneof![3 => Just(0usize), 2 => 1..REPLIES.len()].prop_map(Op::Feedback),
        2 => (0usize..6).prop_map(Op::Drop),
        4 => prop_oneof![
            4 => (1u64..2000).prop_map(Duration::from_millis),
            3 => (1u64..180).prop_map(Duration::from_secs),
            1 => (1u64..48).prop_map(|h| Duration::from_secs(h * 3600)),
        ]
        .prop_map(Op::Advance),
    ]
}

/// What a run granted: message times (since the start), and the reconfiguration's.
struct Run {
    sends: Vec<Duration>,
    at: Duration,
    /// The first message after the reconfiguration.
    first_after: usize,
}

fn since_start(clock: &FakeRelativeClock) -> Duration {
    Duration::from(clock.now())
}

/// Runs `ops` with `new` applied before op `at`; checks the session caps on the way and
/// that the route is not locked out at the end.
fn run(old: &Config, new: &Config, ops: &[Op], at: usize) -> Result<Option<Run>, TestCaseError> {
    let clock = FakeRelativeClock::default();
    clock.advance(DAY);
    let limits = match old.builder(&clock).build() {
        Ok(limits) => limits,
        Err(ConfigError::Zero { .. }) => return Ok(None),
        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
    };
    let route = route();
    let replies = replies();
    let mut held: Vec<Permit<FakeRelativeClock>> = Vec::new();
    let mut sends = Vec::new();
    let mut reconfigured_at = None;
    let mut first_after = 0;
    let mut config = old;
    for (i, op) in ops.iter().enumerate() {
        if i == at {
            limits
                .reconfigure(new.builder(&clock))
                .map_err(|e| TestCaseError::fail(format!("reconfigure refused: {e}")))?;
            reconfigured_at = Some(since_start(&clock));
            first_after = sends.len();
            config = new;
        }
        match op {
            Op::Acquire => {
                if let Ok(permit) = limits.try_acquire(&route) {
                    held.push(permit);
                    // A session opens only within every cap of the settings in force.
                    for scope in 0..3 {
                        if let Some(cap) = config.sessions(scope) {
                            prop_assert!(
                                held.len() as u32 <= cap,
                                "{} sessions held after an acquire, scope {scope} caps at {cap} \
                                 ({})",
                                held.len(),
                                if reconfigured_at.is_some() {
                                    "new"
                                } else {
                                    "old"
                                }
                            );
                        }
                    }
                }
            }
            Op::Message(p, n) => {
                if let Some(permit) = held.get_mut(*p) {
                    for _ in 0..*n {
                        if permit.try_message().is_err() {
                            break;
                        }
                        sends.push(since_start(&clock));
                    }
                }
            }
            Op::Feedback(r) => limits.feedback(&route, &replies[*r]),
            Op::Drop(p) => {
                if *p < held.len() {
                    drop(held.swap_remove(*p));
                }
            }
            Op::Advance(time) => clock.advance(*time),
        }
    }
    let Some(at) = reconfigured_at else {
        return Ok(None);
    };
    held.clear();
    not_locked_out(&limits, &clock, &route, new)?;
    Ok(Some(Run {
        sends,
        at,
        first_after,
    }))
}

/// Once every session is released and the suspensions kept have run out, a session
/// opens and a message goes within the times the new limits imply: each `Wait` is at
/// most the connection backoff or one interval of a scope's rate (the pair's adapted
/// rate is at most its ceiling and at least the adaptive floor, 1 a minute).
fn not_locked_out(
    limits: &Limits<FakeRelativeClock>,
    clock: &FakeRelativeClock,
    route: &Route,
    new: &Config,
) -> Result<(), TestCaseError> {
    if let Some(until) = limits.suspended_until(route) {
        clock.advance(Duration::from(until) - since_start(clock));
    }
    // The connection backoff (5 minutes at most by default) and pace.
    let connect_bound = Duration::from_secs(300);
    let mut permit = None;
    for _ in 0..4 {
        match limits.try_acquire(route) {
            Ok(p) => {
                permit = Some(p);
                break;
            }
            Err(wait) => {
                prop_assert_eq!(wait.kind(), LimitKind::Connections, "{}", wait);
                let time = wait.wait_time_from(clock.now());
                prop_assert!(time <= connect_bound, "{wait} waits {time:?}");
                clock.advance(time);
            }
        }
    }
    let Some(mut permit) = permit else {
        return Err(TestCaseError::fail("no session opened on a released route"));
    };
    let interval = |scope: usize| new.rate(scope).map_or(Duration::ZERO, |r| r.interval());
    let rate_bound = interval(0).max(MINUTE).max(interval(1)).max(interval(2));
    for _ in 0..8 {
        match permit.try_message() {
            Ok(()) => return Ok(()),
            Err(wait) => {
                prop_assert_eq!(wait.kind(), LimitKind::Rate, "{}", wait);
                let time = wait.wait_time_from(clock.now());
                prop_assert!(time <= rate_bound, "{wait} waits {time:?} > {rate_bound:?}");
                clock.advance(time);
            }
        }
    }
    Err(TestCaseError::fail("no message went on a released route"))
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}

/// The most messages `[start, end)` may hold when `old` applied before `at` and `new`
/// after it (either may be `None`: unlimited): one burst, the larger, and one cell per
/// interval of each rate over its part of the window. `None`: no bound (an unlimited
/// part).
fn bound(
    old: Option<Rate>,
    new: Option<Rate>,
    at: Duration,
    start: Duration,
    end: Duration,
) -> Option<u128> {
    let before = nanos(at.min(end).saturating_sub(start));
    let after = nanos(end.saturating_sub(at.max(start)));
    // A part the window touches (messages at the instant of the reconfiguration may
    // come before it): its burst counts, and its rate over its length.
    let part = |rate: Option<Rate>, touched: bool, length: u128| match (rate, touched) {
        (_, false) => Some((0u128, 1u128, 0u128)),
        (Some(rate), true) => Some((
            length,
            nanos(rate.interval()).max(1),
            u128::from(rate.burst()),
        )),
        (None, true) => None,
    };
    let (lo, to, bo) = part(old, start <= at, before)?;
    let (ln, tn, bn) = part(new, end > at, after)?;
    // floor(lo / to + ln / tn), in integers.
    let cells = (lo * tn + ln * to) / (to * tn);
    Some(bo.max(bn) + cells)
}

/// The first window that holds more messages than `bound` allows, for windows that
/// start at a message or end just after one, of lengths around both rates.
fn breach(
    sends: &[Duration],
    old: Option<Rate>,
    new: Option<Rate>,
    at: Duration,
) -> Option<String> {
    let mut lengths = vec![MS, SECOND, MINUTE, HOUR, DAY];
    for rate in [old, new].into_iter().flatten() {
        lengths.extend([rate.interval(), rate.per(), rate.interval() * rate.burst()]);
    }
    let count = |start: Duration, end: Duration| {
        sends.iter().filter(|&&t| t >= start && t < end).count() as u128
    };
    for &length in &lengths {
        for &t in sends {
            let tiny = Duration::from_nanos(1);
            for start in [t, (t + tiny).saturating_sub(length)] {
                let end = start + length;
                let Some(most) = bound(old, new, at, start, end) else {
                    continue;
                };
                let n = count(start, end);
                if n > most {
                    return Some(format!(
                        "{n} messages in [{start:?}, +{length:?}), allowed {most} \
                         (reconfigured at {at:?}: {old:?} -> {new:?})"
                    ));
                }
            }
        }
    }
    None
}

fn case() -> impl Strategy<Value = (Config, Config, Vec<Op>, prop::sample::Index)> {
    (
        config(),
        config(),
        prop::collection::vec(op(), 1..160),
        any::<prop::sample::Index>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A reconfiguration in the middle of any sequence never lets a window hold more
    /// than one burst (the larger of the old and the new) plus what each rate refills
    /// over its part of the window — the old rate up to the reconfiguration, the new
    /// one after it — in every scope (pair, site, source): spent cells stay spent, no
    /// fresh burst. Windows wholly after it hold at most what the new rate allows, and
    /// those wholly before it what the old one did. Sessions never open past the caps
    /// in force, and once every session is released the route is not locked out.
    #[test]
    fn a_reconfiguration_keeps_windows_and_never_locks_out((old, new, ops, at) in case()) {
        let at = at.index(ops.len());
        let Some(run) = run(&old, &new, &ops, at)? else { return Ok(()) };
        for scope in 0..3 {
            let (before, after) = (old.rate(scope), new.rate(scope));
            if let Some(breach) = breach(&run.sends, before, after, run.at) {
                prop_assert!(false, "scope {}: {}", scope, breach);
            }
            if let Some(rate) = after {
                let later = &run.sends[run.first_after..];
                if let Some(breach) = breach(later, Some(rate), Some(rate), run.at) {
                    prop_assert!(false, "scope {} after: {}", scope, breach);
                }
            }
        }
    }
}

/// Settings that `reconfigure` refuses change nothing: the error of `build`, and the
/// old limits keep deciding.
#[test]
fn refused_settings_change_nothing() {
    let clock = FakeRelativeClock::default();
    let config = Config {
        pair: ScopeLimits::sessions(1).with_rate(Rate::per_minute(1).expect("a rate")),
        site: ScopeLimits::UNLIMITED,
        source: ScopeLimits::UNLIMITED,
        deliveries: None,
    };
    let limits = config.builder(&clock).build().expect("valid");
    let route = route();
    let held = limits.try_acquire(&route).expect("a slot");
    let bad = Config {
        pair: ScopeLimits::sessions(0),
        ..config
    };
    assert_eq!(
        limits.reconfigure(bad.builder(&clock)).unwrap_err(),
        ConfigError::Zero {
            setting: "pair sessions"
        }
    );
    assert!(limits.try_acquire(&route).is_err(), "still 1 session");
    drop(held);
    assert_eq!(limits.pair_limits(&route).1, Some(1));
}

/// A raised cap admits new sessions at once; a lowered one admits none until enough
/// of those open have closed; the spent cells of a rate stay spent (no fresh burst).
#[test]
fn caps_and_rates_change_on_a_live_route() {
    let clock = FakeRelativeClock::default();
    let with = |sessions: u32, rate: Rate| Config {
        pair: ScopeLimits::sessions(sessions).with_rate(rate),
        site: ScopeLimits::UNLIMITED,
        source: ScopeLimits::UNLIMITED,
        deliveries: None,
    };
    let ten = Rate::per_minute(10)
        .and_then(|r| r.with_burst(10))
        .expect("a rate");
    let limits = with(2, ten)
        .builder(&clock)
        .adaptive(smtp_throttle::limit::Adaptive {
            initial_sessions: None,
            ..Default::default()
        })
        .build()
        .expect("valid");
    let route = route();
    let mut a = limits.try_acquire(&route).expect("1 of 2");
    let b = limits.try_acquire(&route).expect("2 of 2");
    for _ in 0..10 {
        a.try_message().expect("within the burst");
    }
    // The same rate again and a third session: the burst is not handed out again.
    limits
        .reconfigure(with(3, ten).builder(&clock))
        .expect("valid");
    let c = limits.try_acquire(&route).expect("3 of 3");
    assert_eq!(a.try_message().unwrap_err().kind(), LimitKind::Rate);
    // Down to 1 session: none opens until two of the three are gone.
    limits
        .reconfigure(with(1, ten).builder(&clock))
        .expect("valid");
    assert_eq!(limits.in_flight(&route), 3, "open sessions stay counted");
    drop(a);
    drop(b);
    assert_eq!(
        limits.try_acquire(&route).unwrap_err().kind(),
        LimitKind::Sessions
    );
    drop(c);
    let _d = limits.try_acquire(&route).expect("the only one");
}

/// Threads decide while another one reconfigures back and forth: nothing panics, no
/// more sessions are held than the larger cap, and afterwards the route follows the
/// last settings and is free. No sleeping: the threads run flat out on a fake clock
/// that one of them advances.
#[test]
fn threads_decide_while_another_reconfigures() {
    let clock = FakeRelativeClock::default();
    let wide = Config {
        pair: ScopeLimits::sessions(4).with_rate(Rate::per_second(200).expect("a rate")),
        site: ScopeLimits::sessions(5),
        source: ScopeLimits::UNLIMITED,
        deliveries: Some(5),
    };
    let narrow = Config {
        pair: ScopeLimits::sessions(1).with_rate(Rate::per_second(20).expect("a rate")),
        site: ScopeLimits::sessions(2).with_rate(Rate::per_second(50).expect("a rate")),
        source: ScopeLimits::sessions(3),
        deliveries: Some(2),
    };
    let limits = wide.builder(&clock).build().expect("valid");
    let route = route();
    let replies = replies();
    let held = AtomicU32::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|threads| {
        for worker in 0..3 {
            let (limits, route, replies, held, done, clock) =
                (&limits, &route, &replies, &held, &done, &clock);
            threads.spawn(move || {
                let mut i = 0usize;
                while !done.load(Ordering::Relaxed) || i < 2_000 {
                    i += 1;
                    if worker == 0 {
                        clock.advance(MS);
                    }
                    let Ok(mut permit) = limits.try_acquire(route) else {
                        continue;
                    };
                    let now_held = held.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(
                        now_held <= 4,
                        "{now_held} sessions held, the larger cap is 4"
                    );
                    while permit.try_message().is_ok() {}
                    limits.feedback(route, &replies[i % 3]);
                    held.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                }
            });
        }
        let (limits, done, clock) = (&limits, &done, &clock);
        threads.spawn(move || {
            for round in 0..400 {
                let config = if round % 2 == 0 { narrow } else { wide };
                limits
                    .reconfigure(config.builder(clock))
                    .expect("valid settings");
            }
            limits
                .reconfigure(narrow.builder(clock))
                .expect("valid settings");
            done.store(true, Ordering::Relaxed);
        });
    });
    assert_eq!(limits.in_flight(&route), 0);
    let (interval, sessions) = limits.pair_limits(&route);
    assert!(sessions.is_some_and(|cap| cap <= 1), "{sessions:?}");
    let ceiling = Rate::per_second(20).expect("a rate").interval();
    assert!(interval.is_some_and(|i| i >= ceiling), "{interval:?}");
    clock.advance(DAY);
    let mut permit = limits.try_acquire(&route).expect("a free route");
    permit.try_message().expect("a message");
}
