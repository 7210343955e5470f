//! The three ways of sending the simulator compares.

use std::time::{Duration, SystemTime};

use governor::clock::{Clock, FakeRelativeClock};
use governor::nanos::Nanos;
use smtp_throttle::limit::{
    Adaptive as Adaptation, LimitKind, Limits, Permit, Rate, ScopeLimits, SiteLimits, Wait,
};
use smtp_throttle::provider::Provider;
use smtp_throttle::retry::{History, RetryPolicy};
use smtp_throttle::route::{Route, Site};
use smtp_throttle::throttle::{self, Outcome, Sender, SessionError, Throttle, TransportError};
use smtp_throttle::Reply;

use crate::engine::{Open, Policy, Step, Verdict};
use crate::world::{code, Client, Connection, Ms, DAY, MINUTE, SECOND};

/// Messages are given up after this long, by every policy (RFC 5321, Postfix).
const MAX_AGE: Ms = 5 * DAY;

/// Rounded up, so that waiting until then never comes back a moment too early.
fn ms(instant: Nanos) -> Ms {
    Duration::from(instant).as_micros().div_ceil(1000) as Ms
}

/// The limits a user would configure: a guess of each big provider's rate per IP (the
/// presets' session caps plus a rate), and for everyone else 10 sessions and, with
/// fixed limits, 120 a minute. Some guesses are above what the receivers take, some
/// below; neither policy knows which.
///
/// `adaptive`: the crate's defaults (slow start included) and no rate for the long
/// tail, which the throttle learns; without, a pair may open its whole session cap at
/// once, as fixed limits do.
fn configured(
    clock: FakeRelativeClock,
    adaptive: bool,
) -> Result<Limits<FakeRelativeClock>, String> {
    let err = |e: smtp_throttle::ConfigError| e.to_string();
    let mut builder = Limits::builder_with_clock(clock);
    if !adaptive {
        builder = builder.adaptive(Adaptation {
            initial_sessions: None,
            ..Adaptation::default()
        });
    }
    let tail = ScopeLimits::sessions(10);
    // The throttle guesses no rate for the long tail: it learns each one.
    let tail = if adaptive {
        tail
    } else {
        tail.with_rate(Rate::per_minute(120).map_err(err)?)
    };
    let mut builder = builder.site_default(SiteLimits {
        pair: tail,
        deliveries_per_session: Some(100),
        ..SiteLimits::default()
    });
    for (provider, per_minute) in [
        (Provider::Google, 900),
        (Provider::Microsoft, 600),
        (Provider::Yahoo, 200),
        (Provider::Apple, 300),
        (Provider::Comcast, 120),
    ] {
        let mut limits = SiteLimits::preset(provider).unwrap_or_default();
        limits.pair = limits
            .pair
            .with_rate(Rate::per_minute(per_minute).map_err(err)?);
        builder = builder.site(Site::Provider(provider), limits);
    }
    builder.build().map_err(err)
}

/// The verdict of a sender that reads only the reply's first digit: 2xx/3xx delivered,
/// 4xx retried after `backoff` until the maximum age, anything else bounced.
fn by_code(
    client: &Client<'_, '_>,
    attempt: &Result<Reply, TransportError>,
    first_attempt: &mut Ms,
    backoff: Ms,
) -> Verdict {
    let now = client.0.now();
    if *first_attempt == Ms::MAX {
        *first_attempt = now;
    }
    match code(attempt) {
        200..=399 => Verdict::Delivered,
        400..=499 if now.saturating_sub(*first_attempt) < MAX_AGE => Verdict::Retry(now + backoff),
        _ => Verdict::Bounced,
    }
}

/// Sends message `id` on `connection` and judges the reply by its code; a 421 or a
/// lost connection ends the session.
fn send_by_code<'w, 'c>(
    client: &Client<'w, 'c>,
    connection: &mut Connection<'w, 'c>,
    id: u32,
    first_attempt: &mut Ms,
    backoff: Ms,
) -> Step {
    let attempt = client.send(connection, &id);
    let goes_on = matches!(&attempt, Ok(reply) if reply.code().get() != 421);
    Step::Sent(by_code(client, &attempt, first_attempt, backoff), goes_on)
}

/// No limits: up to 20 sessions per route, as fast as they go; a deferred message is
/// tried again 10 seconds later.
pub struct Naive<'w, 'c> {
    pub client: Client<'w, 'c>,
}

impl<'w, 'c> Policy for Naive<'w, 'c> {
    type Session<'a>
        = Connection<'w, 'c>
    where
        Self: 'a;
    type Memo = Ms;

    fn name(&self) -> &'static str {
        "naive"
    }
    fn memo(&self) -> Ms {
        Ms::MAX
    }
    fn open(&self, route: &Route, sessions: u32) -> Open<Connection<'w, 'c>> {
        if sessions >= 20 {
            return Open::Wait(None);
        }
        match self.client.open(route) {
            Ok(connection) => Open::Session(connection),
            Err(error) => Open::Failed(error),
        }
    }
    fn send<'a>(
        &'a self,
        session: &mut Connection<'w, 'c>,
        _route: &Route,
        id: u32,
        memo: &mut Ms,
    ) -> Step {
        send_by_code(&self.client, session, id, memo, 10 * SECOND)
    }
    fn failed(&self, _route: &Route, error: TransportError, memo: &mut Ms) -> Verdict {
        by_code(&self.client, &Err(error), memo, 10 * SECOND)
    }
}

