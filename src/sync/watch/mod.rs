//! A single-producer, multi-consumer channel that keeps only the latest
//! value, for the tasks of one thread, with tokio's shape.
//!
//! - [`channel`] makes the sender and a first receiver around an initial
//!   value. Receivers clone, and [`Sender::subscribe`] makes more.
//! - Every send stores a new value and bumps a version. Each receiver
//!   remembers the version it last saw: [`Receiver::changed`] waits until
//!   there is a newer one (returning at once if there already is) and marks
//!   it seen; [`Receiver::borrow_and_update`] reads the value and marks it
//!   seen; [`Receiver::borrow`] only reads.
//! - [`Sender::send`] fails (and stores nothing) when no receiver is left;
//!   [`send_replace`](Sender::send_replace) and
//!   [`send_modify`](Sender::send_modify) always store.
//! - Once the sender is gone, `changed` gives [`RecvError`] (after a last
//!   unseen value, if any); the last value stays readable.
//!
//! ```
//! use curing::sync::watch;
//! curing::run(async {
//!     let (tx, mut rx) = watch::channel("starting");
//!     let observer = curing::spawn(async move {
//!         let mut seen = vec![*rx.borrow_and_update()];
//!         while rx.changed().await.is_ok() {
//!             seen.push(*rx.borrow_and_update());
//!         }
//!         seen
//!     });
//!     curing::yield_now().await;
//!     tx.send("running").unwrap();
//!     curing::yield_now().await;
//!     tx.send("stopping").unwrap();
//!     drop(tx);
//!     assert_eq!(observer.await.unwrap(), ["starting", "running", "stopping"]);
//! });
//! ```
//!
//! A receiver that is slower than the sender sees only the latest value:
//! values sent in between are overwritten, by design.
//!
//! The borrows ([`Ref`]) hold the value borrowed: a send while one is alive
//! panics (as a `RefCell` would). Keep them short and never across an await.
//!
//! ## Cancellation
//!
//! A dropped `changed()` future marked nothing seen (a value is marked seen
//! only in the poll that returns `Ok`), and leaves no waker behind.
//!
//! The ends are tied to their thread (`!Send`):
//!
//! ```compile_fail
//! let (tx, _rx) = curing::sync::watch::channel(0u8);
//! std::thread::spawn(move || tx.send(1));
//! ```
//!
//! For channels between threads, see
//! [`sync::thread::watch`](crate::sync::thread::watch).

pub mod error;

pub use error::{RecvError, SendError};

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A watch channel holding `init`, and its first receiver (which has seen
/// `init`: its `changed` waits for the first send).
///
/// ```
/// let (tx, rx) = curing::sync::watch::channel(1);
/// assert_eq!(*rx.borrow(), 1);
/// tx.send(2).unwrap();
/// assert_eq!(*rx.borrow(), 2);
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        value: RefCell::new(init),
        version: Cell::new(0),
        sender_alive: Cell::new(true),
        receivers: Cell::new(1),
        waiters: RefCell::new(BTreeMap::new()),
        next_waiter: Cell::new(0),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, seen: 0 },
    )
}

/// What the ends share.
struct Shared<T> {
    /// The latest value.
    value: RefCell<T>,
    /// Bumped by every store.
    version: Cell<u64>,
    /// False once the sender is dropped.
    sender_alive: Cell<bool>,
    /// Live receivers; at 0 `send` fails.
    receivers: Cell<usize>,
    /// Wakers of pending `changed` calls by waiter id (removable on drop).
    waiters: RefCell<BTreeMap<u64, Waker>>,
    /// Id for the next waiting `changed`.
    next_waiter: Cell<u64>,
}

impl<T> Shared<T> {
    /// Bumps the version and wakes every waiting `changed`.
    fn notify(&self) {
        self.version.set(self.version.get() + 1);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters.into_values() {
            w.wake();
        }
    }
}

