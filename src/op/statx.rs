//! `IORING_OP_STATX` on an open descriptor (`AT_EMPTY_PATH`).

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// Asks for the basic stats and birth time of an open fd.
pub(crate) struct Statx {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Written by the kernel; boxed so it does not move with the op.
    buf: Box<libc::statx>,
}

impl Statx {
    pub(crate) fn new(fd: SharedFd) -> Statx {
        // SAFETY: `libc::statx` is plain old data; all-zero is a valid value.
        let buf = Box::new(unsafe { std::mem::zeroed::<libc::statx>() });
        Statx { fd, buf }
    }
}

impl Op for Statx {
    const CODE: u8 = opcode::Statx::CODE;
    type Output = io::Result<Box<libc::statx>>;

    fn sqe(&mut self) -> Entry {
        let out: *mut libc::statx = &mut *self.buf;
        opcode::Statx::new(types::Fd(self.fd.raw()), c"".as_ptr(), out.cast())
            .flags(libc::AT_EMPTY_PATH)
            .mask(libc::STATX_BASIC_STATS | libc::STATX_BTIME)
            .build()
    }

    fn complete(self, c: Completion) -> io::Result<Box<libc::statx>> {
        c.result.map(|_| self.buf)
    }
}
