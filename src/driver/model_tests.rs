//! Model-based property test of the driver's op state machine (issue 9;
//! RELIABILITY.md, "model-based fuzz target").
//!
//! The real [`Driver`] runs over the simulated ring (`sim`), and real
//! [`Submit`] futures of a test op ([`TestOp`], whose buffer reports its own
//! drop) are polled and dropped by random action sequences. The test plays
//! the kernel: it picks which held SQE completes and how (success, error,
//! `-ECANCELED` after a cancel, cancel outcomes 0, `-ENOENT`, `-EALREADY`),
//! posts duplicate, late and unknown CQEs, makes `io_uring_enter` fail
//! (`EBUSY`, `EAGAIN`, `ENOMEM`, `EINTR`, `ETIME`, `EBADR`) or submit only
//! part of the queue, keeps the SQ small so it fills, overflows the CQ,
//! defers completions as task work, completes the wake-up read (a wake from
//! another thread), wakes wakers from other threads, and shuts down
//! (`begin_shutdown`, then either drain or `leak_in_kernel`, then `Drop`).
//!
//! A reference model runs alongside, and after every step the test checks
//! (rule numbers from RELIABILITY.md):
//!
//! 1. no op buffer is dropped while the simulated kernel holds an SQE
//!    naming it (rule 1), and no buffer or waker is dropped or woken while
//!    the driver's `RefCell` is borrowed (rule 7);
//! 2. every buffer is dropped exactly once, after its CQE, except the ops
//!    leaked at shutdown, which are exactly `Stats::leaked` (checked at the
//!    end);
//! 3. each future gets its own op's first CQE (its id and result), and an
//!    abandoned op is finished with its own; duplicate, late and unknown
//!    CQEs are counted in `stale_cqes` and delivered to no one (rule 4);
//! 4. ops in the kernel never exceed the cap (rule 6); no future is
//!    stranded: in a final "settle" phase the test completes everything,
//!    polls only futures that were woken (as an executor does), and every
//!    future must resolve; after each hand-out of wakes, a future whose CQE
//!    was reaped has been woken through the waker of its latest poll;
//! 5. a future dropped in flight gets exactly one `ASYNC_CANCEL`, pushed
//!    eventually even when the SQ was full; no live op is ever cancelled
//!    before shutdown; late successes are `late_completions`;
//! 6. enter errors lose no SQE: after settling, the SQ is empty and every
//!    pushed SQE was submitted (the kernel completed it);
//! 7. `Stats` agree with the model: `ops_submitted`, `ops_completed`,
//!    `ops_in_flight`, `cqes`, `stale_cqes`, `ops_cancelled`,
//!    `late_completions`, `enter_calls`, `enter_busy`, `cq_dropped`,
//!    `leaked`; the wake-up read is armed at most once; the ring is closed
//!    exactly once.
//!
//! A failure prints proptest's shrunk (minimal) case, which can be pasted
//! into [`replay`] as a regression. `CURING_MODEL_CASES` sets the number of
//! cases (default [`DEFAULT_CASES`]), `CURING_MODEL_SEED` fixes the seed;
//! `ci/stress.sh` runs many more.
//!
//! The test needs a real runtime only for `runtime::current()` (which
//! `Submit` uses): inside `block_on`, the runtime's driver is swapped for a
//! simulated one, and swapped back before the case ends. Where io_uring is
//! unavailable the test says so and skips.

use super::lifecycle::WAKE_DATA;
use super::op::{submit, Completion, Op, Submit};
use super::sim::{Cqe, EnterScript, SimRing, SimState, Sqe};
use super::Driver;
use crate::executor::Wakeup;
use crate::runtime::{self, Context};
use io_uring::squeue::Entry;
use io_uring::{opcode, types};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

/// Cases per run by default: about 5 s in a debug build on 2 cores.
const DEFAULT_CASES: u32 = 1000;

/// Bytes in a test op's buffer.
const BUF_LEN: u32 = 16;

/// Errors a completed op may report (never `EFAULT`: that would mean a
/// freed buffer, which `Stats::efault_cqes` counts).
const OP_ERRNOS: [i32; 4] = [libc::ECANCELED, libc::EIO, libc::ECONNRESET, libc::EAGAIN];

/// Errors a scripted `io_uring_enter` may fail with.
const ENTER_ERRNOS: [i32; 6] = [
    libc::EBUSY,
    libc::EAGAIN,
    libc::ENOMEM,
    libc::EINTR,
    libc::ETIME,
    libc::EBADR,
];

// ---------------------------------------------------------------------------
// The tracker: what buffers and wakers report, checked as it happens.
// ---------------------------------------------------------------------------

/// Shared by the test op's buffers and the test wakers of one case.
struct Tracker {
    /// The runtime whose driver is the simulated one (for rule 7 checks).
    ctx: Rc<Context>,
    /// The simulated kernel (for rule 1 checks).
    sim: Rc<RefCell<SimState>>,
    /// Times each op's buffer was dropped.
    freed: RefCell<HashMap<u32, u32>>,
    /// `(op id, result)` of each abandoned op the driver finished.
    finished: RefCell<Vec<(u32, i32)>>,
    /// What went wrong, in order.
    violations: RefCell<Vec<String>>,
}

