//! The tracked state of every source IP, site and pair, in slabs indexed through maps:
//! creating routes within the route cap, sessions in and out, and forgetting what no
//! longer binds.
//!
//! Invariants kept here: every tracked pair's source and site are tracked; every
//! tracked site has at least one pair; the pairs tracked, the overflow pair included,
//! never exceed the route cap; entries are forgotten only when nothing is in flight
//! on them, no suspension runs and no rate or warm-up budget they carry still binds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;

use super::connect::Gate;
use super::rate::Rate;
use super::settings::Settings;
use super::site::{ScopeLimits, SiteLimits};
use super::slab::{FastHash, Slab};
use super::slot::Slot;
use super::time::since;
use super::wait::LimitScope;
use crate::route::Site;

/// The warm-up day of one source IP's budget on a pair, what it used, and when that
/// day ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct WarmDay<I> {
    pub(super) ip: IpAddr,
    pub(super) day: u32,
    pub(super) used: u32,
    pub(super) ends: I,
}

/// When an IP first sent: its age `age` at the limits' instant `at`.
#[derive(Clone, Copy, Debug)]
pub(super) struct FirstSend<I> {
    pub(super) at: I,
    pub(super) age: Duration,
}

impl<I: governor::clock::Reference> FirstSend<I> {
    pub(super) fn age_at(&self, now: I) -> Duration {
        self.age.saturating_add(since(now, self.at))
    }
}

/// The last pause of one kind a pair took, and the deliveries since (see `adapt`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PauseMemory {
    /// In milliseconds; 0: none yet.
    pub(super) last_ms: u32,
    pub(super) since: u32,
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
    /// Whether `refused_rate` was met by a full `decrease` (a discovery, the capacity
    /// anywhere in the step below it) rather than the small step near it.
    pub(super) halved: bool,
    /// Sessions in flight when the receiver last said "too many connections" on a pair
    /// without a configured cap (0: never): past twice that the cap is lifted again.
    pub(super) refused_sessions: u32,
    /// Ramp-up steps held under `refused_sessions` (a capped pair probes one more
    /// after enough of them).
    pub(super) session_steps: u16,
    /// Times a session waited for a rate since the last ramp-up step: more of them
    /// than the step's deliveries, and the sessions are not what limits the pair, so
    /// the step adds none.
    pub(super) rate_waits: u16,
    /// Deliveries since the last objection: what the receiver took, the first rate of
    /// a pair configured without one (with `Memory::taken_since`).
    pub(super) taken: u16,
    /// Ramp-up steps at the plateau under the refused rate since the last objection:
    /// the longer it holds, the faster the refused rate creeps up.
    pub(super) quiet_steps: u16,
    /// What the pair learned of the receiver's timing, kept apart (allocated at the
    /// first reply fed back) so that a route never answered costs no more than its
    /// limits.
    pub(super) memory: Option<Box<super::adapt::Memory<C::Instant>>>,
    /// Warm-up budgets of the cold IPs sending on this pair: one, unless routes share
    /// the pair at the route cap.
    pub(super) warm: Vec<WarmDay<C::Instant>>,
    /// How often new connections may open, and the backoff after failed ones.
    pub(super) gate: Gate<C::Instant>,
    /// Throttling replies in the current escalation window, and when it began.
    pub(super) signals: u32,
    pub(super) signals_since: Option<C::Instant>,
    /// The last pause after a "server busy" reply without a hint, and after a rate
    /// objection without a hint.
    pub(super) busy_pause: PauseMemory,
    pub(super) rate_pause: PauseMemory,
    pub(super) source: u32,
    pub(super) site: u32,
}

