//! `curing::time::interval` and `interval_at`: tick spacing, tokio's three
//! missed-tick behaviours after a deliberate stall, reset, the cooperative
//! budget of a catching-up burst, and cancel safety of `tick()` (a dropped
//! tick future loses no tick and leaves no waker behind).
//!
//! A loaded 2-core machine can run any task late, so these tests assert
//! what the schedule must be (due instants are exact multiples of the
//! period; a tick is never taken before it is due; how many ticks a stall
//! left ready) rather than how late a tick was taken.

mod common;

use curing::time::{interval, interval_at, sleep, Interval, MissedTickBehavior};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);

/// Polls `fut` once with the current task's waker.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Takes a tick if one is ready now (one poll), without waiting.
async fn tick_now(ticks: &mut Interval) -> Option<Instant> {
    match std::future::poll_fn(|cx| Poll::Ready(ticks.poll_tick(cx))).await {
        Poll::Ready(due) => Some(due),
        Poll::Pending => None,
    }
}

/// Blocks the runtime's thread: every tick due meanwhile is missed.
fn stall(d: Duration) {
    std::thread::sleep(d);
}

#[test]
fn ticks_are_one_period_apart_and_never_early() {
    common::run(Duration::from_secs(30), || async {
        let period = 15 * MS;
        let made = Instant::now();
        let mut ticks = interval(period);
        assert_eq!(ticks.period(), period);
        assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Burst);
        // The first tick completes at once, and is due when it was made.
        let first = tick_now(&mut ticks).await.expect("first tick at once");
        assert!(first >= made && first <= Instant::now());
        let mut prev = first;
        for k in 1..=5u32 {
            let due = ticks.tick().await;
            let taken = Instant::now();
            assert_eq!(due, first + period * k, "tick {k} off the schedule");
            assert!(taken >= due, "tick {k} taken {:?} early", due - taken);
            assert!(due > prev);
            prev = due;
        }
        assert!(Instant::now() >= first + period * 5);
    });
}

#[test]
fn interval_at_first_ticks_at_start() {
    common::run(Duration::from_secs(30), || async {
        let start = Instant::now() + 30 * MS;
        let mut ticks = interval_at(start, 10 * MS);
        // Pending, unless this thread was stalled past `start` (a loaded
        // machine): never early either way.
        let first = match tick_now(&mut ticks).await {
            Some(due) => due,
            None => ticks.tick().await,
        };
        assert_eq!(first, start);
        assert!(Instant::now() >= start);
        assert_eq!(ticks.tick().await, start + 10 * MS);

        // A start in the past is ready at once, and the schedule runs from
        // it (Burst: the ticks since are ready too).
        let past = Instant::now() - 100 * MS;
        let mut ticks = interval_at(past, 40 * MS);
        assert_eq!(tick_now(&mut ticks).await, Some(past));
        assert_eq!(tick_now(&mut ticks).await, Some(past + 40 * MS));
        assert_eq!(tick_now(&mut ticks).await, Some(past + 80 * MS));
    });
}

#[test]
fn burst_takes_every_missed_tick_at_once_then_keeps_the_schedule() {
    common::run(Duration::from_secs(30), || async {
        let period = 10 * MS;
        let mut ticks = interval(period);
        let t0 = ticks.tick().await;
        stall(55 * MS);
        // Ticks due at 10..=50 ms passed during the stall: all ready at once,
        // one per tick(), each at its original time.
        let mut ready = Vec::new();
        while let Some(due) = tick_now(&mut ticks).await {
            ready.push(due);
        }
        assert!(ready.len() >= 5, "only {} missed ticks came", ready.len());
        for (k, due) in ready.iter().enumerate() {
            assert_eq!(*due, t0 + period * (k as u32 + 1));
        }
        // The next one is still on the original schedule.
        let next = ticks.tick().await;
        assert_eq!(next, t0 + period * (ready.len() as u32 + 1));
    });
}