/// A borrow of the value, from [`Sender::borrow`], [`Receiver::borrow`] or
/// [`Receiver::borrow_and_update`]. Sending while it lives panics.
pub struct Ref<'a, T> {
    /// The borrowed value.
    inner: std::cell::Ref<'a, T>,
    /// Whether the value was unseen by the receiver when borrowed.
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the value was new to the receiver when borrowed (for
    /// `borrow_and_update`: whether this call marked a new value seen).
    /// Always false for [`Sender::borrow`].
    ///
    /// ```
    /// let (tx, mut rx) = curing::sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert!(rx.borrow_and_update().has_changed());
    /// assert!(!rx.borrow_and_update().has_changed());
    /// ```
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// The sending end (one per channel).
///
/// ```
/// let (tx, rx) = curing::sync::watch::channel(0);
/// tx.send_modify(|v| *v += 5);
/// assert_eq!(*rx.borrow(), 5);
/// ```
pub struct Sender<T> {
    /// The channel.
    shared: Rc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Stores `value` and notifies every receiver. If no receiver is left,
    /// stores nothing and gives the value back.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::watch::channel(0);
    /// assert!(tx.send(1).is_ok());
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// assert_eq!(*tx.borrow(), 1);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.get() == 0 {
            return Err(SendError(value));
        }
        drop(self.send_replace(value));
        Ok(())
    }

    /// Stores `value` whether or not a receiver is left, notifies the
    /// receivers, and gives the previous value.
    ///
    /// ```
    /// let (tx, _rx) = curing::sync::watch::channel(1);
    /// assert_eq!(tx.send_replace(2), 1);
    /// ```
    pub fn send_replace(&self, value: T) -> T {
        let old = std::mem::replace(&mut *self.shared.value.borrow_mut(), value);
        self.shared.notify();
        old
    }

    /// Changes the value in place and notifies the receivers (whether or
    /// not a receiver is left).
    ///
    /// ```
    /// let (tx, rx) = curing::sync::watch::channel(vec![1]);
    /// tx.send_modify(|v| v.push(2));
    /// assert_eq!(*rx.borrow(), [1, 2]);
    /// ```
    pub fn send_modify<F: FnOnce(&mut T)>(&self, modify: F) {
        self.send_if_modified(|v| {
            modify(v);
            true
        });
    }

    /// Changes the value in place and notifies the receivers only if
    /// `modify` returns true; gives what it returned.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::watch::channel(3);
    /// assert!(!tx.send_if_modified(|v| false));
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn send_if_modified<F: FnOnce(&mut T) -> bool>(&self, modify: F) -> bool {
        let modified = modify(&mut self.shared.value.borrow_mut());
        if modified {
            self.shared.notify();
        }
        modified
    }

    /// Borrows the current value.
    ///
    /// ```
    /// let (tx, _rx) = curing::sync::watch::channel("a");
    /// assert_eq!(*tx.borrow(), "a");
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            inner: self.shared.value.borrow(),
            has_changed: false,
        }
    }

    /// A new receiver, which has seen the current value.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::watch::channel(0);
    /// drop(rx);
    /// let rx = tx.subscribe();
    /// assert!(tx.send(1).is_ok());
    /// assert_eq!(*rx.borrow(), 1);
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.set(self.shared.receivers.get() + 1);
        Receiver {
            shared: self.shared.clone(),
            seen: self.shared.version.get(),
        }
    }

    /// Receivers alive.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::watch::channel(0);
    /// let rx2 = rx.clone();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.get()
    }

    /// Whether every receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::watch::channel(0);
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.sender_alive.set(false);
        let waiters = std::mem::take(&mut *self.shared.waiters.borrow_mut());
        for w in waiters.into_values() {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender")
            .field("version", &self.shared.version.get())
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

/// A receiving end; clone it for more (a clone has seen what this one has).
///
/// ```
/// curing::run(async {
///     let (tx, mut rx) = curing::sync::watch::channel(0);
///     curing::spawn(async move { tx.send(9).unwrap() });
///     rx.changed().await.unwrap();
///     assert_eq!(*rx.borrow(), 9);
/// });
/// ```
pub struct Receiver<T> {
    /// The channel.
    shared: Rc<Shared<T>>,
    /// The version this receiver saw last.
    seen: u64,
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert_eq!(*rx.borrow(), 1);
    /// assert!(rx.has_changed().unwrap()); // still unseen
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            inner: self.shared.value.borrow(),
            has_changed: self.shared.version.get() != self.seen,
        }
    }

    /// Borrows the current value and marks it seen.
    ///
    /// ```
    /// let (tx, mut rx) = curing::sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert_eq!(*rx.borrow_and_update(), 1);
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let version = self.shared.version.get();
        let has_changed = version != self.seen;
        self.seen = version;
        Ref {
            inner: self.shared.value.borrow(),
            has_changed,
        }
    }

    /// Whether a value was stored since this receiver last marked one seen;
    /// [`RecvError`] if the sender is gone.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::watch::channel(0);
    /// assert!(!rx.has_changed().unwrap());
    /// tx.send(1).unwrap();
    /// assert!(rx.has_changed().unwrap());
    /// drop(tx);
    /// assert!(rx.has_changed().is_err());
    /// ```
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if !self.shared.sender_alive.get() {
            return Err(RecvError(()));
        }
        Ok(self.shared.version.get() != self.seen)
    }

    /// Waits for a value newer than the last seen (at once if there is
    /// one) and marks it seen; [`RecvError`] once the sender is gone and
    /// no unseen value is left. Cancel-safe: a dropped `changed` marked
    /// nothing seen.
    ///
    /// ```
    /// curing::run(async {
    ///     let (tx, mut rx) = curing::sync::watch::channel(0);
    ///     tx.send(1).unwrap();
    ///     rx.changed().await.unwrap(); // at once: 1 was unseen
    ///     drop(tx);
    ///     assert!(rx.changed().await.is_err());
    ///     assert_eq!(*rx.borrow(), 1);
    /// });
    /// ```
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            rx: self,
            waiter: None,
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.receivers.set(self.shared.receivers.get() + 1);
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receivers.set(self.shared.receivers.get() - 1);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("seen", &self.seen)
            .field("version", &self.shared.version.get())
            .finish()
    }
}

