//! `IORING_OP_STATX` on an open descriptor (`AT_EMPTY_PATH`) or a path.

use super::at::At;
use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// What is asked for: the basic stats, birth time, and direct-I/O alignment
/// (`STATX_DIOALIGN`, 6.1; older kernels leave its bit out of `stx_mask`).
pub(crate) const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME | libc::STATX_DIOALIGN;

/// Asks for the stats of an open fd or of a path.
pub(crate) struct Statx {
    /// What to stat; owned (fd kept open, path kept alive) until the CQE.
    target: Target,
    /// `AT_*` flags, e.g. `AT_SYMLINK_NOFOLLOW`.
    flags: i32,
    /// Written by the kernel; boxed so it does not move with the op.
    buf: Box<libc::statx>,
}

enum Target {
    /// An open descriptor, with the empty path.
    Fd(SharedFd),
    /// A path, relative to a directory or the working directory.
    Path(At),
}

impl Statx {
    /// Stats an open fd.
    pub(crate) fn new(fd: SharedFd) -> Statx {
        Statx::with(Target::Fd(fd), libc::AT_EMPTY_PATH)
    }

    /// Stats a path; `flags` may hold `AT_SYMLINK_NOFOLLOW`.
    pub(crate) fn path(at: At, flags: i32) -> Statx {
        Statx::with(Target::Path(at), flags)
    }

    fn with(target: Target, flags: i32) -> Statx {
        let buf = crate::sys::fs::zeroed_statx();
        Statx { target, flags, buf }
    }
}

impl Op for Statx {
    const CODE: u8 = opcode::Statx::CODE;
    type Output = io::Result<Box<libc::statx>>;

    fn sqe(&mut self) -> Entry {
        let out: *mut libc::statx = &mut *self.buf;
        let (dirfd, path) = match &self.target {
            Target::Fd(fd) => (types::Fd(fd.raw()), c"".as_ptr()),
            Target::Path(at) => (at.dirfd(), at.ptr()),
        };
        opcode::Statx::new(dirfd, path, out.cast())
            .flags(self.flags)
            .mask(MASK)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        let out: *mut libc::statx = &mut *self.buf;
        let (dirfd, path) = match &self.target {
            Target::Fd(fd) => (fd.raw(), c"".as_ptr()),
            Target::Path(at) => (at.dirfd().0, at.ptr()),
        };
        Fallback::blocking(Syscall::Statx {
            dirfd,
            path,
            flags: self.flags,
            mask: MASK,
            out,
        })
    }

    fn complete(self, c: Completion) -> io::Result<Box<libc::statx>> {
        c.result.map(|_| self.buf)
    }
}
