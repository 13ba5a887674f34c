//! `IORING_OP_SYMLINKAT` (5.15): a symbolic link.

use super::at::At;
use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::ffi::CString;
use std::io;

/// Creates the symlink `link` pointing at `target` (stored as given, not
/// resolved).
pub(crate) struct SymlinkAt {
    /// The link's contents; read by the kernel until the CQE (heap bytes).
    target: CString,
    /// Where the link goes; owned until the CQE.
    link: At,
}

impl SymlinkAt {
    pub(crate) fn new(target: CString, link: At) -> SymlinkAt {
        SymlinkAt { target, link }
    }
}

impl Op for SymlinkAt {
    const CODE: u8 = opcode::SymlinkAt::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::SymlinkAt::new(self.link.dirfd(), self.target.as_ptr(), self.link.ptr()).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::blocking(Syscall::SymlinkAt {
            target: self.target.as_ptr(),
            dirfd: self.link.dirfd().0,
            link: self.link.ptr(),
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
