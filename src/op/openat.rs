//! `IORING_OP_OPENAT`: opening a file without blocking the thread.

use super::at::At;
use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::io;
use std::os::fd::OwnedFd;

/// Opens `at` with `flags` and `mode`.
pub(crate) struct OpenAt {
    /// Owns the path and keeps the directory fd open until the CQE.
    at: At,
    flags: libc::c_int,
    mode: libc::mode_t,
}

impl OpenAt {
    pub(crate) fn new(at: At, flags: libc::c_int, mode: libc::mode_t) -> OpenAt {
        OpenAt { at, flags, mode }
    }
}

impl Op for OpenAt {
    const CODE: u8 = opcode::OpenAt::CODE;
    /// The new descriptor, owned: if the future was dropped before the CQE,
    /// the default `complete_abandoned` drops this output, closing the fd.
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Entry {
        opcode::OpenAt::new(self.at.dirfd(), self.at.ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::blocking(Syscall::OpenAt {
            dirfd: self.at.dirfd().0,
            path: self.at.ptr(),
            flags: self.flags,
            mode: self.mode,
        })
    }

    fn complete(self, c: Completion) -> io::Result<OwnedFd> {
        c.result.map(|fd| crate::sys::owned(fd as i32))
    }
}
