//! A simulated ring (testing only): the backend of the model test
//! (`model_tests`), in which the test plays the kernel.
//!
//! It keeps the backend contract of [`ring`](super::ring) and nothing more:
//! a bounded submission queue that only [`enter`](SimRing::enter) empties,
//! the set of submitted SQEs the "kernel" holds, and a bounded completion
//! queue with an overflow list (`IORING_FEAT_NODROP`) and deferred task
//! work (`DEFER_TASKRUN`), both of which only an `enter` brings out. It
//! decides nothing: which held SQE completes, with what result, which CQE
//! is duplicated or late, and how the next `enter` fails are all chosen by
//! the test through [`SimState`], which the test shares with the ring.
//!
//! The ring takes each request's typed fallback (`sys::syscall`), as the
//! epoll backend does, never SQE bytes: the "kernel" needs only the
//! `user_data`, what is cancelled, and which buffer a read names.
//!
//! Every SQE accepted and every CQE drained is logged, so the test can
//! compare the driver's counters and the ops' lifetimes against what the
//! "kernel" saw.

use super::ring::Ring;
use super::{faults, Driver, SetupFlags};
use crate::sys::syscall::{Fallback, Syscall};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

/// One pushed request, as the simulated kernel holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sqe {
    pub(crate) user_data: u64,
    /// What the request does.
    pub(crate) call: Syscall,
}

impl Sqe {
    /// The `user_data` an `ASYNC_CANCEL` targets.
    pub(crate) fn cancel_target(&self) -> Option<u64> {
        match self.call {
            Syscall::AsyncCancel { target } => Some(target),
            _ => None,
        }
    }

    /// A read's buffer address and offset.
    pub(crate) fn read(&self) -> Option<(u64, u64)> {
        match self.call {
            Syscall::Read { buf, offset, .. } => Some((buf as u64, offset)),
            _ => None,
        }
    }
}

/// One completion, as the simulated kernel posts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cqe {
    pub(crate) user_data: u64,
    pub(crate) res: i32,
    pub(crate) flags: u32,
    /// Set by the test for CQEs that belong to no live op (duplicate, late,
    /// unknown `user_data`): the driver must count them as stale. Not seen
    /// by the driver.
    pub(crate) stale: bool,
}

/// How the next `enter` goes, if the test scripted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnterScript {
    /// Fail with this errno before consuming any SQE.
    Fail(i32),
    /// Consume only this many SQEs (the kernel may stop early, e.g. on
    /// memory pressure) and report that count.
    Partial(usize),
}

/// What the simulated kernel holds; shared between the ring (inside the
/// driver) and the test. Everything is public to the test.
#[derive(Debug, Default)]
pub(crate) struct SimState {
    /// Submission queue size: pushes beyond it fail until an `enter`.
    pub(crate) sq_cap: usize,
    /// Completion queue size: CQEs beyond it go to `overflow`.
    pub(crate) cq_cap: usize,
    /// Pushed, not yet submitted.
    pub(crate) sq: VecDeque<Sqe>,
    /// Submitted, no CQE yet: the "kernel" holds these (and the memory
    /// they name).
    pub(crate) kernel: Vec<Sqe>,
    /// Posted CQEs the driver can drain.
    pub(crate) cq: VecDeque<Cqe>,
    /// CQEs that did not fit in the CQ; flushed into it by an `enter`.
    pub(crate) overflow: VecDeque<Cqe>,
    /// CQEs waiting as deferred task work; posted by an `enter`.
    pub(crate) deferred: VecDeque<Cqe>,
    /// How the next `enter` calls go (front first); normal when empty.
    pub(crate) script: VecDeque<EnterScript>,
    /// Every SQE accepted by `push`, in order.
    pub(crate) pushed: Vec<Sqe>,
    /// Pushes refused because the SQ was full.
    pub(crate) push_refused: u64,
    /// Every CQE drained by the driver, in order.
    pub(crate) drained: Vec<Cqe>,
    /// Calls to `enter`.
    pub(crate) enters: u64,
    /// The errors `enter` returned, in order.
    pub(crate) enter_errors: Vec<i32>,
    /// Calls to `close`.
    pub(crate) closed: u32,
}

impl SimState {
    /// A ring with these queue sizes.
    pub(crate) fn new(sq_cap: usize, cq_cap: usize) -> SimState {
        SimState {
            sq_cap,
            cq_cap,
            ..SimState::default()
        }
    }

    /// Posts `cqe`: as deferred task work, or into the CQ, or (CQ full)
    /// into the overflow list.
    pub(crate) fn post(&mut self, cqe: Cqe, deferred: bool) {
        if deferred {
            self.deferred.push_back(cqe);
        } else if self.cq.len() < self.cq_cap && self.overflow.is_empty() {
            self.cq.push_back(cqe);
        } else {
            self.overflow.push_back(cqe);
        }
    }

    /// What an `enter` does besides submitting: run deferred task work and
    /// flush overflowed CQEs while the CQ has room.
    fn flush_hidden(&mut self) {
        while let Some(cqe) = self.deferred.pop_front() {
            self.post(cqe, false);
        }
        while self.cq.len() < self.cq_cap {
            let Some(cqe) = self.overflow.pop_front() else {
                break;
            };
            self.cq.push_back(cqe);
        }
    }
}

