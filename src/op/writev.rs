//! `IORING_OP_WRITEV`: a positional write gathered from several buffers.

use crate::buf::{BufResult, IoBuf};
use crate::driver::{Completion, Op};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::{opcode, squeue::Entry, types};

/// Writes the initialised bytes of `bufs`, in order, at `offset`.
pub(crate) struct Writev<B> {
    /// Kept open until the CQE.
    fd: SharedFd,
    /// Read by the kernel; given back with the result.
    bufs: Vec<B>,
    /// One entry per buffer, read by the kernel until the CQE (heap array).
    iovecs: Vec<libc::iovec>,
    offset: u64,
}

impl<B: IoBuf> Writev<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, offset: u64) -> Writev<B> {
        Writev {
            fd,
            bufs,
            iovecs: Vec::new(),
            offset,
        }
    }

    /// Points `iovecs` at the buffers; their count for the request.
    fn fill_iovecs(&mut self) -> u32 {
        self.iovecs = (self.bufs.iter())
            .map(|b| libc::iovec {
                // The kernel only reads through this pointer.
                iov_base: b.stable_ptr().cast_mut().cast(),
                iov_len: b.bytes_init(),
            })
            .collect();
        self.iovecs.len().min(u32::MAX as usize) as u32
    }
}

impl<B: IoBuf> Op for Writev<B> {
    const CODE: u8 = opcode::Writev::CODE;
    type Output = BufResult<usize, Vec<B>>;

    fn eager(&self) -> bool {
        self.fd.is_direct()
    }

    fn sqe(&mut self) -> Entry {
        let n = self.fill_iovecs();
        opcode::Writev::new(types::Fd(self.fd.raw()), self.iovecs.as_ptr(), n)
            .offset(self.offset)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        let n = self.fill_iovecs();
        Fallback::by_file_type(Syscall::Writev {
            fd: Fd::Raw(self.fd.raw()),
            iov: self.iovecs.as_ptr(),
            n,
            offset: self.offset,
        })
    }

    fn complete(self, c: Completion) -> BufResult<usize, Vec<B>> {
        (c.result.map(|n| n as usize), self.bufs)
    }
}
