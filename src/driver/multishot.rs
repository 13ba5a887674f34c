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
//!   to the stream that started it (docs/reliability.md, rule 4: no later CQE
//!   can find its `user_data` reused, because the slot and its generation are
//!   still there);
//! - completions queue in the slot until the stream takes them, in order;
//! - a dropped stream moves its op into the slot ("orphaned"), an
//!   `ASYNC_CANCEL` is pushed, and completions that arrive afterwards are
//!   kept until the last one, then all of them are released together by
//!   [`MultiOp::discard`] (an accepted fd is closed, a provided buffer goes
//!   back to its ring) *outside* the driver borrow, with the op
//!   (docs/reliability.md, rule 7).
//!
//! A multishot op lives in the driver's one op table like any other op
//! (same `user_data`, generation check and cancel path), in the
//! [`Lifecycle::Streaming`] state: the hook for its intermediate
//! completions, which queue there. Its `user_data` carries
//! `lifecycle::STREAM_BIT`, so dispatch tells its CQEs apart without
//! reading the slot. Multishot ops do not count against the
//! in-flight cap: each posts an unbounded number of CQEs anyway, which the
//! ring's `IORING_FEAT_NODROP` keeps safe.

use super::current::{self, Core};
use super::lifecycle::{self, Abandoned, Lifecycle};
use super::op::Completion;
use super::{Driver, Pushed, RingShared};
use crate::wake::Wakeup;
use io_uring::squeue::Entry;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context as TaskCx, Poll, Waker};

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

/// A multishot op's state in the op table ([`Lifecycle::Streaming`]).
pub(crate) struct Stream {
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

impl Stream {
    /// Whether the kernel may still post for this op.
    pub(super) fn in_kernel(&self) -> bool {
        !self.done
    }

    /// Whether the op of a dropped stream is still in the kernel: its
    /// memory must be leaked, not freed, if shutdown gives up on it.
    pub(super) fn orphan_in_kernel(&self) -> bool {
        self.orphan.is_some() && !self.done
    }
}

/// An op whose stream is gone, type-erased.
pub(crate) trait Orphan {
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
    /// Arms a multishot op: pushes its SQE into a new slot of the op table.
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
        let key = self.slots.vacant_key();
        let user_data = lifecycle::stream_user_data(key, generation);
        debug_assert!(lifecycle::is_stream(user_data), "slab key {key} too large");
        // SAFETY: the request points only at memory owned by the op (the
        // `MultiOp` contract), which stays in its stream or, once the
        // stream is dropped, in this slot, until the final CQE.
        if !unsafe { self.try_push(user_data, req) } {
            self.stats.backpressure += 1;
            if self.slots.is_empty() {
                self.wakes.push(Wakeup::Waker(waker.clone()));
            } else {
                self.wait_for_slot(waker, slot_wait);
            }
            return Pushed::Later(None);
        }
        let stream = Stream {
            queue: VecDeque::new(),
            waker: Some(waker.clone()),
            done: false,
            orphan: None,
            ring,
        };
        self.slots
            .insert(generation, Lifecycle::Streaming(Box::new(stream)));
        self.streams += 1;
        self.stats.ops_submitted += 1;
        Pushed::InFlight(user_data)
    }

    /// The state of a live stream's op.
    fn stream(&mut self, user_data: u64) -> &mut Stream {
        let (key, generation) = lifecycle::split_stream(user_data);
        match self.slots.get_mut(key, generation) {
            Some(Lifecycle::Streaming(stream)) => stream,
            _ => {
                unreachable!("a live stream's op keeps its slot until it takes the last completion")
            }
        }
    }

    /// Frees the slot of a multishot op the kernel is done with.
    fn free_stream(&mut self, user_data: u64) -> Box<Stream> {
        let (key, _) = lifecycle::split_stream(user_data);
        let Lifecycle::Streaming(stream) = self.slots.remove(key) else {
            unreachable!("checked by the caller")
        };
        self.streams -= 1;
        self.stats.ops_completed += 1;
        self.wake_slot_waiters();
        stream
    }

