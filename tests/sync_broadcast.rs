//! `curing::sync::broadcast` and `curing::sync::thread::broadcast`: every
//! receiver gets every value in order, lag is reported exactly, close works
//! from both ends, a dropped `recv` takes nothing, values are dropped once
//! every receiver has them (memory bounded by the capacity), and the
//! thread-safe flavour works across threads and runtimes.

mod common;

use curing::sync::broadcast::{self, RecvError, TryRecvError};
use curing::sync::thread::broadcast as tbroadcast;
use curing::time::{sleep, timeout};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
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
fn every_receiver_gets_every_value_in_order() {
    common::run(T, || async {
        const N: u32 = 2000;
        let (tx, rx) = broadcast::channel::<u32>(N as usize);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let mut rx = rx.resubscribe();
            tasks.push(curing::spawn(async move {
                let mut got = Vec::new();
                loop {
                    match rx.recv().await {
                        Ok(v) => got.push(v),
                        Err(RecvError::Closed) => return got,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
            }));
        }
        drop(rx);
        assert_eq!(tx.receiver_count(), 8);
        for i in 0..N {
            assert_eq!(tx.send(i).unwrap(), 8);
            if i % 7 == 0 {
                curing::yield_now().await;
            }
        }
        drop(tx);
        let want: Vec<u32> = (0..N).collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), want);
        }
    });
}

#[test]
fn senders_clone_and_interleave_in_send_order() {
    let (tx, mut rx) = broadcast::channel(16);
    let tx2 = tx.clone();
    tx.send("a").unwrap();
    tx2.send("b").unwrap();
    tx.send("c").unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok("a"));
    assert_eq!(rx.try_recv(), Ok("b"));
    assert_eq!(rx.try_recv(), Ok("c"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(tx2);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn lag_is_reported_exactly_then_the_oldest_kept_follows() {
    common::run(T, || async {
        let (tx, mut slow) = broadcast::channel(4);
        let mut fast = tx.subscribe();
        for i in 0..10 {
            tx.send(i).unwrap();
            assert_eq!(fast.recv().await, Ok(i));
        }
        assert_eq!(slow.len(), 10);
        assert_eq!(slow.recv().await, Err(RecvError::Lagged(6)));
        assert_eq!(slow.len(), 4);
        for i in 6..10 {
            assert_eq!(slow.recv().await, Ok(i));
        }
        assert_eq!(slow.try_recv(), Err(TryRecvError::Empty));
        // Partly read, then behind again: 2 read of the next 4, 9 more sent
        // (13 in all, 4 kept): missed 13 - 2 - 4 = 7.
        for i in 10..14 {
            tx.send(i).unwrap();
        }
        assert_eq!(slow.recv().await, Ok(10));
        assert_eq!(slow.recv().await, Ok(11));
        for i in 14..23 {
            tx.send(i).unwrap();
        }
        assert_eq!(slow.try_recv(), Err(TryRecvError::Lagged(7)));
        let rest: Vec<i32> = std::iter::from_fn(|| slow.try_recv().ok()).collect();
        assert_eq!(rest, [19, 20, 21, 22]);
        // The receiver that read up to 9 missed 10..=18.
        assert_eq!(fast.recv().await, Err(RecvError::Lagged(9)));
        assert_eq!(fast.recv().await, Ok(19));
    });
}

#[test]
fn a_lag_then_close_gives_the_kept_values_then_closed() {
    let (tx, mut rx) = broadcast::channel(2);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(3)));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Ok(4));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn closing_wakes_waiting_receivers_and_no_receiver_fails_sends() {
    common::run(T, || async {
        let (tx, rx) = broadcast::channel::<u8>(4);
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let mut rx = rx.resubscribe();
                curing::spawn(async move { rx.recv().await })
            })
            .collect();
        drop(rx);
        curing::yield_now().await;
        let tx2 = tx.clone();
        drop(tx);
        curing::yield_now().await;
        drop(tx2);
        for w in waiters {
            assert_eq!(w.await.unwrap(), Err(RecvError::Closed));
        }

        let (tx, rx) = broadcast::channel::<String>(4);
        drop(rx);
        assert_eq!(tx.receiver_count(), 0);
        let err = tx.send("back".to_string()).unwrap_err();
        assert_eq!(err.0, "back");
        // A new subscriber makes sends work again.
        let mut rx = tx.subscribe();
        assert_eq!(tx.send("x".to_string()).unwrap(), 1);
        assert_eq!(rx.recv().await.unwrap(), "x");
    });
}