impl<C: Clock + Clone> Pair<C> {
    /// A fresh pair of the source and site with these indexes, at its ceilings.
    pub(super) fn new(
        clock: &C,
        limits: &ScopeLimits,
        now: C::Instant,
        source: u32,
        site: u32,
    ) -> Self {
        Self {
            slot: Slot::new(clock, limits, now),
            ceiling: limits.rate,
            session_ceiling: limits.sessions,
            successes: 0,
            refused_rate: 0.0,
            halved: false,
            refused_sessions: 0,
            session_steps: 0,
            rate_waits: 0,
            taken: 0,
            quiet_steps: 0,
            memory: None,
            warm: Vec::new(),
            gate: Gate::new(now),
            signals: 0,
            signals_since: None,
            busy_pause: PauseMemory::default(),
            rate_pause: PauseMemory::default(),
            source,
            site,
        }
    }
}

/// A site's state: its slot, the messages its sessions may carry, its name, how many
/// pairs use it and one of them.
pub(super) struct SiteState<C: Clock> {
    pub(super) slot: Slot<C>,
    pub(super) deliveries: Option<u32>,
    pub(super) name: Site,
    pairs: u32,
    any_pair: u32,
}

/// A source IP's state, with how many pairs use it.
pub(super) struct Source<C: Clock> {
    pub(super) slot: Slot<C>,
    pub(super) ip: IpAddr,
    pairs: u32,
    /// Sites that throttled this source in the current escalation window.
    pub(super) throttled_by: Vec<u32>,
    pub(super) throttled_since: Option<C::Instant>,
}

/// The slots of one route, by index: found once per `try_acquire`, so that messages
/// and the release do not hash again. At the route cap the pair may be shared with
/// other routes (see [`State::keys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Keys {
    pub(super) source: u32,
    pub(super) site: u32,
    pub(super) pair: u32,
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
    pub(super) overflow: &'a Site,
    /// A new pair's first session cap (slow start), when below its configured cap.
    pub(super) initial_sessions: Option<u32>,
}

/// Every tracked scope, and the settings they run on.
pub(super) struct State<C: Clock> {
    /// The checked settings: under the same lock as the routes, so that a decision
    /// sees one configuration throughout and a reconfiguration moves every route at
    /// once (see `reconfigure`).
    pub(super) settings: Arc<Settings>,
    source_index: HashMap<IpAddr, u32, FastHash>,
    site_index: HashMap<Site, u32>,
    pair_index: HashMap<(u32, u32), u32, FastHash>,
    pub(super) sources: Slab<Source<C>>,
    pub(super) sites: Slab<SiteState<C>>,
    pub(super) pairs: Slab<Pair<C>>,
    /// The pair that routes share at the cap when their site is new.
    overflow_pair: Option<u32>,
    /// The last sweep for idle entries, and the last one forced by the cap.
    last_sweep: Option<C::Instant>,
    last_cap_prune: Option<C::Instant>,
    /// When each source IP first sent, for its warm-up day: kept while the limits
    /// live, also when the source's routes are forgotten (the user's own IPs, few).
    pub(super) first_sends: HashMap<IpAddr, FirstSend<C::Instant>, FastHash>,
}

impl<C: Clock + Clone> State<C> {
    pub(super) fn new(settings: Arc<Settings>) -> Self {
        Self {
            settings,
            source_index: HashMap::default(),
            site_index: HashMap::new(),
            pair_index: HashMap::default(),
            sources: Slab::new(),
            sites: Slab::new(),
            pairs: Slab::new(),
            overflow_pair: None,
            last_sweep: None,
            last_cap_prune: None,
            first_sends: HashMap::default(),
        }
    }

    /// Takes in the first sends the settings record ("ago" before `now`); an IP
    /// already known keeps the earlier of the two.
    pub(super) fn record_first_sends(&mut self, now: C::Instant) {
        let settings = Arc::clone(&self.settings);
        for (&ip, &age) in &settings.first_sends {
            let recorded = FirstSend { at: now, age };
            let known = self.first_sends.entry(ip).or_insert(recorded);
            if known.age_at(now) < age {
                *known = recorded;
            }
        }
    }

    /// The pair routes of new sites share at the route cap, once there is one.
    pub(super) fn overflow_pair(&self) -> Option<u32> {
        self.overflow_pair
    }

    /// The key of a tracked site.
    pub(super) fn site_key(&self, site: &Site) -> Option<u32> {
        self.site_index.get(site).copied()
    }

