//! A channel for exactly one value: [`channel`] gives a [`Sender`] and a
//! [`Receiver`]; the receiver is a future.
//!
//! ```
//! use curing::sync::oneshot;
//! curing::run(async {
//!     let (tx, rx) = oneshot::channel();
//!     curing::spawn(async move { tx.send(42).unwrap() });
//!     assert_eq!(rx.await, Ok(42));
//! });
//! ```
//!
//! ## Cancellation
//!
//! Awaiting `&mut rx` (inside a [`timeout`](crate::time::timeout), say) and
//! giving up loses nothing: the value, when it comes, waits in the channel
//! for the next await of `rx`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A new channel for one value.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        value: RefCell::new(None),
        rx_waker: RefCell::new(None),
        tx_waker: RefCell::new(None),
        tx_alive: Cell::new(true),
        rx_alive: Cell::new(true),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// What the two ends share.
struct Shared<T> {
    /// The value, between `send` and the receive.
    value: RefCell<Option<T>>,
    /// The receiver's task, woken by `send` or the sender's drop.
    rx_waker: RefCell<Option<Waker>>,
    /// The task in [`Sender::closed`], woken when the receiver goes.
    tx_waker: RefCell<Option<Waker>>,
    /// False once the sender is dropped (or has sent).
    tx_alive: Cell<bool>,
    /// False once the receiver is dropped or closed.
    rx_alive: Cell<bool>,
}

/// Takes and wakes the waker in `slot`, if any.
fn wake(slot: &RefCell<Option<Waker>>) {
    let waker = slot.borrow_mut().take();
    if let Some(w) = waker {
        w.wake();
    }
}

/// Stores `cx`'s waker in `slot` unless it already wakes the same task.
fn register(slot: &RefCell<Option<Waker>>, cx: &Context<'_>) {
    let mut slot = slot.borrow_mut();
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

/// The sending end; [`send`](Sender::send) consumes it.
pub struct Sender<T> {
    /// The channel.
    shared: Rc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends the value. Gives it back as `Err` if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        if !self.shared.rx_alive.get() {
            return Err(value);
        }
        *self.shared.value.borrow_mut() = Some(value);
        Ok(()) // the drop of `self` wakes the receiver
    }

    /// Whether the receiver is gone (dropped or closed).
    pub fn is_closed(&self) -> bool {
        !self.shared.rx_alive.get()
    }

    /// Waits until the receiver is gone: lets a producer stop working on a
    /// value nobody will read.
    pub async fn closed(&mut self) {
        std::future::poll_fn(|cx| {
            if self.is_closed() {
                // Ready at once: spends the task's budget.
                std::task::ready!(crate::coop::poll_proceed(cx));
                return Poll::Ready(());
            }
            register(&self.shared.tx_waker, cx);
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.tx_alive.set(false);
        wake(&self.shared.rx_waker);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving end: await it for the value.
pub struct Receiver<T> {
    /// The channel.
    shared: Rc<Shared<T>>,
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
        if let Some(v) = self.shared.value.borrow_mut().take() {
            return Ok(v);
        }
        if self.shared.tx_alive.get() {
            Err(TryRecvError::Empty)
        } else {
            Err(TryRecvError::Closed)
        }
    }

    /// Refuses the value: a later `send` fails and gives it back. A value
    /// sent before can still be received.
    pub fn close(&mut self) {
        self.shared.rx_alive.set(false);
        wake(&self.shared.tx_waker);
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.shared.value.borrow().is_some() || !self.shared.tx_alive.get() {
            // Ready at once: spends the task's budget, before the value is
            // taken, so a `Pending` here keeps it in the channel.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        if let Some(v) = self.shared.value.borrow_mut().take() {
            return Poll::Ready(Ok(v));
        }
        if !self.shared.tx_alive.get() {
            return Poll::Ready(Err(RecvError(())));
        }
        register(&self.shared.rx_waker, cx);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}
