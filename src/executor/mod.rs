//! The executor: tasks, the run queue, wakers and [`JoinHandle`].
//!
//! It knows tasks and wakers, not io_uring. A task is a boxed future in a
//! slab slot; the run queue holds slot references (key and generation, so a
//! stale wake of a finished task never polls its successor). A task is
//! polled with its slot's future taken out, so nothing is borrowed while user
//! code runs: a task may spawn, abort or drop other tasks freely.
//!
//! ## Wakers are `Send + Sync`
//!
//! Futures need not be `Send`, but a `Waker` must accept `wake`, `clone` and
//! `drop` from any thread, also after the runtime is gone
//! (docs/reliability.md, rule 8). A task's waker is an `Arc<Header>`: on the
//! runtime's own thread a wake pushes onto the local queue; from elsewhere it
//! goes to a mutex-protected remote queue and writes the runtime's eventfd,
//! whose read in the ring wakes the parked thread. Once the runtime is gone,
//! `alive` is false and wakes do nothing.
//!
//! When the waking thread runs a curing runtime itself, the wake-up goes
//! through its own ring instead (`IORING_OP_MSG_RING`; see `remote`).
//!
//! ## Jobs
//!
//! A [`Remote`] (what `Handle` wraps) also queues *jobs*: `Send` closures
//! that run on the runtime's thread, with the runtime current, at the start
//! of its next batch. `Handle::spawn` is a job that spawns a task.

pub(crate) mod remote;

use crate::sys;
pub(crate) use remote::Remote;
use remote::Shared;

mod info;
mod join;

pub use info::{TaskId, TaskInfo, TaskState};
pub use join::{JoinError, JoinHandle};
use join::{JoinFail, JoinState};
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::os::fd::{OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
// The waker's `Arc<Header>` is std's (what `Waker::from` takes); the flag
// and the `Shared` it points at are loom's in the loom models.
use crate::sync_prims::{self as prims, AtomicBool, Ordering};
pub(crate) use crate::wake::Wakes;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Queue entry that stands for the `block_on` future rather than a task.
const MAIN: u64 = u64::MAX;

#[cfg(not(all(test, loom)))]
thread_local! {
    /// The run queue of the executor running on this thread, if any.
    static LOCAL: RefCell<Option<Rc<LocalQueue>>> = const { RefCell::new(None) };
}
// The same, per loom thread, in the loom models (its macro takes no `const`).
#[cfg(all(test, loom))]
loom::thread_local! {
    static LOCAL: RefCell<Option<Rc<LocalQueue>>> = RefCell::new(None);
}

/// The run queue, reachable from wakers on the runtime's thread.
struct LocalQueue {
    /// Identity of the executor (its `Shared`), so a waker of another
    /// runtime that once ran on this thread does not push here.
    owner: *const Shared,
    /// Task references ready to poll, in wake order.
    entries: RefCell<Vec<u64>>,
}

/// A closure to run on a runtime's thread (see the module docs).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// What a task's `Waker` points at.
struct Header {
    /// The task's queue entry (slot key and generation).
    task: u64,
    /// True from a wake until the next poll starts: one queue entry per wake.
    scheduled: AtomicBool,
    /// The executor, for wakes from other threads.
    shared: prims::Arc<Shared>,
}

impl Wake for Header {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let owner = prims::Arc::as_ptr(&self.shared);
        let local = LOCAL
            .try_with(|l| match l.try_borrow().ok().as_deref() {
                Some(Some(q)) if q.owner == owner => match q.entries.try_borrow_mut() {
                    Ok(mut entries) => {
                        entries.push(self.task);
                        true
                    }
                    Err(_) => false,
                },
                _ => false,
            })
            .unwrap_or(false);
        if !local {
            Shared::push_remote(&self.shared, self.task);
        }
    }
}

