//! `curing::sync::watch` and `curing::sync::thread::watch`: the latest
//! value and change notification. `changed` returns at once for a value not
//! yet seen and waits otherwise, sends coalesce, close works from both ends,
//! a dropped `changed` marks nothing seen, one send wakes every waiting
//! receiver, and the thread-safe flavour works across threads and runtimes.

mod common;

use curing::sync::thread::watch as twatch;
use curing::sync::watch;
use curing::time::timeout;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A waker that does nothing.
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(&Waker::from(Arc::new(Noop))))
}

#[test]
fn changed_waits_for_a_send_and_returns_at_once_for_an_unseen_one() {
    common::run(T, || async {
        let (tx, mut rx) = watch::channel(0);
        assert_eq!(*rx.borrow(), 0);
        assert!(!rx.has_changed().unwrap());
        assert!(timeout(Duration::from_millis(5), rx.changed())
            .await
            .is_err());
        tx.send(1).unwrap();
        assert!(rx.has_changed().unwrap());
        assert!(rx.borrow().has_changed());
        // Ready at once, and marks it seen.
        {
            let mut fut = pin!(rx.changed());
            assert_eq!(poll_once(fut.as_mut()), Poll::Ready(Ok(())));
        }
        assert!(!rx.has_changed().unwrap());
        assert_eq!(*rx.borrow(), 1);
        // Sends coalesce: one `changed`, the latest value.
        tx.send(2).unwrap();
        tx.send(3).unwrap();
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 3);
        assert!(timeout(Duration::from_millis(5), rx.changed())
            .await
            .is_err());
        // A send from another task wakes a waiting `changed`.
        let waiter = curing::spawn(async move {
            rx.changed().await.unwrap();
            *rx.borrow_and_update()
        });
        curing::yield_now().await;
        tx.send(4).unwrap();
        assert_eq!(waiter.await.unwrap(), 4);
    });
}

#[test]
fn borrow_and_update_marks_seen_and_ref_says_whether_new() {
    let (tx, mut rx) = watch::channel(String::from("a"));
    assert!(!rx.borrow_and_update().has_changed());
    tx.send_modify(|s| s.push('b'));
    assert!(rx.borrow().has_changed());
    assert!(rx.borrow().has_changed(), "borrow does not mark seen");
    let r = rx.borrow_and_update();
    assert!(r.has_changed());
    assert_eq!(*r, "ab");
    drop(r);
    assert!(!rx.borrow_and_update().has_changed());
    assert!(!tx.borrow().has_changed());
    assert_eq!(tx.send_replace("c".into()), "ab");
    assert!(rx.has_changed().unwrap());
    // Not modified: no new version.
    rx.borrow_and_update();
    assert!(!tx.send_if_modified(|s| s == "nothing"));
    assert!(!rx.has_changed().unwrap());
    assert!(tx.send_if_modified(|s| {
        s.push('d');
        true
    }));
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow(), "cd");
}

#[test]
fn a_gone_sender_ends_changed_after_the_last_unseen_value() {
    common::run(T, || async {
        let (tx, mut rx) = watch::channel(0);
        let mut seen_all = rx.clone();
        tx.send(1).unwrap();
        seen_all.borrow_and_update();
        drop(tx);
        assert!(rx.has_changed().is_err());
        // The unseen value first, then the end, every time after.
        assert_eq!(rx.changed().await, Ok(()));
        assert!(rx.changed().await.is_err());
        assert!(rx.changed().await.is_err());
        assert!(seen_all.changed().await.is_err());
        assert_eq!(*rx.borrow(), 1, "the last value stays readable");

        // Waiting receivers wake with the error.
        let (tx, rx) = watch::channel(());
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let mut rx = rx.clone();
                curing::spawn(async move { rx.changed().await })
            })
            .collect();
        curing::yield_now().await;
        drop(tx);
        for w in waiters {
            assert!(w.await.unwrap().is_err());
        }
    });
}

#[test]
fn no_receiver_fails_send_but_not_send_replace_or_modify() {
    let (tx, rx) = watch::channel(1);
    assert_eq!(tx.receiver_count(), 1);
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(2).unwrap_err().0, 2);
    assert_eq!(*tx.borrow(), 1, "a failed send stores nothing");
    assert_eq!(tx.send_replace(3), 1);
    tx.send_modify(|v| *v += 1);
    assert_eq!(*tx.borrow(), 4);
    let rx = tx.subscribe();
    assert!(
        !rx.has_changed().unwrap(),
        "a subscriber has seen the value"
    );
    assert!(!tx.is_closed());
    tx.send(5).unwrap();
    assert!(rx.has_changed().unwrap());
}

