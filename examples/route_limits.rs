//! Route limits at work against a receiver with hidden limits, on a simulated clock.
//!
//! The receiver takes at most 20 messages a minute from one IP and answers
//! `421 4.7.0 Try again later, closing connection.` past that, and `421 … too many
//! connections` beyond 2 sessions. The sender starts at 60 messages a minute and 4
//! sessions; `Limits::feedback` brings it down to what the receiver takes, then ramps
//! back carefully. Prints one line per simulated five minutes.
//!
//! Run: `cargo run --release --example route_limits`

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, FakeRelativeClock};
use smtp_throttle::limit::{Adaptive, Limits, Rate, ScopeLimits, SiteLimits};
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::{classify, Reply};

/// The receiver's hidden limits.
struct Receiver {
    accepted: VecDeque<Duration>,
    sessions: u32,
}

impl Receiver {
    fn reply(&mut self, now: Duration) -> &'static str {
        while self
            .accepted
            .front()
            .is_some_and(|t| now - *t >= Duration::from_secs(60))
        {
            self.accepted.pop_front();
        }
        if self.sessions > 2 {
            "421 4.7.0 mx.example.org Error: too many connections from 192.0.2.10"
        } else if self.accepted.len() >= 20 {
            "421 4.7.0 Try again later, closing connection."
        } else {
            self.accepted.push_back(now);
            "250 2.0.0 Ok: queued"
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = FakeRelativeClock::default();
    let limits = Limits::builder_with_clock(clock.clone())
        .site_default(SiteLimits {
            pair: ScopeLimits::sessions(4).with_rate(Rate::per_minute(60)?),
            ..SiteLimits::default()
        })
        .adaptive(Adaptive {
            rate_limited_pause: Duration::from_secs(60),
            ramp_step: 0.05,
            ..Adaptive::default()
        })
        .build()?;
    let route = Route::new(
        "192.0.2.10".parse::<IpAddr>()?,
        Destination::new("example.org")?,
    );
    let mut receiver = Receiver {
        accepted: VecDeque::new(),
        sessions: 0,
    };
    let (mut delivered, mut deferred) = (0u32, 0u32);
    let step = Duration::from_millis(250);
    println!("minute  delivered  deferred  pair rate  sessions cap");
    for tick in 1..=(30 * 60 * 4) {
        clock.advance(step);
        let now: Duration = clock.now().into();
        // Up to 4 sessions try to send one message each per tick.
        let mut permits = Vec::new();
        while let Ok(permit) = limits.try_acquire(&route) {
            permits.push(permit);
            if permits.len() == 4 {
                break;
            }
        }
        receiver.sessions = permits.len() as u32;
        for permit in &mut permits {
            if permit.try_message().is_err() {
                continue;
            }
            let c = classify(&Reply::parse(receiver.reply(now))?);
            limits.feedback(&route, &c);
            if c.retry && c.severity != smtp_throttle::Severity::Success {
                deferred += 1;
            } else {
                delivered += 1;
            }
        }
        drop(permits);
        if tick % (5 * 60 * 4) == 0 {
            let (interval, cap) = limits.pair_limits(&route);
            let rate = interval.map_or(f64::INFINITY, |i| 60.0 / i.as_secs_f64());
            println!(
                "{:>6}  {delivered:>9}  {deferred:>8}  {rate:>6.1}/min  {:>12}",
                now.as_secs() / 60,
                cap.map_or("-".to_string(), |c| c.to_string())
            );
        }
    }
    println!(
        "\nreceiver's limit: 20/min, 2 sessions; delivered {delivered} in 30 min (at most 600), {deferred} deferrals"
    );
    Ok(())
}