#[test]
fn delay_restarts_the_schedule_from_the_late_tick() {
    common::run(Duration::from_secs(30), || async {
        let period = 10 * MS;
        let mut ticks = interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Delay);
        let t0 = ticks.tick().await;
        stall(35 * MS);
        // The late tick comes at once, due at its original time...
        let before = Instant::now();
        assert_eq!(tick_now(&mut ticks).await, Some(t0 + period));
        let after = Instant::now();
        // ...no other missed tick is ready...
        assert!(before >= t0 + 35 * MS);
        let next = ticks.tick().await;
        // ...and the next is one period after the late one was taken.
        assert!(
            next >= before + period && next <= after + period,
            "next tick {:?} after t0, late one taken {:?}..{:?} after t0",
            next - t0,
            before - t0,
            after - t0
        );
        // The new schedule keeps its period (exactly, if `next` was taken
        // on time; from when it was taken, if this machine made it late).
        let taken = Instant::now();
        let again = ticks.tick().await;
        assert!(again == next + period || again >= taken + period);
        assert!(again >= next + period);
    });
}

#[test]
fn skip_drops_missed_ticks_and_keeps_the_original_phase() {
    common::run(Duration::from_secs(30), || async {
        let period = 10 * MS;
        let mut ticks = interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let t0 = ticks.tick().await;
        stall(35 * MS);
        let before = Instant::now();
        assert_eq!(tick_now(&mut ticks).await, Some(t0 + period));
        let after = Instant::now();
        let next = ticks.tick().await;
        let since = next - t0;
        // On the original schedule (a whole number of periods after t0),
        // past the stall, and the first such time after the late tick.
        assert_eq!(since.as_nanos() % period.as_nanos(), 0, "{since:?}");
        assert!(next >= t0 + 40 * MS, "{since:?}");
        assert!(next > before && next <= after + period, "{since:?}");
        // The missed ticks were dropped: the next is at least a period on,
        // still in phase.
        let again = ticks.tick().await;
        assert!(again >= next + period);
        assert_eq!((again - t0).as_nanos() % period.as_nanos(), 0);
    });
}

#[test]
fn reset_moves_the_next_tick() {
    common::run(Duration::from_secs(30), || async {
        let period = 20 * MS;
        let mut ticks = interval(period);
        ticks.tick().await;
        sleep(5 * MS).await;

        // reset(): one period from now.
        let before = Instant::now();
        ticks.reset();
        let after = Instant::now();
        let due = ticks.tick().await;
        assert!(due >= before + period && due <= after + period);
        assert!(Instant::now() >= due);
        assert_eq!(
            ticks.tick().await,
            due + period,
            "schedule runs from the reset"
        );

        // reset_at(t): exactly t, then t + period.
        let t = Instant::now() + 7 * MS;
        ticks.reset_at(t);
        assert_eq!(ticks.tick().await, t);
        assert!(Instant::now() >= t, "ticked early");
        assert_eq!(ticks.tick().await, t + period);

        // reset_after(d).
        let before = Instant::now();
        ticks.reset_after(3 * MS);
        let due = ticks.tick().await;
        assert!(due >= before + 3 * MS && Instant::now() >= due);

        // reset_immediately(): ready at once, then one period on.
        ticks.tick().await;
        let before = Instant::now();
        ticks.reset_immediately();
        let due = tick_now(&mut ticks).await.expect("ready at once");
        assert!(due >= before && due <= Instant::now());
        assert_eq!(ticks.tick().await, due + period);

        // A reset while a tick() is pending (registered) moves that wait.
        let mut ticks = interval(Duration::from_secs(1));
        ticks.tick().await;
        let mut pending = Box::pin(ticks.tick());
        assert!(poll_once(&mut pending).await.is_pending());
        drop(pending);
        let far = Instant::now() + 60 * MS;
        ticks.reset_at(far);
        assert_eq!(ticks.tick().await, far);
    });
}

