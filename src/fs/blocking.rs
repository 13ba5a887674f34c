//! A minimal way to run a blocking call off the runtime thread, for the few
//! file-system calls io_uring has no opcode for (listing a directory,
//! resolving a path, reading a symlink).
//!
//! Each call gets its own short-lived `std::thread`; the result comes back
//! through a mutex-protected slot, and the thread wakes the task through its
//! `Waker` (wakers accept a wake from any thread, rule 8). Dropping the
//! future lets the thread finish on its own and drop the result there.
//!
//! This is a private stop-gap until the runtime's `spawn_blocking` exists;
//! then [`unblock`] should become a call to it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// What the thread and the awaiting task share.
struct Shared<T> {
    /// The call's output, once the thread has it.
    result: Option<T>,
    /// The task to wake when `result` is set.
    waker: Option<Waker>,
}

/// Runs `f` on a new thread and resolves to its output. Fails only if the
/// thread cannot be started.
pub(crate) fn unblock<T, F>(f: F) -> Unblock<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let shared = Arc::new(Mutex::new(Shared {
        result: None,
        waker: None,
    }));
    let theirs = shared.clone();
    let spawned = detach(move || {
        let out = f();
        let waker = {
            let mut s = theirs.lock().unwrap_or_else(|e| e.into_inner());
            s.result = Some(out);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    Unblock {
        shared,
        spawn_error: spawned.err(),
    }
}

/// Runs `f` on a new thread that nobody joins.
pub(crate) fn detach(f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name("curing-fs".into())
        .spawn(f)
        .map(drop)
}

/// The future of [`unblock`].
pub(crate) struct Unblock<T> {
    shared: Arc<Mutex<Shared<T>>>,
    /// Set if the thread could not be started.
    spawn_error: Option<io::Error>,
}

impl<T> Future for Unblock<T> {
    type Output = io::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let this = self.get_mut();
        if let Some(e) = this.spawn_error.take() {
            return Poll::Ready(Err(e));
        }
        let mut s = this.shared.lock().unwrap_or_else(|e| e.into_inner());
        match s.result.take() {
            Some(out) => Poll::Ready(Ok(out)),
            None => {
                let old = s.waker.replace(cx.waker().clone());
                drop(s);
                drop(old);
                Poll::Pending
            }
        }
    }
}
