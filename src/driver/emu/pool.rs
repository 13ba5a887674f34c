//! The emulator's blocking pool: threads that run the syscalls which may
//! block on a disk (regular files, block devices, path operations), like
//! the kernel's io-wq "bounded" workers.
//!
//! A job is a decoded [`Sqe`] (integers only: the addresses in it stay
//! valid until its CQE, by the driver's contract). A thread takes a job,
//! runs the syscall, appends `(user_data, res)` to the done list and, if
//! the list was empty, writes the eventfd the emulator's epoll watches.
//! Threads start on demand up to a cap and exit after [`KEEP_ALIVE`] idle.
//!
//! At close, queued jobs are dropped (the driver has cancelled them, or
//! leaks their memory), idle threads exit at once, and a thread still in a
//! syscall finishes it and then exits: it holds only an `Arc` of this
//! shared state (nothing is freed under it), and it never writes the
//! eventfd after close (the flag is checked under the same lock the close
//! takes before the eventfd is closed).

use super::exec;
use crate::driver::sqe::Sqe;
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Idle time after which a pool thread exits.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Default cap on pool threads (`iowq_max_workers` changes it).
pub(super) const DEFAULT_CAP: usize = 16;

/// The emulator's handle on the pool.
pub(super) struct Pool {
    shared: Arc<Shared>,
    /// Jobs submitted whose result the emulator has not collected.
    pub(super) outstanding: usize,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
}

struct State {
    queue: VecDeque<Sqe>,
    /// `user_data` of jobs being run now.
    running: Vec<u64>,
    /// Finished jobs: `(user_data, res, flags)`.
    done: Vec<(u64, i32, u32)>,
    threads: usize,
    idle: usize,
    cap: usize,
    closed: bool,
    /// The eventfd to write when `done` becomes non-empty (owned by the
    /// emulator, closed only after `closed` is set).
    efd: RawFd,
}

/// What a cancel found.
pub(super) enum Cancelled {
    /// Still queued: removed; it never ran.
    Removed,
    /// A thread runs it now; it will complete by itself.
    Running,
    /// Not in the pool.
    NotFound,
}

impl Pool {
    pub(super) fn new(efd: RawFd) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    running: Vec::new(),
                    done: Vec::new(),
                    threads: 0,
                    idle: 0,
                    cap: DEFAULT_CAP,
                    closed: false,
                    efd,
                }),
                work: Condvar::new(),
            }),
            outstanding: 0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    /// Sets the thread cap (0: unchanged); returns the previous one.
    pub(super) fn set_cap(&self, cap: u32) -> u32 {
        let mut st = self.lock();
        let old = st.cap as u32;
        if cap > 0 {
            st.cap = cap as usize;
        }
        old
    }

    /// Queues `sqe` for a pool thread, starting one if none is idle.
    pub(super) fn submit(&mut self, sqe: Sqe) {
        self.outstanding += 1;
        let mut st = self.lock();
        st.queue.push_back(sqe);
        if st.idle > 0 {
            self.shared.work.notify_one();
        }
        if st.idle >= st.queue.len() || st.threads >= st.cap {
            return;
        }
        st.threads += 1;
        drop(st);
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("curing-epoll-io".into())
            .spawn(move || worker(&shared));
        if spawned.is_err() {
            let mut st = self.lock();
            st.threads -= 1;
            if st.threads == 0 {
                // No thread will ever run the queue: fail it, as the
                // kernel fails a request it cannot start.
                let failed: Vec<_> = st.queue.drain(..).collect();
                for s in failed {
                    st.done.push((s.user_data, -libc::EAGAIN, 0));
                }
                notify(&st);
            }
        }
    }

    /// Moves finished jobs into `out`.
    pub(super) fn collect(&mut self, out: &mut VecDeque<(u64, i32, u32)>) {
        let mut st = lock(&self.shared);
        self.outstanding -= st.done.len();
        out.extend(st.done.drain(..));
    }

    /// Cancels the job `user_data` if it has not started.
    pub(super) fn cancel(&mut self, user_data: u64) -> Cancelled {
        let mut st = lock(&self.shared);
        if let Some(pos) = st.queue.iter().position(|s| s.user_data == user_data) {
            st.queue.remove(pos);
            self.outstanding -= 1;
            return Cancelled::Removed;
        }
        if st.running.contains(&user_data) {
            return Cancelled::Running;
        }
        Cancelled::NotFound
    }

    /// Stops the pool: see the module docs. Returns when no thread will
    /// write the eventfd any more.
    pub(super) fn close(&mut self) {
        let mut st = self.lock();
        st.closed = true;
        st.queue.clear();
        self.shared.work.notify_all();
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes the eventfd (with the state locked, so never after close).
fn notify(st: &State) {
    if st.closed {
        return;
    }
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live local to the eventfd, which the
    // emulator keeps open until after it has set `closed` under this lock.
    unsafe { libc::write(st.efd, (&one as *const u64).cast(), 8) };
}

fn worker(shared: &Shared) {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let Some(job) = st.queue.pop_front() else {
            if st.closed {
                break;
            }
            st.idle += 1;
            let (guard, timeout) = shared
                .work
                .wait_timeout(st, KEEP_ALIVE)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                break;
            }
            continue;
        };
        st.running.push(job.user_data);
        drop(st);
        let res = exec::blocking(&job);
        st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.running.retain(|u| *u != job.user_data);
        let first = st.done.is_empty();
        st.done.push((job.user_data, res, 0));
        if first {
            notify(&st);
        }
    }
    st.threads -= 1;
}
