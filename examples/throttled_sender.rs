//! 200 messages through a `Throttle` and a `RetryQueue` to a receiver with hidden limits,
//! on a simulated clock (hours pass in milliseconds).
//!
//! The fake receiver allows 2 connections and 30 messages a minute from the sending IP,
//! greylists every message's first attempt for 5 minutes (as postgrey does), and answers
//! 421 when a limit is exceeded. The sender starts at 4 sessions and 120 messages a
//! minute; the throttle learns the receiver's limits from its replies. Prints a progress
//! line every 10 simulated minutes and ends with
//! `delivered=… deferred=… bounced=… lost=0`.
//!
//! Run: `cargo run --release --example throttled_sender`

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use parking_lot::Mutex;
use smtp_throttle::limit::{Limits, Rate, ScopeLimits, SiteLimits};
use smtp_throttle::retry::{RetryPolicy, RetryQueue};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{Cause, Outcome, Sender, SessionError, Throttle, TransportError};
use smtp_throttle::Reply;

const MESSAGES: u32 = 200;

/// The receiver and its hidden limits.
struct Receiver {
    clock: FakeRelativeClock,
    connections: AtomicU32,
    accepted: Mutex<VecDeque<Duration>>,
    first_contact: Mutex<HashMap<u32, Duration>>,
}

/// An open connection; closing it frees the receiver's slot.
struct Connection<'r>(&'r Receiver);

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Receiver {
    fn now(&self) -> Duration {
        self.clock.now().into()
    }

    fn answer(&self, id: u32) -> &'static str {
        let now = self.now();
        if self.connections.load(Ordering::SeqCst) > 2 {
            return "421 4.7.0 mx.example.org Error: too many connections from 192.0.2.10";
        }
        let first = *self.first_contact.lock().entry(id).or_insert(now);
        if now - first < Duration::from_secs(300) {
            return "450 4.2.0 <user@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html";
        }
        let mut accepted = self.accepted.lock();
        while accepted
            .front()
            .is_some_and(|t| now - *t >= Duration::from_secs(60))
        {
            accepted.pop_front();
        }
        if accepted.len() >= 30 {
            return "421 4.7.0 Try again later, closing connection.";
        }
        accepted.push_back(now);
        "250 2.0.0 Ok: queued as 4Xk9F2"
    }
}

/// The sender: an SMTP client, here talking to the in-process receiver.
struct Client<'r>(&'r Receiver);

impl<'r> Sender<u32> for Client<'r> {
    type Session = Connection<'r>;
    fn open(&self, _route: &Route) -> Result<Connection<'r>, TransportError> {
        self.0.connections.fetch_add(1, Ordering::SeqCst);
        Ok(Connection(self.0))
    }
    fn send(&self, _session: &mut Connection<'r>, id: &u32) -> Result<Reply, TransportError> {
        Reply::parse(self.0.answer(*id)).map_err(|e| TransportError::Other(Cause::new(e)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = FakeRelativeClock::default();
    let limits = Limits::builder_with_clock(clock.clone())
        .site_default(SiteLimits {
            pair: ScopeLimits::sessions(4).with_rate(Rate::per_minute(120)?),
            deliveries_per_session: Some(20),
            ..SiteLimits::default()
        })
        .build()?;
    let throttle = Throttle::new(limits, RetryPolicy::builder().seed(7).build()?);
    let receiver = Receiver {
        clock: clock.clone(),
        connections: AtomicU32::new(0),
        accepted: Mutex::new(VecDeque::new()),
        first_contact: Mutex::new(HashMap::new()),
    };
    let client = Client(&receiver);
    let route = Route::new(
        "192.0.2.10".parse::<IpAddr>()?,
        Destination::new("example.org")?,
    );

    let mut queue = RetryQueue::new();
    for id in 0..MESSAGES {
        queue.push((id, throttle.history()), throttle.now());
    }
    let (mut delivered, mut deferred, mut bounced) = (0u32, 0u32, 0u32);
    let mut next_report = Duration::from_secs(600);
    while let Some(due) = queue.next_due() {
        let now = throttle.now();
        if due > now {
            clock.advance(throttle.until(due));
            continue;
        }
        // Up to 4 sessions at once, one message on each.
        let mut batch = Vec::new();
        while batch.len() < 4 {
            match queue.pop_next(now) {
                Some(item) => batch.push(item),
                None => break,
            }
        }
        let mut sessions = Vec::new();
        for (id, mut history) in batch {
            match throttle.try_session(&client, &route) {
                Ok(session) => sessions.push((session, id, history)),
                // The connection failed: an outcome for this message.
                Err(SessionError::Transport(error)) => {
                    match throttle.record_open(&route, error, &mut history) {
                        Outcome::Deferred { retry_at, .. } => {
                            deferred += 1;
                            queue.push((id, history), retry_at);
                        }
                        _ => bounced += 1,
                    }
                }
                // No slot: come back when the limiter says (at least a second on).
                Err(SessionError::NotNow(wait)) => {
                    queue.push(
                        (id, history),
                        wait.until().max(now + Duration::from_secs(1)),
                    );
                }
                Err(error) => return Err(error.into()),
            }
        }
        for (session, id, history) in sessions.iter_mut() {
            match session.try_send(id, history) {
                Ok(Outcome::Delivered { .. }) => delivered += 1,
                Ok(Outcome::Deferred { retry_at, .. }) => {
                    deferred += 1;
                    queue.push((*id, history.clone()), retry_at);
                }
                Ok(Outcome::Bounced { .. }) => bounced += 1,
                Ok(_) => bounced += 1,
                Err(wait) => {
                    let at = wait.until().max(now + Duration::from_secs(1));
                    queue.push((*id, history.clone()), at);
                }
            }
        }
        drop(sessions);
        let elapsed: Duration = clock.now().into();
        if elapsed >= next_report {
            let stats = throttle.stats(&route);
            let rate = stats
                .limits
                .and_then(|l| l.interval)
                .map_or(0.0, |i| 60.0 / i.as_secs_f64());
            println!(
                "t={:>4} min  delivered={delivered:>3}  queued={:>3}  deferrals={deferred:>3}  pair rate {rate:.0}/min, sessions {}",
                elapsed.as_secs() / 60,
                queue.len(),
                stats.limits.and_then(|l| l.sessions).unwrap_or(0),
            );
            next_report += Duration::from_secs(600);
        }
    }
    let lost = MESSAGES - delivered - bounced - queue.len() as u32;
    let elapsed: Duration = clock.now().into();
    println!(
        "delivered={delivered} deferred={deferred} bounced={bounced} lost={lost} simulated_min={}",
        elapsed.as_secs() / 60
    );
    for alert in throttle.drain_alerts() {
        println!("alert: {alert:?}");
    }
    Ok(())
}
