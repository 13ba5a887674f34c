//! The model: what the test expects of the driver, and the steps that
//! play the kernel and check the invariants after each action.

use super::harness::*;
use super::*;
use crate::driver::current::Core;
use crate::driver::lifecycle::WAKE_DATA;
use crate::driver::op::{submit, Submit};
use crate::driver::sim::{Cqe, EnterScript, SimState, Sqe};
use crate::driver::Driver;
use crate::wake::Wakes;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;
// ---------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------

/// What the model knows of one op (index = op id).
#[derive(Default, Debug)]
pub(super) struct OpModel {
    /// Set when its SQE was pushed.
    pub(super) user_data: Option<u64>,
    /// Its first (real) CQE's result, once posted.
    pub(super) first_res: Option<i32>,
    /// Whether the driver reaped that CQE.
    pub(super) reaped: bool,
    /// The future took the completion.
    pub(super) taken: bool,
    /// The future was dropped after the push, before taking the completion.
    pub(super) abandoned: bool,
    /// Whether its CQE had been reaped when it was abandoned.
    pub(super) reaped_at_drop: bool,
    /// Leaked at shutdown.
    pub(super) leaked: bool,
}

/// One live future.
pub(super) struct Fut {
    pub(super) id: u32,
    pub(super) fut: Submit<TestOp>,
    pub(super) flags: [Arc<Flag>; 2],
    pub(super) wakers: [Waker; 2],
    /// The waker of the latest poll.
    pub(super) current: usize,
    /// Wakes of each flag at the latest poll.
    pub(super) seen: [usize; 2],
    pub(super) polled: bool,
}

impl Fut {
    pub(super) fn woken_since_poll(&self) -> bool {
        (0..2).any(|i| self.flags[i].wakes.load(Ordering::SeqCst) > self.seen[i])
    }
}

pub(super) struct World {
    pub(super) ctx: Rc<Core>,
    pub(super) sim: Rc<RefCell<SimState>>,
    pub(super) tracker: Rc<Tracker>,
    pub(super) futs: Vec<Fut>,
    pub(super) ops: Vec<OpModel>,
    pub(super) by_user_data: HashMap<u64, u32>,
    /// `user_data` of ops whose CQE was reaped (for late duplicates).
    pub(super) reaped_history: Vec<u64>,
    /// Wakers of futures that are gone (woken "after the op finished").
    pub(super) old_wakers: Vec<Waker>,
    /// Log cursors into the sim's `pushed` and `drained`.
    pub(super) pushed_seen: usize,
    pub(super) drained_seen: usize,
    /// `ASYNC_CANCEL`s pushed per target.
    pub(super) cancels: HashMap<u64, u32>,
    pub(super) shutting_down: bool,
    pub(super) leaked: u64,
}

impl World {
    pub(super) fn fail(&self, what: String) {
        self.tracker.violation(what);
    }

