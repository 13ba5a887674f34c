//! The model test's instruments: the tracker (what buffers and wakers
//! report), the test op and its buffer, test wakers, and the random actions.

use super::*;
use crate::driver::current::Core;
use crate::driver::lifecycle::WAKE_DATA;
use crate::driver::op::{Completion, Op};
use crate::driver::sim::{SimState, Sqe};
use crate::sys::syscall::{Fallback, Fd, Syscall};
use io_uring::squeue::Entry;
use io_uring::{opcode, types};
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};
// ---------------------------------------------------------------------------
// The tracker: what buffers and wakers report, checked as it happens.
// ---------------------------------------------------------------------------

/// Shared by the test op's buffers and the test wakers of one case.
pub(super) struct Tracker {
    /// The core whose driver is the simulated one (for the checks of
    /// docs/reliability.md, rule 7).
    pub(super) ctx: Rc<Core>,
    /// The simulated kernel (for docs/reliability.md rule 1 checks).
    pub(super) sim: Rc<RefCell<SimState>>,
    /// Times each op's buffer was dropped.
    pub(super) freed: RefCell<HashMap<u32, u32>>,
    /// `(op id, result)` of each abandoned op the driver finished.
    pub(super) finished: RefCell<Vec<(u32, i32)>>,
    /// What went wrong, in order.
    pub(super) violations: RefCell<Vec<String>>,
}

thread_local! {
    /// The tracker of the case running on this thread.
    pub(super) static TRACKER: RefCell<Option<Rc<Tracker>>> = const { RefCell::new(None) };
    /// What the passing cases exercised, summed (printed at the end, to
    /// show the generator reaches the interesting states).
    pub(super) static COVERAGE: RefCell<Coverage> = RefCell::default();
}

/// Sums over the passing cases of a run.
#[derive(Debug, Default)]
pub(super) struct Coverage {
    pub(super) cases: u64,
    /// The driver's counters, summed.
    pub(super) ops_submitted: u64,
    pub(super) ops_completed: u64,
    pub(super) ops_cancelled: u64,
    pub(super) late_completions: u64,
    pub(super) stale_cqes: u64,
    pub(super) sq_full: u64,
    pub(super) backpressure: u64,
    pub(super) enter_busy: u64,
    pub(super) cq_overflows: u64,
    pub(super) leaked: u64,
    /// Futures dropped after their CQE was reaped, before taking it.
    pub(super) dropped_completed: u64,
    /// Futures dropped before their first poll.
    pub(super) dropped_unpolled: u64,
    /// Cases whose generations crossed `u32::MAX`.
    pub(super) wrapped: u64,
}

pub(super) fn with_tracker(f: impl FnOnce(&Tracker)) {
    let tracker = TRACKER.try_with(|t| t.borrow().clone()).ok().flatten();
    if let Some(t) = tracker {
        f(&t);
    }
}

impl Tracker {
    pub(super) fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }

    /// Rule 7: `what` must not happen while the driver is borrowed.
    pub(super) fn check_unborrowed(&self, what: &str) {
        if self.ctx.driver.try_borrow_mut().is_err() {
            self.violation(format!(
                "docs/reliability.md rule 7: {what} while the driver is borrowed"
            ));
        }
    }

    /// A test op's buffer at `addr` is being dropped.
    pub(super) fn on_free(&self, id: u32, addr: u64) {
        let n = {
            let mut freed = self.freed.borrow_mut();
            let n = freed.entry(id).or_default();
            *n += 1;
            *n
        };
        if n > 1 {
            self.violation(format!("op {id}: buffer dropped {n} times"));
        }
        self.check_unborrowed(&format!("op {id}'s buffer dropped"));
        let Ok(sim) = self.sim.try_borrow() else {
            self.violation(format!("op {id}: buffer dropped inside the ring"));
            return;
        };
        let holds = |s: &Sqe| s.user_data != WAKE_DATA && s.read().is_some_and(|r| r.0 == addr);
        if sim.sq.iter().chain(&sim.kernel).any(holds) {
            self.violation(format!(
                "docs/reliability.md rule 1: op {id}'s buffer dropped while the kernel holds its SQE"
            ));
        }
    }
}

