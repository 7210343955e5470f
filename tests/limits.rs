//! Route limits on a fake clock: quotas, session caps, adaptation, presets, bad config.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use smtp_throttle::limit::{
    Adaptive, LimitKind, LimitScope, Limits, Rate, ScopeLimits, SiteLimits,
};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::{classify, ConfigError, Reply};

fn route(domain: &str) -> Route {
    Route::new(
        "192.0.2.7".parse::<IpAddr>().unwrap(),
        Destination::new(domain).unwrap(),
    )
}

fn pair_limits(sessions: u32, rate: Rate) -> SiteLimits {
    SiteLimits {
        site: ScopeLimits::UNLIMITED,
        pair: ScopeLimits::sessions(sessions).with_rate(rate),
        deliveries_per_session: None,
    }
}

fn limits(clock: &FakeRelativeClock, site: SiteLimits) -> Limits<FakeRelativeClock> {
    Limits::builder_with_clock(clock.clone())
        .site_default(site)
        .build()
        .unwrap()
}

fn reply(wire: &str) -> smtp_throttle::Classification {
    classify(&Reply::parse(wire).unwrap())
}

#[test]
fn no_quota_is_exceeded_in_any_window() {
    for burst in [1, 5] {
        let clock = FakeRelativeClock::default();
        let rate = Rate::per_minute(30).unwrap().with_burst(burst).unwrap();
        let limits = limits(&clock, pair_limits(1, rate));
        let r = route("example.org");
        let mut permit = limits.try_acquire(&r).unwrap();
        let mut sent: Vec<Duration> = Vec::new();
        for _ in 0..6000 {
            while permit.try_message().is_ok() {
                sent.push(clock.now().into());
            }
            clock.advance(Duration::from_millis(100));
        }
        // 10 minutes at 30/min: 300 messages, plus the burst.
        assert!(
            sent.len() >= 300 && sent.len() <= 300 + burst as usize,
            "{}",
            sent.len()
        );
        for (i, start) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|t| **t < *start + Duration::from_secs(60))
                .count();
            assert!(
                in_window < 30 + burst as usize,
                "{in_window} in one minute (burst {burst})"
            );
        }
    }
}

#[test]
fn wait_names_the_limiters_earliest_instant() {
    let clock = FakeRelativeClock::default();
    let limits = limits(&clock, pair_limits(1, Rate::per_minute(6).unwrap()));
    let r = route("example.org");
    let mut permit = limits.try_acquire(&r).unwrap();
    permit.try_message().unwrap();
    let wait = permit.try_message().unwrap_err();
    assert_eq!(
        (wait.scope(), wait.kind()),
        (LimitScope::Pair, LimitKind::Rate)
    );
    assert_eq!(wait.wait_time_from(clock.now()), Duration::from_secs(10));
    clock.advance(Duration::from_millis(9_999));
    assert!(permit.try_message().is_err());
    clock.advance(Duration::from_millis(1));
    assert!(permit.try_message().is_ok());
}

#[test]
fn sessions_never_exceed_the_cap_across_threads() {
    let limits = Limits::builder_with_clock(FakeRelativeClock::default())
        .site_default(pair_limits(3, Rate::per_second(1000).unwrap()))
        .build()
        .unwrap();
    let r = route("example.org");
    let observed = Arc::new(AtomicU32::new(0));
    let max = Arc::new(AtomicU32::new(0));
    let granted = Arc::new(AtomicU32::new(0));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5_000 {
                    if let Ok(permit) = limits.try_acquire(&r) {
                        let now = observed.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(now, Ordering::SeqCst);
                        granted.fetch_add(1, Ordering::SeqCst);
                        std::thread::yield_now();
                        observed.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                }
            });
        }
    });
    assert!(
        max.load(Ordering::SeqCst) <= 3,
        "max in flight {}",
        max.load(Ordering::SeqCst)
    );
    assert!(granted.load(Ordering::SeqCst) > 0);
    assert_eq!(limits.in_flight(&r), 0);
}

#[test]
fn permits_come_back_on_drop_and_on_panic() {
    let clock = FakeRelativeClock::default();
    let limits = limits(&clock, pair_limits(1, Rate::per_second(10).unwrap()));
    let r = route("example.org");
    let p = limits.try_acquire(&r).unwrap();
    let wait = limits.try_acquire(&r).unwrap_err();
    assert_eq!(wait.kind(), LimitKind::Sessions);
    assert_eq!(
        wait.wait_time_from(clock.now()),
        smtp_throttle::limit::SESSION_POLL,
        "a full session cap says when to look again"
    );
    drop(p);
    let worker = {
        let limits = limits.clone();
        let r = r.clone();
        std::thread::spawn(move || {
            let _permit = limits.try_acquire(&r).unwrap();
            panic!("the sender panicked while holding its permit");
        })
    };
    assert!(worker.join().is_err());
    assert_eq!(limits.in_flight(&r), 0);
    assert!(limits.try_acquire(&r).is_ok());
}

