//! `IORING_OP_READ`: positional read (files, [`Read`]) or current-position
//! read (pipes and other streams, [`StreamRead`], with a stash ticket).

use crate::buf::{self, BufResult, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::{ReadTicket, SharedFd};
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::{opcode, squeue::Entry, types};

/// Reads into `buf` from `offset` (`u64::MAX`: the file position).
pub(crate) struct Read<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Written by the kernel; given back with the result.
    buf: B,
    offset: u64,
}

impl<B: IoBufMut> Read<B> {
    /// A positional read (the caller checked that `offset` fits an `off_t`).
    pub(crate) fn at(fd: SharedFd, buf: B, offset: u64) -> Read<B> {
        Read { fd, buf, offset }
    }

    /// A read at the file position, without a stash ticket (its owner
    /// keeps the op until it completes).
    pub(crate) fn current(fd: SharedFd, buf: B) -> Read<B> {
        Read::at(fd, buf, u64::MAX)
    }
}

impl<B: IoBufMut> Op for Read<B> {
    const CODE: u8 = opcode::Read::CODE;
    type Output = BufResult<usize, B>;

    fn eager(&self) -> bool {
        self.fd.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let len = buf::rw_len(self.buf.bytes_total());
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::by_file_type(Syscall::Read {
            fd: Fd::Raw(self.fd.raw()),
            buf: self.buf.stable_mut_ptr(),
            len: buf::rw_len(self.buf.bytes_total()),
            offset: self.offset,
            registered: None,
        })
    }

    fn complete(mut self, c: Completion) -> BufResult<usize, B> {
        let res = c.result.map(|n| n as usize);
        if let Ok(n) = res {
            // The kernel wrote `n` bytes from the start of the buffer.
            buf::kernel_wrote(&mut self.buf, 0, n);
        }
        (res, self.buf)
    }
}

/// A stream read at the current position (pipes, files read in order).
pub(crate) struct StreamRead<B: IoBufMut> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// The buffer and the ticket.
    buf: StreamBuf<B>,
}

impl<B: IoBufMut> StreamRead<B> {
    pub(crate) fn new(buf: B, ticket: ReadTicket) -> StreamRead<B> {
        StreamRead {
            fd: ticket.fd().clone(),
            buf: StreamBuf::new(buf, ticket),
        }
    }
}

impl<B: IoBufMut> Op for StreamRead<B> {
    const CODE: u8 = opcode::Read::CODE;
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> Entry {
        let (ptr, len) = self.buf.target();
        opcode::Read::new(types::Fd(self.fd.raw()), ptr, len)
            .offset(u64::MAX)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        let (buf, len) = self.buf.target();
        Fallback::by_file_type(Syscall::Read {
            fd: Fd::Raw(self.fd.raw()),
            buf,
            len,
            offset: u64::MAX,
            registered: None,
        })
    }

    fn complete(mut self, c: Completion) -> BufResult<usize, B> {
        self.buf.complete(c.result)
    }

    fn complete_abandoned(mut self, c: Completion) {
        self.buf.abandoned(c.result);
    }
}

/// The buffer of a stream read and its ticket: where the kernel writes
/// (after the caller's prefix, see [`crate::fd`]), the result, and what a
/// cut-off read leaves for the next one.
pub(crate) struct StreamBuf<B: IoBufMut> {
    /// Written by the kernel after the first `prefix` bytes; `None` once
    /// given back.
    buf: Option<B>,
    /// Where the outcome goes if the read is cut off.
    ticket: Option<ReadTicket>,
    /// The caller's bytes at the front of `buf`.
    prefix: usize,
    /// Bytes asked of the kernel.
    len: u32,
}

impl<B: IoBufMut> StreamBuf<B> {
    pub(crate) fn new(buf: B, ticket: ReadTicket) -> StreamBuf<B> {
        let prefix = ticket.prefix();
        let len = buf::rw_len(buf.bytes_total() - prefix);
        StreamBuf {
            buf: Some(buf),
            ticket: Some(ticket),
            prefix,
            len,
        }
    }

    /// The descriptor the read is on, from its ticket (which keeps it
    /// open until the CQE).
    pub(crate) fn fd(&self) -> &SharedFd {
        self.ticket
            .as_ref()
            .expect("ticket held until completion")
            .fd()
    }

    /// Bytes asked of the kernel.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Where the kernel writes, and how much.
    pub(crate) fn target(&mut self) -> (*mut u8, u32) {
        let buf = self.buf.as_mut().expect("buffer present until completion");
        // In bounds or one past the end: `prefix <= bytes_total()`.
        (buf.stable_mut_ptr().wrapping_add(self.prefix), self.len)
    }

    /// The read's result and the buffer; the ticket goes (the read is over).
    pub(crate) fn complete(&mut self, result: std::io::Result<u32>) -> BufResult<usize, B> {
        let mut buf = self.buf.take().expect("buffer present until completion");
        self.ticket = None;
        let res = result.map(|n| n as usize);
        if let Ok(n) = res {
            // The kernel wrote `n` bytes after the caller's `prefix`.
            buf::kernel_wrote(&mut buf, self.prefix, n);
        }
        (res, buf)
    }

    /// A late completion: its outcome (with the caller's prefix) goes to
    /// the stash for the next read.
    pub(crate) fn abandoned(&mut self, result: std::io::Result<u32>) {
        let mut buf = self.buf.take().expect("buffer present until completion");
        if let Ok(n) = result {
            // As in `complete`.
            buf::kernel_wrote(&mut buf, self.prefix, n as usize);
        }
        if let Some(ticket) = self.ticket.take() {
            ticket.settle(&buf, &result, self.len as usize);
        }
    }
}

impl<B: IoBufMut> Drop for StreamBuf<B> {
    fn drop(&mut self) {
        // Dropped before it reached the kernel (never pushed): nothing was
        // read, but the caller's prefix must not be lost.
        if let (Some(ticket), Some(buf)) = (self.ticket.take(), &self.buf) {
            ticket.unread(buf);
        }
    }
}
