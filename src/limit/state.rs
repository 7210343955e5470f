//! The tracked state of every source IP, site and pair, in slabs indexed through maps,
//! with pruning of idle entries and a cap on how many are kept.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::config::{Rate, ScopeLimits, SiteLimits};
use super::wait::{LimitKind, LimitScope, Wait};
use crate::route::Site;

type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A rate bucket whose quota can change: governor cannot change a live limiter's quota,
/// and one rebuilt from an old state store locks its key out for as long as it lived,
/// so a changed rate swaps in a fresh limiter, drained so that it starts empty.
pub(super) struct Bucket<C: Clock> {
    limiter: Direct<C>,
    /// The interval in nanoseconds: with the burst beside it, as small as a `Duration`.
    interval_ns: u64,
    /// Read when the bucket is shared with a fleet (feature `redis`).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) burst: u32,
}

impl<C: Clock + Clone> Bucket<C> {
    pub(super) fn new(clock: &C, interval: Duration, burst: u32, drained: bool) -> Self {
        let burst = std::num::NonZeroU32::new(burst).unwrap_or(std::num::NonZeroU32::MIN);
        let cells = burst.get();
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(burst);
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        if drained {
            for _ in 0..burst.get() {
                if limiter.check().is_err() {
                    break;
                }
            }
        }
        Self {
            limiter,
            interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            burst: cells,
        }
    }

    /// Takes one cell, or says the earliest instant one is there.
    pub(super) fn check(&self) -> Result<(), C::Instant> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.earliest_possible())
    }
}

impl<C: Clock> Bucket<C> {
    /// The time between two messages at this bucket's rate.
    pub(super) fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }
}

/// One scope's state: sessions in flight, their cap, the rate, a suspension.
pub(super) struct Slot<C: Clock> {
    pub(super) in_flight: u32,
    pub(super) sessions: Option<u32>,
    pub(super) rate: Option<Bucket<C>>,
    pub(super) suspended: Option<C::Instant>,
    pub(super) last_used: C::Instant,
}

impl<C: Clock + Clone> Slot<C> {
    fn new(clock: &C, limits: &ScopeLimits, now: C::Instant) -> Self {
        Self {
            in_flight: 0,
            sessions: limits.sessions,
            rate: limits
                .rate
                .map(|rate| Bucket::new(clock, rate.interval(), rate.burst(), false)),
            suspended: None,
            last_used: now,
        }
    }

    pub(super) fn check_open(
        &mut self,
        now: C::Instant,
        scope: LimitScope,
    ) -> Result<(), Wait<C::Instant>> {
        self.check_suspended(now, scope)?;
        if self.sessions.is_some_and(|cap| self.in_flight >= cap) {
            return Err(Wait {
                until: None,
                scope,
                kind: LimitKind::Sessions,
            });
        }
        Ok(())
    }

    /// A running suspension as a `Wait`; an ended one is cleared.
    pub(super) fn check_suspended(
        &mut self,
        now: C::Instant,
        scope: LimitScope,
    ) -> Result<(), Wait<C::Instant>> {
        if let Some(until) = self.suspended {
            if until > now {
                return Err(Wait {
                    until: Some(until),
                    scope,
                    kind: LimitKind::Suspended,
                });
            }
            self.suspended = None;
        }
        Ok(())
    }

    pub(super) fn check_rate(&self, scope: LimitScope) -> Result<(), Wait<C::Instant>> {
        match &self.rate {
            Some(bucket) => bucket.check().map_err(|until| Wait {
                until: Some(until),
                scope,
                kind: LimitKind::Rate,
            }),
            None => Ok(()),
        }
    }

    pub(super) fn suspend(&mut self, until: C::Instant) {
        self.suspended = Some(self.suspended.map_or(until, |old| old.max(until)));
    }

    /// Unused since `idle_after`, nothing in flight, no suspension running.
    fn idle(&self, now: C::Instant, idle_after: Duration) -> bool {
        self.in_flight == 0
            && self.suspended.is_none_or(|until| until <= now)
            && Duration::from(now.duration_since(self.last_used)) >= idle_after
    }
}

/// A pair's state: its slot, what adaptation needs, and where its source and site are.
pub(super) struct Pair<C: Clock> {
    pub(super) slot: Slot<C>,
    pub(super) ceiling: Option<Rate>,
    pub(super) session_ceiling: Option<u32>,
    pub(super) successes: u32,
    /// Messages per second at which the receiver last said "too fast" (0: never); the
    /// ramp-up stops below it and creeps past it slowly.
    pub(super) refused_rate: f32,
    /// The warm-up day this pair's daily budget is for, and the budget.
    pub(super) warm: Option<(u32, Bucket<C>)>,
    /// Throttling replies in the current escalation window, and when it began.
    pub(super) signals: u32,
    pub(super) signals_since: Option<C::Instant>,
    pub(super) source: u32,
    pub(super) site: u32,
}

