//! `carry_pair` and the bucket's carried debt on a bare pair: no limits, no lock, a
//! fake clock.

use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};

use super::carry_pair;
use crate::limit::bucket::Bucket;
use crate::limit::rate::Rate;
use crate::limit::site::ScopeLimits;
use crate::limit::state::Pair;

fn rate(count: u32, per_secs: u64, burst: u32) -> Rate {
    Rate::new(count, Duration::from_secs(per_secs))
        .and_then(|r| r.with_burst(burst))
        .expect("a rate")
}

fn pair(clock: &FakeRelativeClock, limits: ScopeLimits) -> Pair<FakeRelativeClock> {
    Pair::new(clock, &limits, clock.now(), 0, 0)
}

/// Cells granted in a row now.
fn take_all(bucket: &Bucket<FakeRelativeClock>) -> u32 {
    let mut n = 0;
    while bucket.check().is_ok() {
        n += 1;
    }
    n
}

#[test]
fn a_rerated_bucket_owes_the_cells_spent() {
    let clock = FakeRelativeClock::default();
    // 10 cells, one a second: 4 spent, 1.5 s later 2.5 are still missing (3 owed).
    let old = Bucket::new(&clock, Duration::from_secs(1), 10, false);
    for _ in 0..4 {
        old.check().expect("within the burst");
    }
    clock.advance(Duration::from_millis(1500));
    let (new, binds) = old.rerated(&clock, clock.now(), Duration::from_secs(2), 5);
    assert_eq!(binds.as_u64(), 6_000_000_000, "3 cells at 2 s");
    assert_eq!(take_all(&new), 2, "5 less the 3 owed");
    let refused = new.check().expect_err("empty");
    assert_eq!(refused, clock.now() + Duration::from_secs(2));
}

#[test]
fn a_rerated_bucket_owes_at_most_its_burst() {
    let clock = FakeRelativeClock::default();
    let old = Bucket::new(&clock, Duration::from_millis(10), 100, false);
    assert_eq!(take_all(&old), 100);
    let (new, _) = old.rerated(&clock, clock.now(), Duration::from_secs(60), 1);
    let due = new.check().expect_err("drained");
    assert_eq!(
        due,
        clock.now() + Duration::from_secs(60),
        "one interval, not 100"
    );
}

#[test]
fn a_larger_burst_is_earned_and_a_drained_bucket_stays_drained() {
    let clock = FakeRelativeClock::default();
    let full = Bucket::new(&clock, Duration::from_secs(1), 3, false);
    let (full, binds) = full.rerated(&clock, clock.now(), Duration::from_secs(1), 7);
    assert_eq!(
        binds.as_u64(),
        4_000_000_000,
        "the 4 more cells come at the rate"
    );
    assert_eq!(take_all(&full), 3, "what was there, no more");
    let same = Bucket::new(&clock, Duration::from_secs(1), 3, false);
    let (same, binds) = same.rerated(&clock, clock.now(), Duration::from_secs(2), 3);
    assert_eq!(binds.as_u64(), 0);
    assert_eq!(take_all(&same), 3, "a full bucket stays full");
    let drained = Bucket::new(&clock, Duration::from_secs(1), 3, true);
    let (drained, _) = drained.rerated(&clock, clock.now(), Duration::from_secs(1), 3);
    assert_eq!(take_all(&drained), 0);
}

#[test]
fn the_same_limits_change_nothing() {
    let clock = FakeRelativeClock::default();
    let limits = ScopeLimits::sessions(5).with_rate(rate(60, 60, 5));
    let mut p = pair(&clock, limits);
    p.slot.sessions = Some(2);
    p.slot
        .check_rate(clock.now(), crate::limit::LimitScope::Pair)
        .expect("a cell");
    carry_pair(&clock, &mut p, &limits, Rate::ONE_PER_MINUTE, clock.now());
    assert_eq!(p.slot.sessions, Some(2));
    let bucket = p.slot.rate.as_ref().expect("a rate");
    assert_eq!(take_all(bucket), 4, "the spent cell stays spent");
}