/// A spawned task, as the executor keeps it.
struct TaskSlot {
    /// Matched against the queue entry's generation.
    generation: u32,
    /// For [`Executor::tasks`].
    id: TaskId,
    /// Optional, given at spawn (see `TaskBuilder`).
    name: Option<Rc<str>>,
    /// The task's waker; moved out for each poll and back (not cloned: no
    /// atomic update), so `None` while the task is polled.
    waker: Option<Waker>,
    /// The same allocation as `waker`, to clear `scheduled` before a poll.
    header: Arc<Header>,
    /// The future; `None` while it is being polled.
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    /// Where an abort or a panic is reported to the `JoinHandle`.
    join: Rc<dyn JoinFail>,
    /// Set by an abort that arrived while the task was being polled.
    aborted: bool,
    /// The `run_ready` pass that last polled the task (0: none yet). Every
    /// entry of a pass's batch was queued before the pass began, so once
    /// the task is polled in a pass its other entries there are redundant
    /// and skipped (see [`Executor::run_ready`]). A `u64`: it never wraps.
    polled_in: u64,
}

/// The executor of one runtime.
pub(crate) struct Executor {
    inner: Rc<Inner>,
}

struct Inner {
    /// Live tasks.
    tasks: RefCell<Slab<TaskSlot>>,
    /// The run queue (shared with wakers through `LOCAL`).
    queue: Rc<LocalQueue>,
    /// The cross-thread part.
    shared: prims::Arc<Shared>,
    /// Generation for the next task slot.
    next_generation: Cell<u32>,
    /// Id for the next task.
    next_id: Cell<u64>,
    /// Set at shutdown: spawns are cancelled at once.
    closed: Cell<bool>,
    /// Set when the `block_on` future was woken.
    main_woken: Cell<bool>,
    /// The `block_on` future's waker header.
    main: Arc<Header>,
    /// The `block_on` future's waker.
    main_waker: Waker,
    /// Task polls so far (for `Stats::polls`).
    polls: Cell<u64>,
    /// The run queue's entries as the last pass found them, walked by
    /// passes from `cursor` on (see `Executor::run_ready`); used up, it
    /// keeps its allocation for the next swap.
    batch: RefCell<Vec<u64>>,
    /// The first entry of `batch` the next pass runs.
    cursor: Cell<usize>,
    /// The first entry of `batch` the last (or running) pass ran.
    pass_start: Cell<usize>,
    /// Passes of `run_ready` so far (see `TaskSlot::polled_in`).
    pass: Cell<u64>,
}

/// Packs a slab key and generation into a queue entry.
fn task_ref(key: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | key as u64
}

impl Executor {
    pub(crate) fn new() -> std::io::Result<Executor> {
        let shared = prims::Arc::new(Shared::new(sys::eventfd()?));
        let queue = Rc::new(LocalQueue {
            owner: prims::Arc::as_ptr(&shared),
            entries: RefCell::new(Vec::new()),
        });
        let main = Arc::new(Header {
            task: MAIN,
            scheduled: AtomicBool::new(false),
            shared: shared.clone(),
        });
        Ok(Executor {
            inner: Rc::new(Inner {
                tasks: RefCell::new(Slab::new()),
                queue,
                shared,
                next_generation: Cell::new(1),
                next_id: Cell::new(1),
                closed: Cell::new(false),
                main_woken: Cell::new(true),
                main_waker: Waker::from(main.clone()),
                main,
                polls: Cell::new(0),
                batch: RefCell::new(Vec::new()),
                cursor: Cell::new(0),
                pass_start: Cell::new(0),
                pass: Cell::new(0),
            }),
        })
    }

    /// The eventfd other threads write to wake this runtime.
    pub(crate) fn wake_fd(&self) -> RawFd {
        self.inner.shared.eventfd_raw()
    }

    /// Enables `MSG_RING` wakes from other runtimes, aimed at `ring` (a
    /// duplicate of this runtime's ring fd).
    pub(crate) fn set_msg_ring(&self, ring: OwnedFd) {
        self.inner.shared.set_ring(ring);
    }

