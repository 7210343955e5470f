//! Rates and session slots shared by several sending processes through Redis
//! (feature `redis`): the building blocks of fleet-wide limits.
//!
//! - **Rates**: GCRA in one Lua script that reads the server's own clock (`TIME`), so
//!   the processes' clocks never matter. One key per limit, with the rate in the key:
//!   a changed limit starts fresh instead of inheriting a state computed for another
//!   rate.
//! - **Sessions**: leases in a sorted set scored by their expiry. A holder extends its
//!   lease while the session lives and removes it when dropped; a crashed holder's
//!   lease simply expires, so no process holds a slot past its lease.
//!
//! No Redis module is needed. Every call has the timeout you set; a failed call drops
//! the connection and the next call opens a new one, so the store reconnects by itself.
//! Errors are [`SharedError`]s, never panics: what to do when Redis is away (fall back
//! to local limits, or refuse to send) is the caller's decision.
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
use std::time::Duration;

use parking_lot::Mutex;
use redis::{Connection, Script};

use crate::error::SharedError;
use crate::limit::Rate;

/// GCRA: `KEYS[1]` holds the theoretical arrival time in µs of the server clock.
/// ARGV: interval µs, burst. Returns `{1, 0}` when allowed, `{0, wait µs}` when not.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if now < tat - tolerance then
  return {0, tat - tolerance - now}
end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1000)
return {1, 0}
";

/// Lease: `KEYS[1]` is a sorted set of holder ids scored by expiry (ms of the server
/// clock). ARGV: cap, ttl ms, id. Expired leases go first. Returns 1 when leased.
const LEASE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
return 1
";

/// Extend: pushes lease `ARGV[2]`'s expiry to now + `ARGV[1]` ms if it is still held.
const EXTEND: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not held or tonumber(held) <= now then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 1000)
return 1
";

/// The longest lease: past this a crashed holder would block a slot too long.
const MAX_LEASE: Duration = Duration::from_secs(3600);

/// Rates and session leases kept in one Redis, shared by every process that uses the
/// same server and key prefix. `Send + Sync`: one per process, shared by its threads.
pub struct RedisLimits {
    client: redis::Client,
    connection: Mutex<Option<Connection>>,
    timeout: Duration,
    prefix: String,
    gcra: Script,
    lease: Script,
    extend: Script,
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
        let client = redis::Client::open(url).map_err(|e| SharedError::Config(e.to_string()))?;
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
            gcra: Script::new(GCRA),
            lease: Script::new(LEASE),
            extend: Script::new(EXTEND),
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

    /// Charges one message to the shared rate `key`: `Ok(Ok(()))` when allowed,
    /// `Ok(Err(wait))` with the time until the next one is, by the server's clock.
    pub fn try_rate(&self, key: &str, rate: Rate) -> Result<Result<(), Duration>, SharedError> {
        let interval = rate.interval().as_micros().max(1);
        let burst = rate.burst().max(1);
        let key = format!("{}:rate:{key}:{interval}:{burst}", self.prefix);
        let (allowed, wait): (i64, i64) = self.with_connection(|c| {
            self.gcra
                .key(&key)
                .arg(interval as u64)
                .arg(burst)
                .invoke(c)
        })?;
        Ok(if allowed == 1 {
            Ok(())
        } else {
            Err(Duration::from_micros(wait.max(1).unsigned_abs()))
        })
    }

    /// Takes one of `cap` session slots of `key` for `ttl`, or `None` when all are
    /// held. Extend the lease before `ttl` runs out ([`Lease::extend`]).
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
        if ttl.is_zero() || ttl > MAX_LEASE {
            return Err(SharedError::Config(format!(
                "a lease lasts 1 ms..{} s, not {ttl:?}",
                MAX_LEASE.as_secs()
            )));
        }
        let key = format!("{}:sessions:{key}", self.prefix);
        let id = format!(
            "{}-{}",
            self.holder,
            self.leases.fetch_add(1, Ordering::Relaxed)
        );
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let leased: i64 =
            self.with_connection(|c| self.lease.key(&key).arg(cap).arg(ttl_ms).arg(&id).invoke(c))?;
        Ok((leased == 1).then(|| Lease {
            limits: self,
            key,
            id,
            ttl_ms,
        }))
    }

    /// Session slots of `key` held now (expired leases not counted).
    pub fn leases(&self, key: &str) -> Result<u64, SharedError> {
        let key = format!("{}:sessions:{key}", self.prefix);
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

/// One shared session slot. Dropping it frees the slot (best effort: if Redis is away
/// then, the lease expires on its own).
#[derive(Debug)]
pub struct Lease<'a> {
    limits: &'a RedisLimits,
    key: String,
    id: String,
    ttl_ms: u64,
}

impl Lease<'_> {
    /// Extends the lease by its time to live from now. `Ok(false)`: it had already
    /// expired and the slot may be someone else's; stop using the session.
    pub fn extend(&self) -> Result<bool, SharedError> {
        let extended: i64 = self.limits.with_connection(|c| {
            self.limits
                .extend
                .key(&self.key)
                .arg(self.ttl_ms)
                .arg(&self.id)
                .invoke(c)
        })?;
        Ok(extended == 1)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let _ = self.limits.with_connection(|c| {
            redis::cmd("ZREM")
                .arg(&self.key)
                .arg(&self.id)
                .query::<i64>(c)
        });
    }
}
