//! `IORING_OP_READ_FIXED`: a positional read into a registered buffer, on
//! a plain fd or a registered file.

use crate::buf::{self, BufResult, FixedBuf, IoBuf, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::FileRef;
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::{opcode, squeue::Entry};

/// Reads into `buf` (its whole capacity) from `offset`.
pub(crate) struct ReadFixed {
    /// Kept open (or registered) until the CQE.
    file: FileRef,
    /// Registered memory the kernel writes; given back with the result
    /// (and to its pool only after the CQE, if the future was dropped).
    buf: FixedBuf,
    offset: u64,
}

impl ReadFixed {
    pub(crate) fn new(file: FileRef, buf: FixedBuf, offset: u64) -> ReadFixed {
        ReadFixed { file, buf, offset }
    }
}

impl Op for ReadFixed {
    const CODE: u8 = opcode::ReadFixed::CODE;
    type Output = BufResult<usize, FixedBuf>;

    fn eager(&self) -> bool {
        self.file.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let (ptr, index) = (self.buf.stable_mut_ptr(), self.buf.table_index());
        let len = crate::buf::rw_len(self.buf.bytes_total());
        self.file
            .build(
                |fd| opcode::ReadFixed::new(fd, ptr, len, index),
                |fixed| opcode::ReadFixed::new(fixed, ptr, len, index),
            )
            .offset(self.offset)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::by_file_type(Syscall::Read {
            fd: self
                .file
                .build(|fd| Fd::Raw(fd.0), |fixed| Fd::Fixed(fixed.0)),
            buf: self.buf.stable_mut_ptr(),
            len: crate::buf::rw_len(self.buf.bytes_total()),
            offset: self.offset,
            registered: Some(self.buf.table_index()),
        })
    }

    fn complete(mut self, c: Completion) -> BufResult<usize, FixedBuf> {
        let res = c.result.map(|n| n as usize);
        if let Ok(n) = res {
            // The kernel wrote `n` bytes from the start of the buffer.
            buf::kernel_wrote(&mut self.buf, 0, n);
        }
        (res, self.buf)
    }
}
