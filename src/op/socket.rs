//! `IORING_OP_SOCKET` (Linux 5.19): creates a socket through the ring.

use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::io;
use std::os::fd::OwnedFd;

/// Creates a socket like `socket(2)`; the output owns it, so a late
/// completion after the future was dropped closes it.
pub(crate) struct Socket {
    domain: i32,
    /// The type with its flags (`SOCK_STREAM | SOCK_CLOEXEC`), as for
    /// `socket(2)`.
    ty: i32,
}

impl Socket {
    pub(crate) fn new(domain: i32, ty: i32) -> Socket {
        Socket { domain, ty }
    }
}

impl Op for Socket {
    const CODE: u8 = opcode::Socket::CODE;
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Entry {
        opcode::Socket::new(self.domain, self.ty, 0).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::inline(Syscall::Socket {
            domain: self.domain,
            ty: self.ty,
            protocol: 0,
        })
    }

    fn complete(self, c: Completion) -> io::Result<OwnedFd> {
        Ok(crate::sys::owned(c.result? as i32))
    }
}
