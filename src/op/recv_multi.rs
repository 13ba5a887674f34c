//! Multishot `IORING_OP_RECV` with provided buffers (Linux 6.0): one SQE
//! receives chunk after chunk, each into a buffer the kernel picks from a
//! registered ring, one CQE (with `F_MORE`) each.

use crate::driver::{Completion, MultiOp, RingShared};
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{cqueue, opcode, squeue::Entry, types};
use std::rc::Rc;

/// Receives on a stream socket into buffers from `ring` until end of
/// stream, an error, or the pool running dry (`ENOBUFS`) ends it.
pub(crate) struct RecvMulti {
    /// Kept open until the final CQE.
    fd: SharedFd,
    /// The pool the kernel picks from; kept registered and mapped until
    /// the final CQE.
    ring: Rc<RingShared>,
}

impl RecvMulti {
    pub(crate) fn new(fd: SharedFd, ring: Rc<RingShared>) -> RecvMulti {
        RecvMulti { fd, ring }
    }
}

impl MultiOp for RecvMulti {
    const CODE: u8 = opcode::RecvMulti::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::RecvMulti::new(types::Fd(self.fd.raw()), self.ring.bgid()).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::readiness(Syscall::RecvRing {
            fd: self.fd.raw(),
            bgid: self.ring.bgid(),
        })
    }

    /// Data received after the receiver was dropped: its buffer goes back
    /// to the pool (the bytes are dropped with the receiver).
    fn discard(&mut self, c: Completion) {
        if let Some(bid) = cqueue::buffer_select(c.flags) {
            self.ring.recycle(bid);
        }
    }

    fn buf_ring(&self) -> Option<Rc<RingShared>> {
        Some(self.ring.clone())
    }
}
