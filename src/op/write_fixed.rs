//! `IORING_OP_WRITE_FIXED`: a positional write from a registered buffer, on
//! a plain fd or a registered file.

use crate::buf::{BufResult, FixedBuf, IoBuf};
use crate::driver::{Completion, Op};
use crate::fd::FileRef;
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::{opcode, squeue::Entry};

/// Writes the initialised bytes of `buf` at `offset`.
pub(crate) struct WriteFixed {
    /// Kept open (or registered) until the CQE.
    file: FileRef,
    /// Registered memory the kernel reads; given back with the result.
    buf: FixedBuf,
    offset: u64,
}

impl WriteFixed {
    pub(crate) fn new(file: FileRef, buf: FixedBuf, offset: u64) -> WriteFixed {
        WriteFixed { file, buf, offset }
    }
}

impl Op for WriteFixed {
    const CODE: u8 = opcode::WriteFixed::CODE;
    type Output = BufResult<usize, FixedBuf>;

    fn eager(&self) -> bool {
        self.file.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let (ptr, index) = (self.buf.stable_ptr(), self.buf.table_index());
        let len = crate::buf::rw_len(self.buf.bytes_init());
        self.file
            .build(
                |fd| opcode::WriteFixed::new(fd, ptr, len, index),
                |fixed| opcode::WriteFixed::new(fixed, ptr, len, index),
            )
            .offset(self.offset)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::by_file_type(Syscall::Write {
            fd: self
                .file
                .build(|fd| Fd::Raw(fd.0), |fixed| Fd::Fixed(fixed.0)),
            buf: self.buf.stable_ptr(),
            len: crate::buf::rw_len(self.buf.bytes_init()),
            offset: self.offset,
            registered: Some(self.buf.table_index()),
        })
    }

    fn complete(self, c: Completion) -> BufResult<usize, FixedBuf> {
        (c.result.map(|n| n as usize), self.buf)
    }
}
