//! The synchronization primitives of the cross-thread wake paths: std's in
//! every build, loom's in the loom models (`cfg(all(test, loom))`, see
//! `src/loom_tests/`), so that the models check the real code of `remote`,
//! the task waker, `blocking::wait` with the thread-safe oneshot, and
//! `as_completed`'s wakers.
//!
//! Only the types those paths use are here. Normal builds compile to exactly
//! what they did before: these are plain re-exports of std. (Dependencies
//! of `cfg(loom)` are dev-dependencies, hence `test` in the cfg: a plain
//! `cargo build` with `--cfg loom` builds the std variant.)

#[cfg(not(all(test, loom)))]
pub(crate) use std::{
    sync::atomic::{AtomicBool, Ordering},
    sync::{Arc, Mutex, MutexGuard},
    thread::{current as current_thread, park, Thread, ThreadId},
};

#[cfg(all(test, loom))]
pub(crate) use loom::{
    sync::atomic::{AtomicBool, Ordering},
    sync::{Arc, Mutex, MutexGuard},
    thread::{current as current_thread, park, Thread, ThreadId},
};
