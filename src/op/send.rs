//! `IORING_OP_SEND` with `MSG_NOSIGNAL`: a socket write that reports a
//! closed peer as `EPIPE` instead of killing the process with SIGPIPE.

use crate::buf::{BufResult, IoBuf};
use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};

/// Sends the initialised bytes of `buf` on a connected socket.
pub(crate) struct Send<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Read by the kernel; given back with the result.
    buf: B,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> Send<B> {
        Send { fd, buf }
    }
}

impl<B: IoBuf> Op for Send<B> {
    const CODE: u8 = opcode::Send::CODE;
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Entry {
        let len = crate::buf::rw_len(self.buf.bytes_init());
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::Send {
            fd: self.fd.raw(),
            buf: self.buf.stable_ptr(),
            len: crate::buf::rw_len(self.buf.bytes_init()),
            flags: libc::MSG_NOSIGNAL,
        })
    }

    fn complete(self, c: Completion) -> BufResult<usize, B> {
        (c.result.map(|n| n as usize), self.buf)
    }
}
