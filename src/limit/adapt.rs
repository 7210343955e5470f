//! How one classified reply moves a pair's limits: [`Adaptive`] and [`adapt`], a pure
//! function of the pair's state (no locks, no store), unit-tested here.
//!
//! The algorithm, per (source IP, site) pair, from what a sender sees (replies and
//! their timing), never from the receiver's hidden limits:
//!
//! - **Rate**: additive increase towards the configured ceiling (a step of it every
//!   `ramp_after` deliveries), back at once to 90 % of the rate the receiver last
//!   refused and creeping past it — after a discovery (a full `decrease`, the capacity
//!   anywhere in the step below the rate refused) first to halfway down that step,
//!   held there 5 steps, so that a receiver that counts refusals towards a block does
//!   not see a second series of them; multiplicative decrease on a rate or reputation
//!   objection — by `decrease` when the rate is far above anything refused (the first
//!   discovery), by 10 % when it is back near the rate refused last (the ceiling found
//!   again), so that the pair holds just under the receiver's capacity instead of
//!   falling to half of it at every objection.
//! - **Pauses as long as the receiver shows it needs**: the server's hint when it gives
//!   one; else a short first pause (30 s for a rate objection, 5 s for a busy server),
//!   doubled each time the objection comes back before `ramp_after` deliveries after a
//!   pause (the receiver had not recovered: a full window that had not reopened),
//!   up to the setting's longest, and short again after a pause that was enough.
//! - **Episodes**: objections heard by other sessions during a pause, and those that
//!   come back before anything was delivered after it (a window still full: an
//!   hourly cap refuses until the hour ends), are one episode: the rate moves once,
//!   the pause doubles. So a full fixed window is waited out at the rate that filled
//!   it, where slowing down at every refusal would take the rate to the floor.
//! - **Windows**: once two runs bound a fixed window's length, the pause lasts until
//!   the current one should end, halving in on the length. Before that, a rate
//!   objection without a hint waits until the run that filled the window is the next
//!   round length old — 10 s, 30 s, a minute, two: the units Postfix's
//!   `anvil_rate_time_unit` is set in — and a thirtieth more (anvil counts in whole
//!   seconds from the connection), when that is no later than half as long again as
//!   the pause would be: a minute's window is neither overshot by the growing pause
//!   nor probed a moment before its end. Longer windows (hourly, daily caps) are
//!   probed by the growing pauses, at most `rate_limited_pause` apart: a guess from
//!   the run's start would be wrong there, since the run that filled a day's cap
//!   began when the last hour's window reopened.
//! - **Reputation** replies slow down hard (by `decrease`, never the 10 % step) and
//!   pause 5 minutes, doubling up to `reputation_pause` while they persist.
//! - **Escalation** (alerts, long suspensions) counts an episode only when slowing
//!   down did not help: the first, and each that comes back before `ramp_after`
//!   deliveries after a pause. An objection after a run of deliveries is the ceiling
//!   found again, the price of holding just under it.
//! - **Sessions**: a new pair starts with `initial_sessions` (slow start); a refused
//!   connection, a 421 or "too many connections" lowers the cap below what was in
//!   flight and remembers that count; a ramp-up step adds a session only if no
//!   session had to wait for the rate since the last step (more sessions would not
//!   send more), and under a configured cap holds one below the refused count, trying
//!   one more every 25 steps.
//! - **Connection opens**: "too many connections" at connect doubles a spacing
//!   between opens (2 s up to a minute; the receiver counts opens per window, as
//!   anvil does), which each ramp-up step shrinks by a tenth.
//! - **Per-session caps** ("too many messages in this connection", rule
//!   `text.session_limit`, scope `connection`) end the session and leave the rate
//!   alone.

use std::time::Duration;

use governor::clock::Clock;

use super::connect::Connections;
use super::rate::{Rate, MAX_PERIOD};
use super::state::{Pair, PauseMemory};
use super::time::later;
use crate::classify::{Category, Classification, Scope, Severity};
use crate::error::ConfigError;
use crate::reply::Command;

