//! The runtime and executor through the public API: `run`, `spawn`,
//! `JoinHandle` (values, aborts, panics, detaching), `yield_now`, wakes from
//! other threads and other runtimes, nesting, shutdown with tasks pending,
//! and submission batching.

mod common;

use curing::runtime::nop;
use curing::time::sleep;
use curing::Runtime;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Polls `fut` exactly once with the current task's waker.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// A waker that does nothing (`Waker::noop` is newer than the MSRV).
fn noop_waker() -> Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    Waker::from(Arc::new(Noop))
}

/// Counts drops, to see which futures the runtime dropped.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn run_returns_the_future_output() {
    let _fd = common::fd_lock();
    assert_eq!(curing::run(async { 6 * 7 }), 42);
    let s = curing::run(async {
        nop().await.unwrap();
        String::from("after a nop")
    });
    assert_eq!(s, "after a nop");
}

#[test]
fn spawn_and_join_give_each_task_its_value() {
    common::run(Duration::from_secs(5), || async {
        let handles: Vec<_> = (0..100u64)
            .map(|i| {
                curing::spawn(async move {
                    nop().await.unwrap();
                    i * i
                })
            })
            .collect();
        let ids: std::collections::HashSet<_> = handles.iter().map(|h| h.id()).collect();
        assert_eq!(ids.len(), 100, "task ids are unique");
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), (i * i) as u64);
        }
        // A task awaiting another task.
        let inner = curing::spawn(async { 5 });
        let outer = curing::spawn(async move { inner.await.unwrap() + 1 });
        assert_eq!(outer.await.unwrap(), 6);
    });
}

#[test]
fn aborted_task_gives_cancelled_and_its_future_is_dropped() {
    common::run(Duration::from_secs(5), || async {
        let drops = Rc::new(Cell::new(0));
        let guard = DropCounter(drops.clone());
        let reached_end = Rc::new(Cell::new(false));
        let end = reached_end.clone();
        let h = curing::spawn(async move {
            let _guard = guard;
            nop().await.unwrap();
            std::future::pending::<()>().await;
            end.set(true);
        });
        // Let it start and park on `pending`.
        for _ in 0..3 {
            curing::yield_now().await;
        }
        nop().await.unwrap();
        assert!(!h.is_finished());
        assert_eq!(drops.get(), 0);
        h.abort();
        assert_eq!(drops.get(), 1, "abort drops the future at once");
        assert!(h.is_finished());
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(!err.is_panic());
        assert_eq!(err.to_string(), "task was cancelled");
        assert!(!reached_end.get());
    });
}

#[test]
fn abort_of_a_never_polled_task_cancels_it() {
    common::run(Duration::from_secs(5), || async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let h = curing::spawn(async move { r.set(true) });
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        curing::yield_now().await;
        assert!(!ran.get(), "an aborted task never runs");
    });
}

#[test]
fn abort_with_an_op_in_flight_reaps_the_op() {
    common::run(Duration::from_secs(5), || async {
        let before = curing::runtime::stats();
        let h = curing::spawn(async {
            loop {
                nop().await.unwrap();
            }
        });
        for _ in 0..5 {
            curing::yield_now().await;
        }
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        sleep(Duration::from_millis(5)).await;
        let s = curing::runtime::stats();
        assert!(s.ops_submitted > before.ops_submitted, "{s:?}");
        assert_eq!(s.ops_submitted, s.ops_completed, "{s:?}");
        assert_eq!(s.stale_cqes, 0, "{s:?}");
    });
}