#[test]
fn decrease_suspend_then_ramp_up() {
    let clock = FakeRelativeClock::default();
    let limits = limits(&clock, pair_limits(4, Rate::per_minute(60).unwrap()));
    let r = route("example.org");
    assert_eq!(limits.pair_limits(&r).0, Some(Duration::from_secs(1)));

    limits.feedback(&r, &reply("421 4.7.0 Try again later, closing connection."));
    let wait = limits.try_acquire(&r).unwrap_err();
    assert_eq!(
        (wait.scope(), wait.kind()),
        (LimitScope::Pair, LimitKind::Suspended)
    );
    // The first objection without a hint: the first pause (30 s), the rate halved.
    assert_eq!(wait.wait_time_from(clock.now()), Duration::from_secs(30));
    assert_eq!(limits.pair_limits(&r).0, Some(Duration::from_secs(2)));

    // Once the suspension ends, the halved rate holds: one message per 2 s.
    clock.advance(Duration::from_secs(30));
    let mut permit = limits.try_acquire(&r).unwrap();
    assert!(permit.try_message().is_ok());
    let wait = permit.try_message().unwrap_err();
    assert_eq!(wait.wait_time_from(clock.now()), Duration::from_secs(2));
    clock.advance(Duration::from_secs(2));
    assert!(permit.try_message().is_ok());

    // 20 successes in a row step the rate up by 10 % of the ceiling each time: after
    // a halving, up to halfway down the step (75 % of the rate the receiver refused,
    // here the ceiling, 1/s), held there 5 steps, then up to 90 % of it.
    let ok = reply("250 2.0.0 Ok: queued");
    let per_sec = || 1.0 / limits.pair_limits(&r).0.unwrap().as_secs_f64();
    for (step, expected) in [(1, 0.6), (2, 0.7), (3, 0.75)] {
        for _ in 0..20 {
            limits.feedback(&r, &ok);
        }
        assert!(
            (per_sec() - expected).abs() < 1e-6,
            "step {step}: {}",
            per_sec()
        );
    }
    for _ in 0..4 * 20 {
        limits.feedback(&r, &ok);
    }
    assert!((per_sec() - 0.75).abs() < 1e-3, "held: {}", per_sec());
    // (The rate refused has crept up by a few hundredths of a percent a step.)
    for (step, expected) in [(8, 0.85), (9, 0.9)] {
        for _ in 0..20 {
            limits.feedback(&r, &ok);
        }
        assert!(
            (per_sec() - expected).abs() < 2e-3,
            "step {step}: {}",
            per_sec()
        );
    }
    // From there it creeps up by 0.02 % per step at first, faster the longer no
    // objection comes (as much again every 25 steps): 100 steps later about 6 % up.
    for _ in 0..100 * 20 {
        limits.feedback(&r, &ok);
    }
    assert!(per_sec() > 0.93 && per_sec() < 0.98, "{}", per_sec());
    // ... and back at the ceiling within about 530 steps.
    for _ in 0..500 * 20 {
        limits.feedback(&r, &ok);
    }
    assert_eq!(
        limits.pair_limits(&r).0,
        Some(Duration::from_secs(1)),
        "back at the ceiling"
    );
}

#[test]
fn a_suspension_stops_sessions_already_open() {
    let clock = FakeRelativeClock::default();
    let limits = limits(&clock, pair_limits(4, Rate::per_second(10).unwrap()));
    let r = route("example.org");
    let mut first = limits.try_acquire(&r).unwrap();
    let mut second = limits.try_acquire(&r).unwrap();
    first.try_message().unwrap();
    // The receiver objects on the first session; the second must stop sending too.
    limits.feedback(&r, &reply("421 4.7.0 Try again later, closing connection."));
    clock.advance(Duration::from_secs(1));
    let wait = second.try_message().unwrap_err();
    assert_eq!(
        (wait.scope(), wait.kind()),
        (LimitScope::Pair, LimitKind::Suspended)
    );
    assert_eq!(wait.wait_time_from(clock.now()), Duration::from_secs(29));
    // A second objection heard during the suspension renews the pause (to t = 31 s)
    // but does not halve the rate again.
    limits.feedback(&r, &reply("421 4.7.0 Try again later, closing connection."));
    assert_eq!(limits.pair_limits(&r).0, Some(Duration::from_millis(200)));
    clock.advance(Duration::from_secs(300));
    let after = second.try_message();
    assert!(after.is_ok(), "{after:?}");
}