/// A test op's buffer: heap memory at a stable address, which reports its
/// drop to the tracker.
pub(super) struct TrackedBuf {
    pub(super) id: u32,
    pub(super) mem: Box<[u8; BUF_LEN as usize]>,
}

impl TrackedBuf {
    pub(super) fn addr(&self) -> u64 {
        self.mem.as_ptr() as u64
    }
}

impl Drop for TrackedBuf {
    fn drop(&mut self) {
        let (id, addr) = (self.id, self.addr());
        with_tracker(|t| t.on_free(id, addr));
    }
}

/// The op the model submits: a read into a tracked buffer. Its SQE carries
/// the op id in `off`, so the simulated kernel can tell ops apart.
pub(super) struct TestOp {
    pub(super) id: u32,
    pub(super) buf: TrackedBuf,
}

impl Op for TestOp {
    const CODE: u8 = opcode::Read::CODE;
    type Output = (u32, io::Result<u32>, TrackedBuf);

    fn sqe(&mut self) -> Entry {
        opcode::Read::new(types::Fd(1000), self.buf.mem.as_mut_ptr(), BUF_LEN)
            .offset(u64::from(self.id))
            .build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::by_file_type(Syscall::Read {
            fd: Fd::Raw(1000),
            buf: self.buf.mem.as_mut_ptr(),
            len: BUF_LEN,
            offset: u64::from(self.id),
            registered: None,
        })
    }

    fn complete(self, completion: Completion) -> Self::Output {
        (self.id, completion.result, self.buf)
    }

    fn complete_abandoned(self, completion: Completion) {
        let res = raw(&completion.result);
        let id = self.id;
        with_tracker(|t| t.finished.borrow_mut().push((id, res)));
        drop(self.buf);
    }
}

/// A result back as the CQE's `res`.
pub(super) fn raw(result: &io::Result<u32>) -> i32 {
    match result {
        Ok(n) => *n as i32,
        Err(e) => -e.raw_os_error().unwrap_or(0),
    }
}

// ---------------------------------------------------------------------------
// Test wakers: count wakes; check docs/reliability.md rule 7 on wake and drop.
// ---------------------------------------------------------------------------

/// One waker identity: how often it was woken.
#[derive(Default)]
pub(super) struct Flag {
    pub(super) wakes: AtomicUsize,
}

pub(super) const VTABLE: RawWakerVTable =
    RawWakerVTable::new(w_clone, w_wake, w_wake_by_ref, w_drop);

pub(super) fn test_waker(flag: &Arc<Flag>) -> Waker {
    let data = Arc::into_raw(flag.clone()).cast::<()>();
    // SAFETY: `data` is an `Arc<Flag>` reference turned into a pointer; the
    // vtable functions below treat it as exactly that (clone adds a
    // reference, wake and drop give one back), and `Flag` is Send + Sync.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

pub(super) fn on_wake(data: *const ()) {
    // SAFETY: `data` came from `Arc::into_raw` (see `test_waker`) and the
    // caller still holds that reference.
    let flag = unsafe { &*data.cast::<Flag>() };
    flag.wakes.fetch_add(1, Ordering::SeqCst);
    with_tracker(|t| t.check_unborrowed("a waker woken"));
}

pub(super) unsafe fn w_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live `Arc<Flag>` pointer (see `test_waker`).
    unsafe { Arc::increment_strong_count(data.cast::<Flag>()) };
    RawWaker::new(data, &VTABLE)
}

pub(super) unsafe fn w_wake(data: *const ()) {
    on_wake(data);
    // SAFETY: wake consumes the waker's reference.
    unsafe { w_drop(data) };
}

pub(super) unsafe fn w_wake_by_ref(data: *const ()) {
    on_wake(data);
}

pub(super) unsafe fn w_drop(data: *const ()) {
    with_tracker(|t| t.check_unborrowed("a waker dropped"));
    // SAFETY: gives back the reference this waker held (see `test_waker`).
    unsafe { drop(Arc::from_raw(data.cast::<Flag>())) };
}

// ---------------------------------------------------------------------------
// Actions and cases.
// ---------------------------------------------------------------------------

