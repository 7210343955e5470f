//! Limits shared by several sending processes through Redis (feature `redis`).
//!
//! Most users hand a [`RedisLimits`] to [`LimitsBuilder::shared`]: then every
//! [`Limits`] (and [`Throttle`](crate::throttle::Throttle)) on the same server and key
//! prefix keeps one fleet-wide account per pair, site and source IP:
//!
//! - **Rates**: GCRA in one Lua script that reads the server's own clock (`TIME`), so
//!   the processes' clocks never matter. One key per limit, with the rate in the key:
//!   a changed limit starts fresh instead of inheriting a state computed for another
//!   rate. A message is checked against the pair's, site's and source's rates and
//!   charged to all three in one script, or to none.
//! - **Sessions**: leases in a sorted set scored by their expiry. A session extends
//!   its leases while it sends and removes them when dropped; a crashed holder's lease
//!   simply expires, so no process holds a slot past its lease.
//! - **Adaptation**: the pair's adapted rate, session cap and suspensions are stored
//!   too. The process that hears a receiver's 421 slows the pair for the whole fleet;
//!   the others follow with their next message, and an objection several of them
//!   hear at once slows the pair once.
//!
//! No Redis module is needed. Every call has the timeout you set; a failed call drops
//! the connection and a later call opens a new one, so the store reconnects by itself.
//! While Redis is unreachable or slow, limits go on under their local limits or refuse
//! to send ([`Fallback`]); [`Limits::shared_status`] and the throttle's
//! [`RouteStats`](crate::throttle::RouteStats) say which, and since when.
//!
//! [`LimitsBuilder::shared`]: crate::limit::LimitsBuilder::shared
//! [`Limits`]: crate::limit::Limits
//! [`Limits::shared_status`]: crate::limit::Limits::shared_status
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use smtp_throttle::limit::Limits;
//! use smtp_throttle::shared::{Fallback, RedisLimits};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisLimits::new("redis://127.0.0.1:6379/", Duration::from_millis(50))?
//!     .with_prefix("mta-eu");
//! let limits = Limits::builder()
//!     .shared(Arc::new(store))
//!     .shared_fallback(Fallback::Local) // the default: keep sending when Redis is away
//!     .build()?;
//! # let _ = limits;
//! # Ok(()) }
//! ```
//!
//! The store's own calls serve code of yours that wants a shared rate or session cap
//! outside [`Limits`]:
//!
//! ```no_run
//! use std::time::Duration;
//! use smtp_throttle::limit::Rate;
//! use smtp_throttle::shared::RedisLimits;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let shared = RedisLimits::new("redis://127.0.0.1:6379/", Duration::from_millis(50))?;
//! // 300 a minute from 192.0.2.10 to Gmail, whichever machine sends.
//! match shared.try_rate("192.0.2.10|google", Rate::per_minute(300)?)? {
//!     Ok(()) => { /* send one message */ }
//!     Err(wait) => println!("next one in {wait:?}"),
//! }
//! // One of 5 sessions, leased for 30 s and extended while it lives.
//! if let Some(lease) = shared.try_lease("192.0.2.10|google", 5, Duration::from_secs(30))? {
//!     lease.extend()?;
//! } // dropped: the slot is free again
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redis::Connection;

use governor::clock::Clock;

use crate::error::{Cause, SharedError};
use crate::limit::{LimitsBuilder, Rate, RefusalKind, ScopeRequest, Store};

mod scripts;

pub use crate::limit::{Fallback, SharedStatus};
use scripts::Scripts;

impl<C: Clock + Clone> LimitsBuilder<C> {
    /// Shares the limits with every process that uses the same Redis and key prefix
    /// ([`RedisLimits`]): each session also takes a lease on the pair's, site's and
    /// source's session caps, each message is also charged to their rates, fleet-wide;
    /// the pair's adapted rate, session cap and suspensions are the fleet's. Local
    /// limits keep applying on top. While Redis is away, see
    /// [`shared_fallback`](LimitsBuilder::shared_fallback).
    ///
    /// The clock of shared limits is the Redis server's: give the limits a real clock
    /// (the default), not a fake one, when they share a store.
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[must_use]
    pub fn shared(self, store: Arc<RedisLimits>) -> Self {
        self.store(store)
    }
}

/// The longest lease: past this a crashed holder would block a slot too long.
const MAX_LEASE: Duration = Duration::from_secs(3600);

/// Rates and session leases kept in one Redis, shared by every process that uses the
/// same server and key prefix. `Send + Sync`: one per process, shared by its threads,
/// which take turns on its one connection (a round trip each, about 0.1 ms on
/// loopback); a process with many busy threads can give groups of them a store each.
pub struct RedisLimits {
    client: redis::Client,
    connection: Mutex<Option<Connection>>,
    timeout: Duration,
    prefix: String,
    scripts: Scripts,
    holder: String,
    leases: AtomicU64,
}