#[test]
fn a_pair_at_its_ceiling_moves_to_the_new_one() {
    let clock = FakeRelativeClock::default();
    let mut p = pair(&clock, ScopeLimits::sessions(5).with_rate(rate(60, 60, 5)));
    let new = ScopeLimits::sessions(8).with_rate(rate(120, 60, 10));
    carry_pair(&clock, &mut p, &new, Rate::ONE_PER_MINUTE, clock.now());
    assert_eq!(p.slot.rate_spec(), Some((Duration::from_millis(500), 10)));
    assert_eq!(p.slot.sessions, Some(8));
    assert_eq!((p.ceiling, p.session_ceiling), (new.rate, Some(8)));
}

#[test]
fn an_adapted_pair_keeps_its_place_under_the_new_ceiling() {
    let clock = FakeRelativeClock::default();
    let mut p = pair(&clock, ScopeLimits::sessions(10).with_rate(rate(60, 60, 5)));
    // Adapted: 1 every 4 s, 3 sessions.
    p.slot
        .set_rate(&clock, clock.now(), Some((Duration::from_secs(4), 1)));
    p.slot.sessions = Some(3);
    p.refused_rate = 0.5;
    // A higher ceiling: the adapted values stay, the refused rate too.
    let higher = ScopeLimits::sessions(20).with_rate(rate(600, 60, 10));
    carry_pair(&clock, &mut p, &higher, Rate::ONE_PER_MINUTE, clock.now());
    assert_eq!(p.slot.rate_spec(), Some((Duration::from_secs(4), 1)));
    assert_eq!(p.slot.sessions, Some(3));
    assert_eq!(p.refused_rate, 0.5);
    // A ceiling below them: clamped to it.
    let lower = ScopeLimits::sessions(2).with_rate(rate(6, 60, 2));
    carry_pair(&clock, &mut p, &lower, Rate::ONE_PER_MINUTE, clock.now());
    assert_eq!(p.slot.rate_spec(), Some((Duration::from_secs(10), 2)));
    assert_eq!(p.slot.sessions, Some(2));
}

#[test]
fn a_ceiling_raised_past_a_refused_rate_stops_under_it() {
    let clock = FakeRelativeClock::default();
    let mut p = pair(&clock, ScopeLimits::sessions(4).with_rate(rate(60, 60, 1)));
    // At its ceiling of 1/s; the receiver refused 2/s (and 6 sessions) before.
    p.refused_rate = 2.0;
    p.refused_sessions = 6;
    let new = ScopeLimits::sessions(50).with_rate(rate(100, 1, 10));
    carry_pair(&clock, &mut p, &new, Rate::ONE_PER_MINUTE, clock.now());
    let (interval, burst) = p.slot.rate_spec().expect("a rate");
    assert!(
        (interval.as_secs_f64() - 1.0 / 1.8).abs() < 1e-6,
        "{interval:?}"
    );
    assert_eq!(burst, 1);
    assert_eq!(p.slot.sessions, Some(5), "one below the 6 refused");
}

#[test]
fn a_removed_rate_stays_where_the_receiver_refused_and_goes_otherwise() {
    let clock = FakeRelativeClock::default();
    let limits = ScopeLimits::sessions(4).with_rate(rate(60, 60, 1));
    let mut untouched = pair(&clock, limits);
    carry_pair(
        &clock,
        &mut untouched,
        &ScopeLimits::UNLIMITED,
        Rate::ONE_PER_MINUTE,
        clock.now(),
    );
    assert_eq!(untouched.slot.rate_spec(), None);
    assert_eq!(untouched.slot.sessions, None);
    let mut refused = pair(&clock, limits);
    refused
        .slot
        .set_rate(&clock, clock.now(), Some((Duration::from_secs(2), 1)));
    refused.refused_rate = 1.0;
    carry_pair(
        &clock,
        &mut refused,
        &ScopeLimits::UNLIMITED,
        Rate::ONE_PER_MINUTE,
        clock.now(),
    );
    assert_eq!(refused.slot.rate_spec(), Some((Duration::from_secs(2), 1)));
}

#[test]
fn an_adapted_rate_is_not_slower_than_a_new_floor() {
    let clock = FakeRelativeClock::default();
    let limits = ScopeLimits::sessions(4).with_rate(rate(60, 1, 1));
    let mut p = pair(&clock, limits);
    p.slot
        .set_rate(&clock, clock.now(), Some((Duration::from_secs(60), 1)));
    let floor = rate(10, 60, 1);
    carry_pair(&clock, &mut p, &limits, floor, clock.now());
    assert_eq!(p.slot.rate_spec(), Some((Duration::from_secs(6), 1)));
}