/// How a pair's limits follow what the receiver says (see
/// [`Limits::feedback`](super::Limits::feedback)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adaptive {
    /// A rate or reputation deferral multiplies the pair's rate by this (0 < f < 1),
    /// unless the rate is back near the rate last refused: then it takes 10 % off.
    pub decrease: f64,
    /// The pair's rate never goes below this.
    pub floor: Rate,
    /// Successes in a row before the pair's rate and sessions step back up.
    pub ramp_after: u32,
    /// Each step adds this share of the configured ceiling to the rate (0 < s ≤ 1).
    pub ramp_step: f64,
    /// The longest suspension after a `rate_limited` deferral without a server hint:
    /// the first is 30 s (at most this), doubled each time the pair is refused again
    /// before `ramp_after` deliveries after a pause, and back to 30 s after a pause
    /// that was enough.
    pub rate_limited_pause: Duration,
    /// The longest suspension after a `reputation` deferral without a server hint:
    /// the first is 5 minutes (at most this), doubled like the rate pause.
    pub reputation_pause: Duration,
    /// The longest suspension after a `server_busy` reply without a server hint: the
    /// first is 5 s (at most this), doubled while the server stays busy (busy again
    /// before `ramp_after` deliveries after a pause).
    pub busy_pause: Duration,
    /// Slow start: the session cap a new pair begins with, when its configured cap is
    /// higher; each ramp-up step adds one, up to the configured cap. `None`: a new
    /// pair may open its whole cap at once. A receiver that counts refused
    /// connections towards a block sees at most this many at first.
    pub initial_sessions: Option<u32>,
}

impl Default for Adaptive {
    /// Halve on the first deferral (10 % off near the rate last refused), floor 1 per
    /// minute, step +10 % of the ceiling every 20 successes; pauses of 30 s up to
    /// 5 minutes (rate), 5 up to 30 minutes (reputation), 5 s up to 1 minute (busy);
    /// a new pair starts with 2 sessions.
    fn default() -> Self {
        Self {
            decrease: 0.5,
            floor: Rate::ONE_PER_MINUTE,
            ramp_after: 20,
            ramp_step: 0.1,
            rate_limited_pause: Duration::from_secs(300),
            reputation_pause: Duration::from_secs(1800),
            busy_pause: Duration::from_secs(60),
            initial_sessions: Some(2),
        }
    }
}

impl Adaptive {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.decrease > 0.0 && self.decrease < 1.0) {
            return Err(ConfigError::OutOfRange {
                setting: "adaptive decrease",
                value: self.decrease,
                range: "0 < decrease < 1",
            });
        }
        if !(self.ramp_step > 0.0 && self.ramp_step <= 1.0) {
            return Err(ConfigError::OutOfRange {
                setting: "adaptive ramp_step",
                value: self.ramp_step,
                range: "0 < ramp_step <= 1",
            });
        }
        if self.ramp_after == 0 {
            return Err(ConfigError::Zero {
                setting: "adaptive ramp_after",
            });
        }
        if self.initial_sessions == Some(0) {
            return Err(ConfigError::Zero {
                setting: "adaptive initial_sessions",
            });
        }
        for (setting, pause) in [
            ("rate_limited_pause", self.rate_limited_pause),
            ("reputation_pause", self.reputation_pause),
            ("busy_pause", self.busy_pause),
        ] {
            if pause > MAX_PERIOD {
                return Err(ConfigError::TooLong {
                    setting,
                    value: pause,
                    max: MAX_PERIOD,
                });
            }
        }
        Ok(())
    }
}

/// Whether a reply is about the route at all. Recipient- and message-level replies
/// (one mailbox's rate, one message's size) leave the route's limits alone, and so does
/// a 4xx to `RCPT TO`: it defers that recipient only (Postfix's rule).
pub(super) fn about_route(reply: &Classification) -> bool {
    let recipient_deferral =
        reply.command == Some(Command::RcptTo) && reply.severity == Severity::Transient;
    !matches!(reply.scope, Scope::Recipient | Scope::Message) && !recipient_deferral
}

/// Whether the reply refused the session before any message: at connect, greeting,
/// EHLO, STARTTLS or AUTH.
fn at_connect(reply: &Classification) -> bool {
    matches!(
        reply.command,
        Some(
            Command::Connect
                | Command::Greeting
                | Command::Ehlo
                | Command::StartTls
                | Command::Auth
        )
    )
}

