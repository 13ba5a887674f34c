//! A thread-safe watch channel: the latest value and change notification,
//! with the same semantics as [`crate::sync::watch`] (read its docs), and
//! both ends `Send`.
//!
//! The value sits behind a read-write lock: borrows ([`Ref`]) from any
//! number of receivers read at once, and a send waits for them to end, so
//! keep borrows short and never hold one across an await.
//!
//! ```
//! use curing::sync::thread::watch;
//! let (tx, rx) = watch::channel(0u64);
//! let observer = std::thread::spawn(move || {
//!     curing::run(async move {
//!         let mut rx = rx;
//!         let mut last = *rx.borrow_and_update();
//!         while rx.changed().await.is_ok() {
//!             let now = *rx.borrow_and_update();
//!             assert!(now > last, "values only grow");
//!             last = now;
//!         }
//!         last
//!     })
//! });
//! for i in 1..=100 {
//!     tx.send_replace(i);
//! }
//! drop(tx);
//! assert_eq!(observer.join().unwrap(), 100);
//! ```
//!
//! ## Cancellation
//!
//! A dropped `changed()` future marked nothing seen and leaves no waker
//! behind.

pub use crate::sync::watch::error::{self, RecvError, SendError};

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::task::{Context, Poll, Waker};

/// A watch channel holding `init`, and its first receiver (which has seen
/// `init`).
///
/// ```
/// let (tx, rx) = curing::sync::thread::watch::channel(1);
/// std::thread::spawn(move || tx.send(2).unwrap()).join().unwrap();
/// assert_eq!(*rx.borrow(), 2);
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        version: AtomicU64::new(0),
        meta: Mutex::new(Meta {
            sender_alive: true,
            receivers: 1,
            waiters: BTreeMap::new(),
            next_waiter: 0,
        }),
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
    value: RwLock<T>,
    /// Bumped by every store, under the write lock of `value`; read under
    /// `meta` by `changed`, which a send takes after bumping it, so a
    /// `changed` either sees the bump or is registered before the send
    /// looks for waiters.
    version: AtomicU64,
    /// Counts and waiters.
    meta: Mutex<Meta>,
}

/// The counts and the waiting `changed` calls, under one lock.
struct Meta {
    /// False once the sender is dropped.
    sender_alive: bool,
    /// Live receivers; at 0 `send` fails.
    receivers: usize,
    /// Wakers of pending `changed` calls by waiter id (removable on drop).
    waiters: BTreeMap<u64, Waker>,
    /// Id for the next waiting `changed`.
    next_waiter: u64,
}

impl<T> Shared<T> {
    fn meta(&self) -> MutexGuard<'_, Meta> {
        // Every update under the lock leaves it consistent, so a panic
        // elsewhere (poisoning) does not make the channel unusable.
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `modify` under the write lock; if it returns true, bumps the
    /// version and wakes every waiting `changed`.
    fn store<R>(&self, modify: impl FnOnce(&mut T) -> (bool, R)) -> R {
        let mut value = self.value.write().unwrap_or_else(|e| e.into_inner());
        let (modified, out) = modify(&mut value);
        if modified {
            self.version.fetch_add(1, Ordering::Release);
        }
        drop(value);
        if modified {
            let waiters = std::mem::take(&mut self.meta().waiters);
            for w in waiters.into_values() {
                w.wake();
            }
        }
        out
    }
}

