//! Models of `remote::Shared`: remote wakes against the runtime's drain and
//! park, jobs against shutdown, and the `MSG_RING` ticket accounting.

use super::{model, some_fd, Kernel, SendRing, Wakeups};
use crate::executor::remote::Shared;
use crate::executor::{Job, Remote};
use crate::sync_prims::{Arc, Ordering};
use loom::thread;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// The runtime's thread as `Context::turn` runs it, for `Shared` alone:
/// drain the remote queues (`run_ready`), then park unless `has_ready`
/// (its `notified` part), until `want` tasks came. A lost wake-up parks
/// this forever, which loom reports as a deadlock.
fn run_until_woken(shared: &Shared, wakeups: &Wakeups, want: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        if let Some((tasks, jobs)) = shared.drain() {
            seen.extend(tasks);
            for job in jobs {
                job();
            }
        }
        if seen.len() >= want {
            return seen;
        }
        if !shared.notified.load(Ordering::Acquire) {
            wakeups.park();
        }
    }
}

fn queued(shared: &Shared) -> Vec<u64> {
    shared.remote.lock().unwrap().clone()
}

/// Two threads each wake a task while the runtime drains and parks: both
/// tasks reach the runtime (no lost wake-up: each was either in the queue
/// when the runtime drained, or found `notified` clear and sent a wake-up),
/// and at the end `notified` is set only if a wake-up is pending (it never
/// sticks with nothing on its way to clear it).
///
/// Caught: `drain` clearing `notified` after taking the queue; `push_remote`
/// notifying before it pushes (both: a deadlock).
#[test]
fn loom_remote_wakes_are_never_lost() {
    model(Some(5), || {
        let shared = Arc::new(Shared::new(some_fd()));
        let (wakeups, _) = shared.model_fds();
        let wakers: Vec<_> = [1, 2]
            .map(|task| {
                let shared = shared.clone();
                thread::spawn(move || Shared::push_remote(&shared, task))
            })
            .into_iter()
            .collect();
        let mut seen = run_until_woken(&shared, &wakeups, 2);
        for w in wakers {
            w.join().unwrap();
        }
        seen.sort_unstable();
        assert_eq!(seen, [1, 2]);
        assert!(queued(&shared).is_empty());
        assert!(
            !shared.notified.load(Ordering::Acquire) || wakeups.pending() > 0,
            "notified is stuck set with no wake-up pending"
        );
        shared.close();
    });
}

/// Counts what became of the model's one job.
#[derive(Default)]
struct JobLog {
    ran: AtomicUsize,
    dropped_unrun: AtomicUsize,
}

struct JobGuard(std::sync::Arc<JobLog>, bool);

impl Drop for JobGuard {
    fn drop(&mut self) {
        let n = if self.1 {
            &self.0.ran
        } else {
            &self.0.dropped_unrun
        };
        n.fetch_add(1, SeqCst);
    }
}

fn job(log: &std::sync::Arc<JobLog>) -> Job {
    let mut guard = JobGuard(log.clone(), false);
    Box::new(move || {
        guard.1 = true;
        drop(guard);
    })
}

/// A thread queues a job (`Handle::spawn`'s path) and another wakes a task
/// while the runtime runs one turn and shuts down (`Shared::close`): the job
/// is refused, or run, or dropped by `close`, exactly once, and never left
/// queued after the final drain; the wake is queued or ignored, never a
/// panic, and no wake-up is sent after `close`.
///
/// Caught: `inject` checking `alive` before taking the jobs lock, or not at
/// all ("a job was queued after the final drain"); `close` leaving the
/// eventfd open ("a wake-up after close").
#[test]
fn loom_no_job_is_queued_after_close() {
    model(Some(5), || {
        let shared = Arc::new(Shared::new(some_fd()));
        let (wakeups, _) = shared.model_fds();
        let log = std::sync::Arc::new(JobLog::default());
        let injector = {
            let remote = Remote(shared.clone());
            let job = job(&log);
            thread::spawn(move || remote.inject(job).is_ok())
        };
        let waker = {
            let shared = shared.clone();
            thread::spawn(move || Shared::push_remote(&shared, 1))
        };
        // One turn, then shutdown.
        if let Some((_, jobs)) = shared.drain() {
            for job in jobs {
                job();
            }
        }
        shared.close();
        let sent_at_close = wakeups.pending();
        let accepted = injector.join().unwrap();
        waker.join().unwrap();
        // A wake after close: a no-op.
        Shared::push_remote(&shared, 2);
        assert!(!queued(&shared).contains(&2));
        assert!(
            shared.jobs.lock().unwrap().is_empty(),
            "a job was queued after the final drain"
        );
        let ran = log.ran.load(SeqCst);
        let dropped = log.dropped_unrun.load(SeqCst);
        assert_eq!(ran + dropped, 1, "the job was run or dropped exactly once");
        assert!(accepted || ran == 0, "a refused job ran");
        assert_eq!(wakeups.pending(), sent_at_close, "a wake-up after close");
    });
}

/// A thread running another runtime wakes a task of ours twice through
/// `MSG_RING` (reaping its send's CQE after each), while our runtime waits
/// for the first wake and shuts down. The wake always arrives (by message,
/// by the eventfd after a refused push, or by the eventfd fallback after a
/// failed send); no send is submitted naming a closed ring duplicate; the
/// duplicate is closed exactly once, during shutdown, and only once no
/// ticket is left (checked by `RingDup`'s drop).
///
/// Caught: `close` closing the duplicate with sends left ("closed while a
/// MSG_RING ticket still names it"); a ticket's drop closing it without
/// checking `alive` ("closed while the runtime is alive"); `close` clearing
/// `alive` after it lets go of the ring lock (never closed: a ticket can
/// drop in between and see the runtime alive); `fallback_wake` doing
/// nothing (a deadlock, with `Kernel::Fail`).
fn msg_ring_tickets(kernel: Kernel) {
    model(None, move || {
        let shared = Arc::new(Shared::new(some_fd()));
        shared.set_ring(some_fd());
        let (wakeups, ring) = shared.model_fds();
        let ring = ring.expect("ring set");
        let sender = {
            let shared = shared.clone();
            let (wakeups, ring) = (wakeups.clone(), ring.clone());
            thread::spawn(move || {
                SendRing::install(wakeups, ring, kernel);
                Shared::push_remote(&shared, 1);
                SendRing::reap();
                Shared::push_remote(&shared, 2);
                SendRing::reap();
            })
        };
        let seen = run_until_woken(&shared, &wakeups, 1);
        assert_eq!(seen[0], 1);
        ring.shutting_down.store(true, SeqCst);
        shared.close();
        sender.join().unwrap();
        assert_eq!(ring.closes.load(SeqCst), 1, "ring duplicate closes");
    });
}

#[test]
fn loom_msg_ring_tickets_delivered() {
    msg_ring_tickets(Kernel::Deliver);
}

#[test]
fn loom_msg_ring_tickets_failed_send() {
    msg_ring_tickets(Kernel::Fail);
}

#[test]
fn loom_msg_ring_tickets_refused_push() {
    msg_ring_tickets(Kernel::Refuse);
}
