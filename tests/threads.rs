//! Threads: `spawn_blocking` (a bounded pool that grows and shrinks), the
//! way back into async code from threads (`Handle`), blocking on a runtime
//! thread detected, thread-safe channels in both directions, and
//! cross-thread wakes (eventfd from plain threads, `MSG_RING` between
//! runtimes) with no lost wake-up.

mod common;

use curing::runtime::{blocking_pool, Handle};
use curing::sync::thread::{mpsc, oneshot};
use curing::Runtime;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

/// Runs `f` on its own thread; fails the test if it takes longer than `T`
/// (a lost wake-up or a deadlock hangs instead of failing otherwise).
fn bounded<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || tx.send(f()).unwrap());
    match rx.recv_timeout(T) {
        Ok(r) => r,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("timed out after {T:?}"),
        Err(_) => std::panic::resume_unwind(t.join().unwrap_err()),
    }
}

/// The panic message of a caught panic.
fn message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn spawn_blocking_returns_value_and_panic() {
    common::run(T, || async {
        let h = curing::spawn_blocking(|| 6 * 7);
        assert_eq!(h.await.unwrap(), 42);
        let h = curing::spawn_blocking(|| -> u32 { panic!("boom in blocking") });
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(message(err.into_panic()), "boom in blocking");
    });
}

#[test]
fn pool_grows_to_its_cap_and_shrinks_when_idle() {
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    bounded(|| {
        let rt = Runtime::builder()
            .max_blocking_threads(4)
            .blocking_keep_alive(Duration::from_millis(100))
            .build()
            .unwrap();
        rt.block_on(async {
            let running = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..12)
                .map(|_| {
                    let (running, peak) = (running.clone(), peak.clone());
                    curing::spawn_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            let during = blocking_pool();
            assert!(during.threads <= 4, "{during:?}");
            for h in hs {
                h.await.unwrap();
            }
            assert_eq!(peak.load(Ordering::SeqCst), 4, "the pool grows to its cap");
            assert!(blocking_pool().threads >= 1);
            // Idle threads exit after keep_alive.
            let deadline = Instant::now() + Duration::from_secs(3);
            while blocking_pool().threads > 0 {
                assert!(Instant::now() < deadline, "{:?}", blocking_pool());
                curing::time::sleep(Duration::from_millis(20)).await;
            }
            // And it grows again on demand.
            assert_eq!(curing::spawn_blocking(|| 1).await.unwrap(), 1);
        });
    });
}

#[test]
fn blocking_thread_calls_back_into_async_many_times() {
    common::run(T, || async {
        let counter = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let handle = Handle::current();
        let total = curing::spawn_blocking(move || {
            assert_eq!(Handle::current(), handle, "the spawning runtime is current");
            let mut total = 0u64;
            for i in 0..2000u64 {
                total += Handle::current().block_on_with(move || async move {
                    curing::runtime::nop().await.unwrap();
                    i
                });
            }
            total
        });
        // The runtime keeps running its own tasks meanwhile.
        let c = counter.clone();
        let ticker = curing::spawn(async move {
            loop {
                c.set(c.get() + 1);
                curing::time::sleep(Duration::from_millis(1)).await;
            }
        });
        assert_eq!(total.await.unwrap(), 1999 * 2000 / 2);
        ticker.abort();
        assert!(counter.get() > 0);
    });
}

#[test]
fn block_on_with_runs_non_send_futures_and_resumes_panics() {
    common::run(T, || async {
        let h = Handle::current();
        let got = curing::spawn_blocking(move || {
            let v = h.block_on_with(|| async {
                let rc = std::rc::Rc::new(3);
                curing::yield_now().await;
                *rc
            });
            let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                h.block_on(async { panic!("inner panic") })
            }));
            (v, message(p.unwrap_err()))
        });
        assert_eq!(got.await.unwrap(), (3, "inner panic".to_string()));
    });
}

#[test]
fn plain_threads_spawn_and_block_on_through_a_handle() {
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    bounded(|| {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let handle = handle.clone();
                std::thread::spawn(move || {
                    let mut sum = 0;
                    for i in 0..200 {
                        sum += handle.block_on(async move { t * 1000 + i });
                    }
                    let joined = handle.spawn(async move { t }).join().unwrap();
                    (sum, joined)
                })
            })
            .collect();
        // The runtime runs until every thread is done.
        let threads = rt.block_on(async move {
            let mut out = Vec::new();
            for t in threads {
                out.push(
                    curing::spawn_blocking(move || t.join().unwrap())
                        .await
                        .unwrap(),
                );
            }
            out
        });
        for (t, (sum, joined)) in threads.into_iter().enumerate() {
            assert_eq!(sum, (0..200).map(|i| t * 1000 + i).sum::<usize>());
            assert_eq!(joined, t);
        }
        drop(rt);
        // A handle to a dropped runtime: work is refused, not hung.
        assert!(!handle.is_alive());
        let err = handle.spawn(async { 1 }).join().unwrap_err();
        assert!(err.is_cancelled());
    });
}

