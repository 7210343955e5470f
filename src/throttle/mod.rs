//! [`Throttle`]: put it around the code that talks SMTP; it keeps every route within
//! what receivers accept and says what became of each message.
//!
//! One attempt goes: wait for a session slot (or get a [`Wait`]), charge the message to
//! the route's rates — every limit that can refuse is asked before any connection is
//! opened — open a session with your [`Sender`], send the message, classify the reply
//! (a [`TransportError`] counts as `network` or `tls_required`), feed it back into the
//! limits, and decide with the retry policy: [`Outcome::Delivered`],
//! [`Outcome::Deferred`] with a time, or [`Outcome::Bounced`]. A 421 ends the session.

mod outcome;
mod sender;
mod stats;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use governor::clock::{Clock, DefaultClock};
use parking_lot::Mutex;

pub use crate::error::Cause;
pub use outcome::Outcome;
#[cfg(feature = "async")]
pub use sender::AsyncSender;
pub use sender::{sender_fn, SendFn, Sender, TransportError};
pub use stats::{Counts, RouteStats};

use self::stats::{Event, Ledger};
use crate::classify::{Category, Classification, Classifier, Scope, Severity};
use crate::error::LearnedError;
use crate::limit::{deadline_after, Alert, Learned, LimitKind, Limits, Permit, Wait, WallAnchor};
use crate::reply::{Command, Reply};
use crate::retry::{History, RetryDecision, RetryPolicy, Timestamp};
use crate::route::Route;

struct Inner<C: Clock> {
    limits: Limits<C>,
    retry: RetryPolicy,
    classifier: Classifier,
    ledger: Mutex<Ledger>,
    wall: WallAnchor<C::Instant>,
}

/// Route limits, retry policy and classifier together, shared by every clone.
///
/// ```
/// use std::net::IpAddr;
/// use std::time::Duration;
/// use smtp_throttle::limit::Limits;
/// use smtp_throttle::retry::RetryPolicy;
/// use smtp_throttle::route::{Destination, Route};
/// use smtp_throttle::throttle::{sender_fn, Outcome, Throttle};
/// use smtp_throttle::Reply;
///
/// let throttle = Throttle::new(Limits::builder().build()?, RetryPolicy::default());
/// // Your code that talks SMTP; here a server that greylists.
/// let sender = sender_fn(|_route, _message: &str| {
///     Ok(Reply::parse("450 4.2.0 Recipient address rejected: Greylisted").expect("valid"))
/// });
/// let route = Route::new("192.0.2.10".parse::<IpAddr>()?, Destination::new("example.org")?);
/// let mut history = throttle.history();
/// match throttle.send(&sender, &route, "Subject: hi\r\n\r\nhello", &mut history, Duration::from_secs(5)) {
///     Ok(Outcome::Deferred { classification, .. }) => assert_eq!(classification.category.as_str(), "greylisted"),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Throttle<C: Clock = DefaultClock> {
    inner: Arc<Inner<C>>,
}

impl<C: Clock> Clone for Throttle<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock + Clone> fmt::Debug for Throttle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("limits", &self.inner.limits)
            .finish()
    }
}

