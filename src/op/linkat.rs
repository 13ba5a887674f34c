//! `IORING_OP_LINKAT` (5.15): a new hard link to an existing file.

use super::at::At;
use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::io;

/// Makes `link` a new name for `original` (`linkat(2)` with `flags`).
pub(crate) struct LinkAt {
    /// Both paths and directory fds, owned until the CQE.
    original: At,
    link: At,
    flags: i32,
}

impl LinkAt {
    pub(crate) fn new(original: At, link: At, flags: i32) -> LinkAt {
        LinkAt {
            original,
            link,
            flags,
        }
    }
}

impl Op for LinkAt {
    const CODE: u8 = opcode::LinkAt::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        let (old, new) = (&self.original, &self.link);
        opcode::LinkAt::new(old.dirfd(), old.ptr(), new.dirfd(), new.ptr())
            .flags(self.flags)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        let (old, new) = (&self.original, &self.link);
        Fallback::blocking(Syscall::LinkAt {
            olddir: old.dirfd().0,
            old: old.ptr(),
            newdir: new.dirfd().0,
            new: new.ptr(),
            flags: self.flags,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
