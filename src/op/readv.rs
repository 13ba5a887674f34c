//! `IORING_OP_READV`: a positional read scattered over several buffers.

use crate::buf::{self, BufResult, IoBufMut};
use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::{opcode, squeue::Entry, types};

/// Reads into `bufs`, in order, each up to its capacity, from `offset`.
pub(crate) struct Readv<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Written by the kernel; given back with the result.
    bufs: Vec<B>,
    /// One entry per buffer, read by the kernel until the CQE; the Vec's
    /// heap array does not move with the op.
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBufMut> Readv<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, offset: u64) -> Readv<B> {
        Readv {
            fd,
            bufs,
            iovecs: Vec::new(),
            offset,
        }
    }

    /// Points `iovecs` at the buffers; their count for the request.
    fn fill_iovecs(&mut self) -> u32 {
        self.iovecs = (self.bufs.iter_mut())
            .map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr().cast(),
                iov_len: b.bytes_total(),
            })
            .collect();
        self.iovecs.len().min(u32::MAX as usize) as u32
    }
}

impl<B: IoBufMut> Op for Readv<B> {
    const CODE: u8 = opcode::Readv::CODE;
    type Output = BufResult<usize, Vec<B>>;

    fn eager(&self) -> bool {
        self.fd.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let n = self.fill_iovecs();
        opcode::Readv::new(types::Fd(self.fd.raw()), self.iovecs.as_ptr(), n)
            .offset(self.offset)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        let n = self.fill_iovecs();
        Fallback::by_file_type(Syscall::Readv {
            fd: Fd::Raw(self.fd.raw()),
            iov: self.iovecs.as_ptr(),
            n,
            offset: self.offset,
        })
    }

    fn complete(mut self, c: Completion) -> BufResult<usize, Vec<B>> {
        let res = c.result.map(|n| n as usize);
        if let Ok(n) = res {
            let mut left = n;
            for b in &mut self.bufs {
                let here = left.min(b.bytes_total());
                // The kernel filled the buffers in order, each to its
                // capacity before the next: `here` bytes from this one's start.
                buf::kernel_wrote(b, 0, here);
                left -= here;
            }
        }
        (res, self.bufs)
    }
}