#[test]
fn a_changed_rate_does_not_lock_the_route_out() {
    let clock = FakeRelativeClock::default();
    let limits = limits(&clock, pair_limits(1, Rate::per_second(10).unwrap()));
    let r = route("example.org");
    let mut p = limits.try_acquire(&r).unwrap();
    p.try_message().unwrap();
    drop(p);
    // The limiter has lived for a day when the rate changes.
    clock.advance(Duration::from_secs(86_400));
    limits.feedback(&r, &reply("421 4.7.0 Try again later, closing connection."));
    clock.advance(Duration::from_secs(300));
    let mut p = limits.try_acquire(&r).unwrap();
    // The new rate is 5/s: the first message comes within one interval, not a day.
    clock.advance(Duration::from_millis(200));
    assert!(p.try_message().is_ok());
}

#[test]
fn server_hints_set_the_pause_and_greylisting_changes_nothing() {
    let clock = FakeRelativeClock::default();
    let limits = limits(&clock, pair_limits(2, Rate::per_second(10).unwrap()));
    let r = route("example.org");
    limits.feedback(
        &r,
        &reply("450 4.2.1 Message was greylisted, try again in 51 seconds"),
    );
    assert!(limits.try_acquire(&r).is_ok());
    assert_eq!(limits.pair_limits(&r).0, Some(Duration::from_millis(100)));
    limits.feedback(
        &r,
        &reply("451 4.7.1 Rate limit exceeded, try again in 10 minutes"),
    );
    let wait = limits.try_acquire(&r).unwrap_err();
    assert_eq!(wait.wait_time_from(clock.now()), Duration::from_secs(600));
    // A busy server: a few seconds, not the longest busy pause (see adapt's tests).
    let busy = route("busy.example");
    limits.feedback(&busy, &reply("421 4.4.5 Server busy, try again later."));
    let wait = limits.try_acquire(&busy).unwrap_err();
    assert_eq!(wait.wait_time_from(clock.now()), Duration::from_secs(5));
}

#[test]
fn too_many_connections_lowers_the_cap_never_below_one() {
    let clock = FakeRelativeClock::default();
    // Escalation would suspend the pair after 5 signals; this test looks at the cap.
    let limits = Limits::builder_with_clock(clock.clone())
        .site_default(pair_limits(10, Rate::per_second(100).unwrap()))
        .escalation(smtp_throttle::limit::Escalation {
            pair_signals: 1000,
            ..Default::default()
        })
        .adaptive(smtp_throttle::limit::Adaptive {
            initial_sessions: None,
            ..Default::default()
        })
        .build()
        .unwrap();
    let r = route("example.org");
    let permits: Vec<_> = (0..4).map(|_| limits.try_acquire(&r).unwrap()).collect();
    let too_many = reply("421 4.7.0 mx.example.org Error: too many connections from 192.0.2.7");
    limits.feedback(&r, &too_many);
    assert_eq!(limits.pair_limits(&r).1, Some(3));
    drop(permits);
    for _ in 0..10 {
        limits.feedback(&r, &too_many);
    }
    assert_eq!(limits.pair_limits(&r).1, Some(1));
    let _one = limits.try_acquire(&r).unwrap();
    assert_eq!(
        limits.try_acquire(&r).unwrap_err().kind(),
        LimitKind::Sessions
    );
}

#[test]
fn provider_presets_apply_and_sessions_carry_their_deliveries() {
    let clock = FakeRelativeClock::default();
    let limits = Limits::builder_with_clock(clock.clone()).build().unwrap();
    let gmail = route("gmail.com");
    // Slow start: 2 of the preset's 5 at first.
    assert_eq!(limits.pair_limits(&gmail).1, Some(2));
    let mut permit = limits.try_acquire(&gmail).unwrap();
    let mut sent = 0;
    loop {
        match permit.try_message() {
            Ok(()) => sent += 1,
            Err(w) if w.kind() == LimitKind::Rate => clock.advance(Duration::from_millis(10)),
            Err(w) => {
                assert_eq!(w.kind(), LimitKind::SessionFull);
                break;
            }
        }
    }
    assert_eq!(sent, 50);
    let no_presets = Limits::builder_with_clock(clock)
        .without_presets()
        .build()
        .unwrap();
    assert_eq!(no_presets.pair_limits(&gmail).1, Some(2));
    let whole = Limits::builder_with_clock(FakeRelativeClock::default())
        .adaptive(smtp_throttle::limit::Adaptive {
            initial_sessions: None,
            ..Default::default()
        })
        .build()
        .unwrap();
    assert_eq!(whole.pair_limits(&gmail).1, Some(5));
}

