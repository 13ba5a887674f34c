//! The driver: owns the ring, the table of in-flight ops, and nothing else.
//!
//! It knows wakers, not tasks. Its phases are called by the runtime loop:
//! [`push`](Driver::push) (from a `Submit` future's first poll) queues an SQE;
//! [`flush`](Driver::flush) or [`park`](Driver::park) enter the kernel once
//! for the whole batch; [`reap`](Driver::reap) moves CQEs into their slots and
//! collects the wakers to call and the abandoned ops to finish. The runtime
//! calls those only after releasing its borrow of the driver
//! (docs/reliability.md, rule 7: no wake and no user drop while the driver is
//! borrowed).
//!
//! ## Kernel facts this file depends on
//!
//! - **CQEs arrive in any order**, and a cancelled op still posts its own CQE
//!   (possibly a success). Each op is found by its `user_data` (slab key and
//!   generation), never by position.
//! - **After an SQE is pushed, the op belongs to the kernel**, even if
//!   `io_uring_enter` then fails: on `EBUSY`, `EAGAIN` or `ENOMEM` the entries
//!   stay queued and are submitted on the next turn; no slot is removed
//!   (docs/reliability.md, rule 3).
//! - **CQ overflow**: with `IORING_FEAT_NODROP` (required) the kernel keeps
//!   overflowed CQEs and flags the SQ ring; the next enter with `GETEVENTS`
//!   flushes them. In-flight ops are also capped at the CQ size
//!   (docs/reliability.md, rule 6).
//! - **DEFER_TASKRUN** rings post CQEs only when this thread enters the kernel
//!   with `GETEVENTS`; the `TASKRUN` flag says there is such work pending.

mod bufring;
mod cancel;
mod complete;
pub(crate) mod current;
mod emu;
mod fallback;
pub(crate) mod faults;
mod fork;
mod internal;
mod jobs;
pub(crate) mod lifecycle;
#[cfg(test)]
mod model_tests;
mod msg_ring;
mod multishot;
pub(crate) mod op;
mod register;
mod ring;
mod select;
mod setup;
#[cfg(test)]
mod sim;
mod table;

pub(crate) use bufring::RingShared;
pub(crate) use current::{current, features, Core};
#[cfg(not(all(test, loom)))]
pub(crate) use msg_ring::send_msg_wake;
pub(crate) use msg_ring::MsgTarget;
pub(crate) use multishot::{MultiOp, Multishot};
pub(crate) use op::{submit, Completion, Op, RawCqe};
pub(crate) use register::{FileSlot, FixedMem};
pub use select::DriverKind;
pub(crate) use setup::RingConfig;
pub use setup::SetupFlags;

use crate::wake::{Wakes, Wakeup};
use crate::Error;
use lifecycle::{Abandoned, Lifecycle, WAKE_DATA};
use slab::Slab;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::Duration;
use table::OpTable;

