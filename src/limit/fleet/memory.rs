//! An in-memory [`Store`] for the fleet tests: the same semantics as the Redis scripts
//! (GCRA per scope and rate, leases that expire, suspensions, adapted state), on a
//! clock the test moves, and a switch that makes it fail like an unreachable server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::store::{Refusal, RefusalKind, ScopeRequest, Store, Stored};
use crate::error::SharedError;

/// The store's own time, moved by the test.
#[derive(Clone, Default)]
pub(super) struct ServerClock(Arc<Mutex<Duration>>);

impl ServerClock {
    pub(super) fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }
    fn now(&self) -> Duration {
        *self.0.lock()
    }
}

#[derive(Default)]
struct Data {
    /// Suspension ends by scope name.
    suspended: HashMap<String, Duration>,
    /// Lease expiries by scope name and holder.
    leases: HashMap<String, HashMap<String, Duration>>,
    /// GCRA theoretical arrival times by scope name and rate.
    tats: HashMap<(String, Duration, u32), Duration>,
    /// Adapted states by pair name, with their expiry.
    adapted: HashMap<String, (String, Duration)>,
}

/// Fleet-wide limits in one process's memory.
#[derive(Default)]
pub(super) struct MemoryStore {
    pub(super) clock: ServerClock,
    data: Mutex<Data>,
    pub(super) down: AtomicBool,
    holders: AtomicU64,
    pub(super) calls: AtomicU64,
}

impl MemoryStore {
    fn up(&self) -> Result<parking_lot::MutexGuard<'_, Data>, SharedError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.down.load(Ordering::Relaxed) {
            return Err(SharedError::Unavailable("connection refused".into()));
        }
        Ok(self.data.lock())
    }

    /// Writes an adapted state by hand, as another version or a person might.
    pub(super) fn put_adapted(&self, name: &str, state: &str) {
        let expiry = self.clock.now() + Duration::from_secs(3600);
        self.data
            .lock()
            .adapted
            .insert(name.to_string(), (state.to_string(), expiry));
    }

    /// The adapted state stored for `name`.
    pub(super) fn adapted(&self, name: &str) -> Option<String> {
        self.data.lock().adapted.get(name).map(|(s, _)| s.clone())
    }
}

impl Data {
    fn suspension(&self, name: &str, now: Duration) -> Option<Duration> {
        self.suspended
            .get(name)
            .and_then(|end| end.checked_sub(now))
            .filter(|left| !left.is_zero())
    }

    fn held(&mut self, name: &str, now: Duration) -> u32 {
        let leases = self.leases.entry(name.to_string()).or_default();
        leases.retain(|_, expiry| *expiry > now);
        leases.len() as u32
    }
}

impl Store for MemoryStore {
    fn holder(&self) -> String {
        format!("memory-{}", self.holders.fetch_add(1, Ordering::Relaxed))
    }

    fn open(
        &self,
        scopes: &[ScopeRequest<'_>],
        ttl: Duration,
        holder: &str,
    ) -> Result<Result<(), Refusal>, SharedError> {
        let now = self.clock.now();
        let mut data = self.up()?;
        for (scope, request) in scopes.iter().enumerate() {
            if let Some(left) = data.suspension(request.name, now) {
                let kind = RefusalKind::Suspended(left);
                return Ok(Err(Refusal { scope, kind }));
            }
        }
        for (scope, request) in scopes.iter().enumerate() {
            if request.cap > 0 && data.held(request.name, now) >= request.cap {
                let kind = RefusalKind::Sessions;
                return Ok(Err(Refusal { scope, kind }));
            }
        }
        for request in scopes.iter().filter(|r| r.cap > 0) {
            let leases = data.leases.entry(request.name.to_string()).or_default();
            leases.insert(holder.to_string(), now + ttl);
        }
        Ok(Ok(()))
    }

    fn message(
        &self,
        scopes: &[ScopeRequest<'_>],
        adapted: Option<&str>,
    ) -> Result<(Result<(), Refusal>, Option<String>), SharedError> {
        let now = self.clock.now();
        let mut data = self.up()?;
        let stored = adapted.and_then(|name| {
            data.adapted
                .get(name)
                .filter(|(_, expiry)| *expiry > now)
                .map(|(s, _)| s.clone())
        });
        for (scope, request) in scopes.iter().enumerate() {
            if let Some(left) = data.suspension(request.name, now) {
                let kind = RefusalKind::Suspended(left);
                return Ok((Err(Refusal { scope, kind }), stored));
            }
        }
        let mut next = Vec::new();
        for (scope, request) in scopes.iter().enumerate() {
            let Some((interval, burst)) = request.rate else {
                continue;
            };
            let key = (request.name.to_string(), interval, burst);
            let tat = data.tats.get(&key).copied().unwrap_or(now).max(now);
            let tolerance = interval * burst.saturating_sub(1);
            if tat > now + tolerance {
                let kind = RefusalKind::Rate(tat - tolerance - now);
                return Ok((Err(Refusal { scope, kind }), stored));
            }
            next.push((key, tat + interval));
        }
        data.tats.extend(next);
        Ok((Ok(()), stored))
    }

    fn extend(&self, names: &[&str], ttl: Duration, holder: &str) -> Result<bool, SharedError> {
        let now = self.clock.now();
        let mut data = self.up()?;
        let mut all = true;
        for name in names {
            let leases = data.leases.entry(name.to_string()).or_default();
            match leases.get_mut(holder) {
                Some(expiry) if *expiry > now => *expiry = now + ttl,
                _ => {
                    leases.remove(holder);
                    all = false;
                }
            }
        }
        Ok(all)
    }

    fn release(&self, names: &[&str], holder: &str) -> Result<(), SharedError> {
        let mut data = self.up()?;
        for name in names {
            if let Some(leases) = data.leases.get_mut(*name) {
                leases.remove(holder);
            }
        }
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Stored, SharedError> {
        let now = self.clock.now();
        let mut data = self.up()?;
        Ok(Stored {
            adapted: data
                .adapted
                .get(name)
                .filter(|(_, expiry)| *expiry > now)
                .map(|(s, _)| s.clone()),
            suspended_for: data.suspension(name, now).unwrap_or_default(),
            sessions: data.held(name, now),
        })
    }

    fn write(
        &self,
        name: &str,
        state: Option<&str>,
        ttl: Duration,
        suspend: Duration,
    ) -> Result<(), SharedError> {
        let now = self.clock.now();
        let mut data = self.up()?;
        if let Some(state) = state {
            data.adapted
                .insert(name.to_string(), (state.to_string(), now + ttl));
        }
        if !suspend.is_zero() && data.suspension(name, now).unwrap_or_default() < suspend {
            data.suspended.insert(name.to_string(), now + suspend);
        }
        Ok(())
    }
}
