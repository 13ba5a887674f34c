//! Cancellation: ask the kernel, then keep waiting for the real completion.
//!
//! The rule, written once here: when an op's future is dropped while the op
//! is in flight, the driver
//!
//! 1. keeps the op (its buffers, addresses, fd) in the slot as
//!    [`Lifecycle::Abandoned`](super::lifecycle::Lifecycle::Abandoned);
//! 2. pushes an `ASYNC_CANCEL` for the op's `user_data`;
//! 3. frees the op only when the op's *own* CQE arrives, whatever the cancel
//!    CQE says (`-ENOENT`, `-EALREADY` or 0), and then lets the op release
//!    what a late success created (a new fd is closed, received bytes are
//!    stashed for the stream's next read).
//!
//! A cancel that finds the submission queue full and cannot make room right
//! away is kept in `pending_cancels` and pushed on the next flush: it is
//! never lost, and it never blocks the dropping task.

use super::lifecycle::CANCEL_DATA;
use super::ring::Request;
use super::Driver;
use crate::sys::syscall::{Fallback, Syscall};
use io_uring::opcode;
use io_uring::squeue::Entry;

/// `ASYNC_CANCEL` of the request whose `user_data` is the target: by
/// `user_data` on io_uring, found where it waits by the emulator.
struct Cancel(u64);

impl Request for Cancel {
    fn sqe(&mut self) -> Entry {
        opcode::AsyncCancel::new(self.0).build()
    }

    fn fallback(&mut self) -> Fallback {
        Fallback::inline(Syscall::AsyncCancel { target: self.0 })
    }
}

impl Driver {
    /// Requests cancellation of the op with `target` as its `user_data`.
    pub(super) fn push_cancel(&mut self, target: u64) {
        // SAFETY: an ASYNC_CANCEL points at no memory.
        if !unsafe { self.try_push(CANCEL_DATA, &mut Cancel(target)) } {
            self.pending_cancels.push(target);
        }
        self.stats.ops_cancelled += 1;
    }

    /// Pushes the cancels that earlier found the SQ full, while there is room.
    pub(super) fn push_pending_cancels(&mut self) {
        while let Some(&target) = self.pending_cancels.last() {
            // SAFETY: an ASYNC_CANCEL points at no memory.
            if !unsafe { self.ring.push(CANCEL_DATA, &mut Cancel(target)) } {
                return;
            }
            self.pending_cancels.pop();
        }
    }

    /// At shutdown: cancel everything the kernel still holds, one request
    /// per op (each is matched by its own `user_data`, which works on every
    /// kernel, unlike `IORING_ASYNC_CANCEL_ANY`).
    pub(super) fn cancel_everything(&mut self) {
        let targets: Vec<u64> = self.in_kernel_user_data().collect();
        for target in targets {
            self.push_cancel(target);
        }
    }
}
