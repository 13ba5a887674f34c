//! `IORING_OP_MKDIRAT` (5.15): creating a directory.

use super::at::At;
use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::io;

/// Creates the directory `at` with permission bits `mode` (before umask).
pub(crate) struct MkDirAt {
    /// Owns the path and keeps the directory fd open until the CQE.
    at: At,
    mode: libc::mode_t,
}

impl MkDirAt {
    pub(crate) fn new(at: At, mode: libc::mode_t) -> MkDirAt {
        MkDirAt { at, mode }
    }
}

impl Op for MkDirAt {
    const CODE: u8 = opcode::MkDirAt::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::MkDirAt::new(self.at.dirfd(), self.at.ptr())
            .mode(self.mode)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::blocking(Syscall::MkDirAt {
            dirfd: self.at.dirfd().0,
            path: self.at.ptr(),
            mode: self.mode,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
