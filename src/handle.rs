//! [`Handle`]: a runtime as other threads see it.
//!
//! A `Handle` is `Send + Sync + Clone`. From any thread it spawns a task on
//! its runtime ([`Handle::spawn`]) or runs a future there and waits for the
//! result ([`Handle::block_on`]). Both queue a job on the runtime (see the
//! executor's *Jobs*) and wake its thread; the result comes back through a
//! thread-safe oneshot, so awaiting it from another runtime costs no thread.
//!
//! [`Handle::current`] works on a runtime's thread and inside a
//! [`spawn_blocking`](crate::spawn_blocking) closure (the spawning runtime),
//! so blocking code goes back into async code without being handed anything.

use crate::executor::{JoinError, Remote};
use crate::sync::thread::oneshot;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    /// The runtime a `spawn_blocking` closure running on this thread came
    /// from.
    static BLOCKING: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// A runtime, reachable from any thread: `spawn` and `block_on` queue a job
/// on its thread and wake it; the result comes back through a thread-safe
/// oneshot.
///
/// ```
/// use curing::runtime::Handle;
/// curing::run(async {
///     let handle = Handle::current();
///     let from_thread = std::thread::spawn(move || {
///         // A plain thread: run async code on the runtime and wait. (The
///         // `_with` form makes the future there: curing's I/O futures are
///         // not `Send`.)
///         handle.block_on_with(|| async { curing::fs::metadata("/").await.map(|m| m.is_dir()) })
///     });
///     // The runtime keeps running its tasks meanwhile; wait without blocking.
///     let join = curing::spawn_blocking(move || from_thread.join().unwrap());
///     assert!(join.await.unwrap().unwrap());
/// });
/// ```
#[derive(Clone)]
pub struct Handle {
    remote: Remote,
}

impl Handle {
    pub(crate) fn from_remote(remote: Remote) -> Handle {
        Handle { remote }
    }

