//! The state of one in-flight op in the driver's op table (`table.rs`).
//!
//! ```text
//!            push SQE                 CQE
//!   (future) ───────► Waiting(wakeup) ───► Completed(cqe) ──► future polls: slot freed,
//!                         │                                     buffers returned
//!                         │ future dropped
//!                         ▼                    CQE
//!                    Abandoned(op) ─────────────────────────► slot freed, op finished
//!                    (+ ASYNC_CANCEL)                           (late fd closed, late
//!                                                               bytes stashed, buffers freed)
//! ```
//!
//! ## A cancelled op can still succeed
//!
//! `ASYNC_CANCEL` is a request, not a guarantee: the target may already be
//! running or done, and then its CQE reports success. Only the target's own
//! CQE says the kernel has let go of its memory, so an abandoned op keeps its
//! buffers until that CQE, and its completion is still processed
//! ([`Abandoned::finish`]): an accepted or opened fd is closed, bytes a stream
//! read received are kept for the next read.

use super::op::{Completion, RawCqe};
use crate::wake::Wakeup;

/// The op's place in its life, as the driver sees it.
pub(crate) enum Lifecycle {
    /// The SQE is pushed (maybe not yet submitted); the future waits and is
    /// woken through this (its task, or its waker) when the CQE comes.
    Waiting(Wakeup),
    /// The CQE came; the future has not polled since. Its next poll takes the
    /// completion and frees the slot. Kept raw (8 bytes, in registers):
    /// `Completion`, with its `io::Result`, is built once, by the taker.
    Completed(RawCqe),
    /// The future was dropped before the CQE: the op itself (buffers, fd,
    /// addresses) lives here until the CQE, so nothing the kernel may touch
    /// is freed early. An `ASYNC_CANCEL` has been pushed.
    Abandoned(Box<dyn Abandoned>),
    /// A multishot op (one SQE, many CQEs): its completions queue here
    /// until its stream takes them, and it stays until the CQE without
    /// `F_MORE` (see `multishot`).
    Streaming(Box<super::multishot::Stream>),
}

/// An op whose future is gone, kept until its CQE, then finished.
pub(crate) trait Abandoned {
    /// Process the late completion: release what it created (close a new fd)
    /// or keep what it carried (stash received bytes), then free the op.
    fn finish(self: Box<Self>, completion: Completion);
}

/// Packs a slab key and a generation into a CQE's `user_data`.
pub(crate) fn user_data(key: usize, generation: u32) -> u64 {
    debug_assert!(key < u32::MAX as usize);
    (u64::from(generation) << 32) | key as u64
}

/// Splits a `user_data` into slab key and generation (for a multishot
/// op's, see [`split_stream`]).
pub(crate) fn split(user_data: u64) -> (usize, u32) {
    ((user_data & 0xffff_ffff) as usize, (user_data >> 32) as u32)
}

/// [`split`] for a multishot op's `user_data`: the key without
/// [`STREAM_BIT`].
pub(crate) fn split_stream(user_data: u64) -> (usize, u32) {
    let (key, generation) = split(user_data & !STREAM_BIT);
    (key, generation)
}

/// A multishot op's `user_data`: its table key tagged with [`STREAM_BIT`].
pub(crate) fn stream_user_data(key: usize, generation: u32) -> u64 {
    user_data(key, generation) | STREAM_BIT
}

/// Whether `user_data` names a single-shot op in the driver's op table:
/// its key has neither [`STREAM_BIT`] nor bit 30, which the reserved
/// all-ones key has (table keys stay far below both: single-shot ops are
/// capped by the CQ size, and a multishot op per connection reaches
/// nowhere near 2^29). One test on the hot path, with no look at the slot.
#[inline]
pub(crate) fn is_op(user_data: u64) -> bool {
    user_data & (STREAM_BIT | 1 << 30) == 0
}

/// Set in the key half of a multishot op's `user_data` (its slot is in the
/// same table, under the key without this bit), so dispatch tells its
/// CQEs apart without reading the slot.
pub(crate) const STREAM_BIT: u64 = 1 << 29;

/// Whether `user_data` names a multishot op (see [`STREAM_BIT`]).
#[inline]
pub(crate) fn is_stream(user_data: u64) -> bool {
    user_data & (STREAM_BIT | 1 << 30) == STREAM_BIT
}

/// `user_data` values with the all-ones key belong to the driver itself; the
/// slab never grows that large.
pub(crate) const RESERVED_KEY: u64 = 0xffff_ffff;
/// CQEs of `ASYNC_CANCEL` requests: nothing waits on them.
pub(crate) const CANCEL_DATA: u64 = RESERVED_KEY;
/// CQE of the read on the cross-thread wake-up eventfd.
pub(crate) const WAKE_DATA: u64 = (1 << 32) | RESERVED_KEY;
/// CQE posted on this ring by another runtime's `MSG_RING` wake (see
/// `driver::msg_ring`): drain the remote queue. Nothing to free.
pub(crate) const MSG_WAKE_DATA: u64 = (2 << 32) | RESERVED_KEY;
/// High-half tag of the source-side CQEs of our own `MSG_RING` sends; the
/// rest of the high half is the send's key in `Driver::msg_sends`.
const MSG_SENT_TAG: u64 = 0x8000_0000;

/// `user_data` of our `MSG_RING` send number `key`.
pub(crate) fn msg_sent(key: usize) -> u64 {
    debug_assert!((key as u64) < MSG_SENT_TAG);
    ((MSG_SENT_TAG | key as u64) << 32) | RESERVED_KEY
}

/// The send key, if `user_data` is one of our `MSG_RING` sends.
pub(crate) fn msg_sent_key(user_data: u64) -> Option<usize> {
    let high = user_data >> 32;
    (user_data & RESERVED_KEY == RESERVED_KEY && high & MSG_SENT_TAG != 0)
        .then_some((high & !MSG_SENT_TAG) as usize)
}