#[test]
fn a_dropped_recv_takes_nothing() {
    common::run(T, || async {
        let (tx, mut rx) = broadcast::channel(4);
        // Pending, then dropped.
        {
            let mut fut = pin!(rx.recv());
            assert!(poll_once(fut.as_mut()).is_pending());
        }
        // Cut off by a timeout.
        assert!(timeout(Duration::from_millis(5), rx.recv()).await.is_err());
        // Woken (a value waits) but dropped before being polled again.
        {
            let mut fut = pin!(rx.recv());
            assert!(poll_once(fut.as_mut()).is_pending());
            tx.send(1).unwrap();
        }
        assert_eq!(rx.len(), 1);
        tx.send(2).unwrap();
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx.recv().await, Ok(2));
        // A recv raced against a sleep that wins many times over, while
        // values arrive: every value still comes exactly once.
        let sender = curing::spawn(async move {
            for i in 0..200 {
                tx.send(i).unwrap();
                sleep(Duration::from_micros(200)).await;
            }
        });
        let mut got = Vec::new();
        while got.len() < 200 {
            if let Ok(r) = timeout(Duration::from_micros(50), rx.recv()).await {
                got.push(r.unwrap());
            }
        }
        sender.await.unwrap();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    });
}

#[test]
fn values_are_dropped_once_every_receiver_has_them() {
    let (tx, mut a) = broadcast::channel(8);
    let mut b = tx.subscribe();
    let value = Rc::new(());
    tx.send(value.clone()).unwrap();
    assert_eq!(Rc::strong_count(&value), 2);
    let got_a = a.try_recv().unwrap();
    assert_eq!(
        Rc::strong_count(&value),
        3,
        "a gets a clone; b still needs it"
    );
    let got_b = b.try_recv().unwrap();
    assert_eq!(
        Rc::strong_count(&value),
        3,
        "b, the last, gets the value itself"
    );
    drop((got_a, got_b));
    assert_eq!(Rc::strong_count(&value), 1);
    // A receiver that goes away no longer holds what it had not read.
    tx.send(value.clone()).unwrap();
    tx.send(value.clone()).unwrap();
    assert_eq!(a.try_recv().map(drop), Ok(()));
    assert_eq!(Rc::strong_count(&value), 3);
    drop(b);
    assert_eq!(Rc::strong_count(&value), 2, "only a's unread value is left");
    drop(a);
    assert_eq!(Rc::strong_count(&value), 1);
    // With no reader at all the ring keeps at most `capacity` values.
    let (tx, rx) = broadcast::channel(3);
    for _ in 0..100 {
        tx.send(value.clone()).unwrap();
    }
    assert_eq!(Rc::strong_count(&value), 4);
    drop(rx);
    assert_eq!(Rc::strong_count(&value), 1);
}

#[test]
fn many_receivers_and_resubscribe() {
    common::run(T, || async {
        let (tx, rx) = broadcast::channel::<u64>(64);
        tx.send(999).unwrap(); // before the others subscribe: only rx has it
        let mut rxs: Vec<_> = (0..200).map(|_| rx.resubscribe()).collect();
        assert_eq!(tx.receiver_count(), 201);
        let tasks: Vec<_> = rxs
            .drain(..)
            .map(|mut rx| {
                curing::spawn(async move {
                    let mut sum = 0;
                    while let Ok(v) = rx.recv().await {
                        sum += v;
                    }
                    sum
                })
            })
            .collect();
        for i in 1..=50 {
            tx.send(i).unwrap();
            curing::yield_now().await;
        }
        drop(tx);
        for t in tasks {
            assert_eq!(t.await.unwrap(), 1275);
        }
        drop(rx);
    });
}

