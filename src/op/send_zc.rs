//! `IORING_OP_SEND_ZC` (Linux 6.0): a send whose pages the network stack
//! uses in place instead of copying.
//!
//! ## Two CQEs
//!
//! The first CQE reports the bytes sent (with `F_MORE` set when a
//! notification follows); the second, with `F_NOTIF`, says the kernel has
//! let go of the pages. Only then may the buffer be reused or freed, so the
//! op runs as a two-shot op in the multishot machinery, which keeps the
//! buffer until the CQE without `F_MORE`.

use crate::buf::IoBuf;
use crate::driver::{Completion, MultiOp};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};

/// Sends the initialised bytes of `buf` without copying them.
pub(crate) struct SendZc<B> {
    /// Kept open until the notification.
    fd: SharedFd,
    /// Read by the kernel until the notification CQE; then given back.
    buf: Option<B>,
}

impl<B: IoBuf> SendZc<B> {
    pub(crate) fn new(fd: SharedFd, buf: B) -> SendZc<B> {
        SendZc { fd, buf: Some(buf) }
    }

    /// The buffer, once the kernel is done with it.
    pub(crate) fn take_buf(&mut self) -> B {
        self.buf.take().expect("buffer taken once")
    }
}

impl<B: IoBuf> MultiOp for SendZc<B> {
    const CODE: u8 = opcode::SendZc::CODE;

    fn sqe(&mut self) -> Entry {
        let buf = self.buf.as_ref().expect("buffer present while in flight");
        let len = crate::buf::rw_len(buf.bytes_init());
        opcode::SendZc::new(types::Fd(self.fd.raw()), buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        let buf = self.buf.as_ref().expect("buffer present while in flight");
        Fallback::readiness(Syscall::SendZc {
            fd: self.fd.raw(),
            buf: buf.stable_ptr(),
            len: crate::buf::rw_len(buf.bytes_init()),
            flags: libc::MSG_NOSIGNAL,
        })
    }

    /// Nothing to release: the buffer goes when the op does, after the
    /// notification.
    fn discard(&mut self, _c: Completion) {}
}