#[test]
fn blocking_on_the_runtime_thread_panics_clearly() {
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    bounded(|| {
        let rt = Runtime::new().unwrap();
        let msg = rt.block_on(async {
            let h = curing::spawn(async {
                Handle::current().block_on(async { 1 });
            });
            message(h.await.unwrap_err().into_panic())
        });
        assert!(
            msg.contains("Handle::block_on called on a runtime thread"),
            "{msg}"
        );
        assert!(msg.contains("spawn_blocking"), "{msg}");
        let msg = rt.block_on(async {
            let h = curing::spawn(async {
                let (_tx, mut rx) = mpsc::channel::<u8>(1);
                rx.blocking_recv();
            });
            message(h.await.unwrap_err().into_panic())
        });
        assert!(
            msg.contains("mpsc::Receiver::blocking_recv called on a runtime thread"),
            "{msg}"
        );
        // The owner thread, outside block_on: the runtime is not running.
        let h = rt.handle();
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.block_on(async { 1 })));
        let msg = message(p.unwrap_err());
        assert!(msg.contains("deadlock"), "{msg}");
    });
}

#[test]
fn handle_current_outside_runtime_is_none() {
    // The caught panic may open fds (backtrace symbolization).
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    assert!(Handle::try_current().is_none());
    let p = std::panic::catch_unwind(Handle::current).unwrap_err();
    assert!(message(p).contains("outside a runtime"));
}

#[test]
fn threads_send_to_tasks_and_tasks_to_threads_under_load() {
    common::run(T, || async {
        const PER: u64 = 5000;
        // Threads -> task, bounded (senders wait for room).
        let (tx, mut rx) = mpsc::channel::<u64>(8);
        let producers: Vec<_> = (0..4)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        tx.blocking_send(t * PER + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        // Task -> thread, bounded, concurrently.
        let (back_tx, mut back_rx) = mpsc::channel::<u64>(4);
        let consumer = std::thread::spawn(move || {
            let mut sum = 0;
            while let Some(v) = back_rx.blocking_recv() {
                sum += v;
            }
            sum
        });
        let mut sum = 0;
        let mut n = 0;
        while let Some(v) = rx.recv().await {
            sum += v;
            n += 1;
            back_tx.send(v).await.unwrap();
        }
        drop(back_tx);
        assert_eq!(n, 4 * PER);
        let expect = (0..4 * PER).sum::<u64>();
        assert_eq!(sum, expect);
        let back = curing::spawn_blocking(move || consumer.join().unwrap());
        assert_eq!(back.await.unwrap(), expect);
        for p in producers {
            p.join().unwrap();
        }
    });
}

#[test]
fn oneshot_both_directions() {
    common::run(T, || async {
        let (to_thread, from_task) = oneshot::channel::<String>();
        let (to_task, from_thread) = oneshot::channel::<String>();
        let t = std::thread::spawn(move || {
            let got = from_task.blocking_recv().unwrap();
            to_task.send(got + " back").unwrap();
        });
        to_thread.send("there".into()).unwrap();
        assert_eq!(from_thread.await.unwrap(), "there back");
        // A dropped sender is seen as an error, not a hang.
        let (tx, rx) = oneshot::channel::<u8>();
        std::thread::spawn(move || drop(tx));
        assert!(rx.await.is_err());
        curing::spawn_blocking(move || t.join().unwrap())
            .await
            .unwrap();
    });
}

#[test]
fn cancelled_bounded_send_passes_its_room_on() {
    common::run(T, || async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.send(0).await.unwrap();
        let tx2 = tx.clone();
        // Two senders wait; the first is cancelled after being handed room.
        let first = curing::spawn({
            let tx = tx.clone();
            async move { tx.send(1).await }
        });
        let second = curing::spawn(async move { tx2.send(2).await });
        curing::yield_now().await;
        assert_eq!(rx.recv().await, Some(0)); // wakes `first`
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        second.await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(2));
    });
}

/// Many wakes of one task from foreign threads: each round waits for a
/// wake that a thread sends; a lost wake-up hangs (and fails on timeout).
fn ping_pong(rounds: u32, rt: &Runtime, remote: Option<Handle>) {
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let (back_tx, mut back_rx) = mpsc::channel::<u32>(1);
        let peer = match remote {
            // The peer is a task on another runtime (MSG_RING wakes both ways).
            Some(h) => {
                let j = h.spawn(async move {
                    while let Some(v) = rx.recv().await {
                        back_tx.send(v + 1).await.unwrap();
                    }
                });
                Box::new(move || drop(j.join())) as Box<dyn FnOnce() + Send>
            }
            // The peer is a plain thread (eventfd wakes).
            None => {
                let t = std::thread::spawn(move || {
                    while let Some(v) = rx.blocking_recv() {
                        back_tx.blocking_send(v + 1).unwrap();
                    }
                });
                Box::new(move || t.join().unwrap())
            }
        };
        for i in 0..rounds {
            tx.send(i).await.unwrap();
            assert_eq!(back_rx.recv().await, Some(i + 1));
        }
        drop(tx);
        curing::spawn_blocking(peer).await.unwrap();
    });
}

