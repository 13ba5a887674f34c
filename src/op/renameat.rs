//! `IORING_OP_RENAMEAT` (5.11): renaming or moving a file or directory.

use super::at::At;
use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::io;

/// Renames `from` to `to` (`renameat2(2)` with `flags`).
pub(crate) struct RenameAt {
    /// Both paths and directory fds, owned until the CQE.
    from: At,
    to: At,
    flags: u32,
}

impl RenameAt {
    pub(crate) fn new(from: At, to: At, flags: u32) -> RenameAt {
        RenameAt { from, to, flags }
    }
}

impl Op for RenameAt {
    const CODE: u8 = opcode::RenameAt::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        let (from, to) = (&self.from, &self.to);
        opcode::RenameAt::new(from.dirfd(), from.ptr(), to.dirfd(), to.ptr())
            .flags(self.flags)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        let (from, to) = (&self.from, &self.to);
        Fallback::blocking(Syscall::RenameAt {
            olddir: from.dirfd().0,
            old: from.ptr(),
            newdir: to.dirfd().0,
            new: to.ptr(),
            flags: self.flags,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
