//! Multishot ops: one SQE, many CQEs (multishot accept, multishot recv,
//! and zero-copy send's result + notification pair).
//!
//! ## The kernel fact: `IORING_CQE_F_MORE`
//!
//! A multishot op posts a CQE per result with `F_MORE` set, meaning "this
//! op is still armed and will post again". The first CQE *without* `F_MORE`
//! is its last: after it the kernel holds nothing of the op (no fd
//! reference, no buffer, no memory). The kernel ends a multishot op on its
//! own, too: on any error, when the provided-buffer pool runs dry
//! (`ENOBUFS`), when the CQ overflows, or after a cancel. So
//!
//! - the op's slot lives until the CQE without `F_MORE`, whatever happened
//!   to the stream that started it (rule 4: no later CQE can find its
//!   `user_data` reused, because the slot and its generation are still
//!   there);
//! - completions queue in the slot until the stream takes them, in order;
//! - a dropped stream moves its op into the slot ("orphaned"), an
//!   `ASYNC_CANCEL` is pushed, and completions that arrive afterwards are
//!   kept until the last one, then all of them are released together by
//!   [`MultiOp::discard`] (an accepted fd is closed, a provided buffer goes
//!   back to its ring) *outside* the driver borrow, with the op (rule 7).
//!
//! Slots live in their own slab; their `user_data` carries [`MULTI_BIT`] in
//! the key half so the driver's dispatch tells them from single-shot ops
//! with one test. Multishot ops do not count against the in-flight cap:
//! each posts an unbounded number of CQEs anyway, which the ring's
//! `IORING_FEAT_NODROP` keeps safe.

use super::lifecycle::{self, Abandoned, RESERVED_KEY};
use super::op::Completion;
use super::{Driver, Pushed, RingShared};
use crate::executor::Wakeup;
use crate::runtime::{self, Context};
use io_uring::squeue::Entry;
use slab::Slab;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context as TaskCx, Poll, Waker};

/// Marks a multishot slot's key in `user_data` (single-shot keys stay far
/// below: they are capped by the CQ size, at most 2^16).
const MULTI_BIT: usize = lifecycle::SPECIAL_KEY_BIT as usize;

/// Whether `user_data` belongs to a multishot slot.
pub(super) fn owns(user_data: u64) -> bool {
    let (key, _) = lifecycle::split(user_data);
    key & MULTI_BIT != 0 && user_data & RESERVED_KEY != RESERVED_KEY
}

/// A kind of multishot request. Like [`Op`](super::Op), the struct owns
/// everything the kernel may touch (with the same stable-address rule),
/// until the CQE without `F_MORE`.
pub(crate) trait MultiOp: 'static {
    /// The opcode, checked against the probe before the push. (Multishot
    /// accept and recv share their opcode with the single-shot ones; the
    /// I/O layer checks the kernel version through another opcode.)
    const CODE: u8;

    /// Builds the SQE (without `user_data`).
    fn sqe(&mut self) -> Entry;

    /// How the op runs without io_uring (the epoll driver), from the same
    /// fields as the SQE; built instead of the SQE on that driver.
    fn fallback(&mut self) -> crate::sys::syscall::Fallback;

    /// Releases what a completion nobody will take carries: closes an
    /// accepted fd, returns a provided buffer to its ring.
    fn discard(&mut self, completion: Completion);

    /// The provided-buffer ring the op selects from, if any: the driver
    /// counts a buffer as taken the moment its CQE is reaped, so the
    /// pool's count of free buffers is exact when a receiver checks it.
    fn buf_ring(&self) -> Option<Rc<RingShared>> {
        None
    }
}

/// The driver's multishot slots.
#[derive(Default)]
pub(super) struct Registry {
    slots: Slab<Slot>,
}

