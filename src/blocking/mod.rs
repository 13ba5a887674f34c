//! Blocking work off the runtime's thread: [`spawn_blocking`], and the way
//! back into async code from such a thread (curio's `AWAIT`).
//!
//! Each runtime has a bounded pool of threads for closures that block (CPU
//! work, a blocking library call). The pool grows on demand up to
//! [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)
//! (further work queues) and a thread that stays idle for
//! [`Builder::blocking_keep_alive`](crate::Builder::blocking_keep_alive)
//! exits. The pool itself is `blocking::pool`, a leaf module the epoll driver
//! also runs its file operations on.
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
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

pub(crate) mod pool;

pub use pool::PoolStats;
pub(crate) use pool::{Pool, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS};

/// Runs `f` on the current runtime's blocking pool; await the handle for its
/// result. A panic in `f` comes back as a [`JoinError`](crate::JoinError)
/// whose `is_panic()` is true.
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
        // Aborted (or the runtime gone) before a thread took it: the task
        // that would receive the outcome is gone, so `f` does not start.
        if tx.is_closed() {
            return;
        }
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
