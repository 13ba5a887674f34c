//! Ops whose opcode the kernel lacks, run by the driver itself from the
//! op's own fallback (`Op::fallback`), so no I/O type needs a second code
//! path for an older kernel.
//!
//! - An **inline** fallback (`socket`, `shutdown`, `close`, a NOP) runs at
//!   once, on this thread: the op completes in its first poll.
//! - A **blocking** fallback (`ftruncate`, `openat`, `statx`, the path ops,
//!   file I/O) runs on the runtime's blocking pool (see `jobs`): the op
//!   gets a slot in the op table like any other, and its result comes back
//!   as a completion through the pool's sink, which wakes the ring through
//!   the runtime's wake-up eventfd. Dropping its future moves the op into
//!   the slot until the job has run, exactly as with the kernel.
//! - A **readiness** fallback (a receive, a send, an accept) is not run on
//!   an io_uring backend: every kernel curing starts on has those opcodes,
//!   so the op fails with `Unsupported`, naming the opcode.
//!
//! (The epoll backend runs every op from its fallback; see `emu`.)

use super::jobs::{Job, Sink};
use super::lifecycle::Lifecycle;
use super::op::Completion;
use super::ring::Request;
use super::{Driver, Pushed};
use crate::blocking::Pool;
use crate::sys::syscall::{Run, Syscall};
use crate::wake::Wakeup;
use std::sync::Arc;
use std::task::Waker;

/// The driver's state for ops run on the blocking pool.
#[derive(Default)]
pub(super) struct Offload {
    /// The runtime's blocking pool (none for a simulated ring).
    pool: Option<Arc<Pool>>,
    /// Where the pool leaves results; made at the first job, with the
    /// wake-up eventfd the driver has by then.
    sink: Option<Arc<Sink>>,
    /// Jobs whose result the driver has not collected yet.
    outstanding: usize,
}

impl Offload {
    /// Ops of a driver on `pool`.
    pub(super) fn new(pool: Arc<Pool>) -> Offload {
        Offload {
            pool: Some(pool),
            ..Offload::default()
        }
    }

    /// Moves the results of finished jobs to `out`.
    #[inline]
    pub(super) fn collect(&mut self, out: &mut Vec<(u64, i32, u32)>) {
        if self.outstanding > 0 {
            if let Some(sink) = &self.sink {
                self.outstanding -= sink.collect(out);
            }
        }
    }

    /// No job posts after this (shutdown gave up waiting for them).
    pub(super) fn close(&self) {
        if let Some(sink) = &self.sink {
            sink.close();
        }
    }
}

impl Driver {
    /// [`push`](Driver::push) of an op the backend cannot run: its fallback
    /// instead (see the module docs).
    #[cold]
    #[inline(never)]
    pub(super) fn push_fallback(
        &mut self,
        req: &mut impl Request,
        waker: &Waker,
        slot_wait: &mut Option<u64>,
    ) -> Pushed {
        let fallback = req.fallback();
        match fallback.run {
            Run::Inline if fallback.call != Syscall::Unsupported => Pushed::Inline,
            Run::Blocking | Run::ByFileType if self.offload.pool.is_some() => {
                self.push_job(fallback.call, waker, slot_wait)
            }
            _ => Pushed::Unsupported,
        }
    }

    /// Runs the inline fallback of `req` now (after [`Pushed::Inline`]),
    /// on this thread.
    #[cold]
    #[inline(never)]
    pub(crate) fn run_inline(&mut self, req: &mut impl Request) -> Completion {
        let fallback = req.fallback();
        debug_assert_eq!(fallback.run, Run::Inline);
        // SAFETY: the call's addresses name memory of the op, which its
        // future (being polled now) owns for the whole call.
        let res = unsafe { fallback.call.run(false) };
        self.stats.ops_submitted += 1;
        self.stats.ops_completed += 1;
        Completion::from_raw(res, 0)
    }

    /// Queues `call` on the blocking pool under a new slot.
    fn push_job(&mut self, call: Syscall, waker: &Waker, slot_wait: &mut Option<u64>) -> Pushed {
        if self.at_cap(waker, slot_wait) {
            return Pushed::Later(None);
        }
        let wakeup = Wakeup::of(waker);
        let (generation, user_data) = self.next_op_ids();
        let wake_fd = self.wake_fd;
        let offload = &mut self.offload;
        let sink = offload
            .sink
            .get_or_insert_with(|| Arc::new(Sink::new(wake_fd)))
            .clone();
        let pool = offload.pool.as_ref().expect("checked by the caller");
        // The job posts exactly once (its result, or -ECANCELED if the pool
        // drops it unrun), so the slot always gets its completion.
        let job = Job::new(call, user_data, sink);
        pool.submit_io(Box::new(move || job.run()));
        offload.outstanding += 1;
        self.slots.insert(generation, Lifecycle::Waiting(wakeup));
        self.stats.ops_submitted += 1;
        Pushed::InFlight(user_data)
    }
}