/// When to look again: `None` when that is when a session ends (or a new one opens),
/// which the engine knows better than a poll.
fn wait_until<I: Copy>(wait: &Wait<I>, ms: impl FnOnce(I) -> Ms) -> Option<Ms> {
    let timed = !matches!(wait.kind(), LimitKind::Sessions | LimitKind::SessionFull);
    timed.then(|| ms(wait.until()))
}

/// The configured limits, enforced as they are: no feedback from replies, and every
/// deferral tried again 5 minutes later.
pub struct Fixed<'w, 'c> {
    pub client: Client<'w, 'c>,
    pub limits: Limits<FakeRelativeClock>,
}

impl<'w, 'c> Fixed<'w, 'c> {
    pub fn new(client: Client<'w, 'c>) -> Result<Self, String> {
        Ok(Self {
            client,
            limits: configured(client.0.clock.clone(), false)?,
        })
    }
}

impl<'w, 'c> Policy for Fixed<'w, 'c> {
    type Session<'a>
        = (Permit<FakeRelativeClock>, Connection<'w, 'c>)
    where
        Self: 'a;
    type Memo = Ms;

    fn name(&self) -> &'static str {
        "fixed"
    }
    fn memo(&self) -> Ms {
        Ms::MAX
    }
    fn open(&self, route: &Route, _sessions: u32) -> Open<Self::Session<'_>> {
        match self.limits.try_acquire(route) {
            Ok(permit) => match self.client.open(route) {
                Ok(connection) => Open::Session((permit, connection)),
                Err(error) => Open::Failed(error),
            },
            Err(wait) => Open::Wait(wait_until(&wait, ms)),
        }
    }
    fn send<'a>(
        &'a self,
        (permit, connection): &mut Self::Session<'a>,
        _route: &Route,
        id: u32,
        memo: &mut Ms,
    ) -> Step {
        if let Err(wait) = permit.try_message() {
            return Step::Wait(wait_until(&wait, ms), wait.kind() == LimitKind::SessionFull);
        }
        send_by_code(&self.client, connection, id, memo, 5 * MINUTE)
    }
    fn failed(&self, _route: &Route, error: TransportError, memo: &mut Ms) -> Verdict {
        by_code(&self.client, &Err(error), memo, 5 * MINUTE)
    }
}

/// This crate: the same configured limits adapted by every reply's classification,
/// retries from the standard [`RetryPolicy`].
pub struct Adaptive<'w, 'c> {
    pub client: Client<'w, 'c>,
    pub throttle: Throttle<FakeRelativeClock>,
}

impl<'w, 'c> Adaptive<'w, 'c> {
    pub fn new(client: Client<'w, 'c>, seed: u64) -> Result<Self, String> {
        let limits = configured(client.0.clock.clone(), true)?;
        let retry = RetryPolicy::builder()
            .seed(seed)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            throttle: Throttle::new(limits, retry),
        })
    }
}

impl Adaptive<'_, '_> {
    /// A wall-clock time of the throttle as the simulation's milliseconds, rounded up.
    fn ms(&self, at: SystemTime) -> Ms {
        let now = Duration::from(self.client.0.clock.now());
        (now + self.throttle.until(at)).as_micros().div_ceil(1000) as Ms
    }

    fn verdict(&self, outcome: Outcome) -> Verdict {
        match outcome {
            Outcome::Delivered { .. } => Verdict::Delivered,
            Outcome::Deferred { retry_at, .. } => Verdict::Retry(self.ms(retry_at)),
            _ => Verdict::Bounced,
        }
    }
}

impl<'w, 'c> Policy for Adaptive<'w, 'c> {
    type Session<'a>
        = throttle::Session<'a, u32, Client<'w, 'c>, FakeRelativeClock>
    where
        Self: 'a;
    type Memo = History;

    fn name(&self) -> &'static str {
        "throttle"
    }
    fn memo(&self) -> History {
        self.throttle.history()
    }
    fn open(&self, route: &Route, _sessions: u32) -> Open<Self::Session<'_>> {
        match self.throttle.try_session(&self.client, route) {
            Ok(session) => Open::Session(session),
            Err(SessionError::Transport(error)) => Open::Failed(error),
            Err(SessionError::NotNow(wait)) => Open::Wait(wait_until(&wait, |at| self.ms(at))),
            Err(_) => Open::Wait(None),
        }
    }
    fn send<'a>(
        &'a self,
        session: &mut Self::Session<'a>,
        _route: &Route,
        id: u32,
        history: &mut History,
    ) -> Step {
        match session.try_send(&id, history) {
            Ok(outcome) => Step::Sent(self.verdict(outcome), !session.is_ended()),
            Err(wait) => Step::Wait(
                wait_until(&wait, |at| self.ms(at)),
                wait.kind() == LimitKind::SessionFull || session.is_ended(),
            ),
        }
    }
    fn failed(&self, route: &Route, error: TransportError, history: &mut History) -> Verdict {
        // The session did not open: the greeting or connect stage.
        self.verdict(self.throttle.record_open(route, error, history))
    }
}
