//! `IORING_OP_FTRUNCATE` (Linux 6.9): setting a file's length.

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// `ftruncate(2)` to `len` bytes.
pub(crate) struct Ftruncate {
    /// Kept open until the CQE.
    fd: SharedFd,
    len: u64,
}

impl Ftruncate {
    pub(crate) fn new(fd: SharedFd, len: u64) -> Ftruncate {
        Ftruncate { fd, len }
    }
}

impl Op for Ftruncate {
    const CODE: u8 = opcode::Ftruncate::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::Ftruncate::new(types::Fd(self.fd.raw()), self.len).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::blocking(Syscall::Ftruncate {
            fd: self.fd.raw(),
            len: self.len,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
