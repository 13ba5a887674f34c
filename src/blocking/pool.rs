//! One runtime's blocking threads: the pool behind
//! [`spawn_blocking`](crate::spawn_blocking) and behind the epoll driver's
//! file and path operations (a leaf module: it knows neither the runtime
//! nor the driver, only closures).
//!
//! Threads start on demand and exit after `keep_alive` idle. Two kinds of
//! work share them, each with its own cap, so neither can starve the
//! other (user closures that block for ever cannot stop the epoll driver's
//! file operations, which they may be waiting for):
//!
//! - **plain work** ([`Pool::submit`]): at most `max_threads` run at once;
//! - **I/O jobs** ([`Pool::submit_io`]), queued by the epoll driver: each
//!   has an id, can be cancelled while still queued ([`Pool::cancel`]
//!   removes and returns it), is known as running while a thread runs it,
//!   and at most `io_cap` of them run at once (the epoll driver's stand-in
//!   for the kernel's bounded io-wq workers; see
//!   [`Pool::set_io_cap`]). A job posts its own result (the closure
//!   carries the way back to its driver), so the pool never learns what
//!   the work does.
//!
//! At close, queued work is dropped (an I/O job's drop reports it
//! cancelled), idle threads exit at once, and running work finishes.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Default cap on a runtime's blocking threads.
pub(crate) const DEFAULT_MAX_THREADS: usize = 64;
/// Default idle time after which a blocking thread exits.
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Default cap on I/O jobs running at once.
pub(crate) const DEFAULT_IO_CAP: usize = 16;

/// A closure for a pool thread.
pub(crate) type Work = Box<dyn FnOnce() + Send>;

/// One queued closure; `io` is its I/O-job id (0: plain work).
struct Job {
    io: u64,
    work: Work,
}

/// One runtime's blocking threads. See the module docs.
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    /// Idle threads wait here for work (or for `keep_alive` to pass).
    work_ready: Condvar,
    /// Most plain closures at once (threads: this plus the I/O cap).
    max_threads: usize,
    /// How long an idle thread waits before exiting.
    keep_alive: Duration,
}

struct PoolState {
    /// Work no thread has taken yet, in submission order.
    queue: VecDeque<Job>,
    /// Of `queue`, the I/O jobs.
    queued_io: usize,
    /// Ids of the I/O jobs a thread runs now.
    running_io: Vec<u64>,
    /// Plain closures a thread runs now.
    running_plain: usize,
    /// Most plain closures running at once.
    max_plain: usize,
    /// Most I/O jobs running at once.
    io_cap: usize,
    /// The id of the next I/O job (never 0).
    next_io: u64,
    /// Threads alive.
    threads: usize,
    /// Threads waiting for work they may run.
    idle: usize,
    /// Set when the runtime is dropped: queued work is dropped, idle threads
    /// exit, running closures finish.
    closed: bool,
}

/// Counts of a runtime's blocking pool, see
/// [`blocking_pool`](crate::runtime::blocking_pool).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Threads alive (running a closure or idle).
    pub threads: usize,
    /// Of those, threads waiting for work.
    pub idle: usize,
    /// Closures waiting for a thread (on the epoll driver, file and path
    /// operations too).
    pub queued: usize,
}

/// What [`Pool::cancel`] found.
pub(crate) enum Cancelled {
    /// Still queued: taken out unrun; the caller drops it.
    Removed(Work),
    /// A thread runs it now; it will complete by itself.
    Running,
    /// Not in the pool (finished, or never an I/O job of this pool).
    NotFound,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_threads", &self.max_threads)
            .field("stats", &self.stats())
            .finish()
    }
}

impl PoolState {
    /// Whether a thread may start an I/O job now.
    fn io_room(&self) -> bool {
        self.running_io.len() < self.io_cap
    }

    /// Whether a thread may start plain work now.
    fn plain_room(&self) -> bool {
        self.running_plain < self.max_plain
    }

    /// Queued work a thread could start now.
    fn runnable(&self) -> usize {
        let plain = self.queue.len() - self.queued_io;
        let plain_room = self.max_plain.saturating_sub(self.running_plain);
        let io_room = self.io_cap.saturating_sub(self.running_io.len());
        plain.min(plain_room) + self.queued_io.min(io_room)
    }

    /// Takes the first job a thread may start now, if any.
    fn take(&mut self) -> Option<Job> {
        let (io, plain) = (self.io_room(), self.plain_room());
        let pos = self
            .queue
            .iter()
            .position(|j| if j.io != 0 { io } else { plain })?;
        let job = self.queue.remove(pos)?;
        if job.io != 0 {
            self.queued_io -= 1;
            self.running_io.push(job.io);
        } else {
            self.running_plain += 1;
        }
        Some(job)
    }
}

