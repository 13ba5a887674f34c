//! `IORING_OP_CONNECT`: connects a socket to an address.

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::addr::SockAddr;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;

/// Connects `fd` to `addr`.
pub(crate) struct Connect {
    /// The socket, kept open until the CQE. If the future is dropped, this
    /// is the last owner and closes the socket once the kernel is done.
    fd: SharedFd,
    /// Read by the kernel; boxed so it stays put.
    addr: Box<SockAddr>,
}

impl Connect {
    pub(crate) fn new(fd: SharedFd, addr: SockAddr) -> Connect {
        Connect {
            fd,
            addr: Box::new(addr),
        }
    }
}

impl Op for Connect {
    const CODE: u8 = opcode::Connect::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::Connect::new(types::Fd(self.fd.raw()), self.addr.as_ptr(), self.addr.len).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::Connect {
            fd: self.fd.raw(),
            addr: self.addr.as_ptr(),
            len: self.addr.len,
        })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