/// Applies one reply to the pair (see [`Limits::feedback`](super::Limits::feedback)).
/// `fleet_sessions`: the pair's sessions open in the whole fleet, when a shared store
/// told (0 otherwise).
///
/// The stage decides with the category, as Postfix's queue manager does: a refusal at
/// connect, greeting or EHLO, and any 421 (which closes the session), is feedback on
/// the pair's concurrency — fewer sessions, and after a failed connection the next one
/// waits; a rate objection to MAIL, DATA or the message moves the rate; a 4xx to RCPT
/// concerns one recipient. Without a stage, the category alone decides.
pub(super) fn adapt<C: Clock + Clone>(
    clock: &C,
    pair: &mut Pair<C>,
    reply: &Classification,
    now: C::Instant,
    tuning: (&Adaptive, &Connections),
    fleet_sessions: u32,
) {
    let (adaptive, connections) = tuning;
    if reply.severity == Severity::Success {
        pair.taken_again(now);
        pair.taken = pair.taken.saturating_add(1);
        pair.memory().taken_since.get_or_insert(now);
        pair.gate.succeeded();
        pair.successes = pair.successes.saturating_add(1);
        if pair.successes >= adaptive.ramp_after {
            pair.successes = 0;
            ramp_up(clock, pair, adaptive, now);
        }
        return;
    }
    if !about_route(reply) {
        // The receiver took the transaction's pace and answered for one recipient or
        // message (greylisted, unknown user, full mailbox): for the pauses, as good as
        // a delivery.
        pair.taken_again(now);
        return;
    }
    // A server's hint is honoured up to the longest pause a setting may have.
    let pause_until =
        |default: Duration| later(now, reply.retry_hint.unwrap_or(default).min(MAX_PERIOD));
    let closes = reply.code.is_some_and(|code| code.get() == 421);
    // Only a refused connection says how many the receiver takes; a 421 to a message
    // is concurrency feedback, not a count to hold under.
    let refused = at_connect(reply) || reply.category == Category::TooManyConnections;
    if refused || closes {
        pair.successes = 0;
        fewer_sessions(pair, fleet_sessions, refused);
    }
    // Refused before any message: a failed connection, and not a verdict on the rate
    // unless the server says it is about reputation or names a wait.
    let refused_connection = at_connect(reply) && reply.severity == Severity::Transient;
    if refused_connection {
        pair.gate.failed(connections, now);
        if reply.category == Category::TooManyConnections {
            pair.gate.crowded();
        }
    }
    match reply.category {
        // A limit on one session's messages: that session is over (the next one may
        // carry as many again); not a verdict on the rate.
        Category::RateLimited if reply.scope == Scope::Connection => {}
        // A rate objection at connect is about the connection; reputation is about the
        // sender wherever it comes.
        Category::RateLimited | Category::Reputation
            if reply.category == Category::Reputation || !refused_connection =>
        {
            let suspended = pair.slot.suspended_at(now).is_some();
            let decrease = if pair.continues_episode(now) {
                Decrease::None
            } else if reply.category == Category::Reputation {
                Decrease::Hard
            } else {
                Decrease::Near
            };
            let pauses = if reply.category == Category::Reputation {
                (REPUTATION_FIRST, adaptive.reputation_pause)
            } else {
                (RATE_FIRST, adaptive.rate_limited_pause)
            };
            if decrease != Decrease::None {
                pair.memory().episode_since = Some(now);
            }
            pair.memory().window.refused_at = Some(now);
            let pause = match pair.memory().window.reopens(now) {
                // A receiver whose refusals come in windows of a length seen before:
                // wait for this one to end, not a guess.
                Some(wait) if reply.retry_hint.is_none() && !suspended => {
                    let wait = wait.clamp(Duration::from_secs(1), pauses.1.max(RATE_FIRST));
                    pair.rate_pause.paused(wait);
                    wait
                }
                _ => {
                    // No window learned (the arm above) and nothing else to go by:
                    // the next round length may time the pause.
                    let guess = reply.category == Category::RateLimited
                        && reply.retry_hint.is_none()
                        && !suspended;
                    let pause = pair.rate_pause.next(
                        reply.retry_hint,
                        suspended,
                        pauses,
                        (adaptive.ramp_after, true),
                    );
                    // The guess may shorten the pause, or lengthen it by half at most:
                    // a first pause of 30 s that would land a moment before a
                    // minute's window ends waits for it instead.
                    match pair.memory().window.round_end(now).filter(|_| guess) {
                        Some(to_end) if to_end <= pause.saturating_add(pause / 2) => to_end,
                        _ => pause,
                    }
                }
            };
            throttle(clock, pair, now, (adaptive, decrease), later(now, pause))
        }
        Category::ServerBusy => {
            let suspended = pair.slot.suspended_at(now).is_some();
            let pause = pair.busy_pause.next(
                reply.retry_hint,
                suspended,
                (FIRST_BUSY, adaptive.busy_pause),
                (adaptive.ramp_after, false),
            );
            pair.slot.suspend(later(now, pause));
        }
        _ if refused_connection && reply.retry_hint.is_some() => {
            pair.slot.suspend(pause_until(Duration::ZERO))
        }
        _ => {}
    }
}