struct Slot {
    /// Matched against a CQE's `user_data` high half (rule 4).
    generation: u32,
    /// Completions not yet taken (by the stream, or, once orphaned, by the
    /// final release), in CQE order.
    queue: VecDeque<Completion>,
    /// The stream's waker, while it waits.
    waker: Option<Waker>,
    /// The CQE without `F_MORE` came: the kernel is done with the op.
    done: bool,
    /// The op of a dropped stream, kept until the final CQE.
    orphan: Option<Box<dyn Orphan>>,
    /// The buffer ring the op selects from (see [`MultiOp::buf_ring`]).
    ring: Option<Rc<RingShared>>,
}

/// An op whose stream is gone, type-erased.
trait Orphan {
    /// Release every queued completion and the last, then drop the op.
    fn release(self: Box<Self>, queued: VecDeque<Completion>, last: Completion);
}

struct Orphaned<T>(T);

impl<T: MultiOp> Orphan for Orphaned<T> {
    fn release(mut self: Box<Self>, queued: VecDeque<Completion>, last: Completion) {
        for c in queued {
            self.0.discard(c);
        }
        self.0.discard(last);
    }
}

/// An orphan and its completions, finished by the runtime after the
/// driver borrow is released, like an abandoned single-shot op.
struct Release {
    orphan: Box<dyn Orphan>,
    queued: VecDeque<Completion>,
}

impl Abandoned for Release {
    fn finish(self: Box<Self>, last: Completion) {
        self.orphan.release(self.queued, last);
    }
}

/// What [`Driver::poll_multi`] found.
pub(crate) enum MultiPolled {
    /// The next completion. Without `F_MORE` it is the last and the slot
    /// is already freed.
    Ready(Completion),
    /// Nothing yet; the replaced waker, to drop outside the borrow.
    Pending(Option<Waker>),
}