thread_local! {
    /// The tracker of the case running on this thread.
    static TRACKER: RefCell<Option<Rc<Tracker>>> = const { RefCell::new(None) };
    /// What the passing cases exercised, summed (printed at the end, to
    /// show the generator reaches the interesting states).
    static COVERAGE: RefCell<Coverage> = RefCell::default();
}

/// Sums over the passing cases of a run.
#[derive(Debug, Default)]
struct Coverage {
    cases: u64,
    /// The driver's counters, summed.
    ops_submitted: u64,
    ops_completed: u64,
    ops_cancelled: u64,
    late_completions: u64,
    stale_cqes: u64,
    sq_full: u64,
    backpressure: u64,
    enter_busy: u64,
    cq_overflows: u64,
    leaked: u64,
    /// Futures dropped after their CQE was reaped, before taking it.
    dropped_completed: u64,
    /// Futures dropped before their first poll.
    dropped_unpolled: u64,
    /// Cases whose generations crossed `u32::MAX`.
    wrapped: u64,
}

fn with_tracker(f: impl FnOnce(&Tracker)) {
    let tracker = TRACKER.try_with(|t| t.borrow().clone()).ok().flatten();
    if let Some(t) = tracker {
        f(&t);
    }
}

impl Tracker {
    fn violation(&self, what: String) {
        self.violations.borrow_mut().push(what);
    }

    /// Rule 7: `what` must not happen while the driver is borrowed.
    fn check_unborrowed(&self, what: &str) {
        if self.ctx.driver.try_borrow_mut().is_err() {
            self.violation(format!("rule 7: {what} while the driver is borrowed"));
        }
    }

    /// A test op's buffer at `addr` is being dropped.
    fn on_free(&self, id: u32, addr: u64) {
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
        let held = |s: &Sqe| s.user_data != WAKE_DATA && s.opcode == opcode::Read::CODE;
        if sim
            .sq
            .iter()
            .chain(&sim.kernel)
            .any(|s| held(s) && s.addr == addr)
        {
            self.violation(format!(
                "rule 1: op {id}'s buffer dropped while the kernel holds its SQE"
            ));
        }
    }
}

/// A test op's buffer: heap memory at a stable address, which reports its
/// drop to the tracker.
struct TrackedBuf {
    id: u32,
    mem: Box<[u8; BUF_LEN as usize]>,
}