/// A site's state: its slot, the messages its sessions may carry, its name, and how
/// many pairs use it.
pub(super) struct SiteState<C: Clock> {
    pub(super) slot: Slot<C>,
    pub(super) deliveries: Option<u32>,
    pub(super) name: Site,
    pairs: u32,
}

/// A source IP's state, with how many pairs use it.
pub(super) struct Source<C: Clock> {
    pub(super) slot: Slot<C>,
    pub(super) ip: IpAddr,
    pairs: u32,
    /// When this source first sent, for its warm-up day.
    pub(super) first_send: Option<C::Instant>,
    /// Sites that throttled this source in the current escalation window.
    pub(super) throttled_by: Vec<u32>,
    pub(super) throttled_since: Option<C::Instant>,
}

/// A vector with holes that are reused: stable indexes for permits to keep.
pub(super) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(index) => {
                self.items[index as usize] = Some(item);
                index
            }
            None => {
                self.items.push(Some(item));
                // Bounded by the route cap, far below u32::MAX.
                (self.items.len() - 1) as u32
            }
        }
    }

    fn remove(&mut self, index: u32) {
        if let Some(slot) = self.items.get_mut(index as usize) {
            if slot.take().is_some() {
                self.free.push(index);
            }
        }
    }

    fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }

    /// The item at `index`; indexes handed out by `insert` and not removed are valid.
    pub(super) fn at(&mut self, index: u32) -> &mut T {
        match self.items.get_mut(index as usize).and_then(Option::as_mut) {
            Some(item) => item,
            None => unreachable!("slab index {index} is live while a key holds it"),
        }
    }

    pub(super) fn get(&self, index: u32) -> Option<&T> {
        self.items.get(index as usize).and_then(Option::as_ref)
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| item.as_ref().map(|item| (i as u32, item)))
    }
}

/// The slots of one route, by index: found once per `try_acquire`, so that messages
/// and the release do not hash again.
#[derive(Clone, Copy, Debug)]
pub(super) struct Keys {
    pub(super) source: u32,
    pub(super) site: u32,
    pub(super) pair: u32,
}

/// A fast hash for keys nobody outside chooses (the user's own sending IPs, slab
/// indexes); site names, which come from recipients, keep the standard DoS-resistant
/// hasher.
#[derive(Clone, Copy, Default)]
pub(super) struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

/// Multiply-rotate mixing (the FxHash step).
pub(super) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// How routes are created: the limits that apply and the bounds on memory.
pub(super) struct Creation<'a, C: Clock> {
    pub(super) clock: &'a C,
    /// The time of the decision, read once by the caller.
    pub(super) now: C::Instant,
    pub(super) source: &'a ScopeLimits,
    pub(super) site: &'a dyn Fn(&Site) -> SiteLimits,
    pub(super) max_routes: usize,
    pub(super) idle_after: Duration,
    pub(super) first_sends: &'a HashMap<IpAddr, Duration>,
}

/// Every tracked scope.
pub(super) struct State<C: Clock> {
    source_index: HashMap<IpAddr, u32, FastHash>,
    site_index: HashMap<Site, u32>,
    pair_index: HashMap<(u32, u32), u32, FastHash>,
    pub(super) sources: Slab<Source<C>>,
    pub(super) sites: Slab<SiteState<C>>,
    pub(super) pairs: Slab<Pair<C>>,
    last_prune: Option<C::Instant>,
}

impl<C: Clock + Clone> State<C> {
    pub(super) fn new() -> Self {
        Self {
            source_index: HashMap::default(),
            site_index: HashMap::new(),
            pair_index: HashMap::default(),
            sources: Slab::new(),
            sites: Slab::new(),
            pairs: Slab::new(),
            last_prune: None,
        }
    }

    /// Routes (pairs) tracked.
    pub(super) fn routes(&self) -> usize {
        self.pairs.len()
    }