/// The simulated ring: the `Ring::Sim` backend. See the module docs.
pub(crate) struct SimRing {
    state: Rc<RefCell<SimState>>,
    cq_entries: u32,
}

impl SimRing {
    /// A ring over `state`, reporting `cq_entries` as its CQ size (the
    /// driver's in-flight cap).
    pub(crate) fn new(state: Rc<RefCell<SimState>>, cq_entries: u32) -> SimRing {
        SimRing { state, cq_entries }
    }

    pub(crate) fn push(&mut self, user_data: u64, fallback: Fallback) -> bool {
        let mut s = self.state.borrow_mut();
        if s.sq.len() >= s.sq_cap {
            s.push_refused += 1;
            return false;
        }
        let sqe = Sqe {
            user_data,
            call: fallback.call,
        };
        s.sq.push_back(sqe);
        s.pushed.push(sqe);
        true
    }

    pub(crate) fn sq_is_empty(&mut self) -> bool {
        self.state.borrow().sq.is_empty()
    }

    pub(crate) fn cq_is_empty(&mut self) -> bool {
        self.state.borrow().cq.is_empty()
    }

    pub(crate) fn has_hidden_work(&mut self) -> bool {
        let s = self.state.borrow();
        !s.overflow.is_empty() || !s.deferred.is_empty()
    }

    pub(crate) fn cq_overflow(&mut self) -> bool {
        !self.state.borrow().overflow.is_empty()
    }

    /// Submits (as scripted), runs hidden work, and "waits": the sim cannot
    /// block, so a wait that finds no CQE ends at once, as a timeout would
    /// (`ETIME`), or as a signal would (`EINTR`) when there is no timeout.
    pub(crate) fn enter(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<usize> {
        let mut s = self.state.borrow_mut();
        s.enters += 1;
        let mut take = s.sq.len();
        match s.script.pop_front() {
            Some(EnterScript::Fail(errno)) => {
                s.enter_errors.push(errno);
                return Err(io::Error::from_raw_os_error(errno));
            }
            Some(EnterScript::Partial(n)) => take = take.min(n),
            None => {}
        }
        let submitted: Vec<Sqe> = s.sq.drain(..take).collect();
        s.kernel.extend(submitted);
        s.flush_hidden();
        if want > 0 && s.cq.len() < want && take == 0 {
            let errno = if timeout.is_some() {
                libc::ETIME
            } else {
                libc::EINTR
            };
            s.enter_errors.push(errno);
            return Err(io::Error::from_raw_os_error(errno));
        }
        Ok(take)
    }

    pub(crate) fn drain(&mut self, out: &mut Vec<(u64, i32, u32)>) {
        let mut s = self.state.borrow_mut();
        while let Some(cqe) = s.cq.pop_front() {
            out.push((cqe.user_data, cqe.res, cqe.flags));
            s.drained.push(cqe);
        }
    }

    pub(crate) fn cq_entries(&self) -> u32 {
        self.cq_entries
    }

    pub(crate) fn close(&mut self) {
        self.state.borrow_mut().closed += 1;
    }
}

/// What the sim answers to the `register_*` calls.
pub(crate) fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "the simulated ring registers nothing",
    )
}

impl Driver {
    /// A driver over the simulated ring `sim`: every opcode "supported",
    /// generations starting at `first_generation`, and a wake-up read on
    /// `wake_fd` (any number: the sim never reads it) unless it is -1.
    pub(crate) fn with_sim(sim: SimRing, first_generation: u32, wake_fd: RawFd) -> Driver {
        let mut driver = Driver::with_ring(
            Ring::Sim(Box::new(sim)),
            // The sim plays the kernel's io_uring.
            super::DriverKind::IoUring,
            faults::Probed::from_fn(|_| true),
            SetupFlags::default(),
        );
        driver.next_generation = first_generation.max(1);
        driver.wake_fd = wake_fd;
        driver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_sq_refuses_and_enter_errors_consume_nothing() {
        let state = Rc::new(RefCell::new(SimState::new(1, 2)));
        let mut ring = SimRing::new(state.clone(), 2);
        let nop = Fallback::inline(Syscall::Nop);
        assert!(ring.push(1, nop));
        assert!(!ring.push(1, nop));
        state
            .borrow_mut()
            .script
            .push_back(EnterScript::Fail(libc::EBUSY));
        assert!(ring.enter(0, None).is_err());
        assert_eq!(state.borrow().sq.len(), 1);
        assert_eq!(ring.enter(0, None).unwrap(), 1);
        assert_eq!(state.borrow().kernel.len(), 1);
        // Three CQEs into a CQ of two: one overflows until the next enter.
        for res in 0..3 {
            let cqe = Cqe {
                user_data: 1,
                res,
                flags: 0,
                stale: false,
            };
            state.borrow_mut().post(cqe, false);
        }
        assert!(ring.cq_overflow());
        let mut out = Vec::new();
        ring.drain(&mut out);
        assert_eq!(out, [(1, 0, 0), (1, 1, 0)]);
        assert!(ring.has_hidden_work());
        assert_eq!(ring.enter(1, Some(Duration::ZERO)).unwrap_or_default(), 0);
        ring.drain(&mut out);
        assert_eq!(out.len(), 3);
        assert!(!ring.has_hidden_work());
    }
}
