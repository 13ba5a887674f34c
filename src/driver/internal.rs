//! The driver's wake-up read on the executor's eventfd, with its SQE and
//! its fallback like an op's (the driver's other requests are the cancels,
//! in `cancel`, and the `MSG_RING` wakes, in `msg_ring`).

use super::ring::Request;
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::squeue::Entry;
use io_uring::{opcode, types};
use std::os::fd::RawFd;

/// An 8-byte read of the wake-up eventfd `fd` into `buf` (the driver's
/// `wake_buf`, which outlives the read).
pub(super) struct WakeRead {
    pub(super) fd: RawFd,
    pub(super) buf: *mut u64,
}

impl Request for WakeRead {
    fn sqe(&mut self) -> Entry {
        opcode::Read::new(types::Fd(self.fd), self.buf.cast(), 8).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::Read {
            fd: Fd::Raw(self.fd),
            buf: self.buf.cast(),
            len: 8,
            offset: u64::MAX,
            registered: None,
        })
    }
}
