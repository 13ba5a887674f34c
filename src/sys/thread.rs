//! Descriptor duplication and signal masks, for threads and signals.

use super::{cvt, owned};
use std::io;
use std::os::fd::{OwnedFd, RawFd};

/// A close-on-exec duplicate of `fd`.
pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers; a bad fd is EBADF.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    Ok(owned(new))
}

/// A signal set holding `signals`.
pub(crate) fn sigset(signals: &[i32]) -> io::Result<libc::sigset_t> {
    // SAFETY: all-zero bytes are a valid `sigset_t`, and sigemptyset
    // initialises it anyway.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live local.
    unsafe { libc::sigemptyset(&mut set) };
    for &sig in signals {
        // SAFETY: `set` is a live, initialised local; a bad number is EINVAL.
        cvt(unsafe { libc::sigaddset(&mut set, sig) })?;
    }
    Ok(set)
}

/// Adds `set` to the calling thread's blocked signals.
pub(crate) fn block_signals(set: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `set` is a live, initialised sigset; the old mask is not asked.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Blocks, in the calling thread, every signal a program may want to
/// receive through a signalfd (all but the ones the CPU raises on a fault,
/// which cannot be usefully blocked). For curing's own helper threads, so a
/// process-directed signal never lands on a thread that did not expect it.
pub(crate) fn block_async_signals() {
    // SAFETY: all-zero bytes are a valid `sigset_t`; sigfillset initialises.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live local.
    unsafe { libc::sigfillset(&mut set) };
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
        libc::SIGABRT,
        libc::SIGSYS,
    ] {
        // SAFETY: `set` is live and initialised; these numbers are valid.
        unsafe { libc::sigdelset(&mut set, sig) };
    }
    // Cannot fail with a valid set and SIG_BLOCK.
    let _ = block_signals(&set);
}

/// A close-on-exec signalfd receiving the signals in `set`.
pub(crate) fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    // SAFETY: `set` is a live, initialised sigset the kernel only reads; -1
    // asks for a new fd.
    let fd = cvt(unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) })?;
    Ok(owned(fd))
}