impl<C> Throttle<C>
where
    C: Clock + Clone,
    C::Instant: Timestamp,
{
    /// A throttle with the built-in classifier.
    pub fn new(limits: Limits<C>, retry: RetryPolicy) -> Self {
        Self::with_classifier(limits, retry, Classifier::default())
    }

    /// A throttle with your own classifier (your rules ahead of the built-ins).
    pub fn with_classifier(limits: Limits<C>, retry: RetryPolicy, classifier: Classifier) -> Self {
        let wall = WallAnchor::new(limits.clock().now(), SystemTime::now());
        Self {
            inner: Arc::new(Inner {
                limits,
                retry,
                classifier,
                ledger: Mutex::new(Ledger::default()),
                wall,
            }),
        }
    }

    /// The route limits.
    pub fn limits(&self) -> &Limits<C> {
        &self.inner.limits
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// A fresh history for a message first tried now.
    pub fn history(&self) -> History {
        History::new(self.now())
    }

    /// Now, in wall-clock time: the time [`Outcome::Deferred`]'s `retry_at`, a
    /// [`Wait`]'s `until` and a [`History`]'s first attempt are in.
    ///
    /// It is the system time when the throttle was made plus the time elapsed since on
    /// the limits' clock: a fake clock in tests moves it, and a step of the system
    /// clock does not make it go backwards. Times stored before a restart stay
    /// meaningful after it (a new throttle anchors to the system time again).
    pub fn now(&self) -> SystemTime {
        self.wall(self.inner.limits.clock().now())
    }

    /// The wall-clock time of an instant of the limits' clock.
    fn wall(&self, instant: C::Instant) -> SystemTime {
        self.inner.wall.wall(instant)
    }

    /// A refusal of the limits, in wall-clock time.
    fn wall_wait(&self, wait: Wait<C::Instant>) -> Wait {
        wait.map(|until| self.wall(until))
    }

    /// How long from now until `at`; zero when `at` has passed. A queue that sleeps or
    /// schedules by durations turns `retry_at` or a `Wait`'s `until` into a wait with it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use smtp_throttle::limit::Limits;
    /// use smtp_throttle::retry::{RetryPolicy, Timestamp};
    /// use smtp_throttle::throttle::Throttle;
    ///
    /// let throttle = Throttle::new(Limits::builder().build()?, RetryPolicy::default());
    /// let at = throttle.now().after(Duration::from_secs(300));
    /// assert!(throttle.until(at) <= Duration::from_secs(300));
    /// assert_eq!(throttle.until(throttle.now()), Duration::ZERO);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn until(&self, at: SystemTime) -> Duration {
        at.since(self.now())
    }

    /// Opens a session on `route`, waiting up to `timeout` (real time) for a slot and
    /// for the rate to allow its first message: no connection is opened that could not
    /// send now. [`SessionError::NotNow`] when the time ran out (nothing was opened);
    /// [`SessionError::Transport`] when the sender could not open it, which is an
    /// outcome for the message you meant to send: give it to
    /// [`record_open`](Throttle::record_open).
    pub fn session<'s, M: ?Sized, S: Sender<M>>(
        &self,
        sender: &'s S,
        route: &Route,
        timeout: Duration,
    ) -> Result<Session<'s, M, S, C>, SessionError> {
        let deadline = deadline_after(timeout);
        let mut permit = self
            .inner
            .limits
            .acquire_timeout(route, timeout)
            .map_err(|wait| self.wall_wait(wait))?;
        loop {
            match self.charge_step(&mut permit, deadline) {
                Step::Go => break,
                Step::Pause(time, _) => std::thread::sleep(time),
                Step::Stop(wait) => return Err(self.wall_wait(wait).into()),
            }
        }
        self.open(sender, route, permit)
    }

    /// Like [`session`](Throttle::session) without waiting.
    pub fn try_session<'s, M: ?Sized, S: Sender<M>>(
        &self,
        sender: &'s S,
        route: &Route,
    ) -> Result<Session<'s, M, S, C>, SessionError> {
        let limits = &self.inner.limits;
        let mut permit = limits
            .try_acquire(route)
            .map_err(|wait| self.wall_wait(wait))?;
        permit.try_message().map_err(|wait| self.wall_wait(wait))?;
        self.open(sender, route, permit)
    }

    /// Opens the sender's session under a permit whose first message is charged.
    fn open<'s, M: ?Sized, S: Sender<M>>(
        &self,
        sender: &'s S,
        route: &Route,
        permit: Permit<C>,
    ) -> Result<Session<'s, M, S, C>, SessionError> {
        let session = sender.open(route).map_err(SessionError::Transport)?;
        Ok(Session {
            throttle: self.clone(),
            sender,
            session,
            permit,
            charged: true,
            route: route.clone(),
            ended: false,
            _message: std::marker::PhantomData,
        })
    }

    /// One step of charging a message to a permit: go, pause this long and try again,
    /// or stop with the `Wait` (untimed, or past the deadline). The blocking and the
    /// async paths both wait on it.
    fn charge_step(&self, permit: &mut Permit<C>, deadline: Instant) -> Step<C::Instant> {
        match permit.try_message() {
            Ok(()) => Step::Go,
            Err(wait) => match self.pause_for(&wait, deadline) {
                Some(time) => Step::Pause(time, wait),
                None => Step::Stop(wait),
            },
        }
    }

    /// Sends one message on a session of its own, waiting up to `timeout` (real time)
    /// for a session slot and the rate; every limit that can refuse is checked before
    /// the sender opens a connection. `Err(Wait)` means the message was not tried: it
    /// is unchanged and `history` untouched.
    pub fn send<M: ?Sized, S: Sender<M>>(
        &self,
        sender: &S,
        route: &Route,
        message: &M,
        history: &mut History,
        timeout: Duration,
    ) -> Result<Outcome, Wait> {
        let opened = self.session(sender, route, timeout);
        self.attempt(opened, route, message, history)
    }

    /// The first message of a session just opened (or not).
    fn attempt<M: ?Sized, S: Sender<M>>(
        &self,
        opened: Result<Session<'_, M, S, C>, SessionError>,
        route: &Route,
        message: &M,
        history: &mut History,
    ) -> Result<Outcome, Wait> {
        match opened {
            Ok(mut session) => Ok(session.deliver(message, history)),
            Err(error) => self.not_opened(error, route, history),
        }
    }

    /// What a session that did not open means for the message that was to go on it:
    /// not tried (the `Wait`), or the sender's failure as its outcome.
    pub(crate) fn not_opened(
        &self,
        error: SessionError,
        route: &Route,
        history: &mut History,
    ) -> Result<Outcome, Wait> {
        match error {
            SessionError::NotNow(wait) => Err(wait),
            SessionError::Transport(error) => Ok(self.record_open(route, error, history)),
        }
    }

    /// Like [`send`](Throttle::send) without waiting: a `Wait` when a slot or the rate
    /// is not there now.
    pub fn try_send<M: ?Sized, S: Sender<M>>(
        &self,
        sender: &S,
        route: &Route,
        message: &M,
        history: &mut History,
    ) -> Result<Outcome, Wait> {
        let opened = self.try_session(sender, route);
        self.attempt(opened, route, message, history)
    }

    /// Turns an attempt's result into an outcome: classifies the reply, feeds it into
    /// the limits, counts it and asks the retry policy. For senders that manage
    /// sessions and limits themselves.
    pub fn record(
        &self,
        route: &Route,
        attempt: Result<Reply, TransportError>,
        history: &mut History,
    ) -> Outcome {
        let classification = self.classify(&attempt);
        self.outcome(route, classification, history)
    }

    /// What an attempt's result means: the reply by the throttle's classifier, a
    /// transport failure by its kind.
    fn classify(&self, attempt: &Result<Reply, TransportError>) -> Classification {
        match attempt {
            Ok(reply) | Err(TransportError::Rejected(reply)) => {
                self.inner.classifier.classify(reply)
            }
            Err(error) => error.classification(),
        }
    }

    /// Turns a failure to open a session ([`Sender::open`]) into an outcome for the
    /// message that was to go: like [`record`](Throttle::record), and the failure is
    /// read as one at the connection stage (greeting, EHLO, STARTTLS, or the connect
    /// itself) when the error does not say, so that it counts against the pair's
    /// concurrency and connections rather than its message rate.
    pub fn record_open(
        &self,
        route: &Route,
        error: TransportError,
        history: &mut History,
    ) -> Outcome {
        let stage = match &error {
            TransportError::Rejected(_) => Command::Greeting,
            TransportError::Tls(_) => Command::StartTls,
            _ => Command::Connect,
        };
        let mut classification = self.classify(&Err(error));
        classification.command.get_or_insert(stage);
        self.outcome(route, classification, history)
    }

    fn outcome(
        &self,
        route: &Route,
        classification: Classification,
        history: &mut History,
    ) -> Outcome {
        let limits = &self.inner.limits;
        limits.feedback(route, &classification);
        let now = self.wall(limits.clock().now());
        let (event, outcome) = if classification.severity == Severity::Success {
            (Event::Delivered, Outcome::Delivered { classification })
        } else {
            // Any of the route's scopes may be suspended: the pair, the site, the IP.
            let suspended = limits.suspended_until(route).map(|end| self.wall(end));
            match self
                .inner
                .retry
                .next_retry(&classification, history, now, suspended)
            {
                RetryDecision::RetryAt { at, after } => (
                    Event::Deferred(classification.category),
                    Outcome::Deferred {
                        retry_at: at,
                        retry_after: after,
                        classification,
                    },
                ),
                RetryDecision::GiveUp(reason) => (
                    Event::Bounced(classification.category),
                    Outcome::Bounced {
                        classification,
                        reason,
                    },
                ),
            }
        };
        self.inner
            .ledger
            .lock()
            .count(route.source(), route.site(), event);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            source = %route.source(),
            site = %route.site(),
            outcome = match event { Event::Delivered => "delivered", Event::Deferred(_) => "deferred", Event::Bounced(_) => "bounced" },
            category = %outcome.classification().category,
            rule = %outcome.classification().rule,
            "smtp-throttle outcome"
        );
        outcome
    }

    /// How long to pause before trying the rate again, or `None` when the wait is not
    /// timed (another session must end) or would run past `deadline`.
    fn pause_for(&self, wait: &Wait<C::Instant>, deadline: Instant) -> Option<Duration> {
        let left = deadline.saturating_duration_since(Instant::now());
        let time = wait.sleep_from(self.inner.limits.clock().now())?;
        (!left.is_zero()).then(|| time.min(left).max(Duration::from_millis(1)))
    }

    /// What the limits learned about receivers, in the throttle's wall-clock time, to
    /// store and give to [`import_learned`](Throttle::import_learned) after a restart
    /// (see [`Limits::export_learned`]).
    pub fn export_learned(&self) -> Learned {
        self.inner.limits.export_learned_at(self.now())
    }

    /// Puts back learned state taken by [`export_learned`](Throttle::export_learned)
    /// (see [`Limits::import_learned`]); how many pairs took it.
    pub fn import_learned(&self, learned: &Learned) -> Result<usize, LearnedError> {
        self.inner.limits.import_learned_at(learned, self.now())
    }

    /// The route's limits and counts now.
    pub fn stats(&self, route: &Route) -> RouteStats {
        RouteStats {
            limits: self
                .inner
                .limits
                .snapshot(route)
                .map(|snapshot| snapshot.map(|end| self.wall(end))),
            counts: self.inner.ledger.lock().route(route.source(), route.site()),
            #[cfg(feature = "redis")]
            shared: self.inner.limits.shared_status(),
        }
    }

    /// Counts over all routes.
    pub fn totals(&self) -> Counts {
        self.inner.ledger.lock().totals()
    }

    /// The limits' alerts since the last call.
    pub fn drain_alerts(&self) -> Vec<Alert> {
        self.inner.limits.drain_alerts()
    }
}

