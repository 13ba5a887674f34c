//! The cooperative budget: a task that keeps finding its work already done
//! yields on its own.
//!
//! Most curing ops wait for the kernel, and waiting returns to the scheduler.
//! But some awaits are ready at once: bytes stashed for the next read, a
//! timer already due, a finished task's `JoinHandle`, a channel with messages
//! waiting. A loop over such awaits would never return to the scheduler and
//! would starve timers and other tasks. So each poll of a task gets a budget
//! of [`BUDGET`] ready results; once it is spent, the next await that would
//! have been ready wakes its task and returns `Pending` instead, which puts
//! the task at the back of the run queue. No `yield_now` is needed in user
//! loops.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Ready results a task may take in one poll before it must yield.
pub(crate) const BUDGET: u32 = 128;

thread_local! {
    /// What the task being polled has left; `u32::MAX` outside a task poll
    /// (no limit for code not run by the executor).
    static LEFT: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// Runs `f` (one poll of a task or of the `block_on` future) with a fresh
/// budget, restoring the previous one afterwards.
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEFT.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(LEFT.with(|l| l.replace(BUDGET)));
    f()
}

/// Takes one unit of budget for a result that is ready now. When none is
/// left, wakes the task and returns `Pending`: the caller returns `Pending`
/// too, and is polled again after the other ready tasks ran.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    LEFT.with(|l| match l.get() {
        0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        n => {
            l.set(n - 1);
            Poll::Ready(())
        }
    })
}

/// Like [`poll_proceed`], as a future: for ready paths in `async fn`s.
pub(crate) async fn proceed() {
    std::future::poll_fn(poll_proceed).await
}

/// The budget left to the current poll (for tests).
#[cfg(test)]
pub(crate) fn left() -> u32 {
    LEFT.with(|l| l.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_then_wakes() {
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(left(), u32::MAX, "no limit outside a task poll");
        with_budget(|| {
            for _ in 0..BUDGET {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(poll_proceed(&mut cx).is_pending(), "budget spent");
            with_budget(|| assert_eq!(left(), BUDGET, "a nested poll gets its own"));
            assert_eq!(left(), 0, "restored after the nested poll");
        });
        assert_eq!(left(), u32::MAX);
    }
}
