//! The discrete-event loop: queues per (sending IP, receiver), sessions that carry
//! messages one after another, and a policy that decides when to open, send and retry.
//! The same loop runs every policy, so the figures differ only by the policy.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use smtp_throttle::route::Route;
use smtp_throttle::throttle::TransportError;

use crate::world::{Campaign, Ms, World, DAY, MINUTE, SECOND};

/// Sessions a sending machine runs at once per source IP (Postfix's default process
/// limit is 100).
pub const SESSIONS_PER_IP: u32 = 100;
/// Time to connect, greet and EHLO.
const CONNECT: Ms = 300;
/// A session that must wait longer than this for its rate is closed.
const IDLE: Ms = 10 * SECOND;
/// The run stops here whatever is still queued (past every policy's maximum age).
pub const HORIZON: Ms = 6 * DAY;

/// What a policy says to "open a session for this route".
pub enum Open<S> {
    Session(S),
    /// Not now: try again at this time, or when one of the route's sessions ends.
    Wait(Option<Ms>),
    /// The connection failed; the route's first message takes the outcome.
    Failed(TransportError),
}

/// What became of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry(Ms),
    Bounced,
}

/// What a policy says to "send the route's next message on this session".
pub enum Step {
    /// Sent; whether the session goes on.
    Sent(Verdict, bool),
    /// Not sent: wait until then (or, with `None`, end the session); `true` ends it.
    Wait(Option<Ms>, bool),
}

/// A way of sending: naive, fixed limits, or the crate's throttle.
pub trait Policy {
    /// An open session.
    type Session<'a>
    where
        Self: 'a;
    /// What the policy keeps per message (its retry history).
    type Memo;
    /// The name printed in the table.
    fn name(&self) -> &'static str;
    /// A new message's memo.
    fn memo(&self) -> Self::Memo;
    /// Opens a session on `route`, which has `sessions` open already.
    fn open(&self, route: &Route, sessions: u32) -> Open<Self::Session<'_>>;
    /// Sends message `id` on `session`.
    fn send<'a>(
        &'a self,
        session: &mut Self::Session<'a>,
        route: &Route,
        id: u32,
        memo: &mut Self::Memo,
    ) -> Step;
    /// The outcome of message `id` whose connection failed.
    fn failed(&self, route: &Route, error: TransportError, memo: &mut Self::Memo) -> Verdict;
}

/// One policy's figures.
#[derive(Clone, Debug)]
pub struct Report {
    pub policy: &'static str,
    pub delivered: u64,
    pub bounced: u64,
    /// Deferred attempts (each later retried or given up).
    pub deferrals: u64,
    /// Messages still queued at the horizon.
    pub queued: u64,
    /// Times a receiver blocked a sending IP.
    pub blocks: u32,
    /// Refusals by kind: rate, window, connections, connection opens.
    pub refusals: [u64; 4],
    /// Virtual time when the last message was delivered or bounced.
    pub drain: Ms,
    pub wall: Duration,
    /// Deliveries per virtual minute per receiver class.
    pub per_minute: Vec<Vec<u32>>,
    /// The last messages settled: (time, message).
    pub last: VecDeque<(Ms, u32)>,
}

/// A queue of messages for one (receiver, source IP).
struct Lane {
    route: Route,
    ready: VecDeque<u32>,
    sessions: u32,
    wake: Ms,
    starved: bool,
}

const DUE: u8 = 0;
const STEP: u8 = 1;
const WAKE: u8 = 2;

