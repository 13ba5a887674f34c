//! `IORING_OP_RECV`: a socket read, with a stash ticket.

use crate::buf::{self, BufResult, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::{ReadTicket, SharedFd};
use io_uring::{opcode, squeue::Entry, types};

/// Receives into `buf` from a connected socket.
pub(crate) struct Recv<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Written by the kernel; given back with the result.
    buf: B,
    /// Where a late completion's bytes go.
    ticket: Option<ReadTicket>,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(buf: B, ticket: ReadTicket) -> Recv<B> {
        Recv {
            fd: ticket.fd().clone(),
            buf,
            ticket: Some(ticket),
        }
    }
}

impl<B: IoBufMut> Op for Recv<B> {
    const CODE: u8 = opcode::Recv::CODE;
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Entry {
        let len = self.buf.bytes_total().min(u32::MAX as usize) as u32;
        opcode::Recv::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len).build()
    }

    fn complete(mut self, c: Completion) -> BufResult<usize, B> {
        let res = c.result.map(|n| n as usize);
        if let Ok(n) = res {
            // SAFETY: the kernel wrote `n` bytes from the start of the buffer.
            unsafe { self.buf.set_init(n) };
        }
        (res, self.buf)
    }

    fn complete_abandoned(mut self, c: Completion) {
        if let (Ok(n), Some(ticket)) = (c.result, self.ticket.take()) {
            // SAFETY: the kernel wrote `n` bytes from the start of the buffer.
            unsafe { self.buf.set_init(n as usize) };
            ticket.stash(buf::init_bytes(&self.buf, n as usize));
        }
    }
}