    /// The runtime of this thread, or, inside a `spawn_blocking` closure, the
    /// runtime that spawned it.
    ///
    /// # Panics
    ///
    /// Anywhere else (a plain thread): pass a `Handle` to it instead.
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "curing: Handle::current() outside a runtime and outside spawn_blocking; \
             get a Handle on the runtime's thread and pass it to this thread",
        )
    }

    /// Like [`current`](Handle::current), but `None` where there is none.
    pub fn try_current() -> Option<Handle> {
        if let Some(remote) = crate::runtime::try_remote() {
            return Some(Handle::from_remote(remote));
        }
        BLOCKING.with(|b| b.borrow().clone())
    }

    /// Spawns `future` on the runtime and returns a handle to its output
    /// that any thread can wait on. The task starts at the runtime's next
    /// turn (if it is not running now, when it next is).
    ///
    /// The future must be `Send`; for one that is not, use
    /// [`spawn_with`](Handle::spawn_with).
    pub fn spawn<F>(&self, future: F) -> RemoteJoinHandle<F::Output>
    where
        // The compiler's error for a future that is not `Send` quotes this line:
        F: Future + Send + 'static, // not `Send`? use `handle.spawn_with(|| async { ... })`
        F::Output: Send + 'static,
    {
        self.spawn_with(move || future)
    }

    /// Spawns the future that `make` creates *on the runtime's thread*: the
    /// future need not be `Send` (it may hold sockets and files), only the
    /// closure that makes it.
    ///
    /// ```
    /// use curing::runtime::Handle;
    /// curing::run(async {
    ///     let handle = Handle::current();
    ///     let n = curing::spawn_blocking(move || {
    ///         handle.block_on_with(|| async {
    ///             let rc = std::rc::Rc::new(5); // not Send: fine here
    ///             curing::yield_now().await;
    ///             *rc
    ///         })
    ///     });
    ///     assert_eq!(n.await.unwrap(), 5);
    /// });
    /// ```
    pub fn spawn_with<F, Fut>(&self, make: F) -> RemoteJoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(move || {
            // If the task is cancelled (runtime shutdown), `tx` is dropped
            // with it and the waiter sees `Cancelled`.
            drop(crate::spawn(async move {
                let outcome = CatchUnwind(Box::pin(async move { make().await })).await;
                let _ = tx.send(outcome);
            }));
        });
        // Refused (runtime gone): dropping the job drops `tx`: Cancelled.
        drop(self.remote.inject(job));
        RemoteJoinHandle { rx }
    }

    /// Runs `future` on the runtime and blocks this thread until it is done.
    /// A panic in the future is resumed here.
    ///
    /// # Panics
    ///
    /// - On a thread running a curing runtime (it would stall that runtime,
    ///   and deadlock if the future needs it): `.await` the future, or use
    ///   [`spawn`](Handle::spawn) and await its handle.
    /// - On the thread that owns this handle's runtime while that runtime is
    ///   not running (nothing would ever run the future).
    /// - If the runtime shuts down before the future finishes.
    ///
    /// # A future that is not `Send`
    ///
    /// The future crosses to the runtime's thread, so it must be `Send`. One
    /// that holds an `Rc`, a socket or a file is not, and the compiler's error
    /// ("future cannot be sent between threads safely ... required by this
    /// bound in `block_on`") quotes the bound, whose line says what to do:
    /// use [`block_on_with`](Handle::block_on_with), which sends a closure
    /// and makes the future on the runtime's thread.
    ///
    /// ```compile_fail
    /// # use curing::runtime::Handle;
    /// # fn f(handle: Handle) {
    /// handle.block_on(async {
    ///     let rc = std::rc::Rc::new(5); // not Send, held across an await
    ///     curing::yield_now().await;
    ///     *rc
    /// });
    /// # }
    /// ```
    ///
    /// The same with `block_on_with` compiles and runs:
    ///
    /// ```
    /// use curing::runtime::Handle;
    /// curing::run(async {
    ///     let handle = Handle::current();
    ///     let n = curing::spawn_blocking(move || {
    ///         handle.block_on_with(|| async {
    ///             let rc = std::rc::Rc::new(5);
    ///             curing::yield_now().await;
    ///             *rc
    ///         })
    ///     });
    ///     assert_eq!(n.await.unwrap(), 5);
    ///     // A `Send` future goes to `block_on` directly.
    ///     let handle = Handle::current();
    ///     let m = curing::spawn_blocking(move || handle.block_on(async { 6 }));
    ///     assert_eq!(m.await.unwrap(), 6);
    /// });
    /// ```
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        // The compiler's error for a future that is not `Send` quotes this line:
        F: Future + Send + 'static, // not `Send`? use `handle.block_on_with(|| async { ... })`
        F::Output: Send + 'static,
    {
        self.block_on_with(move || future)
    }

    /// [`block_on`](Handle::block_on) for a future made on the runtime's
    /// thread by `make`, so it need not be `Send`.
    ///
    /// # Panics
    ///
    /// As [`block_on`](Handle::block_on).
    pub fn block_on_with<F, Fut>(&self, make: F) -> Fut::Output
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        crate::runtime::assert_can_block("Handle::block_on");
        assert!(
            self.remote.owner() != crate::sync_prims::current_thread().id(),
            "curing: Handle::block_on on the thread that owns the runtime, while it is not \
             running: nothing would run the future (deadlock); use Runtime::block_on here"
        );
        match self.spawn_with(make).join() {
            Ok(value) => value,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {
                panic!("curing: Handle::block_on: the runtime shut down before the future finished")
            }
        }
    }

    /// Whether the runtime is still there to run work (it has not been
    /// dropped).
    pub fn is_alive(&self) -> bool {
        self.remote.is_alive()
    }

    /// Makes this the runtime `Handle::current` names on this (blocking)
    /// thread until the guard is dropped.
    pub(crate) fn enter_blocking(&self) -> BlockingGuard {
        let prev = BLOCKING.with(|b| b.replace(Some(self.clone())));
        BlockingGuard { prev }
    }
}

impl PartialEq for Handle {
    /// Two handles are equal when they name the same runtime.
    fn eq(&self, other: &Handle) -> bool {
        self.remote.same(&other.remote)
    }
}

impl Eq for Handle {}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("thread", &self.remote.owner())
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// Restores the previous blocking-thread runtime on drop.
pub(crate) struct BlockingGuard {
    prev: Option<Handle>,
}

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = BLOCKING.try_with(|b| b.replace(prev));
    }
}

/// The output of a task spawned through a [`Handle`]: await it (from any
/// runtime) or [`join`](RemoteJoinHandle::join) it (from a plain thread).
/// Dropping it lets the task run on, detached.
pub struct RemoteJoinHandle<T> {
    rx: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> RemoteJoinHandle<T> {
    /// Blocks this thread until the task is done.
    ///
    /// # Panics
    ///
    /// On a thread running a curing runtime (await the handle there).
    pub fn join(self) -> Result<T, JoinError> {
        crate::blocking::wait("RemoteJoinHandle::join", self)
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(JoinError::cancelled())))
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle").finish_non_exhaustive()
    }
}

/// Turns a panic while polling the inner future into a panicked `JoinError`.
struct CatchUnwind<T>(Pin<Box<dyn Future<Output = T>>>);

impl<T> Future for CatchUnwind<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(JoinError::panicked(panic))),
        }
    }
}
