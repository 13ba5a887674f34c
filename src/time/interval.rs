//! [`Interval`]: ticks at a fixed period, in tokio's shape
//! (`tokio::time::interval` ports by renaming).
//!
//! An `Interval` is one [`Sleep`] whose deadline is the next tick. A tick
//! that comes due is returned and the deadline moves by one period (or, after
//! a stall, as the [`MissedTickBehavior`] says). Nothing is allocated per
//! tick: the deadline is moved in place and registered in the runtime's
//! timer map like any sleep's.

use super::{far_add, Sleep};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How late a tick may be and still count as on time (the next tick is
/// then one period after it, whatever the behaviour): tokio's figure, kept
/// so that code ported from tokio ticks the same way.
const ON_TIME: Duration = Duration::from_millis(5);

/// An interval whose first tick completes at once, then one every `period`.
///
/// Equivalent to `interval_at(Instant::now(), period)`.
///
/// ```
/// use std::time::{Duration, Instant};
/// curing::run(async {
///     let start = Instant::now();
///     let mut interval = curing::time::interval(Duration::from_millis(10));
///     interval.tick().await; // at once
///     interval.tick().await; // 10 ms after the first
///     interval.tick().await; // 20 ms after the first
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
///
/// # Panics
///
/// If `period` is zero.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero.");
    interval_at(Instant::now(), period)
}

/// An interval whose first tick completes at `start` (at once if `start` has
/// passed), then one every `period`.
///
/// ```
/// use std::time::{Duration, Instant};
/// curing::run(async {
///     let start = Instant::now() + Duration::from_millis(10);
///     let mut interval = curing::time::interval_at(start, Duration::from_millis(5));
///     assert_eq!(interval.tick().await, start);
///     assert_eq!(interval.tick().await, start + Duration::from_millis(5));
///     assert!(Instant::now() >= start + Duration::from_millis(5));
/// });
/// ```
///
/// # Panics
///
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero.");
    Interval {
        delay: super::sleep_until(start),
        period,
        missed_tick_behavior: MissedTickBehavior::default(),
    }
}

/// What an [`Interval`] does when ticks were missed: when a tick is taken
/// later than its time (the task was busy, or did not call
/// [`tick`](Interval::tick)), so that one or more tick times passed.
///
/// With a period of 10 ms, ticks due at 0, 10, 20, ... ms, and a stall from
/// 5 ms to 35 ms (the tick due at 10 ms is taken at 35 ms):
///
/// - `Burst` (the default): the missed ticks come at once, then the old
///   schedule resumes: ticks at 35, 35, 35 (those due at 10, 20, 30), then 40,
///   50, ...
/// - `Delay`: the schedule restarts from the late tick: 35, 45, 55, ...
/// - `Skip`: the missed ticks are dropped, the old schedule resumes: 35,
///   then 40, 50, ...
///
/// A tick up to 5 ms late counts as on time (as in tokio), whatever the
/// behaviour: the next tick is one period after the late one was due.
///
/// ```
/// use std::time::Duration;
/// use curing::time::{interval, MissedTickBehavior};
/// curing::run(async {
///     let mut ticks = interval(Duration::from_millis(10));
///     ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
///     assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Skip);
///     ticks.tick().await;
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Catch up: the missed ticks are ready at once, one per `tick()`, until
    /// the schedule is back in step with the original one.
    #[default]
    Burst,
    /// Restart the schedule from the late tick: the next tick is one period
    /// after the moment the late one was taken.
    Delay,
    /// Drop the missed ticks: the next tick is the next one of the original
    /// schedule that is still in the future.
    Skip,
}

impl MissedTickBehavior {
    /// The deadline after a tick that was due at `due` and taken at `now`:
    /// one period on if the tick was on time, else as the behaviour says.
    fn next_tick(self, due: Instant, now: Instant, period: Duration) -> Instant {
        if now > far_add(due, ON_TIME) {
            self.next_timeout(due, now, period)
        } else {
            far_add(due, period)
        }
    }

    /// The deadline after a tick that was due at `due` and taken at `now`,
    /// more than [`ON_TIME`] late.
    fn next_timeout(self, due: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => far_add(due, period),
            MissedTickBehavior::Delay => far_add(now, period),
            MissedTickBehavior::Skip => {
                // `now - due` is under about 584 years, so its nanoseconds fit
                // a u64 and the remainder is below `period`.
                let late = (now - due).as_nanos() % period.as_nanos();
                far_add(now, period) - Duration::from_nanos(late as u64)
            }
        }
    }
}

