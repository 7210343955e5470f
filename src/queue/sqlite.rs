//! [`SqliteQueue`]: messages, their retry state and the learned limits in one SQLite
//! file, leased to workers.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::QueueError;
use crate::classify::Category;
use crate::limit::Learned;
use crate::retry::{GiveUpReason, History, HistoryParts};
use crate::route::{Destination, Route, Site};
use crate::throttle::Outcome;
use crate::Mail;

/// The longest message id.
const MAX_ID: usize = 255;
/// How long a writer waits for another's lock before the call fails.
const BUSY: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL,
    domain TEXT NOT NULL,
    mx TEXT,
    site TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt TEXT NOT NULL,
    body BLOB NOT NULL,
    -- 0 queued, 1 delivered, 2 bounced, 3 expired, 4 quarantined (unreadable)
    state INTEGER NOT NULL DEFAULT 0,
    -- next try (or end of the lease), nanoseconds since the Unix epoch
    due INTEGER NOT NULL,
    retry INTEGER NOT NULL DEFAULT 0,
    lease_token INTEGER,
    enqueued INTEGER NOT NULL,
    first_attempt INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    backoff_steps INTEGER NOT NULL DEFAULT 0,
    greylisted INTEGER NOT NULL DEFAULT 0,
    last_wait INTEGER,
    last_category TEXT,
    suspended INTEGER NOT NULL DEFAULT 0,
    sends INTEGER NOT NULL DEFAULT 0,
    finished INTEGER,
    last_rule TEXT,
    last_reason TEXT
);
CREATE INDEX IF NOT EXISTS ready ON messages (retry DESC, due) WHERE state = 0;
CREATE INDEX IF NOT EXISTS ready_route ON messages (source, domain, retry DESC, due)
    WHERE state = 0;
CREATE TABLE IF NOT EXISTS learned (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL,
    saved INTEGER NOT NULL
);
";

/// Where a message stands in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageState {
    /// Waiting for its next try, or leased to a worker.
    Queued,
    /// The server accepted it.
    Delivered,
    /// It will not be delivered (a final reply, or the attempts ran out).
    Bounced,
    /// It reached the retry policy's maximum age.
    Expired,
    /// Its row could not be read back; set aside, never sent.
    Quarantined,
}

impl MessageState {
    fn of(code: i64) -> Option<Self> {
        Some(match code {
            0 => MessageState::Queued,
            1 => MessageState::Delivered,
            2 => MessageState::Bounced,
            3 => MessageState::Expired,
            4 => MessageState::Quarantined,
            _ => return None,
        })
    }
}

/// How many messages are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueCounts {
    /// Waiting for their next try (leased ones included).
    pub queued: u64,
    /// Of the queued, leased to a worker now.
    pub leased: u64,
    /// Delivered.
    pub delivered: u64,
    /// Bounced.
    pub bounced: u64,
    /// Expired at the maximum age.
    pub expired: u64,
    /// Unreadable rows, set aside.
    pub quarantined: u64,
}

impl QueueCounts {
    /// Messages that ended (delivered, bounced, expired).
    pub fn finished(&self) -> u64 {
        self.delivered + self.bounced + self.expired
    }
}

/// A message leased to one worker until its visibility timeout: send it, then
/// [`record`](SqliteQueue::record) what became of it.
#[derive(Debug)]
pub struct Leased {
    id: String,
    route: Route,
    mail: Mail,
    history: History,
    enqueued: SystemTime,
    token: i64,
}

impl Leased {
    /// The message id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Its route.
    pub fn route(&self) -> &Route {
        &self.route
    }
    /// The message.
    pub fn mail(&self) -> &Mail {
        &self.mail
    }
    /// Its retry history, as stored.
    pub fn history(&self) -> &History {
        &self.history
    }
    /// When it was queued.
    pub fn enqueued(&self) -> SystemTime {
        self.enqueued
    }
}