    /// The thread-safe face of this executor.
    pub(crate) fn remote(&self) -> Remote {
        Remote(self.inner.shared.clone())
    }

    /// Makes this executor's queue the one wakers on this thread push to.
    /// Returns a guard that restores the previous one.
    pub(crate) fn enter(&self) -> EnterGuard {
        let prev = LOCAL.with(|l| l.replace(Some(self.inner.queue.clone())));
        EnterGuard { prev }
    }

    /// The waker of the `block_on` future.
    pub(crate) fn main_waker(&self) -> &Waker {
        &self.inner.main_waker
    }

    /// Marks the `block_on` future as ready to poll (at the start of each
    /// `block_on`).
    pub(crate) fn wake_main(&self) {
        self.inner.main_woken.set(true);
    }

    /// Whether the `block_on` future was woken since the last call; clears
    /// it, so the next wake queues it again.
    pub(crate) fn take_main_woken(&self) -> bool {
        if self.inner.main_woken.replace(false) {
            // A swap, as in `poll_task`.
            self.inner.main.scheduled.swap(false, Ordering::AcqRel);
            return true;
        }
        false
    }

    /// Whether anything is ready to run (the main future or a task).
    pub(crate) fn has_ready(&self) -> bool {
        self.inner.main_woken.get()
            || !self.inner.queue.entries.borrow().is_empty()
            || self.inner.cursor.get() < self.inner.batch.borrow().len()
            || self.inner.shared.notified.load(Ordering::Acquire)
    }

    /// Wakes everything in `wakes` and empties it. The tasks go onto the
    /// run queue as they are, in one copy: no lookup, no flag. A task with
    /// two entries (two of its ops completed) or also woken by its waker is
    /// polled once per pass all the same (see [`run_ready`](Self::run_ready)),
    /// and an entry of a finished task is dropped when popped. The other
    /// wakers are called after the queue's borrow ends (a waker may run any
    /// code).
    pub(crate) fn wake_all(&self, wakes: &mut Wakes) {
        self.inner
            .queue
            .entries
            .borrow_mut()
            .extend_from_slice(&wakes.tasks);
        wakes.tasks.clear();
        for w in wakes.wakers.drain(..) {
            w.wake();
        }
    }

    /// Number of live tasks.
    pub(crate) fn task_count(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    /// Task polls so far.
    pub(crate) fn polls(&self) -> u64 {
        self.inner.polls.get()
    }

    /// Spawns `future` as a task; see [`crate::spawn`].
    pub(crate) fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        self.spawn_named(None, future)
    }