/// The future of [`Receiver::changed`]. Dropping it marks nothing seen and
/// leaves no waker behind.
#[must_use = "futures do nothing unless awaited"]
pub struct Changed<'a, T> {
    /// The receiver.
    rx: &'a mut Receiver<T>,
    /// Our id among the waiting `changed` calls, once registered.
    waiter: Option<u64>,
}

impl<T> Changed<'_, T> {
    /// Removes our waker, if registered.
    fn unregister(&mut self) {
        if let Some(id) = self.waiter.take() {
            let old = self.rx.shared.waiters.borrow_mut().remove(&id);
            drop(old);
        }
    }
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = &*this.rx.shared;
        let new = shared.version.get() != this.rx.seen;
        if new || !shared.sender_alive.get() {
            // Ready at once: spend the task's budget first, before anything
            // is marked seen, so a `Pending` here loses nothing.
            std::task::ready!(crate::coop::poll_proceed(cx));
            this.unregister();
            if new {
                this.rx.seen = this.rx.shared.version.get();
                return Poll::Ready(Ok(()));
            }
            return Poll::Ready(Err(RecvError(())));
        }
        let mut waiters = shared.waiters.borrow_mut();
        let old = match this.waiter {
            Some(id) => match waiters.get_mut(&id) {
                Some(w) if w.will_wake(cx.waker()) => None,
                Some(w) => Some(std::mem::replace(w, cx.waker().clone())),
                None => waiters.insert(id, cx.waker().clone()),
            },
            None => {
                let id = shared.next_waiter.get();
                shared.next_waiter.set(id + 1);
                this.waiter = Some(id);
                waiters.insert(id, cx.waker().clone())
            }
        };
        drop(waiters);
        drop(old);
        Poll::Pending
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Changed").finish_non_exhaustive()
    }
}