/// Whether a record took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recorded {
    /// Stored.
    Done,
    /// The lease had run out and the message went to another worker (or ended): this
    /// record changed nothing. The message was sent twice if both sends went through.
    LeaseLost,
}

/// Messages, their retry state and the learned limits in one SQLite file (WAL mode),
/// shared by every worker thread of a process and by several processes.
///
/// Times are wall-clock time ([`Throttle::now`](crate::throttle::Throttle::now)). See
/// the [module docs](super) for what it promises.
pub struct SqliteQueue {
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteQueue")
    }
}

/// A time as nanoseconds since the Unix epoch (0 before it, the largest `i64` past
/// 2262).
fn nanos_of(time: SystemTime) -> i64 {
    duration_nanos(time.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn duration_nanos(time: Duration) -> i64 {
    i64::try_from(time.as_nanos()).unwrap_or(i64::MAX)
}

fn unread(id: &str, field: &'static str, reason: impl Into<String>) -> QueueError {
    QueueError::Corrupt {
        id: id.to_owned(),
        field,
        reason: reason.into(),
    }
}

/// A stored duration: not negative.
fn duration_at(id: &str, field: &'static str, nanos: i64) -> Result<Duration, QueueError> {
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| unread(id, field, format!("negative: {nanos}")))
}

fn time_at(id: &str, field: &'static str, nanos: i64) -> Result<SystemTime, QueueError> {
    Ok(UNIX_EPOCH + duration_at(id, field, nanos)?)
}

fn count_at(id: &str, field: &'static str, value: i64) -> Result<u32, QueueError> {
    u32::try_from(value).map_err(|_| unread(id, field, format!("out of range: {value}")))
}

/// What an update guarded by a lease token did: one row, or none (the lease ran out).
fn recorded(changed: usize) -> Recorded {
    if changed == 1 {
        Recorded::Done
    } else {
        Recorded::LeaseLost
    }
}

/// Lease tokens: unique per lease across processes — a seed of the process's start
/// time and pid, counted up from there.
fn next_token() -> i64 {
    static SEED: OnceLock<i64> = OnceLock::new();
    static NEXT: AtomicI64 = AtomicI64::new(0);
    let seed =
        *SEED.get_or_init(|| nanos_of(SystemTime::now()) ^ (i64::from(std::process::id()) << 40));
    seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The columns a lease reads, in order.
const LEASE_COLUMNS: &str = "id, source, domain, mx, site, mail_from, rcpt, body, enqueued, \
     first_attempt, attempts, backoff_steps, greylisted, last_wait, last_category, suspended";

/// A message row as leased, checked.
fn leased_of(row: &Row<'_>, token: i64) -> Result<Leased, QueueError> {
    let id: String = row.get(0)?;
    let source: String = row.get(1)?;
    let source: IpAddr = source
        .parse()
        .map_err(|_| unread(&id, "source", format!("not an IP address: {source:?}")))?;
    let domain: String = row.get(2)?;
    let mx: Option<String> = row.get(3)?;
    let site: String = row.get(4)?;
    let site: Site = serde_json::from_str(&site).map_err(|e| unread(&id, "site", e.to_string()))?;
    let mut destination =
        Destination::new(&domain).map_err(|e| unread(&id, "domain", e.to_string()))?;
    if let Some(mx) = mx {
        destination = destination
            .with_mx(&mx)
            .map_err(|e| unread(&id, "mx", e.to_string()))?;
    }
    let route = Route::new(source, destination.with_site(site));
    let from: String = row.get(5)?;
    let rcpt: String = row.get(6)?;
    let to: Vec<String> = rcpt.split('\n').map(str::to_owned).collect();
    if rcpt.is_empty() {
        return Err(unread(&id, "rcpt", "no recipient"));
    }
    let body: Vec<u8> = row.get(7)?;
    let enqueued = time_at(&id, "enqueued", row.get(8)?)?;
    let category: Option<String> = row.get(14)?;
    let last_category = category
        .map(|name| name.parse::<Category>())
        .transpose()
        .map_err(|e| unread(&id, "last_category", e.to_string()))?;
    let last_wait: Option<i64> = row.get(13)?;
    let parts = HistoryParts {
        first_attempt: time_at(&id, "first_attempt", row.get(9)?)?,
        attempts: count_at(&id, "attempts", row.get(10)?)?,
        backoff_steps: count_at(&id, "backoff_steps", row.get(11)?)?,
        greylisted: count_at(&id, "greylisted", row.get(12)?)?,
        last_wait: last_wait
            .map(|w| duration_at(&id, "last_wait", w))
            .transpose()?,
        last_category,
        suspended: duration_at(&id, "suspended", row.get(15)?)?,
    };
    let history = History::from_parts(parts).map_err(|e| unread(&id, "history", e.to_string()))?;
    Ok(Leased {
        id,
        route,
        mail: Mail { from, to, body },
        history,
        enqueued,
        token,
    })
}

impl SqliteQueue {
    /// Opens (or creates) the queue at `path`, in WAL mode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, QueueError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(BUSY)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    /// Makes every commit durable against a power cut too (`synchronous = FULL`), at
    /// the cost of a disk flush per change; the default survives crashes of the
    /// process.
    pub fn sync_full(&self, full: bool) -> Result<(), QueueError> {
        let mode = if full { "FULL" } else { "NORMAL" };
        self.connection
            .lock()
            .pragma_update(None, "synchronous", mode)?;
        Ok(())
    }

    /// Queues `mail` on `route` under `id`, due at once, its age counted from `now`.
    /// `false` when a message with this id is already queued (or ended): nothing is
    /// changed, so enqueueing the same batch again after a crash adds nothing twice.
    pub fn enqueue(
        &self,
        id: &str,
        route: &Route,
        mail: &Mail,
        now: SystemTime,
    ) -> Result<bool, QueueError> {
        let invalid = |reason| QueueError::Invalid {
            id: id.chars().take(64).collect(),
            reason,
        };
        if id.is_empty() || id.len() > MAX_ID {
            return Err(invalid("an id is 1 to 255 bytes"));
        }
        if mail.to.is_empty() {
            return Err(invalid("no recipient"));
        }
        if mail.to.iter().any(|to| to.is_empty() || to.contains('\n')) {
            return Err(invalid("an empty recipient, or one with a line break"));
        }
        let site = serde_json::to_string(route.site())
            .map_err(|e| QueueError::Storage(crate::Cause::new(e)))?;
        let destination = route.destination();
        let now = nanos_of(now);
        let added = self.connection.lock().execute(
            "INSERT INTO messages (id, source, domain, mx, site, mail_from, rcpt, body, due,
                 enqueued, first_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9)
             ON CONFLICT (id) DO NOTHING",
            params![
                id,
                route.source().to_string(),
                destination.domain(),
                destination.mx(),
                site,
                mail.from,
                mail.to.join("\n"),
                mail.body,
                now,
            ],
        )?;
        Ok(added == 1)
    }

    /// Leases the next due message until `now + visibility`: due retries first, then
    /// the earliest due. `None` when nothing is due. A row that cannot be read back is
    /// set aside ([`QueueCounts::quarantined`]) and reported as
    /// [`QueueError::Corrupt`]; the next call goes on with the others.
    pub fn lease(
        &self,
        now: SystemTime,
        visibility: Duration,
    ) -> Result<Option<Leased>, QueueError> {
        self.lease_where(now, visibility, None)
    }

    /// Like [`lease`](SqliteQueue::lease), only a message of `route` (same source IP,
    /// domain and MX): the next one to send on a session open there.
    pub fn lease_route(
        &self,
        now: SystemTime,
        visibility: Duration,
        route: &Route,
    ) -> Result<Option<Leased>, QueueError> {
        self.lease_where(now, visibility, Some(route))
    }

    fn lease_where(
        &self,
        now: SystemTime,
        visibility: Duration,
        route: Option<&Route>,
    ) -> Result<Option<Leased>, QueueError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now_ns = nanos_of(now);
        let token = next_token();
        let select = |row: &Row<'_>| Ok((row.get::<_, String>(0)?, leased_of(row, token)));
        let leased = match route {
            None => transaction
                .query_row(
                    &format!(
                        "SELECT {LEASE_COLUMNS} FROM messages WHERE state = 0 AND due <= ?1
                         ORDER BY retry DESC, due LIMIT 1"
                    ),
                    params![now_ns],
                    select,
                )
                .optional()?,
            Some(route) => transaction
                .query_row(
                    &format!(
                        "SELECT {LEASE_COLUMNS} FROM messages WHERE state = 0 AND due <= ?1
                         AND source = ?2 AND domain = ?3 AND mx IS ?4
                         ORDER BY retry DESC, due LIMIT 1"
                    ),
                    params![
                        now_ns,
                        route.source().to_string(),
                        route.destination().domain(),
                        route.destination().mx()
                    ],
                    select,
                )
                .optional()?,
        };
        let Some((id, leased)) = leased else {
            return Ok(None);
        };
        match leased {
            Ok(leased) => {
                let until = now_ns.saturating_add(duration_nanos(visibility));
                transaction.execute(
                    "UPDATE messages SET due = ?2, lease_token = ?3 WHERE id = ?1",
                    params![id, until, token],
                )?;
                transaction.commit()?;
                Ok(Some(leased))
            }
            Err(error) => {
                transaction.execute(
                    "UPDATE messages SET state = 4, lease_token = NULL, finished = ?2 WHERE id = ?1",
                    params![id, now_ns],
                )?;
                transaction.commit()?;
                Err(error)
            }
        }
    }

    /// Records what became of a leased message: delivered, bounced or expired (a
    /// `MaxAge` bounce) ends it; deferred queues it again at `retry_at` with `history`.
    pub fn record(
        &self,
        leased: &Leased,
        outcome: &Outcome,
        history: &History,
        now: SystemTime,
    ) -> Result<Recorded, QueueError> {
        let classification = outcome.classification();
        let rule = classification.rule.as_str();
        let (state, due, reason) = match outcome {
            Outcome::Delivered { .. } => (1, None, classification.category.to_string()),
            Outcome::Deferred { retry_at, .. } => (
                0,
                Some(nanos_of(*retry_at)),
                classification.category.to_string(),
            ),
            Outcome::Bounced { reason, .. } => {
                let state = if matches!(reason, GiveUpReason::MaxAge { .. }) {
                    3
                } else {
                    2
                };
                (state, None, reason.to_string())
            }
        };
        let parts = history.parts();
        let now = nanos_of(now);
        let changed = self.connection.lock().execute(
            "UPDATE messages SET state = ?3, due = COALESCE(?4, due), retry = 1,
                 lease_token = NULL, sends = sends + 1,
                 finished = CASE WHEN ?3 = 0 THEN NULL ELSE ?5 END,
                 last_rule = ?6, last_reason = ?7,
                 first_attempt = ?8, attempts = ?9, backoff_steps = ?10, greylisted = ?11,
                 last_wait = ?12, last_category = ?13, suspended = ?14
             WHERE id = ?1 AND lease_token = ?2 AND state = 0",
            params![
                leased.id,
                leased.token,
                state,
                due,
                now,
                rule,
                reason,
                nanos_of(parts.first_attempt),
                parts.attempts,
                parts.backoff_steps,
                parts.greylisted,
                parts.last_wait.map(duration_nanos),
                parts.last_category.map(Category::as_str),
                duration_nanos(parts.suspended),
            ],
        )?;
        Ok(recorded(changed))
    }

    /// Gives a leased message back untried, due at `until` (the limits said not now):
    /// its history is unchanged.
    pub fn release(&self, leased: &Leased, until: SystemTime) -> Result<Recorded, QueueError> {
        let changed = self.connection.lock().execute(
            "UPDATE messages SET due = ?3, lease_token = NULL
             WHERE id = ?1 AND lease_token = ?2 AND state = 0",
            params![leased.id, leased.token, nanos_of(until)],
        )?;
        Ok(recorded(changed))
    }

    /// Ends a leased message as expired (it reached the maximum age untried).
    pub fn expire(&self, leased: &Leased, now: SystemTime) -> Result<Recorded, QueueError> {
        let changed = self.connection.lock().execute(
            "UPDATE messages SET state = 3, lease_token = NULL, finished = ?3,
                 last_reason = 'the maximum age passed before it could be tried again'
             WHERE id = ?1 AND lease_token = ?2 AND state = 0",
            params![leased.id, leased.token, nanos_of(now)],
        )?;
        Ok(recorded(changed))
    }

    /// Messages in each state; `leased` counts leases running at `now`.
    pub fn counts(&self, now: SystemTime) -> Result<QueueCounts, QueueError> {
        let connection = self.connection.lock();
        let mut statement = connection.prepare_cached(
            "SELECT state, COUNT(*), SUM(lease_token IS NOT NULL AND due > ?1)
             FROM messages GROUP BY state",
        )?;
        let mut counts = QueueCounts::default();
        let rows = statement.query_map(params![nanos_of(now)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (state, n, leased) = row?;
            let n = u64::try_from(n).unwrap_or(0);
            match MessageState::of(state) {
                Some(MessageState::Queued) => {
                    counts.queued = n;
                    counts.leased = u64::try_from(leased).unwrap_or(0);
                }
                Some(MessageState::Delivered) => counts.delivered = n,
                Some(MessageState::Bounced) => counts.bounced = n,
                Some(MessageState::Expired) => counts.expired = n,
                Some(MessageState::Quarantined) | None => counts.quarantined += n,
            }
        }
        Ok(counts)
    }

    /// Where the message `id` stands, and how many times it was sent; `None` when no
    /// message has that id.
    pub fn state(&self, id: &str) -> Result<Option<(MessageState, u32)>, QueueError> {
        let connection = self.connection.lock();
        let row = connection
            .query_row(
                "SELECT state, sends FROM messages WHERE id = ?1",
                params![id],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()?;
        row.map(|(state, sends)| {
            let state = MessageState::of(state)
                .ok_or_else(|| unread(id, "state", format!("unknown state {state}")))?;
            Ok((state, count_at(id, "sends", sends)?))
        })
        .transpose()
    }

    /// The earliest next try of a queued message (a running lease's end included).
    pub fn next_due(&self) -> Result<Option<SystemTime>, QueueError> {
        let due: Option<i64> = self.connection.lock().query_row(
            "SELECT MIN(due) FROM messages WHERE state = 0",
            [],
            |row| row.get(0),
        )?;
        due.map(|d| time_at("(next due)", "due", d)).transpose()
    }

    /// Stores the learned limits (one document, replaced each time).
    pub fn save_learned(&self, learned: &Learned, now: SystemTime) -> Result<(), QueueError> {
        let json = serde_json::to_string(learned)
            .map_err(|e| QueueError::Storage(crate::Cause::new(e)))?;
        self.connection.lock().execute(
            "INSERT INTO learned (id, json, saved) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET json = excluded.json, saved = excluded.saved",
            params![json, nanos_of(now)],
        )?;
        Ok(())
    }

    /// The learned limits stored last, if any; [`QueueError::Corrupt`] when the stored
    /// document is not one `save_learned` writes.
    pub fn load_learned(&self) -> Result<Option<Learned>, QueueError> {
        let json: Option<String> = self
            .connection
            .lock()
            .query_row("SELECT json FROM learned WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?;
        json.map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| unread("(learned limits)", "json", e.to_string()))
        })
        .transpose()
    }
}
