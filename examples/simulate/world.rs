//! The simulated internet, built from a scenario: a campaign, and receivers with hidden
//! limits that answer with real reply texts (the strings `classify` is tested on).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use governor::clock::FakeRelativeClock;
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{Sender, TransportError};
use smtp_throttle::Reply;

use crate::replies::{self, Replies};
use crate::scenario::{Change, ReceiverSpec, Scenario, Window};

/// Virtual milliseconds since the campaign started.
pub type Ms = u64;

pub const SECOND: Ms = 1000;
pub const MINUTE: Ms = 60 * SECOND;
pub const HOUR: Ms = 60 * MINUTE;
pub const DAY: Ms = 24 * HOUR;

/// One receiving server's limits per sending IP, which senders are not told.
#[derive(Clone, Debug)]
pub struct Hidden {
    /// A token bucket: messages a minute, and its size.
    pub per_minute: Option<f64>,
    pub burst: f64,
    /// Fixed windows: (messages, length).
    pub windows: Vec<(u32, Ms)>,
    pub connections: u32,
    /// Connections opened per window: (count, length).
    pub connects: Option<(u32, Ms)>,
    pub per_connection: Option<u32>,
    pub greylist: Option<Ms>,
    /// The longest an over-rate answer is held instead of refused.
    pub tarpit: Option<Ms>,
    /// Time for one message on an open connection.
    pub service: Ms,
    /// Refusals tolerated (each forgotten after `fade`) before a block of `block`.
    pub strikes: f64,
    pub fade: Ms,
    pub block: Ms,
}

/// The limits in force at one moment: the changes up to then, folded.
#[derive(Clone, Copy, Debug)]
struct Now {
    factor: f64,
    connections: u32,
    strikes: f64,
    /// Index into the class's change refusals.
    refusal: Option<usize>,
}

/// A change of a receiver's limits, from `at` on.
#[derive(Clone, Debug)]
struct Step {
    at: Ms,
    factor: Option<f64>,
    connections: Option<u32>,
    strikes: Option<f64>,
    refusal: Option<usize>,
}

/// A receiving server: a provider's site (shared by the domains it hosts) or one
/// domain's own server.
pub struct Receiver {
    /// Index into the scenario's receiver classes.
    pub class: usize,
    pub hidden: Hidden,
    steps: Vec<Step>,
    /// The destination a session to this receiver is opened for.
    pub destination: Destination,
}

impl Receiver {
    fn now(&self, at: Ms) -> Now {
        let mut now = Now {
            factor: 1.0,
            connections: self.hidden.connections,
            strikes: self.hidden.strikes,
            refusal: None,
        };
        for step in self.steps.iter().take_while(|s| s.at <= at) {
            if let Some(f) = step.factor {
                now.factor = f;
            }
            if let Some(c) = step.connections {
                now.connections = c;
            }
            if let Some(s) = step.strikes {
                now.strikes = s;
            }
            if step.refusal.is_some() {
                now.refusal = step.refusal;
            }
        }
        now
    }
}

/// A window's count with a change's factor, at least 1.
fn scaled(count: u32, factor: f64) -> f64 {
    (f64::from(count) * factor).floor().max(1.0)
}

/// One sending IP's standing at one receiver.
#[derive(Clone, Debug, Default)]
struct Standing {
    tokens: f64,
    refilled: Ms,
    connections: u32,
    strikes: f64,
    struck: Ms,
    blocked_until: Ms,
    /// Each window's (start, count); a window ends `length` after its start.
    windows: Vec<(Ms, u32)>,
    connects: (Ms, u32),
}

/// Starts a new window at `now` if the last one is over; whether it has room.
fn window_room(window: &mut (Ms, u32), length: Ms, limit: f64, now: Ms) -> bool {
    if now >= window.0.saturating_add(length) || window.1 == 0 {
        *window = (now, 0);
    }
    f64::from(window.1) < limit
}

/// What becomes of a message at its receiver, decided by the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Deliverable,
    /// Over quota for a while after the first attempt, then deliverable.
    FullFor(Ms),
    /// Over quota for good (5.2.2).
    Full,
    /// No such user.
    Unknown,
}

impl Fate {
    pub fn deliverable(self) -> bool {
        matches!(self, Fate::Deliverable | Fate::FullFor(_))
    }
}