impl Driver {
    /// Arms a multishot op: pushes its SQE into a new multishot slot.
    pub(crate) fn push_multi(
        &mut self,
        code: u8,
        ring: Option<Rc<RingShared>>,
        req: &mut impl super::ring::Request,
        waker: &Waker,
        slot_wait: &mut Option<u64>,
    ) -> Pushed {
        super::fork::check(self.fork_generation);
        if !self.probe.is_supported(code) {
            return Pushed::Unsupported;
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let key = self.multishot.slots.vacant_key();
        assert!(key < MULTI_BIT, "curing: too many multishot ops");
        let user_data = lifecycle::user_data(key | MULTI_BIT, generation);
        // SAFETY: the request points only at memory owned by the op (the
        // `MultiOp` contract), which stays in its stream or, once the
        // stream is dropped, in this slot, until the final CQE.
        if !unsafe { self.try_push(user_data, req) } {
            self.stats.backpressure += 1;
            if self.slots.is_empty() && self.multishot.slots.is_empty() {
                self.wakes.push(Wakeup::Waker(waker.clone()));
            } else {
                self.wait_for_slot(waker, slot_wait);
            }
            return Pushed::Later(None);
        }
        self.multishot.slots.insert(Slot {
            generation,
            queue: VecDeque::new(),
            waker: Some(waker.clone()),
            done: false,
            orphan: None,
            ring,
        });
        self.stats.ops_submitted += 1;
        Pushed::InFlight(user_data)
    }

    /// The stream of `user_data` looks for its next completion.
    /// Whether the multishot op of `user_data` has a completion queued.
    pub(crate) fn multi_has_queued(&self, user_data: u64) -> bool {
        let key = self.multi_key(user_data);
        !self.multishot.slots[key].queue.is_empty()
    }

    pub(crate) fn poll_multi(&mut self, user_data: u64, waker: &Waker) -> MultiPolled {
        let key = self.multi_key(user_data);
        let slot = &mut self.multishot.slots[key];
        if let Some(c) = slot.queue.pop_front() {
            if slot.queue.is_empty() && slot.done {
                self.multishot.slots.remove(key);
                self.stats.ops_completed += 1;
                self.wake_slot_waiters();
            }
            return MultiPolled::Ready(c);
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(waker) => MultiPolled::Pending(None),
            other => MultiPolled::Pending(other.replace(waker.clone())),
        }
    }

    /// The stream of `user_data` is being dropped: hands it the queued
    /// completions (to release with its op outside the borrow) and its
    /// waker. Returns whether the op is finished (the slot is freed then);
    /// if not, the stream must call [`orphan`](Driver::orphan) next.
    pub(crate) fn take_queued(
        &mut self,
        user_data: u64,
    ) -> (VecDeque<Completion>, Option<Waker>, bool) {
        let key = self.multi_key(user_data);
        let slot = &mut self.multishot.slots[key];
        let queued = std::mem::take(&mut slot.queue);
        let waker = slot.waker.take();
        let done = slot.done;
        if done {
            self.multishot.slots.remove(key);
            self.stats.ops_completed += 1;
            self.wake_slot_waiters();
        }
        (queued, waker, done)
    }

    /// Keeps the op of a dropped stream until its final CQE and asks the
    /// kernel to cancel it.
    fn orphan(&mut self, user_data: u64, op: Box<dyn Orphan>) {
        let key = self.multi_key(user_data);
        let slot = &mut self.multishot.slots[key];
        debug_assert!(!slot.done && slot.orphan.is_none());
        slot.orphan = Some(op);
        self.push_cancel(user_data);
    }

    /// The slab key of a live stream's slot.
    fn multi_key(&self, user_data: u64) -> usize {
        let (key, generation) = lifecycle::split(user_data);
        let key = key & !MULTI_BIT;
        match self.multishot.slots.get(key) {
            Some(slot) if slot.generation == generation => key,
            _ => {
                unreachable!("a live stream's op keeps its slot until it takes the last completion")
            }
        }
    }

    /// Files one CQE of a multishot op (called by `dispatch`).
    pub(super) fn dispatch_multi(&mut self, user_data: u64, res: i32, flags: u32) {
        let (key, generation) = lifecycle::split(user_data);
        let key = key & !MULTI_BIT;
        let slot = match self.multishot.slots.get_mut(key) {
            Some(slot) if slot.generation == generation && !slot.done => slot,
            _ => {
                self.stats.stale_cqes += 1;
                return;
            }
        };
        if let (Some(ring), Some(_)) = (&slot.ring, io_uring::cqueue::buffer_select(flags)) {
            ring.taken();
        }
        let completion = Completion::from_raw(res, flags);
        let last = !io_uring::cqueue::more(flags);
        if slot.orphan.is_some() {
            if !last {
                slot.queue.push_back(completion);
                return;
            }
            let slot = self.multishot.slots.remove(key);
            let orphan = slot.orphan.expect("checked above");
            self.stats.ops_completed += 1;
            self.wake_slot_waiters();
            let release = Box::new(Release {
                orphan,
                queued: slot.queue,
            });
            self.finished.push((release, completion));
            return;
        }
        slot.queue.push_back(completion);
        slot.done = last;
        if let Some(w) = slot.waker.take() {
            self.wakes.push(Wakeup::Waker(w));
        }
    }

    /// `user_data` of multishot ops the kernel still holds.
    pub(super) fn multi_in_kernel(&self) -> impl Iterator<Item = u64> + '_ {
        self.multishot
            .slots
            .iter()
            .filter(|(_, s)| !s.done)
            .map(|(key, s)| lifecycle::user_data(key | MULTI_BIT, s.generation))
    }

    /// Shutdown gave up waiting: leak orphaned ops the kernel may still
    /// use (their memory must not be freed under it).
    pub(super) fn leak_multi(&mut self) {
        let keys: Vec<usize> = self
            .multishot
            .slots
            .iter()
            .filter(|(_, s)| s.orphan.is_some() && !s.done)
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            std::mem::forget(self.multishot.slots.remove(key));
            self.stats.leaked += 1;
        }
    }
}