/// A second runtime on its own thread; returns its handle and a stopper.
fn other_runtime(
    builder: curing::Builder,
) -> (
    Handle,
    oneshot::Sender<()>,
    std::thread::JoinHandle<curing::stats::Stats>,
) {
    let (htx, hrx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let t = std::thread::spawn(move || {
        let rt = builder.build().unwrap();
        htx.send(rt.handle()).unwrap();
        rt.block_on(stop_rx).ok();
        rt.stats()
    });
    (hrx.recv().unwrap(), stop_tx, t)
}

#[test]
fn cross_thread_wakes_from_plain_threads_lose_nothing() {
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    bounded(|| {
        let rt = Runtime::new().unwrap();
        ping_pong(20_000, &rt, None);
        assert_eq!(rt.stats().msg_wakes_sent, 0);
    });
}

#[test]
fn cross_runtime_wakes_use_msg_ring_and_lose_nothing() {
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    bounded(|| {
        let rt = Runtime::new().unwrap();
        let (h, stop, t) = other_runtime(Runtime::builder());
        ping_pong(20_000, &rt, Some(h));
        stop.send(()).unwrap();
        let other = t.join().unwrap();
        let ours = rt.stats();
        if common::is_epoll() {
            // Same wakes, all through the eventfd: no MSG_RING on epoll.
            assert_eq!(ours.msg_wakes_sent + other.msg_wakes_sent, 0);
            return;
        }
        assert!(ours.msg_wakes_sent > 0, "{ours:?}");
        assert!(other.msg_wakes_received > 0, "{other:?}");
        assert!(other.msg_wakes_sent > 0, "{other:?}");
        assert_eq!(ours.msg_wake_failures + other.msg_wake_failures, 0);
    });
}

#[test]
fn cross_runtime_wakes_without_msg_ring_use_the_eventfd() {
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    bounded(|| {
        let rt = Runtime::builder().msg_ring(false).build().unwrap();
        let (h, stop, t) = other_runtime(Runtime::builder().msg_ring(false));
        ping_pong(5_000, &rt, Some(h));
        stop.send(()).unwrap();
        let other = t.join().unwrap();
        assert_eq!(rt.stats().msg_wakes_sent + other.msg_wakes_sent, 0);
    });
}

#[test]
fn many_threads_wake_one_task_concurrently() {
    common::run(T, || async {
        // 8 threads x 2000 wakes of tasks through unbounded channels, all at
        // once; every message arrives.
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        tx.try_send(i).unwrap();
                        if i % 64 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        assert_eq!(n, 16_000);
        curing::spawn_blocking(move || threads.into_iter().for_each(|t| t.join().unwrap()))
            .await
            .unwrap();
    });
}

/// Aborting a `spawn_blocking` handle before a thread took the work: the
/// closure never runs (both drivers share the behaviour).
#[test]
fn aborted_queued_blocking_work_never_runs() {
    bounded(|| {
        let rt = Runtime::builder().max_blocking_threads(1).build().unwrap();
        rt.block_on(async {
            let ran = Arc::new(AtomicUsize::new(0));
            let busy = curing::spawn_blocking(|| std::thread::sleep(Duration::from_millis(100)));
            let flag = ran.clone();
            let queued = curing::spawn_blocking(move || {
                flag.fetch_add(1, Ordering::SeqCst);
            });
            curing::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(blocking_pool().queued, 1, "the second closure waits");
            queued.abort();
            busy.await.unwrap();
            curing::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                ran.load(Ordering::SeqCst),
                0,
                "aborted while queued: never ran"
            );
        });
    });
}

/// Closures that block until an async file operation has finished cannot
/// stall that operation, whatever the driver (on epoll it runs on the
/// same pool's threads, under its own cap).
#[test]
fn blocking_closures_cannot_starve_file_operations() {
    bounded(|| {
        let rt = Runtime::builder().max_blocking_threads(2).build().unwrap();
        rt.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let rx = Arc::new(std::sync::Mutex::new(rx));
            let blockers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = rx.clone();
                    curing::spawn_blocking(move || rx.lock().unwrap().recv().unwrap())
                })
                .collect();
            curing::time::sleep(Duration::from_millis(10)).await;
            let meta = curing::time::timeout(Duration::from_secs(5), curing::fs::metadata("/"))
                .await
                .expect("the file operation ran beside the blocked closures");
            assert!(meta.unwrap().is_dir());
            tx.send(()).unwrap();
            tx.send(()).unwrap();
            for b in blockers {
                b.await.unwrap();
            }
        });
    });
}
