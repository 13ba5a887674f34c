//! Blocking work off the runtime's thread: [`spawn_blocking`], and the way
//! back into async code from such a thread (curio's `AWAIT`).
//!
//! Each runtime has a bounded pool of threads for closures that block (CPU
//! work, a blocking library call). The pool grows on demand up to
//! [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)
//! (further work queues) and a thread that stays idle for
//! [`Builder::blocking_keep_alive`](crate::Builder::blocking_keep_alive)
//! exits.
//!
//! Inside the closure, [`Handle::current`](crate::runtime::Handle::current)
//! names the runtime that spawned it, so blocking code can run async code
//! there and wait for it without being handed anything:
//!
//! ```
//! use curing::runtime::Handle;
//! curing::run(async {
//!     let sum = curing::spawn_blocking(|| {
//!         // A plain thread: block freely, and call back into async code.
//!         (0..10)
//!             .map(|i| Handle::current().block_on(async move { i * 2 }))
//!             .sum::<i32>()
//!     });
//!     assert_eq!(sum.await.unwrap(), 90);
//! });
//! ```
//!
//! Blocking on a runtime's own thread (a `blocking_recv` or
//! `Handle::block_on` inside a task) would stall all of its tasks, or
//! deadlock; curing panics there with a message saying what to do instead.

use crate::executor::JoinHandle;
use crate::runtime::Handle;
use crate::sync::thread::oneshot;
use crate::sync_prims::{self as prims, AtomicBool, Ordering, Thread};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Default cap on a runtime's blocking threads.
pub(crate) const DEFAULT_MAX_THREADS: usize = 64;
/// Default idle time after which a blocking thread exits.
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

type Work = Box<dyn FnOnce() + Send>;

/// One runtime's blocking threads.
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    /// Idle threads wait here for work (or for `keep_alive` to pass).
    work_ready: Condvar,
    /// Most threads at once.
    max_threads: usize,
    /// How long an idle thread waits before exiting.
    keep_alive: Duration,
}

struct PoolState {
    /// Work no thread has taken yet.
    queue: VecDeque<Work>,
    /// Threads alive.
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Set when the runtime is dropped: queued work is dropped, idle threads
    /// exit, running closures finish.
    closed: bool,
}

/// Counts of a runtime's blocking pool, see [`blocking_pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Threads alive (running a closure or idle).
    pub threads: usize,
    /// Of those, threads waiting for work.
    pub idle: usize,
    /// Closures waiting for a thread.
    pub queued: usize,
}

impl Pool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                closed: false,
            }),
            work_ready: Condvar::new(),
            max_threads: max_threads.max(1),
            keep_alive,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Work runs outside the lock; a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `work`, starting a thread if every thread is busy and the cap
    /// allows one.
    fn submit(self: &Arc<Self>, work: Work) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.queue.push_back(work);
        if state.queue.len() > state.idle && state.threads < self.max_threads {
            state.threads += 1;
            drop(state);
            let pool = self.clone();
            let spawned = std::thread::Builder::new()
                .name("curing-blocking".into())
                .spawn(move || pool.worker());
            if spawned.is_err() {
                // Out of threads: the work waits for a busy thread instead.
                self.lock().threads -= 1;
            }
            return;
        }
        drop(state);
        self.work_ready.notify_one();
    }

    fn worker(self: Arc<Self>) {
        crate::sys::thread::block_async_signals();
        let mut state = self.lock();
        loop {
            if let Some(work) = state.queue.pop_front() {
                drop(state);
                // The closure's panic is caught by `work` itself and sent to
                // its JoinHandle; this is only a last resort.
                let _ = catch_unwind(AssertUnwindSafe(work));
                state = self.lock();
                continue;
            }
            if state.closed {
                break;
            }
            state.idle += 1;
            let (s, timeout) = self
                .work_ready
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = s;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    /// The runtime is going away: drop queued work, let idle threads go.
    pub(crate) fn close(&self) {
        let queued = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        drop(queued);
        self.work_ready.notify_all();
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.lock();
        PoolStats {
            threads: state.threads,
            idle: state.idle,
            queued: state.queue.len(),
        }
    }
}

/// Runs `f` on the current runtime's blocking pool; await the handle for its
/// result. A panic in `f` comes back as [`JoinError`](crate::JoinError)
/// `Panicked`.
///
/// Aborting the handle (or the runtime shutting down) stops waiting for the
/// result but cannot stop `f` once it runs; work not yet started is
/// dropped. Inside `f`, [`Handle::current`] is the spawning runtime.
///
/// ```
/// curing::run(async {
///     let h = curing::spawn_blocking(|| std::thread::current().name().map(String::from));
///     assert_eq!(h.await.unwrap().as_deref(), Some("curing-blocking"));
/// });
/// ```
///
/// # Panics
///
/// Outside a curing runtime.
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let ctx = crate::runtime::current();
    let (tx, rx) = oneshot::channel();
    // The work holds the runtime's handle only while it exists, so an idle
    // pool keeps nothing of the runtime alive.
    let handle = Handle::from_remote(ctx.executor.remote());
    ctx.blocking.submit(Box::new(move || {
        let outcome = {
            let _current = handle.enter_blocking();
            catch_unwind(AssertUnwindSafe(f))
        };
        // Let go of the runtime before it learns we are done: it may be
        // dropped right after, and should not find its fds still held here.
        drop(handle);
        let _ = tx.send(outcome);
    }));
    ctx.executor.spawn(async move {
        match rx.await {
            Ok(Ok(value)) => value,
            // Re-raised in the task, so its JoinHandle reports the payload.
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // The pool dropped the work unrun (runtime shutting down).
            Err(_) => std::future::pending().await,
        }
    })
}

/// Counts of the current runtime's blocking pool (threads alive, idle,
/// queued work), for diagnostics and tests.
///
/// # Panics
///
/// Outside a curing runtime.
pub fn blocking_pool() -> PoolStats {
    crate::runtime::current().blocking.stats()
}

/// Wakes a parked thread.
struct Unparker {
    thread: Thread,
    /// Set by a wake, cleared by the waiting loop: no wake is lost between a
    /// poll and the park.
    woken: AtomicBool,
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        #[cfg(not(all(test, loom)))]
        self.woken.store(true, Ordering::Release);
        // The same write as a swap in the loom models: loom 0.7 lets a plain
        // store land between the read and the write of the waiter's swap
        // (tokio-rs/loom#254), which C11 forbids; it would report a false
        // deadlock here.
        #[cfg(all(test, loom))]
        self.woken.swap(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Polls `future` to completion on this (plain) thread, parking between
/// polls. `what` names the caller for the panic message.
///
/// # Panics
///
/// On a thread running a curing runtime.
pub(crate) fn wait<F: Future>(what: &str, future: F) -> F::Output {
    crate::runtime::assert_can_block(what);
    let unparker = Arc::new(Unparker {
        thread: prims::current_thread(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unparker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        while !unparker.woken.swap(false, Ordering::AcqRel) {
            prims::park();
        }
    }
}