struct Run<'p, 'w, 'c, P: Policy + 'p> {
    policy: &'p P,
    world: &'w World<'c>,
    campaign: &'c Campaign,
    lanes: Vec<Lane>,
    memos: Vec<P::Memo>,
    sessions: Vec<Option<(u32, P::Session<'p>)>>,
    free: Vec<u32>,
    ip_sessions: Vec<u32>,
    starved: Vec<VecDeque<u32>>,
    events: BinaryHeap<Reverse<(Ms, u64, u8, u32)>>,
    /// Messages due again, by time: one event per time, however many come due then.
    due: HashMap<Ms, Vec<u32>>,
    seq: u64,
    done: u64,
    report: Report,
}

/// Runs the campaign under `policy`; `progress(done, now)` is called now and then.
pub fn run<P: Policy>(world: &World<'_>, policy: &P, progress: &dyn Fn(u64, Ms)) -> Report {
    let started = Instant::now();
    let campaign = world.campaign;
    let ips = campaign.ips.len();
    let lanes = (0..campaign.receivers.len() * ips)
        .map(|at| Lane {
            route: campaign.route((at / ips) as u32, (at % ips) as u8),
            ready: VecDeque::new(),
            sessions: 0,
            wake: Ms::MAX,
            starved: false,
        })
        .collect();
    let mut run = Run {
        policy,
        world,
        campaign,
        lanes,
        memos: (0..campaign.messages.len())
            .map(|_| policy.memo())
            .collect(),
        sessions: Vec::new(),
        free: Vec::new(),
        ip_sessions: vec![0; ips],
        starved: vec![VecDeque::new(); ips],
        events: BinaryHeap::new(),
        due: HashMap::new(),
        seq: 0,
        done: 0,
        report: Report {
            policy: policy.name(),
            delivered: 0,
            bounced: 0,
            deferrals: 0,
            queued: 0,
            blocks: 0,
            refusals: [0; 4],
            drain: 0,
            wall: Duration::ZERO,
            per_minute: Vec::new(),
            last: VecDeque::new(),
        },
    };
    for (id, message) in campaign.messages.iter().enumerate() {
        let lane = message.receiver as usize * ips + message.ip as usize;
        run.lanes[lane].ready.push_back(id as u32);
    }
    for lane in 0..run.lanes.len() {
        run.kick(lane as u32);
    }
    let mut handled = 0u64;
    while let Some(Reverse((at, _, kind, index))) = run.events.pop() {
        if at > HORIZON {
            break;
        }
        world.advance(at);
        match kind {
            DUE => {
                let due = run.due.remove(&at).unwrap_or_default();
                let mut lanes = Vec::new();
                for id in due {
                    let message = campaign.messages[id as usize];
                    let lane = message.receiver * ips as u32 + u32::from(message.ip);
                    if lanes.last() != Some(&lane) {
                        lanes.push(lane);
                    }
                    run.lanes[lane as usize].ready.push_back(id);
                }
                lanes.sort_unstable();
                lanes.dedup();
                for lane in lanes {
                    run.kick(lane);
                }
            }
            STEP => run.step(index),
            _ => {
                if run.lanes[index as usize].wake == at {
                    run.lanes[index as usize].wake = Ms::MAX;
                    run.kick(index);
                }
            }
        }
        handled += 1;
        if handled % 65_536 == 0 {
            progress(run.done, world.now());
        }
    }
    progress(run.done, world.now());
    let total = campaign.messages.len() as u64;
    run.report.queued = total - run.done;
    run.report.blocks = world.blocks();
    run.report.refusals = world.refusals();
    run.report.wall = started.elapsed();
    run.report
}

impl<'p, P: Policy> Run<'p, '_, '_, P> {
    fn at(&mut self, at: Ms, kind: u8, index: u32) {
        self.seq += 1;
        let at = at.max(self.world.now());
        self.events.push(Reverse((at, self.seq, kind, index)));
    }

    fn wake(&mut self, lane: u32, at: Ms) {
        let at = at.max(self.world.now() + 1);
        if at < self.lanes[lane as usize].wake {
            self.lanes[lane as usize].wake = at;
            self.at(at, WAKE, lane);
        }
    }