impl TrackedBuf {
    fn addr(&self) -> u64 {
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
struct TestOp {
    id: u32,
    buf: TrackedBuf,
}

impl Op for TestOp {
    const CODE: u8 = opcode::Read::CODE;
    type Output = (u32, io::Result<u32>, TrackedBuf);

    fn sqe(&mut self) -> Entry {
        opcode::Read::new(types::Fd(1000), self.buf.mem.as_mut_ptr(), BUF_LEN)
            .offset(u64::from(self.id))
            .build()
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
fn raw(result: &io::Result<u32>) -> i32 {
    match result {
        Ok(n) => *n as i32,
        Err(e) => -e.raw_os_error().unwrap_or(0),
    }
}

// ---------------------------------------------------------------------------
// Test wakers: count wakes; check rule 7 on wake and drop.
// ---------------------------------------------------------------------------

/// One waker identity: how often it was woken.
#[derive(Default)]
struct Flag {
    wakes: AtomicUsize,
}

const VTABLE: RawWakerVTable = RawWakerVTable::new(w_clone, w_wake, w_wake_by_ref, w_drop);

fn test_waker(flag: &Arc<Flag>) -> Waker {
    let data = Arc::into_raw(flag.clone()).cast::<()>();
    // SAFETY: `data` is an `Arc<Flag>` reference turned into a pointer; the
    // vtable functions below treat it as exactly that (clone adds a
    // reference, wake and drop give one back), and `Flag` is Send + Sync.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

fn on_wake(data: *const ()) {
    // SAFETY: `data` came from `Arc::into_raw` (see `test_waker`) and the
    // caller still holds that reference.
    let flag = unsafe { &*data.cast::<Flag>() };
    flag.wakes.fetch_add(1, Ordering::SeqCst);
    with_tracker(|t| t.check_unborrowed("a waker woken"));
}

unsafe fn w_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live `Arc<Flag>` pointer (see `test_waker`).
    unsafe { Arc::increment_strong_count(data.cast::<Flag>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn w_wake(data: *const ()) {
    on_wake(data);
    // SAFETY: wake consumes the waker's reference.
    unsafe { w_drop(data) };
}

unsafe fn w_wake_by_ref(data: *const ()) {
    on_wake(data);
}

unsafe fn w_drop(data: *const ()) {
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
enum Action {
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
enum End {
    /// Settle (liveness: every future resolves), then shut down and drain.
    Settle,
    /// Drop every future, `begin_shutdown`, run `steps`, then either leak
    /// what the kernel still holds or drain it; then drop the driver.
    Shutdown { steps: Vec<Action>, leak: bool },
}

/// One generated case.
#[derive(Clone, Debug)]
struct Case {
    /// SQ size.
    sq: usize,
    /// CQ size = the driver's in-flight cap.
    cq: u32,
    /// Start generations just below `u32::MAX` to cross the wrap.
    wrap: bool,
    /// Give the driver a wake-up fd (an armed read in the kernel).
    wake_fd: bool,
    actions: Vec<Action>,
    end: End,
}

fn action() -> impl Strategy<Value = Action> {
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

fn case() -> impl Strategy<Value = Case> {
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

// ---------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------

/// What the model knows of one op (index = op id).
#[derive(Default, Debug)]
struct OpModel {
    /// Set when its SQE was pushed.
    user_data: Option<u64>,
    /// Its first (real) CQE's result, once posted.
    first_res: Option<i32>,
    /// Whether the driver reaped that CQE.
    reaped: bool,
    /// The future took the completion.
    taken: bool,
    /// The future was dropped after the push, before taking the completion.
    abandoned: bool,
    /// Whether its CQE had been reaped when it was abandoned.
    reaped_at_drop: bool,
    /// Leaked at shutdown.
    leaked: bool,
}

/// One live future.
struct Fut {
    id: u32,
    fut: Submit<TestOp>,
    flags: [Arc<Flag>; 2],
    wakers: [Waker; 2],
    /// The waker of the latest poll.
    current: usize,
    /// Wakes of each flag at the latest poll.
    seen: [usize; 2],
    polled: bool,
}

impl Fut {
    fn woken_since_poll(&self) -> bool {
        (0..2).any(|i| self.flags[i].wakes.load(Ordering::SeqCst) > self.seen[i])
    }
}

struct World {
    ctx: Rc<Context>,
    sim: Rc<RefCell<SimState>>,
    tracker: Rc<Tracker>,
    futs: Vec<Fut>,
    ops: Vec<OpModel>,
    by_user_data: HashMap<u64, u32>,
    /// `user_data` of ops whose CQE was reaped (for late duplicates).
    reaped_history: Vec<u64>,
    /// Wakers of futures that are gone (woken "after the op finished").
    old_wakers: Vec<Waker>,
    /// Log cursors into the sim's `pushed` and `drained`.
    pushed_seen: usize,
    drained_seen: usize,
    /// `ASYNC_CANCEL`s pushed per target.
    cancels: HashMap<u64, u32>,
    shutting_down: bool,
    leaked: u64,
}

impl World {
    fn fail(&self, what: String) {
        self.tracker.violation(what);
    }

    fn driver(&self) -> std::cell::RefMut<'_, Driver> {
        self.ctx.driver.borrow_mut()
    }

    /// Reads the sim's logs into the model: new pushes, new reaps.
    fn sync(&mut self) {
        let sim = self.sim.clone();
        let sim = sim.borrow();
        for sqe in &sim.pushed[self.pushed_seen..] {
            if sqe.opcode == opcode::AsyncCancel::CODE {
                let n = self.cancels.entry(sqe.addr).or_default();
                *n += 1;
                if !self.shutting_down {
                    let op = self
                        .by_user_data
                        .get(&sqe.addr)
                        .map(|&id| &self.ops[id as usize]);
                    match op {
                        Some(op) if op.abandoned && !op.reaped_at_drop => {}
                        _ => self.tracker.violation(format!(
                            "rule 5: cancel of {:#x}, which is no abandoned op in flight",
                            sqe.addr
                        )),
                    }
                    if *n > 1 {
                        self.tracker
                            .violation(format!("rule 5: {n} cancels of {:#x}", sqe.addr));
                    }
                }
            } else if sqe.user_data != WAKE_DATA {
                let id = sqe.off as u32;
                let op = &mut self.ops[id as usize];
                if op.user_data.is_some() {
                    self.tracker.violation(format!("op {id}: SQE pushed twice"));
                }
                op.user_data = Some(sqe.user_data);
                if self.by_user_data.insert(sqe.user_data, id).is_some() {
                    self.tracker.violation(format!(
                        "rule 4: user_data {:#x} given to a second op ({id})",
                        sqe.user_data
                    ));
                }
            }
        }
        self.pushed_seen = sim.pushed.len();
        for cqe in &sim.drained[self.drained_seen..] {
            if cqe.stale {
                continue;
            }
            if let Some(&id) = self.by_user_data.get(&cqe.user_data) {
                self.ops[id as usize].reaped = true;
                self.reaped_history.push(cqe.user_data);
            }
        }
        self.drained_seen = sim.drained.len();
    }

    fn fut_index(&self, fut: u8) -> Option<usize> {
        (!self.futs.is_empty()).then(|| usize::from(fut) % self.futs.len())
    }

    /// Polls future `i` with waker `w`; checks and drops its output.
    fn poll(&mut self, i: usize, w: usize) {
        let f = &mut self.futs[i];
        f.current = w;
        f.seen = [0, 1].map(|k| f.flags[k].wakes.load(Ordering::SeqCst));
        f.polled = true;
        let mut cx = TaskCx::from_waker(&f.wakers[w]);
        let Poll::Ready((id, result, buf)) = Pin::new(&mut f.fut).poll(&mut cx) else {
            self.sync();
            return;
        };
        let f = self.futs.swap_remove(i);
        self.sync();
        let op = &mut self.ops[f.id as usize];
        if id != f.id || buf.id != f.id {
            self.tracker
                .violation(format!("rule 4: future {} got op {id}'s output", f.id));
        }
        match op.first_res {
            Some(res) if op.reaped && res == raw(&result) => {}
            expected => self.tracker.violation(format!(
                "rule 4: future {} resolved with {} (its CQE: {expected:?}, reaped: {})",
                f.id,
                raw(&result),
                op.reaped
            )),
        }
        if op.taken {
            self.tracker
                .violation(format!("future {} resolved twice", f.id));
        }
        op.taken = true;
        drop(buf);
        self.old_wakers.extend(f.wakers.iter().cloned());
        drop(f);
    }

    /// Drops future `i`, recording where its op was.
    fn drop_fut(&mut self, i: usize) {
        let f = self.futs.swap_remove(i);
        self.sync();
        let op = &mut self.ops[f.id as usize];
        if op.user_data.is_some() {
            op.abandoned = true;
            op.reaped_at_drop = op.reaped;
        }
        self.old_wakers.extend(f.wakers.iter().cloned());
        drop(f);
        self.sync();
    }

    /// The real CQE of held SQE `sqe`, as the model records it.
    fn post_real(&mut self, sqe: Sqe, res: i32, deferred: bool) {
        if let Some(&id) = self.by_user_data.get(&sqe.user_data) {
            let op = &mut self.ops[id as usize];
            if op.first_res.is_some() {
                self.tracker
                    .violation(format!("sim: op {id} completed twice"));
            }
            op.first_res = Some(res);
        }
        let cqe = Cqe {
            user_data: sqe.user_data,
            res,
            flags: 0,
            stale: false,
        };
        self.sim.borrow_mut().post(cqe, deferred);
    }

    /// The kernel completes held SQE `pick`.
    fn complete(&mut self, pick: u8, res: u8, deferred: bool) {
        let sqe = {
            let mut sim = self.sim.borrow_mut();
            if sim.kernel.is_empty() {
                return;
            }
            let i = usize::from(pick) % sim.kernel.len();
            sim.kernel.remove(i)
        };
        if sqe.opcode == opcode::AsyncCancel::CODE {
            let cancel_res = match res % 3 {
                // Found: the target ends with -ECANCELED first.
                0 => {
                    let target = {
                        let mut sim = self.sim.borrow_mut();
                        let pos = sim.kernel.iter().position(|s| {
                            s.user_data == sqe.addr && s.opcode != opcode::AsyncCancel::CODE
                        });
                        pos.map(|p| sim.kernel.remove(p))
                    };
                    match target {
                        Some(t) => {
                            self.post_real(t, -libc::ECANCELED, deferred);
                            0
                        }
                        None => -libc::ENOENT,
                    }
                }
                1 => -libc::ENOENT,
                _ => -libc::EALREADY,
            };
            self.post_real(sqe, cancel_res, deferred);
        } else if sqe.user_data == WAKE_DATA {
            self.post_real(sqe, 8, deferred);
        } else {
            let r = if res % 4 == 0 {
                -OP_ERRNOS[usize::from(res / 4) % OP_ERRNOS.len()]
            } else {
                i32::from(res % (BUF_LEN as u8 + 1))
            };
            self.post_real(sqe, r, deferred);
        }
    }

    fn post_stale(&mut self, user_data: u64, res: i32) {
        let cqe = Cqe {
            user_data,
            res,
            flags: 0,
            stale: true,
        };
        self.sim.borrow_mut().post(cqe, false);
    }

    /// The runtime's dispatch: take the wakes and finished ops, then call
    /// and finish them with the driver not borrowed.
    fn take_ready(&mut self) {
        let mut wakes = Vec::new();
        let mut finished = Vec::new();
        self.driver().take_ready(&mut wakes, &mut finished);
        for w in wakes {
            match w {
                Wakeup::Waker(w) => w.wake(),
                // The model polls futures outside any task: the driver never
                // sees a task's own waker here.
                Wakeup::Task(t) => panic!("a task wake-up ({t:#x}) outside any task"),
            }
        }
        for (op, completion) in finished {
            op.finish(completion);
        }
        self.sync();
        // Rule 4 / no lost wake-up: a future whose CQE was reaped has been
        // woken through the waker of its latest poll.
        for f in &self.futs {
            let op = &self.ops[f.id as usize];
            let woken = f.flags[f.current].wakes.load(Ordering::SeqCst) > f.seen[f.current];
            if op.reaped && !op.taken && f.polled && !woken {
                self.fail(format!(
                    "lost wake-up: op {}'s CQE was reaped, its future's waker not woken",
                    f.id
                ));
            }
        }
    }

    fn step(&mut self, a: &Action) {
        match *a {
            Action::Submit if !self.shutting_down => {
                let id = self.ops.len() as u32;
                self.ops.push(OpModel::default());
                let buf = TrackedBuf {
                    id,
                    mem: Box::new([0; BUF_LEN as usize]),
                };
                let flags = [Arc::new(Flag::default()), Arc::new(Flag::default())];
                let wakers = [test_waker(&flags[0]), test_waker(&flags[1])];
                self.futs.push(Fut {
                    id,
                    fut: submit(TestOp { id, buf }),
                    flags,
                    wakers,
                    current: 0,
                    seen: [0, 0],
                    polled: false,
                });
            }
            Action::Submit => {}
            Action::Poll { fut, other_waker } => {
                if let Some(i) = self.fut_index(fut) {
                    self.poll(i, usize::from(other_waker));
                }
            }
            Action::Drop { fut } => {
                if let Some(i) = self.fut_index(fut) {
                    self.drop_fut(i);
                }
            }
            Action::Complete {
                pick,
                res,
                deferred,
            } => self.complete(pick, res, deferred),
            Action::Duplicate { pick, res } => {
                if !self.reaped_history.is_empty() {
                    let i = usize::from(pick) % self.reaped_history.len();
                    let ud = self.reaped_history[i];
                    self.post_stale(ud, i32::from(res));
                }
            }
            Action::Unknown { key, multi } => {
                // Generations in this range are never handed out in a case.
                let key = u64::from(key % 16) | if multi { 1 << 30 } else { 0 };
                let generation = 0x4000_0000u64 + u64::from(key as u8);
                self.post_stale((generation << 32) | key, 3);
            }
            Action::EnterError { errno } => {
                let errno = ENTER_ERRNOS[usize::from(errno) % ENTER_ERRNOS.len()];
                self.sim
                    .borrow_mut()
                    .script
                    .push_back(EnterScript::Fail(errno));
            }
            Action::PartialSubmit { n } => {
                self.sim
                    .borrow_mut()
                    .script
                    .push_back(EnterScript::Partial(usize::from(n)));
            }
            Action::Flush => self.driver().flush(),
            Action::Park { timeout } => self.driver().park(timeout.then_some(Duration::ZERO)),
            Action::Reap => self.driver().reap(),
            Action::TakeReady => {
                self.sync();
                self.take_ready();
            }
            Action::ForeignWake { fut } => {
                let waker = match self.fut_index(fut) {
                    Some(i) if fut % 3 != 0 || self.old_wakers.is_empty() => {
                        let f = &self.futs[i];
                        f.wakers[f.current].clone()
                    }
                    _ if !self.old_wakers.is_empty() => {
                        self.old_wakers[usize::from(fut) % self.old_wakers.len()].clone()
                    }
                    _ => return,
                };
                let clone = waker.clone();
                std::thread::spawn(move || {
                    clone.wake_by_ref();
                    drop(clone);
                    waker.wake();
                })
                .join()
                .expect("foreign wake thread");
            }
            Action::EventfdWake => {
                let pos = self
                    .sim
                    .borrow()
                    .kernel
                    .iter()
                    .position(|s| s.user_data == WAKE_DATA);
                if let Some(p) = pos {
                    let sqe = self.sim.borrow_mut().kernel.remove(p);
                    self.post_real(sqe, 8, false);
                }
            }
        }
        self.sync();
    }

    /// Invariants that hold between any two steps.
    fn check(&mut self) {
        self.sync();
        let driver = self.ctx.driver.borrow();
        let sim = self.sim.borrow();
        let stats = driver.stats();
        let errors = RefCell::new(Vec::new());
        let expect = |what: &str, got: u64, want: u64| {
            if got != want {
                errors
                    .borrow_mut()
                    .push(format!("stats: {what} is {got}, the model says {want}"));
            }
        };
        let count = |f: &dyn Fn(&OpModel) -> bool| self.ops.iter().filter(|o| f(o)).count() as u64;
        expect(
            "ops_submitted",
            stats.ops_submitted,
            count(&|o| o.user_data.is_some()),
        );
        expect(
            "ops_completed",
            stats.ops_completed,
            count(&|o| o.reaped && (o.taken || o.abandoned)),
        );
        expect(
            "late_completions",
            stats.late_completions,
            count(&|o| o.abandoned && o.reaped && o.first_res.is_some_and(|r| r >= 0)),
        );
        expect("cqes", stats.cqes, sim.drained.len() as u64);
        expect(
            "stale_cqes",
            stats.stale_cqes,
            sim.drained.iter().filter(|c| c.stale).count() as u64,
        );
        let wakes_pushed = sim
            .pushed
            .iter()
            .filter(|s| s.user_data == WAKE_DATA)
            .count();
        let wakes_reaped = sim
            .drained
            .iter()
            .filter(|c| c.user_data == WAKE_DATA)
            .count();
        if wakes_pushed > wakes_reaped + 1 {
            errors.borrow_mut().push(format!(
                "wake-up read armed twice ({wakes_pushed} pushed, {wakes_reaped} reaped)"
            ));
        }
        expect(
            "ops_in_flight",
            stats.ops_in_flight as u64,
            count(&|o| o.user_data.is_some() && !o.reaped && !o.leaked)
                + (wakes_pushed - wakes_reaped.min(wakes_pushed)) as u64,
        );
        let cancels_pushed = sim
            .pushed
            .iter()
            .filter(|s| s.opcode == opcode::AsyncCancel::CODE)
            .count();
        expect(
            "ops_cancelled",
            stats.ops_cancelled,
            (cancels_pushed + driver.pending_cancels.len()) as u64,
        );
        expect("enter_calls", stats.enter_calls, sim.enters);
        let errs = |set: &[i32]| sim.enter_errors.iter().filter(|e| set.contains(e)).count() as u64;
        expect(
            "enter_busy",
            stats.enter_busy,
            errs(&[libc::EBUSY, libc::EAGAIN, libc::ENOMEM]),
        );
        expect("cq_dropped", stats.cq_dropped, errs(&[libc::EBADR]));
        expect("leaked", stats.leaked, self.leaked);
        expect("efault_cqes", stats.efault_cqes, 0);
        if stats.sq_full > sim.push_refused {
            errors.borrow_mut().push(format!(
                "stats: sq_full {} but the SQ refused {} pushes",
                stats.sq_full, sim.push_refused
            ));
        }
        // Rule 6: the cap on ops in the kernel.
        let held = sim
            .sq
            .iter()
            .chain(&sim.kernel)
            .filter(|s| s.opcode == opcode::Read::CODE && s.user_data != WAKE_DATA)
            .count();
        if driver.slots.len() > driver.max_in_flight || held > driver.max_in_flight {
            errors.borrow_mut().push(format!(
                "rule 6: {} slots, {held} ops in the kernel, cap {}",
                driver.slots.len(),
                driver.max_in_flight
            ));
        }
        // Rule 3: an abandoned op is finished with its own CQE, once.
        let mut seen = HashMap::new();
        for &(id, res) in self.tracker.finished.borrow().iter() {
            let op = &self.ops[id as usize];
            if !op.abandoned || op.first_res != Some(res) || seen.insert(id, ()).is_some() {
                errors.borrow_mut().push(format!(
                    "rule 4: abandoned op {id} finished with {res} (its CQE: {:?})",
                    op.first_res
                ));
            }
        }
        drop(sim);
        drop(driver);
        for e in errors.into_inner() {
            self.fail(e);
        }
    }

    /// Liveness: the kernel completes everything, an executor polls woken
    /// futures; every future must resolve, every cancel be pushed once.
    fn settle(&mut self) {
        for _round in 0..256 {
            let idle = {
                let sim = self.sim.borrow();
                let driver = self.ctx.driver.borrow();
                sim.kernel.is_empty()
                    && sim.sq.is_empty()
                    && sim.cq.is_empty()
                    && sim.overflow.is_empty()
                    && sim.deferred.is_empty()
                    && !driver.has_pending_wakes()
                    && driver.pending_cancels.is_empty()
            };
            if self.futs.is_empty() && idle {
                break;
            }
            let mut i = 0;
            while i < self.futs.len() {
                let before = self.futs.len();
                if !self.futs[i].polled || self.futs[i].woken_since_poll() {
                    let w = self.futs[i].current;
                    self.poll(i, w);
                }
                if self.futs.len() == before {
                    i += 1;
                }
            }
            while !self.sim.borrow().kernel.is_empty() {
                // Successes, and cancels that find their target.
                self.complete(0, 3, false);
            }
            self.driver().flush();
            self.take_ready();
            self.check();
        }
        for f in &self.futs {
            self.fail(format!(
                "stranded: future {} never resolved (polled: {}, op pushed: {})",
                f.id,
                f.polled,
                self.ops[f.id as usize].user_data.is_some()
            ));
        }
        let sim = self.sim.borrow();
        if !sim.sq.is_empty() || !self.ctx.driver.borrow().pending_cancels.is_empty() {
            self.fail(format!(
                "rule 6: SQEs never submitted after settling: {} queued, {} cancels pending",
                sim.sq.len(),
                self.ctx.driver.borrow().pending_cancels.len()
            ));
        }
        drop(sim);
        for (id, op) in self.ops.iter().enumerate() {
            let Some(ud) = op.user_data else { continue };
            let want = u32::from(op.abandoned && !op.reaped_at_drop);
            let got = self.cancels.get(&ud).copied().unwrap_or(0);
            if got != want {
                self.fail(format!("rule 5: op {id} got {got} cancels, wanted {want}"));
            }
        }
    }

    /// Shutdown as the runtime does it; `leak`: give up on what the kernel
    /// still holds after `steps`.
    fn shutdown(&mut self, steps: &[Action], leak: bool) {
        while !self.futs.is_empty() {
            self.drop_fut(self.futs.len() - 1);
        }
        self.check();
        self.shutting_down = true;
        self.driver().begin_shutdown();
        self.sync();
        self.check();
        for a in steps {
            self.step(a);
            self.check();
        }
        if leak {
            for op in &mut self.ops {
                if op.abandoned && !op.reaped {
                    op.leaked = true;
                    self.leaked += 1;
                }
            }
            self.driver().leak_in_kernel();
        } else {
            for _round in 0..64 {
                if self.driver().in_kernel() == 0 {
                    break;
                }
                while !self.sim.borrow().kernel.is_empty() {
                    self.complete(0, 3, false);
                }
                self.driver().park(Some(Duration::ZERO));
                self.take_ready();
                self.check();
            }
            if self.driver().in_kernel() != 0 {
                self.fail("shutdown: the driver never drained".into());
            }
        }
        self.sync();
        self.check();
    }

    /// After the driver is dropped: every buffer freed exactly once, except
    /// the leaked ones, never.
    fn final_check(&self) {
        let freed = self.tracker.freed.borrow();
        for (id, op) in self.ops.iter().enumerate() {
            let n = freed.get(&(id as u32)).copied().unwrap_or(0);
            let want = u32::from(!op.leaked);
            if n != want {
                self.fail(format!(
                    "rule 1/2: op {id}'s buffer freed {n} times, wanted {want} ({op:?})"
                ));
            }
        }
        if self.sim.borrow().closed != 1 {
            self.fail(format!("ring closed {} times", self.sim.borrow().closed));
        }
    }
}

/// Runs one case on a fresh runtime whose driver is swapped for a
/// simulated one. `Err` lists what went wrong.
fn run_case(case: &Case) -> Result<(), String> {
    let rt = match crate::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("SKIPPED: the model test needs a runtime for `runtime::current()`: {e}");
            return Ok(());
        }
    };
    rt.block_on(async { run_in_runtime(case) })
}

fn run_in_runtime(case: &Case) -> Result<(), String> {
    let ctx = runtime::current();
    let sim = Rc::new(RefCell::new(SimState::new(case.sq, case.cq as usize)));
    let first_generation = if case.wrap { u32::MAX - 2 } else { 1 };
    let wake_fd = if case.wake_fd { 1000 } else { -1 };
    let driver = Driver::with_sim(
        SimRing::new(sim.clone(), case.cq),
        first_generation,
        wake_fd,
    );
    let real = ctx.driver.replace(driver);
    let tracker = Rc::new(Tracker {
        ctx: ctx.clone(),
        sim: sim.clone(),
        freed: RefCell::default(),
        finished: RefCell::default(),
        violations: RefCell::default(),
    });
    TRACKER.with(|t| *t.borrow_mut() = Some(tracker.clone()));
    let mut world = World {
        ctx: ctx.clone(),
        sim,
        tracker: tracker.clone(),
        futs: Vec::new(),
        ops: Vec::new(),
        by_user_data: HashMap::new(),
        reaped_history: Vec::new(),
        old_wakers: Vec::new(),
        pushed_seen: 0,
        drained_seen: 0,
        cancels: HashMap::new(),
        shutting_down: false,
        leaked: 0,
    };
    let mut trace = String::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for (n, a) in case.actions.iter().enumerate() {
            world.step(a);
            world.check();
            if !tracker.violations.borrow().is_empty() {
                let _ = write!(trace, "after action {n} ({a:?})");
                return;
            }
        }
        match &case.end {
            End::Settle => {
                world.settle();
                world.shutdown(&[], false);
            }
            End::Shutdown { steps, leak } => world.shutdown(steps, *leak),
        }
    }));
    let sim_driver = ctx.driver.replace(real);
    let result = match outcome {
        Ok(()) if tracker.violations.borrow().is_empty() => {
            let stats = sim_driver.stats();
            let wrapped = sim_driver.next_generation < first_generation;
            COVERAGE.with(|c| {
                let mut c = c.borrow_mut();
                c.cases += 1;
                c.ops_submitted += stats.ops_submitted;
                c.ops_completed += stats.ops_completed;
                c.ops_cancelled += stats.ops_cancelled;
                c.late_completions += stats.late_completions;
                c.stale_cqes += stats.stale_cqes;
                c.sq_full += stats.sq_full;
                c.backpressure += stats.backpressure;
                c.enter_busy += stats.enter_busy;
                c.cq_overflows += stats.cq_overflows;
                c.leaked += stats.leaked;
                c.wrapped += u64::from(wrapped);
                for op in &world.ops {
                    c.dropped_completed += u64::from(op.abandoned && op.reaped_at_drop);
                    c.dropped_unpolled += u64::from(op.user_data.is_none() && !op.taken);
                }
            });
            drop(sim_driver);
            world.final_check();
            Ok(())
        }
        Ok(()) => Ok(()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            tracker.violation(format!("panic: {msg}"));
            Ok(())
        }
    };
    let violations = std::mem::take(&mut *tracker.violations.borrow_mut());
    TRACKER.with(|t| *t.borrow_mut() = None);
    if violations.is_empty() {
        // Drop the world only now: its futures are all gone, its wakers and
        // the sim hold no borrow.
        drop(world);
        return result;
    }
    // After a failure, keep every object alive: dropping futures of a
    // confused driver could panic again.
    std::mem::forget(world);
    Err(format!("{} {trace}", violations.join("; ")))
}

fn cases() -> u32 {
    std::env::var("CURING_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

#[test]
fn driver_op_state_machine_matches_the_model() {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = match std::env::var("CURING_MODEL_SEED") {
        Ok(seed) => {
            let seed: u64 = seed.parse().expect("CURING_MODEL_SEED is a u64");
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&seed.to_le_bytes());
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
        }
        Err(_) => TestRunner::new(config),
    };
    let result = runner.run(&case(), |case| run_case(&case).map_err(TestCaseError::fail));
    if let Err(e) = result {
        panic!("the driver disagrees with the model.\n{e}");
    }
    COVERAGE.with(|c| eprintln!("model test coverage: {:?}", c.borrow()));
}

/// A case for the regressions below (no wrap, no wake-up fd).
fn regression(sq: usize, cq: u32, actions: Vec<Action>, end: End) -> Case {
    Case {
        sq,
        cq,
        wrap: false,
        wake_fd: false,
        actions,
        end,
    }
}

/// The shrunk cases proptest printed for deliberately broken drivers (one
/// bug each, named in the comment; see the module docs), replayed on the
/// real one. Each fails if its bug comes back.
#[test]
fn replay() {
    use Action::*;
    let poll = |fut| Poll {
        fut,
        other_waker: false,
    };
    let complete = |res| Complete {
        pick: 0,
        res,
        deferred: false,
    };
    let settle = || End::Settle;
    let cases = [
        // An abandoned op freed when its cancel is pushed, not at its CQE.
        regression(1, 1, vec![Submit, poll(0), Drop { fut: 0 }], settle()),
        // Slot waiters never woken when a slot frees.
        regression(1, 1, vec![Submit, Submit, Submit], settle()),
        // A CQE matched by slab key only, ignoring the generation.
        regression(
            1,
            1,
            vec![
                Submit,
                poll(0),
                Flush,
                complete(0),
                Flush,
                Duplicate { pick: 0, res: 0 },
                poll(0),
                Submit,
                Submit,
            ],
            settle(),
        ),
        // A cancel that found the SQ full dropped instead of kept.
        regression(
            1,
            1,
            vec![Submit, poll(0), EnterError { errno: 0 }],
            End::Shutdown {
                steps: vec![],
                leak: false,
            },
        ),
        regression(
            3,
            3,
            vec![
                Submit,
                Submit,
                Submit,
                Submit,
                poll(222),
                Submit,
                Drop { fut: 23 },
                Flush,
                Drop { fut: 14 },
                poll(26),
                EnterError { errno: 0 },
                poll(133),
                Drop { fut: 1 },
            ],
            settle(),
        ),
        // The in-flight cap off by one.
        regression(1, 1, vec![Submit, Submit, Submit, Submit], settle()),
        // Waiting ops failed on an enter error although the kernel has them
        // (tokio#8255).
        regression(
            1,
            1,
            vec![Submit, Submit, EnterError { errno: 0 }],
            settle(),
        ),
        // `leak_in_kernel` freeing instead of leaking.
        regression(
            1,
            1,
            vec![Submit, poll(0)],
            End::Shutdown {
                steps: vec![],
                leak: true,
            },
        ),
        // A poll with a new waker that keeps the old one in the slot.
        regression(
            1,
            1,
            vec![
                Submit,
                Submit,
                poll(103),
                Flush,
                Submit,
                Submit,
                Poll {
                    fut: 41,
                    other_waker: true,
                },
                Submit,
                complete(0),
                Flush,
                TakeReady,
            ],
            settle(),
        ),
        // A push that finds the SQ full with no op in flight, queued as a
        // slot waiter (nothing will ever wake it).
        regression(
            1,
            2,
            vec![
                PartialSubmit { n: 1 },
                EnterError { errno: 0 },
                EnterError { errno: 0 },
                Submit,
                poll(0),
                Flush,
                complete(0),
                Drop { fut: 0 },
                Flush,
                Submit,
            ],
            settle(),
        ),
        // A drop after the CQE was reaped, before it was taken.
        regression(
            1,
            1,
            vec![Submit, poll(0), Flush, complete(1), Reap, Drop { fut: 0 }],
            settle(),
        ),
    ];
    for case in &cases {
        if let Err(e) = run_case(case) {
            panic!("{e}\n{case:?}");
        }
    }
}