/// One message of the campaign.
#[derive(Clone, Copy, Debug)]
pub struct Message {
    pub receiver: u32,
    pub ip: u8,
    pub fate: Fate,
}

/// The campaign: recipients spread over domains as a real list is, sent from `ips`.
pub struct Campaign {
    pub name: String,
    pub description: String,
    /// The receiver classes' names, as the table and chart show them.
    pub classes: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub receivers: Vec<Receiver>,
    pub messages: Vec<Message>,
    pub domains: usize,
    pub seed: u64,
    busy_one_in: u64,
    lost_one_in: u64,
    by_domain: HashMap<String, u32>,
    /// Per class: its replies, and the refusal texts its changes bring.
    replies: Vec<(Replies, Vec<Reply>)>,
}

/// SplitMix64 of `(seed, a, b)`: one independent draw per name, so every policy sees
/// the same campaign whatever order it sends in.
pub fn draw(seed: u64, a: u64, b: u64) -> u64 {
    let mut z = seed
        .wrapping_add(a.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(b.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Seconds (or minutes, hours) as virtual milliseconds.
fn ms(seconds: f64) -> Ms {
    (seconds * SECOND as f64).round() as Ms
}

/// The hidden limits of one server of class `spec`, drawn with `pick` where the
/// scenario gives several values.
fn hidden(spec: &ReceiverSpec, pick: &dyn Fn(u64) -> u64) -> Hidden {
    let l = &spec.limits;
    let per_minute = l.rate_per_minute.as_ref().and_then(|c| c.pick(pick(1)));
    let burst = l
        .burst
        .as_ref()
        .and_then(|c| c.pick(pick(2)))
        .or(per_minute.map(|r| (r / 6.0).max(5.0)))
        .unwrap_or(0.0);
    let greylists = unit(pick(3)) < l.greylist_share;
    let window = |(i, w): (usize, &Window)| {
        let count = w.count.pick(pick(10 + i as u64)).unwrap_or(1);
        (count, w.seconds * SECOND)
    };
    Hidden {
        per_minute,
        burst,
        windows: l.windows.iter().enumerate().map(window).collect(),
        connections: l.connections.pick(pick(4)).unwrap_or(1),
        connects: l.connects.as_ref().map(|w| window((9, w))),
        per_connection: l.messages_per_connection,
        greylist: l
            .greylist_seconds
            .as_ref()
            .and_then(|c| c.pick(pick(5)))
            .filter(|_| greylists)
            .map(|s| s * SECOND),
        tarpit: l.tarpit_seconds.map(ms),
        service: l.service_ms.pick(pick(6)).unwrap_or(1),
        strikes: spec.penalty.strikes.pick(pick(7)).unwrap_or(1.0),
        fade: ms(spec.penalty.fade_seconds).max(1),
        block: ms(spec.penalty.block_hours * 3600.0),
    }
}

fn steps(changes: &[Change], first_refusal: usize) -> Vec<Step> {
    let mut refusal = first_refusal;
    changes
        .iter()
        .map(|c| Step {
            at: ms(c.at_minutes * 60.0),
            factor: c.factor,
            connections: c.connections,
            strikes: c.strikes,
            refusal: c.refusal.as_ref().map(|_| {
                refusal += 1;
                refusal - 1
            }),
        })
        .collect()
}

impl Campaign {
    /// The campaign `scenario` describes.
    pub fn new(scenario: &Scenario) -> Result<Self, String> {
        scenario.check()?;
        let c = &scenario.campaign;
        let seed = c.seed;
        let ips: Vec<IpAddr> = (0..c.ips)
            .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + i as u8)))
            .collect();
        let mut replies = Vec::new();
        for spec in &scenario.receivers {
            let own = Replies::new(&spec.replies).map_err(|e| format!("{}: {e}", spec.name))?;
            let refusals = spec
                .changes
                .iter()
                .filter_map(|c| c.refusal.as_deref())
                .map(|text| replies::parse("refusal", text))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", spec.name))?;
            replies.push((own, refusals));
        }
        let mut receivers: Vec<Receiver> = Vec::new();
        let mut by_domain = HashMap::new();
        let mut weights: Vec<(u32, f64)> = Vec::new();
        let mut shared = vec![None; scenario.receivers.len()];
        let mut new_server = |class: usize, domain: &str, draw_of: u64| -> Result<u32, String> {
            let spec = &scenario.receivers[class];
            let pick = |field: u64| draw(seed, 100 + field, draw_of);
            let mut destination = Destination::new(domain).map_err(|e| e.to_string())?;
            if let Some(mx) = spec.mx.as_deref().filter(|_| !spec.per_domain) {
                destination = destination.with_mx(mx).map_err(|e| e.to_string())?;
            }
            receivers.push(Receiver {
                class,
                hidden: hidden(spec, &pick),
                steps: steps(&spec.changes, 0),
                destination,
            });
            Ok((receivers.len() - 1) as u32)
        };
        // The named domains: a provider's share one site; a per-domain class's each its own.
        let mut draws = 0u64;
        for (class, spec) in scenario.receivers.iter().enumerate() {
            for (domain, share) in &spec.domains {
                let receiver = match shared[class] {
                    Some(r) if !spec.per_domain => r,
                    _ => {
                        draws += 1;
                        let r = new_server(class, domain, u64::MAX - draws)?;
                        if !spec.per_domain {
                            shared[class] = Some(r);
                        }
                        r
                    }
                };
                if by_domain.insert(domain.clone(), receiver).is_some() {
                    return Err(format!("domain {domain} is named twice"));
                }
                weights.push((receiver, *share));
            }
        }
        // The tail: Zipf over tail_share, each domain hosted by a class drawn by `tail`.
        let named = by_domain.len();
        let tail = c.domains.saturating_sub(named);
        let hosting: f64 = scenario.receivers.iter().map(|r| r.tail).sum();
        let zipf: f64 = (0..tail).map(|k| 1.0 / (k as f64 + 10.0)).sum();
        if c.tail_share > 0.0 {
            for k in 0..tail {
                let domain = format!("d{k}.example.net");
                let u = unit(draw(seed, 1, k as u64)) * hosting;
                let mut sum = 0.0;
                let class = scenario
                    .receivers
                    .iter()
                    .position(|r| {
                        sum += r.tail;
                        u < sum
                    })
                    .unwrap_or_else(|| {
                        scenario
                            .receivers
                            .iter()
                            .rposition(|r| r.tail > 0.0)
                            .unwrap_or(0)
                    });
                let spec = &scenario.receivers[class];
                let receiver = match shared[class] {
                    Some(r) if !spec.per_domain => r,
                    _ => {
                        let r = new_server(class, &domain, k as u64)?;
                        if !spec.per_domain {
                            shared[class] = Some(r);
                        }
                        r
                    }
                };
                if spec.per_domain {
                    by_domain.insert(domain, receiver);
                }
                weights.push((receiver, c.tail_share / zipf / (k as f64 + 10.0)));
            }
        }
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut sum = 0.0;
        for (receiver, weight) in &weights {
            sum += weight;
            cumulative.push((sum, *receiver));
        }
        if cumulative.is_empty() || sum <= 0.0 {
            return Err("the scenario sends no mail anywhere (every share is 0)".into());
        }
        let f = &c.fates;
        let (unknown, full, full_for) = (
            f.unknown,
            f.unknown + f.full,
            f.unknown + f.full + f.full_for,
        );
        let [low, high] = f.full_for_minutes;
        let messages = (0..c.messages as u64)
            .map(|i| {
                let u = unit(draw(seed, 5, i)) * sum;
                let at = cumulative.partition_point(|(c, _)| *c < u);
                let receiver = cumulative[at.min(cumulative.len() - 1)].1;
                let f = unit(draw(seed, 6, i));
                let fate = if f < unknown {
                    Fate::Unknown
                } else if f < full {
                    Fate::Full
                } else if f < full_for {
                    Fate::FullFor((low + draw(seed, 7, i) % (high - low + 1)) * MINUTE)
                } else {
                    Fate::Deliverable
                };
                Message {
                    receiver,
                    ip: (i % ips.len() as u64) as u8,
                    fate,
                }
            })
            .collect();
        Ok(Self {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            classes: scenario.receivers.iter().map(|r| r.name.clone()).collect(),
            ips,
            receivers,
            messages,
            domains: named + tail,
            seed,
            busy_one_in: c.noise.busy_one_in,
            lost_one_in: c.noise.lost_one_in,
            by_domain,
            replies,
        })
    }

    /// Messages a perfect sender delivers.
    pub fn deliverable(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| m.fate.deliverable())
            .count()
    }

    /// The least time the hidden limits allow a sender that knows them but not which
    /// mailboxes are full: each (IP, receiver)'s messages in queue order, each as
    /// early as the limits allow (see [`Receiver::earliest`]); a greylisted message
    /// delivered no sooner than the delay after its first attempt, a full mailbox no
    /// sooner than it frees after its first attempt (one retry, exactly then).
    pub fn ideal(&self) -> Ms {
        let ips = self.ips.len();
        let mut lanes: Vec<Vec<Fate>> = vec![Vec::new(); self.receivers.len() * ips];
        for m in &self.messages {
            lanes[m.receiver as usize * ips + m.ip as usize].push(m.fate);
        }
        lanes
            .iter()
            .enumerate()
            .filter(|(_, fates)| fates.iter().any(|f| f.deliverable()))
            .map(|(at, fates)| self.receivers[at / ips].earliest(fates))
            .max()
            .unwrap_or(0)
    }

    /// The route a session to `receiver` from `ip` is opened for.
    pub fn route(&self, receiver: u32, ip: u8) -> Route {
        Route::new(
            self.ips[ip as usize],
            self.receivers[receiver as usize].destination.clone(),
        )
    }
}

