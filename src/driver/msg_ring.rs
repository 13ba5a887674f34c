//! Cross-thread wake-ups between two curing runtimes through
//! `IORING_OP_MSG_RING` (5.18+).
//!
//! A runtime thread that wakes a task of another runtime pushes one SQE on
//! its *own* ring: a `MSG_RING` aimed at the target's ring fd, which posts a
//! CQE with [`MSG_WAKE_DATA`] on the target's CQ. The target, parked in
//! `io_uring_enter`, returns with that CQE and drains its remote queue. The
//! target makes no syscall of its own for it and no eventfd is touched.
//!
//! ## Submitted at once, not with the next batch
//!
//! The send is submitted right away (with whatever else is queued), not at
//! the end of the waker's turn: a task that wakes another runtime and then
//! blocks its own thread (joining a thread, a blocking call) would otherwise
//! keep the wake in its SQ and deadlock both. Sends are rare anyway: the
//! target's `notified` flag lets one wake-up stand for every wake until the
//! target drains its queue.
//!
//! ## Kernel facts this file depends on
//!
//! - The target ring is looked up by fd number **when the source submits**,
//!   not when the SQE is pushed. The target's fd number must stay valid until
//!   then, so each send keeps the target alive ([`MsgTarget`] owns a
//!   duplicate of the ring fd) until the source's own CQE for the send.
//! - The send can fail (the target's CQ overflowed, the target ring is
//!   going away): the source's CQE then carries the error, and the wake is
//!   delivered through the target's eventfd instead, so none is lost.
//! - A target with `SINGLE_ISSUER | DEFER_TASKRUN` gets the CQE through task
//!   work run by its own thread; a thread parked in `io_uring_enter` is woken
//!   for it.

use super::lifecycle::{self, MSG_WAKE_DATA};
use super::ring::Request;
use super::Driver;
use crate::sys::syscall::Fallback;
use io_uring::squeue::Entry;
use io_uring::{opcode, types};
use std::os::fd::RawFd;

/// The receiving runtime of a `MSG_RING` wake; the sender keeps it until
/// its send completes (dropping it lets the target close its ring fd).
pub(crate) trait MsgTarget: Send + Sync {
    /// The send failed: wake the target through its eventfd instead.
    fn fallback_wake(&self);
}

/// A `MSG_RING` wake aimed at the ring `.0`. Not emulated (the epoll
/// driver's probe lacks it, so the runtime uses the eventfd instead).
struct MsgWake(RawFd);

impl Request for MsgWake {
    fn sqe(&mut self) -> Entry {
        opcode::MsgRingData::new(types::Fd(self.0), 0, MSG_WAKE_DATA, None).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::unsupported()
    }
}

impl Driver {
    /// Pushes a `MSG_RING` wake aimed at `ring_fd` (the target's ring, owned
    /// by `target`). Returns false if this ring cannot send one (no kernel
    /// support, turned off, SQ full, shutting down): use the eventfd then.
    pub(crate) fn push_msg_wake(&mut self, ring_fd: RawFd, target: Box<dyn MsgTarget>) -> bool {
        if !self.msg_ring || self.shutting_down || self.forked() {
            return false;
        }
        let key = self.msg_sends.vacant_key();
        // SAFETY: a MSG_RING data message points at no memory; the target
        // fd stays open until this send's CQE (held in `msg_sends`).
        if !unsafe { self.try_push(lifecycle::msg_sent(key), &mut MsgWake(ring_fd)) } {
            return false;
        }
        self.msg_sends.insert(target);
        self.stats.msg_wakes_sent += 1;
        // Pushed means ours (docs/reliability.md, rule 3): if this enter fails,
        // the send stays queued for the next one, and the target is still woken
        // then.
        self.enter(0, None);
        true
    }

    /// The source-side CQE of one of our sends: release the target, and
    /// fall back to its eventfd if the message was not delivered.
    pub(super) fn msg_sent(&mut self, key: usize, res: i32) {
        let Some(target) = self.msg_sends.try_remove(key) else {
            self.stats.stale_cqes += 1;
            return;
        };
        if res < 0 {
            self.stats.msg_wake_failures += 1;
            target.fallback_wake();
        }
    }

    /// `user_data` of our sends still in the kernel.
    pub(super) fn msg_sends_in_flight(&self) -> impl Iterator<Item = u64> + '_ {
        self.msg_sends
            .iter()
            .map(|(key, _)| lifecycle::msg_sent(key))
    }

    /// Whether this ring may send `MSG_RING` wakes (kernel support and the
    /// runtime's setting).
    pub(crate) fn set_msg_ring(&mut self, on: bool) {
        self.msg_ring = on && self.probe.is_supported(opcode::MsgRingData::CODE);
    }

    /// See [`Driver::set_msg_ring`].
    pub(crate) fn msg_ring(&self) -> bool {
        self.msg_ring
    }
}

/// Sends a cross-thread wake to the runtime whose ring is `ring_fd` through
/// this thread's own ring (`IORING_OP_MSG_RING`), if this thread runs a
/// runtime that can. False: the caller uses the target's eventfd.
// (The loom models put a stand-in in its place.)
#[cfg_attr(all(test, loom), allow(dead_code))]
pub(crate) fn send_msg_wake(ring_fd: RawFd, target: Box<dyn MsgTarget>) -> bool {
    super::current::with_current(|core| {
        let Some(core) = core else {
            return false;
        };
        // Wakes are never called with the driver borrowed
        // (docs/reliability.md, rule 7); if one were, the eventfd still
        // works.
        let Ok(mut driver) = core.driver.try_borrow_mut() else {
            return false;
        };
        driver.push_msg_wake(ring_fd, target)
    })
}