/// The first pause after a "server busy" reply: the receiver was busy for a moment
/// (its connection is closed anyway), not objecting to the sender.
const FIRST_BUSY: Duration = Duration::from_secs(5);

/// The first pause after a rate objection without a hint: long enough for a
/// receiver's window of a minute to reopen in two steps.
const RATE_FIRST: Duration = Duration::from_secs(30);

/// The first pause after a reputation deferral without a hint; it doubles, up to
/// the setting, while the receiver keeps objecting soon after each pause.
const REPUTATION_FIRST: Duration = Duration::from_secs(300);

/// What a pair saw of a receiver that refuses in fixed windows (anvil's count per
/// `anvil_rate_time_unit`, an hourly cap): when the current run of accepted mail began,
/// the last refusal, and bounds on the window's length from earlier runs.
#[derive(Clone, Copy, Debug)]
pub(super) struct WindowMemory<I> {
    /// The first reply the receiver took after the last pause (or ever).
    pub(super) start: Option<I>,
    pub(super) refused_at: Option<I>,
    /// The window is at most this long (the shortest run start → reopening seen) and
    /// longer than `floor` (the longest run start → refusal seen).
    pub(super) hint: Option<Duration>,
    pub(super) floor: Duration,
    /// Consistent observations so far.
    pub(super) seen: u32,
}

/// What a pair learned of the receiver's timing (see `Pair::memory`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Memory<I> {
    /// When the first delivery since the last objection came.
    pub(super) taken_since: Option<I>,
    /// When the current objection episode began (its first objection).
    pub(super) episode_since: Option<I>,
    /// Fixed windows the receiver refuses in, as seen so far.
    pub(super) window: WindowMemory<I>,
}

impl<I> Default for Memory<I> {
    fn default() -> Self {
        Self {
            taken_since: None,
            episode_since: None,
            window: WindowMemory::default(),
        }
    }
}

/// How far apart the ends of one receiver's windows of `length` may be observed: a
/// thirtieth of the length, at least a second (whole-second counters, a window started
/// at the connection rather than the first reply).
fn slack(length: Duration) -> Duration {
    (length / 30).max(Duration::from_secs(1))
}

/// Consistent observations before a window's length is trusted.
const WINDOW_SEEN: u32 = 2;

impl<I> Default for WindowMemory<I> {
    fn default() -> Self {
        Self {
            start: None,
            refused_at: None,
            hint: None,
            floor: Duration::ZERO,
            seen: 0,
        }
    }
}

