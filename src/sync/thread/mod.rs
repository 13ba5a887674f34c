//! Channels between threads: [`mpsc`], [`oneshot`], [`broadcast`] and
//! [`watch`], `Send` at both ends.
//!
//! Use them to connect tasks on different runtimes (thread-per-core), or
//! tasks and plain threads, in either direction. A task awaits
//! (`recv().await`, `send().await`); a plain thread blocks
//! (`blocking_recv()`, `blocking_send()`), and blocking calls made on a
//! runtime's own thread panic with a message rather than deadlock.
//!
//! Like those of [`crate::sync`], their awaits spend the task's cooperative
//! budget when ready at once, and a dropped wait leaves no waker behind (see
//! [there](crate::sync#fairness-and-cancellation)).
//!
//! (The types in [`crate::sync`] itself are for the tasks of one thread:
//! cheaper, but `!Send`.)

pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
pub mod watch;
