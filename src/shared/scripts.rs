//! The Lua scripts and the multi-scope calls built on them. Each call is one script,
//! so a decision over a route's pair, site and source is atomic on the server: either
//! every scope admits the message (and is charged) or none is.

use std::time::Duration;

use redis::Script;

use super::{RedisLimits, SharedError};
use crate::limit::{Refusal, RefusalKind, ScopeRequest, Store, Stored};

/// Open: KEYS = (suspension, sessions) per scope. ARGV = n, ttl ms, holder id, cap per
/// scope (0: no cap). Refuses on a running suspension or a full scope; otherwise adds
/// the holder to every capped scope. Returns `{allowed, scope, kind, wait µs}`.
const OPEN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
for i = 1, n do
  local left = redis.call('PTTL', KEYS[2 * i - 1])
  if left > 0 then return {0, i, 1, left * 1000} end
end
for i = 1, n do
  local cap = tonumber(ARGV[3 + i])
  if cap > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', now)
    if redis.call('ZCARD', KEYS[2 * i]) >= cap then return {0, i, 2, 0} end
  end
end
for i = 1, n do
  if tonumber(ARGV[3 + i]) > 0 then
    redis.call('ZADD', KEYS[2 * i], now + ttl, ARGV[3])
    if redis.call('PTTL', KEYS[2 * i]) < ttl + 1000 then
      redis.call('PEXPIRE', KEYS[2 * i], ttl + 1000)
    end
  end
end
return {1, 0, 0, 0}
";

/// Message: KEYS = (suspension, rate) per scope, then optionally the pair's adapted
/// state. ARGV = n, then interval µs (0: no rate) and burst per scope. GCRA on the
/// server's clock: checks every scope first, then charges them all. Returns
/// `{allowed, scope, kind, wait µs, adapted state or ''}`.
const MESSAGE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local adapted = ''
if #KEYS > 2 * n then adapted = redis.call('GET', KEYS[2 * n + 1]) or '' end
for i = 1, n do
  local left = redis.call('PTTL', KEYS[2 * i - 1])
  if left > 0 then return {0, i, 1, left * 1000, adapted} end
end
local next = {}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  if interval > 0 then
    local tolerance = interval * (tonumber(ARGV[2 * i + 1]) - 1)
    local tat = tonumber(redis.call('GET', KEYS[2 * i]) or now)
    if tat < now then tat = now end
    if now < tat - tolerance then return {0, i, 3, tat - tolerance - now, adapted} end
    next[i] = tat + interval
  end
end
for i = 1, n do
  if next[i] then
    redis.call('SET', KEYS[2 * i], string.format('%.0f', next[i]),
      'PX', math.ceil((next[i] - now) / 1000) + 1000)
  end
end
return {1, 0, 0, 0, adapted}
";

/// Extend: KEYS = sessions sets. ARGV = ttl ms, holder id. Pushes the holder's expiry
/// in each set to now + ttl; returns 0 when any lease had already expired (it is
/// removed there: the slot may be someone else's now).
const EXTEND: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local all = 1
for i = 1, #KEYS do
  local held = redis.call('ZSCORE', KEYS[i], ARGV[2])
  if not held or tonumber(held) <= now then
    redis.call('ZREM', KEYS[i], ARGV[2])
    all = 0
  else
    redis.call('ZADD', KEYS[i], 'XX', now + ttl, ARGV[2])
    if redis.call('PTTL', KEYS[i]) < ttl + 1000 then
      redis.call('PEXPIRE', KEYS[i], ttl + 1000)
    end
  end
end
return all
";

/// Write: KEYS = adapted state, suspension. ARGV = state ('' keeps it), its ttl ms,
/// suspension ms (0: none). A longer running suspension is kept.
const WRITE: &str = r"
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2])) end
local ms = tonumber(ARGV[3])
if ms > 0 and redis.call('PTTL', KEYS[2]) < ms then
  redis.call('SET', KEYS[2], '1', 'PX', ms)
end
return 1
";

/// The scripts, loaded once per store (redis-rs sends EVALSHA, and the source again
/// when the server does not know it, e.g. after a restart).
pub(super) struct Scripts {
    open: Script,
    message: Script,
    extend: Script,
    write: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            open: Script::new(OPEN),
            message: Script::new(MESSAGE),
            extend: Script::new(EXTEND),
            write: Script::new(WRITE),
        }
    }
}

/// The longest wait taken from the store: whatever a key holds (another version's
/// data, a hand-made value), a wait past this is asked again then, and instants stay
/// far from overflowing.
const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A wait in µs as the store gave it, within 1 µs..[`MAX_WAIT`].
fn wait_from(us: i64) -> Duration {
    Duration::from_micros(us.max(1).unsigned_abs()).min(MAX_WAIT)
}

/// The script's `{allowed, scope, kind, wait µs}` as a decision.
fn decision(allowed: i64, scope: i64, kind: i64, wait_us: i64) -> Result<(), Refusal> {
    if allowed == 1 {
        return Ok(());
    }
    let wait = wait_from(wait_us);
    let kind = match kind {
        1 => RefusalKind::Suspended(wait),
        2 => RefusalKind::Sessions,
        _ => RefusalKind::Rate(wait),
    };
    Err(Refusal {
        scope: usize::try_from(scope.max(1) - 1).unwrap_or(0),
        kind,
    })
}