/// Ticks at a fixed period; made by [`interval`] or [`interval_at`].
///
/// [`tick`](Interval::tick) is cancel safe: a `tick()` future dropped before
/// it completed took no tick, and the next `tick()` returns that same tick.
/// A tick that is due at once spends the task's cooperative budget, so a
/// burst of missed ticks cannot starve the runtime's other tasks.
///
/// ```
/// use std::time::Duration;
/// use curing::time::{interval, sleep, timeout};
/// curing::run(async {
///     let mut ticks = interval(Duration::from_millis(5));
///     let mut due = Vec::new();
///     while due.len() < 3 {
///         // Most of these tick() futures are dropped by the timeout: no
///         // tick is lost by it.
///         if let Ok(at) = timeout(Duration::from_millis(1), ticks.tick()).await {
///             due.push(at);
///         }
///         sleep(Duration::from_micros(100)).await;
///     }
///     assert_eq!(due[1] - due[0], Duration::from_millis(5));
///     assert_eq!(due[2] - due[1], Duration::from_millis(5));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    /// Its deadline is the next tick.
    delay: Sleep,
    /// Time between ticks.
    period: Duration,
    /// What to do after missed ticks.
    missed_tick_behavior: MissedTickBehavior,
}

impl Interval {
    /// Completes at the next tick; returns the instant the tick was due (not
    /// the moment it was taken, which may be later).
    ///
    /// Cancel safe: dropping the future before it completes takes no tick.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: `Ready(due)` takes the tick (and schedules
    /// the next); `Pending` registers `cx`'s waker for it, replacing the
    /// waker of an earlier poll (one timer per interval, however often it is
    /// polled).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::time::Duration;
    /// curing::run(async {
    ///     let mut ticks = curing::time::interval(Duration::from_millis(5));
    ///     let first = poll_fn(|cx| ticks.poll_tick(cx)).await;
    ///     let second = poll_fn(|cx| ticks.poll_tick(cx)).await;
    ///     assert_eq!(second - first, Duration::from_millis(5));
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        // Spends the budget when due; registers the timer when not.
        std::task::ready!(Pin::new(&mut self.delay).poll(cx));
        let due = self.delay.deadline();
        let now = Instant::now();
        let next = self.missed_tick_behavior.next_tick(due, now, self.period);
        // The sleep unregistered itself when it came due: this only moves
        // the deadline; the next poll registers it.
        self.delay.reset(next);
        Poll::Ready(due)
    }

    /// Restarts the schedule: the next tick is one period from now.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// curing::run(async {
    ///     let mut ticks = curing::time::interval(Duration::from_millis(10));
    ///     ticks.tick().await;
    ///     ticks.reset();
    ///     let reset = Instant::now();
    ///     ticks.tick().await;
    ///     assert!(reset.elapsed() >= Duration::from_millis(10));
    /// });
    /// ```
    pub fn reset(&mut self) {
        self.delay.reset(far_add(Instant::now(), self.period));
    }

    /// Makes the next tick due now; the schedule continues from it.
    pub fn reset_immediately(&mut self) {
        self.delay.reset(Instant::now());
    }

    /// Makes the next tick due `after` from now; the schedule continues from
    /// it.
    pub fn reset_after(&mut self, after: Duration) {
        self.delay.reset(far_add(Instant::now(), after));
    }

    /// Makes the next tick due at `deadline` (at once if it has passed); the
    /// schedule continues from it.
    pub fn reset_at(&mut self, deadline: Instant) {
        self.delay.reset(deadline);
    }

    /// What this interval does after missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets what this interval does after missed ticks (from the next tick
    /// taken on).
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }

    /// The time between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_timeout_of_each_behaviour() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let period = ms(10);
        // Due at 10, taken at 35.
        let (due, now) = (t0 + ms(10), t0 + ms(35));
        assert_eq!(
            MissedTickBehavior::Burst.next_timeout(due, now, period),
            t0 + ms(20)
        );
        assert_eq!(
            MissedTickBehavior::Delay.next_timeout(due, now, period),
            t0 + ms(45)
        );
        assert_eq!(
            MissedTickBehavior::Skip.next_timeout(due, now, period),
            t0 + ms(40)
        );
        // Taken exactly on a later tick's time: Skip gives the one after.
        assert_eq!(
            MissedTickBehavior::Skip.next_timeout(due, t0 + ms(30), period),
            t0 + ms(40)
        );
    }

    #[test]
    fn up_to_five_ms_late_is_on_time_for_every_behaviour() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let all = [
            MissedTickBehavior::Burst,
            MissedTickBehavior::Delay,
            MissedTickBehavior::Skip,
        ];
        for b in all {
            assert_eq!(b.next_tick(t0, t0, ms(10)), t0 + ms(10));
            assert_eq!(b.next_tick(t0, t0 + ms(5), ms(10)), t0 + ms(10));
        }
        let late = t0 + ms(6);
        assert_eq!(all[0].next_tick(t0, late, ms(10)), t0 + ms(10));
        assert_eq!(all[1].next_tick(t0, late, ms(10)), t0 + ms(16));
        assert_eq!(all[2].next_tick(t0, late, ms(10)), t0 + ms(10));
    }

    #[test]
    #[should_panic(expected = "`period` must be non-zero.")]
    fn zero_period_panics() {
        let _ = interval_at(Instant::now(), Duration::ZERO);
    }
}