#[test]
fn invalid_configuration_is_rejected() {
    assert!(matches!(Rate::per_second(0), Err(ConfigError::Zero { .. })));
    assert!(matches!(
        Rate::new(1, Duration::ZERO),
        Err(ConfigError::Zero { .. })
    ));
    assert!(matches!(
        Rate::new(1, Duration::from_secs(30 * 86_400)),
        Err(ConfigError::TooLong { .. })
    ));
    assert!(matches!(
        Rate::new(u32::MAX, Duration::from_secs(1)),
        Err(ConfigError::Zero { .. })
    ));
    assert!(matches!(
        Rate::per_second(5).unwrap().with_burst(0),
        Err(ConfigError::Zero { .. })
    ));
    let build = |site: SiteLimits| Limits::builder().site_default(site).build().map(|_| ());
    assert!(matches!(
        build(SiteLimits {
            pair: ScopeLimits::sessions(0),
            ..SiteLimits::default()
        }),
        Err(ConfigError::Zero { .. })
    ));
    assert!(matches!(
        build(SiteLimits {
            site: ScopeLimits::sessions(10_000_000),
            ..SiteLimits::default()
        }),
        Err(ConfigError::TooMany { .. })
    ));
    assert!(matches!(
        build(SiteLimits {
            deliveries_per_session: Some(0),
            ..SiteLimits::default()
        }),
        Err(ConfigError::Zero { .. })
    ));
    let adaptive = |a: Adaptive| Limits::builder().adaptive(a).build().map(|_| ());
    assert!(matches!(
        adaptive(Adaptive {
            decrease: 1.5,
            ..Adaptive::default()
        }),
        Err(ConfigError::OutOfRange { .. })
    ));
    assert!(matches!(
        adaptive(Adaptive {
            decrease: f64::NAN,
            ..Adaptive::default()
        }),
        Err(ConfigError::OutOfRange { .. })
    ));
    assert!(matches!(
        adaptive(Adaptive {
            ramp_after: 0,
            ..Adaptive::default()
        }),
        Err(ConfigError::Zero { .. })
    ));
}

#[test]
fn idle_routes_are_forgotten_and_the_cap_holds() {
    let clock = FakeRelativeClock::default();
    let limits = Limits::builder_with_clock(clock.clone())
        .max_routes(100)
        .idle_after(Duration::from_secs(600))
        .build()
        .unwrap();
    let held = limits.try_acquire(&route("held.example")).unwrap();
    for i in 0..98 {
        drop(
            limits
                .try_acquire(&route(&format!("d{i}.example")))
                .unwrap(),
        );
    }
    // 99 routes of their own; the 100th place is kept for the overflow route.
    assert_eq!(limits.len(), 99);
    // Full and nothing idle yet: new domains share the overflow route.
    for domain in ["extra.example", "more.example"] {
        let extra = route(domain);
        let p = limits.try_acquire(&extra).unwrap();
        assert_eq!(limits.len(), 100, "never more than max_routes");
        assert_eq!(
            limits.in_flight(&extra),
            0,
            "{domain} itself is not tracked"
        );
        drop(p);
    }
    // Once idle, they go; the held route stays.
    clock.advance(Duration::from_secs(600));
    assert_eq!(limits.prune_idle(), 99);
    assert_eq!(limits.len(), 1);
    assert_eq!(limits.in_flight(&route("held.example")), 1);
    drop(held);
    // A suspended route is not forgotten while the suspension runs.
    let r = route("suspended.example");
    limits.feedback(
        &r,
        &reply("421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred - 4.16.55.1 yahoo"),
    );
    clock.advance(Duration::from_secs(3600));
    limits.prune_idle();
    assert!(
        limits.try_acquire(&r).is_err(),
        "still suspended (4 h hint)"
    );
}

