//! `IORING_OP_RECV`: a socket read, with a stash ticket.

use super::read::StreamBuf;
use crate::buf::{BufResult, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::ReadTicket;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::os::fd::RawFd;

/// `IORING_RECVSEND_POLL_FIRST`: wait for data before the first attempt.
const POLL_FIRST: u16 = 1 << 0;

/// Whether the kernel takes `POLL_FIRST` (see `Features::poll_first`).
fn poll_first_supported() -> bool {
    crate::driver::features().poll_first
}

/// Receives into `buf` from a connected socket.
pub(crate) struct Recv<B: IoBufMut> {
    /// The socket's number; the ticket in `buf` holds the `SharedFd`,
    /// which keeps it open until the CQE.
    fd: RawFd,
    /// Written by the kernel (after the caller's prefix); given back with
    /// the result, or its bytes stashed if the read was cut off.
    buf: StreamBuf<B>,
    /// `ioprio`: `POLL_FIRST` when the last receive emptied the socket.
    ioprio: u16,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(buf: B, ticket: ReadTicket) -> Recv<B> {
        let fd = ticket.fd().raw();
        let drained = ticket.fd().recv_drained();
        let buf = StreamBuf::new(buf, ticket);
        // Decided here, outside the driver's borrow (the probe needs it).
        let ioprio = if buf.len() > 0 && drained && poll_first_supported() {
            POLL_FIRST
        } else {
            0
        };
        Recv { fd, buf, ioprio }
    }
}

impl<B: IoBufMut> Op for Recv<B> {
    const CODE: u8 = opcode::Recv::CODE;
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Entry {
        let (ptr, len) = self.buf.target();
        opcode::Recv::new(types::Fd(self.fd), ptr, len)
            .ioprio(self.ioprio)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        let (buf, len) = self.buf.target();
        Fallback::readiness(Syscall::Recv {
            fd: self.fd,
            buf,
            len,
            flags: 0,
        })
    }

    fn complete(mut self, c: Completion) -> BufResult<usize, B> {
        if let Ok(n) = c.result {
            self.buf
                .fd()
                .set_recv_drained(n as usize, self.buf.len() as usize);
        }
        self.buf.complete(c.result)
    }

    fn complete_abandoned(mut self, c: Completion) {
        self.buf.abandoned(c.result);
    }
}
