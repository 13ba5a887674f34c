//! `IORING_OP_WRITE`: positional write (files) or at the current position
//! (`u64::MAX`: pipes, append-mode files).

use crate::buf::{BufResult, IoBuf};
use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::{opcode, squeue::Entry, types};

/// Writes the initialised bytes of `buf` at `offset`.
pub(crate) struct Write<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Read by the kernel; given back with the result.
    buf: B,
    offset: u64,
}

impl<B: IoBuf> Write<B> {
    pub(crate) fn new(fd: SharedFd, buf: B, offset: u64) -> Write<B> {
        Write { fd, buf, offset }
    }
}

impl<B: IoBuf> Op for Write<B> {
    const CODE: u8 = opcode::Write::CODE;
    type Output = BufResult<usize, B>;

    fn eager(&self) -> bool {
        self.fd.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let len = crate::buf::rw_len(self.buf.bytes_init());
        opcode::Write::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::by_file_type(Syscall::Write {
            fd: Fd::Raw(self.fd.raw()),
            buf: self.buf.stable_ptr(),
            len: crate::buf::rw_len(self.buf.bytes_init()),
            offset: self.offset,
            registered: None,
        })
    }

    fn complete(self, c: Completion) -> BufResult<usize, B> {
        (c.result.map(|n| n as usize), self.buf)
    }
}
