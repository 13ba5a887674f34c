//! Models of the task waker (`Header`, its `scheduled` flag) driven by the
//! real `Executor`: wakes from another thread racing the runtime's polls,
//! drains and parks, and wakes after the runtime is gone.

use super::{model, set_then_wake, wait_for_flag, FirstWaker, Wakeups};
use crate::executor::Executor;
use crate::sync_prims::{Arc, AtomicBool, Mutex, Ordering};
use crate::wake::{Wakes, Wakeup};
use loom::thread;
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// `Runtime::block_on` as it is written (`take_main_woken` and a poll of
/// the main future, then a turn: `run_ready`, then park unless
/// `has_ready`), the ring and timers left out. `each_turn` runs at the top
/// of every turn. A lost wake-up parks forever: a loom deadlock.
fn block_on<F: Future>(
    exec: &Executor,
    wakeups: &Wakeups,
    future: F,
    mut each_turn: impl FnMut(),
) -> F::Output {
    exec.wake_main();
    let waker = exec.main_waker().clone();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if exec.take_main_woken() {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
        each_turn();
        exec.run_ready(128);
        if !exec.has_ready() {
            wakeups.park();
        }
    }
}

/// Where a task leaves its waker for another thread, and the flag that
/// thread sets before waking it (the usual "set, then wake" of a channel).
#[derive(Default)]
struct Slot {
    waker: Mutex<Option<Waker>>,
    ready: AtomicBool,
}

/// A task waits for another thread's flag; that thread sets it and wakes the
/// task twice, with the waker the task leaves (under a lock) at each poll.
/// The first poll also wakes the task from its own thread (a yield: the
/// local queue), racing the remote wakes on `scheduled`. The runtime's
/// thread runs `block_on` on the task's `JoinHandle`. Proved: the task is
/// polled after the flag is set and `block_on` returns (no wake is lost),
/// and the task is never queued twice (the local and remote queues hold it
/// at most once between turns).
///
/// Caught: `poll_task` clearing `scheduled` after the poll rather than
/// before (a deadlock); `wake_by_ref` ignoring `scheduled` ("queued 2
/// times").
#[test]
fn loom_task_wakes_from_another_thread() {
    model(None, || {
        let exec = Executor::new().unwrap();
        let _enter = exec.enter();
        let shared = exec.remote().0;
        let (wakeups, _) = shared.model_fds();
        let slot = Arc::new(Slot::default());
        let polls = Rc::new(Cell::new(0));
        let task = {
            let (slot, polls) = (slot.clone(), polls.clone());
            exec.spawn(std::future::poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                *slot.waker.lock().unwrap() = Some(cx.waker().clone());
                if polls.get() == 1 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                if slot.ready.load(Ordering::Acquire) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }))
        };
        let waker = thread::spawn(move || {
            slot.ready.store(true, Ordering::Release);
            let w = slot.waker.lock().unwrap().clone();
            if let Some(w) = w {
                w.wake_by_ref();
                w.wake();
            }
        });
        let out = block_on(&exec, &wakeups, task, || {
            let queued = exec.model_queued() + shared.remote.lock().unwrap().len();
            assert!(queued <= 1, "the task is queued {queued} times");
        });
        out.unwrap();
        waker.join().unwrap();
        assert!(polls.get() >= 2);
        exec.shutdown();
        exec.close_shared();
    });
}

/// A task keeps the waker of its first poll and queues itself then (a
/// yield); another thread then sets a flag (`Release`) and wakes it, often
/// while it is still queued, so that `scheduled` merges the wake into the
/// queued poll. That poll must see the flag (`Acquire`): a wake, merged or
/// not, happens before the poll that follows it (what `Waker::wake`
/// promises, and what a future that keeps its first waker relies on). Else
/// the poll returns `Pending`, nothing wakes the task again, and the
/// runtime parks forever (a loom deadlock).
///
/// Caught: `poll_task` clearing `scheduled` with a store (the code before
/// this model), or with a `Relaxed` swap; `wake_by_ref`'s swap without
/// `Release` (all: a deadlock).
#[test]
fn loom_merged_wake_happens_before_the_next_poll() {
    model(None, || {
        let exec = Executor::new().unwrap();
        let _enter = exec.enter();
        let (wakeups, _) = exec.remote().0.model_fds();
        let flag = Arc::new(AtomicBool::new(false));
        let first = FirstWaker::default();
        let task = exec.spawn(wait_for_flag(flag.clone(), first.clone()));
        exec.run_ready(1);
        let waker = first.lock().unwrap().take().expect("polled once");
        let other = set_then_wake(flag, waker);
        block_on(&exec, &wakeups, task, || {}).unwrap();
        other.join().unwrap();
        exec.shutdown();
        exec.close_shared();
    });
}

