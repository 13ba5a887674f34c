//! `IORING_OP_SENDMSG` with `MSG_NOSIGNAL`: a send with a destination
//! address (datagrams) and/or descriptors to pass (`SCM_RIGHTS`).

use crate::buf::{BufResult, IoBuf};
use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::addr::SockAddr;
use crate::sys::msg::MsgHdr;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::os::fd::OwnedFd;

/// Sends the initialised bytes of `buf`, to `to` if given, with `fds`.
pub(crate) struct SendMsg<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Read by the kernel; given back with the result.
    buf: B,
    /// Header, address and control data the kernel reads; boxed, stable.
    msg: Box<MsgHdr>,
    /// Our own copies of the descriptors being passed: the kernel reads
    /// their numbers when the op runs, so they must stay open until the CQE
    /// even if the caller closes its own.
    _fds: Vec<OwnedFd>,
}

impl<B: IoBuf> SendMsg<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, to: Option<SockAddr>, fds: Vec<OwnedFd>) -> SendMsg<B> {
        let ptr = buf.stable_ptr().cast_mut();
        let mut msg = MsgHdr::new(ptr, buf.bytes_init(), to, fds.len());
        msg.set_fds(&fds);
        SendMsg {
            fd,
            buf,
            msg,
            _fds: fds,
        }
    }
}

impl<B: IoBuf> Op for SendMsg<B> {
    const CODE: u8 = opcode::SendMsg::CODE;
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Entry {
        opcode::SendMsg::new(types::Fd(self.fd.raw()), self.msg.as_ptr())
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::SendMsg {
            fd: self.fd.raw(),
            msg: self.msg.as_ptr(),
            flags: libc::MSG_NOSIGNAL,
        })
    }

    fn complete(self, c: Completion) -> BufResult<usize, B> {
        (c.result.map(|n| n as usize), self.buf)
    }
}
