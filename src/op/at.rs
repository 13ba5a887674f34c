//! [`At`]: the "directory fd + path" pair that the `*at` ops take.

use crate::fd::SharedFd;
use io_uring::types;
use std::ffi::CString;

/// A path, resolved relative to `dir` (or the working directory when
/// `dir` is `None`), owned by the op that uses it.
pub(crate) struct At {
    /// Kept open until the op's CQE, so the number cannot be reused under
    /// the kernel (docs/reliability.md, rule 5).
    dir: Option<SharedFd>,
    /// Read by the kernel until the CQE; a `CString`'s bytes are on the heap
    /// and do not move with the op.
    path: CString,
}

impl At {
    /// `path` relative to `dir`, or to the working directory.
    pub(crate) fn new(dir: Option<SharedFd>, path: CString) -> At {
        At { dir, path }
    }

    /// The directory fd for the SQE (`AT_FDCWD` without one).
    pub(crate) fn dirfd(&self) -> types::Fd {
        types::Fd(self.dir.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw))
    }

    /// The path for the SQE; valid while `self` lives.
    pub(crate) fn ptr(&self) -> *const libc::c_char {
        self.path.as_ptr()
    }
}
