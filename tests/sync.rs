//! `curing::sync`: each primitive's semantics, FIFO order, and cancellation
//! safety (a dropped acquire/lock/recv/send loses no permit and no message,
//! and passes its wakeup on).

mod common;

use curing::sync::{mpsc, oneshot, Event, Mutex, Semaphore};
use curing::time::{sleep, timeout};
use curing::yield_now;
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);
const MS: Duration = Duration::from_millis(1);

/// Polls `fut` once; true if it was pending.
async fn pending_once<F: Future>(fut: std::pin::Pin<&mut F>) -> bool {
    let mut fut = fut;
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

/// Lets every spawned task run until it blocks.
async fn settle() {
    for _ in 0..8 {
        yield_now().await;
    }
}

#[test]
fn event_releases_every_waiter_and_stays_set() {
    common::run(LIMIT, || async {
        let ev = Event::new();
        let woke = Rc::new(RefCell::new(0));
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (ev, woke) = (ev.clone(), woke.clone());
                curing::spawn(async move {
                    ev.wait().await;
                    *woke.borrow_mut() += 1;
                })
            })
            .collect();
        settle().await;
        assert_eq!(*woke.borrow(), 0, "woke before set");
        assert!(!ev.is_set());
        ev.set();
        ev.set();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*woke.borrow(), 3);
        assert!(ev.is_set());
        ev.wait().await; // set: ready at once
    });
}

#[test]
fn event_dropped_wait_leaves_others_waiting() {
    common::run(LIMIT, || async {
        let ev = Event::new();
        assert!(timeout(MS, ev.wait()).await.is_err());
        let other = curing::spawn({
            let ev = ev.clone();
            async move { ev.wait().await }
        });
        let cancelled = curing::spawn({
            let ev = ev.clone();
            async move { ev.wait().await }
        });
        settle().await;
        cancelled.abort();
        ev.set();
        other.await.unwrap();
        assert!(cancelled.await.unwrap_err().is_cancelled());
    });
}

/// Spawns `n` tasks that each take one permit, in spawn order, and record
/// their index; each is queued before the next is spawned.
async fn queue_acquirers(sem: &Semaphore, n: usize, order: &Rc<RefCell<Vec<usize>>>) {
    for i in 0..n {
        let (sem, order) = (sem.clone(), order.clone());
        curing::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            order.borrow_mut().push(i);
            yield_now().await;
        });
        settle().await;
    }
}

