//! `IORING_OP_WAITID` (6.7+): waits for a child to exit and reaps it.

use crate::driver::{Completion, Op};
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::{opcode, squeue::Entry};
use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitStatus;
use std::rc::Rc;
use std::task::Waker;

/// What the waits on one child share: its status once reaped, and whether a
/// wait is in the kernel (a dropped one may still reap the child, so a new
/// wait must let it finish rather than get `ECHILD`).
#[derive(Default)]
pub(crate) struct ExitSlot {
    pub(crate) status: Cell<Option<ExitStatus>>,
    pub(crate) in_flight: Cell<bool>,
    /// New waits parked behind an in-flight one.
    pub(crate) waiters: RefCell<Vec<Waker>>,
}

impl ExitSlot {
    fn done(&self, status: Option<ExitStatus>) {
        if status.is_some() {
            self.status.set(status);
        }
        self.in_flight.set(false);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// Waits for the child behind a pidfd (`P_PIDFD`, `WEXITED`).
pub(crate) struct WaitId {
    /// The child's pidfd, open until the CQE.
    pidfd: Rc<OwnedFd>,
    /// Written by the kernel; boxed so it stays put.
    info: Box<libc::siginfo_t>,
    /// Where the status goes, also from a completion nobody awaits.
    slot: Rc<ExitSlot>,
}

impl WaitId {
    pub(crate) fn new(pidfd: Rc<OwnedFd>, slot: Rc<ExitSlot>) -> WaitId {
        slot.in_flight.set(true);
        WaitId {
            pidfd,
            info: Box::new(crate::sys::process::empty_siginfo()),
            slot,
        }
    }

    fn status(&self, c: Completion) -> io::Result<ExitStatus> {
        c.result?;
        crate::sys::process::exit_status(&self.info)
            .ok_or_else(|| io::Error::other("waitid completed without a child status"))
    }
}

impl Op for WaitId {
    const CODE: u8 = opcode::WaitId::CODE;
    type Output = io::Result<ExitStatus>;

    fn sqe(&mut self) -> Entry {
        let id = self.pidfd.as_raw_fd() as libc::id_t;
        opcode::WaitId::new(libc::P_PIDFD, id, libc::WEXITED)
            .infop(&*self.info)
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        // A pidfd is readable once the child has exited.
        Fallback::readiness(Syscall::WaitId {
            idtype: libc::P_PIDFD,
            id: self.pidfd.as_raw_fd() as libc::id_t,
            infop: &mut *self.info,
            options: libc::WEXITED,
        })
    }

    fn complete(self, c: Completion) -> io::Result<ExitStatus> {
        let status = self.status(c);
        self.slot.done(status.as_ref().ok().copied());
        status
    }
}
