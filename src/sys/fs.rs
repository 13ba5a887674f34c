//! File-system syscalls io_uring has no opcode for: permission changes
//! (`fchmod`, `fchmodat`, which update an inode in memory and do not wait
//! for the disk, so calling them on the runtime thread is cheap), and the
//! pipes and duplicate descriptors that copies use; and the zeroed
//! `statx` the stat op gives the kernel to fill.

use super::cvt;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `fchmod(2)`: sets the permission bits of an open file.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: fchmod takes no pointers; the fd is borrowed, so open.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// `fchmodat(2)` relative to the working directory, following symlinks.
pub(crate) fn chmod(path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `path` is a live NUL-terminated string the kernel only reads.
    cvt(unsafe { libc::fchmodat(libc::AT_FDCWD, path.as_ptr(), mode as libc::mode_t, 0) }).map(drop)
}

/// A close-on-exec pipe `(read end, write end)`, grown to `size` bytes if
/// the system allows (a smaller pipe still works, with more round trips).
pub(crate) fn pipe(size: usize) -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    let (r, w) = (super::owned(fds[0]), super::owned(fds[1]));
    // SAFETY: F_SETPIPE_SZ takes an int argument, no pointers. Failure
    // (EPERM above pipe-max-size) leaves the default size: ignored.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
    Ok((r, w))
}

/// A new close-on-exec descriptor for the same open file as `fd`.
pub(crate) fn dup(fd: BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int argument, no pointers.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    Ok(super::owned(new))
}

/// Whether `fd`'s open file has `O_DIRECT` set (false if the kernel will
/// not say).
pub(crate) fn is_direct(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GETFL takes no argument and writes no memory; the fd is
    // borrowed, so open.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_DIRECT != 0
}

/// A zeroed `statx` on the heap, for the kernel to fill (the box keeps it
/// in place while the op moves).
pub(crate) fn zeroed_statx() -> Box<libc::statx> {
    // SAFETY: `libc::statx` is plain old data (integers and arrays of
    // them): all-zero is a valid value.
    Box::new(unsafe { std::mem::zeroed::<libc::statx>() })
}
