//! A multi-producer, multi-consumer broadcast channel for the tasks of one
//! thread, with tokio's shape: every receiver gets every value, in order.
//!
//! - [`channel`] makes a sender and a first receiver; [`Sender::subscribe`]
//!   and [`Receiver::resubscribe`] make more, which see the values sent from
//!   then on. Senders clone.
//! - [`Sender::send`] never waits. The channel keeps at most `capacity`
//!   values: a value every receiver has received is dropped at once, and a
//!   send into a full channel drops the oldest value. A receiver that had
//!   not received it is behind: its next receive returns
//!   [`RecvError::Lagged`] with the exact number it missed, and the one
//!   after gives the oldest value still kept.
//! - Once every sender is gone, receivers get the values left, then
//!   [`RecvError::Closed`]. Once every receiver is gone, sends fail.
//! - Values are cloned for each receiver but the last, which gets the value
//!   itself.
//!
//! ```
//! use curing::sync::broadcast;
//! curing::run(async {
//!     let (tx, mut rx1) = broadcast::channel(16);
//!     let mut rx2 = tx.subscribe();
//!     let a = curing::spawn(async move {
//!         let mut got = Vec::new();
//!         while let Ok(v) = rx1.recv().await {
//!             got.push(v);
//!         }
//!         got
//!     });
//!     let b = curing::spawn(async move { rx2.recv().await.unwrap() });
//!     assert_eq!(tx.send(10).unwrap(), 2); // two receivers
//!     tx.send(20).unwrap();
//!     drop(tx);
//!     assert_eq!(a.await.unwrap(), [10, 20]);
//!     assert_eq!(b.await.unwrap(), 10);
//! });
//! ```
//!
//! A receiver that falls behind is told how many values it missed:
//!
//! ```
//! use curing::sync::broadcast::{self, error::RecvError};
//! curing::run(async {
//!     let (tx, mut rx) = broadcast::channel(2);
//!     for i in 0..5 {
//!         tx.send(i).unwrap();
//!     }
//!     assert_eq!(rx.recv().await, Err(RecvError::Lagged(3)));
//!     assert_eq!(rx.recv().await, Ok(3));
//!     assert_eq!(rx.recv().await, Ok(4));
//! });
//! ```
//!
//! ## Cancellation
//!
//! A dropped `recv()` future took nothing: a value leaves the channel for a
//! receiver only in the poll that returns it, so the next `recv()` gets it.
//! The dropped future's waker goes with it.
//!
//! The ends are tied to their thread (`!Send`):
//!
//! ```compile_fail
//! let (tx, _rx) = curing::sync::broadcast::channel::<u8>(1);
//! std::thread::spawn(move || tx.send(1));
//! ```
//!
//! For channels between threads, see
//! [`sync::thread::broadcast`](crate::sync::thread::broadcast).

pub(crate) mod core;
pub mod error;

pub use error::{RecvError, SendError, TryRecvError};

use self::core::{wake_all, Core};
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A broadcast channel keeping at most `capacity` values, and its first
/// receiver.
///
/// ```
/// let (tx, mut rx) = curing::sync::broadcast::channel::<String>(8);
/// tx.send("hello".to_string()).unwrap();
/// assert_eq!(rx.try_recv().unwrap(), "hello");
/// ```
///
/// # Panics
///
/// If `capacity` is 0.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(Core::new(capacity)));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, pos: 0 },
    )
}

/// The sending end; clone it for more producers.
///
/// ```
/// use curing::sync::broadcast;
/// let (tx, rx) = broadcast::channel::<u32>(4);
/// let tx2 = tx.clone();
/// assert_eq!(tx2.send(1).unwrap(), 1);
/// drop(rx);
/// assert!(tx.send(2).is_err()); // no receiver left
/// ```
pub struct Sender<T> {
    /// The channel.
    shared: Rc<RefCell<Core<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value` to every receiver alive now, without waiting; gives
    /// how many that is. Gives the value back in [`SendError`] if there is
    /// no receiver.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::broadcast::channel(4);
    /// let _rx2 = tx.subscribe();
    /// assert_eq!(tx.send("hi").unwrap(), 2);
    /// # drop(rx);
    /// ```
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let sent = self.shared.borrow_mut().send(value);
        let (count, wakers, evicted) = sent?;
        drop(evicted);
        wake_all(wakers);
        Ok(count)
    }

    /// A new receiver, which gets the values sent from now on.
    ///
    /// ```
    /// let (tx, _rx) = curing::sync::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut late = tx.subscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(late.try_recv(), Ok(2));
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let pos = self.shared.borrow_mut().subscribe();
        Receiver {
            shared: self.shared.clone(),
            pos,
        }
    }

    /// Receivers alive.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::broadcast::channel::<u8>(4);
    /// assert_eq!(tx.receiver_count(), 1);
    /// drop(rx);
    /// assert_eq!(tx.receiver_count(), 0);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.borrow().receiver_count()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.borrow_mut().add_sender();
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let wakers = self.shared.borrow_mut().drop_sender();
        wake_all(wakers);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender")
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

