//! The backend under the driver: what the driver asks of "a ring".
//!
//! The driver (slots, lifecycle, cancel, multishot, buffer rings) talks to
//! this type only; it does not care who executes the SQEs: the kernel's
//! io_uring ([`Ring::Uring`]), or the epoll-based emulator
//! ([`Ring::Epoll`], see `driver::emu`) where io_uring cannot be used.
//! Every method is a thin, inlined forward, so the hot path (push, enter,
//! reap) costs one predictable branch more than calling the `io_uring`
//! crate directly.
//!
//! A request reaches a backend as a [`Request`]: io_uring takes its SQE,
//! the emulator (and the model test's simulated ring) its typed
//! [`Fallback`]; each backend builds only what it takes, so the io_uring
//! path builds and pushes the SQE as if the emulator did not exist.
//!
//! The contract every backend keeps (the driver's correctness depends on
//! it):
//!
//! - a pushed SQE belongs to the backend until its CQE is drained, even if
//!   [`enter`](Ring::enter) then fails; the memory it names stays valid
//!   that long (the op lifecycle guarantees it);
//! - every pushed SQE produces at least one CQE carrying its `user_data`
//!   (more with `F_MORE` for multishot ops), in any order;
//! - `ASYNC_CANCEL` posts its own CQE, and the target still posts its CQE.

use super::multishot::MultiOp;
use super::op::Op;
use crate::sys::syscall::Fallback;
use io_uring::squeue::Entry;
use io_uring::IoUring;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// One request for a backend: its SQE (io_uring) or its typed fallback
/// (the emulator), built on demand. Either may be built more than once
/// (a push that found the queue full is retried), and must describe the
/// same request each time.
pub(crate) trait Request {
    /// The SQE, without `user_data`.
    fn sqe(&mut self) -> Entry;
    /// How the request runs without io_uring.
    fn fallback(&mut self) -> Fallback;
}

impl<T: Op> Request for T {
    #[inline(always)]
    fn sqe(&mut self) -> Entry {
        Op::sqe(self)
    }

    fn fallback(&mut self) -> Fallback {
        Op::fallback(self)
    }
}

/// A multishot op as a [`Request`].
pub(crate) struct Multi<'a, T>(pub(crate) &'a mut T);

impl<T: MultiOp> Request for Multi<'_, T> {
    #[inline(always)]
    fn sqe(&mut self) -> Entry {
        self.0.sqe()
    }

    fn fallback(&mut self) -> Fallback {
        self.0.fallback()
    }
}

/// The backend that runs the driver's SQEs. See the module docs.
// One per runtime, so its size does not matter; the io_uring stays inline
// (no pointer chase on each push), the other backends are boxed.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Ring {
    /// The kernel's io_uring. `ManuallyDrop` so that a forked child never
    /// unmaps (or closes) what is not its own: see [`Ring::close`].
    Uring(ManuallyDrop<IoUring>),
    /// Testing only: the simulated ring of the model test (`sim`), where
    /// the test decides what the "kernel" does.
    #[cfg(test)]
    Sim(Box<super::sim::SimRing>),
    /// The io_uring emulator on epoll and a thread pool. `ManuallyDrop`
    /// for the same reason: a forked child must not stop the parent's pool
    /// or close what it shares with it.
    Epoll(ManuallyDrop<Box<super::emu::Emu>>),
}

impl Ring {
    /// Whether this is the kernel's io_uring (which takes SQEs; the other
    /// backends take ops' fallbacks).
    #[inline(always)]
    pub(crate) fn is_uring(&self) -> bool {
        matches!(self, Ring::Uring(_))
    }