#[test]
fn semaphore_serves_waiters_in_fifo_order() {
    common::run(LIMIT, || async {
        let sem = Semaphore::new(1);
        let held = sem.acquire().await.unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        queue_acquirers(&sem, 5, &order).await;
        assert!(order.borrow().is_empty());
        drop(held);
        while order.borrow().len() < 5 {
            sleep(MS).await;
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
        settle().await;
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn semaphore_large_request_is_not_overtaken() {
    common::run(LIMIT, || async {
        let sem = Semaphore::new(2);
        let p1 = sem.acquire().await.unwrap();
        let p2 = sem.acquire().await.unwrap();
        let mut big = pin!(sem.acquire_many(2));
        assert!(pending_once(big.as_mut()).await);
        let mut small = pin!(sem.acquire());
        assert!(pending_once(small.as_mut()).await);
        drop(p1);
        // The freed permit is set aside for the head; the small request
        // behind it, and try_acquire, do not overtake it.
        assert!(pending_once(big.as_mut()).await);
        assert!(pending_once(small.as_mut()).await);
        assert!(sem.try_acquire().is_err(), "try_acquire overtook the queue");
        assert_eq!(sem.available_permits(), 0);
        drop(p2);
        let big_permit = big.await.unwrap();
        assert_eq!(big_permit.num_permits(), 2);
        assert!(pending_once(small.as_mut()).await);
        drop(big_permit);
        assert_eq!(small.await.unwrap().num_permits(), 1);
    });
}

#[test]
fn semaphore_dropped_acquire_passes_its_permit_on() {
    common::run(LIMIT, || async {
        let sem = Semaphore::new(1);
        let held = sem.acquire().await.unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let first = curing::spawn({
            let (sem, order) = (sem.clone(), order.clone());
            async move {
                let _p = sem.acquire().await.unwrap();
                order.borrow_mut().push(99);
            }
        });
        settle().await;
        queue_acquirers(&sem, 1, &order).await; // index 0: second in line
                                                // The permit is handed to `first`, which is aborted before it runs.
        drop(held);
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        while order.borrow().is_empty() {
            sleep(MS).await;
        }
        assert_eq!(*order.borrow(), [0], "the wakeup was not passed on");
        settle().await;
        assert_eq!(sem.available_permits(), 1, "a permit was lost");
    });
}

#[test]
fn semaphore_dropped_partial_acquire_returns_what_it_got() {
    common::run(LIMIT, || async {
        let sem = Semaphore::new(3);
        let held = sem.acquire_many(3).await.unwrap();
        {
            let mut big = pin!(sem.acquire_many(3));
            assert!(pending_once(big.as_mut()).await);
            let mut small = pin!(sem.acquire());
            assert!(pending_once(small.as_mut()).await);
            drop(held); // all three go to `big`
                        // `big` is dropped unpolled: its three permits pass to `small`.
        }
        assert_eq!(sem.available_permits(), 3, "permits lost");
        let mut timed_out = 0;
        for _ in 0..3 {
            if timeout(MS, sem.acquire_many(4)).await.is_err() {
                timed_out += 1;
            }
        }
        assert_eq!(timed_out, 3);
        assert_eq!(sem.available_permits(), 3, "timeouts lost permits");
        assert!(
            sem.try_acquire_many(3).is_ok(),
            "a dropped waiter still queued"
        );
    });
}

#[test]
fn semaphore_close_fails_waiters_and_later_acquires() {
    common::run(LIMIT, || async {
        let sem = Semaphore::new(0);
        let waiter = curing::spawn({
            let sem = sem.clone();
            async move { sem.acquire().await.map(|_| ()) }
        });
        settle().await;
        sem.close();
        assert!(waiter.await.unwrap().is_err());
        assert!(sem.acquire().await.is_err());
        assert!(sem.is_closed());
        assert_eq!(
            sem.try_acquire().unwrap_err(),
            curing::sync::TryAcquireError::Closed
        );
    });
}

#[test]
fn permit_forget_and_add_permits() {
    common::run(LIMIT, || async {
        let sem = Semaphore::new(2);
        let p = sem.acquire_many(2).await.unwrap();
        assert_eq!(p.num_permits(), 2);
        p.forget();
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn mutex_excludes_across_awaits_in_fifo_order() {
    common::run(LIMIT, || async {
        let log = Rc::new(Mutex::new(Vec::new()));
        let guard = log.lock().await;
        for i in 0..4 {
            let log = log.clone();
            curing::spawn(async move {
                let mut g = log.lock().await;
                g.push(i);
                yield_now().await; // others must wait while we hold it
                g.push(i);
            });
            settle().await;
        }
        assert!(log.try_lock().is_none());
        drop(guard);
        loop {
            if let Some(g) = log.try_lock() {
                if g.len() == 8 {
                    assert_eq!(*g, [0, 0, 1, 1, 2, 2, 3, 3]);
                    break;
                }
            }
            sleep(MS).await;
        }
    });
}

#[test]
fn mutex_dropped_lock_passes_the_lock_on() {
    common::run(LIMIT, || async {
        let m = Rc::new(Mutex::new(0));
        let guard = m.lock().await;
        let skipped = curing::spawn({
            let m = m.clone();
            async move { *m.lock().await += 100 }
        });
        settle().await;
        let next = curing::spawn({
            let m = m.clone();
            async move { *m.lock().await += 1 }
        });
        settle().await;
        drop(guard); // handed to `skipped`...
        skipped.abort(); // ...which never takes it
        next.await.unwrap();
        assert_eq!(*m.lock().await, 1);
        assert!(timeout(MS, m.lock()).await.is_ok());
        let mut m = Rc::try_unwrap(m).unwrap();
        *m.get_mut() += 1;
        assert_eq!(m.into_inner(), 2);
    });
}

#[test]
fn oneshot_value_error_and_closed() {
    common::run(LIMIT, || async {
        let (tx, rx) = oneshot::channel();
        curing::spawn(async move { tx.send("hi").unwrap() });
        assert_eq!(rx.await, Ok("hi"));

        let (tx, rx) = oneshot::channel::<u8>();
        drop(tx);
        assert!(rx.await.is_err());

        let (tx, rx) = oneshot::channel();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(5), Err(5), "value not given back");

        let (mut tx, rx) = oneshot::channel::<u8>();
        let watcher = curing::spawn(async move {
            tx.closed().await;
        });
        settle().await;
        assert!(!watcher.is_finished());
        drop(rx);
        watcher.await.unwrap();
    });
}

#[test]
fn oneshot_receive_survives_a_timeout() {
    common::run(LIMIT, || async {
        let (tx, mut rx) = oneshot::channel();
        assert!(timeout(MS, &mut rx).await.is_err());
        assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Empty));
        tx.send(7).unwrap();
        assert_eq!(rx.await, Ok(7));
    });
}

#[test]
fn mpsc_bounded_order_backpressure_and_end() {
    common::run(LIMIT, || async {
        let (tx, mut rx) = mpsc::channel(2);
        assert_eq!(tx.max_capacity(), 2);
        tx.send(1).await.unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(mpsc::TrySendError::Full(3))));
        let blocked = curing::spawn({
            let tx = tx.clone();
            async move { tx.send(3).await.unwrap() }
        });
        settle().await;
        assert!(!blocked.is_finished(), "send did not wait for room");
        assert_eq!(rx.recv().await, Some(1));
        blocked.await.unwrap();
        assert_eq!(rx.len(), 2);
        drop(tx);
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    });
}

#[test]
fn mpsc_waiting_senders_are_served_in_fifo_order() {
    common::run(LIMIT, || async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(0).await.unwrap();
        for i in 1..=4 {
            let tx = tx.clone();
            curing::spawn(async move { tx.send(i).await.unwrap() });
            settle().await;
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn mpsc_dropped_send_passes_its_room_on() {
    common::run(LIMIT, || async {
        let (tx, mut rx) = mpsc::channel(1);
        tx.send("filler").await.unwrap();
        let dropped = curing::spawn({
            let tx = tx.clone();
            async move { tx.send("dropped").await.unwrap() }
        });
        settle().await;
        let kept = curing::spawn({
            let tx = tx.clone();
            async move { tx.send("kept").await.unwrap() }
        });
        settle().await;
        assert_eq!(rx.recv().await, Some("filler")); // room goes to `dropped`
        dropped.abort();
        kept.await.unwrap();
        assert_eq!(rx.recv().await, Some("kept"));
        assert_eq!(tx.capacity(), 1, "room was lost");
        // A send cut off by a timeout leaves the room too.
        tx.send("x").await.unwrap();
        assert!(timeout(MS, tx.send("late")).await.is_err());
        assert_eq!(rx.recv().await, Some("x"));
        assert_eq!(tx.capacity(), 1);
        assert!(rx.try_recv().is_err(), "the cancelled send was delivered");
    });
}

#[test]
fn mpsc_dropped_recv_loses_no_message() {
    common::run(LIMIT, || async {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        {
            let mut recv = pin!(rx.recv());
            assert!(pending_once(recv.as_mut()).await);
            tx.send(1).await.unwrap(); // wakes `recv`, which is then dropped
        }
        assert!(timeout(MS, rx.recv()).await.unwrap() == Some(1));
        assert!(timeout(MS, rx.recv()).await.is_err());
        tx.send(2).await.unwrap();
        assert_eq!(rx.recv().await, Some(2));
    });
}

#[test]
fn mpsc_reserve_and_close() {
    common::run(LIMIT, || async {
        let (tx, mut rx) = mpsc::channel(1);
        let permit = tx.reserve().await.unwrap();
        assert_eq!(tx.capacity(), 0);
        drop(permit);
        assert_eq!(tx.capacity(), 1, "dropped permit kept the room");
        let permit = tx.reserve().await.unwrap();
        permit.send(10);
        let waiting = curing::spawn({
            let tx = tx.clone();
            async move { tx.send(11).await.map_err(|e| e.0) }
        });
        settle().await;
        rx.close();
        assert_eq!(waiting.await.unwrap(), Err(11), "value not given back");
        assert!(tx.is_closed());
        assert!(matches!(
            tx.try_send(12),
            Err(mpsc::TrySendError::Closed(12))
        ));
        assert_eq!(rx.recv().await, Some(10), "queued message lost by close");
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn mpsc_unbounded_and_stream() {
    use futures_util::StreamExt;
    common::run(LIMIT, || async {
        let (tx, rx) = mpsc::unbounded_channel();
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let all: Vec<i32> = rx.collect().await;
        assert_eq!(all, (0..100).collect::<Vec<_>>());

        let (tx, rx) = mpsc::unbounded_channel();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(1).unwrap_err().0, 1);
    });
}
