//! Multishot `IORING_OP_ACCEPT` (Linux 5.19): one SQE accepts connection
//! after connection, one CQE (with `F_MORE`) each.

use crate::driver::{Completion, MultiOp};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};

/// Accepts connections (close-on-exec) until cancelled or an error ends
/// it. The multishot form returns no peer address.
pub(crate) struct AcceptMulti {
    /// The listening socket, kept open until the final CQE.
    fd: SharedFd,
}

impl AcceptMulti {
    pub(crate) fn new(fd: SharedFd) -> AcceptMulti {
        AcceptMulti { fd }
    }
}

impl MultiOp for AcceptMulti {
    const CODE: u8 = opcode::AcceptMulti::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::AcceptMulti {
            fd: self.fd.raw(),
            flags: libc::SOCK_CLOEXEC,
        })
    }

    /// A connection accepted after the stream was dropped: closed (the
    /// peer sees the connection closed).
    fn discard(&mut self, c: Completion) {
        if let Ok(fd) = c.result {
            drop(crate::sys::owned(fd as i32));
        }
    }
}