    pub(super) fn driver(&self) -> std::cell::RefMut<'_, Driver> {
        self.ctx.driver.borrow_mut()
    }

    /// Reads the sim's logs into the model: new pushes, new reaps.
    pub(super) fn sync(&mut self) {
        let sim = self.sim.clone();
        let sim = sim.borrow();
        for sqe in &sim.pushed[self.pushed_seen..] {
            if let Some(target) = sqe.cancel_target() {
                let n = self.cancels.entry(target).or_default();
                *n += 1;
                if !self.shutting_down {
                    let op = self
                        .by_user_data
                        .get(&target)
                        .map(|&id| &self.ops[id as usize]);
                    match op {
                        Some(op) if op.abandoned && !op.reaped_at_drop => {}
                        _ => self.tracker.violation(format!(
                            "docs/reliability.md rule 5: cancel of {target:#x}, which is no abandoned op in flight"
                        )),
                    }
                    if *n > 1 {
                        self.tracker.violation(format!(
                            "docs/reliability.md rule 5: {n} cancels of {target:#x}"
                        ));
                    }
                }
            } else if sqe.user_data != WAKE_DATA {
                let Some((_, off)) = sqe.read() else {
                    self.tracker
                        .violation(format!("sim: a pushed request is no read: {sqe:?}"));
                    continue;
                };
                let id = off as u32;
                let op = &mut self.ops[id as usize];
                if op.user_data.is_some() {
                    self.tracker.violation(format!("op {id}: SQE pushed twice"));
                }
                op.user_data = Some(sqe.user_data);
                if self.by_user_data.insert(sqe.user_data, id).is_some() {
                    self.tracker.violation(format!(
                        "docs/reliability.md rule 4: user_data {:#x} given to a second op ({id})",
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

    pub(super) fn fut_index(&self, fut: u8) -> Option<usize> {
        (!self.futs.is_empty()).then(|| usize::from(fut) % self.futs.len())
    }

    /// Polls future `i` with waker `w`; checks and drops its output.
    pub(super) fn poll(&mut self, i: usize, w: usize) {
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
            self.tracker.violation(format!(
                "docs/reliability.md rule 4: future {} got op {id}'s output",
                f.id
            ));
        }
        match op.first_res {
            Some(res) if op.reaped && res == raw(&result) => {}
            expected => self.tracker.violation(format!(
                "docs/reliability.md rule 4: future {} resolved with {} (its CQE: {expected:?}, reaped: {})",
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
    pub(super) fn drop_fut(&mut self, i: usize) {
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
    pub(super) fn post_real(&mut self, sqe: Sqe, res: i32, deferred: bool) {
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
    pub(super) fn complete(&mut self, pick: u8, res: u8, deferred: bool) {
        let sqe = {
            let mut sim = self.sim.borrow_mut();
            if sim.kernel.is_empty() {
                return;
            }
            let i = usize::from(pick) % sim.kernel.len();
            sim.kernel.remove(i)
        };
        if let Some(cancelled) = sqe.cancel_target() {
            let cancel_res = match res % 3 {
                // Found: the target ends with -ECANCELED first.
                0 => {
                    let target = {
                        let mut sim = self.sim.borrow_mut();
                        let pos = sim
                            .kernel
                            .iter()
                            .position(|s| s.user_data == cancelled && s.cancel_target().is_none());
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

    pub(super) fn post_stale(&mut self, user_data: u64, res: i32) {
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
    pub(super) fn take_ready(&mut self) {
        let mut wakes = Wakes::default();
        let mut finished = Vec::new();
        self.driver().take_ready(&mut wakes, &mut finished);
        // The model polls futures outside any task: the driver never sees a
        // task's own waker here.
        if let Some(t) = wakes.tasks.first() {
            panic!("a task wake-up ({t:#x}) outside any task");
        }
        for w in wakes.wakers {
            w.wake();
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

    pub(super) fn step(&mut self, a: &Action) {
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
    pub(super) fn check(&mut self) {
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
            count(&|o| o.user_data.is_some() && !o.reaped && !o.leaked),
        );
        let cancels_pushed = sim
            .pushed
            .iter()
            .filter(|s| s.cancel_target().is_some())
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
            .filter(|s| s.read().is_some() && s.user_data != WAKE_DATA)
            .count();
        if driver.slots.len() > driver.max_in_flight || held > driver.max_in_flight {
            errors.borrow_mut().push(format!(
                "docs/reliability.md rule 6: {} slots, {held} ops in the kernel, cap {}",
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
                    "docs/reliability.md rule 4: abandoned op {id} finished with {res} (its CQE: {:?})",
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
    pub(super) fn settle(&mut self) {
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
                "docs/reliability.md rule 6: SQEs never submitted after settling: {} queued, {} cancels pending",
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
                self.fail(format!(
                    "docs/reliability.md rule 5: op {id} got {got} cancels, wanted {want}"
                ));
            }
        }
    }

    /// Shutdown as the runtime does it; `leak`: give up on what the kernel
    /// still holds after `steps`.
    pub(super) fn shutdown(&mut self, steps: &[Action], leak: bool) {
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
    pub(super) fn final_check(&self) {
        let freed = self.tracker.freed.borrow();
        for (id, op) in self.ops.iter().enumerate() {
            let n = freed.get(&(id as u32)).copied().unwrap_or(0);
            let want = u32::from(!op.leaked);
            if n != want {
                self.fail(format!(
                    "docs/reliability.md rule 1/2: op {id}'s buffer freed {n} times, wanted {want} ({op:?})"
                ));
            }
        }
        if self.sim.borrow().closed != 1 {
            self.fail(format!("ring closed {} times", self.sim.borrow().closed));
        }
    }
}
