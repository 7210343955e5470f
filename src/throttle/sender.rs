//! The sender traits: what the user implements to talk SMTP.

use std::fmt;

use crate::classify::{Category, Classification, RuleId, Scope, Severity};
use crate::error::Cause;
use crate::reply::{Command, Reply};
use crate::route::Route;

/// A failure below SMTP: no reply was read. The transport's own error is the
/// [`source`](std::error::Error::source) (a [`Cause`]); `Display` names the failure and
/// the cause's text.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection was refused or could not be made.
    #[error("connection refused: {0}")]
    Refused(#[source] Cause),
    /// No answer in time.
    #[error("timed out: {0}")]
    Timeout(#[source] Cause),
    /// The connection dropped mid-session.
    #[error("connection lost: {0}")]
    ConnectionLost(#[source] Cause),
    /// The TLS handshake or STARTTLS failed.
    #[error("TLS failed: {0}")]
    Tls(#[source] Cause),
    /// The server refused the session: a 4xx or 5xx greeting, EHLO or STARTTLS reply
    /// (Postfix's `421 4.7.0 … too many connections` comes here). The throttle
    /// classifies the reply itself.
    #[error("session refused: {0}")]
    Rejected(Reply),
    /// Anything else below SMTP.
    #[error("transport error: {0}")]
    Other(#[source] Cause),
}

impl TransportError {
    /// What the error means for the message: `network` (retried), or `tls_required`
    /// for TLS failures (retried too: a handshake can fail for a passing reason, and
    /// the retry schedule bounds it). A [`Rejected`](TransportError::Rejected) session
    /// is classified by its reply with the built-in rules.
    pub fn classification(&self) -> Classification {
        let (category, rule, command) = match self {
            TransportError::Rejected(reply) => return crate::classify(reply),
            // No connection was made: the connect stage.
            TransportError::Refused(_) => (
                Category::Network,
                "transport.refused",
                Some(Command::Connect),
            ),
            TransportError::Timeout(_) => (Category::Network, "transport.timeout", None),
            TransportError::ConnectionLost(_) => (Category::Network, "transport.lost", None),
            TransportError::Tls(_) => (
                Category::TlsRequired,
                "transport.tls",
                Some(Command::StartTls),
            ),
            TransportError::Other(_) => (Category::Network, "transport.other", None),
        };
        Classification {
            category,
            severity: Severity::Transient,
            retry: true,
            scope: Scope::Connection,
            provider: None,
            retry_hint: None,
            rule: RuleId::builtin(rule),
            command,
            code: None,
        }
    }
}

/// Sends messages over SMTP sessions: the part the user writes.
///
/// `open` makes a connection (greeting, EHLO, STARTTLS, AUTH …) to the route's
/// destination from its source IP; `send` sends one message on it and returns the
/// server's final reply to it. The session is closed when dropped. Methods take `&self`
/// so one sender serves many threads (a connection pool, lettre's transports).
pub trait Sender<M: ?Sized> {
    /// An open SMTP session.
    type Session;
    /// Opens a session for `route`.
    fn open(&self, route: &Route) -> Result<Self::Session, TransportError>;
    /// Sends `message` on `session`; the server's reply, whatever its code.
    fn send(&self, session: &mut Self::Session, message: &M) -> Result<Reply, TransportError>;
}

/// A [`Sender`] from a function that sends one message per call (its own connection
/// each time, or a pool's).
///
/// ```
/// use smtp_throttle::throttle::{sender_fn, Sender};
/// use smtp_throttle::Reply;
/// let sender = sender_fn(|_route, message: &String| {
///     Ok(Reply::parse(format!("250 2.0.0 queued {} bytes", message.len())).expect("valid"))
/// });
/// # let _ = &sender;
/// ```
pub fn sender_fn<M: ?Sized, F>(send: F) -> SendFn<F>
where
    F: Fn(&Route, &M) -> Result<Reply, TransportError>,
{
    SendFn(send)
}

/// See [`sender_fn`].
#[derive(Clone)]
pub struct SendFn<F>(F);

impl<F> fmt::Debug for SendFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendFn")
    }
}

impl<M: ?Sized, F> Sender<M> for SendFn<F>
where
    F: Fn(&Route, &M) -> Result<Reply, TransportError>,
{
    type Session = Route;
    fn open(&self, route: &Route) -> Result<Route, TransportError> {
        Ok(route.clone())
    }
    fn send(&self, session: &mut Route, message: &M) -> Result<Reply, TransportError> {
        (self.0)(session, message)
    }
}

/// The asynchronous [`Sender`]: the same two steps as futures, on any executor.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub trait AsyncSender<M: ?Sized + Sync> {
    /// An open SMTP session.
    type Session: Send;
    /// Opens a session for `route`.
    fn open(
        &self,
        route: &Route,
    ) -> impl std::future::Future<Output = Result<Self::Session, TransportError>> + Send;
    /// Sends `message` on `session`; the server's reply, whatever its code.
    fn send(
        &self,
        session: &mut Self::Session,
        message: &M,
    ) -> impl std::future::Future<Output = Result<Reply, TransportError>> + Send;
}
