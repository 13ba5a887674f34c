//! loom models of the cross-thread wake paths (issue 9).
//!
//! [loom](https://docs.rs/loom) runs a model closure under every thread
//! interleaving (up to a preemption bound) and every outcome of the C11
//! memory model the atomics allow, and reports a deadlock when every thread
//! is blocked. The models drive the *real* code of `remote::Shared`, the
//! task waker and `Executor` (`executor`), `blocking::wait` with the
//! thread-safe oneshot, and `task::as_completed`: under `cfg(all(test,
//! loom))` those use loom's `Arc`, `Mutex`, atomics, thread-locals and
//! `park` (see `sync_prims`).
//!
//! Only what reaches the kernel is a stand-in, defined here:
//!
//! - the eventfd ([`EventFd`]): a write posts one wake-up to [`Wakeups`];
//! - `MSG_RING` sends ([`send_msg_wake`]): on a thread that installed a
//!   [`SendRing`] (a "runtime thread" of the model), a send that the kernel
//!   delivers posts to the target's [`Wakeups`] (the message CQE), and the
//!   ticket is held until the model reaps the send's own CQE;
//! - the ring duplicate ([`RingDup`]): its close is recorded and checked
//!   against the tickets still held.
//!
//! A model's runtime thread parks on [`Wakeups`] exactly where the real one
//! parks in `io_uring_enter`, so a lost wake-up shows as a loom deadlock.
//!
//! Run them with (release: loom is slow in debug):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib loom
//! ```
//!
//! Test-only bookkeeping (counters the assertions read) uses std atomics on
//! purpose: loom runs a model's threads one at a time, so they record the
//! order loom chose without adding states for it to explore.
//!
//! Each model's doc lists the deliberate breaks of the code it checks that
//! it was seen to catch ("Caught:"). One known loom 0.7 bug
//! matters here: a plain store may land between the read and the write of
//! a concurrent swap (tokio-rs/loom#254), which C11 forbids; `blocking`'s
//! `Unparker` writes its flag with a swap under loom for that reason.

use crate::driver::MsgTarget;
use loom::sync::{Condvar, Mutex};
use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

mod as_completed;
mod blocking;
mod executor;
mod remote;

/// Checks `f` under every interleaving (`bound: None`), or under those with
/// at most `bound` preemptions where the full set takes minutes (the
/// three-thread models: a bound of 5 covers every race modeled here, which
/// needs two or three). `LOOM_MAX_PREEMPTIONS` overrides the bound. Prints
/// (`--nocapture`) how many executions loom explored.
/// Another thread sets `flag` (`Release`), then wakes `waker`: the usual
/// "set, then wake" of a channel, racing the runtime.
fn set_then_wake(
    flag: crate::sync_prims::Arc<crate::sync_prims::AtomicBool>,
    waker: std::task::Waker,
) -> loom::thread::JoinHandle<()> {
    loom::thread::spawn(move || {
        flag.store(true, crate::sync_prims::Ordering::Release);
        waker.wake();
    })
}

/// Where [`wait_for_flag`] leaves the waker of its first poll (test
/// bookkeeping: std's mutex, see the module docs).
type FirstWaker = Arc<std::sync::Mutex<Option<std::task::Waker>>>;

