//! Reaps children whose [`Child`](super::Child) was dropped while they ran,
//! so no zombie is left and no drop blocks.
//!
//! One plain thread, started on demand and gone when it has nothing left to
//! wait for, polls the orphans' pidfds (`poll(2)`, not the ring: a dropped
//! child may outlive every runtime) and reaps each as it exits.

use crate::sys::process::try_wait_pidfd;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

/// How often the reaper looks for newly handed-over children.
const TICK: Duration = Duration::from_millis(50);

struct Orphans {
    /// Pidfds of children not yet reaped.
    pidfds: Vec<OwnedFd>,
    /// Whether the reaper thread is alive.
    running: bool,
}

static ORPHANS: Mutex<Orphans> = Mutex::new(Orphans {
    pidfds: Vec::new(),
    running: false,
});

fn lock() -> std::sync::MutexGuard<'static, Orphans> {
    ORPHANS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands a running child over to the reaper.
pub(crate) fn adopt(pidfd: OwnedFd) {
    let mut orphans = lock();
    orphans.pidfds.push(pidfd);
    if orphans.running {
        return;
    }
    orphans.running = true;
    drop(orphans);
    let spawned = std::thread::Builder::new()
        .name("curing-reaper".into())
        .spawn(reap_loop);
    if spawned.is_err() {
        // No thread now: the next adopt tries again.
        lock().running = false;
    }
}

/// Number of children waiting to be reaped (for tests).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn orphans() -> usize {
    lock().pidfds.len()
}

fn reap_loop() {
    crate::sys::thread::block_async_signals();
    loop {
        let mut fds: Vec<libc::pollfd> = lock()
            .pidfds
            .iter()
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // The fds stay open meanwhile: only this thread removes them.
        let _ = crate::sys::process::poll(&mut fds, TICK);
        let mut orphans = lock();
        orphans
            .pidfds
            .retain(|pidfd| match try_wait_pidfd(pidfd.as_fd()) {
                Ok(None) => true,
                // Reaped now, or already (ECHILD): done with it.
                Ok(Some(_)) | Err(_) => false,
            });
        if orphans.pidfds.is_empty() {
            orphans.running = false;
            return;
        }
    }
}
