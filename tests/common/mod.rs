//! Shared test harness: the oracles of RELIABILITY.md.
//!
//! - [`run`]: runs an async test body on a fresh runtime in its own thread
//!   with a hard wall-clock timeout, then checks that the runtime left no op
//!   in flight, leaked nothing, and that the fd count is back to baseline.
//! - [`fd_count`]: entries of `/proc/self/fd`.
//! - [`GuardBuf`]: an I/O buffer whose memory is `munmap`ped on drop, so a
//!   kernel write after a premature free completes with `-EFAULT` instead of
//!   corrupting the heap unseen.
#![allow(dead_code)]

use curing::buf::{IoBuf, IoBufMut};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// Tests in one binary share the fd table; fd-count checks hold this lock so
/// they do not see each other's descriptors.
pub static FD_LOCK: Mutex<()> = Mutex::new(());

/// Number of open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Runs `body` on a new curing runtime, in a thread, failing the test if it
/// takes longer than `timeout`. Afterwards: no op left in the kernel, none
/// leaked, and (holding [`FD_LOCK`]) the fd count is what it was before.
pub fn run<F, Fut>(timeout: Duration, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let _guard = FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = fd_count();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = curing::Runtime::new().expect("runtime");
        rt.block_on(body());
        let stats = rt.stats();
        drop(rt);
        let _ = tx.send(stats);
    });
    let stats = match rx.recv_timeout(timeout) {
        Ok(stats) => stats,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("test timed out after {timeout:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: re-raise its panic.
            match thread.join() {
                Err(p) => std::panic::resume_unwind(p),
                Ok(()) => unreachable!("sender dropped without sending"),
            }
        }
    };
    thread.join().expect("test thread");
    assert_eq!(stats.leaked, 0, "ops leaked at shutdown: {stats:?}");
    assert_eq!(
        stats.efault_cqes, 0,
        "the kernel hit freed buffer memory: {stats:?}"
    );
    let after = fd_count();
    assert_eq!(
        before, after,
        "fd leak: {before} fds before, {after} after; {stats:?}"
    );
}

/// An I/O buffer in its own `mmap`; `munmap`ped on drop. A kernel write into
/// it after drop fails with `EFAULT` (visible as a CQE result) instead of
/// silently corrupting reused heap memory.
pub struct GuardBuf {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

impl GuardBuf {
    /// A zero-length buffer with room for `cap` bytes (rounded up to pages).
    pub fn new(cap: usize) -> GuardBuf {
        let page = 4096;
        let map_len = cap.div_ceil(page).max(1) * page;
        // SAFETY: anonymous private mapping, no fd, no address hint.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap failed");
        GuardBuf {
            ptr: ptr.cast(),
            len: 0,
            cap: map_len,
        }
    }

    /// The initialised bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised and mapped.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for GuardBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `new`.
        unsafe { libc::munmap(self.ptr.cast(), self.cap) };
    }
}

// SAFETY: the mapping does not move and lives until drop; len <= cap.
unsafe impl IoBuf for GuardBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.cap
    }
}

// SAFETY: as for IoBuf; the mapping is writable.
unsafe impl IoBufMut for GuardBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.len = self.len.max(pos);
    }
}

/// A pipe as two owned fds (read end, write end), close-on-exec.
pub fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 just created both fds; we own them.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}