/// Counters of what the driver did, for diagnostics and the demo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Ops whose SQE was pushed.
    pub ops_submitted: u64,
    /// Ops whose CQE was reaped and handled (taken by their future, or
    /// finished by the driver after the future was dropped).
    pub ops_completed: u64,
    /// `ASYNC_CANCEL` requests made for dropped futures.
    pub ops_cancelled: u64,
    /// Ops the kernel holds right now (pushed, CQE not yet reaped). The
    /// runtime's own requests (its wake-up read, cancels, wakes sent to
    /// other threads) are in none of these three counters, so
    /// `ops_submitted - ops_completed` is this plus the ops whose CQE came
    /// and whose future has not taken it yet.
    pub ops_in_flight: usize,
    /// Calls to `io_uring_enter` (on the epoll driver: turns of its
    /// submission loop, each with at most one `epoll_wait`).
    pub enter_calls: u64,
    /// CQEs reaped.
    pub cqes: u64,
    /// CQEs whose `user_data` matched no live op (late or duplicate);
    /// ignored rather than waking anything.
    pub stale_cqes: u64,
    /// Times `io_uring_enter` said `EBUSY`/`EAGAIN`/`ENOMEM` and the batch
    /// was retried on the next turn.
    pub enter_busy: u64,
    /// Times an op waited for a free slot because the in-flight cap (the CQ
    /// size) was reached.
    pub backpressure: u64,
    /// Ops whose memory was deliberately leaked because the kernel did not
    /// complete them within the shutdown bound.
    pub leaked: u64,
    /// Ops whose future was dropped but which the kernel completed with
    /// success anyway (the cancel came too late): their results were
    /// handled by the driver (a new fd closed, read bytes stashed).
    pub late_completions: u64,
    /// CQEs that failed with `EFAULT`: the kernel could not reach memory an
    /// op pointed at. Always 0 unless a buffer was freed too early; tests
    /// unmap their buffers on drop to make that visible here.
    pub efault_cqes: u64,
    /// Wake-ups this ring sent to other runtimes with `IORING_OP_MSG_RING`.
    pub msg_wakes_sent: u64,
    /// Of those, sends the kernel refused (delivered by eventfd instead).
    pub msg_wake_failures: u64,
    /// Wake-ups other runtimes sent to this ring with `IORING_OP_MSG_RING`.
    pub msg_wakes_received: u64,
    /// Times an SQE found the submission queue full (the driver then
    /// submitted the queue to make room, or made the op wait).
    pub sq_full: u64,
    /// Times the driver found the kernel's CQ-overflow flag set before
    /// entering the kernel: completions did not fit in the CQ and waited in
    /// the kernel's overflow list (none is lost: `IORING_FEAT_NODROP`).
    pub cq_overflows: u64,
    /// Times `io_uring_enter` said `EBADR`: the kernel dropped completions
    /// under memory pressure (docs/reliability.md, rule 6). Their ops never
    /// complete; should always be 0.
    pub cq_dropped: u64,
    /// Times the runtime slept in the kernel waiting for a completion (a
    /// timer or a wake-up from another thread); on the epoll driver, in
    /// `epoll_wait`.
    pub parks: u64,
    /// Total time spent in those sleeps.
    pub park_time: Duration,
    /// Task polls (each time a spawned task's future was polled; the
    /// `block_on` future is not counted). Filled in by the runtime.
    pub polls: u64,
    /// Tasks alive now: spawned and not finished. Filled in by the runtime.
    pub tasks_alive: usize,
}

/// Eager ops (direct I/O; see [`Op::eager`]) are submitted as soon as this
/// many are queued, instead of at the end of the runtime's turn. The kernel
/// holds a submission of more than two SQEs in a block plug until it has
/// taken them all; two go to the device at once, so the device starts on
/// the first pair while tasks still run. Group sizes 2, 4 and 8 and
/// end-of-turn submission were compared on `O_DIRECT` random reads; 2 did
/// best (figures and command: benches/compare/README.md, "Design
/// measurements", "Direct I/O in pairs").
pub(crate) const EAGER_GROUP: u32 = 2;

/// What [`Driver::push`] did with an op.
pub(crate) enum Pushed {
    /// The SQE is queued under this `user_data`.
    InFlight(u64),
    /// No room now (in-flight cap or a full SQ the kernel would not take);
    /// the waker is called when there is, and the op should be pushed again.
    /// Carries a wake-up made for the op, to drop outside the borrow.
    Later(Option<Wakeup>),
    /// The backend lacks the opcode and the op's fallback runs at once:
    /// the future calls [`run_inline`](Driver::run_inline) when its
    /// budget allows (see `fallback`).
    Inline,
    /// The backend lacks the opcode and the op has no fallback it can run.
    Unsupported,
}

/// What a poll of an in-flight op found.
pub(crate) enum Polled {
    /// Still in flight. The waker it replaced, to drop outside the borrow.
    Pending(Option<Wakeup>),
    /// The completion, slot freed.
    Ready(Completion),
}

/// Leftovers of [`Driver::abandon`], to drop or finish outside the borrow.
pub(crate) struct Abandon {
    /// The op and its completion, when the CQE had already come.
    pub(crate) late: Option<(Box<dyn Abandoned>, Completion)>,
    /// The waker the slot held.
    pub(crate) waker: Option<Wakeup>,
}