    /// The route's keys, creating its entries when missing. When `max_routes` are
    /// tracked, idle ones are pruned first (at most once a second); if none is idle,
    /// the route shares the `overflow` site's entries, so memory stays bounded while
    /// mail still flows, under the overflow site's limits.
    pub(super) fn keys(
        &mut self,
        make: &Creation<'_, C>,
        ip: IpAddr,
        site: &Site,
        overflow: &Site,
    ) -> Keys {
        let now = make.now;
        let source = match self.source_index.get(&ip) {
            Some(&i) => i,
            None => {
                let i = self.sources.insert(Source {
                    slot: Slot::new(make.clock, make.source, now),
                    ip,
                    pairs: 0,
                    first_send: make
                        .first_sends
                        .get(&ip)
                        .map(|ago| now.saturating_sub(Nanos::from(*ago))),
                    throttled_by: Vec::new(),
                    throttled_since: None,
                });
                self.source_index.insert(ip, i);
                i
            }
        };
        let known_site = self.site_index.get(site).copied();
        if let Some(site_key) = known_site {
            if let Some(&pair) = self.pair_index.get(&(source, site_key)) {
                return Keys {
                    source,
                    site: site_key,
                    pair,
                };
            }
        }
        if self.pairs.len() >= make.max_routes {
            let recently = self
                .last_prune
                .is_some_and(|at| Duration::from(now.duration_since(at)) < Duration::from_secs(1));
            if !recently {
                self.prune(now, make.idle_after);
                self.last_prune = Some(now);
            }
            if self.pairs.len() >= make.max_routes && site != overflow {
                return self.keys(make, ip, overflow, overflow);
            }
        }
        let site_key = match self.site_index.get(site) {
            Some(&i) => i,
            None => {
                let limits = (make.site)(site);
                let i = self.sites.insert(SiteState {
                    slot: Slot::new(make.clock, &limits.site, now),
                    deliveries: limits.deliveries_per_session,
                    name: site.clone(),
                    pairs: 0,
                });
                self.site_index.insert(site.clone(), i);
                i
            }
        };
        let limits = (make.site)(site);
        let pair = self.pairs.insert(Pair {
            slot: Slot::new(make.clock, &limits.pair, now),
            ceiling: limits.pair.rate,
            session_ceiling: limits.pair.sessions,
            successes: 0,
            refused_rate: 0.0,
            warm: None,
            signals: 0,
            signals_since: None,
            source,
            site: site_key,
        });
        self.pair_index.insert((source, site_key), pair);
        self.sources.at(source).pairs += 1;
        self.sites.at(site_key).pairs += 1;
        Keys {
            source,
            site: site_key,
            pair,
        }
    }

    /// The keys of a route already tracked.
    pub(super) fn find(&self, ip: IpAddr, site: &Site) -> Option<Keys> {
        let source = *self.source_index.get(&ip)?;
        let site_key = *self.site_index.get(site)?;
        let pair = *self.pair_index.get(&(source, site_key))?;
        Some(Keys {
            source,
            site: site_key,
            pair,
        })
    }

    /// Marks the route's entries used at `now`.
    pub(super) fn touch(&mut self, keys: Keys, now: C::Instant) {
        self.sources.at(keys.source).slot.last_used = now;
        self.sites.at(keys.site).slot.last_used = now;
        self.pairs.at(keys.pair).slot.last_used = now;
    }

    /// Drops pairs idle for `idle_after` (nothing in flight, no running suspension),
    /// then sites and sources no pair uses any more. Returns the pairs dropped.
    pub(super) fn prune(&mut self, now: C::Instant, idle_after: Duration) -> usize {
        let idle: Vec<(u32, u32, u32)> = self
            .pairs
            .iter()
            .filter(|(_, pair)| pair.slot.idle(now, idle_after))
            .map(|(i, pair)| (i, pair.source, pair.site))
            .collect();
        for &(pair, source, site) in &idle {
            self.pair_index.remove(&(source, site));
            self.pairs.remove(pair);
            let remaining = {
                let s = self.sources.at(source);
                s.pairs -= 1;
                (s.pairs, s.slot.in_flight, s.ip)
            };
            if remaining.0 == 0 && remaining.1 == 0 {
                self.source_index.remove(&remaining.2);
                self.sources.remove(source);
            }
            let remaining = {
                let s = self.sites.at(site);
                s.pairs -= 1;
                (s.pairs, s.slot.in_flight)
            };
            if remaining.0 == 0 && remaining.1 == 0 {
                if let Some(name) = self.sites.get(site).map(|s| s.name.clone()) {
                    self.site_index.remove(&name);
                }
                self.sites.remove(site);
            }
        }
        idle.len()
    }
}

impl<C: Clock> State<C> {
    /// Runs `check` on the pair's, the site's and the source's slot, in that order,
    /// stopping at the first refusal.
    pub(super) fn each_slot<E>(
        &mut self,
        keys: Keys,
        mut check: impl FnMut(&mut Slot<C>, LimitScope) -> Result<(), E>,
    ) -> Result<(), E> {
        check(&mut self.pairs.at(keys.pair).slot, LimitScope::Pair)?;
        check(&mut self.sites.at(keys.site).slot, LimitScope::Site)?;
        check(&mut self.sources.at(keys.source).slot, LimitScope::Source)
    }

    /// Gives back one session on the route's entries.
    pub(super) fn release(&mut self, keys: Keys, now: C::Instant) {
        for slot in [
            &mut self.pairs.at(keys.pair).slot,
            &mut self.sites.at(keys.site).slot,
            &mut self.sources.at(keys.source).slot,
        ] {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            slot.last_used = now;
        }
    }
}

/// `now + wait` on the clock's own instants.
pub(super) fn later<I: Reference>(now: I, wait: Duration) -> I {
    now + Nanos::from(wait)
}