impl Pool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                queued_io: 0,
                running_io: Vec::new(),
                running_plain: 0,
                max_plain: max_threads.max(1),
                io_cap: DEFAULT_IO_CAP,
                next_io: 1,
                threads: 0,
                idle: 0,
                closed: false,
            }),
            work_ready: Condvar::new(),
            max_threads: max_threads.max(1),
            keep_alive,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Work runs outside the lock; a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `work`, starting a thread if every thread is busy and the cap
    /// allows one. After close, `work` is dropped unrun.
    pub(crate) fn submit(self: &Arc<Self>, work: Work) {
        self.enqueue(Job { io: 0, work });
    }

    /// Queues an I/O job and returns its id (for [`cancel`](Pool::cancel)).
    /// After close, or if no thread can be started at all, `work` is
    /// dropped unrun (its drop reports that to whoever queued it).
    pub(crate) fn submit_io(self: &Arc<Self>, work: Work) -> u64 {
        let id = {
            let mut state = self.lock();
            let id = state.next_io;
            state.next_io = state.next_io.wrapping_add(1).max(1);
            id
        };
        self.enqueue(Job { io: id, work });
        id
    }

    fn enqueue(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        if state.closed {
            drop(state);
            drop(job);
            return;
        }
        state.queued_io += usize::from(job.io != 0);
        state.queue.push_back(job);
        // Threads not running anything: idle, or started and about to take
        // work. Start another only for work none of them will take.
        let free = state.threads - state.running_plain - state.running_io.len();
        if state.runnable() > free && state.threads < self.max_threads + state.io_cap {
            state.threads += 1;
            drop(state);
            let pool = self.clone();
            let spawned = std::thread::Builder::new()
                .name("curing-blocking".into())
                .spawn(move || pool.worker());
            if spawned.is_err() {
                self.spawn_failed();
            }
            return;
        }
        drop(state);
        self.work_ready.notify_one();
    }

    /// No thread could be started: plain work waits for a busy thread; with
    /// no thread at all, I/O jobs are dropped unrun (reported as failed to
    /// their driver, as the kernel fails a request it cannot start) rather
    /// than left waiting for a thread that may never come.
    #[cold]
    fn spawn_failed(&self) {
        let dropped: Vec<Job> = {
            let mut state = self.lock();
            state.threads -= 1;
            if state.threads > 0 {
                return;
            }
            let (io, plain): (VecDeque<Job>, VecDeque<Job>) =
                state.queue.drain(..).partition(|j| j.io != 0);
            state.queue = plain;
            state.queued_io = 0;
            io.into_iter().collect()
        };
        drop(dropped);
    }

    fn worker(self: Arc<Self>) {
        crate::sys::thread::block_async_signals();
        let mut state = self.lock();
        loop {
            if let Some(job) = state.take() {
                drop(state);
                // The closure's panic is caught by the work itself (sent to
                // its JoinHandle, or a syscall that cannot panic); this is
                // only a last resort.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.work));
                state = self.lock();
                if job.io != 0 {
                    state.running_io.retain(|&id| id != job.io);
                } else {
                    state.running_plain -= 1;
                }
                if state.runnable() > 0 && state.idle > 0 {
                    // A thread may be waiting only for room of this kind.
                    self.work_ready.notify_one();
                }
                continue;
            }
            if state.closed {
                break;
            }
            state.idle += 1;
            let (s, timeout) = self
                .work_ready
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = s;
            state.idle -= 1;
            if timeout.timed_out() && state.runnable() == 0 {
                break;
            }
        }
        state.threads -= 1;
    }

    /// Cancels the I/O job `id` if no thread has started it.
    pub(crate) fn cancel(&self, id: u64) -> Cancelled {
        let mut state = self.lock();
        if let Some(pos) = state.queue.iter().position(|j| j.io == id) {
            let job = state.queue.remove(pos).expect("position is in range");
            state.queued_io -= 1;
            return Cancelled::Removed(job.work);
        }
        if state.running_io.contains(&id) {
            return Cancelled::Running;
        }
        Cancelled::NotFound
    }

    /// Sets the cap on I/O jobs running at once (0: unchanged); returns the
    /// previous cap.
    pub(crate) fn set_io_cap(&self, cap: u32) -> u32 {
        let mut state = self.lock();
        let old = state.io_cap as u32;
        if cap > 0 {
            state.io_cap = cap as usize;
        }
        drop(state);
        // Jobs held back by the old cap may run now.
        self.work_ready.notify_all();
        old
    }

    /// The runtime is going away: drop queued work, let idle threads go.
    pub(crate) fn close(&self) {
        let queued = {
            let mut state = self.lock();
            state.closed = true;
            state.queued_io = 0;
            std::mem::take(&mut state.queue)
        };
        drop(queued);
        self.work_ready.notify_all();
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.lock();
        PoolStats {
            threads: state.threads,
            idle: state.idle,
            queued: state.queue.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn io_jobs_cancel_while_queued_and_respect_their_cap() {
        let pool = Arc::new(Pool::new(4, Duration::from_secs(1)));
        assert_eq!(pool.set_io_cap(1), DEFAULT_IO_CAP as u32);
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let first = pool.submit_io(Box::new(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        }));
        started.recv().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let ran2 = ran.clone();
        let second = pool.submit_io(Box::new(move || {
            ran2.fetch_add(1, Ordering::SeqCst);
        }));
        // Plain work is not held back by the I/O cap.
        let (plain_tx, plain) = mpsc::channel();
        pool.submit(Box::new(move || plain_tx.send(()).unwrap()));
        plain.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(pool.cancel(first), Cancelled::Running));
        assert!(matches!(pool.cancel(second), Cancelled::Removed(_)));
        assert!(matches!(pool.cancel(second), Cancelled::NotFound));
        release.send(()).unwrap();
        pool.close();
        assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled job never runs");
        assert_eq!(pool.stats().queued, 0);
    }
}
