//! Completions: each reaped CQE goes into its op's slot (or to the
//! driver's own requests and multishot ops), and the wake-ups and finished
//! abandoned ops it causes are collected for the runtime, which wakes and
//! finishes them after releasing the driver (docs/reliability.md, rule 7).

use super::lifecycle::{self, Abandoned, Lifecycle, WAKE_DATA};
use super::{Completion, Driver, RawCqe};
use crate::wake::Wakes;

impl Driver {
    /// Moves every CQE into its slot; collects wakers and finished ops.
    pub(crate) fn reap(&mut self) {
        let mut buf = std::mem::take(&mut self.cqe_buf);
        self.ring.drain(&mut buf);
        self.offload.collect(&mut buf);
        for &(user_data, res, flags) in &buf {
            self.dispatch(user_data, res, flags);
        }
        buf.clear();
        self.cqe_buf = buf;
    }

    /// One CQE: a single-shot op's (the common case, checked first) or
    /// another's.
    #[inline]
    fn dispatch(&mut self, user_data: u64, res: i32, flags: u32) {
        self.stats.cqes += 1;
        self.stats.efault_cqes += u64::from(res == -libc::EFAULT);
        if lifecycle::is_op(user_data) {
            self.dispatch_op(user_data, res, flags);
        } else {
            self.dispatch_special(user_data, res, flags);
        }
    }

    /// A CQE of a multishot op or of the driver's own requests.
    #[inline(never)]
    fn dispatch_special(&mut self, user_data: u64, res: i32, flags: u32) {
        if lifecycle::is_stream(user_data) {
            return self.dispatch_multi(user_data, res, flags);
        }
        match user_data {
            lifecycle::CANCEL_DATA => return,
            WAKE_DATA => {
                self.wake_armed = false;
                return;
            }
            lifecycle::MSG_WAKE_DATA => {
                self.stats.msg_wakes_received += 1;
                return;
            }
            _ => {}
        }
        if let Some(key) = lifecycle::msg_sent_key(user_data) {
            return self.msg_sent(key, res);
        }
        // Matches nothing the driver sent: stale (docs/reliability.md,
        // rule 4).
        self.stats.stale_cqes += 1;
        let _ = flags;
    }

    /// A CQE of a single-shot op in `slots`.
    #[inline]
    fn dispatch_op(&mut self, user_data: u64, res: i32, flags: u32) {
        let (key, generation) = lifecycle::split(user_data);
        let state = match self.slots.get_mut(key, generation) {
            Some(state) if !matches!(state, Lifecycle::Completed(_) | Lifecycle::Streaming(_)) => {
                state
            }
            // Late or duplicate: belongs to no live op (docs/reliability.md,
            // rule 4).
            _ => {
                self.stats.stale_cqes += 1;
                return;
            }
        };
        crate::trace::op_completed(user_data, res);
        let raw = RawCqe { res, flags };
        match std::mem::replace(state, Lifecycle::Completed(raw)) {
            Lifecycle::Waiting(waker) => self.wakes.push(waker),
            Lifecycle::Abandoned(op) => {
                self.free_completed(key);
                let completion = raw.completion();
                self.stats.late_completions += u64::from(completion.result.is_ok());
                self.finished.push((op, completion));
            }
            Lifecycle::Completed(_) | Lifecycle::Streaming(_) => unreachable!("filtered out above"),
        }
    }

    /// Hands the collected wakers and finished ops to the caller, who calls
    /// and finishes them after releasing the borrow. Reuses the vectors.
    pub(crate) fn take_ready(
        &mut self,
        wakes: &mut Wakes,
        finished: &mut Vec<(Box<dyn Abandoned>, Completion)>,
    ) {
        std::mem::swap(&mut self.wakes, wakes);
        std::mem::swap(&mut self.finished, finished);
    }

    /// Whether wakes or finished ops wait to be handed out (queued during a
    /// task's poll, e.g. a freed slot's waiters): the runtime must not park
    /// on them.
    pub(crate) fn has_pending_wakes(&self) -> bool {
        !self.wakes.is_empty() || !self.finished.is_empty()
    }
}
