//! `IORING_OP_LINKAT` (5.15): a new hard link to an existing file.

use super::at::At;
use crate::driver::{Completion, Op};
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

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