/// The ring and the ops in it. See the module docs.
pub(crate) struct Driver {
    /// The backend that runs our SQEs: the kernel's io_uring or the epoll
    /// emulator (see `ring`).
    ring: ring::Ring,
    /// Which backend `ring` is.
    kind: DriverKind,
    /// One slot per op the kernel may still be using; the key is the low half
    /// of `user_data`.
    slots: OpTable,
    /// Generation given to the next op; the high half of `user_data`.
    next_generation: u32,
    /// Which opcodes the kernel supports (probed once at start), minus any
    /// a test disabled (see `faults`).
    probe: faults::Probed,
    /// The setup flags the ring got.
    flags: SetupFlags,
    /// Cap on ops in flight: the CQ size, so the CQ cannot overflow from our
    /// own ops alone (docs/reliability.md, rule 6).
    max_in_flight: usize,
    /// Futures waiting for a slot under the cap, by waiter id; all are
    /// woken when a slot frees, and those that find none queue again. A
    /// future dropped while it waits takes its entry out
    /// ([`cancel_slot_wait`](Driver::cancel_slot_wait)).
    slot_waiters: VecDeque<(u64, Waker)>,
    /// The id of the next slot waiter.
    next_slot_waiter: u64,
    /// Whom to wake for ops whose CQE came; woken by the runtime after the
    /// borrow.
    wakes: Wakes,
    /// Abandoned ops whose CQE came, finished by the runtime after the borrow.
    finished: Vec<(Box<dyn Abandoned>, Completion)>,
    /// Reaped CQEs, copied out so dispatch can borrow the rest of `self`.
    cqe_buf: Vec<(u64, i32, u32)>,
    /// Cancel targets that did not fit in a full SQ; pushed on the next flush.
    pending_cancels: Vec<u64>,
    /// The cross-thread wake-up eventfd (owned by the executor's shared
    /// state, which outlives the driver), or -1.
    wake_fd: RawFd,
    /// Where the kernel writes the eventfd counter; lives until the read's
    /// CQE (or is leaked at shutdown if it never comes).
    wake_buf: Box<u64>,
    /// Whether a read on `wake_fd` is in the kernel.
    wake_armed: bool,
    /// Set at shutdown: no more re-arming, everything is being cancelled.
    shutting_down: bool,
    /// `fork::generation()` when the ring was made: a forked child that
    /// inherits this struct must not touch the ring (rule: no sharing across
    /// fork; the mappings are MADV_DONTFORK and absent in the child).
    fork_generation: u64,
    /// Eager ops (see [`Op::eager`]) pushed since the last enter.
    eager_queued: u32,
    /// Counters.
    stats: Stats,
    /// Targets of our `MSG_RING` wakes until each send's own CQE (see
    /// `msg_ring`); the key is in the send's `user_data`.
    msg_sends: Slab<Box<dyn MsgTarget>>,
    /// Whether to send `MSG_RING` wakes (supported and not turned off).
    msg_ring: bool,
    /// Ops whose opcode the kernel lacks, run on the blocking pool (see
    /// `fallback`).
    offload: fallback::Offload,
    /// How many of the ops in `slots` are multishot ops, which do not
    /// count against the in-flight cap (see `multishot`).
    streams: usize,
    /// Registered provided-buffer rings (see `bufring`); dropped after the
    /// ring is closed.
    buf_rings: Vec<std::rc::Rc<RingShared>>,
    /// Registered buffer and file tables (see `register`); the buffer
    /// memory is freed after the ring is closed.
    registered: register::Registered,
}

impl Driver {
    /// Sets up a ring as `cfg` asks, with fallbacks; fails with a clear
    /// error. The epoll backend runs its file ops on `pool` (the runtime's
    /// blocking pool).
    pub(crate) fn new(
        cfg: &RingConfig,
        pool: &std::sync::Arc<crate::blocking::Pool>,
    ) -> Result<Driver, Error> {
        let (ring, flags, probe, kind) = select::build(cfg, pool)?;
        let mut driver = Driver::with_ring(ring, kind, probe, flags);
        driver.offload = fallback::Offload::new(pool.clone());
        Ok(driver)
    }

    /// A driver over `ring` with nothing in flight (the one constructor:
    /// the model test's simulated ring comes through here too).
    fn with_ring(
        ring: ring::Ring,
        kind: DriverKind,
        probe: faults::Probed,
        flags: SetupFlags,
    ) -> Driver {
        let max_in_flight = ring.cq_entries() as usize;
        Driver {
            ring,
            kind,
            slots: OpTable::with_capacity(256),
            next_generation: 1,
            probe,
            flags,
            max_in_flight,
            slot_waiters: VecDeque::new(),
            next_slot_waiter: 0,
            wakes: Wakes::with_capacity(64),
            finished: Vec::new(),
            cqe_buf: Vec::with_capacity(256),
            pending_cancels: Vec::new(),
            wake_fd: -1,
            wake_buf: Box::new(0),
            wake_armed: false,
            shutting_down: false,
            fork_generation: fork::generation(),
            eager_queued: 0,
            stats: Stats::default(),
            msg_sends: Slab::new(),
            msg_ring: false,
            streams: 0,
            offload: fallback::Offload::default(),
            buf_rings: Vec::new(),
            registered: register::Registered::default(),
        }
    }

