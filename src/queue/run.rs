//! [`Throttle::run`]: worker threads that lease due messages from a [`SqliteQueue`],
//! send them through the throttle and record what became of each.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::Clock;

use super::{QueueError, Recorded, SqliteQueue};
use crate::limit::Wait;
use crate::retry::Timestamp;
use crate::throttle::{Outcome, Sender, Session, Throttle};
use crate::Mail;

/// How [`Throttle::run`] works the queue.
///
/// ```
/// use std::time::Duration;
/// use smtp_throttle::queue::RunOptions;
/// let options = RunOptions::default().workers(8).lease(Duration::from_secs(120)).until_empty(true);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct RunOptions {
    workers: usize,
    lease: Duration,
    send_timeout: Duration,
    poll: Duration,
    until_empty: bool,
    save_learned_every: Duration,
    stop: Option<Arc<AtomicBool>>,
    progress: Option<Arc<Progress>>,
}

impl Default for RunOptions {
    /// 4 workers, 10-minute leases, up to 5 s waiting for capacity per message, idle
    /// workers looking again at least every second, learned limits saved every 30 s,
    /// running until stopped.
    fn default() -> Self {
        Self {
            workers: 4,
            lease: Duration::from_secs(600),
            send_timeout: Duration::from_secs(5),
            poll: Duration::from_secs(1),
            until_empty: false,
            save_learned_every: Duration::from_secs(30),
            stop: None,
            progress: None,
        }
    }
}

