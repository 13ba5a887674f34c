//! `IORING_OP_CLOSE`: closing through the ring reports the close error
//! (e.g. a deferred write error on NFS) to the caller.

use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;
use std::os::fd::RawFd;

/// Closes `fd`, which no other op uses any more (see [`close`]).
pub(crate) struct Close {
    fd: RawFd,
}

impl Close {
    pub(crate) fn new(fd: RawFd) -> Close {
        Close { fd }
    }
}

impl Op for Close {
    const CODE: u8 = opcode::Close::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::Close::new(types::Fd(self.fd)).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::inline(Syscall::Close { fd: self.fd })
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}

/// Waits until no op uses `fd` any more (this is its last clone), then
/// closes it through io_uring and reports the kernel's answer.
pub(crate) async fn close(fd: crate::fd::SharedFd) -> io::Result<()> {
    use std::os::fd::IntoRawFd;
    let fd = fd.into_last().await;
    crate::driver::submit(Close::new(fd.into_raw_fd())).await
}