/// The I/O layer's handle on one multishot op: arms it on first poll,
/// yields its completions, and can re-arm it after the kernel ended it.
pub(crate) struct Multishot<T: MultiOp> {
    /// The op while this handle owns it (always, until drop).
    op: Option<T>,
    /// Armed under this `user_data`, with the runtime kept alive (its ring
    /// may still use the op's memory); `None` when not armed.
    armed: Option<(u64, Rc<Context>)>,
    /// Waiting for room to arm: the slot-waiter id (see `Driver::push`)
    /// and the runtime it waits in.
    slot_wait: Option<(u64, Rc<Context>)>,
}

impl<T: MultiOp> Multishot<T> {
    /// A handle for `op`, not armed yet.
    pub(crate) fn new(op: T) -> Multishot<T> {
        Multishot {
            op: Some(op),
            armed: None,
            slot_wait: None,
        }
    }

    /// The op, once the kernel is done with it (not armed), e.g. to take
    /// back a buffer after the final CQE.
    pub(crate) fn op_mut(&mut self) -> &mut T {
        assert!(self.armed.is_none(), "the kernel may still use the op");
        self.op.as_mut().expect("op present until drop")
    }

    /// The next completion, arming the op first if it is not armed. A
    /// completion without `F_MORE` is the op's last; the next call arms it
    /// again. A kernel without the opcode gives `Unsupported` (final).
    pub(crate) fn poll_next(&mut self, cx: &mut TaskCx<'_>) -> Poll<Completion> {
        let Some((user_data, ctx)) = &self.armed else {
            let ctx = runtime::current();
            let op = self.op.as_mut().expect("op present until drop");
            let ring = op.buf_ring();
            let mut slot_wait = self.slot_wait.take().map(|(id, _)| id);
            let pushed = ctx.driver.borrow_mut().push_multi(
                T::CODE,
                ring,
                &mut super::ring::Multi(op),
                cx.waker(),
                &mut slot_wait,
            );
            return match pushed {
                Pushed::InFlight(user_data) => {
                    self.armed = Some((user_data, ctx));
                    Poll::Pending
                }
                // A wake-up it carries is dropped here, outside the borrow.
                Pushed::Later(_wakeup) => {
                    self.slot_wait = slot_wait.map(|id| (id, ctx));
                    Poll::Pending
                }
                Pushed::Unsupported => Poll::Ready(Completion {
                    result: Err(std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        format!("this kernel does not support io_uring opcode {}", T::CODE),
                    )),
                    flags: 0,
                }),
            };
        };
        if ctx.driver.borrow().multi_has_queued(*user_data) {
            // Ready at once: a loop over queued completions must yield.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        let polled = ctx.driver.borrow_mut().poll_multi(*user_data, cx.waker());
        match polled {
            MultiPolled::Pending(_old_waker) => Poll::Pending,
            MultiPolled::Ready(c) => {
                if !io_uring::cqueue::more(c.flags) {
                    self.armed = None;
                }
                Poll::Ready(c)
            }
        }
    }
}

impl<T: MultiOp> Drop for Multishot<T> {
    fn drop(&mut self) {
        if let Some((id, ctx)) = self.slot_wait.take() {
            Driver::cancel_slot_wait(&ctx.driver, id);
        }
        let Some((user_data, ctx)) = self.armed.take() else {
            return;
        };
        let mut op = self.op.take().expect("op present until drop");
        let Ok(mut driver) = ctx.driver.try_borrow_mut() else {
            // Dropped from inside the driver (curing never does): leak
            // rather than free memory the kernel may use.
            std::mem::forget(op);
            return;
        };
        if super::fork::forked_since(driver.fork_generation) {
            drop(driver);
            std::mem::forget(op);
            return;
        }
        let (queued, waker, done) = driver.take_queued(user_data);
        drop(driver);
        drop(waker);
        for c in queued {
            op.discard(c);
        }
        if !done {
            ctx.driver
                .borrow_mut()
                .orphan(user_data, Box::new(Orphaned(op)));
        }
    }
}
