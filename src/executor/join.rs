//! [`JoinHandle`] and [`JoinError`]: how a task's outcome reaches whoever
//! awaits it.

use super::{Inner, TaskId};
use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

/// Why a task gave no value: it was cancelled, or it panicked.
///
/// `JoinError` is `Send + Sync` (the panic payload is kept behind a mutex,
/// as tokio does), so it converts into a `std::io::Error` and travels across
/// threads:
///
/// ```
/// curing::run(async {
///     let err = curing::spawn(async { panic!("boom") }).await.unwrap_err();
///     assert!(err.is_panic());
///     let io = std::io::Error::other(err);
///     assert!(io.to_string().contains("boom"));
///
///     let task = curing::spawn(std::future::pending::<()>());
///     task.abort();
///     let err = task.await.unwrap_err();
///     assert!(err.is_cancelled());
///     let err = err.try_into_panic().unwrap_err(); // not a panic: given back
///     assert!(err.is_cancelled());
/// });
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// The payload: `Box<dyn Any + Send>` is not `Sync`; a mutex makes the
    /// error `Sync` without requiring it of the payload. It is only ever
    /// locked to read the message or to take the payload out.
    Panicked(std::sync::Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    /// The error of a task that was cancelled.
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    /// The error of a task that panicked with `payload`.
    pub(crate) fn panicked(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panicked(std::sync::Mutex::new(payload)),
        }
    }

    /// Whether the task was cancelled (aborted, or the runtime shut down
    /// before it finished).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// ```
    /// curing::run(async {
    ///     let err = curing::spawn(async { panic!("boom") }).await.unwrap_err();
    ///     let payload = err.into_panic();
    ///     assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// If the task was cancelled rather than panicked.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("into_panic() on a cancelled task's JoinError")
    }

    /// The panic payload if the task panicked, or the error back if it was
    /// cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panicked(p) => Ok(p.into_inner().unwrap_or_else(|e| e.into_inner())),
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic's message (`&str` and `String` payloads), for `Display`.
    fn with_message<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        match &self.repr {
            Repr::Cancelled => f(None),
            Repr::Panicked(p) => {
                let guard = p.lock().unwrap_or_else(|e| e.into_inner());
                f(Some(panic_message(&**guard)))
            }
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_message(|m| match m {
            None => f.write_str("task was cancelled"),
            Some(m) => write!(f, "task panicked: {m}"),
        })
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_message(|m| match m {
            None => f.write_str("JoinError::Cancelled"),
            Some(m) => write!(f, "JoinError::Panicked({m:?})"),
        })
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    /// An `ErrorKind::Other` error that keeps the `JoinError` as its source
    /// (`get_ref`, `into_inner`).
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e)
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

/// Where a task's outcome waits for its `JoinHandle`.
pub(super) struct JoinState<T> {
    /// The outcome, once there is one; taken by the handle.
    pub(super) result: RefCell<Option<Result<T, JoinError>>>,
    /// The awaiting handle's waker.
    pub(super) waker: RefCell<Option<Waker>>,
}

impl<T> JoinState<T> {
    pub(super) fn finish(&self, outcome: Result<T, JoinError>) {
        let mut result = self.result.borrow_mut();
        if result.is_some() {
            return;
        }
        *result = Some(outcome);
        drop(result);
        let waker = self.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The type-erased side of `JoinState` the executor reports failures to.
pub(super) trait JoinFail {
    fn fail(&self, error: JoinError);
}

impl<T> JoinFail for JoinState<T> {
    fn fail(&self, error: JoinError) {
        self.finish(Err(error));
    }
}

/// An owned permission to await a task's outcome; see [`crate::spawn`].
///
/// Awaiting it gives `Ok(value)`, or a [`JoinError`] if the task panicked or
/// was cancelled. Dropping it detaches the task, which keeps running.
pub struct JoinHandle<T> {
    /// Shared with the task.
    pub(super) state: Rc<JoinState<T>>,
    /// The task's queue reference, for `abort`.
    pub(super) task: u64,
    /// For users.
    pub(super) id: TaskId,
    /// For users: the name given at spawn.
    pub(super) name: Option<Rc<str>>,
    /// The executor, for `abort`; weak so a handle does not keep a runtime
    /// alive.
    pub(super) executor: Weak<Inner>,
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped (now, or when its current poll
    /// returns), its ops are cancelled through the op lifecycle, and awaiting
    /// this handle gives a cancelled [`JoinError`]. No effect on a finished task.
    pub fn abort(&self) {
        if let Some(executor) = self.executor.upgrade() {
            executor.abort(self.task);
        }
    }

    /// Whether the task has finished (with a value, a panic, or cancelled).
    pub fn is_finished(&self) -> bool {
        self.state.result.borrow().is_some()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's name, if it was spawned with one ([`TaskBuilder::name`](crate::TaskBuilder::name)).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.state.result.borrow().is_some() {
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        if let Some(outcome) = self.state.result.borrow_mut().take() {
            return Poll::Ready(outcome);
        }
        let mut waker = self.state.waker.borrow_mut();
        match &mut *waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => {
                let old = waker.replace(cx.waker().clone());
                drop(waker);
                drop(old);
            }
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("finished", &self.is_finished())
            .finish()
    }
}
