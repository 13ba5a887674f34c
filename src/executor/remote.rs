//! The part of an executor other threads can reach: the remote wake queue,
//! queued jobs, and the two ways to wake the runtime's thread.
//!
//! A wake from another thread pushes the task onto `remote` and, unless a
//! wake-up is already on its way (`notified`), wakes the runtime's thread:
//!
//! - from a thread running another curing runtime, with one
//!   `IORING_OP_MSG_RING` SQE on *that* thread's ring, aimed at ours (see
//!   `driver::msg_ring`): no syscall for us, no eventfd;
//! - from anywhere else (or if `MSG_RING` is off), by writing our eventfd,
//!   whose read sits in our ring.
//!
//! ## Descriptor lifetimes
//!
//! A `Waker` may outlive its runtime, on any thread
//! (docs/reliability.md, rule 8). The eventfd and the ring duplicate are
//! still closed when the runtime is dropped, not when the last waker goes:
//! each use takes the lock and finds `None` after close. A `MSG_RING` send
//! names our ring fd by number, and the kernel resolves it only when the
//! *sender* submits; so each send holds a [`MsgTicket`] and the duplicate is
//! closed only after the last ticket goes (the send's own CQE, or its ring's
//! drop).

use crate::executor::Job;
use crate::sync_prims::{current_thread, Arc, AtomicBool, Mutex, MutexGuard, Ordering, ThreadId};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

// The two descriptors and the one call that reach the kernel. The loom models
// (`src/loom_tests/`) put stand-ins here that record what would reach it;
// everything else in this file is the code they check.
#[cfg(not(all(test, loom)))]
use crate::driver::send_msg_wake;
#[cfg(all(test, loom))]
use crate::loom_tests::{send_msg_wake, EventFd as WakeFd, RingDup};
/// The eventfd other threads write.
#[cfg(not(all(test, loom)))]
type WakeFd = std::fs::File;
/// Our duplicate of the runtime's ring fd, named by `MSG_RING` sends.
#[cfg(not(all(test, loom)))]
type RingDup = OwnedFd;

/// Locks, ignoring poison: every update under these locks is one push,
/// take or counter step, so the data is consistent after a panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// See the module docs.
pub(crate) struct Shared {
    /// Tasks woken from other threads.
    pub(crate) remote: Mutex<Vec<u64>>,
    /// Jobs queued by other threads; refused once `alive` is false (checked
    /// under this lock, so none is queued after the final drain).
    pub(crate) jobs: Mutex<Vec<Job>>,
    /// The thread the runtime runs on.
    pub(crate) owner: ThreadId,
    /// Set when a wake-up was sent and the runtime has not drained the
    /// remote queue since; saves a wake-up per remote wake.
    pub(crate) notified: AtomicBool,
    /// False once the runtime is gone: wakes become no-ops.
    pub(crate) alive: AtomicBool,
    /// Written to wake the runtime's thread; `None` after close.
    eventfd: Mutex<Option<WakeFd>>,
    /// The target of `MSG_RING` wakes from other runtimes.
    ring: Mutex<RingFd>,
}

/// A duplicate of the runtime's ring fd and the sends that name it.
struct RingFd {
    /// `None` when `MSG_RING` is off, or after close once no send is left.
    fd: Option<RingDup>,
    /// Sends pushed on other rings and not yet done with the number.
    sends: usize,
}

impl Shared {
    pub(crate) fn new(eventfd: OwnedFd) -> Shared {
        Shared {
            remote: Mutex::new(Vec::new()),
            jobs: Mutex::new(Vec::new()),
            owner: current_thread().id(),
            notified: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            eventfd: Mutex::new(Some(WakeFd::from(eventfd))),
            ring: Mutex::new(RingFd { fd: None, sends: 0 }),
        }
    }

    /// The eventfd's number (for the driver's read), -1 after close.
    pub(crate) fn eventfd_raw(&self) -> RawFd {
        lock(&self.eventfd).as_ref().map_or(-1, |f| f.as_raw_fd())
    }

    /// Enables `MSG_RING` wakes aimed at `ring`.
    pub(crate) fn set_ring(&self, ring: OwnedFd) {
        lock(&self.ring).fd = Some(RingDup::from(ring));
    }

    /// Queues a woken task and wakes the runtime's thread.
    ///
    /// (`this` rather than `self`: loom's `Arc`, used by the loom models,
    /// cannot be a receiver.)
    pub(crate) fn push_remote(this: &Arc<Self>, task: u64) {
        if !this.alive.load(Ordering::Acquire) {
            return;
        }
        lock(&this.remote).push(task);
        Shared::notify(this);
    }