    /// Queues `sqe` on the kernel's ring; false if the submission queue is
    /// full.
    ///
    /// # Safety
    ///
    /// Everything `sqe` points at must stay valid until its CQE is drained.
    ///
    /// # Panics
    ///
    /// On a backend other than io_uring (see [`is_uring`](Ring::is_uring)).
    #[inline(always)]
    pub(crate) unsafe fn push_entry(&mut self, sqe: &Entry) -> bool {
        let Ring::Uring(r) = self else {
            unreachable!("SQEs go only to io_uring")
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { r.submission().push(sqe) }.is_ok()
    }

    /// Queues `req` under `user_data`, building only what this backend
    /// takes; false if the submission queue is full.
    ///
    /// # Safety
    ///
    /// Everything `req` points at must stay valid until its CQE is drained.
    pub(crate) unsafe fn push(&mut self, user_data: u64, req: &mut impl Request) -> bool {
        if self.is_uring() {
            // SAFETY: forwarded from this function's contract.
            unsafe { self.push_entry(&req.sqe().user_data(user_data)) }
        } else {
            self.push_fallback(user_data, req.fallback())
        }
    }

    /// Queues an op's fallback under `user_data` on a backend that runs
    /// fallbacks; false if its submission queue is full. (The addresses in
    /// `fallback` must stay valid until its completion is drained: the
    /// driver's contract, as for an SQE.)
    ///
    /// # Panics
    ///
    /// On io_uring, which takes SQEs.
    pub(crate) fn push_fallback(&mut self, user_data: u64, fallback: Fallback) -> bool {
        match self {
            Ring::Uring(_) => unreachable!("io_uring takes SQEs"),
            #[cfg(test)]
            Ring::Sim(r) => r.push(user_data, fallback),
            Ring::Epoll(e) => e.push(user_data, fallback).is_ok(),
        }
    }

    /// Whether no SQE waits to be submitted.
    #[inline]
    pub(crate) fn sq_is_empty(&mut self) -> bool {
        match self {
            Ring::Uring(r) => r.submission().is_empty(),
            #[cfg(test)]
            Ring::Sim(r) => r.sq_is_empty(),
            Ring::Epoll(e) => e.sq_is_empty(),
        }
    }

    /// Whether no CQE waits to be drained.
    #[inline]
    pub(crate) fn cq_is_empty(&mut self) -> bool {
        match self {
            Ring::Uring(r) => r.completion().is_empty(),
            #[cfg(test)]
            Ring::Sim(r) => r.cq_is_empty(),
            Ring::Epoll(e) => e.cq_is_empty(),
        }
    }

    /// Whether completions wait that only an [`enter`](Ring::enter) brings
    /// out: deferred task work, or overflowed CQEs.
    #[inline]
    pub(crate) fn has_hidden_work(&mut self) -> bool {
        match self {
            Ring::Uring(r) => {
                let sq = r.submission();
                sq.taskrun() || sq.cq_overflow()
            }
            #[cfg(test)]
            Ring::Sim(r) => r.has_hidden_work(),
            Ring::Epoll(e) => e.has_hidden_work(),
        }
    }

    /// Whether the CQ overflowed (completions wait in the kernel's list).
    #[inline]
    pub(crate) fn cq_overflow(&mut self) -> bool {
        match self {
            Ring::Uring(r) => r.submission().cq_overflow(),
            #[cfg(test)]
            Ring::Sim(r) => r.cq_overflow(),
            // The emulator's CQ grows instead (nothing waits elsewhere).
            Ring::Epoll(_) => false,
        }
    }

    /// Submits everything queued and waits for `want` completions, at most
    /// `timeout` (`None`: no limit). Errors are the raw `io_uring_enter`
    /// ones (`ETIME` on timeout, `EINTR`, `EBUSY`, ...); the driver decides.
    #[inline]
    pub(crate) fn enter(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<usize> {
        match self {
            Ring::Uring(r) => {
                let submitter = r.submitter();
                match timeout {
                    Some(d) => {
                        let ts = io_uring::types::Timespec::from(d);
                        let args = io_uring::types::SubmitArgs::new().timespec(&ts);
                        submitter.submit_with_args(want, &args)
                    }
                    None => submitter.submit_and_wait(want),
                }
            }
            #[cfg(test)]
            Ring::Sim(r) => r.enter(want, timeout),
            Ring::Epoll(e) => e.enter(want, timeout),
        }
    }

    /// Moves every ready CQE into `out` as `(user_data, result, flags)`.
    #[inline]
    pub(crate) fn drain(&mut self, out: &mut Vec<(u64, i32, u32)>) {
        match self {
            Ring::Uring(r) => {
                // Sized first and filled in place: `extend` from the CQ's
                // iterator checks capacity per entry (about a third of the
                // reap's cost per CQE).
                let mut cq = r.completion();
                let start = out.len();
                out.resize(start + cq.len(), (0, 0, 0));
                for (slot, c) in out[start..].iter_mut().zip(&mut cq) {
                    *slot = (c.user_data(), c.result(), c.flags());
                }
            }
            #[cfg(test)]
            Ring::Sim(r) => r.drain(out),
            Ring::Epoll(e) => e.drain(out),
        }
    }

    /// The fd that names this ring (for `MSG_RING` targets and
    /// `/proc/self/fdinfo`).
    pub(crate) fn fd(&self) -> RawFd {
        match self {
            Ring::Uring(r) => r.as_raw_fd(),
            #[cfg(test)]
            Ring::Sim(_) => -1,
            Ring::Epoll(e) => e.fd(),
        }
    }

    /// The CQ size: the cap on ops in flight (docs/reliability.md, rule 6).
    pub(crate) fn cq_entries(&self) -> u32 {
        match self {
            Ring::Uring(r) => r.params().cq_entries(),
            #[cfg(test)]
            Ring::Sim(r) => r.cq_entries(),
            Ring::Epoll(e) => e.cq_entries(),
        }
    }

    /// Caps the async workers; `max` is `[bounded, unbounded]` in, the
    /// previous limits out.
    pub(crate) fn register_iowq_max_workers(&mut self, max: &mut [u32; 2]) -> io::Result<()> {
        match self {
            Ring::Uring(r) => r.submitter().register_iowq_max_workers(max),
            #[cfg(test)]
            Ring::Sim(_) => Err(super::sim::unsupported()),
            Ring::Epoll(e) => {
                e.register_iowq_max_workers(max);
                Ok(())
            }
        }
    }

    /// Makes an empty registered-buffer table of `slots` entries.
    pub(crate) fn register_buffers_sparse(&mut self, slots: u32) -> io::Result<()> {
        match self {
            Ring::Uring(r) => r.submitter().register_buffers_sparse(slots),
            #[cfg(test)]
            Ring::Sim(_) => Err(super::sim::unsupported()),
            Ring::Epoll(e) => e.register_buffers_sparse(slots),
        }
    }

    /// Sets slot `index` of the buffer table to `iov` (empty: unregister).
    ///
    /// # Safety
    ///
    /// The memory `iov` names must stay valid while it is registered.
    pub(crate) unsafe fn register_buffer(
        &mut self,
        index: u32,
        iov: libc::iovec,
    ) -> io::Result<()> {
        match self {
            // SAFETY: forwarded from this function's contract.
            Ring::Uring(r) => unsafe {
                r.submitter()
                    .register_buffers_update(index, &[iov], None)
                    .map(drop)
            },
            #[cfg(test)]
            Ring::Sim(_) => Err(super::sim::unsupported()),
            Ring::Epoll(e) => e.register_buffer(index, iov),
        }
    }

    /// Makes an empty registered-file table of `slots` entries.
    pub(crate) fn register_files_sparse(&mut self, slots: u32) -> io::Result<()> {
        match self {
            Ring::Uring(r) => r.submitter().register_files_sparse(slots),
            #[cfg(test)]
            Ring::Sim(_) => Err(super::sim::unsupported()),
            Ring::Epoll(e) => e.register_files_sparse(slots),
        }
    }

    /// Sets slot `index` of the file table to `fd` (-1: empty it).
    pub(crate) fn register_file(&mut self, index: u32, fd: RawFd) -> io::Result<()> {
        match self {
            Ring::Uring(r) => r.submitter().register_files_update(index, &[fd]).map(drop),
            #[cfg(test)]
            Ring::Sim(_) => Err(super::sim::unsupported()),
            Ring::Epoll(e) => e.register_file(index, fd),
        }
    }

    /// Registers a provided-buffer ring of `entries` at `addr` as group
    /// `bgid`.
    ///
    /// # Safety
    ///
    /// The ring memory must stay mapped until it is unregistered or the
    /// ring is closed.
    pub(crate) unsafe fn register_buf_ring(
        &mut self,
        addr: u64,
        entries: u16,
        bgid: u16,
    ) -> io::Result<()> {
        match self {
            // SAFETY: forwarded from this function's contract.
            Ring::Uring(r) => unsafe {
                r.submitter()
                    .register_buf_ring_with_flags(addr, entries, bgid, 0)
            },
            #[cfg(test)]
            Ring::Sim(_) => Err(super::sim::unsupported()),
            Ring::Epoll(e) => e.register_buf_ring(addr, entries, bgid),
        }
    }

    /// Unregisters provided-buffer group `bgid`.
    pub(crate) fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        match self {
            Ring::Uring(r) => r.submitter().unregister_buf_ring(bgid),
            #[cfg(test)]
            Ring::Sim(_) => Err(super::sim::unsupported()),
            Ring::Epoll(e) => e.unregister_buf_ring(bgid),
        }
    }

    /// Closes the ring.
    ///
    /// # Safety
    ///
    /// Called once, last (the ring is not used afterwards), and only in the
    /// process that made the ring (a fork child's copy of the mappings is
    /// absent: MADV_DONTFORK).
    pub(crate) unsafe fn close(&mut self) {
        match self {
            // SAFETY: forwarded from this function's contract.
            Ring::Uring(r) => unsafe { ManuallyDrop::drop(r) },
            #[cfg(test)]
            Ring::Sim(r) => r.close(),
            // SAFETY: as above.
            Ring::Epoll(e) => unsafe { ManuallyDrop::drop(e) },
        }
    }
}
