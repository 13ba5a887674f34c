//! Time: [`sleep`], [`sleep_until`], [`timeout`], [`timeout_at`],
//! [`interval`] and [`interval_at`] (periodic ticks, with tokio's
//! [`MissedTickBehavior`]), and [`CancelScope`], a deadline around a block of
//! async code.
//!
//! Timers live in user space, in an ordered map of deadlines; the runtime's
//! park passes the earliest deadline to `io_uring_enter` as its wait timeout,
//! so a sleeping task costs no SQE and no syscall of its own, and 100,000
//! sleeps cost 100,000 map entries. A sleep never ends early: it is ready only
//! when `Instant::now()` has reached its deadline.

use crate::runtime::{self, Context};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::{Duration, Instant};

/// The key of one timer: deadline, then insertion order.
type Key = (Instant, u64);

/// Sleeping futures by deadline. The clock is passed in (`expire(now)`), so
/// the map is tested with made-up instants.
#[derive(Default)]
pub(crate) struct Timers {
    /// Wakers by deadline.
    map: BTreeMap<Key, Waker>,
    /// Tie-breaker for equal deadlines.
    next_seq: u64,
}

impl Timers {
    /// Adds a timer; returns its key.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> Key {
        let key = (deadline, self.next_seq);
        self.next_seq += 1;
        self.map.insert(key, waker);
        key
    }

    /// Replaces a timer's waker if it is still pending. Returns the old waker
    /// (to drop outside the borrow), or `None` if the timer already fired.
    pub(crate) fn update(&mut self, key: Key, waker: &Waker) -> Option<Waker> {
        let slot = self.map.get_mut(&key)?;
        if slot.will_wake(waker) {
            return None;
        }
        Some(std::mem::replace(slot, waker.clone()))
    }

    /// Removes a timer; returns its waker to drop outside the borrow.
    pub(crate) fn remove(&mut self, key: Key) -> Option<Waker> {
        self.map.remove(&key)
    }

    /// Moves the wakers of timers due at `now` into `out`; returns the next
    /// deadline still pending.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<Waker>) -> Option<Instant> {
        while let Some(entry) = self.map.first_entry() {
            if entry.key().0 > now {
                return Some(entry.key().0);
            }
            out.push(entry.remove());
        }
        None
    }

    /// Whether no timer is pending.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of pending timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Empties the map; returns the wakers to drop outside the borrow.
    pub(crate) fn clear(&mut self) -> BTreeMap<Key, Waker> {
        std::mem::take(&mut self.map)
    }
}

/// Waits until `duration` has passed.
///
/// ```
/// use std::time::{Duration, Instant};
/// curing::run(async {
///     let start = Instant::now();
///     curing::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(far_add(Instant::now(), duration))
}

/// Waits until `deadline`. A deadline in the past is ready at once.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registered: None,
    }
}

/// `now + d`, saturating at about a century for huge durations
/// (`Duration::MAX` must not overflow).
fn far_add(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The future of [`sleep`] and [`sleep_until`].
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    /// When it becomes ready.
    deadline: Instant,
    /// The runtime's timer map and our key in it, once polled and pending.
    registered: Option<(Rc<Context>, Key)>,
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            // A due timer is a ready result: it spends the task's budget.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        self.poll_due(cx)
    }
}

impl Sleep {
    /// Moves the deadline to `deadline`. A pending registration is removed;
    /// the next poll registers the new deadline with that poll's waker.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some((ctx, key)) = self.registered.take() {
            let waker = ctx.timers.borrow_mut().remove(key);
            drop(waker);
        }
    }

    /// Ready once the deadline has passed, *without* spending the task's
    /// budget; until then the timer is registered with `cx`'s waker. A
    /// cancel scope checks its deadline this way: a deadline that has
    /// passed must be reported even when the future inside the scope has
    /// just spent the whole budget.
    pub(crate) fn poll_due(&mut self, cx: &mut TaskCx<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some((ctx, key)) = self.registered.take() {
                let waker = ctx.timers.borrow_mut().remove(key);
                drop(waker);
            }
            return Poll::Ready(());
        }
        match &self.registered {
            Some((ctx, key)) => {
                let old = ctx.timers.borrow_mut().update(*key, cx.waker());
                drop(old);
                if !ctx.timers.borrow().map.contains_key(key) {
                    // Fired but polled before `now` reached the deadline
                    // (cannot happen with a monotonic clock): register again.
                    let key = ctx
                        .timers
                        .borrow_mut()
                        .insert(self.deadline, cx.waker().clone());
                    let ctx = ctx.clone();
                    self.registered = Some((ctx, key));
                }
            }
            None => {
                let ctx = runtime::current();
                let key = ctx
                    .timers
                    .borrow_mut()
                    .insert(self.deadline, cx.waker().clone());
                self.registered = Some((ctx, key));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((ctx, key)) = self.registered.take() {
            let waker = ctx
                .timers
                .try_borrow_mut()
                .ok()
                .and_then(|mut t| t.remove(key));
            drop(waker);
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The error of a [`timeout`] or [`CancelScope::fail`] whose time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline has elapsed")]
pub struct Elapsed(());

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `duration`; `Err(Elapsed)` if it took longer.
///
/// When time runs out the future is dropped, which cancels its op through the
/// op lifecycle: its buffers stay alive until the kernel is done, and bytes a
/// stream read received anyway are kept for the stream's next read.
///
/// ```
/// use std::time::Duration;
/// use curing::time::{sleep, timeout};
/// curing::run(async {
///     let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(10))).await;
///     assert!(slow.is_err());
///     let fast = timeout(Duration::from_secs(10), async { 7 }).await;
///     assert_eq!(fast, Ok(7));
/// });
/// ```
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    timeout_at(far_add(Instant::now(), duration), future).await
}

/// Like [`timeout`], with a deadline.
///
/// `timeout(d, f)` is `CancelScope::after(d).fail(f)` and
/// `timeout_at(t, f)` is `CancelScope::at(t).fail(f)`: the same cancel
/// scope, nesting by the rules of [`CancelScope`].
pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    scope::run(deadline, future).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicUsize);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn expire_fires_in_deadline_order_with_injected_clock() {
        let t0 = Instant::now();
        let flag = Arc::new(Flag(Default::default()));
        let waker = Waker::from(flag.clone());
        let mut timers = Timers::default();
        timers.insert(t0 + Duration::from_millis(30), waker.clone());
        let k = timers.insert(t0 + Duration::from_millis(10), waker.clone());
        timers.insert(t0 + Duration::from_millis(20), waker.clone());
        let mut out = Vec::new();
        assert_eq!(
            timers.expire(t0, &mut out),
            Some(t0 + Duration::from_millis(10))
        );
        assert!(out.is_empty());
        assert!(timers.remove(k).is_some());
        assert_eq!(
            timers.expire(t0 + Duration::from_millis(25), &mut out),
            Some(t0 + Duration::from_millis(30))
        );
        assert_eq!(out.len(), 1);
        assert_eq!(timers.expire(t0 + Duration::from_secs(1), &mut out), None);
        assert_eq!(out.len(), 2);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn huge_durations_saturate() {
        let now = Instant::now();
        assert!(far_add(now, Duration::MAX) > now + Duration::from_secs(3600 * 24 * 365));
    }
}

// Cancel scopes: `CancelScope` (src/time/scope.rs).
mod scope;
pub use scope::CancelScope;

// Periodic ticks: `interval`, `interval_at` (src/time/interval.rs).
mod interval;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