    /// Queues a job; gives it back if the runtime is gone.
    pub(crate) fn inject(this: &Arc<Self>, job: Job) -> Result<(), Job> {
        let mut jobs = lock(&this.jobs);
        if !this.alive.load(Ordering::Acquire) {
            return Err(job);
        }
        jobs.push(job);
        drop(jobs);
        Shared::notify(this);
        Ok(())
    }

    /// Takes the remote queues (on the runtime's thread) if a wake-up came.
    pub(crate) fn drain(&self) -> Option<(Vec<u64>, Vec<Job>)> {
        if !self.notified.swap(false, Ordering::AcqRel) {
            return None;
        }
        let tasks = std::mem::take(&mut *lock(&self.remote));
        let jobs = std::mem::take(&mut *lock(&self.jobs));
        Some((tasks, jobs))
    }

    /// Wakes the runtime's thread unless a wake-up is already on its way.
    fn notify(this: &Arc<Self>) {
        if this.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        if this.owner != current_thread().id() {
            if let Some((fd, ticket)) = Shared::msg_ticket(this) {
                if send_msg_wake(fd, Box::new(ticket)) {
                    return;
                }
            }
        }
        this.write_eventfd();
    }

    /// A ticket for one `MSG_RING` send, if they are on.
    fn msg_ticket(this: &Arc<Self>) -> Option<(RawFd, MsgTicket)> {
        let mut ring = lock(&this.ring);
        let fd = ring.fd.as_ref()?.as_raw_fd();
        ring.sends += 1;
        Some((fd, MsgTicket(this.clone())))
    }

    fn write_eventfd(&self) {
        if let Some(f) = lock(&self.eventfd).as_ref() {
            // A failed write can only mean the counter is saturated, which
            // already wakes the reader.
            let _ = (&*f).write(&1u64.to_ne_bytes());
        }
    }

    /// The runtime is gone: refuse wakes and jobs, drop queued jobs, close
    /// the eventfd, and the ring duplicate once no send names it.
    pub(crate) fn close(&self) {
        self.alive.store(false, Ordering::Release);
        let jobs = std::mem::take(&mut *lock(&self.jobs));
        drop(jobs);
        let eventfd = lock(&self.eventfd).take();
        drop(eventfd);
        let mut ring = lock(&self.ring);
        if ring.sends == 0 {
            let fd = ring.fd.take();
            drop(ring);
            drop(fd);
        }
    }
}

#[cfg(all(test, loom))]
impl Shared {
    /// What the loom models watch: the eventfd stand-in's wake-ups and the
    /// ring duplicate's record (if set). Call before `close`.
    pub(crate) fn model_fds(
        &self,
    ) -> (
        crate::loom_tests::Wakeups,
        Option<std::sync::Arc<crate::loom_tests::RingLog>>,
    ) {
        let wakeups = lock(&self.eventfd).as_ref().expect("open").wakeups.clone();
        let ring = lock(&self.ring).fd.as_ref().map(|d| d.log.clone());
        (wakeups, ring)
    }
}

/// One `MSG_RING` send in flight, aimed at a runtime's ring: keeps its fd
/// number valid until dropped (see the module docs).
pub(crate) struct MsgTicket(Arc<Shared>);

impl crate::driver::MsgTarget for MsgTicket {
    fn fallback_wake(&self) {
        self.0.write_eventfd();
    }
}

impl Drop for MsgTicket {
    fn drop(&mut self) {
        let mut ring = lock(&self.0.ring);
        ring.sends -= 1;
        if ring.sends == 0 && !self.0.alive.load(Ordering::Acquire) {
            let fd = ring.fd.take();
            drop(ring);
            drop(fd);
        }
    }
}

/// The thread-safe face of an executor: queue jobs, compare identities.
#[derive(Clone)]
pub(crate) struct Remote(pub(crate) Arc<Shared>);

impl Remote {
    /// Queues `job` to run on the runtime's thread; gives it back if the
    /// runtime is gone.
    pub(crate) fn inject(&self, job: Job) -> Result<(), Job> {
        Shared::inject(&self.0, job)
    }

    /// The thread the runtime runs on.
    pub(crate) fn owner(&self) -> ThreadId {
        self.0.owner
    }

    /// Whether the runtime is still there (not dropped).
    pub(crate) fn is_alive(&self) -> bool {
        self.0.alive.load(Ordering::Acquire)
    }

    /// Whether both name the same runtime.
    pub(crate) fn same(&self, other: &Remote) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