/// A receiving end: gets every value sent after it was made, in order.
///
/// ```
/// use curing::sync::broadcast::{self, error::TryRecvError};
/// let (tx, mut rx) = broadcast::channel(4);
/// tx.send(1).unwrap();
/// drop(tx);
/// assert_eq!(rx.try_recv(), Ok(1));
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
pub struct Receiver<T> {
    /// The channel.
    shared: Rc<RefCell<Core<T>>>,
    /// Sequence number of the next value this receiver gets.
    pos: u64,
}

impl<T: Clone> Receiver<T> {
    /// The next value; [`RecvError::Lagged`] if values were dropped before
    /// this receiver saw them (the next call gives the oldest kept), or
    /// [`RecvError::Closed`] once every sender is gone and every value was
    /// received. Cancel-safe: a dropped `recv` took nothing.
    ///
    /// ```
    /// curing::run(async {
    ///     let (tx, mut rx) = curing::sync::broadcast::channel(4);
    ///     curing::spawn(async move { tx.send(7).unwrap() });
    ///     assert_eq!(rx.recv().await, Ok(7));
    /// });
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            rx: self,
            waiter: None,
        }
    }

    /// A value if one is waiting for this receiver, without waiting.
    ///
    /// ```
    /// use curing::sync::broadcast::{self, error::TryRecvError};
    /// let (tx, mut rx) = broadcast::channel::<u8>(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// # drop(tx);
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let got = self.shared.borrow_mut().try_recv(&mut self.pos);
        got
    }
}

impl<T> Receiver<T> {
    /// A new receiver on the same channel, which gets the values sent from
    /// now on (not those this one has yet to receive).
    ///
    /// ```
    /// let (tx, rx) = curing::sync::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut rx2 = rx.resubscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx2.try_recv(), Ok(2));
    /// ```
    pub fn resubscribe(&self) -> Receiver<T> {
        let pos = self.shared.borrow_mut().subscribe();
        Receiver {
            shared: self.shared.clone(),
            pos,
        }
    }

    /// Values sent that this receiver has not received (more than the
    /// capacity if it lags).
    ///
    /// ```
    /// let (tx, rx) = curing::sync::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.borrow().len(self.pos)
    }

    /// Whether this receiver has received every value sent.
    ///
    /// ```
    /// let (_tx, rx) = curing::sync::broadcast::channel::<u8>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every sender is gone (values may still be left to receive).
    ///
    /// ```
    /// let (tx, rx) = curing::sync::broadcast::channel::<u8>(4);
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.borrow().senders_gone()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let freed = self.shared.borrow_mut().drop_receiver(self.pos);
        drop(freed);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = self.shared.borrow();
        f.debug_struct("broadcast::Receiver")
            .field("unread", &core.len(self.pos))
            .field("waiting", &core.waiting())
            .finish()
    }
}

/// The future of [`Receiver::recv`]. Dropping it takes nothing and leaves
/// no waker behind.
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    /// The receiver.
    rx: &'a mut Receiver<T>,
    /// Our id among the waiting receives, once registered.
    waiter: Option<u64>,
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let rx = &mut *this.rx;
        if rx.shared.borrow().ready(rx.pos) {
            // Ready at once: spend the task's budget first, before anything
            // is taken, so a `Pending` here loses nothing.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        let mut core = rx.shared.borrow_mut();
        let got = core.try_recv(&mut rx.pos);
        let old = match got {
            Err(TryRecvError::Empty) => core.register(&mut this.waiter, cx.waker()),
            _ => core.unregister(&mut this.waiter),
        };
        drop(core);
        drop(old);
        match got {
            Ok(v) => Poll::Ready(Ok(v)),
            Err(TryRecvError::Lagged(n)) => Poll::Ready(Err(RecvError::Lagged(n))),
            Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        let old = self.rx.shared.borrow_mut().unregister(&mut self.waiter);
        drop(old);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Recv").finish_non_exhaustive()
    }
}