impl<I: governor::clock::Reference> WindowMemory<I> {
    /// The receiver took mail again after a pause: the window that refused it had
    /// reopened, at most `now - start` after the run began and after the refusal.
    fn reopened(&mut self, now: I) {
        if let (Some(start), Some(refused)) = (self.start, self.refused_at) {
            let hi = super::time::since(now, start);
            let lo = super::time::since(refused, start);
            let hint = self.hint.map_or(hi, |h| h.min(hi));
            let floor = self.floor.max(lo);
            if floor < hint {
                self.hint = Some(hint);
                self.floor = floor;
                self.seen = self.seen.saturating_add(1);
            } else if floor < hint + slack(hint) {
                // A receiver that counts in whole seconds from an event before the
                // first reply (anvil: the connection) ends its windows up to a second
                // or two apart: the length is a little longer than the runs said.
                self.hint = Some(floor + slack(hint));
                self.floor = floor;
                self.seen = self.seen.saturating_add(1);
            } else {
                // Not one window length: a bucket, or limits that changed.
                *self = Self::default();
            }
        }
        self.start = Some(now);
        self.refused_at = None;
    }

    /// How long until the current window should have ended, once its length is
    /// bounded by enough runs and it has not ended yet: halfway between the bounds
    /// (a refusal there raises the lower one, a delivery lowers the upper one: a few
    /// windows find the length), then the upper bound once they are 2 s apart.
    fn reopens(&self, now: I) -> Option<Duration> {
        let (start, hint) = (self.start?, self.hint?);
        if self.seen < WINDOW_SEEN {
            return None;
        }
        // This window refused at `refused_at`: it is longer than that too.
        let floor = self
            .refused_at
            .map_or(self.floor, |r| self.floor.max(super::time::since(r, start)));
        let gap = hint.saturating_sub(floor);
        let length = if floor >= hint {
            // Refused past the length learned: a window a little longer (see
            // `reopened`); wait the slack rather than forget what was learned.
            floor + slack(hint)
        } else if gap <= Duration::from_secs(2) {
            hint
        } else {
            floor + gap / 2
        };
        let end = start + governor::nanos::Nanos::from(length);
        (end > now).then(|| super::time::since(end, now))
    }

    /// Before a window's length is learned: how long until the run that filled it is
    /// the next round length old (see [`ROUND_WINDOWS`]), and a thirtieth of it more
    /// (at least a second) — the likeliest end of a window that is still full. The
    /// margin is for receivers that count in whole seconds from an earlier event:
    /// Postfix's anvil starts the window at the connection and resets it only once
    /// the unit has passed by a whole second. A wrong guess costs one refusal and
    /// moves to the next length; `None` past the longest or without a run.
    fn round_end(&self, now: I) -> Option<Duration> {
        let start = self.start?;
        let elapsed = super::time::since(now, start);
        let length = ROUND_WINDOWS.into_iter().find(|&l| l > elapsed)?;
        let end = length + slack(length);
        Some(end.saturating_sub(elapsed).max(Duration::from_secs(1)))
    }
}

/// The short lengths receivers' fixed windows are configured in: Postfix's
/// `anvil_rate_time_unit` (60 s by default, often 10 s or 30 s, sometimes 2 minutes).
const ROUND_WINDOWS: [Duration; 4] = [
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(2 * 60),
];

/// How an objection moves the rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decrease {
    /// The same episode as the last objection: the rate already moved for it.
    None,
    /// A rate objection: 10 % off near the rate refused last, else `decrease`.
    Near,
    /// A reputation signal: always `decrease`.
    Hard,
}

impl<C: Clock> Pair<C> {
    /// The pair's timing memory, made on first use.
    pub(super) fn memory(&mut self) -> &mut Memory<C::Instant> {
        self.memory.get_or_insert_with(Box::default)
    }

    /// The receiver took a transaction (a delivery, or an answer for one recipient):
    /// one more since the last pause; the first after a pause ends a window.
    fn taken_again(&mut self, now: C::Instant) {
        if self.rate_pause.since == 0
            && (self.rate_pause.last_ms > 0
                || self
                    .memory
                    .as_ref()
                    .is_none_or(|m| m.window.start.is_none()))
        {
            self.memory().window.reopened(now);
        }
        self.busy_pause.delivered();
        self.rate_pause.delivered();
    }

    /// Whether an objection now belongs to the last one: the pair is paused for it,
    /// or nothing was delivered since that pause (the receiver had not reopened: a
    /// window still full). Such objections move the rate once and count once.
    pub(super) fn continues_episode(&self, now: C::Instant) -> bool {
        self.slot.suspended_at(now).is_some()
            || (self.rate_pause.last_ms > 0 && self.rate_pause.since == 0)
    }