/// The values `rx` gets until the channel closes; panics on a lag.
async fn collect(mut rx: tbroadcast::Receiver<u64>) -> Vec<u64> {
    let mut got = Vec::new();
    loop {
        match rx.recv().await {
            Ok(v) => got.push(v),
            Err(RecvError::Closed) => return got,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

#[test]
fn thread_safe_across_threads_and_runtimes() {
    common::run(T, || async {
        const N: u64 = 5000;
        let (tx, rx) = tbroadcast::channel::<u64>(N as usize);
        // Receivers on other runtimes (cross-runtime wakes) ...
        let runtimes: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.resubscribe();
                std::thread::spawn(move || curing::run(collect(rx)))
            })
            .collect();
        // ... and on plain threads.
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let mut rx = rx.resubscribe();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.blocking_recv() {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        // And here, next to the sender.
        let local = curing::spawn(collect(rx));
        // A second sender on a plain thread sends the odd numbers.
        let tx2 = tx.clone();
        let odd = std::thread::spawn(move || {
            for i in (1..N).step_by(2) {
                tx2.send(i).unwrap();
            }
        });
        for i in (0..N).step_by(2) {
            tx.send(i).unwrap();
            if i % 64 == 0 {
                curing::yield_now().await;
            }
        }
        curing::spawn_blocking(move || odd.join().unwrap())
            .await
            .unwrap();
        drop(tx);
        let check = |got: Vec<u64>| {
            assert_eq!(got.len(), N as usize);
            // Each sender's values in its order, every value once.
            let even: Vec<_> = got.iter().copied().filter(|v| v % 2 == 0).collect();
            let odd: Vec<_> = got.iter().copied().filter(|v| v % 2 == 1).collect();
            assert_eq!(even, (0..N).step_by(2).collect::<Vec<_>>());
            assert_eq!(odd, (1..N).step_by(2).collect::<Vec<_>>());
            got
        };
        let first = check(local.await.unwrap());
        let joined = curing::spawn_blocking(move || {
            runtimes
                .into_iter()
                .chain(threads)
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        for got in joined {
            // Every receiver saw the one order the channel has.
            assert_eq!(check(got), first);
        }
    });
}

#[test]
fn thread_safe_ping_pong_between_runtimes_loses_no_wake() {
    common::run(T, || async {
        let (to_peer, mut peer_rx) = tbroadcast::channel::<u32>(2);
        let (peer_tx, mut back) = tbroadcast::channel::<u32>(2);
        let peer = std::thread::spawn(move || {
            curing::run(async move {
                while let Ok(v) = peer_rx.recv().await {
                    peer_tx.send(v + 1).unwrap();
                }
            })
        });
        for i in 0..20_000 {
            to_peer.send(i).unwrap();
            assert_eq!(back.recv().await, Ok(i + 1));
        }
        drop(to_peer);
        assert_eq!(back.recv().await, Err(RecvError::Closed));
        curing::spawn_blocking(move || peer.join().unwrap())
            .await
            .unwrap();
    });
}

#[test]
fn thread_safe_lag_close_and_drops() {
    let (tx, mut rx) = tbroadcast::channel(8);
    let value = Arc::new(());
    let t = std::thread::spawn({
        let value = value.clone();
        move || {
            for _ in 0..100 {
                tx.send(value.clone()).unwrap();
            }
        }
    });
    t.join().unwrap();
    assert_eq!(Arc::strong_count(&value), 9, "8 kept");
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Lagged(92));
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    assert_eq!(n, 8);
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(Arc::strong_count(&value), 1);
    let (tx, rx) = tbroadcast::channel::<u8>(1);
    drop(rx);
    assert_eq!(tx.send(5).unwrap_err().0, 5);
}

#[test]
fn thread_safe_dropped_recv_takes_nothing() {
    common::run(T, || async {
        let (tx, mut rx) = tbroadcast::channel(4);
        assert!(timeout(Duration::from_millis(5), rx.recv()).await.is_err());
        let tx = {
            // Pending, woken from another thread, dropped unpolled.
            let mut fut = pin!(rx.recv());
            assert!(poll_once(fut.as_mut()).is_pending());
            let t = std::thread::spawn(move || {
                tx.send(7).unwrap();
                tx
            });
            let tx = curing::spawn_blocking(move || t.join().unwrap())
                .await
                .unwrap();
            tx.send(8).unwrap();
            tx
        };
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.recv().await, Ok(7));
        assert_eq!(rx.recv().await, Ok(8));
        assert!(timeout(Duration::from_millis(5), rx.recv()).await.is_err());
        drop(tx);
        assert_eq!(rx.recv().await, Err(RecvError::Closed));
    });
}

#[test]
fn thread_safe_ends_are_send() {
    fn is_send<T: Send>() {}
    fn is_sync<T: Sync>() {}
    is_send::<tbroadcast::Sender<u8>>();
    is_sync::<tbroadcast::Sender<u8>>();
    is_send::<tbroadcast::Receiver<u8>>();
}

/// A value whose clone panics on demand.
#[derive(Debug, PartialEq)]
struct Touchy(u32, Rc<std::cell::Cell<bool>>);

impl Clone for Touchy {
    fn clone(&self) -> Touchy {
        assert!(!self.1.get(), "clone refused");
        Touchy(self.0, self.1.clone())
    }
}

#[test]
fn a_panicking_clone_leaves_the_channel_as_it_was() {
    let refuse = Rc::new(std::cell::Cell::new(false));
    let (tx, mut a) = broadcast::channel(4);
    let mut b = tx.subscribe();
    tx.send(Touchy(1, refuse.clone())).unwrap();
    refuse.set(true);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.try_recv()));
    assert!(caught.is_err());
    refuse.set(false);
    // Both receivers still get the value, once each.
    assert_eq!(a.try_recv().unwrap().0, 1);
    assert_eq!(b.try_recv().unwrap().0, 1);
    assert_eq!(a.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(b.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(Rc::strong_count(&refuse), 1, "the channel keeps nothing");
}
