//! `IORING_OP_READ`: positional read (files) or current-position read
//! (pipes and other streams, with a stash ticket).

use crate::buf::{self, BufResult, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::{ReadTicket, SharedFd};
use io_uring::{opcode, squeue::Entry, types};

/// Reads into `buf` from `offset` (`u64::MAX`: the file position).
pub(crate) struct Read<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Written by the kernel; given back with the result.
    buf: B,
    offset: u64,
    /// For stream reads: where a late completion's bytes go.
    ticket: Option<ReadTicket>,
}

impl<B: IoBufMut> Read<B> {
    /// A positional read.
    pub(crate) fn at(fd: SharedFd, buf: B, offset: u64) -> Read<B> {
        Read {
            fd,
            buf,
            offset,
            ticket: None,
        }
    }

    /// A stream read at the current position.
    pub(crate) fn stream(buf: B, ticket: ReadTicket) -> Read<B> {
        Read {
            fd: ticket.fd().clone(),
            buf,
            offset: u64::MAX,
            ticket: Some(ticket),
        }
    }
}

impl<B: IoBufMut> Op for Read<B> {
    const CODE: u8 = opcode::Read::CODE;
    type Output = BufResult<usize, B>;

    fn eager(&self) -> bool {
        self.fd.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let len = self.buf.bytes_total().min(u32::MAX as usize) as u32;
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .offset(self.offset)
            .build()
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
