//! `IORING_OP_RECV`: a socket read, with a stash ticket.

use crate::buf::{self, BufResult, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::{ReadTicket, SharedFd};
use io_uring::{opcode, squeue::Entry, types};

/// `IORING_RECVSEND_POLL_FIRST`: wait for data before the first attempt.
const POLL_FIRST: u16 = 1 << 0;

/// Whether the kernel takes `POLL_FIRST` (Linux 5.19; older ones refuse a
/// non-zero `ioprio` on a receive). `IORING_OP_SOCKET` came in the same
/// release, so its probe bit stands for it.
fn poll_first_supported() -> bool {
    crate::runtime::supports(opcode::Socket::CODE)
}

/// Receives into `buf` from a connected socket.
pub(crate) struct Recv<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Written by the kernel; given back with the result.
    buf: B,
    /// Where a late completion's bytes go.
    ticket: Option<ReadTicket>,
    /// Bytes asked for (the buffer's capacity, capped).
    len: u32,
    /// `ioprio`: `POLL_FIRST` when the last receive emptied the socket.
    ioprio: u16,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(buf: B, ticket: ReadTicket) -> Recv<B> {
        let len = buf.bytes_total().min(u32::MAX as usize) as u32;
        let fd = ticket.fd().clone();
        // Decided here, outside the driver's borrow (the probe needs it).
        let ioprio = if len > 0 && fd.recv_drained() && poll_first_supported() {
            POLL_FIRST
        } else {
            0
        };
        Recv {
            fd,
            buf,
            ticket: Some(ticket),
            len,
            ioprio,
        }
    }
}

impl<B: IoBufMut> Op for Recv<B> {
    const CODE: u8 = opcode::Recv::CODE;
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Entry {
        opcode::Recv::new(
            types::Fd(self.fd.raw()),
            self.buf.stable_mut_ptr(),
            self.len,
        )
        .ioprio(self.ioprio)
        .build()
    }

    fn complete(mut self, c: Completion) -> BufResult<usize, B> {
        let res = c.result.map(|n| n as usize);
        if let Ok(n) = res {
            self.fd.set_recv_drained(n, self.len as usize);
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