/// One step of charging a message: go, pause and try again, or stop.
enum Step<I> {
    Go,
    /// Pause this long, then try again; the `Wait` is the answer when not waiting.
    Pause(Duration, Wait<I>),
    Stop(Wait<I>),
}

/// Why no session was opened ([`Throttle::session`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The limits refused: nothing was tried; look again at the `Wait`'s `until`.
    #[error("not now: {0}")]
    NotNow(Wait),
    /// The sender could not open the session (connect, greeting, EHLO, STARTTLS): an
    /// outcome for the message that was to go, for
    /// [`Throttle::record_open`].
    #[error("the sender could not open a session")]
    Transport(#[source] TransportError),
}

impl From<Wait> for SessionError {
    fn from(wait: Wait) -> Self {
        SessionError::NotNow(wait)
    }
}

/// An open SMTP session under one session slot: several messages, up to the site's
/// messages per connection; a 421 ends it. Dropping it closes the sender's session and
/// gives the slot back.
#[must_use = "a session holds a slot until it is dropped; send on it"]
pub struct Session<'s, M: ?Sized, S: Sender<M>, C: Clock + Clone = DefaultClock> {
    throttle: Throttle<C>,
    sender: &'s S,
    session: S::Session,
    permit: Permit<C>,
    /// The first message's cell, charged before the session was opened.
    charged: bool,
    route: Route,
    ended: bool,
    _message: std::marker::PhantomData<fn(&M)>,
}