#[test]
fn a_dropped_tick_future_loses_no_tick() {
    common::run(Duration::from_secs(30), || async {
        let period = 30 * MS;
        let mut ticks = interval(period);
        let t0 = ticks.tick().await;
        // Many tick() futures polled once and dropped before the tick.
        for _ in 0..100 {
            let mut tick = Box::pin(ticks.tick());
            if poll_once(&mut tick).await.is_ready() {
                break; // a very slow machine: the tick came; still checked below
            }
        }
        // Through a timeout too (on a slow machine its tick() may complete
        // within the 1 ms: then it took the tick, and returned it).
        let mut seen = Vec::new();
        if let Ok(due) = curing::time::timeout(MS, ticks.tick()).await {
            seen.push(due);
        }
        seen.push(ticks.tick().await);
        assert_eq!(seen[0], t0 + period, "a tick was lost");
    });
}

/// Counts wakes; its strong count tells how many copies are kept.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn repeated_polls_keep_one_waker() {
    common::run(Duration::from_secs(30), || async {
        // Far enough ahead that the 200 polls below all find it pending.
        let due = Instant::now() + 100 * MS;
        let mut ticks = interval_at(due, Duration::from_secs(1));
        let counters: Vec<Arc<Count>> = (0..200)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        for c in &counters {
            let waker = Waker::from(c.clone());
            let mut cx = Context::from_waker(&waker);
            assert!(ticks.poll_tick(&mut cx).is_pending());
        }
        // Only the last poll's waker is kept.
        for c in &counters[..199] {
            assert_eq!(Arc::strong_count(c), 1, "an old waker is still held");
        }
        assert_eq!(Arc::strong_count(&counters[199]), 2);
        curing::time::sleep_until(due + 20 * MS).await;
        // The timer fired once, waking the last waker only.
        for c in &counters[..199] {
            assert_eq!(c.0.load(Ordering::SeqCst), 0);
        }
        assert_eq!(counters[199].0.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&counters[199]), 1);
        // The tick is still there for the next poll.
        assert!(tick_now(&mut ticks).await.is_some());
    });
}

#[test]
#[should_panic(expected = "`period` must be non-zero.")]
fn a_zero_period_panics() {
    let _ = interval(Duration::ZERO);
}

#[test]
#[should_panic(expected = "`period` must be non-zero.")]
fn a_zero_period_panics_at() {
    let _ = interval_at(Instant::now(), Duration::ZERO);
}

/// A Burst interval far behind (every tick ready at once) in a loop must
/// still let a ticker task and a sleeper run: each ready tick spends the
/// cooperative budget (as tests/promises_budget.rs checks for the other
/// always-ready awaits).
#[test]
fn a_catching_up_burst_does_not_starve_other_tasks() {
    common::run(Duration::from_secs(30), || async {
        let done = Rc::new(Cell::new(false));
        let start = Instant::now();
        let turns = Rc::new(Cell::new(0u64));
        let spinning = Rc::new(Cell::new(true));
        let ticker = {
            let (turns, spinning) = (turns.clone(), spinning.clone());
            curing::spawn(async move {
                loop {
                    curing::yield_now().await;
                    if spinning.get() {
                        turns.set(turns.get() + 1);
                    }
                }
            })
        };
        let spinner = {
            let (done, spinning) = (done.clone(), spinning.clone());
            curing::spawn(async move {
                // An hour behind with a 1 µs period: billions of missed ticks.
                let mut ticks = interval_at(
                    Instant::now() - Duration::from_secs(3600),
                    Duration::from_micros(1),
                );
                let mut n = 0u64;
                while !done.get() && start.elapsed() < Duration::from_secs(3) {
                    ticks.tick().await;
                    n += 1;
                }
                spinning.set(false);
                n
            })
        };
        let worst = common::sleeper(20).await;
        done.set(true);
        let ready = spinner.await.unwrap();
        ticker.abort();
        let turns = turns.get();
        println!("burst: {ready} ready ticks, {turns} ticker turns; sleeper {worst:?} late");
        assert!(ready > 1000, "the spinner got only {ready} ticks");
        assert!(
            turns >= ready / 256,
            "the ticker ran {turns} times for {ready} ready ticks"
        );
        // Starvation shows as the spinner's whole run (3 s); a loaded
        // machine alone can make a 10 ms sleep tens of ms late.
        assert!(worst < 250 * MS, "sleeper starved: {worst:?} late");
    });
}
