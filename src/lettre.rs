//! lettre integration (feature `lettre`): replies from lettre's responses and errors,
//! and ready [`Sender`]s.
//!
//! - [`reply_from_response`] and [`attempt_from_error`] turn what lettre returns into a
//!   [`Reply`] (code from `status()`, the server's text from the error's source) or a
//!   [`TransportError`] when no reply was read (connection failures are `network`).
//! - [`Pooled`]`(SmtpTransport)` is a [`Sender`] of `lettre::Message`: one message per
//!   call, connections managed by lettre; `Pooled(AsyncSmtpTransport<Tokio1Executor>)`
//!   is an `AsyncSender` with feature `lettre-tokio`.
//! - [`SmtpSender`] opens real sessions with lettre's `SmtpConnection` from the route's
//!   source IP, so one connection carries several messages under one session slot and
//!   QUIT is sent when the session ends. It sends MAIL, RCPT, DATA and the message one
//!   command at a time, so each reply says which command it answered
//!   ([`Reply::command`]) and the limits apply the stage rule; the replies of
//!   `SmtpTransport` and `AsyncSmtpTransport` carry no stage (lettre does not say), so
//!   their category alone decides.

use std::net::SocketAddr;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::client::SmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error;
use lettre::{Message, SmtpTransport, Transport};

use crate::error::Cause;
use crate::reply::{Command, Reply};
use crate::route::Route;
use crate::throttle::{Sender, TransportError};

/// The reply lettre read, as a [`Reply`].
pub fn reply_from_response(response: &Response) -> Result<Reply, crate::ParseError> {
    let text: Vec<&str> = response.message().collect();
    Reply::from_parts(u16::from(response.code()), None, &text.join("\n"))
}

/// What a lettre error means: the server's reply when it answered 4xx or 5xx (code from
/// `status()`, text from the error's source), else the transport failure, with lettre's
/// error as its [`Cause`].
pub fn attempt_from_error(error: Error) -> Result<Reply, TransportError> {
    if let Some(code) = error.status() {
        let text = std::error::Error::source(&error)
            .map(|source| source.to_string())
            .unwrap_or_default();
        return Reply::from_parts(u16::from(code), None, &text)
            .map_err(|e| TransportError::Other(Cause::new(e)));
    }
    Err(if error.is_timeout() {
        TransportError::Timeout(Cause::new(error))
    } else if error.is_response() || error.is_client() {
        TransportError::Other(Cause::new(error))
    } else if error.is_transport_shutdown() {
        TransportError::ConnectionLost(Cause::new(error))
    } else {
        TransportError::Refused(Cause::new(error))
    })
}

fn outcome(result: Result<Response, Error>) -> Result<Reply, TransportError> {
    match result {
        Ok(response) => {
            reply_from_response(&response).map_err(|e| TransportError::Other(Cause::new(e)))
        }
        Err(error) => attempt_from_error(error),
    }
}

/// [`outcome`] with the command the reply answered.
fn answered(result: Result<Response, Error>, command: Command) -> Result<Reply, TransportError> {
    match outcome(result) {
        Ok(reply) => Ok(reply.with_command(command)),
        Err(TransportError::Rejected(reply)) => {
            Err(TransportError::Rejected(reply.with_command(command)))
        }
        Err(other) => Err(other),
    }
}

/// A lettre transport (`SmtpTransport`, or `AsyncSmtpTransport<Tokio1Executor>` with
/// feature `lettre-tokio`) as a [`Sender`]: each message on its own (or its pool's)
/// connection, as lettre manages them.
///
/// A wrapper rather than an impl on lettre's type, so that importing
/// [`Sender`] never makes lettre's own `transport.send(&message)` ambiguous.
///
/// ```no_run
/// use smtp_throttle::lettre::Pooled;
/// let sender = Pooled(lettre::SmtpTransport::builder_dangerous("127.0.0.1").port(2525).build());
/// # let _ = sender;
/// ```
#[derive(Clone, Debug)]
pub struct Pooled<T>(pub T);

