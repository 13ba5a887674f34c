//! Multi-producer, single-consumer channels: bounded ([`channel`]) and
//! unbounded ([`unbounded_channel`]), with tokio's semantics.
//!
//! - Senders clone; the receiver is one. [`Receiver::recv`] gives `None` once
//!   every sender is gone (or the receiver closed) and the queue is empty.
//! - A bounded `send().await` waits for room; senders get room in the order
//!   they started waiting. [`Receiver::close`] refuses new messages but lets
//!   the receiver drain those queued.
//! - The receivers implement `futures_core::Stream`.
//!
//! ```
//! use curing::sync::mpsc;
//! curing::run(async {
//!     let (tx, mut rx) = mpsc::channel(8);
//!     for i in 0..3 {
//!         let tx = tx.clone();
//!         curing::spawn(async move { tx.send(i).await.unwrap() });
//!     }
//!     drop(tx);
//!     let mut got = Vec::new();
//!     while let Some(i) = rx.recv().await {
//!         got.push(i);
//!     }
//!     assert_eq!(got, [0, 1, 2]);
//! });
//! ```
//!
//! ## Cancellation
//!
//! - A dropped `recv()` future took nothing: a message is removed from the
//!   queue only in the poll that returns it.
//! - A dropped `send()` future did not send, and its place in the queue of
//!   waiting senders (and any room just handed to it) goes to the next
//!   sender. Its message is dropped with it; to keep the message when a send
//!   may be cancelled, [`reserve`](Sender::reserve) room first and
//!   [`send`](Permit::send) on the permit, which cannot fail or wait.

mod chan;
mod error;

pub use error::{SendError, TryRecvError, TrySendError};

use super::semaphore::{Semaphore, SemaphorePermit, TryAcquireError};
use chan::{Chan, Rx, Tx};
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A channel holding at most `capacity` messages.
///
/// # Panics
///
/// If `capacity` is 0.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "curing: mpsc channel capacity must be > 0");
    let (tx, rx) = Chan::open(Some(Semaphore::new(capacity)), capacity);
    (Sender { tx }, Receiver { rx })
}

/// A channel without a bound: sends never wait.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let (tx, rx) = Chan::open(None, usize::MAX);
    (UnboundedSender { tx }, UnboundedReceiver { rx })
}

/// The sending end of a bounded channel; clone it for more producers.
pub struct Sender<T> {
    /// The shared sending side.
    tx: Tx<T>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender {
            tx: self.tx.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room if the channel is full. Gives it back
    /// in [`SendError`] if the receiver is gone.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.reserve().await {
            Ok(permit) => {
                permit.send(value);
                Ok(())
            }
            Err(SendError(())) => Err(SendError(value)),
        }
    }

    /// Waits for room for one message and holds it: the returned permit
    /// sends without waiting. Dropping the permit gives the room back.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        let room = self.room();
        match room.acquire().await {
            Ok(permit) if !self.tx.chan.closed.get() => Ok(Permit {
                chan: &self.tx.chan,
                room: permit,
            }),
            _ => Err(SendError(())),
        }
    }

    /// Sends `value` if there is room now and no sender is waiting for room.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.tx.chan.closed.get() {
            return Err(TrySendError::Closed(value));
        }
        match self.room().try_acquire() {
            Ok(permit) => {
                permit.forget();
                self.tx
                    .chan
                    .push(value)
                    .map_err(|SendError(v)| TrySendError::Closed(v))
            }
            Err(TryAcquireError::NoPermits) => Err(TrySendError::Full(value)),
            Err(TryAcquireError::Closed) => Err(TrySendError::Closed(value)),
        }
    }

    /// Whether the receiver is gone or closed.
    pub fn is_closed(&self) -> bool {
        self.tx.chan.closed.get()
    }

    /// Room for messages right now.
    pub fn capacity(&self) -> usize {
        self.room().available_permits()
    }

    /// The bound the channel was made with.
    pub fn max_capacity(&self) -> usize {
        self.tx.chan.capacity
    }

    fn room(&self) -> &Semaphore {
        self.tx
            .chan
            .room
            .as_ref()
            .expect("curing: a bounded channel has a room semaphore")
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Room for one message in a bounded channel, from [`Sender::reserve`].
#[must_use = "dropping the permit gives the room back unused"]
pub struct Permit<'a, T> {
    /// Where the message goes.
    chan: &'a Rc<Chan<T>>,
    /// The room, forgotten once the message is queued (the receive gives it
    /// back).
    room: SemaphorePermit,
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the reserved room (never waits). If the receiver
    /// closed meanwhile, the value is dropped.
    pub fn send(self, value: T) {
        self.room.forget();
        let _ = self.chan.push(value);
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Permit").finish_non_exhaustive()
    }
}

/// The receiving end of a bounded channel.
pub struct Receiver<T> {
    /// The shared receiving side.
    rx: Rx<T>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once the channel is closed (all senders
    /// dropped, or [`close`](Receiver::close) called) and drained.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.rx.poll_recv(cx)).await
    }

    /// The next message, for hand-written futures.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }

    /// A message if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// Refuses new messages (sends fail, waiting senders wake with an
    /// error); those already queued can still be received.
    pub fn close(&mut self) {
        self.rx.close();
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.rx.chan.queue.borrow().len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver")
            .field("queued", &self.len())
            .finish()
    }
}

/// The sending end of an unbounded channel; clone it for more producers.
pub struct UnboundedSender<T> {
    /// The shared sending side.
    tx: Tx<T>,
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> UnboundedSender<T> {
        UnboundedSender {
            tx: self.tx.clone(),
        }
    }
}

impl<T> UnboundedSender<T> {
    /// Sends `value` (never waits). Gives it back in [`SendError`] if the
    /// receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.tx.chan.push(value)
    }

    /// Whether the receiver is gone or closed.
    pub fn is_closed(&self) -> bool {
        self.tx.chan.closed.get()
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving end of an unbounded channel.
pub struct UnboundedReceiver<T> {
    /// The shared receiving side.
    rx: Rx<T>,
}

impl<T> UnboundedReceiver<T> {
    /// The next message; `None` once the channel is closed and drained.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.rx.poll_recv(cx)).await
    }

    /// The next message, for hand-written futures.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }

    /// A message if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// Refuses new messages; those already queued can still be received.
    pub fn close(&mut self) {
        self.rx.close();
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.rx.chan.queue.borrow().len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> futures_core::Stream for UnboundedReceiver<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedReceiver")
            .field("queued", &self.len())
            .finish()
    }
}
