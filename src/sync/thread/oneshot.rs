//! A thread-safe channel for exactly one value: [`channel`] gives a
//! [`Sender`] and a [`Receiver`], both `Send`. The receiver is a future (for
//! a task on any runtime) and has [`blocking_recv`](Receiver::blocking_recv)
//! for a plain thread.
//!
//! ```
//! use curing::sync::thread::oneshot;
//! let (tx, rx) = oneshot::channel();
//! std::thread::spawn(move || tx.send(42).unwrap());
//! let got = curing::run(async move { rx.await });
//! assert_eq!(got, Ok(42));
//! ```
//!
//! Awaiting `&mut rx` and giving up (in a timeout, say) loses nothing: a
//! value sent later waits in the channel for the next await.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
// loom's in the loom models (`src/loom_tests/`), std's otherwise.
use crate::sync_prims::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A new channel for one value.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Mutex::new(State {
        value: None,
        rx_waker: None,
        tx_waker: None,
        tx_alive: true,
        rx_alive: true,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

/// What the two ends share, under one lock.
struct State<T> {
    /// The value, between `send` and the receive.
    value: Option<T>,
    /// The receiving task, woken by `send` or the sender's drop.
    rx_waker: Option<Waker>,
    /// The task in [`Sender::closed`], woken when the receiver goes.
    tx_waker: Option<Waker>,
    /// False once the sender has sent or is dropped.
    tx_alive: bool,
    /// False once the receiver is dropped.
    rx_alive: bool,
}

fn lock<T>(m: &Mutex<State<T>>) -> MutexGuard<'_, State<T>> {
    // A panic while holding this lock leaves the state consistent (every
    // update is a single assignment), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stores `cx`'s waker in `slot` unless it already wakes the same task;
/// returns the replaced waker to drop after unlocking.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) -> Option<Waker> {
    if slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        return None;
    }
    slot.replace(cx.waker().clone())
}

/// The sending end; [`send`](Sender::send) consumes it.
pub struct Sender<T> {
    /// The channel.
    inner: Arc<Mutex<State<T>>>,
}

impl<T> Sender<T> {
    /// Sends the value, waking the receiver wherever it waits (another
    /// runtime's task, a plain thread). Gives it back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut state = lock(&self.inner);
        if !state.rx_alive {
            return Err(value);
        }
        state.value = Some(value);
        state.tx_alive = false;
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
        // Drop sees tx_alive false and does nothing more.
    }

    /// Whether the receiver is gone (a send would fail).
    pub fn is_closed(&self) -> bool {
        !lock(&self.inner).rx_alive
    }

    /// Waits until the receiver is gone: lets a producer stop work nobody
    /// will read.
    pub async fn closed(&mut self) {
        std::future::poll_fn(|cx| {
            let mut state = lock(&self.inner);
            if !state.rx_alive {
                drop(state);
                // Ready at once: spends the task's budget.
                std::task::ready!(crate::coop::poll_proceed(cx));
                return Poll::Ready(());
            }
            let old = register(&mut state.tx_waker, cx);
            drop(state);
            drop(old);
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.inner);
        if !state.tx_alive {
            return;
        }
        state.tx_alive = false;
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The receiving end: a future of the value, or [`RecvError`] if the sender
/// was dropped without sending.
pub struct Receiver<T> {
    /// The channel.
    inner: Arc<Mutex<State<T>>>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("oneshot sender dropped without sending")]
pub struct RecvError(());

/// Why [`Receiver::try_recv`] gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing sent yet.
    #[error("no value sent yet")]
    Empty,
    /// The sender was dropped without sending, or the value was taken.
    #[error("oneshot sender dropped without sending")]
    Closed,
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.inner);
        match state.value.take() {
            Some(v) => Ok(v),
            None if state.tx_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Closed),
        }
    }

    /// Waits for the value on a plain thread (parking it).
    ///
    /// # Panics
    ///
    /// On a thread running a curing runtime, where blocking would stall every
    /// task of that runtime (and deadlock if the sender is one of them):
    /// `.await` the receiver there instead.
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        crate::blocking::wait("oneshot::Receiver::blocking_recv", self)
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.inner);
        if state.value.is_some() || !state.tx_alive {
            // Ready at once: spend the task's budget first, outside the lock
            // (running out wakes the task), before the value is taken. Once
            // sent or gone, the sender cannot change the state back.
            drop(state);
            std::task::ready!(crate::coop::poll_proceed(cx));
            state = lock(&self.inner);
        }
        if let Some(v) = state.value.take() {
            return Poll::Ready(Ok(v));
        }
        if !state.tx_alive {
            return Poll::Ready(Err(RecvError(())));
        }
        let old = register(&mut state.rx_waker, cx);
        drop(state);
        drop(old);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.inner);
        state.rx_alive = false;
        let value = state.value.take();
        let waker = state.tx_waker.take();
        let rx_waker = state.rx_waker.take();
        drop(state);
        // User destructors run outside the lock.
        drop((value, rx_waker));
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}
