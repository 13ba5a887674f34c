//! `IORING_OP_FSYNC`: flushing a file's data (and metadata) to storage.

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// `fsync(2)`, or `fdatasync(2)` when `data_only`.
pub(crate) struct Fsync {
    /// Kept open until the CQE.
    fd: SharedFd,
    data_only: bool,
}

impl Fsync {
    pub(crate) fn new(fd: SharedFd, data_only: bool) -> Fsync {
        Fsync { fd, data_only }
    }
}

impl Op for Fsync {
    const CODE: u8 = opcode::Fsync::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        let flags = if self.data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::blocking(Syscall::Fsync {
            fd: self.fd.raw(),
            datasync: self.data_only,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