    /// Spawns a task with an optional name (shown by [`Executor::tasks`]).
    pub(crate) fn spawn_named<F: Future + 'static>(
        &self,
        name: Option<Rc<str>>,
        future: F,
    ) -> JoinHandle<F::Output> {
        let inner = &self.inner;
        let id = TaskId(inner.next_id.get());
        inner.next_id.set(id.0 + 1);
        let state = Rc::new(JoinState {
            result: RefCell::new(None),
            waker: RefCell::new(None),
        });
        if inner.closed.get() {
            drop(future);
            state.fail(JoinError::cancelled());
            return JoinHandle {
                state,
                task: 0,
                id,
                name,
                executor: Weak::new(),
            };
        }
        let output = state.clone();
        let wrapped = async move {
            let value = future.await;
            output.finish(Ok(value));
        };
        let generation = inner.next_generation.get();
        inner.next_generation.set(generation.wrapping_add(1).max(1));
        let mut tasks = inner.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let task = task_ref(entry.key(), generation);
        let header = Arc::new(Header {
            task,
            scheduled: AtomicBool::new(true),
            shared: inner.shared.clone(),
        });
        entry.insert(TaskSlot {
            generation,
            id,
            name: name.clone(),
            waker: Some(Waker::from(header.clone())),
            header,
            future: Some(Box::pin(wrapped)),
            join: state.clone(),
            aborted: false,
            polled_in: 0,
        });
        drop(tasks);
        crate::trace::task_spawned(id.0, name.as_deref());
        inner.queue.entries.borrow_mut().push(task);
        JoinHandle {
            state,
            task,
            id,
            name,
            executor: Rc::downgrade(inner),
        }
    }

    /// Polls up to `max` queued tasks, tasks woken meanwhile included. Moves
    /// remote wakes to the local queue first.
    ///
    /// The work is done in passes. The queue is a `Vec` that is only pushed
    /// to: a pass that finds the last batch used up swaps the queue into
    /// `batch` whole, then walks the batch under a shared borrow, with no
    /// borrow per task and no front pops (a `VecDeque` pop and its borrow
    /// were a visible share of a NOP's instructions: benches/compare/README.md,
    /// "Design measurements", "Instructions per NOP"). Tasks woken during a pass wait in
    /// the queue for the next pass, which this call runs too while `max`
    /// allows; a batch longer than that (a burst of spawns, say) is finished
    /// by the next calls, before the tasks woken meanwhile.
    ///
    /// Every entry of a batch was queued before its pass began, so a task
    /// polled once in the pass has seen every wake that queued its other
    /// entries there: those are skipped (`TaskSlot::polled_in`). That is
    /// how completions queue a task without looking it up
    /// ([`wake_all`](Self::wake_all)).
    pub(crate) fn run_ready(&self, max: usize) {
        self.drain_remote();
        let inner = &*self.inner;
        let mut left = max;
        while left > 0 {
            if inner.cursor.get() == inner.batch.borrow().len() {
                let mut batch = inner.batch.borrow_mut();
                batch.clear();
                std::mem::swap(&mut *inner.queue.entries.borrow_mut(), &mut *batch);
                inner.cursor.set(0);
                if batch.is_empty() {
                    return;
                }
            }
            let pass = inner.pass.get() + 1;
            inner.pass.set(pass);
            let batch = inner.batch.borrow();
            let start = inner.cursor.get();
            let end = batch.len().min(start + left);
            inner.pass_start.set(start);
            inner.cursor.set(end);
            left -= end - start;
            for &entry in &batch[start..end] {
                match entry {
                    MAIN => inner.main_woken.set(true),
                    task => inner.poll_task(task, pass),
                }
            }
        }
    }

    /// Moves tasks woken from other threads onto the local queue and runs
    /// the jobs other threads queued (which usually spawn tasks).
    fn drain_remote(&self) {
        let Some((woken, jobs)) = self.inner.shared.drain() else {
            return;
        };
        self.inner.queue.entries.borrow_mut().extend(woken);
        for job in jobs {
            // Nothing is borrowed here: a job may spawn, wake, or panic (the
            // panic is contained; a job that dies reports Cancelled through
            // its dropped channel).
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
    }

    /// Drops every task (their ops are abandoned and cancelled), repeating
    /// while dropping spawns more; later spawns are cancelled at once.
    pub(crate) fn shutdown(&self) {
        self.inner.closed.set(true);
        loop {
            let slots: Vec<TaskSlot> = self.inner.tasks.borrow_mut().drain().collect();
            if slots.is_empty() {
                break;
            }
            for slot in slots {
                cancel_task(slot);
            }
        }
        self.inner.queue.entries.borrow_mut().clear();
        self.inner.batch.borrow_mut().clear();
        self.inner.cursor.set(0);
        self.inner.pass_start.set(0);
    }

    /// After shutdown: wakes from anywhere become no-ops, and queued jobs
    /// are dropped unrun (their callers see the runtime gone).
    pub(crate) fn close_shared(&self) {
        self.inner.shared.close();
    }
}

#[cfg(all(test, loom))]
impl Executor {
    /// Task entries in the local run queue, for the loom models.
    pub(crate) fn model_queued(&self) -> usize {
        let entries = self.inner.queue.entries.borrow();
        let batch = self.inner.batch.borrow();
        let unrun = &batch[self.inner.cursor.get()..];
        entries.iter().chain(unrun).filter(|&&e| e != MAIN).count()
    }
}

