//! A durable queue (feature `sqlite`): [`SqliteQueue`] keeps every message with its
//! route, retry state and last outcome in one SQLite file, and
//! [`Throttle::run`](crate::throttle::Throttle::run) drives it — the standard advice for
//! `421`s ("send through a queue that retries with backoff and respects per-provider
//! limits") as a library.
//!
//! # What "nothing lost" means
//!
//! - A message enqueued is in the file once its `enqueue` returned (SQLite in WAL mode;
//!   `synchronous = NORMAL`, so a crash of the process loses nothing, and a power cut
//!   can lose the last transactions — [`SqliteQueue::sync_full`] makes every commit
//!   durable against that too).
//! - It ends exactly once: delivered, bounced or expired (past the retry policy's
//!   maximum age), recorded in the file. Until then it is queued with its next try.
//! - Workers *lease* due messages for a visibility timeout; a worker that dies (panic,
//!   `kill -9`, power) leaves its leases to run out, and the messages go to another
//!   worker (or to the same program restarted).
//! - Delivery is **at least once**, as in every MTA: a message the server accepted but
//!   whose `250` was not recorded before a crash is sent again. At most one message
//!   per worker in flight at the crash is sent twice. Make duplicates harmless with a
//!   `Message-ID` per queued message (receivers and mail clients drop repeats of one),
//!   as `examples/queue_worker.rs` does with the queue id.
//!
//! # Order
//!
//! Due retries go before first attempts, then the earliest due first: a queue that a
//! stream of new messages keeps full does not starve its retries.
//!
//! ```
//! use std::net::IpAddr;
//! use smtp_throttle::queue::{RunOptions, SqliteQueue};
//! use smtp_throttle::limit::Limits;
//! use smtp_throttle::retry::RetryPolicy;
//! use smtp_throttle::route::{Destination, Route};
//! use smtp_throttle::throttle::{sender_fn, Throttle};
//! use smtp_throttle::{Mail, Reply};
//!
//! let dir = std::env::temp_dir().join(format!("smtp-throttle-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let queue = SqliteQueue::open(dir.join("queue.sqlite"))?;
//! let route = Route::new("192.0.2.10".parse::<IpAddr>()?, Destination::new("example.org")?);
//! let mail = Mail::new("news@example.com", ["ann@example.org"], b"Subject: hi\r\n\r\nhello\r\n".to_vec());
//! queue.enqueue("msg-1", &route, &mail, std::time::SystemTime::now())?;
//!
//! let throttle = Throttle::new(Limits::builder().build()?, RetryPolicy::default());
//! let sender = sender_fn(|_route, _mail: &Mail| Ok(Reply::parse("250 2.0.0 Ok: queued").expect("valid")));
//! let report = throttle.run(&queue, &sender, &RunOptions::default().until_empty(true))?;
//! assert_eq!(report.delivered, 1);
//! assert_eq!(queue.counts(std::time::SystemTime::now())?.delivered, 1);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod run;
mod sqlite;

pub use run::{Progress, RunOptions, RunReport};
pub use sqlite::{Leased, MessageState, QueueCounts, Recorded, SqliteQueue};

/// A queue operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// SQLite failed (the file cannot be opened or written, it is locked too long …);
    /// SQLite's error is the source.
    #[error("queue storage failed")]
    Storage(#[source] crate::Cause),
    /// A row read back holds a value this queue never writes (the file was changed by
    /// something else); the message is set aside, never sent (see
    /// [`QueueCounts::quarantined`]).
    #[error("message {id:?} in the queue is unreadable: {field}: {reason}")]
    Corrupt {
        /// The message id.
        id: String,
        /// The column.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A message that cannot be queued: an empty or over-long id, no recipient.
    #[error("message {id:?} cannot be queued: {reason}")]
    Invalid {
        /// The message id (at most 64 characters of it).
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// A run option out of range.
    #[error("run option {setting}: {reason}")]
    Config {
        /// The option.
        setting: &'static str,
        /// Why.
        reason: &'static str,
    },
}

impl From<rusqlite::Error> for QueueError {
    fn from(error: rusqlite::Error) -> Self {
        QueueError::Storage(crate::Cause::new(error))
    }
}
