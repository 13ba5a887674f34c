//! `IORING_OP_ACCEPT`: takes one connection off a listening socket.

use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::addr::SockAddr;
use io_uring::{opcode, squeue::Entry, types};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

/// Accepts a connection (close-on-exec) and the peer's address.
///
/// The output owns the new fd, so an accept whose future was dropped but
/// which completed anyway closes the connection (the default
/// `complete_abandoned` drops the output).
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
    type Output = io::Result<(OwnedFd, SocketAddr)>;

    fn sqe(&mut self) -> Entry {
        let addr = self.addr.as_mut_ptr();
        let len = std::ptr::addr_of_mut!(self.addr.len);
        opcode::Accept::new(types::Fd(self.fd.raw()), addr, len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn complete(self, c: Completion) -> Self::Output {
        let fd = crate::sys::owned(c.result? as i32);
        // On an unexpected address family `fd` is dropped here: closed.
        Ok((fd, self.addr.to_std()?))
    }
}