/// One step of a case. Indices are taken modulo what exists, so shrinking
/// keeps sequences valid.
#[derive(Clone, Debug)]
pub(super) enum Action {
    /// A new `Submit` future (not polled yet).
    Submit,
    /// Poll future `fut` with its first or its second waker.
    Poll { fut: u8, other_waker: bool },
    /// Drop future `fut`, wherever it is.
    Drop { fut: u8 },
    /// The kernel completes held SQE `pick` (an op, a cancel or the wake-up
    /// read) with an outcome chosen by `res`, maybe as deferred task work.
    Complete { pick: u8, res: u8, deferred: bool },
    /// A duplicate (late) CQE for an op whose CQE was already reaped.
    Duplicate { pick: u8, res: u8 },
    /// A CQE with a `user_data` no op ever had (single or multishot key).
    Unknown { key: u8, multi: bool },
    /// The next `io_uring_enter` fails with `ENTER_ERRNOS[errno]`.
    EnterError { errno: u8 },
    /// The next `io_uring_enter` submits only `n` SQEs.
    PartialSubmit { n: u8 },
    /// `Driver::flush`.
    Flush,
    /// `Driver::park`, with a zero timeout or none.
    Park { timeout: bool },
    /// `Driver::reap`.
    Reap,
    /// Hand out wakes and finished ops, and call them (the runtime's
    /// dispatch).
    TakeReady,
    /// Wake future `fut`'s waker from another thread (also after the future
    /// is gone), dropping a clone there.
    ForeignWake { fut: u8 },
    /// Another thread writes the wake-up eventfd: the read completes.
    EventfdWake,
}

/// How a case ends.
#[derive(Clone, Debug)]
pub(super) enum End {
    /// Settle (liveness: every future resolves), then shut down and drain.
    Settle,
    /// Drop every future, `begin_shutdown`, run `steps`, then either leak
    /// what the kernel still holds or drain it; then drop the driver.
    Shutdown { steps: Vec<Action>, leak: bool },
}

/// One generated case.
#[derive(Clone, Debug)]
pub(super) struct Case {
    /// SQ size.
    pub(super) sq: usize,
    /// CQ size = the driver's in-flight cap.
    pub(super) cq: u32,
    /// Start generations just below `u32::MAX` to cross the wrap.
    pub(super) wrap: bool,
    /// Give the driver a wake-up fd (an armed read in the kernel).
    pub(super) wake_fd: bool,
    pub(super) actions: Vec<Action>,
    pub(super) end: End,
}

pub(super) fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => Just(Action::Submit),
        6 => (any::<u8>(), any::<bool>())
            .prop_map(|(fut, other_waker)| Action::Poll { fut, other_waker }),
        2 => any::<u8>().prop_map(|fut| Action::Drop { fut }),
        6 => (any::<u8>(), any::<u8>(), prop::bool::weighted(0.2))
            .prop_map(|(pick, res, deferred)| Action::Complete { pick, res, deferred }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(pick, res)| Action::Duplicate { pick, res }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(key, multi)| Action::Unknown { key, multi }),
        1 => (0..ENTER_ERRNOS.len() as u8).prop_map(|errno| Action::EnterError { errno }),
        1 => (0u8..3).prop_map(|n| Action::PartialSubmit { n }),
        3 => Just(Action::Flush),
        1 => any::<bool>().prop_map(|timeout| Action::Park { timeout }),
        1 => Just(Action::Reap),
        3 => Just(Action::TakeReady),
        1 => any::<u8>().prop_map(|fut| Action::ForeignWake { fut }),
        1 => Just(Action::EventfdWake),
    ]
}

pub(super) fn case() -> impl Strategy<Value = Case> {
    let end = prop_oneof![
        Just(End::Settle),
        (prop::collection::vec(action(), 0..12), any::<bool>())
            .prop_map(|(steps, leak)| End::Shutdown { steps, leak }),
    ];
    (
        1usize..=4,
        1u32..=6,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(action(), 0..80),
        end,
    )
        .prop_map(|(sq, cq, wrap, wake_fd, actions, end)| Case {
            sq,
            cq,
            wrap,
            wake_fd,
            actions,
            end,
        })
}
