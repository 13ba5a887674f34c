//! Waits that are given up leave nothing behind: for every wait of
//! `curing::sync`, `curing::task` and `JoinHandle`, a future polled while
//! it must wait and then dropped keeps no waker anywhere, and polling one
//! future again does not register it twice.
//!
//! The check is exact: the futures are polled with wakers of our own, and
//! the waker's reference count says how many clones the primitive still
//! holds. Each wait is created, polled three times (twice with waker `a`,
//! then with waker `b`) and dropped, many times over. Afterwards `a` must be
//! held nowhere (re-polls replace, not add), and `b` at most once: none for
//! waiter queues, which remove a dropped waiter's entry, and at most one for
//! the single-slot waits (a receiver's or a joiner's slot, which the next
//! wait overwrites).
//!
//! `Child::wait` is checked by a unit test in `src/process/mod.rs` (its
//! queue is only reachable with a wait op in the kernel, which needs the
//! runtime's opcode probe).

mod common;

use curing::sync::{broadcast, mpsc, oneshot, thread, watch, Event, Mutex, Semaphore};
use curing::task::{as_completed, TaskGroup};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

/// How many waits each test creates and drops.
const ROUNDS: usize = 200_000;

/// A waker that does nothing; its `Arc`'s count tells how many clones live.
struct Counted;

impl Wake for Counted {
    fn wake(self: Arc<Self>) {}
}

/// Clones of the waker made from `arc` held elsewhere: all but `arc` itself
/// and the `Waker` the test keeps.
fn held(arc: &Arc<Counted>) -> usize {
    Arc::strong_count(arc) - 2
}

/// How many clones of each waker are left after [`ROUNDS`] waits made by
/// `make`, each polled (all pending) and dropped.
struct Left {
    a: usize,
    b: usize,
}

/// The two wakers of [`churn!`].
struct Wakers {
    a_arc: Arc<Counted>,
    b_arc: Arc<Counted>,
    a: Waker,
    b: Waker,
}

impl Wakers {
    fn new() -> Wakers {
        let a_arc = Arc::new(Counted);
        let b_arc = Arc::new(Counted);
        Wakers {
            a: Waker::from(a_arc.clone()),
            b: Waker::from(b_arc.clone()),
            a_arc,
            b_arc,
        }
    }

    /// Polls `fut` three times (`a`, `a`, `b`), checking it stays pending.
    fn poll_thrice<F: Future>(&self, mut fut: std::pin::Pin<&mut F>, round: usize) {
        for w in [&self.a, &self.a, &self.b] {
            let poll = fut.as_mut().poll(&mut Context::from_waker(w));
            assert!(poll.is_pending(), "round {round}: the wait must be pending");
        }
    }

    fn left(&self) -> Left {
        Left {
            a: held(&self.a_arc),
            b: held(&self.b_arc),
        }
    }
}

/// Creates a wait with `$make`, polls it three times (`a`, `a`, `b`),
/// checks it is pending each time, drops it; [`ROUNDS`] times. Yields now
/// and then so the cooperative budget never runs out (a wait refused for
/// want of budget would not register at all). Gives the clones left.
macro_rules! churn {
    ($make:expr) => {{
        let wakers = Wakers::new();
        for i in 0..ROUNDS {
            let fut = std::pin::pin!($make);
            wakers.poll_thrice(fut, i);
            if i % 32 == 31 {
                curing::yield_now().await;
            }
        }
        wakers.left()
    }};
}

/// A waiter queue: nothing left once the waits are dropped.
fn assert_queue(what: &str, left: Left) {
    println!("{what}: a held {} times, b {}", left.a, left.b);
    assert_eq!(left.a, 0, "{what}: a replaced waker is still held");
    assert_eq!(left.b, 0, "{what}: a dropped wait left its waker");
}

/// A single slot: at most the last waker.
fn assert_slot(what: &str, left: Left) {
    println!("{what}: a held {} times, b {}", left.a, left.b);
    assert_eq!(left.a, 0, "{what}: a replaced waker is still held");
    assert!(left.b <= 1, "{what}: {} clones of the last waker", left.b);
}

fn check<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    common::run(Duration::from_secs(60), body);
}

#[test]
fn semaphore_acquire() {
    check(|| async {
        let sem = Semaphore::new(1);
        let _held = sem.acquire().await.unwrap();
        assert_queue("semaphore acquire", churn!(sem.acquire()));
        assert_queue("semaphore acquire_many", churn!(sem.acquire_many(2)));
        assert!(format!("{sem:?}").contains("waiters: 0"), "{sem:?}");
    });
}

#[test]
fn mutex_lock() {
    check(|| async {
        let mutex = Mutex::new(0);
        let _guard = mutex.lock().await;
        assert_queue("mutex lock", churn!(mutex.lock()));
    });
}