    /// Whether the multishot op of `user_data` has a completion queued.
    pub(crate) fn multi_has_queued(&mut self, user_data: u64) -> bool {
        !self.stream(user_data).queue.is_empty()
    }

    /// The stream of `user_data` looks for its next completion.
    pub(crate) fn poll_multi(&mut self, user_data: u64, waker: &Waker) -> MultiPolled {
        let stream = self.stream(user_data);
        if let Some(c) = stream.queue.pop_front() {
            if stream.queue.is_empty() && stream.done {
                self.free_stream(user_data);
            }
            return MultiPolled::Ready(c);
        }
        match &mut stream.waker {
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
        let stream = self.stream(user_data);
        let queued = std::mem::take(&mut stream.queue);
        let waker = stream.waker.take();
        let done = stream.done;
        if done {
            self.free_stream(user_data);
        }
        (queued, waker, done)
    }

    /// Keeps the op of a dropped stream until its final CQE and asks the
    /// kernel to cancel it.
    fn orphan(&mut self, user_data: u64, op: Box<dyn Orphan>) {
        let stream = self.stream(user_data);
        debug_assert!(!stream.done && stream.orphan.is_none());
        stream.orphan = Some(op);
        self.push_cancel(user_data);
    }

    /// Files one CQE of a multishot op (called by `dispatch` for a
    /// `user_data` with `STREAM_BIT`).
    pub(super) fn dispatch_multi(&mut self, user_data: u64, res: i32, flags: u32) {
        let (key, generation) = lifecycle::split_stream(user_data);
        let stream = match self.slots.get_mut(key, generation) {
            Some(Lifecycle::Streaming(stream)) if !stream.done => stream,
            // Late or duplicate (docs/reliability.md, rule 4).
            _ => {
                self.stats.stale_cqes += 1;
                return;
            }
        };
        if let (Some(ring), Some(_)) = (&stream.ring, io_uring::cqueue::buffer_select(flags)) {
            ring.taken();
        }
        let completion = Completion::from_raw(res, flags);
        let last = !io_uring::cqueue::more(flags);
        if stream.orphan.is_some() {
            if !last {
                stream.queue.push_back(completion);
                return;
            }
            let stream = self.free_stream(user_data);
            let Stream { orphan, queue, .. } = *stream;
            let release = Box::new(Release {
                orphan: orphan.expect("checked above"),
                queued: queue,
            });
            self.finished.push((release, completion));
            return;
        }
        stream.queue.push_back(completion);
        stream.done = last;
        if let Some(w) = stream.waker.take() {
            self.wakes.push(Wakeup::Waker(w));
        }
    }
}

/// The I/O layer's handle on one multishot op: arms it on first poll,
/// yields its completions, and can re-arm it after the kernel ended it.
pub(crate) struct Multishot<T: MultiOp> {
    /// The op while this handle owns it (always, until drop).
    op: Option<T>,
    /// Armed under this `user_data`, with the driver kept alive (its ring
    /// may still use the op's memory); `None` when not armed.
    armed: Option<(u64, Rc<Core>)>,
    /// Waiting for room to arm: the slot-waiter id (see `Driver::push`)
    /// and the driver it waits in.
    slot_wait: Option<(u64, Rc<Core>)>,
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
            let ctx = current::current();
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
                // Multishot ops have no fallback of their own: the I/O type
                // asks `Features` first.
                Pushed::Inline | Pushed::Unsupported => Poll::Ready(Completion {
                    result: Err(std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        format!("this kernel does not support io_uring opcode {}", T::CODE),
                    )),
                    flags: 0,
                }),
            };
        };
        if ctx.driver.borrow_mut().multi_has_queued(*user_data) {
            // Ready at once: a loop over queued completions must yield.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        let polled = ctx.driver.borrow_mut().poll_multi(*user_data, cx.waker());
        match polled {
            MultiPolled::Pending(_old_waker) => Poll::Pending,
            MultiPolled::Ready(c) => {
                if !c.more() {
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