impl RunOptions {
    /// Worker threads, each with one message at a time (1 to 256).
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// The visibility timeout: a leased message goes back to the queue this long after
    /// it was leased unless its worker recorded it (a crashed worker's messages come
    /// back after it). Longer than the send timeout plus the longest SMTP transaction
    /// (1 s to a day).
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a worker waits for capacity (a session slot, the rate) before it gives
    /// the message back untried (at most the lease).
    #[must_use]
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The longest an idle worker sleeps before looking at the queue again (1 ms to
    /// 60 s); it wakes earlier when the next message is due earlier.
    #[must_use]
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Return once no message is queued (every one delivered, bounced or expired);
    /// otherwise run until stopped.
    #[must_use]
    pub fn until_empty(mut self, until_empty: bool) -> Self {
        self.until_empty = until_empty;
        self
    }

    /// How often the learned limits are saved into the queue (and at the end of the
    /// run); at least a second.
    #[must_use]
    pub fn save_learned_every(mut self, every: Duration) -> Self {
        self.save_learned_every = every;
        self
    }

    /// Stop when the flag turns true (a Ctrl-C handler sets it): workers finish the
    /// message in hand, the learned limits are saved, and `run` returns.
    #[must_use]
    pub fn stop(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Counts kept as the run goes, for a progress display on another thread.
    #[must_use]
    pub fn progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    fn validate(&self) -> Result<(), QueueError> {
        let bad = |setting, reason| Err(QueueError::Config { setting, reason });
        if !(1..=256).contains(&self.workers) {
            return bad("workers", "1 to 256");
        }
        if self.lease < Duration::from_secs(1) || self.lease > Duration::from_secs(86_400) {
            return bad("lease", "1 s to a day");
        }
        if self.send_timeout >= self.lease {
            return bad("send_timeout", "shorter than the lease");
        }
        if self.poll < Duration::from_millis(1) || self.poll > Duration::from_secs(60) {
            return bad("poll", "1 ms to 60 s");
        }
        if self.save_learned_every < Duration::from_secs(1) {
            return bad("save_learned_every", "at least a second");
        }
        Ok(())
    }

    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

/// What a run did so far, counted as it goes ([`RunOptions::progress`]).
#[derive(Debug, Default)]
pub struct Progress {
    delivered: AtomicU64,
    deferred: AtomicU64,
    bounced: AtomicU64,
    expired: AtomicU64,
    not_tried: AtomicU64,
    lease_lost: AtomicU64,
    quarantined: AtomicU64,
    panicked: AtomicU64,
}

impl Progress {
    /// The counts now.
    pub fn snapshot(&self) -> RunReport {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        RunReport {
            delivered: get(&self.delivered),
            deferred: get(&self.deferred),
            bounced: get(&self.bounced),
            expired: get(&self.expired),
            not_tried: get(&self.not_tried),
            lease_lost: get(&self.lease_lost),
            quarantined: get(&self.quarantined),
            panicked: get(&self.panicked),
            learned_restored: 0,
            learned_unreadable: false,
        }
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// Messages delivered.
    pub delivered: u64,
    /// Attempts deferred (queued again with a retry time).
    pub deferred: u64,
    /// Messages bounced.
    pub bounced: u64,
    /// Messages expired at the maximum age (bounces for `MaxAge` included).
    pub expired: u64,
    /// Leases given back untried: no capacity within the send timeout.
    pub not_tried: u64,
    /// Records that found their lease run out (the message went to another worker).
    pub lease_lost: u64,
    /// Unreadable rows set aside.
    pub quarantined: u64,
    /// Sends whose sender panicked (the message is tried again after a lease time).
    pub panicked: u64,
    /// Pairs whose learned limits were restored from the queue at the start.
    pub learned_restored: usize,
    /// The stored learned limits could not be read back and were ignored (the run
    /// started from the configured limits).
    pub learned_unreadable: bool,
}

impl<C> Throttle<C>
where
    C: Clock + Clone + Send + Sync,
    C::Instant: Timestamp + Send + Sync,
{
    /// Works `queue` with `options.workers` threads until it is empty
    /// ([`RunOptions::until_empty`]) or stopped ([`RunOptions::stop`]).
    ///
    /// At the start the learned limits stored in the queue are imported (a restart
    /// resumes where the last run stopped); they are saved again every
    /// [`save_learned_every`](RunOptions::save_learned_every) and at the end. Each
    /// worker leases one due message at a time (retries first), expires it past the
    /// retry policy's maximum age, sends it with [`Throttle::send`], and records the
    /// outcome; a message the limits refuse within the send timeout goes back untried,
    /// due when the [`Wait`] says. A sender that panics costs the
    /// message one lease time, not the worker.
    ///
    /// Errors: an option out of range ([`QueueError::Config`]), or the queue's storage
    /// failing ([`QueueError::Storage`]; the workers stop, leases run out).
    pub fn run<S>(
        &self,
        queue: &SqliteQueue,
        sender: &S,
        options: &RunOptions,
    ) -> Result<RunReport, QueueError>
    where
        S: Sender<Mail> + Sync,
    {
        options.validate()?;
        let mut restored = (0, false);
        match queue.load_learned() {
            Ok(Some(learned)) => match self.import_learned(&learned) {
                Ok(pairs) => restored.0 = pairs,
                Err(_) => restored.1 = true,
            },
            Ok(None) => {}
            Err(QueueError::Corrupt { .. }) => restored.1 = true,
            Err(error) => return Err(error),
        }
        let progress = options.progress.clone().unwrap_or_default();
        let done = AtomicBool::new(false);
        let result = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..options.workers)
                .map(|_| scope.spawn(|| self.work(queue, sender, options, &progress, &done)))
                .collect();
            let mut saved = Instant::now();
            while !workers.iter().all(|w| w.is_finished()) {
                std::thread::sleep(Duration::from_millis(20).min(options.poll));
                if saved.elapsed() >= options.save_learned_every {
                    saved = Instant::now();
                    if let Err(error) = queue.save_learned(&self.export_learned(), self.now()) {
                        done.store(true, Ordering::Relaxed);
                        return Err(error);
                    }
                }
            }
            let mut first_error = Ok(());
            for worker in workers {
                let result = worker.join().unwrap_or_else(|_| {
                    Err(QueueError::Config {
                        setting: "workers",
                        reason: "a worker thread panicked outside the sender",
                    })
                });
                if first_error.is_ok() {
                    first_error = result;
                }
            }
            first_error
        });
        queue.save_learned(&self.export_learned(), self.now())?;
        result?;
        let mut report = progress.snapshot();
        (report.learned_restored, report.learned_unreadable) = restored;
        Ok(report)
    }

    /// One worker: lease, send, record, until done, stopped or the storage fails (then
    /// every worker stops).
    fn work<S: Sender<Mail>>(
        &self,
        queue: &SqliteQueue,
        sender: &S,
        options: &RunOptions,
        progress: &Progress,
        done: &AtomicBool,
    ) -> Result<(), QueueError> {
        let result = self.work_until_done(queue, sender, options, progress, done);
        if result.is_err() {
            done.store(true, Ordering::Relaxed);
        }
        result
    }

    fn work_until_done<'s, S: Sender<Mail>>(
        &self,
        queue: &SqliteQueue,
        sender: &'s S,
        options: &RunOptions,
        progress: &Progress,
        done: &AtomicBool,
    ) -> Result<(), QueueError> {
        // The session open on the last message's route: the next due message of the
        // same route goes on it (receivers count connections, not only messages).
        let mut open: Option<Session<'s, Mail, S, C>> = None;
        while !done.load(Ordering::Relaxed) && !options.stopped() {
            let now = self.now();
            let same_route = match open.as_ref().filter(|session| !session.is_ended()) {
                Some(session) => queue.lease_route(now, options.lease, session.route()),
                None => Ok(None),
            };
            let leased = match same_route {
                Ok(Some(leased)) => Ok(Some(leased)),
                Ok(None) => {
                    open = None;
                    queue.lease(now, options.lease)
                }
                Err(error) => Err(error),
            };
            let leased = match leased {
                Ok(leased) => leased,
                Err(QueueError::Corrupt { .. }) => {
                    Progress::add(&progress.quarantined);
                    continue;
                }
                Err(error) => return Err(error),
            };
            let Some(leased) = leased else {
                if options.until_empty && queue.counts(now)?.queued == 0 {
                    done.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                let next = queue
                    .next_due()?
                    .map_or(options.poll, |due| self.until(due));
                std::thread::sleep(next.clamp(Duration::from_millis(1), options.poll));
                continue;
            };
            if now.since(leased.history().first_attempt()) >= self.retry_policy().max_age() {
                if queue.expire(&leased, now)? == Recorded::Done {
                    Progress::add(&progress.expired);
                }
                continue;
            }
            let mut history = leased.history().clone();
            let sent = catch_unwind(AssertUnwindSafe(|| {
                self.attempt_on(
                    &mut open,
                    sender,
                    &leased,
                    &mut history,
                    options.send_timeout,
                )
            }));
            match sent {
                Ok(Ok(outcome)) => match queue.record(&leased, &outcome, &history, self.now())? {
                    Recorded::Done => Progress::add(match &outcome {
                        Outcome::Delivered { .. } => &progress.delivered,
                        Outcome::Deferred { .. } => &progress.deferred,
                        Outcome::Bounced {
                            reason: crate::retry::GiveUpReason::MaxAge { .. },
                            ..
                        } => &progress.expired,
                        Outcome::Bounced { .. } => &progress.bounced,
                    }),
                    Recorded::LeaseLost => Progress::add(&progress.lease_lost),
                },
                Ok(Err(wait)) => {
                    let until = wait.until().max(now.after(Duration::from_millis(10)));
                    if queue.release(&leased, until)? == Recorded::Done {
                        Progress::add(&progress.not_tried);
                    }
                }
                Err(_) => {
                    // The session the sender panicked in is not used again.
                    open = None;
                    Progress::add(&progress.panicked);
                    queue.release(&leased, self.now().after(options.lease))?;
                }
            }
        }
        Ok(())
    }

    /// Sends the leased message on the open session when it is for its route and goes
    /// on, else on a new session (kept open for the next message of the route).
    fn attempt_on<'s, S: Sender<Mail>>(
        &self,
        open: &mut Option<Session<'s, Mail, S, C>>,
        sender: &'s S,
        leased: &super::Leased,
        history: &mut crate::retry::History,
        timeout: Duration,
    ) -> Result<Outcome, Wait> {
        if let Some(session) = open
            .as_mut()
            .filter(|s| s.route() == leased.route() && !s.is_ended())
        {
            match session.send(leased.mail(), history, timeout) {
                Ok(outcome) => return Ok(outcome),
                // Full, or closed rather than held idle: a new session below.
                Err(_) if session.is_ended() => {}
                Err(wait) => return Err(wait),
            }
        }
        *open = None;
        match self.session(sender, leased.route(), timeout) {
            Ok(mut session) => {
                let outcome = session.send(leased.mail(), history, timeout);
                *open = Some(session);
                outcome
            }
            Err(error) => self.not_opened(error, leased.route(), history),
        }
    }
}
