//! `IORING_OP_OPENAT`: opening a file without blocking the thread.

use crate::driver::{Completion, Op};
use io_uring::{opcode, squeue::Entry, types};
use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;

/// Opens `path` (relative to the working directory) with `flags` and `mode`.
pub(crate) struct OpenAt {
    /// Read by the kernel until the CQE; a `CString` keeps its bytes on the
    /// heap, so moving the op does not move them.
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
}

impl OpenAt {
    pub(crate) fn new(path: CString, flags: libc::c_int, mode: libc::mode_t) -> OpenAt {
        OpenAt { path, flags, mode }
    }
}

impl Op for OpenAt {
    const CODE: u8 = opcode::OpenAt::CODE;
    /// The new descriptor, owned: if the future was dropped before the CQE,
    /// the default `complete_abandoned` drops this output, closing the fd.
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }

    fn complete(self, c: Completion) -> io::Result<OwnedFd> {
        c.result.map(|fd| crate::sys::owned(fd as i32))
    }
}
