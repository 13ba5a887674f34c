//! Ops run on the runtime's blocking pool (`blocking::pool`) instead of
//! the kernel's ring: a [`Job`] runs one op's syscall on a pool thread and
//! posts its result to a [`Sink`], which wakes the driver's thread through
//! an eventfd: the epoll emulator's (in its epoll set) for its file ops,
//! or the runtime's wake-up eventfd (read in the ring) for an op whose
//! opcode the kernel lacks (see `Driver::push_fallback`).
//!
//! A job posts exactly once: its result when it ran, or `-ECANCELED` when
//! it is dropped unrun (cancelled while queued, dropped by a closing pool,
//! or refused because no thread could start). So every op that went to
//! the pool gets its completion, as with the kernel.
//!
//! At close the owner closes the sink first: a thread still inside a
//! syscall (the driver leaked its op's memory after the shutdown bound)
//! holds only an `Arc` of the sink and never writes the (closed) eventfd.

use crate::sys::syscall::Syscall;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard};

/// A completion as the backends post it: `(user_data, res, flags)`.
type Cqe = (u64, i32, u32);

/// Where pool threads leave results for the driver's thread.
pub(super) struct Sink {
    state: Mutex<SinkState>,
    /// The eventfd to write when `done` becomes non-empty (kept open by
    /// the sink's owner until after `closed` is set), or -1.
    efd: RawFd,
}

struct SinkState {
    /// Finished jobs: `(user_data, res, flags)`.
    done: Vec<Cqe>,
    closed: bool,
}

impl Sink {
    pub(super) fn new(efd: RawFd) -> Sink {
        Sink {
            state: Mutex::new(SinkState {
                done: Vec::new(),
                closed: false,
            }),
            efd,
        }
    }

    fn lock(&self) -> MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leaves `(user_data, res)` for the driver's thread and wakes it if
    /// the list was empty (never after close).
    fn post(&self, user_data: u64, res: i32) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.done.push((user_data, res, 0));
        if st.done.len() == 1 && self.efd >= 0 {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live local to the eventfd,
            // which the sink's owner keeps open until after it has set
            // `closed` under this lock.
            unsafe { libc::write(self.efd, (&one as *const u64).cast(), 8) };
        }
    }

    /// Moves the results left so far to the end of `out`; returns how
    /// many.
    pub(super) fn collect(&self, out: &mut impl Extend<Cqe>) -> usize {
        let mut st = self.lock();
        let n = st.done.len();
        out.extend(st.done.drain(..));
        n
    }

    /// No post after this returns (see the module docs).
    pub(super) fn close(&self) {
        self.lock().closed = true;
    }
}

/// One op's syscall, on its way to a pool thread.
pub(super) struct Job {
    call: Syscall,
    user_data: u64,
    sink: Arc<Sink>,
    /// Set once the syscall ran; posted by `drop`.
    res: Option<i32>,
}

impl Job {
    pub(super) fn new(call: Syscall, user_data: u64, sink: Arc<Sink>) -> Job {
        Job {
            call,
            user_data,
            sink,
            res: None,
        }
    }

    /// Runs the syscall (it may block); the result is posted as the job is
    /// dropped, right after.
    pub(super) fn run(mut self) {
        // The call's addresses name memory its op owns until its
        // completion, which is posted only when this job is dropped, after
        // the call returned (the driver's contract); fixed-file slots were
        // resolved before the job was queued.
        let res =
            // SAFETY: as said just above.
            unsafe { self.call.run(false) };
        self.res = Some(res);
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let res = self.res.take().unwrap_or(-libc::ECANCELED);
        self.sink.post(self.user_data, res);
    }
}
