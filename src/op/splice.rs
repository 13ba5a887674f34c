//! `IORING_OP_SPLICE` (5.7): moving bytes between a pipe and another fd
//! inside the kernel, without copying them through user memory.

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// Moves up to `len` bytes from `from` (at `from_off`, or its position if
/// `-1`) to `to` (likewise). One side must be a pipe.
pub(crate) struct Splice {
    /// Both kept open until the CQE.
    from: SharedFd,
    to: SharedFd,
    from_off: i64,
    to_off: i64,
    len: u32,
}

impl Splice {
    pub(crate) fn new(
        from: SharedFd,
        from_off: i64,
        to: SharedFd,
        to_off: i64,
        len: u32,
    ) -> Splice {
        Splice {
            from,
            to,
            from_off,
            to_off,
            len,
        }
    }
}

impl Op for Splice {
    const CODE: u8 = opcode::Splice::CODE;
    type Output = io::Result<usize>;

    fn sqe(&mut self) -> Entry {
        let (from, to) = (types::Fd(self.from.raw()), types::Fd(self.to.raw()));
        opcode::Splice::new(from, self.from_off, to, self.to_off, self.len)
            .flags(libc::SPLICE_F_MOVE)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::blocking(Syscall::Splice {
            from: Fd::Raw(self.from.raw()),
            from_off: self.from_off,
            to: Fd::Raw(self.to.raw()),
            to_off: self.to_off,
            len: self.len,
            flags: libc::SPLICE_F_MOVE,
        })
    }

    fn complete(self, c: Completion) -> io::Result<usize> {
        c.result.map(|n| n as usize)
    }
}
