//! `IORING_OP_FALLOCATE` (5.6): reserving or freeing space in a file.

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// `fallocate(2)` of `len` bytes at `offset` with `mode`.
pub(crate) struct Fallocate {
    /// Kept open until the CQE.
    fd: SharedFd,
    offset: u64,
    len: u64,
    mode: i32,
}

impl Fallocate {
    pub(crate) fn new(fd: SharedFd, offset: u64, len: u64, mode: i32) -> Fallocate {
        Fallocate {
            fd,
            offset,
            len,
            mode,
        }
    }
}

impl Op for Fallocate {
    const CODE: u8 = opcode::Fallocate::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::Fallocate::new(types::Fd(self.fd.raw()), self.len)
            .offset(self.offset)
            .mode(self.mode)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::blocking(Syscall::Fallocate {
            fd: self.fd.raw(),
            mode: self.mode,
            offset: self.offset,
            len: self.len,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