    /// The key of a tracked source IP.
    pub(super) fn source_key(&self, ip: IpAddr) -> Option<u32> {
        self.source_index.get(&ip).copied()
    }

    /// Routes (pairs, the overflow pair included) tracked.
    pub(super) fn routes(&self) -> usize {
        self.pairs.len()
    }

    /// The keys of a route that is not tracked yet (the caller swept idle entries, at
    /// most every half `idle_after`, and looked it up first), creating its entries.
    ///
    /// One of the `max_routes` is kept for the overflow pair; when the others
    /// are taken, idle ones are pruned first (at most once a second), and if none is,
    /// a route of a site already tracked shares one of that site's pairs (so the
    /// site's own limits keep applying, and the shared pair's are at least as strict
    /// as the route's own), while a route of a new site shares the overflow site and
    /// pair (default site limits). Memory stays bounded while mail still flows.
    pub(super) fn insert_route(&mut self, make: &Creation<'_, C>, ip: IpAddr, site: &Site) -> Keys {
        let now = make.now;
        let regular_cap = make.max_routes.saturating_sub(1);
        if self.regular_pairs() >= regular_cap {
            let recently = self
                .last_cap_prune
                .is_some_and(|at| since(now, at) < Duration::from_secs(1));
            if !recently {
                self.prune(now, make.idle_after);
                self.last_cap_prune = Some(now);
            }
        }
        let source = self.source_or_insert(make, ip);
        if self.regular_pairs() >= regular_cap && site != make.overflow {
            if let Some(&site_key) = self.site_index.get(site) {
                let pair = self.sites.at(site_key).any_pair;
                return Keys {
                    source,
                    site: site_key,
                    pair,
                };
            }
            if let Some(pair) = self.overflow_pair {
                let site = self.pairs.at(pair).site;
                return Keys { source, site, pair };
            }
            let keys = self.insert_pair(make, source, make.overflow);
            self.overflow_pair = Some(keys.pair);
            return keys;
        }
        self.insert_pair(make, source, site)
    }

    /// Forgets what no longer binds when the last sweep is half `idle_after` (at least
    /// a second) ago: every look at the routes sees them as a decision would.
    pub(super) fn sweep_if_due(&mut self, now: C::Instant, idle_after: Duration) {
        let every = (idle_after / 2).max(Duration::from_secs(1));
        match self.last_sweep {
            Some(at) if since(now, at) < every => {}
            Some(_) => {
                self.prune(now, idle_after);
                self.last_sweep = Some(now);
            }
            None => self.last_sweep = Some(now),
        }
    }

    fn regular_pairs(&self) -> usize {
        self.pairs.len() - usize::from(self.overflow_pair.is_some())
    }

    fn source_or_insert(&mut self, make: &Creation<'_, C>, ip: IpAddr) -> u32 {
        if let Some(&i) = self.source_index.get(&ip) {
            return i;
        }
        let i = self.sources.insert(Source {
            slot: Slot::new(make.clock, make.source, make.now),
            ip,
            pairs: 0,
            throttled_by: Vec::new(),
            throttled_since: None,
        });
        self.source_index.insert(ip, i);
        i
    }

    /// The pair of `source` and `site`, creating the site when missing; an existing
    /// pair is found, not duplicated.
    fn insert_pair(&mut self, make: &Creation<'_, C>, source: u32, site: &Site) -> Keys {
        let limits = (make.site)(site);
        let site_key = match self.site_index.get(site) {
            Some(&i) => i,
            None => {
                let i = self.sites.insert(SiteState {
                    slot: Slot::new(make.clock, &limits.site, make.now),
                    deliveries: limits.deliveries_per_session,
                    name: site.clone(),
                    pairs: 0,
                    any_pair: 0,
                });
                self.site_index.insert(site.clone(), i);
                i
            }
        };
        if let Some(&pair) = self.pair_index.get(&(source, site_key)) {
            return Keys {
                source,
                site: site_key,
                pair,
            };
        }
        let mut new = Pair::new(make.clock, &limits.pair, make.now, source, site_key);
        // Slow start: a new pair opens few sessions at first and earns the rest, one
        // per ramp-up step, as Postfix starts a destination at 5.
        if let Some(initial) = make.initial_sessions {
            new.slot.sessions = new.slot.sessions.map(|cap| cap.min(initial));
        }
        let pair = self.pairs.insert(new);
        self.pair_index.insert((source, site_key), pair);
        self.sources.at(source).pairs += 1;
        let site_state = self.sites.at(site_key);
        site_state.pairs += 1;
        site_state.any_pair = pair;
        Keys {
            source,
            site: site_key,
            pair,
        }
    }

