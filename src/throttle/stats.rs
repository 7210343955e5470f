//! Per-route counts of what became of messages, and their snapshot.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::classify::Category;
use crate::limit::PairSnapshot;
use crate::route::Site;

/// The most routes counted separately; beyond, only the totals grow.
const MAX_COUNTED_ROUTES: usize = 100_000;

/// Delivered, deferred and bounced counts, by category.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Messages delivered.
    pub delivered: u64,
    /// Deferrals, by the reply's category.
    pub deferred: BTreeMap<Category, u64>,
    /// Bounces, by the reply's category.
    pub bounced: BTreeMap<Category, u64>,
}

impl Counts {
    /// All deferrals.
    pub fn deferred_total(&self) -> u64 {
        self.deferred.values().sum()
    }

    /// All bounces.
    pub fn bounced_total(&self) -> u64 {
        self.bounced.values().sum()
    }
}

/// One route's limits and counts at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteStats<I = std::time::SystemTime> {
    /// The pair's current limits and load, when the limits track the route.
    pub limits: Option<PairSnapshot<I>>,
    /// What became of the route's messages.
    pub counts: Counts,
    /// The shared store's health and counters, when the limits share one (feature
    /// `redis`): whether Redis answers, and how many decisions fell back.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub shared: Option<crate::shared::SharedStatus>,
}

/// What happened, for counting.
#[derive(Clone, Copy, Debug)]
pub(super) enum Event {
    Delivered,
    Deferred(Category),
    Bounced(Category),
}

#[derive(Default)]
pub(super) struct Ledger {
    routes: HashMap<(IpAddr, Site), Counts>,
    totals: Counts,
}

impl Ledger {
    pub(super) fn count(&mut self, source: IpAddr, site: &Site, event: Event) {
        apply(&mut self.totals, event);
        let key = (source, site.clone());
        if let Some(counts) = self.routes.get_mut(&key) {
            apply(counts, event);
        } else if self.routes.len() < MAX_COUNTED_ROUTES {
            apply(self.routes.entry(key).or_default(), event);
        }
    }

    pub(super) fn route(&self, source: IpAddr, site: &Site) -> Counts {
        self.routes
            .get(&(source, site.clone()))
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn totals(&self) -> Counts {
        self.totals.clone()
    }
}

fn apply(counts: &mut Counts, event: Event) {
    match event {
        Event::Delivered => counts.delivered += 1,
        Event::Deferred(category) => *counts.deferred.entry(category).or_default() += 1,
        Event::Bounced(category) => *counts.bounced.entry(category).or_default() += 1,
    }
}