#[test]
fn a_task_can_abort_itself() {
    common::run(Duration::from_secs(5), || async {
        let slot: Rc<RefCell<Option<curing::JoinHandle<()>>>> = Rc::default();
        let me = slot.clone();
        let drops = Rc::new(Cell::new(0));
        let guard = DropCounter(drops.clone());
        let h = curing::spawn(async move {
            let _guard = guard;
            curing::yield_now().await;
            me.borrow().as_ref().expect("handle stored").abort();
            // Still running this poll: the drop happens when it returns.
            std::future::pending::<()>().await;
        });
        *slot.borrow_mut() = Some(h);
        for _ in 0..4 {
            curing::yield_now().await;
        }
        assert_eq!(drops.get(), 1);
        let h = slot.borrow_mut().take().unwrap();
        assert!(h.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn panicking_task_gives_panicked_and_the_runtime_keeps_working() {
    common::run(Duration::from_secs(5), || async {
        let p = curing::spawn(async {
            nop().await.unwrap();
            panic!("boom from a task");
        });
        let sibling = curing::spawn(async {
            for _ in 0..10 {
                nop().await.unwrap();
                curing::yield_now().await;
            }
            "sibling done"
        });
        let err = p.await.unwrap_err();
        assert!(err.is_panic(), "{err:?}");
        assert!(!err.is_cancelled());
        assert!(err.to_string().contains("boom from a task"), "{err}");
        assert!(format!("{err:?}").contains("boom from a task"));
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom from a task"));
        assert_eq!(sibling.await.unwrap(), "sibling done");
        nop().await.unwrap();
        sleep(Duration::from_millis(1)).await;
    });
}

#[test]
fn panic_with_an_op_in_flight_still_reaps_the_op() {
    common::run(Duration::from_secs(5), || async {
        let h = curing::spawn(async {
            let mut op = Box::pin(nop());
            assert!(poll_once(&mut op).await.is_pending());
            panic!("panic while holding an in-flight op");
        });
        assert!(h.await.unwrap_err().is_panic());
        sleep(Duration::from_millis(5)).await;
        let s = curing::runtime::stats();
        assert!(s.ops_submitted >= 1);
        assert_eq!(s.ops_submitted, s.ops_completed, "{s:?}");
        nop().await.unwrap();
    });
}

#[test]
fn panic_with_string_payload_is_reported() {
    common::run(Duration::from_secs(5), || async {
        let n = 7;
        let h = curing::spawn(async move { panic!("formatted {n}") });
        let err = h.await.unwrap_err();
        assert!(err.to_string().contains("formatted 7"), "{err}");
        let io: std::io::Error = curing::spawn(async { panic!("as io") })
            .await
            .unwrap_err()
            .into();
        assert!(io.to_string().contains("as io"), "{io}");
    });
}

#[test]
fn into_panic_on_cancelled_panics() {
    let _fd = common::fd_lock();
    let err = curing::run(async {
        let h = curing::spawn(std::future::pending::<()>());
        h.abort();
        h.await.unwrap_err()
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| err.into_panic()));
    assert!(r.is_err());
}

#[test]
fn panic_in_block_on_future_propagates_and_the_runtime_stays_usable() {
    common::within(Duration::from_secs(5), || {
        let rt = Runtime::new().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async {
                nop().await.unwrap();
                panic!("main future panics");
            })
        }));
        let payload = r.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"main future panics"));
        // The runtime is no longer current on this thread, and works again.
        let v = rt.block_on(async {
            nop().await.unwrap();
            curing::spawn(async { 3 }).await.unwrap()
        });
        assert_eq!(v, 3);
    });
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    common::run(Duration::from_secs(5), || async {
        let done = Rc::new(Cell::new(0));
        for _ in 0..10 {
            let d = done.clone();
            drop(curing::spawn(async move {
                nop().await.unwrap();
                sleep(Duration::from_millis(2)).await;
                nop().await.unwrap();
                d.set(d.get() + 1);
            }));
        }
        let start = Instant::now();
        while done.get() < 10 {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "detached tasks did not finish"
            );
            sleep(Duration::from_millis(1)).await;
        }
    });
}