impl<M: ?Sized, S: Sender<M>, C: Clock + Clone> fmt::Debug for Session<'_, M, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("route", &self.route)
            .field("messages", &self.permit.messages())
            .field("ended", &self.ended)
            .finish()
    }
}

impl<M: ?Sized, S: Sender<M>, C> Session<'_, M, S, C>
where
    C: Clock + Clone,
    C::Instant: Timestamp,
{
    /// Sends one message, waiting up to `timeout` (real time) for the route's rate.
    /// `Err(Wait)` means it was not tried; `LimitKind::SessionFull` means this session
    /// is done (messages per connection reached, or the server said 421): open another.
    pub fn send(
        &mut self,
        message: &M,
        history: &mut History,
        timeout: Duration,
    ) -> Result<Outcome, Wait> {
        let deadline = deadline_after(timeout);
        loop {
            match self.charge(deadline) {
                Step::Go => return Ok(self.deliver(message, history)),
                Step::Pause(pause, _) => std::thread::sleep(pause),
                Step::Stop(wait) => return Err(self.throttle.wall_wait(wait)),
            }
        }
    }

    /// Sends one message if the rate allows it now.
    pub fn try_send(&mut self, message: &M, history: &mut History) -> Result<Outcome, Wait> {
        match self.charge(Instant::now()) {
            Step::Go => Ok(self.deliver(message, history)),
            Step::Pause(_, wait) | Step::Stop(wait) => Err(self.throttle.wall_wait(wait)),
        }
    }

    /// The route the session is open on.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Messages sent on this session.
    pub fn messages(&self) -> u32 {
        self.permit.messages()
    }

    /// Whether the session is over (a 421, or messages per connection reached).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Charges the next message: the cell taken at opening first, then the permit's.
    fn charge(&mut self, deadline: Instant) -> Step<C::Instant> {
        if self.ended {
            let now = self.throttle.limits().clock().now();
            return Step::Stop(Wait::session_full(now));
        }
        if std::mem::take(&mut self.charged) {
            // Charged when the session opened; the route may have been suspended since
            // (another session heard a 421): then this one ends unused.
            return match self.permit.check_suspended() {
                Ok(()) => Step::Go,
                Err(wait) => {
                    self.ended = true;
                    Step::Stop(wait)
                }
            };
        }
        let step = self.throttle.charge_step(&mut self.permit, deadline);
        match step {
            Step::Stop(wait) => {
                self.ended |= wait.kind() == LimitKind::SessionFull;
                Step::Stop(wait)
            }
            // An open session is not held idle: suspended, or the rate not due within
            // the connections' idle time, it ends (open another when the wait is over).
            Step::Pause(time, wait)
                if wait.kind() != LimitKind::Rate
                    || time > self.throttle.limits().session_idle() =>
            {
                self.ended = true;
                Step::Stop(wait)
            }
            step => step,
        }
    }

    fn deliver(&mut self, message: &M, history: &mut History) -> Outcome {
        let attempt = self.sender.send(&mut self.session, message);
        // RFC 5321 §3.8: 421 closes the channel; a lost connection ends it too.
        self.ended |= match &attempt {
            Ok(reply) => reply.code().get() == 421,
            Err(_) => true,
        };
        let outcome = self.throttle.record(&self.route, attempt, history);
        // A cap on the session's messages ("too many messages in this connection"):
        // this session carries no more; the next one may.
        let c = outcome.classification();
        self.ended |= c.category == Category::RateLimited && c.scope == Scope::Connection;
        outcome
    }
}