/// A borrow of the value (a read lock), from [`Sender::borrow`],
/// [`Receiver::borrow`] or [`Receiver::borrow_and_update`]. Sends wait
/// while it lives.
pub struct Ref<'a, T> {
    /// The read lock on the value.
    inner: RwLockReadGuard<'a, T>,
    /// Whether the value was unseen by the receiver when borrowed.
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the value was new to the receiver when borrowed (for
    /// `borrow_and_update`: whether this call marked a new value seen).
    /// Always false for [`Sender::borrow`].
    ///
    /// ```
    /// let (tx, mut rx) = curing::sync::thread::watch::channel(0);
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
/// let (tx, rx) = curing::sync::thread::watch::channel(0);
/// tx.send_modify(|v| *v += 5);
/// assert_eq!(*rx.borrow(), 5);
/// ```
pub struct Sender<T> {
    /// The channel.
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Stores `value` and notifies every receiver. If no receiver is left,
    /// stores nothing and gives the value back.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::watch::channel(0);
    /// assert!(tx.send(1).is_ok());
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// assert_eq!(*tx.borrow(), 1);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.meta().receivers == 0 {
            return Err(SendError(value));
        }
        drop(self.send_replace(value));
        Ok(())
    }

    /// Stores `value` whether or not a receiver is left, notifies the
    /// receivers, and gives the previous value.
    ///
    /// ```
    /// let (tx, _rx) = curing::sync::thread::watch::channel(1);
    /// assert_eq!(tx.send_replace(2), 1);
    /// ```
    pub fn send_replace(&self, value: T) -> T {
        self.shared.store(|v| (true, std::mem::replace(v, value)))
    }

    /// Changes the value in place and notifies the receivers (whether or
    /// not a receiver is left).
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::watch::channel(vec![1]);
    /// tx.send_modify(|v| v.push(2));
    /// assert_eq!(*rx.borrow(), [1, 2]);
    /// ```
    pub fn send_modify<F: FnOnce(&mut T)>(&self, modify: F) {
        self.shared.store(|v| {
            modify(v);
            (true, ())
        })
    }

    /// Changes the value in place and notifies the receivers only if
    /// `modify` returns true; gives what it returned.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::watch::channel(3);
    /// assert!(!tx.send_if_modified(|v| false));
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn send_if_modified<F: FnOnce(&mut T) -> bool>(&self, modify: F) -> bool {
        self.shared.store(|v| {
            let modified = modify(v);
            (modified, modified)
        })
    }

    /// Borrows the current value (a read lock: sends wait while it lives).
    ///
    /// ```
    /// let (tx, _rx) = curing::sync::thread::watch::channel("a");
    /// assert_eq!(*tx.borrow(), "a");
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            inner: self.shared.read(),
            has_changed: false,
        }
    }

    /// A new receiver, which has seen the current value.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::watch::channel(0);
    /// drop(rx);
    /// let rx = tx.subscribe();
    /// assert!(tx.send(1).is_ok());
    /// assert_eq!(*rx.borrow(), 1);
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let mut meta = self.shared.meta();
        meta.receivers += 1;
        let seen = self.shared.version.load(Ordering::Acquire);
        drop(meta);
        Receiver {
            shared: self.shared.clone(),
            seen,
        }
    }

    /// Receivers alive.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::watch::channel(0);
    /// let rx2 = rx.clone();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.meta().receivers
    }

    /// Whether every receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::watch::channel(0);
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waiters = {
            let mut meta = self.shared.meta();
            meta.sender_alive = false;
            std::mem::take(&mut meta.waiters)
        };
        for w in waiters.into_values() {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender")
            .field("version", &self.shared.version.load(Ordering::Acquire))
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

/// A receiving end; clone it for more (a clone has seen what this one has).
///
/// ```
/// curing::run(async {
///     let (tx, mut rx) = curing::sync::thread::watch::channel(0);
///     std::thread::spawn(move || tx.send(9).unwrap());
///     rx.changed().await.unwrap();
///     assert_eq!(*rx.borrow(), 9);
/// });
/// ```
pub struct Receiver<T> {
    /// The channel.
    shared: Arc<Shared<T>>,
    /// The version this receiver saw last.
    seen: u64,
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert_eq!(*rx.borrow(), 1);
    /// assert!(rx.has_changed().unwrap()); // still unseen
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        let inner = self.shared.read();
        // Under the read lock the version matches the value.
        let has_changed = self.shared.version.load(Ordering::Acquire) != self.seen;
        Ref { inner, has_changed }
    }

    /// Borrows the current value and marks it seen.
    ///
    /// ```
    /// let (tx, mut rx) = curing::sync::thread::watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert_eq!(*rx.borrow_and_update(), 1);
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let inner = self.shared.read();
        let version = self.shared.version.load(Ordering::Acquire);
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { inner, has_changed }
    }

    /// Whether a value was stored since this receiver last marked one seen;
    /// [`RecvError`] if the sender is gone.
    ///
    /// ```
    /// let (tx, rx) = curing::sync::thread::watch::channel(0);
    /// assert!(!rx.has_changed().unwrap());
    /// tx.send(1).unwrap();
    /// assert!(rx.has_changed().unwrap());
    /// drop(tx);
    /// assert!(rx.has_changed().is_err());
    /// ```
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let meta = self.shared.meta();
        if !meta.sender_alive {
            return Err(RecvError(()));
        }
        Ok(self.shared.version.load(Ordering::Acquire) != self.seen)
    }

    /// Waits for a value newer than the last seen (at once if there is
    /// one) and marks it seen; [`RecvError`] once the sender is gone and
    /// no unseen value is left. Cancel-safe: a dropped `changed` marked
    /// nothing seen.
    ///
    /// ```
    /// curing::run(async {
    ///     let (tx, mut rx) = curing::sync::thread::watch::channel(0);
    ///     std::thread::spawn(move || tx.send(1).unwrap());
    ///     rx.changed().await.unwrap();
    ///     assert!(rx.changed().await.is_err()); // the thread dropped tx
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
        self.shared.meta().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.meta().receivers -= 1;
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("seen", &self.seen)
            .field("version", &self.shared.version.load(Ordering::Acquire))
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

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let shared = &*this.rx.shared;
        let mut meta = shared.meta();
        let ready = shared.version.load(Ordering::Acquire) != this.rx.seen || !meta.sender_alive;
        if ready {
            // Ready at once: spend the task's budget first, outside the lock
            // (running out wakes the task), before anything is marked seen.
            // Versions only grow and a gone sender stays gone, so it is
            // still ready after.
            drop(meta);
            std::task::ready!(crate::coop::poll_proceed(cx));
            meta = shared.meta();
            let old = this.waiter.take().and_then(|id| meta.waiters.remove(&id));
            let version = shared.version.load(Ordering::Acquire);
            drop(meta);
            drop(old);
            if version != this.rx.seen {
                this.rx.seen = version;
                return Poll::Ready(Ok(()));
            }
            return Poll::Ready(Err(RecvError(())));
        }
        let old = match this.waiter {
            Some(id) => match meta.waiters.get_mut(&id) {
                Some(w) if w.will_wake(cx.waker()) => None,
                Some(w) => Some(std::mem::replace(w, cx.waker().clone())),
                None => meta.waiters.insert(id, cx.waker().clone()),
            },
            None => {
                let id = meta.next_waiter;
                meta.next_waiter += 1;
                this.waiter = Some(id);
                meta.waiters.insert(id, cx.waker().clone())
            }
        };
        drop(meta);
        drop(old);
        Poll::Pending
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter.take() {
            let old = self.rx.shared.meta().waiters.remove(&id);
            drop(old);
        }
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Changed").finish_non_exhaustive()
    }
}
