//! The state behind every clone of a [`Limits`](super::Limits): the clock, the tracked
//! routes and the checked settings under one lock, the fleet, and who waits for a slot.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use governor::clock::Clock;
use parking_lot::{Condvar, Mutex};

use super::alert::Alert;
use super::fleet::Fleet;
use super::settings::Settings;
use super::state::{Creation, Keys, State};
use crate::route::{Route, Site};

pub(super) struct Inner<C: Clock> {
    pub(super) clock: C,
    /// The routes and the settings (swapped by `reconfigure`).
    pub(super) state: Mutex<State<C>>,
    pub(super) released: Condvar,
    /// Async waiters for a released session slot.
    #[cfg(feature = "async")]
    pub(super) wakers: Mutex<Vec<std::task::Waker>>,
    pub(super) alerts: Mutex<VecDeque<Alert>>,
    /// Limits shared with other processes through a store.
    pub(super) fleet: Option<Fleet>,
}

impl<C: Clock + Clone> Inner<C> {
    pub(super) fn new(clock: C, settings: Settings, fleet: Option<Fleet>) -> Self {
        let mut state = State::new(Arc::new(settings));
        // Recorded first sends are "ago" before the limits were built.
        let now = clock.now();
        state.record_first_sends(now);
        Self {
            clock,
            state: Mutex::new(state),
            released: Condvar::new(),
            #[cfg(feature = "async")]
            wakers: Mutex::new(Vec::new()),
            alerts: Mutex::new(VecDeque::new()),
            fleet,
        }
    }

    /// The route's keys at `now`, creating its entries when missing.
    pub(super) fn keys(&self, state: &mut State<C>, route: &Route, now: C::Instant) -> Keys {
        self.keys_of(state, route.source(), route.site(), now)
    }

    /// The keys of the route from `ip` to `site` at `now`, creating its entries when
    /// missing; idle entries are swept first, at most every half `idle_after`.
    pub(super) fn keys_of(
        &self,
        state: &mut State<C>,
        ip: IpAddr,
        site: &Site,
        now: C::Instant,
    ) -> Keys {
        let idle_after = state.settings.idle_after;
        state.sweep_if_due(now, idle_after);
        if let Some(keys) = state.find(ip, site) {
            return keys;
        }
        // A new route: a handle on the settings of its own, since the routes are changed
        // while it is read (the lookup above, nearly every call, needs none).
        let settings = Arc::clone(&state.settings);
        let site_limits = |site: &Site| settings.site(site);
        let make = Creation {
            clock: &self.clock,
            now,
            source: &settings.source,
            site: &site_limits,
            max_routes: settings.max_routes,
            idle_after: settings.idle_after,
            overflow: &settings.overflow,
            initial_sessions: settings.adaptive.initial_sessions,
        };
        state.insert_route(&make, ip, site)
    }
}