#[test]
fn abort_of_a_finished_task_is_harmless() {
    common::run(Duration::from_secs(5), || async {
        let h = curing::spawn(async {
            nop().await.unwrap();
            11
        });
        while !h.is_finished() {
            curing::yield_now().await;
        }
        h.abort();
        h.abort();
        assert_eq!(h.await.unwrap(), 11, "abort after finish keeps the value");
        // And the runtime still runs new tasks (slot reuse, generations).
        let h2 = curing::spawn(async { 12 });
        assert_eq!(h2.await.unwrap(), 12);
    });
}

#[test]
fn stale_handle_abort_does_not_cancel_the_slot_successor() {
    common::run(Duration::from_secs(5), || async {
        let first = curing::spawn(async { 1 });
        while !first.is_finished() {
            curing::yield_now().await;
        }
        // The next task very likely reuses the first one's slot.
        let second = curing::spawn(async {
            sleep(Duration::from_millis(5)).await;
            2
        });
        first.abort();
        assert_eq!(second.await.unwrap(), 2);
        assert_eq!(first.await.unwrap(), 1);
    });
}

#[test]
fn ten_thousand_tasks_each_doing_a_nop() {
    common::run(Duration::from_secs(10), || async {
        let before = curing::runtime::stats();
        let handles: Vec<_> = (0..10_000u64)
            .map(|i| {
                curing::spawn(async move {
                    nop().await.unwrap();
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, 9_999 * 10_000 / 2);
        let s = curing::runtime::stats();
        assert_eq!(s.ops_submitted - before.ops_submitted, 10_000, "{s:?}");
        assert_eq!(s.ops_completed - before.ops_completed, 10_000, "{s:?}");
        assert_eq!(s.stale_cqes, 0);
    });
}

#[test]
fn block_on_twice_on_one_runtime() {
    common::within(Duration::from_secs(5), || {
        let rt = Runtime::new().unwrap();
        assert_eq!(rt.block_on(async { 1 }), 1);
        assert_eq!(
            rt.block_on(async { 2 }),
            2,
            "the second block_on polls its future"
        );
        assert_eq!(rt.block_on(async { nop().await.map(|_| 3) }).unwrap(), 3);
    });
}

#[test]
fn task_count_tracks_live_tasks() {
    let _fd = common::fd_lock();
    let rt = Runtime::new().unwrap();
    assert_eq!(rt.task_count(), 0);
    let handles: Vec<_> = (0..5)
        .map(|_| rt.spawn(sleep(Duration::from_millis(5))))
        .collect();
    assert_eq!(rt.task_count(), 5);
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(rt.task_count(), 0);
}

#[test]
#[should_panic(expected = "cannot start a runtime from within a runtime (nested block_on)")]
fn nested_block_on_panics_clearly() {
    let _fd = common::fd_lock();
    let outer = Runtime::new().unwrap();
    let inner = Runtime::new().unwrap();
    outer.block_on(async {
        inner.block_on(async {});
    });
}

#[test]
#[should_panic(expected = "cannot start a runtime from within a runtime")]
fn nested_run_panics_clearly() {
    let _fd = common::fd_lock();
    curing::run(async {
        curing::run(async {});
    });
}

#[test]
fn nested_block_on_of_the_same_runtime_panics() {
    common::within(Duration::from_secs(5), || {
        let rt = Runtime::new().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async { rt.block_on(async {}) })
        }));
        assert!(r.is_err());
        assert_eq!(
            rt.block_on(async { 9 }),
            9,
            "usable after the failed nesting"
        );
    });
}

#[test]
#[should_panic(
    expected = "curing: no runtime on this thread; call this inside curing::run(...) or Runtime::block_on(...)"
)]
fn spawn_outside_a_runtime_panics_clearly() {
    // A panic's backtrace opens files: hold the fd lock.
    let _fd = common::fd_lock();
    drop(curing::spawn(async {}));
}

#[test]
#[should_panic(expected = "curing: no runtime on this thread")]
fn stats_outside_a_runtime_panics_clearly() {
    // A panic's backtrace opens files: hold the fd lock.
    let _fd = common::fd_lock();
    let _ = curing::runtime::stats();
}