/// A sender wrapped in a [`Throttle`], tower-style. Clones share the throttle's state.
#[derive(Debug, Clone)]
pub struct Throttled<S, C: Clock + Clone = DefaultClock> {
    sender: S,
    throttle: Throttle<C>,
}

impl<S, C> Throttled<S, C>
where
    C: Clock + Clone,
    C::Instant: Timestamp,
{
    /// Wraps `sender`.
    pub fn new(sender: S, throttle: Throttle<C>) -> Self {
        Self { sender, throttle }
    }

    /// The sender.
    pub fn get_ref(&self) -> &S {
        &self.sender
    }

    /// The sender, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.sender
    }

    /// The sender back.
    pub fn into_inner(self) -> S {
        self.sender
    }

    /// The throttle (clones share its state).
    pub fn throttle(&self) -> &Throttle<C> {
        &self.throttle
    }

    /// [`Throttle::send`] with the wrapped sender.
    pub fn send<M: ?Sized>(
        &self,
        route: &Route,
        message: &M,
        history: &mut History,
        timeout: Duration,
    ) -> Result<Outcome, Wait>
    where
        S: Sender<M>,
    {
        self.throttle
            .send(&self.sender, route, message, history, timeout)
    }

    /// [`Throttle::try_send`] with the wrapped sender.
    pub fn try_send<M: ?Sized>(
        &self,
        route: &Route,
        message: &M,
        history: &mut History,
    ) -> Result<Outcome, Wait>
    where
        S: Sender<M>,
    {
        self.throttle
            .try_send(&self.sender, route, message, history)
    }

    /// [`Throttle::session`] with the wrapped sender.
    pub fn session<M: ?Sized>(
        &self,
        route: &Route,
        timeout: Duration,
    ) -> Result<Session<'_, M, S, C>, SessionError>
    where
        S: Sender<M>,
    {
        self.throttle.session(&self.sender, route, timeout)
    }
}