impl RedisLimits {
    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}:{kind}:{name}", self.prefix)
    }

    /// The sessions set of a scope (also what [`RedisLimits::try_lease`] uses).
    pub(crate) fn sessions_key(&self, name: &str) -> String {
        self.key("sessions", name)
    }
}

/// Each call is one script or pipeline on the server, on its clock (`TIME`).
impl Store for RedisLimits {
    fn holder(&self) -> String {
        self.lease_holder()
    }

    /// Takes a session lease on every capped scope, all or none, unless one of them
    /// is suspended.
    fn open(
        &self,
        scopes: &[ScopeRequest<'_>],
        ttl: Duration,
        holder: &str,
    ) -> Result<Result<(), Refusal>, SharedError> {
        let mut call = self.scripts.open.prepare_invoke();
        for scope in scopes {
            call.key(self.key("suspended", scope.name))
                .key(self.sessions_key(scope.name));
        }
        call.arg(scopes.len())
            .arg(ttl.as_millis().max(1) as u64)
            .arg(holder);
        for scope in scopes {
            call.arg(scope.cap);
        }
        let (allowed, scope, kind, wait): (i64, i64, i64, i64) =
            self.with_connection(|c| call.invoke(c))?;
        Ok(decision(allowed, scope, kind, wait))
    }

    /// Charges one message to every rated scope, all or none, unless one of them is
    /// suspended; also returns the adapted state stored under `adapted` (if given).
    fn message(
        &self,
        scopes: &[ScopeRequest<'_>],
        adapted: Option<&str>,
    ) -> Result<(Result<(), Refusal>, Option<String>), SharedError> {
        let mut call = self.scripts.message.prepare_invoke();
        for scope in scopes {
            let rate = scope.rate.map_or(String::new(), |(interval, burst)| {
                format!("{}:{}", interval.as_micros().max(1), burst.max(1))
            });
            call.key(self.key("suspended", scope.name))
                .key(self.key("rate", &format!("{}:{rate}", scope.name)));
        }
        if let Some(name) = adapted {
            call.key(self.key("adapted", name));
        }
        call.arg(scopes.len());
        for scope in scopes {
            match scope.rate {
                Some((interval, burst)) => call
                    .arg(interval.as_micros().max(1) as u64)
                    .arg(burst.max(1)),
                None => call.arg(0).arg(0),
            };
        }
        let (allowed, scope, kind, wait, state): (i64, i64, i64, i64, String) =
            self.with_connection(|c| call.invoke(c))?;
        let state = (!state.is_empty()).then_some(state);
        Ok((decision(allowed, scope, kind, wait), state))
    }

    /// Extends `holder`'s leases on the given scopes; `Ok(false)` when one had expired.
    fn extend(&self, names: &[&str], ttl: Duration, holder: &str) -> Result<bool, SharedError> {
        let mut call = self.scripts.extend.prepare_invoke();
        for name in names {
            call.key(self.sessions_key(name));
        }
        call.arg(ttl.as_millis().max(1) as u64).arg(holder);
        let all: i64 = self.with_connection(|c| call.invoke(c))?;
        Ok(all == 1)
    }

    /// Gives `holder`'s leases on the given scopes back.
    fn release(&self, names: &[&str], holder: &str) -> Result<(), SharedError> {
        let mut pipe = redis::pipe();
        for name in names {
            pipe.cmd("ZREM")
                .arg(self.sessions_key(name))
                .arg(holder)
                .ignore();
        }
        self.with_connection(|c| pipe.exec(c))
    }

    /// What is stored for `name`: its adapted state, how long its suspension runs yet,
    /// and the session leases on it (expired ones not yet swept included).
    fn read(&self, name: &str) -> Result<Stored, SharedError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(self.key("adapted", name))
            .cmd("PTTL")
            .arg(self.key("suspended", name))
            .cmd("ZCARD")
            .arg(self.sessions_key(name));
        let (adapted, left, sessions): (Option<String>, i64, u64) =
            self.with_connection(|c| pipe.query(c))?;
        Ok(Stored {
            adapted,
            suspended_for: if left > 0 {
                wait_from(left.saturating_mul(1000))
            } else {
                Duration::ZERO
            },
            sessions: u32::try_from(sessions).unwrap_or(u32::MAX),
        })
    }

    /// Stores the adapted state of `name` for `ttl` (when given) and suspends it for
    /// `suspend` (when not zero; a longer running suspension is kept).
    fn write(
        &self,
        name: &str,
        state: Option<&str>,
        ttl: Duration,
        suspend: Duration,
    ) -> Result<(), SharedError> {
        let mut call = self.scripts.write.prepare_invoke();
        call.key(self.key("adapted", name))
            .key(self.key("suspended", name))
            .arg(state.unwrap_or(""))
            .arg(ttl.as_millis().max(1) as u64)
            .arg(suspend.as_millis() as u64);
        let _: i64 = self.with_connection(|c| call.invoke(c))?;
        Ok(())
    }
}
