//! Waiting for a [`Permit`]: blocking ([`Limits::acquire_timeout`]) and async
//! ([`Limits::acquire`]), one round of [`Limits::try_acquire`] at a time.

use std::time::{Duration, Instant};

use governor::clock::Clock;

#[cfg(feature = "async")]
use super::inner::Inner;
use super::limits::Limits;
use super::permit::Permit;
use super::wait::Wait;
use crate::route::Route;

/// What a waiting acquire does next.
enum Attempt<C: Clock> {
    Done(Result<Permit<C>, Wait<C::Instant>>),
    Sleep(Duration),
    AwaitRelease(Duration),
}

impl<C: Clock + Clone> Limits<C> {
    /// Like [`try_acquire`](Limits::try_acquire), but waits (blocking the thread) up to
    /// `timeout` of real time: on a session slot until another session ends, on a
    /// suspension until it is over. Returns the last `Wait` when the time runs out.
    ///
    /// Waits are computed on the limits' clock and slept in real time, so with a fake
    /// clock that nobody advances a suspension simply runs until the timeout.
    pub fn acquire_timeout(
        &self,
        route: &Route,
        timeout: Duration,
    ) -> Result<Permit<C>, Wait<C::Instant>> {
        let deadline = deadline_after(timeout);
        loop {
            match self.attempt(route, deadline) {
                Attempt::Done(result) => return result,
                Attempt::Sleep(time) => std::thread::sleep(time),
                Attempt::AwaitRelease(time) => {
                    let mut state = self.inner.state.lock();
                    // A release between try_acquire and here is caught by the timed
                    // wait: at most 50 ms late.
                    self.inner.released.wait_for(&mut state, time);
                }
            }
        }
    }

    /// One round of a waiting acquire: the permit or the final `Wait`, or what to wait
    /// for before the next round.
    fn attempt(&self, route: &Route, deadline: Instant) -> Attempt<C> {
        let wait = match self.try_acquire(route) {
            Ok(permit) => return Attempt::Done(Ok(permit)),
            Err(wait) => wait,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Attempt::Done(Err(wait));
        }
        match wait.sleep_from(self.inner.clock.now()) {
            Some(time) => Attempt::Sleep(time.min(left).max(Duration::from_millis(1))),
            None => Attempt::AwaitRelease(left.min(Duration::from_millis(50))),
        }
    }

    /// Like [`acquire_timeout`](Limits::acquire_timeout), as a future that runs on any
    /// executor: rate and suspension waits sleep on `futures-timer` (the timer governor
    /// uses), session waits wake when a permit is dropped. Needs the `async` feature.
    ///
    /// ```
    /// # use std::net::IpAddr;
    /// # use std::time::Duration;
    /// # use smtp_throttle::limit::Limits;
    /// # use smtp_throttle::route::{Destination, Route};
    /// let limits = Limits::builder().build()?;
    /// let route = Route::new("192.0.2.1".parse::<IpAddr>()?, Destination::new("example.org")?);
    /// let permit = futures_executor::block_on(limits.acquire(&route, Duration::from_secs(5)));
    /// assert!(permit.is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn acquire(
        &self,
        route: &Route,
        timeout: Duration,
    ) -> Result<Permit<C>, Wait<C::Instant>> {
        let deadline = deadline_after(timeout);
        loop {
            match self.attempt(route, deadline) {
                Attempt::Done(result) => return result,
                Attempt::Sleep(time) => futures_timer::Delay::new(time).await,
                Attempt::AwaitRelease(time) => {
                    Released {
                        inner: &self.inner,
                        timer: futures_timer::Delay::new(time),
                        polled: false,
                    }
                    .await
                }
            }
        }
    }
}

/// `timeout` from now in real time; an absurd timeout waits about a century.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Ready when a permit is released or the timer fires, whichever comes first.
#[cfg(feature = "async")]
struct Released<'a, C: Clock> {
    inner: &'a Inner<C>,
    timer: futures_timer::Delay,
    polled: bool,
}

#[cfg(feature = "async")]
impl<C: Clock> std::future::Future for Released<'_, C> {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        // Polled again: woken by a release (or spuriously; the caller checks again).
        if self.polled || std::pin::Pin::new(&mut self.timer).poll(cx).is_ready() {
            return std::task::Poll::Ready(());
        }
        self.polled = true;
        let mut wakers = self.inner.wakers.lock();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        std::task::Poll::Pending
    }
}