impl Receiver {
    /// When a perfect sender from one IP is done with `fates` (its messages to this
    /// receiver, in queue order): each attempt that spends a token (every one but an
    /// unknown user's, which is refused first) as early as the bucket (tarpitting
    /// holds to the same rate), every window and the connection-open window allow, at
    /// most `connections` at once each taking `service`, under the limits in force
    /// then; a greylisted message done the delay after its turn, a mailbox full for a
    /// while done when it frees after its turn.
    pub fn earliest(&self, fates: &[Fate]) -> Ms {
        let h = &self.hidden;
        let mut t = 0.0f64;
        let mut tokens = h.burst;
        let mut refilled = 0.0f64;
        let mut windows: Vec<(f64, u32)> = vec![(f64::NEG_INFINITY, 0); h.windows.len()];
        let mut connects = (f64::NEG_INFINITY, 0u32);
        let mut done = 0.0f64;
        let mut sent = 0u64;
        for fate in fates {
            if *fate == Fate::Unknown {
                continue;
            }
            let opens = h.per_connection.is_some_and(|m| sent % u64::from(m) == 0);
            loop {
                let now = self.now(t as Ms);
                let mut moved = false;
                if let Some(rate) = h.per_minute {
                    let per_ms = rate * now.factor / MINUTE as f64;
                    tokens = (tokens + (t - refilled) * per_ms).min(h.burst * now.factor);
                    refilled = t;
                    if tokens < 1.0 {
                        // Exactly one token then: recomputing it could fall short by
                        // a rounding error and never get there.
                        t += (1.0 - tokens) / per_ms;
                        tokens = 1.0;
                        refilled = t;
                    }
                }
                for (w, &(count, length)) in windows.iter_mut().zip(&h.windows) {
                    if t >= w.0 + length as f64 {
                        *w = (t, 0);
                    }
                    if f64::from(w.1) >= scaled(count, now.factor) {
                        t = w.0 + length as f64;
                        moved = true;
                        break;
                    }
                }
                if let (true, false, Some((count, length))) = (opens, moved, h.connects) {
                    if t >= connects.0 + length as f64 {
                        connects = (t, 0);
                    }
                    if connects.1 >= count {
                        t = connects.0 + length as f64;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
            let now = self.now(t as Ms);
            tokens -= 1.0;
            for w in &mut windows {
                w.1 += 1;
            }
            if opens {
                connects.1 += 1;
            }
            sent += 1;
            let extra = match fate {
                Fate::FullFor(time) => *time as f64,
                Fate::Deliverable => h.greylist.unwrap_or(0) as f64,
                _ => 0.0,
            };
            done = done.max(t + extra);
            t += h.service as f64 / f64::from(now.connections.max(1));
        }
        done.ceil() as Ms
    }
}

/// The receivers' state during one policy's run, on one virtual clock.
pub struct World<'c> {
    pub campaign: &'c Campaign,
    /// The throttle's clock, kept at `now`.
    pub clock: FakeRelativeClock,
    now: Cell<Ms>,
    standing: RefCell<Vec<Standing>>,
    /// First attempt of each message (greylisting, temporarily full mailboxes).
    first_seen: RefCell<Vec<Ms>>,
    sends: Cell<u64>,
    blocks: Cell<u32>,
    /// Refusals by kind: rate, window, connections, connection opens.
    refusals: Cell<[u64; 4]>,
    /// How long the last answer took (its service time and any tarpit hold).
    answer: Cell<Ms>,
}

impl<'c> World<'c> {
    pub fn new(campaign: &'c Campaign) -> Self {
        let ips = campaign.ips.len();
        let standing = campaign
            .receivers
            .iter()
            .flat_map(|r| {
                (0..ips).map(|_| Standing {
                    tokens: r.hidden.burst,
                    windows: vec![(0, 0); r.hidden.windows.len()],
                    ..Standing::default()
                })
            })
            .collect();
        Self {
            campaign,
            clock: FakeRelativeClock::default(),
            now: Cell::new(0),
            standing: RefCell::new(standing),
            first_seen: RefCell::new(vec![Ms::MAX; campaign.messages.len()]),
            sends: Cell::new(0),
            blocks: Cell::new(0),
            refusals: Cell::new([0; 4]),
            answer: Cell::new(0),
        }
    }

    pub fn now(&self) -> Ms {
        self.now.get()
    }

    /// Moves virtual time (and the throttle's clock) forward to `to`.
    pub fn advance(&self, to: Ms) {
        let now = self.now.get();
        if to > now {
            self.clock.advance(Duration::from_millis(to - now));
            self.now.set(to);
        }
    }

    /// Times a receiver blocked a sending IP.
    pub fn blocks(&self) -> u32 {
        self.blocks.get()
    }

    /// Refusals by kind: rate, window, connections, connection opens.
    pub fn refusals(&self) -> [u64; 4] {
        self.refusals.get()
    }

    fn refused(&self, kind: usize) {
        let mut r = self.refusals.get();
        r[kind] += 1;
        self.refusals.set(r);
    }

    /// How long the last answer took to come.
    pub fn answer_time(&self) -> Ms {
        self.answer.get()
    }

    fn strike(&self, s: &mut Standing, r: &Receiver) {
        let now = self.now();
        let hidden = &r.hidden;
        s.strikes = (s.strikes - (now - s.struck) as f64 / hidden.fade as f64).max(0.0) + 1.0;
        s.struck = now;
        if s.strikes >= r.now(now).strikes {
            s.strikes = 0.0;
            s.blocked_until = now + hidden.block;
            self.blocks.set(self.blocks.get() + 1);
        }
    }

    fn pair(&self, route: &Route) -> Result<(u32, usize), TransportError> {
        let campaign = self.campaign;
        let receiver = *campaign
            .by_domain
            .get(route.destination().domain())
            .ok_or_else(|| TransportError::Other("unknown domain".into()))?;
        let ip = campaign
            .ips
            .iter()
            .position(|ip| *ip == route.source())
            .ok_or_else(|| TransportError::Other("not our IP".into()))?;
        Ok((receiver, receiver as usize * campaign.ips.len() + ip))
    }

    /// Opens a connection: refused by a block, past the connection cap and past the
    /// connection-open window.
    pub fn connect(&self, route: &Route) -> Result<Connection<'_, 'c>, TransportError> {
        let (receiver, at) = self.pair(route)?;
        let now = self.now();
        let r = &self.campaign.receivers[receiver as usize];
        let replies = &self.campaign.replies[r.class].0;
        let mut standing = self.standing.borrow_mut();
        let s = &mut standing[at];
        if s.blocked_until > now {
            return Err(TransportError::Rejected(replies.block.clone()));
        }
        if s.connections >= r.now(now).connections {
            self.refused(2);
            self.strike(s, r);
            return Err(TransportError::Rejected(replies.connections.clone()));
        }
        if let Some((count, length)) = r.hidden.connects {
            if !window_room(&mut s.connects, length, f64::from(count), now) {
                self.refused(3);
                self.strike(s, r);
                return Err(TransportError::Rejected(replies.connects.clone()));
            }
            s.connects.1 += 1;
        }
        s.connections += 1;
        Ok(Connection {
            world: self,
            receiver,
            at,
            delivered: 0,
        })
    }

    /// The receiver's answer to one message on `connection`.
    pub fn deliver(
        &self,
        connection: &mut Connection<'_, 'c>,
        id: u32,
    ) -> Result<Reply, TransportError> {
        let now = self.now();
        let campaign = self.campaign;
        let r = &campaign.receivers[connection.receiver as usize];
        let (replies, refusals) = &campaign.replies[r.class];
        let hidden = &r.hidden;
        self.answer.set(hidden.service);
        let message = campaign.messages[id as usize];
        let sends = self.sends.get() + 1;
        self.sends.set(sends);
        let mut standing = self.standing.borrow_mut();
        let s = &mut standing[connection.at];
        if s.blocked_until > now {
            return Ok(replies.block.clone());
        }
        if hidden
            .per_connection
            .is_some_and(|m| connection.delivered >= m)
        {
            return Ok(replies.per_connection.clone());
        }
        let luck = draw(campaign.seed, 8, sends);
        if campaign.lost_one_in > 0 && luck % campaign.lost_one_in == 0 {
            return Err(TransportError::ConnectionLost(
                "connection reset by peer".into(),
            ));
        }
        if campaign.busy_one_in > 0 && luck % campaign.busy_one_in == 1 {
            return Ok(replies.busy.clone());
        }
        if message.fate == Fate::Unknown {
            return Ok(replies.unknown.clone());
        }
        let mut first_seen = self.first_seen.borrow_mut();
        let first = &mut first_seen[id as usize];
        if *first == Ms::MAX {
            *first = now;
        }
        if hidden.greylist.is_some_and(|delay| now - *first < delay) {
            return Ok(replies.greylisted.clone());
        }
        let limits = r.now(now);
        let refusal = |normal: &Reply| {
            limits
                .refusal
                .and_then(|i| refusals.get(i))
                .unwrap_or(normal)
                .clone()
        };
        if let Some(rate) = hidden.per_minute {
            let per_ms = rate * limits.factor / MINUTE as f64;
            s.tokens =
                (s.tokens + (now - s.refilled) as f64 * per_ms).min(hidden.burst * limits.factor);
            s.refilled = now;
            if s.tokens < 1.0 {
                let hold = ((1.0 - s.tokens) / per_ms).ceil() as Ms;
                if hidden.tarpit.is_some_and(|most| hold <= most) {
                    self.answer.set(hidden.service + hold);
                } else {
                    self.refused(0);
                    self.strike(s, r);
                    return Ok(refusal(&replies.rate));
                }
            }
        }
        let full = s
            .windows
            .iter_mut()
            .zip(&hidden.windows)
            .any(|(w, &(count, length))| {
                !window_room(w, length, scaled(count, limits.factor), now)
            });
        if full {
            self.answer.set(hidden.service);
            self.refused(1);
            self.strike(s, r);
            return Ok(refusal(&replies.window));
        }
        if hidden.per_minute.is_some() {
            s.tokens -= 1.0;
        }
        for w in &mut s.windows {
            w.1 += 1;
        }
        connection.delivered += 1;
        Ok(match message.fate {
            Fate::Full => &replies.full,
            Fate::FullFor(time) if now - *first < time => &replies.full_for_now,
            _ => &replies.accepted,
        }
        .clone())
    }
}

/// An open connection; closing it frees the receiver's slot.
pub struct Connection<'w, 'c> {
    world: &'w World<'c>,
    receiver: u32,
    at: usize,
    /// Messages accepted on it.
    delivered: u32,
}

impl Drop for Connection<'_, '_> {
    fn drop(&mut self) {
        let mut standing = self.world.standing.borrow_mut();
        standing[self.at].connections -= 1;
    }
}

/// The SMTP client every policy sends with.
#[derive(Clone, Copy)]
pub struct Client<'w, 'c>(pub &'w World<'c>);

impl<'w, 'c> Sender<u32> for Client<'w, 'c> {
    type Session = Connection<'w, 'c>;
    fn open(&self, route: &Route) -> Result<Connection<'w, 'c>, TransportError> {
        self.0.connect(route)
    }
    fn send(&self, session: &mut Connection<'w, 'c>, id: &u32) -> Result<Reply, TransportError> {
        self.0.deliver(session, id.to_owned())
    }
}

/// A reply's code, a failed connection's as 421 (how a sender that reads only codes
/// sees an attempt).
pub fn code(attempt: &Result<Reply, TransportError>) -> u16 {
    match attempt {
        Ok(reply) | Err(TransportError::Rejected(reply)) => reply.code().get(),
        Err(_) => 421,
    }
}