impl Sender<Message> for Pooled<SmtpTransport> {
    type Session = ();
    fn open(&self, _route: &Route) -> Result<(), TransportError> {
        Ok(())
    }
    fn send(&self, _session: &mut (), message: &Message) -> Result<Reply, TransportError> {
        outcome(Transport::send(&self.0, message))
    }
}

/// lettre's async transport (feature `lettre-tokio`), one message per call.
#[cfg(feature = "lettre-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "lettre-tokio")))]
impl crate::throttle::AsyncSender<Message>
    for Pooled<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>
{
    type Session = ();
    async fn open(&self, _route: &Route) -> Result<(), TransportError> {
        Ok(())
    }
    async fn send(&self, _session: &mut (), message: &Message) -> Result<Reply, TransportError> {
        outcome(lettre::AsyncTransport::send(&self.0, message.clone()).await)
    }
}

/// A [`Sender`] that opens one lettre `SmtpConnection` per session, bound to the
/// route's source IP, without TLS (for relays and test servers on a trusted network;
/// use `SmtpTransport` with TLS otherwise).
#[derive(Clone, Debug)]
pub struct SmtpSender {
    server: SocketAddr,
    hello: String,
    timeout: Duration,
    bind_source: bool,
}

impl SmtpSender {
    /// Sessions to `server`, saying `EHLO hello`, 30 s timeouts, bound to the route's
    /// source IP.
    pub fn new(server: SocketAddr, hello: impl Into<String>) -> Self {
        Self {
            server,
            hello: hello.into(),
            timeout: Duration::from_secs(30),
            bind_source: true,
        }
    }

    /// The timeout for connecting and for each reply.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether to bind connections to the route's source IP (default yes); turn off
    /// when the route's source is not an address of this machine.
    #[must_use]
    pub fn bind_source(mut self, bind: bool) -> Self {
        self.bind_source = bind;
        self
    }
}

/// An open lettre connection; QUIT is sent when it is dropped.
pub struct SmtpSession(SmtpConnection);

impl std::fmt::Debug for SmtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpSession")
    }
}

impl Drop for SmtpSession {
    fn drop(&mut self) {
        if self.0.quit().is_err() {
            self.0.abort();
        }
    }
}

impl SmtpSender {
    /// Opens a session for `route` (connect, greeting, EHLO): what both its
    /// [`Sender`] impls (of `lettre::Message` and of [`Mail`](crate::Mail)) open, to
    /// call without naming the message type.
    pub fn connect(&self, route: &Route) -> Result<SmtpSession, TransportError> {
        let local = self.bind_source.then(|| route.source());
        SmtpConnection::connect(
            self.server,
            Some(self.timeout),
            &ClientId::Domain(self.hello.clone()),
            None,
            local,
        )
        .map(SmtpSession)
        .map_err(|error| match attempt_from_error(error) {
            // A 4xx/5xx greeting or EHLO reply (lettre reads both in `connect`): the
            // classifier reads it, and the limits count it against the connection.
            Ok(reply) => TransportError::Rejected(reply.with_command(Command::Greeting)),
            Err(transport) => transport,
        })
    }

