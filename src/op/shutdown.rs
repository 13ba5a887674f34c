//! `IORING_OP_SHUTDOWN` (Linux 5.11): shuts down part of a connection.

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// Shuts down reading, writing or both (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
pub(crate) struct Shutdown {
    /// Kept open until the CQE.
    fd: SharedFd,
    how: i32,
}

impl Shutdown {
    pub(crate) fn new(fd: SharedFd, how: i32) -> Shutdown {
        Shutdown { fd, how }
    }
}

impl Op for Shutdown {
    const CODE: u8 = opcode::Shutdown::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::Shutdown::new(types::Fd(self.fd.raw()), self.how).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::inline(Syscall::Shutdown {
            fd: self.fd.raw(),
            how: self.how,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
