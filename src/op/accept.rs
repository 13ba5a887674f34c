//! `IORING_OP_ACCEPT`: takes one connection off a listening socket of any
//! address family, giving the new fd and the peer's address in the kernel's
//! layout (TCP listeners turn it into a `SocketAddr`; the peer of an
//! accepted Unix connection is usually unnamed).

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::addr::SockAddr;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;
use std::os::fd::OwnedFd;

/// Accepts a connection (close-on-exec). The output owns the new fd, so a
/// late completion after the future was dropped closes it.
pub(crate) struct Accept {
    /// The listening socket, kept open until the CQE.
    fd: SharedFd,
    /// Written by the kernel (address and length); boxed so it stays put.
    addr: Box<SockAddr>,
}

impl Accept {
    pub(crate) fn new(fd: SharedFd) -> Accept {
        Accept {
            fd,
            addr: Box::new(SockAddr::empty()),
        }
    }
}

impl Op for Accept {
    const CODE: u8 = opcode::Accept::CODE;
    type Output = io::Result<(OwnedFd, SockAddr)>;

    fn sqe(&mut self) -> Entry {
        let addr = self.addr.as_mut_ptr();
        let len = std::ptr::addr_of_mut!(self.addr.len);
        opcode::Accept::new(types::Fd(self.fd.raw()), addr, len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::Accept {
            fd: self.fd.raw(),
            addr: self.addr.as_mut_ptr(),
            addrlen: std::ptr::addr_of_mut!(self.addr.len),
            flags: libc::SOCK_CLOEXEC,
        })
    }

    fn complete(self, c: Completion) -> Self::Output {
        let fd = crate::sys::owned(c.result? as i32);
        Ok((fd, *self.addr))
    }
}
