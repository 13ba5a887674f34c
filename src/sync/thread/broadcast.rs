//! A thread-safe broadcast channel: every receiver gets every value, in
//! order, with the same semantics as [`crate::sync::broadcast`] (read its
//! docs for lag and close), and both ends `Send`.
//!
//! Senders and receivers can be tasks on any curing runtime or plain
//! threads ([`Receiver::blocking_recv`]; `send` never waits). A wake crosses
//! threads through the receiving runtime's wake-up path.
//!
//! ```
//! use curing::sync::thread::broadcast;
//! let (tx, rx) = broadcast::channel::<u64>(64);
//! let workers: Vec<_> = (0..3)
//!     .map(|_| {
//!         let mut rx = rx.resubscribe();
//!         std::thread::spawn(move || {
//!             curing::run(async move {
//!                 let mut sum = 0;
//!                 while let Ok(v) = rx.recv().await {
//!                     sum += v;
//!                 }
//!                 sum
//!             })
//!         })
//!     })
//!     .collect();
//! drop(rx);
//! for i in 1..=10 {
//!     tx.send(i).unwrap();
//! }
//! drop(tx);
//! for w in workers {
//!     assert_eq!(w.join().unwrap(), 55);
//! }
//! ```
//!
//! ## Cancellation
//!
//! A dropped `recv()` future took nothing and leaves no waker behind.

pub use crate::sync::broadcast::error::{self, RecvError, SendError, TryRecvError};

use crate::sync::broadcast::core::{wake_all, Core};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

fn lock<T>(m: &Mutex<Core<T>>) -> MutexGuard<'_, Core<T>> {
    // Every update under the lock leaves the channel consistent, so a panic
    // elsewhere (poisoning) does not make it unusable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A broadcast channel keeping at most `capacity` values, and its first
/// receiver.
///
/// ```
/// let (tx, mut rx) = curing::sync::thread::broadcast::channel::<String>(8);
/// tx.send("hello".to_string()).unwrap();
/// assert_eq!(rx.try_recv().unwrap(), "hello");
/// ```
///
/// # Panics
///
/// If `capacity` is 0.
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Core::new(capacity)));
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
/// use curing::sync::thread::broadcast;
/// let (tx, rx) = broadcast::channel::<u32>(4);
/// let tx2 = tx.clone();
/// assert_eq!(tx2.send(1).unwrap(), 1);
/// drop(rx);
/// assert!(tx.send(2).is_err()); // no receiver left
/// ```
pub struct Sender<T> {
    /// The channel.
    shared: Arc<Mutex<Core<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value` to every receiver alive now, without waiting; gives
    /// how many that is. Gives the value back in [`SendError`] if there is
    /// no receiver.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::broadcast::channel(4);
    /// let _rx2 = tx.subscribe();
    /// assert_eq!(tx.send("hi").unwrap(), 2);
    /// # drop(rx);
    /// ```
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let sent = lock(&self.shared).send(value);
        let (count, wakers, evicted) = sent?;
        drop(evicted);
        wake_all(wakers);
        Ok(count)
    }

    /// A new receiver, which gets the values sent from now on.
    ///
    /// ```
    /// let (tx, _rx) = curing::sync::thread::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut late = tx.subscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(late.try_recv(), Ok(2));
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let pos = lock(&self.shared).subscribe();
        Receiver {
            shared: self.shared.clone(),
            pos,
        }
    }

    /// Receivers alive.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::broadcast::channel::<u8>(4);
    /// assert_eq!(tx.receiver_count(), 1);
    /// drop(rx);
    /// assert_eq!(tx.receiver_count(), 0);
    /// ```
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared).receiver_count()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        lock(&self.shared).add_sender();
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let wakers = lock(&self.shared).drop_sender();
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
/// use curing::sync::thread::broadcast::{self, error::TryRecvError};
/// let (tx, mut rx) = broadcast::channel(4);
/// tx.send(1).unwrap();
/// drop(tx);
/// assert_eq!(rx.try_recv(), Ok(1));
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
pub struct Receiver<T> {
    /// The channel.
    shared: Arc<Mutex<Core<T>>>,
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
    ///     let (tx, mut rx) = curing::sync::thread::broadcast::channel(4);
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
    /// use curing::sync::thread::broadcast::{self, error::TryRecvError};
    /// let (tx, mut rx) = broadcast::channel::<u8>(4);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// # drop(tx);
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let got = lock(&self.shared).try_recv(&mut self.pos);
        got
    }

    /// Receives on a plain thread, parking it until a value (or a lag, or
    /// the end) comes.
    ///
    /// ```
    /// let (tx, mut rx) = curing::sync::thread::broadcast::channel(4);
    /// let t = std::thread::spawn(move || rx.blocking_recv());
    /// tx.send(3).unwrap();
    /// assert_eq!(t.join().unwrap(), Ok(3));
    /// ```
    ///
    /// # Panics
    ///
    /// On a thread running a curing runtime (use `recv().await` there).
    pub fn blocking_recv(&mut self) -> Result<T, RecvError> {
        crate::blocking::wait("broadcast::Receiver::blocking_recv", self.recv())
    }
}

impl<T> Receiver<T> {
    /// A new receiver on the same channel, which gets the values sent from
    /// now on (not those this one has yet to receive).
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// let mut rx2 = rx.resubscribe();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx2.try_recv(), Ok(2));
    /// ```
    pub fn resubscribe(&self) -> Receiver<T> {
        let pos = lock(&self.shared).subscribe();
        Receiver {
            shared: self.shared.clone(),
            pos,
        }
    }

    /// Values sent that this receiver has not received (more than the
    /// capacity if it lags).
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::broadcast::channel(4);
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.shared).len(self.pos)
    }

    /// Whether this receiver has received every value sent.
    ///
    /// ```
    /// let (_tx, rx) = curing::sync::thread::broadcast::channel::<u8>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every sender is gone (values may still be left to receive).
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::broadcast::channel::<u8>(4);
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).senders_gone()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let freed = lock(&self.shared).drop_receiver(self.pos);
        drop(freed);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = lock(&self.shared);
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
        let ready = lock(&rx.shared).ready(rx.pos);
        if ready {
            // Ready at once: spend the task's budget first, outside the lock
            // (running out wakes the task) and before anything is taken, so
            // a `Pending` here loses nothing. Only this receiver moves its
            // position and the end stays the end, so it is still ready after.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        let mut core = lock(&rx.shared);
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
        let old = lock(&self.rx.shared).unregister(&mut self.waiter);
        drop(old);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Recv").finish_non_exhaustive()
    }
}