/// The async send: the same steps with an [`AsyncSender`], on any executor.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
impl<C> Throttle<C>
where
    C: Clock + Clone,
    C::Instant: Timestamp,
{
    /// Sends one message on a session of its own, waiting up to `timeout` for a slot
    /// (see [`Limits::acquire`]) and the rate.
    pub async fn send_async<M: ?Sized + Sync, S: AsyncSender<M>>(
        &self,
        sender: &S,
        route: &Route,
        message: &M,
        history: &mut History,
        timeout: Duration,
    ) -> Result<Outcome, Wait> {
        let deadline = deadline_after(timeout);
        let mut permit = self
            .inner
            .limits
            .acquire(route, timeout)
            .await
            .map_err(|wait| self.wall_wait(wait))?;
        loop {
            match self.charge_step(&mut permit, deadline) {
                Step::Go => break,
                Step::Pause(time, _) => futures_timer::Delay::new(time).await,
                Step::Stop(wait) => return Err(self.wall_wait(wait)),
            }
        }
        let outcome = match sender.open(route).await {
            Ok(mut session) => {
                let attempt = sender.send(&mut session, message).await;
                drop(session);
                drop(permit);
                self.record(route, attempt, history)
            }
            Err(error) => {
                drop(permit);
                self.record_open(route, error, history)
            }
        };
        Ok(outcome)
    }
}