impl Inner {
    /// Polls the task of a queue entry in pass `pass` of `run_ready`,
    /// unless it finished or this pass polled it already.
    fn poll_task(&self, task: u64, pass: u64) {
        let key = (task & 0xffff_ffff) as usize;
        let generation = (task >> 32) as u32;
        let (mut future, waker, id) = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(slot) = tasks.get_mut(key).filter(|s| s.generation == generation) else {
                return; // a stale wake of a finished task
            };
            if slot.polled_in == pass {
                return; // a redundant entry (see `Executor::run_ready`)
            }
            slot.polled_in = pass;
            // A swap, not a store: it reads the latest wake's write, so a
            // wake merged into this queued poll (its swap found `true`)
            // happens before the poll, which sees what the waker wrote
            // (loom model in src/loom_tests/executor.rs). Skipped when the
            // flag is clear: then this poll came from a completion, and
            // every waker that set the flag since the last clear queued a
            // poll of its own (a wake finding `false` queues), which
            // happens after that wake and swaps.
            if slot.header.scheduled.load(Ordering::Acquire) {
                slot.header.scheduled.swap(false, Ordering::AcqRel);
            }
            let (Some(future), Some(waker)) = (slot.future.take(), slot.waker.take()) else {
                return;
            };
            (future, waker, slot.id)
        };
        self.polls.set(self.polls.get() + 1);
        let mut cx = Context::from_waker(&waker);
        let polled = {
            let _span = crate::trace::task_poll(id.0);
            let _polling = crate::wake::Polling::start(task, &waker);
            catch_unwind(AssertUnwindSafe(|| {
                crate::coop::with_budget(|| future.as_mut().poll(&mut cx))
            }))
        };
        let mut tasks = self.tasks.borrow_mut();
        match polled {
            Ok(Poll::Pending) if !tasks[key].aborted => {
                let slot = &mut tasks[key];
                slot.future = Some(future);
                slot.waker = Some(waker);
            }
            Ok(Poll::Pending) => {
                let mut slot = tasks.remove(key);
                drop(tasks);
                slot.future = Some(future);
                cancel_task(slot);
            }
            Ok(Poll::Ready(())) => {
                let slot = tasks.remove(key);
                drop(tasks);
                crate::trace::task_exited(id.0, "done");
                drop_quietly(future);
                drop(slot);
            }
            Err(panic) => {
                let slot = tasks.remove(key);
                drop(tasks);
                crate::trace::task_exited(id.0, "panicked");
                drop_quietly(future);
                slot.join.fail(JoinError::panicked(panic));
            }
        }
    }

    fn abort(&self, task: u64) {
        let key = (task & 0xffff_ffff) as usize;
        let generation = (task >> 32) as u32;
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(key).filter(|s| s.generation == generation) else {
            return; // already finished
        };
        if slot.future.is_none() {
            slot.aborted = true; // being polled: dropped when the poll returns
            return;
        }
        let slot = tasks.remove(key);
        drop(tasks);
        cancel_task(slot);
    }
}

/// Drops a task's future (its ops go through the cancel path) and reports
/// `Cancelled` to its handle.
fn cancel_task(mut slot: TaskSlot) {
    crate::trace::task_exited(slot.id.0, "cancelled");
    if let Some(future) = slot.future.take() {
        drop_quietly(future);
    }
    slot.join.fail(JoinError::cancelled());
}

/// Drops a future, containing a panic from its destructor.
fn drop_quietly(future: Pin<Box<dyn Future<Output = ()>>>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
}

/// Restores the previous run queue of this thread when dropped.
pub(crate) struct EnterGuard {
    prev: Option<Rc<LocalQueue>>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = LOCAL.try_with(|l| l.replace(prev));
    }
}

/// Yields once to the other tasks of the runtime.
///
/// Rarely needed: curing's ops already yield when they wait.
///
/// ```
/// curing::run(async {
///     curing::yield_now().await;
/// });
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}
