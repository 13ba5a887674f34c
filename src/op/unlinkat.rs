//! `IORING_OP_UNLINKAT` (5.11): removing a file or an empty directory.

use super::at::At;
use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::io;

/// Removes `at` (a directory if `flags` is `AT_REMOVEDIR`).
pub(crate) struct UnlinkAt {
    /// Owns the path and keeps the directory fd open until the CQE.
    at: At,
    flags: i32,
}

impl UnlinkAt {
    pub(crate) fn new(at: At, flags: i32) -> UnlinkAt {
        UnlinkAt { at, flags }
    }
}

impl Op for UnlinkAt {
    const CODE: u8 = opcode::UnlinkAt::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::UnlinkAt::new(self.at.dirfd(), self.at.ptr())
            .flags(self.flags)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::blocking(Syscall::UnlinkAt {
            dirfd: self.at.dirfd().0,
            path: self.at.ptr(),
            flags: self.flags,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
