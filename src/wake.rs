//! Wake tokens: whom an op's completion wakes, as the driver stores it.
//!
//! A leaf module: the driver stores and returns these tokens without
//! knowing what a task is; the executor says which task it is polling
//! ([`Polling`]) and turns [`Wakeup::Task`] tokens back into tasks
//! ([`Wakes::tasks`]).
//!
//! Almost every op is awaited directly by the task that submitted it, and
//! then the driver need not hold a `Waker` at all: it keeps the task's queue
//! reference ([`Wakeup::Task`]) and the runtime puts the task back on its
//! run queue when the CQE comes. That skips the waker's clone and drop (two
//! atomic reference-count updates) and the generic wake path (an atomic
//! swap and a thread-local lookup): three atomic read-modify-writes per
//! op (what that saves: benches/compare/README.md, "Design measurements",
//! "Wake-ups without a `Waker`"). Such a wake-up only
//! appends the task's reference to the run queue (duplicates are skipped
//! when polled, see `Executor::run_ready`) and leaves the waker's atomic
//! `scheduled` flag clear, so the poll that follows skips its atomic swap
//! too (see `Inner::poll_task`). Any other waker (a combinator's, another
//! runtime's, the `block_on` future's) is kept as a `Waker`.
//!
//! The executor says which task it is polling ([`Polling`]); a waker is
//! recognised as that task's own by its data and vtable pointers, which are
//! those of the task's `Arc<Header>` waker while the task is polled.

use std::cell::Cell;
use std::task::{RawWakerVTable, Waker};

/// The task being polled on this thread: its queue reference and its
/// waker's data and vtable pointers; null pointers between polls.
type Current = (u64, *const (), *const RawWakerVTable);

thread_local! {
    static POLLING: Cell<Current> =
        const { Cell::new((0, std::ptr::null(), std::ptr::null())) };
}

/// Whom a completion wakes. See the module docs.
pub(crate) enum Wakeup {
    /// The task with this queue reference (slot key and generation), woken
    /// by the executor (`Executor::wake_all`) on the runtime's thread.
    Task(u64),
    /// Any other waker.
    Waker(Waker),
}

impl Wakeup {
    /// Whom to wake for a future polled with `waker`.
    #[inline]
    pub(crate) fn of(waker: &Waker) -> Wakeup {
        match polling_task(waker) {
            Some(task) => Wakeup::Task(task),
            None => Wakeup::Waker(waker.clone()),
        }
    }

    /// Whether this wakes the same as `waker` would.
    #[inline]
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        match self {
            Wakeup::Task(task) => polling_task(waker) == Some(*task),
            Wakeup::Waker(w) => w.will_wake(waker),
        }
    }
}

/// Whom a reap woke, gathered by the driver and woken by the runtime after
/// the driver's borrow ends: task references apart from other wakers, so
/// the common case is a list of plain `u64`s (no per-entry match or drop).
#[derive(Default)]
pub(crate) struct Wakes {
    /// Tasks to queue ([`Wakeup::Task`]).
    pub(crate) tasks: Vec<u64>,
    /// Other wakers to call ([`Wakeup::Waker`]).
    pub(crate) wakers: Vec<Waker>,
}

impl Wakes {
    /// Empty lists with room for `n` task wake-ups.
    pub(crate) fn with_capacity(n: usize) -> Wakes {
        Wakes {
            tasks: Vec::with_capacity(n),
            wakers: Vec::new(),
        }
    }

    /// Adds one wake-up.
    #[inline]
    pub(crate) fn push(&mut self, wakeup: Wakeup) {
        match wakeup {
            Wakeup::Task(task) => self.tasks.push(task),
            Wakeup::Waker(waker) => self.wakers.push(waker),
        }
    }

    /// Whether there is nothing to wake.
    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.wakers.is_empty()
    }
}

impl From<Waker> for Wakeup {
    fn from(waker: Waker) -> Wakeup {
        Wakeup::Waker(waker)
    }
}

/// The queue reference of the task being polled, if `waker` is its own.
#[inline]
fn polling_task(waker: &Waker) -> Option<u64> {
    let (task, data, vtable) = POLLING.with(Cell::get);
    let own = !data.is_null() && waker.data() == data && std::ptr::eq(waker.vtable(), vtable);
    own.then_some(task)
}

/// Marks `task`, whose waker is `waker`, as the one being polled on this
/// thread until the guard is dropped.
pub(crate) struct Polling(());

impl Polling {
    #[inline]
    pub(crate) fn start(task: u64, waker: &Waker) -> Polling {
        POLLING.with(|p| p.set((task, waker.data(), waker.vtable())));
        Polling(())
    }
}

impl Drop for Polling {
    #[inline]
    fn drop(&mut self) {
        POLLING.with(|p| p.set((0, std::ptr::null(), std::ptr::null())));
    }
}
