//! [`Mutex`]: an async lock whose guard may be held across awaits.

use super::semaphore::{Semaphore, SemaphorePermit};
use std::cell::{RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};

/// A lock for data shared by the tasks of one thread, held across `.await`
/// (a `RefCell` borrow held across an await would panic in the other task
/// instead of making it wait).
///
/// Fair: tasks get the lock in the order they asked for it. Share it with
/// `Rc<Mutex<T>>`.
///
/// ## Cancellation
///
/// Dropping a [`lock`](Mutex::lock) future gives up its place in the queue;
/// if the lock had just been handed to it, it passes on to the next waiter.
///
/// ```
/// use curing::sync::Mutex;
/// use std::rc::Rc;
/// curing::run(async {
///     let log = Rc::new(Mutex::new(Vec::new()));
///     let other = curing::spawn({
///         let log = log.clone();
///         async move { log.lock().await.push("task") }
///     });
///     {
///         let mut guard = log.lock().await;
///         guard.push("main");
///         curing::yield_now().await; // the task waits: we hold the lock
///         guard.push("main again");
///     }
///     other.await.unwrap();
///     assert_eq!(*log.lock().await, ["main", "main again", "task"]);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    /// One permit: whoever holds it may borrow `value`.
    sem: Semaphore,
    /// The data; borrowed only by the permit holder, so the borrow never
    /// fails.
    value: RefCell<T>,
}

impl<T> Mutex<T> {
    /// A lock around `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            sem: Semaphore::new(1),
            value: RefCell::new(value),
        }
    }

    /// The data, taking the lock apart.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock (first come, first served).
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        let permit = self
            .sem
            .acquire()
            .await
            .expect("curing: a Mutex's semaphore is never closed");
        self.guard(permit)
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let permit = self.sem.try_acquire().ok()?;
        Some(self.guard(permit))
    }

    /// The data, through an exclusive borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn guard(&self, permit: SemaphorePermit) -> MutexGuard<'_, T> {
        MutexGuard {
            value: self.value.borrow_mut(),
            _permit: permit,
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.value.try_borrow() {
            Ok(v) => d.field("value", &&*v),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Access to a [`Mutex`]'s data; unlocks on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    /// The borrow of the data; declared first so it ends before the permit
    /// goes back.
    value: RefMut<'a, T>,
    /// The lock itself.
    _permit: SemaphorePermit,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}