#[test]
#[should_panic(expected = "curing: no runtime on this thread")]
fn polling_an_op_outside_a_runtime_panics_clearly() {
    // A panic's backtrace opens files: hold the fd lock.
    let _fd = common::fd_lock();
    let mut op = Box::pin(nop());
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let _ = op.as_mut().poll(&mut cx);
}

#[test]
fn spawn_outside_panics_after_a_runtime_was_dropped() {
    let _fd = common::fd_lock();
    drop(Runtime::new().unwrap());
    curing::run(async {});
    let r = std::panic::catch_unwind(|| drop(curing::spawn(async {})));
    assert!(r.is_err(), "no runtime is current after run returns");
}

#[test]
fn tasks_left_pending_run_at_the_next_block_on() {
    common::within(Duration::from_secs(5), || {
        let rt = Runtime::new().unwrap();
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        // Returns the handle, not awaiting it: the task outlives this block_on.
        #[allow(clippy::async_yields_async)]
        let spawn_it = async move {
            let task = async move {
                sleep(Duration::from_millis(10)).await;
                d.set(true);
                "later"
            };
            curing::spawn(task)
        };
        let h = rt.block_on(spawn_it);
        assert!(!done.get());
        assert_eq!(rt.task_count(), 1);
        assert_eq!(rt.block_on(h).unwrap(), "later");
        assert!(done.get());
    });
}