    /// The keys of a route already tracked with a pair of its own.
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

    /// Forgets pairs that no longer bind (see [`Slot::forgettable`], and a warm-up day
    /// still running binds too) — but not the last pair of a site that still binds —
    /// then sites and sources that no pair uses and that bind no more. Returns the
    /// pairs forgotten.
    pub(super) fn prune(&mut self, now: C::Instant, idle_after: Duration) -> usize {
        let candidates: Vec<u32> = self
            .pairs
            .iter()
            .filter(|(_, pair)| {
                pair.slot.forgettable(now, idle_after)
                    && pair.warm.iter().all(|warm| warm.ends <= now)
                    && !pair.gate.backing_off(now)
            })
            .map(|(i, _)| i)
            .collect();
        let mut removed = 0;
        let mut stale_sites = Vec::new();
        for pair in candidates {
            let Some(&Pair { source, site, .. }) = self.pairs.get(pair) else {
                continue;
            };
            let site_state = self.sites.at(site);
            if site_state.pairs <= 1 && !site_state.slot.forgettable(now, idle_after) {
                continue;
            }
            site_state.pairs = site_state.pairs.saturating_sub(1);
            if site_state.any_pair == pair && site_state.pairs > 0 {
                stale_sites.push(site);
            }
            if site_state.pairs == 0 {
                let name = site_state.name.clone();
                self.site_index.remove(&name);
                self.sites.remove(site);
            }
            let source_state = self.sources.at(source);
            source_state.pairs = source_state.pairs.saturating_sub(1);
            self.pair_index.remove(&(source, site));
            self.pairs.remove(pair);
            if self.overflow_pair == Some(pair) {
                self.overflow_pair = None;
            }
            removed += 1;
        }
        if !stale_sites.is_empty() {
            let owners: Vec<(u32, u32)> = self.pairs.iter().map(|(i, p)| (i, p.site)).collect();
            for (pair, site) in owners {
                if stale_sites.contains(&site) {
                    self.sites.at(site).any_pair = pair;
                }
            }
        }
        let gone: Vec<(u32, IpAddr)> = self
            .sources
            .iter()
            .filter(|(_, s)| s.pairs == 0 && s.slot.forgettable(now, idle_after))
            .map(|(i, s)| (i, s.ip))
            .collect();
        for (source, ip) in gone {
            self.source_index.remove(&ip);
            self.sources.remove(source);
        }
        removed
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

    /// Takes one session on the route's entries.
    pub(super) fn open(&mut self, keys: Keys, now: C::Instant) {
        self.each_slot(keys, |slot, _| {
            slot.in_flight = slot.in_flight.saturating_add(1);
            slot.last_used = now;
            Ok::<(), ()>(())
        })
        .unwrap_or(());
    }

    /// Gives back one session on the route's entries.
    pub(super) fn release(&mut self, keys: Keys, now: C::Instant) {
        self.each_slot(keys, |slot, _| {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            slot.last_used = now;
            Ok::<(), ()>(())
        })
        .unwrap_or(());
    }

    /// The latest running suspension of the route's three scopes.
    pub(super) fn suspended_until(&mut self, keys: Keys, now: C::Instant) -> Option<C::Instant> {
        let mut latest = None;
        self.each_slot(keys, |slot, _| {
            latest = latest.max(slot.suspended_at(now));
            Ok::<(), ()>(())
        })
        .unwrap_or(());
        latest
    }
}