#[test]
fn event_wait() {
    check(|| async {
        let ev = Event::new();
        assert_queue("event wait", churn!(ev.wait()));
        ev.set();
        ev.wait().await;
    });
}

#[test]
fn local_mpsc() {
    check(|| async {
        let (tx, mut rx) = mpsc::channel::<u64>(1);
        assert_slot("local mpsc recv", churn!(rx.recv()));
        tx.send(1).await.unwrap(); // full now
        assert_queue("local mpsc send", churn!(tx.send(2)));
        assert_queue("local mpsc reserve", churn!(tx.reserve()));
        assert_eq!(rx.recv().await, Some(1));
        let (_utx, mut urx) = mpsc::unbounded_channel::<u64>();
        assert_slot("local mpsc unbounded recv", churn!(urx.recv()));
    });
}

#[test]
fn local_oneshot() {
    check(|| async {
        let (mut tx, mut rx) = oneshot::channel::<u64>();
        assert_slot("local oneshot receive", churn!(&mut rx));
        assert_slot("local oneshot closed", churn!(tx.closed()));
        tx.send(1).unwrap();
        assert_eq!(rx.await, Ok(1));
    });
}

#[test]
fn thread_mpsc() {
    check(|| async {
        let (tx, mut rx) = thread::mpsc::channel::<u64>(1);
        assert_slot("thread mpsc recv", churn!(rx.recv()));
        tx.send(1).await.unwrap(); // full now
        assert_queue("thread mpsc send", churn!(tx.send(2)));
        assert_eq!(rx.recv().await, Some(1));
        // The room went to nobody's dropped send: the next send gets it.
        tx.send(3).await.unwrap();
        assert_eq!(rx.recv().await, Some(3));
    });
}

#[test]
fn thread_oneshot() {
    check(|| async {
        let (mut tx, mut rx) = thread::oneshot::channel::<u64>();
        assert_slot("thread oneshot receive", churn!(&mut rx));
        assert_slot("thread oneshot closed", churn!(tx.closed()));
        tx.send(1).unwrap();
        assert_eq!(rx.await, Ok(1));
    });
}

#[test]
fn local_broadcast_and_watch() {
    check(|| async {
        let (tx, mut rx) = broadcast::channel::<u64>(4);
        let mut rx2 = tx.subscribe();
        assert_queue("local broadcast recv", churn!(rx.recv()));
        assert_queue("local broadcast recv, second receiver", churn!(rx2.recv()));
        // Nothing was taken: both still get the next value.
        tx.send(1).unwrap();
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx2.recv().await, Ok(1));
        assert!(format!("{rx:?}").contains("waiting: 0"), "{rx:?}");

        let (wtx, mut wrx) = watch::channel(0u64);
        let mut wrx2 = wrx.clone();
        assert_queue("local watch changed", churn!(wrx.changed()));
        assert_queue("local watch changed, a clone", churn!(wrx2.changed()));
        wtx.send(1).unwrap();
        wrx.changed().await.unwrap();
        wrx2.changed().await.unwrap();
    });
}

#[test]
fn thread_broadcast_and_watch() {
    check(|| async {
        let (tx, mut rx) = thread::broadcast::channel::<u64>(4);
        let mut rx2 = tx.subscribe();
        assert_queue("thread broadcast recv", churn!(rx.recv()));
        assert_queue("thread broadcast recv, second receiver", churn!(rx2.recv()));
        tx.send(1).unwrap();
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx2.recv().await, Ok(1));
        assert!(format!("{rx:?}").contains("waiting: 0"), "{rx:?}");

        let (wtx, mut wrx) = thread::watch::channel(0u64);
        let mut wrx2 = wrx.clone();
        assert_queue("thread watch changed", churn!(wrx.changed()));
        assert_queue("thread watch changed, a clone", churn!(wrx2.changed()));
        wtx.send(1).unwrap();
        wrx.changed().await.unwrap();
        wrx2.changed().await.unwrap();
    });
}

#[test]
fn join_handle_group_and_as_completed() {
    check(|| async {
        let gate = Event::new();
        let mut handle = curing::spawn({
            let gate = gate.clone();
            async move { gate.wait().await }
        });
        assert_slot("JoinHandle", churn!(&mut handle));

        let mut group = TaskGroup::<()>::new();
        group.spawn({
            let gate = gate.clone();
            async move {
                gate.wait().await;
                Ok(())
            }
        });
        assert_slot("TaskGroup::next", churn!(group.next()));

        let mut stream = as_completed([std::future::pending::<()>()]);
        assert_slot("as_completed next", churn!(stream.next()));

        gate.set();
        handle.await.unwrap();
        group.join().await.unwrap();
    });
}
