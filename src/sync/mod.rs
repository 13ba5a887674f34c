//! Synchronization for the tasks of one thread: [`Event`], [`Semaphore`],
//! [`Mutex`], and [`oneshot`], [`mpsc`], [`broadcast`] and [`watch`]
//! channels.
//!
//! A curing runtime runs its tasks on one thread (a multi-thread runtime is
//! one such runtime per thread), so these need no atomics and no OS locks:
//! they are `Rc` and `Cell` inside, `!Send`, and cheap. For talking to other
//! threads (another runtime's tasks, or plain threads), use the channels of
//! [`thread`].
//!
//! ## Fairness and cancellation
//!
//! Waiters are served first come, first served. Every wait is safe to drop
//! (in a [`timeout`](crate::time::timeout), a [`TaskGroup`](crate::task::TaskGroup)
//! race, or an aborted task): a dropped `acquire`, `lock`, `recv` or `send`
//! loses no permit and no message, and a wakeup it had been handed passes to
//! the next waiter. Nor does it leave its waker behind: a waiter queue drops
//! a dropped wait's entry, a single waker slot (a receiver's) holds only the
//! latest waker, and polling a wait again replaces its waker rather than
//! adding one.
//!
//! ## Cooperative budget
//!
//! An await that is ready at once (a message or value waiting, a free permit
//! or lock, a set event, a send with room, or the error of a closed channel
//! or semaphore) spends one unit of the task's cooperative budget, before it
//! takes anything, so a loop over such awaits still lets timers and other
//! tasks run and a wait refused for want of budget loses nothing. The same
//! holds for the channels of [`thread`].
//!
//! ```
//! use curing::sync::{mpsc, Semaphore};
//! curing::run(async {
//!     // At most two "downloads" at a time, results through a channel.
//!     let limit = Semaphore::new(2);
//!     let (tx, mut rx) = mpsc::unbounded_channel();
//!     for i in 0..5 {
//!         let (limit, tx) = (limit.clone(), tx.clone());
//!         curing::spawn(async move {
//!             let _permit = limit.acquire().await.unwrap();
//!             curing::yield_now().await;
//!             tx.send(i).unwrap();
//!         });
//!     }
//!     drop(tx);
//!     let mut done = 0;
//!     while rx.recv().await.is_some() {
//!         done += 1;
//!     }
//!     assert_eq!(done, 5);
//! });
//! ```
//!
//! These types are tied to their thread:
//!
//! ```compile_fail
//! let ev = curing::sync::Event::new();
//! std::thread::spawn(move || ev.set());
//! ```

pub mod broadcast;
mod event;
pub mod mpsc;
mod mutex;
pub mod oneshot;
mod semaphore;
pub mod thread;
pub mod watch;

pub use event::{Event, Wait};
pub use mutex::{Mutex, MutexGuard};
pub use semaphore::{Acquire, AcquireError, Semaphore, SemaphorePermit, TryAcquireError};
