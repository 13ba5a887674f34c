//! `IORING_OP_READ` / `IORING_OP_WRITE` on a registered file (its slot,
//! with `IOSQE_FIXED_FILE`) and any owned buffer: the two ops of
//! `FixedFile::read_at` / `write_at`, kept together because they differ
//! from `op::Read` / `op::Write` only in how they name the file.

use crate::buf::{self, BufResult, IoBuf, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::FileRef;
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::{opcode, squeue::Entry};

/// Reads into `buf` (up to its capacity) from `offset`.
pub(crate) struct ReadAt<B> {
    /// Kept registered until the CQE.
    file: FileRef,
    /// Written by the kernel; given back with the result.
    buf: B,
    offset: u64,
}

impl<B: IoBufMut> ReadAt<B> {
    pub(crate) fn new(file: FileRef, buf: B, offset: u64) -> ReadAt<B> {
        ReadAt { file, buf, offset }
    }
}

impl<B: IoBufMut> Op for ReadAt<B> {
    const CODE: u8 = opcode::Read::CODE;
    type Output = BufResult<usize, B>;

    fn eager(&self) -> bool {
        self.file.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let ptr = self.buf.stable_mut_ptr();
        let len = crate::buf::rw_len(self.buf.bytes_total());
        self.file
            .build(
                |fd| opcode::Read::new(fd, ptr, len),
                |fixed| opcode::Read::new(fixed, ptr, len),
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

/// Writes the initialised bytes of `buf` at `offset`.
pub(crate) struct WriteAt<B> {
    /// Kept registered until the CQE.
    file: FileRef,
    /// Read by the kernel; given back with the result.
    buf: B,
    offset: u64,
}

impl<B: IoBuf> WriteAt<B> {
    pub(crate) fn new(file: FileRef, buf: B, offset: u64) -> WriteAt<B> {
        WriteAt { file, buf, offset }
    }
}

impl<B: IoBuf> Op for WriteAt<B> {
    const CODE: u8 = opcode::Write::CODE;
    type Output = BufResult<usize, B>;

    fn eager(&self) -> bool {
        self.file.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let ptr = self.buf.stable_ptr();
        let len = crate::buf::rw_len(self.buf.bytes_init());
        self.file
            .build(
                |fd| opcode::Write::new(fd, ptr, len),
                |fixed| opcode::Write::new(fixed, ptr, len),
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
            registered: None,
        })
    }

    fn complete(self, c: Completion) -> BufResult<usize, B> {
        (c.result.map(|n| n as usize), self.buf)
    }
}