    /// Which backend runs this driver's ops.
    pub(crate) fn kind(&self) -> DriverKind {
        self.kind
    }

    /// The setup flags the ring got.
    pub(crate) fn flags(&self) -> SetupFlags {
        self.flags
    }

    /// The ring's own fd (for diagnostics: `/proc/self/fdinfo/<fd>`).
    pub(crate) fn ring_fd(&self) -> RawFd {
        self.ring.fd()
    }

    /// Whether the kernel supports `code`.
    pub(crate) fn supports(&self, code: u8) -> bool {
        self.probe.is_supported(code)
    }

    /// A copy of the counters.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            ops_in_flight: self.ops_in_kernel(),
            ..self.stats
        }
    }

    /// Sets the eventfd that other threads write to wake this one.
    pub(crate) fn set_wake_fd(&mut self, fd: RawFd) {
        self.wake_fd = fd;
    }

    /// Queues the SQE of a new op and gives it a slot waiting on `waker`.
    /// `build` is called only if the op will really be pushed.
    /// `eager` ops are submitted in groups of [`EAGER_GROUP`] as they come
    /// (see [`Op::eager`]).
    ///
    /// `slot_wait` is the future's registration as a slot waiter: set when
    /// it has to wait for room, kept for its next try (so a re-poll does
    /// not add a second entry), and cancelled by the future if it is
    /// dropped first.
    pub(crate) fn push(
        &mut self,
        code: u8,
        req: &mut impl ring::Request,
        waker: &Waker,
        eager: bool,
        slot_wait: &mut Option<u64>,
    ) -> Pushed {
        fork::check(self.fork_generation);
        if !self.probe.is_supported(code) {
            return self.push_fallback(req, waker, slot_wait);
        }
        if self.at_cap(waker, slot_wait) {
            return Pushed::Later(None);
        }
        // Before the SQE goes in: cloning a foreign waker runs its code, and
        // nothing may unwind between the push and the slot's insert.
        let wakeup = Wakeup::of(waker);
        let (generation, user_data) = self.next_op_ids();
        // SAFETY: the request points only at memory owned by the op (the
        // `Op` contract), which stays in its `Submit` future or, once
        // dropped, in this slot, until the op's CQE is reaped.
        if !unsafe { self.try_push(user_data, req) } {
            self.stats.backpressure += 1;
            // Nothing may complete to wake us if nothing is in flight: then
            // retry on the next turn.
            if self.slots.is_empty() {
                self.wakes.push(wakeup);
                return Pushed::Later(None);
            }
            self.wait_for_slot(waker, slot_wait);
            return Pushed::Later(Some(wakeup));
        }
        self.slots.insert(generation, Lifecycle::Waiting(wakeup));
        self.stats.ops_submitted += 1;
        crate::trace::op_submitted(code, user_data);
        if eager {
            self.eager_queued += 1;
            if self.eager_queued >= EAGER_GROUP {
                self.enter(0, None);
            }
        }
        Pushed::InFlight(user_data)
    }

    /// Whether single-shot ops are at the in-flight cap; if so, the future
    /// with `waker` waits for a slot (see `slot_waiters`).
    #[inline(always)]
    fn at_cap(&mut self, waker: &Waker, slot_wait: &mut Option<u64>) -> bool {
        if self.slots.len() - self.streams < self.max_in_flight {
            return false;
        }
        self.stats.backpressure += 1;
        self.wait_for_slot(waker, slot_wait);
        true
    }

    /// The generation and `user_data` of a new single-shot op, in the slot
    /// the table gives next.
    #[inline(always)]
    fn next_op_ids(&mut self) -> (u32, u64) {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let key = self.slots.vacant_key();
        let user_data = lifecycle::user_data(key, generation);
        debug_assert!(lifecycle::is_op(user_data), "slab key {key} too large");
        (generation, user_data)
    }

    /// Pushes a request under `user_data`, flushing the SQ once to make
    /// room if it is full. Returns false if there is still no room. On
    /// io_uring the SQE is built once, here, and reused for the retry.
    ///
    /// # Safety
    ///
    /// Everything `req` points at must stay valid until its CQE is reaped.
    #[inline(always)]
    unsafe fn try_push(&mut self, user_data: u64, req: &mut impl ring::Request) -> bool {
        if !self.ring.is_uring() {
            // SAFETY: forwarded from this function's contract.
            return unsafe { self.try_push_fallback(user_data, req) };
        }
        let sqe = req.sqe().user_data(user_data);
        // SAFETY: forwarded from this function's contract.
        unsafe { self.ring.push_entry(&sqe) || self.push_sqe_after_flush(&sqe) }
    }

    /// [`try_push`](Self::try_push)'s rare path on io_uring: the SQ is full.
    ///
    /// # Safety
    ///
    /// As for `try_push`.
    #[cold]
    #[inline(never)]
    unsafe fn push_sqe_after_flush(&mut self, sqe: &io_uring::squeue::Entry) -> bool {
        self.stats.sq_full += 1;
        self.enter(0, None);
        // SAFETY: as above.
        unsafe { self.ring.push_entry(sqe) }
    }

    /// [`try_push`](Self::try_push) on the backends that take an op's
    /// fallback (epoll, the model test's simulated ring).
    ///
    /// # Safety
    ///
    /// As for `try_push`.
    #[cold]
    #[inline(never)]
    unsafe fn try_push_fallback(&mut self, user_data: u64, req: &mut impl ring::Request) -> bool {
        if self.ring.push_fallback(user_data, req.fallback()) {
            return true;
        }
        self.stats.sq_full += 1;
        self.enter(0, None);
        self.ring.push_fallback(user_data, req.fallback())
    }

    /// Looks at the op under `user_data` for its polling future.
    #[inline(always)]
    pub(crate) fn poll_op(&mut self, user_data: u64, waker: &Waker) -> Polled {
        let (key, generation) = lifecycle::split(user_data);
        let Some(state) = self.slots.get_mut(key, generation) else {
            unreachable!("a live future's op keeps its slot until the future takes the completion")
        };
        match state {
            Lifecycle::Waiting(w) if w.will_wake(waker) => Polled::Pending(None),
            Lifecycle::Waiting(w) => Polled::Pending(Some(std::mem::replace(w, Wakeup::of(waker)))),
            &mut Lifecycle::Completed(raw) => {
                self.free_completed(key);
                Polled::Ready(raw.completion())
            }
            Lifecycle::Abandoned(_) | Lifecycle::Streaming(_) => {
                unreachable!("a live future's op is never abandoned, nor multishot")
            }
        }
    }

    /// Queues `waker` until a slot frees, unless it is the waker queued
    /// last (a task polled again and again while it waits, say by a ticking
    /// timer in a `select`, would otherwise add a clone per poll).
    pub(super) fn wait_for_slot(&mut self, waker: &Waker, id: &mut Option<u64>) {
        if let Some(id) = *id {
            // Still queued with a waker that wakes the same task: nothing
            // to add. (A different waker gets a new entry; the old one
            // goes at the next wake, outside this borrow.)
            let queued = self.slot_waiters.iter().find(|(w, _)| *w == id);
            if queued.is_some_and(|(_, old)| old.will_wake(waker)) {
                return;
            }
        }
        let new = self.next_slot_waiter;
        self.next_slot_waiter += 1;
        self.slot_waiters.push_back((new, waker.clone()));
        *id = Some(new);
    }

    /// A future waiting for a slot was dropped: its entry goes, and its
    /// waker is dropped after the borrow (a waker's drop may run
    /// foreign code). A driver already borrowed (a drop from inside it,
    /// which curing never does) leaves the entry for the next wake.
    pub(crate) fn cancel_slot_wait(driver: &RefCell<Driver>, id: u64) {
        let waker = driver.try_borrow_mut().ok().and_then(|mut d| {
            let i = d.slot_waiters.iter().position(|(w, _)| *w == id)?;
            d.slot_waiters.remove(i).map(|(_, waker)| waker)
        });
        drop(waker);
    }

    /// Futures waiting for a slot now (for tests).
    #[cfg(test)]
    pub(crate) fn slot_waiters(&self) -> usize {
        self.slot_waiters.len()
    }

    /// A slot was freed: every future waiting for one gets a wake (see
    /// `slot_waiters`). Checked first: this runs for every completion and
    /// the queue is almost always empty.
    #[inline(always)]
    fn wake_slot_waiters(&mut self) {
        if !self.slot_waiters.is_empty() {
            self.wake_slot_waiters_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_slot_waiters_now(&mut self) {
        let waiters = self.slot_waiters.drain(..).map(|(_, waker)| waker);
        self.wakes.wakers.extend(waiters);
    }

    /// Frees the slot of a completed op, whose completion the caller read.
    #[inline(always)]
    fn free_completed(&mut self, key: usize) {
        self.slots.free_completed(key);
        self.stats.ops_completed += 1;
        self.wake_slot_waiters();
    }

    /// The future of the op under `user_data` was dropped: keep the op until
    /// its CQE and ask the kernel to cancel it (see [`cancel`]). If the
    /// driver is busy (a drop from inside the driver, which curing never
    /// does), the op is leaked rather than freed.
    pub(crate) fn abandon(
        cell: &RefCell<Driver>,
        user_data: u64,
        op: Box<dyn Abandoned>,
    ) -> Abandon {
        let Ok(mut driver) = cell.try_borrow_mut() else {
            std::mem::forget(op);
            return Abandon {
                late: None,
                waker: None,
            };
        };
        if fork::forked_since(driver.fork_generation) {
            std::mem::forget(op);
            return Abandon {
                late: None,
                waker: None,
            };
        }
        let (key, generation) = lifecycle::split(user_data);
        let Some(state) = driver.slots.get_mut(key, generation) else {
            unreachable!("a live future's op keeps its slot until the future takes the completion")
        };
        match std::mem::replace(state, Lifecycle::Abandoned(op)) {
            Lifecycle::Waiting(waker) => {
                crate::trace::op_cancelled(user_data);
                driver.push_cancel(user_data);
                Abandon {
                    late: None,
                    waker: Some(waker),
                }
            }
            Lifecycle::Completed(raw) => {
                let completion = raw.completion();
                let Lifecycle::Abandoned(op) = driver.slots.remove(key) else {
                    unreachable!("just stored Abandoned")
                };
                driver.stats.ops_completed += 1;
                driver.stats.late_completions += u64::from(completion.result.is_ok());
                driver.wake_slot_waiters();
                Abandon {
                    late: Some((op, completion)),
                    waker: None,
                }
            }
            Lifecycle::Abandoned(_) | Lifecycle::Streaming(_) => {
                unreachable!("an op is abandoned once, by its only future; never a multishot one")
            }
        }
    }

    /// Submits queued SQEs without waiting, if there is anything to tell the
    /// kernel; then reaps.
    pub(crate) fn flush(&mut self) {
        fork::check(self.fork_generation);
        self.prepare_enter();
        if self.ring.sq_is_empty() && !self.ring.has_hidden_work() {
            self.reap();
            return;
        }
        self.enter(0, None);
        self.reap();
    }

    /// Submits queued SQEs and sleeps until a CQE comes or `timeout` passes
    /// (`None`: no limit; another thread can still wake us through the
    /// eventfd). Then reaps.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) {
        fork::check(self.fork_generation);
        self.prepare_enter();
        if !self.ring.cq_is_empty() {
            return self.flush();
        }
        let slept = std::time::Instant::now();
        self.enter(1, timeout);
        self.stats.parks += 1;
        self.stats.park_time += slept.elapsed();
        self.reap();
    }

    /// Re-arms the wake-up read and pushes deferred cancels before entering.
    fn prepare_enter(&mut self) {
        self.push_pending_cancels();
        if !self.wake_armed && !self.shutting_down && self.wake_fd >= 0 {
            let mut read = internal::WakeRead {
                fd: self.wake_fd,
                buf: &mut *self.wake_buf,
            };
            // SAFETY: `wake_buf` is a heap allocation owned by the driver that
            // is freed only after this read's CQE, or leaked (see Drop).
            if unsafe { self.ring.push(WAKE_DATA, &mut read) } {
                self.wake_armed = true;
            }
        }
    }

    /// One `io_uring_enter`: submit everything queued, wait for `want` CQEs
    /// at most `timeout`. Expected failures are absorbed; the queued SQEs
    /// stay queued (docs/reliability.md, rule 3).
    fn enter(&mut self, want: usize, timeout: Option<Duration>) {
        self.stats.enter_calls += 1;
        self.eager_queued = 0;
        self.stats.cq_overflows += u64::from(self.ring.cq_overflow());
        let injected = faults::take_enter_error(); // testing only (docs/reliability.md, row 14)
        let result = match injected {
            Some(e) => Err(e),
            None => self.ring.enter(want, timeout),
        };
        let Err(e) = result else { return };
        match e.raw_os_error() {
            // The wait timed out, or a signal came: a normal wake-up.
            Some(libc::ETIME) | Some(libc::EINTR) => {}
            // CQ backlog (reap first) or kernel memory: retry next turn.
            Some(libc::EBUSY) | Some(libc::EAGAIN) | Some(libc::ENOMEM) => {
                self.stats.enter_busy += 1
            }
            // The kernel dropped completions it could not even queue in
            // its overflow list (memory pressure; docs/reliability.md, rule 6).
            // The ops they belonged to never complete: count it loudly rather
            // than crash the whole runtime, which still serves everything else.
            Some(libc::EBADR) => {
                self.stats.cq_dropped += 1;
                eprintln!("curing: the kernel dropped io_uring completions (EBADR)");
            }
            _ => panic!("curing: io_uring_enter failed unexpectedly: {e}"),
        }
    }

    /// The runtime's ops the kernel still holds (the driver's own wake-up
    /// read and `MSG_RING` sends not counted): `Stats::ops_in_flight`.
    fn ops_in_kernel(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, _, state)| match state {
                Lifecycle::Completed(_) => false,
                Lifecycle::Streaming(s) => s.in_kernel(),
                _ => true,
            })
            .count()
    }

    /// Everything the kernel still holds: slots without a CQE, plus the
    /// driver's own requests (wake read, `MSG_RING` sends).
    pub(crate) fn in_kernel(&self) -> usize {
        self.in_kernel_user_data().count()
    }

    fn in_kernel_user_data(&self) -> impl Iterator<Item = u64> + '_ {
        let slots = self
            .slots
            .iter()
            .filter_map(|(key, generation, state)| match state {
                Lifecycle::Completed(_) => None,
                Lifecycle::Streaming(s) if !s.in_kernel() => None,
                Lifecycle::Streaming(_) => Some(lifecycle::stream_user_data(key, generation)),
                _ => Some(lifecycle::user_data(key, generation)),
            });
        slots
            .chain(self.wake_armed.then_some(WAKE_DATA))
            .chain(self.msg_sends_in_flight())
    }

    /// Whether this process is a fork child of the one that made the ring.
    pub(crate) fn forked(&self) -> bool {
        fork::forked_since(self.fork_generation)
    }

    /// Starts shutdown: stop re-arming, cancel everything in the kernel.
    pub(crate) fn begin_shutdown(&mut self) {
        if fork::forked_since(self.fork_generation) {
            return;
        }
        self.shutting_down = true;
        self.cancel_everything();
    }

    /// Shutdown gave up waiting: leak the memory of every op the kernel may
    /// still write to, rather than free it under the kernel's feet.
    pub(crate) fn leak_in_kernel(&mut self) {
        let keys: Vec<usize> = self
            .slots
            .iter()
            .filter(|(_, _, state)| match state {
                Lifecycle::Abandoned(_) => true,
                Lifecycle::Streaming(s) => s.orphan_in_kernel(),
                _ => false,
            })
            .map(|(key, _, _)| key)
            .collect();
        for key in keys {
            let state = self.slots.remove(key);
            self.streams -= usize::from(matches!(state, Lifecycle::Streaming(_)));
            std::mem::forget(state);
            self.stats.leaked += 1;
        }
        // Jobs still running on the pool may not post (nor write the
        // wake-up eventfd) any more.
        self.offload.close();
        if self.stats.leaked > 0 {
            self.leak_buf_rings();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if fork::forked_since(self.fork_generation) {
            // A forked child: the ring's addresses are not mapped here
            // (MADV_DONTFORK) and may hold other mappings by now; unmapping
            // them would destroy those. Leave the ring alone.
            return;
        }
        if self.wake_armed {
            std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
        }
        self.leak_in_kernel();
        // SAFETY: `ring` is not used after this point; this is the only place
        // it is closed, and only in the process that created it.
        unsafe { self.ring.close() };
    }
}