    /// Whether an objection now counts towards escalation: not one heard during the
    /// pause (another session's), and not one after `ramp_after` deliveries since the
    /// last pause — that is the ceiling found again, which holding just under it costs
    /// now and then. The first objection, and every one that comes back soon after a
    /// pause (slowing down and waiting did not help), count.
    pub(super) fn objection_persists(&self, now: C::Instant, ramp_after: u32) -> bool {
        self.slot.suspended_at(now).is_none()
            && (self.rate_pause.last_ms == 0 || self.rate_pause.since < ramp_after)
    }
}

impl PauseMemory {
    /// One more delivery since the last pause.
    fn delivered(&mut self) {
        self.since = self.since.saturating_add(1);
    }

    /// A pause of `pause` was taken for another reason (a window's end).
    fn paused(&mut self, pause: Duration) {
        self.last_ms = u32::try_from(pause.as_millis()).unwrap_or(u32::MAX).max(1);
        self.since = 0;
    }

    /// The next pause: the server's hint when it gave one (up to the longest pause a
    /// setting may have; the memory is left as it is). Otherwise as long as the
    /// receiver shows it needs: `first` (at most `longest`) for the first episode and
    /// for one that comes after `ramp_after` deliveries since the last pause (that
    /// pause was enough); doubled, up to `longest`, for one that comes sooner (the
    /// receiver had not recovered) — with `windows`, grown by half only when nothing
    /// at all got through since (a window still full). A reply heard during the pause (another session's)
    /// keeps it.
    fn next(
        &mut self,
        hint: Option<Duration>,
        suspended: bool,
        (first, longest): (Duration, Duration),
        (ramp_after, windows): (u32, bool),
    ) -> Duration {
        if let Some(hint) = hint {
            return hint.min(MAX_PERIOD);
        }
        let first = first.min(longest);
        let last = Duration::from_millis(u64::from(self.last_ms));
        if suspended {
            return last.clamp(first, longest);
        }
        let pause = if last.is_zero() || self.since >= ramp_after {
            first
        } else if windows && self.since == 0 {
            // Refused again before anything got through: a window still full. Its
            // end is as likely any moment as the next; grow by half, not double, so
            // that a window of a minute is not waited out twice.
            last.saturating_add(last / 2)
        } else {
            last.saturating_mul(2)
        }
        .clamp(first, longest);
        self.last_ms = u32::try_from(pause.as_millis()).unwrap_or(u32::MAX);
        self.since = 0;
        pause
    }
}

/// A rate or reputation objection: the pair slows down (once an episode) and pauses
/// until `until`.
fn throttle<C: Clock + Clone>(
    clock: &C,
    pair: &mut Pair<C>,
    now: C::Instant,
    (adaptive, decrease): (&Adaptive, Decrease),
    until: C::Instant,
) {
    pair.successes = 0;
    pair.quiet_steps = 0;
    if decrease != Decrease::None {
        slow_down(clock, pair, adaptive, now, decrease == Decrease::Hard);
    }
    pair.slot.suspend(until);
}

/// The session cap drops below the sessions in flight (the fleet's, when known), never
/// below 1. A pair configured without a cap remembers what was refused; one with a cap
/// remembers the count of a `refused` connection, and ramps up to one below it.
fn fewer_sessions<C: Clock>(pair: &mut Pair<C>, fleet_sessions: u32, refused: bool) {
    let in_flight = pair.slot.in_flight.max(fleet_sessions).max(1);
    if pair.session_ceiling.is_none() {
        pair.refused_sessions = pair.refused_sessions.max(in_flight);
    } else if refused {
        pair.refused_sessions = in_flight;
        pair.session_steps = 0;
    }
    let cap = pair.slot.sessions.unwrap_or(in_flight);
    pair.slot.sessions = Some(cap.min(in_flight).saturating_sub(1).max(1));
}

