//! Thin wrappers over the few plain syscalls curing makes outside the ring
//! (creating sockets' addresses, eventfds, socket options). Each returns an
//! `io::Result` and owns what it creates; the `unsafe` stays here.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Turns a `-1`-on-error return into an `io::Result`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps an fd number a syscall just returned to us.
pub(crate) fn owned(fd: RawFd) -> OwnedFd {
    assert!(fd >= 0, "owned() needs a valid fd, got {fd}");
    // SAFETY: `fd` was just returned by a successful syscall that created it,
    // so we are its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A blocking, close-on-exec eventfd with counter 0.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })?;
    Ok(owned(fd))
}

/// `ftruncate(2)`, for kernels without `IORING_OP_FTRUNCATE` (before 6.9).
pub(crate) fn ftruncate(fd: std::os::fd::BorrowedFd<'_>, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
    // SAFETY: ftruncate takes no pointers; the fd is borrowed, so open.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}