    /// Opens sessions for `lane` while it has more messages waiting than sessions.
    fn kick(&mut self, lane: u32) {
        let ip = lane as usize % self.campaign.ips.len();
        loop {
            let l = &mut self.lanes[lane as usize];
            if l.ready.len() as u32 <= l.sessions {
                return;
            }
            if self.ip_sessions[ip] >= SESSIONS_PER_IP {
                if !l.starved {
                    l.starved = true;
                    self.starved[ip].push_back(lane);
                }
                return;
            }
            let policy: &'p P = self.policy;
            match policy.open(&l.route, l.sessions) {
                Open::Session(session) => {
                    l.sessions += 1;
                    self.ip_sessions[ip] += 1;
                    let id = match self.free.pop() {
                        Some(id) => {
                            self.sessions[id as usize] = Some((lane, session));
                            id
                        }
                        None => {
                            self.sessions.push(Some((lane, session)));
                            (self.sessions.len() - 1) as u32
                        }
                    };
                    self.at(self.world.now() + CONNECT, STEP, id);
                }
                Open::Wait(Some(until)) => return self.wake(lane, until),
                Open::Wait(None) => {
                    if l.sessions == 0 {
                        self.wake(lane, self.world.now() + SECOND);
                    }
                    return;
                }
                Open::Failed(error) => {
                    let Some(id) = l.ready.pop_front() else {
                        return;
                    };
                    let verdict = policy.failed(&l.route, error, &mut self.memos[id as usize]);
                    self.settle(id, verdict);
                }
            }
        }
    }

    /// A session sends its lane's next message.
    fn step(&mut self, id: u32) {
        let Some((lane, mut session)) = self.sessions[id as usize].take() else {
            return;
        };
        let l = &mut self.lanes[lane as usize];
        let Some(&message) = l.ready.front() else {
            return self.close(id, lane);
        };
        let policy: &'p P = self.policy;
        let step = policy.send(
            &mut session,
            &l.route,
            message,
            &mut self.memos[message as usize],
        );
        let now = self.world.now();
        match step {
            Step::Sent(verdict, goes_on) => {
                l.ready.pop_front();
                self.sessions[id as usize] = Some((lane, session));
                self.settle(message, verdict);
                if goes_on {
                    let answer = self.world.answer_time();
                    self.at(now + answer, STEP, id);
                } else {
                    self.close(id, lane);
                }
            }
            Step::Wait(Some(until), false) if until <= now + IDLE => {
                self.sessions[id as usize] = Some((lane, session));
                self.at(until.max(now + 1), STEP, id);
            }
            Step::Wait(until, _) => {
                drop(session);
                self.close(id, lane);
                if let Some(until) = until {
                    self.wake(lane, until);
                }
            }
        }
    }

    /// Ends session `id` (already taken out or still in its slot) and lets others open.
    fn close(&mut self, id: u32, lane: u32) {
        self.sessions[id as usize] = None;
        self.free.push(id);
        let ip = lane as usize % self.campaign.ips.len();
        self.lanes[lane as usize].sessions -= 1;
        self.ip_sessions[ip] -= 1;
        self.kick(lane);
        while self.ip_sessions[ip] < SESSIONS_PER_IP {
            let Some(next) = self.starved[ip].pop_front() else {
                break;
            };
            self.lanes[next as usize].starved = false;
            self.kick(next);
        }
    }

    fn settle(&mut self, id: u32, verdict: Verdict) {
        let now = self.world.now();
        match verdict {
            Verdict::Retry(at) => {
                self.report.deferrals += 1;
                let at = at.max(now + 1);
                let due = self.due.entry(at).or_default();
                due.push(id);
                if due.len() == 1 {
                    self.at(at, DUE, 0);
                }
                return;
            }
            Verdict::Delivered => {
                self.report.delivered += 1;
                let minute = (now / MINUTE) as usize;
                let per_minute = &mut self.report.per_minute;
                if per_minute.len() <= minute {
                    per_minute.resize(minute + 1, vec![0; self.campaign.classes.len()]);
                }
                let receiver = self.campaign.messages[id as usize].receiver as usize;
                per_minute[minute][self.campaign.receivers[receiver].class] += 1;
            }
            Verdict::Bounced => self.report.bounced += 1,
        }
        self.done += 1;
        self.report.drain = now;
        if self.report.last.len() == 40 {
            self.report.last.pop_front();
        }
        self.report.last.push_back((now, id));
    }
}
