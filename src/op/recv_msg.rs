//! `IORING_OP_RECVMSG`: a receive that also reports the source address,
//! truncation, and descriptors passed with `SCM_RIGHTS`.

use crate::buf::{self, BufResult, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::{ReadTicket, SharedFd};
use crate::sys::addr::SockAddr;
use crate::sys::msg::MsgHdr;
pub(crate) use crate::sys::msg::RecvMeta;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::rc::Rc;

/// Receives one message into `buf`, with room for `max_fds` descriptors.
pub(crate) struct RecvMsg<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Written by the kernel; given back with the result.
    buf: B,
    /// Header, address room and control buffer the kernel writes; boxed.
    msg: Box<MsgHdr>,
    /// `MSG_*` flags for the receive.
    flags: u32,
}

impl<B: IoBufMut> RecvMsg<B> {
    /// `flags`: `MSG_TRUNC` for datagrams (report the real length).
    pub(crate) fn new(fd: SharedFd, mut buf: B, max_fds: usize, flags: i32) -> RecvMsg<B> {
        let msg = MsgHdr::new(
            buf.stable_mut_ptr(),
            buf.bytes_total(),
            Some(SockAddr::empty()),
            max_fds,
        );
        let flags = (flags
            | if max_fds > 0 {
                libc::MSG_CMSG_CLOEXEC
            } else {
                0
            }) as u32;
        RecvMsg {
            fd,
            buf,
            msg,
            flags,
        }
    }
}

impl<B: IoBufMut> Op for RecvMsg<B> {
    const CODE: u8 = opcode::RecvMsg::CODE;
    type Output = BufResult<RecvMeta, B>;

    fn sqe(&mut self) -> Entry {
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), self.msg.as_ptr())
            .flags(self.flags)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::RecvMsg {
            fd: self.fd.raw(),
            msg: self.msg.as_ptr(),
            flags: self.flags as i32,
        })
    }

    fn complete(mut self, c: Completion) -> BufResult<RecvMeta, B> {
        // Descriptors are taken even on error paths below, so none leaks.
        let fds = self.msg.take_fds();
        let full_len = match c.result {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.buf),
        };
        let len = full_len.min(self.buf.bytes_total());
        // The kernel wrote `len` bytes (at most the room it had) from the
        // start of the buffer.
        buf::kernel_wrote(&mut self.buf, 0, len);
        let mut from = SockAddr::empty();
        from.storage = self.msg.name.storage;
        from.len = self.msg.name_len();
        let meta = RecvMeta {
            len,
            full_len,
            from,
            fds,
        };
        (Ok(meta), self.buf)
    }
}

/// A datagram receive with a ticket: a datagram (or error) that arrives
/// after the future was dropped goes to the socket's stash, for the next
/// receive (see [`crate::fd`]).
pub(crate) struct DatagramRecv<B> {
    /// The receive itself (`MSG_TRUNC`: the real length is reported).
    inner: RecvMsg<B>,
    /// Where a late completion goes.
    ticket: Option<ReadTicket>,
}

impl<B: IoBufMut> DatagramRecv<B> {
    pub(crate) fn new(buf: B, ticket: ReadTicket) -> Self {
        DatagramRecv {
            inner: RecvMsg::new(ticket.fd().clone(), buf, 0, libc::MSG_TRUNC),
            ticket: Some(ticket),
        }
    }
}

impl<B: IoBufMut> Op for DatagramRecv<B> {
    const CODE: u8 = opcode::RecvMsg::CODE;
    type Output = BufResult<RecvMeta, B>;

    fn sqe(&mut self) -> Entry {
        self.inner.sqe()
    }

    fn fallback(&mut self) -> Fallback {
        self.inner.fallback()
    }

    fn complete(self, c: Completion) -> BufResult<RecvMeta, B> {
        self.inner.complete(c)
    }

    fn complete_abandoned(mut self, c: Completion) {
        let ticket = self.ticket.take();
        let (res, buf) = self.inner.complete(c);
        let late = res.map(|meta| (buf::init_bytes(&buf, meta.len).to_vec(), meta));
        if let Some(ticket) = ticket {
            ticket.settle_datagram(late);
        }
    }
}

/// Descriptors received on a stream, waiting for the next receive that
/// asks for descriptors.
pub(crate) type FdStash = Rc<RefCell<VecDeque<OwnedFd>>>;

/// A stream receive with descriptors: bytes and descriptors that arrive
/// after the future was dropped go to the stream's stashes, so nothing is
/// lost (see [`crate::fd`]).
pub(crate) struct StreamRecvFds<B> {
    /// The receive itself.
    inner: RecvMsg<B>,
    /// Where a late completion's bytes go.
    ticket: Option<ReadTicket>,
    /// Where every received descriptor goes (the caller drains it).
    fds: FdStash,
}

impl<B: IoBufMut> StreamRecvFds<B> {
    pub(crate) fn new(buf: B, ticket: ReadTicket, max_fds: usize, fds: FdStash) -> Self {
        StreamRecvFds {
            inner: RecvMsg::new(ticket.fd().clone(), buf, max_fds, 0),
            ticket: Some(ticket),
            fds,
        }
    }
}

impl<B: IoBufMut> Op for StreamRecvFds<B> {
    const CODE: u8 = opcode::RecvMsg::CODE;
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Entry {
        self.inner.sqe()
    }

    fn fallback(&mut self) -> Fallback {
        self.inner.fallback()
    }

    fn complete(self, c: Completion) -> BufResult<usize, B> {
        let (res, buf) = self.inner.complete(c);
        match res {
            Ok(meta) => {
                self.fds.borrow_mut().extend(meta.fds);
                (Ok(meta.len), buf)
            }
            Err(e) => (Err(e), buf),
        }
    }

    fn complete_abandoned(mut self, c: Completion) {
        let ticket = self.ticket.take();
        let fds = self.fds.clone();
        let (res, buf) = self.inner.complete(c);
        let res = res.map(|meta| {
            fds.borrow_mut().extend(meta.fds);
            meta.len as u32
        });
        if let Some(ticket) = ticket {
            // Always called with no prefix (`recv_with_fds` reads from 0).
            ticket.settle(&buf, &res, buf.bytes_total());
        }
    }
}
