//! `IORING_OP_NOP`: the cheapest round trip through the ring.

use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::io;

/// Does nothing in the kernel; measures the per-op overhead.
pub(crate) struct Nop;

impl Op for Nop {
    const CODE: u8 = opcode::Nop::CODE;
    type Output = io::Result<()>;

    fn sqe(&mut self) -> Entry {
        opcode::Nop::new().build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::inline(Syscall::Nop)
    }

    fn complete(self, c: Completion) -> io::Result<()> {
        c.result.map(drop)
    }
}