/// A future that keeps the waker of its first poll in `first` and queues
/// itself then (a yield); from then on it is ready once `flag` is set.
fn wait_for_flag(
    flag: crate::sync_prims::Arc<crate::sync_prims::AtomicBool>,
    first: FirstWaker,
) -> impl std::future::Future<Output = ()> {
    let mut polled = false;
    std::future::poll_fn(move |cx| {
        if !polled {
            polled = true;
            *first.lock().unwrap() = Some(cx.waker().clone());
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        if flag.load(crate::sync_prims::Ordering::Acquire) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
}

fn model(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = bound;
    }
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    builder.check(move || {
        counted.fetch_add(1, SeqCst);
        f()
    });
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    eprintln!("{name}: {} executions", runs.load(SeqCst));
}

/// A fresh descriptor for a stand-in to own (closed with it).
fn some_fd() -> OwnedFd {
    crate::sys::eventfd().expect("eventfd")
}

/// What wakes the runtime's parked thread: eventfd writes and `MSG_RING`
/// messages, counted like CQEs it has not reaped yet.
#[derive(Clone)]
pub(crate) struct Wakeups(std::sync::Arc<(Mutex<u64>, Condvar)>);

impl Wakeups {
    fn new() -> Wakeups {
        Wakeups(std::sync::Arc::new((Mutex::new(0), Condvar::new())))
    }

    /// One wake-up (an eventfd write or a message CQE).
    pub(crate) fn post(&self) {
        *self.0 .0.lock().unwrap() += 1;
        self.0 .1.notify_one();
    }

    /// Parks until a wake-up comes, then reaps them all (the real `park`
    /// returns with every CQE there is).
    pub(crate) fn park(&self) {
        let mut n = self.0 .0.lock().unwrap();
        while *n == 0 {
            n = self.0 .1.wait(n).unwrap();
        }
        *n = 0;
    }

    /// Wake-ups posted and not reaped yet.
    pub(crate) fn pending(&self) -> u64 {
        *self.0 .0.lock().unwrap()
    }
}

/// Stand-in for the runtime's eventfd: a write posts a wake-up.
pub(crate) struct EventFd {
    fd: OwnedFd,
    pub(crate) wakeups: Wakeups,
}

impl From<OwnedFd> for EventFd {
    fn from(fd: OwnedFd) -> EventFd {
        EventFd {
            fd,
            wakeups: Wakeups::new(),
        }
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl std::io::Write for &EventFd {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.wakeups.post();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What happened to a runtime's ring duplicate.
pub(crate) struct RingLog {
    /// Its number, as sends name it.
    fd: RawFd,
    /// Sends submitted naming it whose ticket the sender still holds.
    in_flight: AtomicUsize,
    /// Times it was closed.
    pub(crate) closes: AtomicUsize,
    /// Set by a model right before it calls `Shared::close`.
    pub(crate) shutting_down: AtomicBool,
}

/// Stand-in for the ring duplicate: records its close, and checks that no
/// send still names it and that the runtime is shutting down.
pub(crate) struct RingDup {
    fd: OwnedFd,
    pub(crate) log: Arc<RingLog>,
}

impl From<OwnedFd> for RingDup {
    fn from(fd: OwnedFd) -> RingDup {
        RingDup {
            log: Arc::new(RingLog {
                fd: fd.as_raw_fd(),
                in_flight: AtomicUsize::new(0),
                closes: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
            }),
            fd,
        }
    }
}

impl AsRawFd for RingDup {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for RingDup {
    fn drop(&mut self) {
        let log = &self.log;
        assert_eq!(
            log.in_flight.load(SeqCst),
            0,
            "ring duplicate closed while a MSG_RING ticket still names it"
        );
        assert!(
            log.shutting_down.load(SeqCst),
            "ring duplicate closed while the runtime is alive"
        );
        log.closes.fetch_add(1, SeqCst);
    }
}

/// What the kernel does with a model thread's `MSG_RING` sends.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kernel {
    /// The SQ is full (or the ring shutting down): `push_msg_wake` refuses.
    Refuse,
    /// The message is delivered at submit; the send's CQE succeeds later.
    Deliver,
    /// The message is not delivered; the send's CQE carries an error.
    Fail,
}

/// A model thread's own ring, as far as `MSG_RING` sends go.
pub(crate) struct SendRing {
    /// The one runtime this thread's sends are aimed at.
    target: Wakeups,
    target_ring: Arc<RingLog>,
    kernel: Kernel,
    /// Submitted sends whose CQE is not reaped: their tickets.
    held: Vec<Box<dyn MsgTarget>>,
}

loom::thread_local! {
    /// The ring of this model thread, if it plays a runtime.
    static SEND_RING: RefCell<Option<SendRing>> = RefCell::new(None);
}

impl SendRing {
    /// Makes this model thread a runtime thread whose sends go to `target`.
    pub(crate) fn install(target: Wakeups, target_ring: Arc<RingLog>, kernel: Kernel) {
        SEND_RING.with(|r| {
            *r.borrow_mut() = Some(SendRing {
                target,
                target_ring,
                kernel,
                held: Vec::new(),
            })
        });
    }

    /// Reaps the CQEs of this thread's sends, as `Driver::msg_sent` does:
    /// fall back to the eventfd on failure, then let the ticket go.
    pub(crate) fn reap() {
        let (held, kernel, log) = SEND_RING.with(|r| {
            let mut r = r.borrow_mut();
            let ring = r.as_mut().expect("installed");
            (
                std::mem::take(&mut ring.held),
                ring.kernel,
                ring.target_ring.clone(),
            )
        });
        for ticket in held {
            if matches!(kernel, Kernel::Fail) {
                ticket.fallback_wake();
            }
            // The kernel is done with the number (its CQE is here).
            log.in_flight.fetch_sub(1, SeqCst);
            drop(ticket);
        }
    }
}

/// Stand-in for `runtime::send_msg_wake`: false on a plain thread (no
/// ring); otherwise what [`Kernel`] says. Pushing and submitting are one
/// step, as in `Driver::push_msg_wake`; the kernel resolves the fd then.
pub(crate) fn send_msg_wake(fd: RawFd, target: Box<dyn MsgTarget>) -> bool {
    SEND_RING.with(|r| {
        let mut r = r.borrow_mut();
        let Some(ring) = r.as_mut() else {
            return false;
        };
        if matches!(ring.kernel, Kernel::Refuse) {
            return false; // `target` (the ticket) is dropped here, as there
        }
        let log = &ring.target_ring;
        assert_eq!(fd, log.fd, "MSG_RING aimed at another fd");
        assert_eq!(
            log.closes.load(SeqCst),
            0,
            "MSG_RING submitted naming a closed ring duplicate"
        );
        log.in_flight.fetch_add(1, SeqCst);
        if matches!(ring.kernel, Kernel::Deliver) {
            ring.target.post();
        }
        ring.held.push(target);
        true
    })
}