/// Multiplies the pair's rate by the decrease factor (or takes 10 % off when it is back
/// near the rate refused last), not below the floor, and remembers the rate the
/// receiver refused.
fn slow_down<C: Clock + Clone>(
    clock: &C,
    pair: &mut Pair<C>,
    adaptive: &Adaptive,
    now: C::Instant,
    hard: bool,
) {
    let taken = (
        std::mem::take(&mut pair.taken),
        pair.memory().taken_since.take(),
    );
    let Some((interval, _)) = pair.slot.rate_spec() else {
        learn_rate(clock, pair, adaptive, now, taken);
        return;
    };
    let rate = 1.0 / interval.as_secs_f64();
    // Refused again near the rate refused last: the ceiling found again, not a rate
    // far above it: a small step under it rather than a halving.
    let near =
        !hard && pair.refused_rate > 0.0 && rate >= f64::from(pair.refused_rate) * NEAR_REFUSED;
    let decrease = if near {
        NEAR_DECREASE.max(adaptive.decrease)
    } else {
        adaptive.decrease
    };
    pair.refused_rate = rate as f32;
    pair.halved = !near;
    // Any factor the settings allow, however small, saturates at the floor.
    let slower = Duration::try_from_secs_f64(interval.as_secs_f64() / decrease)
        .unwrap_or(Duration::MAX)
        .min(adaptive.floor.interval().max(interval));
    pair.slot.set_rate(clock, now, Some((slower, 1)));
}

/// A pair configured without a rate, told "too fast": its first rate is `decrease`
/// times what the receiver took since the last objection (the deliveries over the
/// time since the first of them, at least a second), not below the floor; that
/// measure is the rate refused, which the ramp-up returns under and probes past.
fn learn_rate<C: Clock + Clone>(
    clock: &C,
    pair: &mut Pair<C>,
    adaptive: &Adaptive,
    now: C::Instant,
    (taken, since): (u16, Option<C::Instant>),
) {
    let elapsed = since
        .map_or(Duration::ZERO, |since| super::time::since(now, since))
        .max(Duration::from_secs(1));
    let observed = f64::from(taken.max(1)) / elapsed.as_secs_f64();
    pair.refused_rate = observed as f32;
    pair.halved = true;
    let interval = Duration::try_from_secs_f64(1.0 / (observed * adaptive.decrease))
        .unwrap_or(Duration::MAX)
        .min(adaptive.floor.interval());
    pair.slot.set_rate(clock, now, Some((interval, 1)));
}

/// A deferral at this share of the rate refused last, or above, is the ceiling found
/// again.
const NEAR_REFUSED: f64 = 0.8;
/// What such a deferral multiplies the rate by.
const NEAR_DECREASE: f64 = 0.9;

/// Ramp-up steps held one session below the refused count before trying one more.
const SESSION_PROBE: u16 = 25;

/// The rate the ramp-up returns to at once after an objection: 90 % of the rate
/// refused near the ceiling found before; after a discovery — a full `decrease`, the
/// capacity anywhere in the step below the rate refused — halfway down that step
/// (75 % with the default halving). Returning to 90 % after a discovery by halvings
/// (refused at 37.5 a minute where the receiver takes 30) would cost the further
/// refusals that a receiver counting strikes blocks for; the creep finds the rest.
fn plateau<C: Clock>(pair: &Pair<C>, adaptive: &Adaptive) -> f64 {
    let share = if pair.halved {
        BELOW_REFUSED.min((1.0 + adaptive.decrease) / 2.0)
    } else {
        BELOW_REFUSED
    };
    f64::from(pair.refused_rate) * share
}

/// Ramp steps held halfway down a discovery's step before the plateau is 90 % of the
/// rate refused.
const HALVED_STEPS: u16 = 5;

/// Share of the refused rate the ramp-up returns to at once.
pub(super) const BELOW_REFUSED: f64 = 0.9;
/// How fast the remembered refused rate creeps up per ramp step at that plateau, so
/// that a receiver whose limit rose is found again: this share per step at first,
/// growing by as much again every `PROBE_GROWTH` steps in a row without an objection
/// (at most `PROBE_MAX` a step). A ceiling found again resets it; a limit that rose
/// far (a reputation recovered) is found in a few hundred steps, not tens of
/// thousands.
const PROBE: f64 = 0.0002;
const PROBE_GROWTH: f64 = 25.0;
/// The fastest creep per step.
const PROBE_MAX: f64 = 0.02;

