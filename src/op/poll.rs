//! `IORING_OP_POLL_ADD`: waits until an fd is ready (one shot).

use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry, types};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

/// Waits for `events` (`POLLIN`, ...) on an fd; gives the ready mask.
pub(crate) struct PollAdd {
    /// Open until the CQE.
    fd: Rc<OwnedFd>,
    events: u32,
}

impl PollAdd {
    pub(crate) fn new(fd: Rc<OwnedFd>, events: u32) -> PollAdd {
        PollAdd { fd, events }
    }
}

impl Op for PollAdd {
    const CODE: u8 = opcode::PollAdd::CODE;
    type Output = io::Result<u32>;

    fn sqe(&mut self) -> Entry {
        opcode::PollAdd::new(types::Fd(self.fd.as_raw_fd()), self.events).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::PollAdd {
            fd: self.fd.as_raw_fd(),
            events: self.events,
        })
    }

    fn complete(self, c: Completion) -> io::Result<u32> {
        c.result
    }
}