#[test]
fn a_dropped_changed_marks_nothing_seen() {
    common::run(T, || async {
        let (tx, mut rx) = watch::channel(0);
        {
            let mut fut = pin!(rx.changed());
            assert!(poll_once(fut.as_mut()).is_pending());
            tx.send(1).unwrap();
            // Woken, dropped before polled again.
        }
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.changed().await, Ok(()));
        assert!(timeout(Duration::from_millis(5), rx.changed())
            .await
            .is_err());
        tx.send(2).unwrap();
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 2);
    });
}

#[test]
fn one_send_wakes_many_receivers_and_clones_keep_what_was_seen() {
    common::run(T, || async {
        let (tx, rx) = watch::channel(0u32);
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let mut rx = rx.clone();
                curing::spawn(async move {
                    rx.changed().await.unwrap();
                    *rx.borrow_and_update()
                })
            })
            .collect();
        assert_eq!(tx.receiver_count(), 101);
        curing::yield_now().await;
        tx.send(7).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        assert_eq!(tx.receiver_count(), 1);
        let mut a = rx;
        let b = a.clone();
        assert!(b.has_changed().unwrap(), "a clone has not seen 7 either");
        a.borrow_and_update();
        let c = a.clone();
        assert!(!c.has_changed().unwrap());
    });
}

#[test]
fn thread_safe_observers_on_threads_and_runtimes_see_the_last_value() {
    common::run(T, || async {
        const N: u64 = 20_000;
        let (tx, rx) = twatch::channel(0u64);
        // Observers on other runtimes: values only grow, and the last is seen.
        let runtimes: Vec<_> = (0..3)
            .map(|_| {
                let mut rx = rx.clone();
                std::thread::spawn(move || {
                    curing::run(async move {
                        let mut last = *rx.borrow_and_update();
                        while rx.changed().await.is_ok() {
                            let now = *rx.borrow_and_update();
                            assert!(now > last, "{now} after {last}");
                            last = now;
                        }
                        last
                    })
                })
            })
            .collect();
        // The sender on a plain thread.
        let sender = std::thread::spawn(move || {
            for i in 1..=N {
                tx.send_modify(|v| *v = i);
            }
        });
        // And an observer here.
        let mut rx = rx;
        let mut last = 0;
        while rx.changed().await.is_ok() {
            let now = *rx.borrow_and_update();
            assert!(now > last);
            last = now;
        }
        assert_eq!(last, N);
        let ends = curing::spawn_blocking(move || {
            sender.join().unwrap();
            runtimes
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        assert_eq!(ends, [N, N, N]);
    });
}

#[test]
fn thread_safe_ping_pong_between_runtimes_loses_no_wake() {
    common::run(T, || async {
        let (ask, mut asked) = twatch::channel(0u32);
        let (answer, mut answered) = twatch::channel(0u32);
        let peer = std::thread::spawn(move || {
            curing::run(async move {
                while asked.changed().await.is_ok() {
                    let v = *asked.borrow_and_update();
                    answer.send(v + 1).unwrap();
                }
            })
        });
        for i in 1..=20_000 {
            ask.send(i).unwrap();
            answered.changed().await.unwrap();
            assert_eq!(*answered.borrow_and_update(), i + 1);
        }
        drop(ask);
        assert!(answered.changed().await.is_err());
        curing::spawn_blocking(move || peer.join().unwrap())
            .await
            .unwrap();
    });
}

#[test]
fn thread_safe_close_cancel_and_no_receiver() {
    common::run(T, || async {
        let (tx, mut rx) = twatch::channel(0);
        assert!(timeout(Duration::from_millis(5), rx.changed())
            .await
            .is_err());
        let tx = {
            let mut fut = pin!(rx.changed());
            assert!(poll_once(fut.as_mut()).is_pending());
            let t = std::thread::spawn(move || {
                tx.send(1).unwrap();
                tx
            });
            curing::spawn_blocking(move || t.join().unwrap())
                .await
                .unwrap()
        };
        assert!(
            rx.has_changed().unwrap(),
            "the dropped changed marked nothing"
        );
        let waiter = curing::spawn(async move {
            rx.changed().await.unwrap();
            let r = rx.changed().await;
            (r, *rx.borrow())
        });
        curing::yield_now().await;
        std::thread::spawn(move || drop(tx)).join().unwrap();
        let (r, last) = waiter.await.unwrap();
        assert!(r.is_err());
        assert_eq!(last, 1);

        let (tx, rx) = twatch::channel(1);
        drop(rx);
        assert_eq!(tx.send(2).unwrap_err().0, 2);
        assert_eq!(*tx.borrow(), 1);
        assert_eq!(tx.send_replace(3), 1);
        let rx = tx.subscribe();
        assert!(!rx.has_changed().unwrap());
        assert!(!tx.send_if_modified(|_| false));
        assert!(!rx.has_changed().unwrap());
    });
}

#[test]
fn thread_safe_ends_are_send_and_sync() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<twatch::Sender<u8>>();
    is_send_sync::<twatch::Receiver<u8>>();
}
