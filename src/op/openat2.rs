//! `IORING_OP_OPENAT2` (5.6): opening with `RESOLVE_*` path-resolution
//! restrictions (`openat2(2)`).

use super::at::At;
use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types::OpenHow};
use std::io;
use std::os::fd::OwnedFd;

/// Opens `at` as `how` says (flags, mode, resolve).
pub(crate) struct OpenAt2 {
    /// Owns the path and keeps the directory fd open until the CQE.
    at: At,
    /// Read by the kernel; boxed so it does not move with the op.
    how: Box<OpenHow>,
}

impl OpenAt2 {
    pub(crate) fn new(at: At, flags: libc::c_int, mode: libc::mode_t, resolve: u64) -> OpenAt2 {
        // openat2 refuses a mode when nothing is created.
        let creates = flags & (libc::O_CREAT | libc::O_TMPFILE) != 0;
        let mode = if creates { u64::from(mode) } else { 0 };
        let how = OpenHow::new()
            .flags(flags as u32 as u64)
            .mode(mode)
            .resolve(resolve);
        OpenAt2 {
            at,
            how: Box::new(how),
        }
    }
}

impl Op for OpenAt2 {
    const CODE: u8 = opcode::OpenAt2::CODE;
    /// The new descriptor, owned (closed if the future was dropped).
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Entry {
        opcode::OpenAt2::new(self.at.dirfd(), self.at.ptr(), &*self.how).build()
    }

    fn fallback(&mut self) -> Fallback {
        let how: *const OpenHow = &*self.how;
        Fallback::blocking(Syscall::OpenAt2 {
            dirfd: self.at.dirfd().0,
            path: self.at.ptr(),
            how: how.cast(),
            size: std::mem::size_of::<OpenHow>(),
        })
    }

    fn complete(self, c: Completion) -> io::Result<OwnedFd> {
        c.result.map(|fd| crate::sys::owned(fd as i32))
    }
}