/// Adds a step of the ceiling rate and one session, up to the configured ceilings; the
/// rate steps back quickly to just under the rate the receiver last refused, then
/// creeps up from there. A session cap on a pair configured without one is lifted once
/// it reaches twice the sessions that were refused.
fn ramp_up<C: Clock + Clone>(clock: &C, pair: &mut Pair<C>, adaptive: &Adaptive, now: C::Instant) {
    // The ceiling in messages a second, and the configured rate behind it; a pair
    // configured without a rate ramps in steps of the rate it learned was refused,
    // towards no ceiling.
    let ceiling = match pair.ceiling {
        Some(rate) => Some((1.0 / rate.interval().as_secs_f64(), Some(rate))),
        None if pair.refused_rate > 0.0 => Some((f64::from(pair.refused_rate), None)),
        None => None,
    };
    if let (Some((ceiling_per_sec, configured)), Some((interval, _))) =
        (ceiling, pair.slot.rate_spec())
    {
        if configured.is_none_or(|rate| interval > rate.interval()) {
            let per_sec = 1.0 / interval.as_secs_f64();
            let mut cap = if configured.is_some() {
                ceiling_per_sec
            } else {
                f64::INFINITY
            };
            if pair.refused_rate > 0.0 {
                if per_sec >= plateau(pair, adaptive) * (1.0 - 1e-6) {
                    pair.quiet_steps = pair.quiet_steps.saturating_add(1);
                    // Held halfway down the step long enough: the capacity is above
                    // it; the next return is to just under the rate refused.
                    if pair.quiet_steps >= HALVED_STEPS {
                        pair.halved = false;
                    }
                    let creep =
                        (PROBE * (1.0 + f64::from(pair.quiet_steps) / PROBE_GROWTH)).min(PROBE_MAX);
                    pair.refused_rate = (f64::from(pair.refused_rate) * (1.0 + creep)) as f32;
                }
                cap = cap.min(plateau(pair, adaptive));
            }
            // Steps are a share of the ceiling, or of the rate refused when that is
            // lower: a ceiling guessed ten times too high must not step past the
            // receiver's whole capacity at once.
            let base = if pair.refused_rate > 0.0 {
                ceiling_per_sec.min(f64::from(pair.refused_rate))
            } else {
                ceiling_per_sec
            };
            let faster = (per_sec + adaptive.ramp_step * base).min(cap).max(per_sec);
            let fastest = configured.map_or(Duration::from_nanos(1), |rate| rate.interval());
            let interval = Duration::try_from_secs_f64(1.0 / faster)
                .unwrap_or(interval)
                .clamp(fastest, interval);
            let burst = match configured {
                Some(rate) if interval == rate.interval() => rate.burst(),
                _ => 1,
            };
            pair.slot.set_rate(clock, now, Some((interval, burst)));
        }
    }
    pair.gate.relax();
    let rate_bound = u32::from(std::mem::take(&mut pair.rate_waits)) > adaptive.ramp_after;
    if let Some(cap) = pair.slot.sessions.filter(|_| !rate_bound) {
        let mut next = cap.saturating_add(1);
        // Under a configured cap, hold one below the sessions the receiver refused;
        // every `SESSION_PROBE` steps there, try one more.
        if pair.session_ceiling.is_some()
            && pair.refused_sessions > 0
            && next >= pair.refused_sessions
        {
            pair.session_steps = pair.session_steps.saturating_add(1);
            if pair.session_steps >= SESSION_PROBE {
                pair.session_steps = 0;
                pair.refused_sessions = pair.refused_sessions.saturating_add(1);
            }
            next = next
                .min(pair.refused_sessions.saturating_sub(1).max(1))
                .max(cap);
        }
        pair.slot.sessions = match pair.session_ceiling {
            Some(ceiling) => Some(next.min(ceiling)),
            None if next > pair.refused_sessions.saturating_mul(2) => {
                pair.refused_sessions = 0;
                None
            }
            None => Some(next),
        };
    }
}

#[cfg(test)]
mod tests;