impl std::fmt::Debug for RedisLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimits")
            .field("server", &self.client.get_connection_info().addr)
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisLimits {
    /// A store on the Redis at `url` (`redis://host:port/db`), every call bounded by
    /// `timeout`. Connects on first use; a bad URL or a zero timeout is an error now.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, SharedError> {
        if timeout.is_zero() {
            return Err(SharedError::Config("the timeout must be above zero".into()));
        }
        let client = redis::Client::open(url).map_err(|e| SharedError::Config(Cause::new(e)))?;
        let holder = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        Ok(Self {
            client,
            connection: Mutex::new(None),
            timeout,
            prefix: "smtp-throttle".into(),
            scripts: Scripts::new(),
            holder,
            leases: AtomicU64::new(0),
        })
    }

    /// Puts every key under `prefix` (default `smtp-throttle`), to keep separate fleets
    /// or tests apart on one server.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Runs `call` on the connection, opening one first if needed; any error drops the
    /// connection so that the next call reconnects.
    fn with_connection<T>(
        &self,
        call: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, SharedError> {
        let mut slot = self.connection.lock();
        if slot.is_none() {
            let connection = self
                .client
                .get_connection_with_timeout(self.timeout)
                .map_err(SharedError::from_redis)?;
            connection
                .set_read_timeout(Some(self.timeout))
                .and_then(|()| connection.set_write_timeout(Some(self.timeout)))
                .map_err(SharedError::from_redis)?;
            let mut connection = connection;
            // Named after the prefix, so CLIENT LIST shows which fleet a connection is.
            let name: String = self
                .prefix
                .chars()
                .map(|c| if c.is_ascii_graphic() { c } else { '_' })
                .collect();
            redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .exec(&mut connection)
                .map_err(SharedError::from_redis)?;
            *slot = Some(connection);
        }
        let Some(connection) = slot.as_mut() else {
            return Err(SharedError::Unavailable("no connection".into()));
        };
        call(connection).map_err(|e| {
            *slot = None;
            SharedError::from_redis(e)
        })
    }

    /// A holder id unique to this store: this process and one more number.
    fn lease_holder(&self) -> String {
        format!(
            "{}-{}",
            self.holder,
            self.leases.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Charges one message to the shared rate `key`: `Ok(Ok(()))` when allowed,
    /// `Ok(Err(wait))` with the time until the next one is, by the server's clock.
    /// [`Limits`](crate::limit::Limits) with a shared store uses the same keys, named
    /// `pair:{ip}|{site}`, `site:{site}` and `source:{ip}`.
    pub fn try_rate(&self, key: &str, rate: Rate) -> Result<Result<(), Duration>, SharedError> {
        let scope = ScopeRequest {
            name: key,
            cap: 0,
            rate: Some((rate.interval(), rate.burst())),
        };
        let (decision, _) = self.message(&[scope], None)?;
        Ok(decision.map_err(|refusal| match refusal.kind {
            RefusalKind::Rate(wait) | RefusalKind::Suspended(wait) => wait,
            RefusalKind::Sessions => Duration::ZERO,
        }))
    }

    /// Takes one of `cap` session slots of `key` for `ttl`, or `None` when all are
    /// held (or `key` is suspended). Extend the lease before `ttl` runs out
    /// ([`Lease::extend`]).
    pub fn try_lease(
        &self,
        key: &str,
        cap: u32,
        ttl: Duration,
    ) -> Result<Option<Lease<'_>>, SharedError> {
        if cap == 0 {
            return Err(SharedError::Config(
                "a session cap of 0 admits nobody".into(),
            ));
        }
        check_lease(ttl)?;
        let id = self.lease_holder();
        let scope = ScopeRequest {
            name: key,
            cap,
            rate: None,
        };
        let leased = self.open(&[scope], ttl, &id)?.is_ok();
        Ok(leased.then(|| Lease {
            limits: self,
            key: key.to_string(),
            id,
            ttl,
        }))
    }

    /// Session slots of `key` held now (expired leases not counted).
    pub fn leases(&self, key: &str) -> Result<u64, SharedError> {
        let key = self.sessions_key(key);
        self.with_connection(|c| {
            let (seconds, micros): (u64, u64) = redis::cmd("TIME").query(c)?;
            let now = seconds * 1000 + micros / 1000;
            redis::cmd("ZCOUNT")
                .arg(&key)
                .arg(format!("({now}"))
                .arg("+inf")
                .query(c)
        })
    }
}

/// A lease time the store accepts: 1 ms up to [`MAX_LEASE`].
pub(crate) fn check_lease(ttl: Duration) -> Result<(), SharedError> {
    if ttl.is_zero() || ttl > MAX_LEASE {
        return Err(SharedError::Config(
            format!("a lease lasts 1 ms..{} s, not {ttl:?}", MAX_LEASE.as_secs()).into(),
        ));
    }
    Ok(())
}

/// One shared session slot. Dropping it frees the slot (best effort: if Redis is away
/// then, the lease expires on its own).
#[derive(Debug)]
pub struct Lease<'a> {
    limits: &'a RedisLimits,
    key: String,
    id: String,
    ttl: Duration,
}

impl Lease<'_> {
    /// Extends the lease by its time to live from now. `Ok(false)`: it had already
    /// expired and the slot may be someone else's; stop using the session.
    pub fn extend(&self) -> Result<bool, SharedError> {
        self.limits.extend(&[&self.key], self.ttl, &self.id)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let _ = self.limits.release(&[&self.key], &self.id);
    }
}