#[test]
fn tasks_pending_at_runtime_drop_are_dropped_and_report_cancelled() {
    let _fd = common::fd_lock();
    let fds_before = common::fd_table();
    let drops = Rc::new(Cell::new(0));
    let rt = Runtime::new().unwrap();
    let handles: Vec<_> = rt.block_on(async {
        let hs: Vec<_> = (0..100)
            .map(|i| {
                let guard = DropCounter(drops.clone());
                curing::spawn(async move {
                    let _guard = guard;
                    if i % 2 == 0 {
                        nop().await.unwrap();
                        sleep(Duration::from_secs(3600)).await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                })
            })
            .collect();
        for _ in 0..3 {
            curing::yield_now().await;
        }
        hs
    });
    assert_eq!(rt.task_count(), 100);
    assert_eq!(drops.get(), 0);
    let start = Instant::now();
    drop(rt);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(drops.get(), 100, "every pending task's future is dropped");
    common::assert_fds_back(&fds_before, "ring and eventfd closed");
    // The handles see Cancelled (awaited on another runtime).
    let rt2 = Runtime::new().unwrap();
    rt2.block_on(async {
        for h in handles {
            assert!(h.is_finished());
            assert!(h.await.unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn a_task_dropped_at_shutdown_may_spawn_and_use_the_runtime_in_drop() {
    let _fd = common::fd_lock();
    struct SpawnOnDrop(Rc<Cell<bool>>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let h = curing::spawn(async { nop().await });
            // Spawned during shutdown: cancelled at once, never run.
            self.0.set(h.is_finished());
            let mut op = Box::pin(nop());
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            let _ = op.as_mut().poll(&mut cx);
        }
    }
    let flag = Rc::new(Cell::new(false));
    let rt = Runtime::new().unwrap();
    let guard = SpawnOnDrop(flag.clone());
    rt.block_on(async {
        drop(curing::spawn(async move {
            let _g = guard;
            std::future::pending::<()>().await;
        }));
        curing::yield_now().await;
    });
    let start = Instant::now();
    drop(rt);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(flag.get(), "a spawn during shutdown is cancelled at once");
}

#[test]
fn many_runtimes_on_many_threads() {
    let _fd = common::fd_lock();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let rt = Runtime::new().unwrap();
                rt.block_on(async move {
                    let hs: Vec<_> = (0..200)
                        .map(|i| {
                            curing::spawn(async move {
                                nop().await.unwrap();
                                i + t
                            })
                        })
                        .collect();
                    let mut sum = 0;
                    for h in hs {
                        sum += h.await.unwrap();
                    }
                    sum
                })
            })
        })
        .collect();
    for (t, th) in threads.into_iter().enumerate() {
        assert_eq!(th.join().unwrap(), 199 * 200 / 2 + 200 * t);
    }
}

#[test]
fn two_runtimes_on_one_thread_alternate() {
    common::within(Duration::from_secs(5), || {
        let a = Runtime::new().unwrap();
        let b = Runtime::new().unwrap();
        for i in 0..5 {
            assert_eq!(
                a.block_on(async move { nop().await.map(|_| i) }).unwrap(),
                i
            );
            assert_eq!(
                b.block_on(async move { nop().await.map(|_| i) }).unwrap(),
                i
            );
        }
        let (sa, sb) = (a.stats(), b.stats());
        assert_eq!(sa.ops_completed, 5);
        assert_eq!(sb.ops_completed, 5);
        assert_ne!(a.ring_fd(), b.ring_fd());
    });
}

#[test]
fn concurrent_nops_are_batched_into_few_enter_calls() {
    common::run(Duration::from_secs(5), || async {
        // Warm up (arm the wake-up read) so it does not count.
        nop().await.unwrap();
        let before = curing::runtime::stats();
        let handles: Vec<_> = (0..1000).map(|_| curing::spawn(nop())).collect();
        for h in handles {
            h.await.unwrap().unwrap();
        }
        let s = curing::runtime::stats();
        let ops = s.ops_submitted - before.ops_submitted;
        let enters = s.enter_calls - before.enter_calls;
        assert_eq!(ops, 1000);
        println!("{enters} enters for {ops} ops");
        // One enter per run batch of tasks is the design; the bound leaves
        // room (figures: benches/compare/README.md, "Design measurements",
        // "Enters per batch").
        assert!(enters < ops / 20, "{enters} enters for {ops} ops: {s:?}");
    });
}

#[test]
fn ring_fd_shows_in_proc_fdinfo() {
    let _fd = common::fd_lock();
    let rt = Runtime::new().unwrap();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", rt.ring_fd())).unwrap();
    if common::is_epoll() {
        // The epoll driver's "ring fd" is its epoll instance, which lists
        // its registrations (the pool's eventfd at least).
        let link = std::fs::read_link(format!("/proc/self/fd/{}", rt.ring_fd())).unwrap();
        assert!(link.to_string_lossy().contains("eventpoll"), "{link:?}");
        assert!(info.contains("tfd:"), "{info}");
    } else {
        assert!(info.contains("SqHead") || info.contains("SqMask"), "{info}");
    }
    rt.block_on(async { nop().await.unwrap() });
    assert!(format!("{rt:?}").contains("Runtime"));
}

/// The op counters add up: a runtime that only slept has nothing in
/// flight (its own wake-up read is not an op of the program), and with
/// ops waiting, in-flight ops are at most the submitted ones not yet
/// completed. (Found by the outside tester: in flight was 1 with nothing
/// submitted.)
#[test]
fn op_counters_add_up() {
    common::run(Duration::from_secs(10), || async {
        curing::time::sleep(Duration::from_millis(5)).await;
        let s = curing::runtime::stats();
        assert_eq!(
            (s.ops_submitted, s.ops_completed, s.ops_in_flight),
            (0, 0, 0),
            "{s:?}"
        );
        let mut peers = Vec::new();
        let reads: Vec<_> = (0..3)
            .map(|_| {
                let (a, b) = curing::net::UnixStream::pair().unwrap();
                peers.push(b);
                curing::spawn(async move { a.read(vec![0u8; 8]).await.0 })
            })
            .collect();
        curing::yield_now().await;
        let s = curing::runtime::stats();
        assert!(s.ops_in_flight >= 1, "{s:?}");
        assert!(
            s.ops_in_flight as u64 <= s.ops_submitted - s.ops_completed,
            "{s:?}"
        );
        for r in reads {
            r.abort();
        }
    });
}