/// Completions and another thread wake the same task at once. The task
/// leaves its waker for the other thread and, as two ops submitted in its
/// poll would, two driver wake-ups (`Wakeup::of`, which on the task's own
/// thread is `Wakeup::Task`). The other thread sets a flag and wakes; the
/// runtime's thread delivers both completions' wake-ups (`Executor::wake_all`,
/// as after a reap), then runs the task until it sees the flag. A
/// completion's wake queues the task as it is and leaves `scheduled`
/// alone; the poll it causes swaps `scheduled` only if a waker set it.
/// Proved: no wake-up is lost (the task finishes) and the task is polled
/// at most three times: the first poll, then once per pass that has an
/// entry for it (the two completions' entries share a pass).
///
/// Caught: `poll_task` never clearing `scheduled` (a deadlock: later wakes
/// merge into a poll that never comes); `poll_task` ignoring `polled_in`
/// ("polled 4 times").
#[test]
fn loom_completion_wake_races_a_remote_wake() {
    model(None, || {
        let exec = Executor::new().unwrap();
        let _enter = exec.enter();
        let shared = exec.remote().0;
        let (wakeups, _) = shared.model_fds();
        let flag = Arc::new(AtomicBool::new(false));
        let first = FirstWaker::default();
        let completions: Rc<Cell<Vec<Wakeup>>> = Rc::default();
        let polls = Rc::new(Cell::new(0));
        let task = {
            let (flag, first, completions) = (flag.clone(), first.clone(), completions.clone());
            let polls = polls.clone();
            exec.spawn(std::future::poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                if polls.get() == 1 {
                    *first.lock().unwrap() = Some(cx.waker().clone());
                    completions.set(vec![Wakeup::of(cx.waker()), Wakeup::of(cx.waker())]);
                    return Poll::Pending;
                }
                if flag.load(Ordering::Acquire) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }))
        };
        exec.run_ready(1);
        let waker = first.lock().unwrap().take().expect("polled once");
        let wakeups_of_ops = completions.take();
        assert!(
            wakeups_of_ops.iter().all(|w| matches!(w, Wakeup::Task(_))),
            "task wake-ups"
        );
        let other = set_then_wake(flag, waker);
        let mut wakes = Wakes::default();
        for w in wakeups_of_ops {
            wakes.push(w);
        }
        exec.wake_all(&mut wakes);
        block_on(&exec, &wakeups, task, || {
            let queued = exec.model_queued() + shared.remote.lock().unwrap().len();
            assert!(queued <= 3, "the task is queued {queued} times");
        })
        .unwrap();
        assert!(polls.get() <= 3, "the task is polled {} times", polls.get());
        other.join().unwrap();
        exec.shutdown();
        exec.close_shared();
    });
}

/// The same for the `block_on` future itself (its waker and
/// `take_main_woken` rather than a task's).
///
/// Caught: `take_main_woken` clearing `scheduled` with a store (the code
/// before this model): a deadlock.
#[test]
fn loom_merged_wake_of_block_on_happens_before_its_next_poll() {
    model(None, || {
        let exec = Executor::new().unwrap();
        let _enter = exec.enter();
        let (wakeups, _) = exec.remote().0.model_fds();
        let flag = Arc::new(AtomicBool::new(false));
        let first = FirstWaker::default();
        let mut other = None;
        let main = wait_for_flag(flag.clone(), first.clone());
        block_on(&exec, &wakeups, main, || {
            if let Some(waker) = first.lock().unwrap().take() {
                other = Some(set_then_wake(flag.clone(), waker));
            }
        });
        other.expect("spawned").join().unwrap();
        exec.shutdown();
        exec.close_shared();
    });
}

/// A waker held by another thread wakes (by reference and by value), is
/// cloned and dropped while its runtime shuts down and is dropped. Proved:
/// no panic, no wake-up sent after `close`, nothing leaked (loom checks
/// that every `Arc<Shared>` is gone at the end).
///
/// Caught: `close` leaving the eventfd open ("a wake-up after close").
#[test]
fn loom_waker_outlives_its_runtime() {
    model(None, || {
        let exec = Executor::new().unwrap();
        let enter = exec.enter();
        let (wakeups, _) = exec.remote().0.model_fds();
        let slot = Arc::new(Slot::default());
        let task = {
            let slot = slot.clone();
            exec.spawn(std::future::poll_fn(move |cx| {
                *slot.waker.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }))
        };
        exec.run_ready(128);
        let w = slot.waker.lock().unwrap().take().expect("polled once");
        let other = thread::spawn(move || {
            w.wake_by_ref();
            drop(w.clone());
            w.wake();
        });
        drop(task);
        exec.shutdown();
        exec.close_shared();
        let sent_at_close = wakeups.pending();
        drop(enter);
        drop(exec);
        other.join().unwrap();
        assert_eq!(wakeups.pending(), sent_at_close, "a wake-up after close");
    });
}