#[test]
fn acquire_timeout_waits_for_a_released_slot() {
    let limits = Limits::builder()
        .site_default(SiteLimits {
            pair: ScopeLimits::sessions(1),
            ..SiteLimits::default()
        })
        .build()
        .unwrap();
    let r = route("example.org");
    let first = limits.try_acquire(&r).unwrap();
    let t = limits.acquire_timeout(&r, Duration::from_millis(20));
    assert_eq!(t.unwrap_err().kind(), LimitKind::Sessions);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            drop(first);
        });
        let second = limits.acquire_timeout(&r, Duration::from_secs(10));
        assert!(second.is_ok());
    });
}

#[test]
fn persistent_throttling_escalates_into_alerts() {
    use smtp_throttle::limit::{Alert, Escalation};
    let clock = FakeRelativeClock::default();
    let seen = Arc::new(AtomicU32::new(0));
    let hook_seen = Arc::clone(&seen);
    let limits = Limits::builder_with_clock(clock.clone())
        .on_alert(move |_| {
            hook_seen.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let throttle = reply("421-4.7.28 Our system has detected an unusual rate of\n421 4.7.28 unsolicited mail originating from your IP address. - gsmtp");
    let gmail = route("gmail.com");
    // Each objection soon after the pause of the one before (a few deliveries, fewer
    // than the 20 of a ramp-up step): 7 episodes. Other sessions hearing the same
    // objection during a pause are the same episode, not counted.
    let ok = reply("250 2.0.0 OK");
    for _ in 0..7 {
        limits.feedback(&gmail, &throttle);
        limits.feedback(&gmail, &throttle);
        let pause = limits.snapshot(&gmail).and_then(|s| s.suspended_until);
        clock.advance(pause.map_or(Duration::ZERO, |until| {
            Duration::from(until) - Duration::from(clock.now())
        }));
        for _ in 0..5 {
            limits.feedback(&gmail, &ok);
        }
    }
    assert!(
        limits.drain_alerts().is_empty(),
        "7 episodes: below the threshold"
    );
    limits.feedback(&gmail, &throttle);
    let alerts = limits.drain_alerts();
    assert!(
        matches!(
            alerts.as_slice(),
            [Alert::RouteReputation { signals: 8, suspended_for, .. }] if *suspended_for == Duration::from_secs(3600)
        ),
        "{alerts:?}"
    );
    let wait = limits.try_acquire(&gmail).unwrap_err();
    assert_eq!(wait.wait_time_from(clock.now()), Duration::from_secs(3600));

    // Two more sites throttle the same IP within the hour: a source alert.
    limits.feedback(&route("yahoo.com"), &reply("421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1"));
    limits.feedback(&route("outlook.com"), &reply("451 4.7.650 The mail server [192.0.2.7] has been temporarily rate limited due to IP reputation."));
    let alerts = limits.drain_alerts();
    assert!(
        matches!(
            alerts.as_slice(),
            [Alert::SourceReputation { sites: 3, .. }]
        ),
        "{alerts:?}"
    );

    // The soft deferral hardens into a block: long suspension and an alert.
    let outlook = route("outlook.com");
    limits.feedback(&outlook, &reply("550 5.7.1 Unfortunately, messages from [192.0.2.7] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150)."));
    let alerts = limits.drain_alerts();
    assert!(
        matches!(alerts.as_slice(), [Alert::Blocked { suspended_for, .. }] if *suspended_for == Duration::from_secs(6 * 3600)),
        "{alerts:?}"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "the callback saw every alert"
    );

    // Signals further apart than the window do not add up.
    let quiet = Limits::builder_with_clock(clock.clone())
        .escalation(Escalation {
            pair_signals: 2,
            ..Escalation::default()
        })
        .build()
        .unwrap();
    let r = route("example.org");
    quiet.feedback(&r, &throttle);
    clock.advance(Duration::from_secs(3601));
    quiet.feedback(&r, &throttle);
    assert!(quiet.drain_alerts().is_empty());
    // The next episode, after that pause, within the window: the second signal.
    clock.advance(Duration::from_secs(120));
    quiet.feedback(&r, &throttle);
    assert_eq!(quiet.drain_alerts().len(), 1);
    assert!(matches!(
        Limits::builder()
            .escalation(Escalation {
                window: Duration::ZERO,
                ..Escalation::default()
            })
            .build(),
        Err(ConfigError::Zero { .. })
    ));
}

#[test]
fn warm_up_caps_a_cold_ip_day_by_day() {
    use smtp_throttle::limit::WarmUp;
    const DAY: Duration = Duration::from_secs(86_400);
    let clock = FakeRelativeClock::default();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let build = |first_send: Option<Duration>| {
        let mut b = Limits::builder_with_clock(clock.clone())
            .site_default(pair_limits(10, Rate::per_second(1000).unwrap()))
            .warm_up(WarmUp::new([3, 5]).unwrap());
        if let Some(ago) = first_send {
            b = b.first_send(ip, ago);
        }
        b.build().unwrap()
    };
    let send_all = |limits: &Limits<FakeRelativeClock>, r: &Route| {
        let mut permit = limits.try_acquire(r).unwrap();
        let mut sent = 0;
        loop {
            match permit.try_message() {
                Ok(()) => {
                    sent += 1;
                    clock.advance(Duration::from_millis(1));
                }
                Err(w) => {
                    assert_eq!(
                        (w.kind(), w.scope()),
                        (LimitKind::WarmUp, LimitScope::Source)
                    );
                    return sent;
                }
            }
            if sent > 1000 {
                return sent;
            }
        }
    };
    let limits = build(None);
    let example = route("example.org");
    assert_eq!(send_all(&limits, &example), 3, "day 1");
    assert_eq!(
        send_all(&limits, &route("other.example")),
        3,
        "each site has its own budget"
    );
    clock.advance(DAY);
    assert_eq!(send_all(&limits, &example), 5, "day 2");
    clock.advance(DAY);
    assert_eq!(send_all(&limits, &example), 1001, "warm after the schedule");

    // An IP that first sent a day ago starts on day 2.
    let limits = build(Some(DAY));
    assert_eq!(send_all(&limits, &example), 5);
    assert!(WarmUp::new([]).is_err());
    assert!(WarmUp::new([10, 0]).is_err());
    assert_eq!(WarmUp::default().volume_on(1), Some(50));
    assert_eq!(WarmUp::default().volume_on(17), None);
}

#[test]
fn relay_presets_limit_the_account() {
    use smtp_throttle::route::Site;
    let clock = FakeRelativeClock::default();
    let ses = Site::Named(Arc::from("email-smtp.us-east-1.amazonaws.com"));
    let limits = Limits::builder_with_clock(clock.clone())
        .site(ses.clone(), SiteLimits::amazon_ses_sandbox())
        .build()
        .unwrap();
    let r = route("anything.example")
        .destination()
        .clone()
        .with_site(ses);
    let r = Route::new("192.0.2.7".parse::<IpAddr>().unwrap(), r);
    let mut permit = limits.try_acquire(&r).unwrap();
    let mut sent: Vec<Duration> = Vec::new();
    // Two days, one try a second: 100 at once (at 1/s), the rest spread over the day.
    for _ in 0..2 * 86_400 {
        if permit.try_message().is_ok() {
            sent.push(clock.now().into());
        }
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(sent.iter().filter(|t| t.as_secs() < 400).count(), 100);
    for (i, start) in sent.iter().enumerate() {
        let day = sent[i..]
            .iter()
            .take_while(|t| **t < *start + Duration::from_secs(86_400))
            .count();
        assert!(day <= 200, "sandbox: {day} in 24 hours");
    }
    // 100 at once, then one every 24 h / 101: about 300 in two days.
    assert!(sent.len() >= 300, "{} in two days", sent.len());
    assert_eq!(SiteLimits::mailgun().deliveries_per_session, Some(3));
    assert!(SiteLimits::sendgrid_free().site.rate.is_some());
}

#[test]
fn the_alert_hook_runs_outside_the_limits_lock() {
    use smtp_throttle::limit::Escalation;
    // A hook that looks at the limits (as a metrics exporter might): it must not
    // deadlock, whatever features are on.
    let clock = FakeRelativeClock::default();
    let handle: Arc<std::sync::OnceLock<Limits<FakeRelativeClock>>> = Arc::default();
    let hook_handle = Arc::clone(&handle);
    let routes_seen = Arc::new(AtomicU32::new(0));
    let hook_routes = Arc::clone(&routes_seen);
    let limits = Limits::builder_with_clock(clock.clone())
        .escalation(Escalation {
            pair_signals: 1,
            ..Escalation::default()
        })
        .on_alert(move |_| {
            if let Some(limits) = hook_handle.get() {
                hook_routes.store(limits.len() as u32, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    assert!(handle.set(limits.clone()).is_ok());
    let throttle =
        reply("421 4.7.28 Gmail has detected an unusual rate of unsolicited mail. - gsmtp");
    limits.feedback(&route("gmail.com"), &throttle);
    assert_eq!(routes_seen.load(Ordering::SeqCst), 1);
}