    /// One transaction, one command at a time, so that each reply carries the command
    /// it answered; a refused transaction is reset (RSET) and the session goes on, a
    /// 421 or a broken connection ends it.
    fn transaction(
        &self,
        session: &mut SmtpSession,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<Reply, TransportError> {
        let connection = &mut session.0;
        let mut options = Vec::new();
        let addresses = envelope.from().into_iter().chain(envelope.to());
        if addresses.map(AsRef::<str>::as_ref).any(|a| !a.is_ascii()) {
            options.push(MailParameter::SmtpUtfEight);
        }
        if !email.is_ascii()
            && connection
                .server_info()
                .supports_feature(Extension::EightBitMime)
        {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        // The first refusal ends the transaction: it is the message's reply.
        let step = |result, command| match answered(result, command) {
            Ok(reply) if reply.code().get() >= 400 => Err(Ok(reply)),
            Ok(reply) => Ok(reply),
            Err(error) => Err(Err(error)),
        };
        let result = (|| {
            let mail = Mail::new(envelope.from().cloned(), options);
            step(connection.command(mail), Command::MailFrom)?;
            for to in envelope.to() {
                step(
                    connection.command(Rcpt::new(to.clone(), vec![])),
                    Command::RcptTo,
                )?;
            }
            step(connection.command(Data), Command::Data)?;
            step(connection.message(email), Command::DataEnd)
        })()
        .or_else(|refused| refused);
        match &result {
            Ok(reply) if reply.code().get() == 421 => connection.abort(),
            Ok(reply) if reply.code().get() >= 400 => {
                if connection.command(Rset).is_err() {
                    connection.abort();
                }
            }
            Ok(_) => {}
            Err(_) => connection.abort(),
        }
        result
    }
}

impl Sender<Message> for SmtpSender {
    type Session = SmtpSession;

    fn open(&self, route: &Route) -> Result<SmtpSession, TransportError> {
        self.connect(route)
    }

    /// See [`SmtpSender`]: MAIL, RCPT, DATA and the message, one at a time.
    fn send(&self, session: &mut SmtpSession, message: &Message) -> Result<Reply, TransportError> {
        self.transaction(session, message.envelope(), &message.formatted())
    }
}

/// A [`Mail`](crate::Mail) as it is: its envelope's addresses are parsed by lettre; one
/// lettre cannot read is answered here as `501 5.1.3` (bad address syntax), so the
/// message bounces as a bad address instead of being retried.
impl Sender<crate::Mail> for SmtpSender {
    type Session = SmtpSession;

    fn open(&self, route: &Route) -> Result<SmtpSession, TransportError> {
        self.connect(route)
    }

    fn send(&self, session: &mut SmtpSession, mail: &crate::Mail) -> Result<Reply, TransportError> {
        match envelope_of(mail) {
            Ok(envelope) => self.transaction(session, &envelope, &mail.body),
            Err(reply) => Ok(reply),
        }
    }
}

/// A [`Mail`](crate::Mail) through lettre's transport (`send_raw`).
impl Sender<crate::Mail> for Pooled<SmtpTransport> {
    type Session = ();
    fn open(&self, _route: &Route) -> Result<(), TransportError> {
        Ok(())
    }
    fn send(&self, _session: &mut (), mail: &crate::Mail) -> Result<Reply, TransportError> {
        match envelope_of(mail) {
            Ok(envelope) => outcome(Transport::send_raw(&self.0, &envelope, &mail.body)),
            Err(reply) => Ok(reply),
        }
    }
}

/// The envelope of a [`Mail`](crate::Mail), or the local `501 5.1.3` reply that says
/// which address is unreadable.
fn envelope_of(mail: &crate::Mail) -> Result<Envelope, Reply> {
    let refuse = |what: &str, address: &str| {
        let shown: String = address.chars().take(100).collect();
        let text = format!("5.1.3 smtp-throttle: bad {what} address syntax: {shown:?}");
        Reply::from_parts(501, None, &text).unwrap_or_else(|_| {
            Reply::from_parts(501, None, "5.1.3 bad address syntax")
                .expect("a constant, valid reply")
        })
    };
    let from = if mail.from.is_empty() {
        None
    } else {
        Some(
            mail.from
                .parse::<Address>()
                .map_err(|_| refuse("sender", &mail.from))?,
        )
    };
    let to = mail
        .to
        .iter()
        .map(|to| to.parse::<Address>().map_err(|_| refuse("recipient", to)))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(from, to).map_err(|_| refuse("recipient", "(none)"))
}
