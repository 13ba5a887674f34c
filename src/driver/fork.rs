//! Fork detection: a child forked while a runtime exists must not use it.
//!
//! The ring's memory is `MADV_DONTFORK`, so a forked child has no mapping of
//! it; a child that reached into it would crash or, on another runtime, steal
//! the parent's completions. A `pthread_atfork` child handler bumps a
//! counter; the driver compares it before touching the ring and panics with a
//! clear message instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// How many forks this process descends from (since the handler was set).
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn in_child_after_fork() {
    // Async-signal-safe: one atomic add.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation; installs the atfork handler on first use.
pub(super) fn generation() -> u64 {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers a handler that only performs an atomic add, which
        // is async-signal-safe and valid in a forked child.
        unsafe { libc::pthread_atfork(None, None, Some(in_child_after_fork)) };
    });
    FORKS.load(Ordering::Relaxed)
}

/// Whether this process was forked since `generation` was taken.
pub(super) fn forked_since(generation: u64) -> bool {
    FORKS.load(Ordering::Relaxed) != generation
}

/// Panics with an explanation if this process is a fork of the one that made
/// the ring.
pub(super) fn check(generation: u64) {
    if forked_since(generation) {
        panic!(
            "curing: this runtime was created before fork(); a forked child cannot use the \
             parent's io_uring. Create a new runtime in the child (or exec first)"
        );
    }
}
