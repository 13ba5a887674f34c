//! Wakes: `yield_now` ordering, one poll per burst of wakes, and wakers
//! used from other threads (while parked, concurrently, after the runtime is
//! gone, and from another runtime) — docs/reliability.md, row 11.

mod common;

use curing::runtime::nop;
use curing::time::sleep;
use curing::Runtime;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// A one-shot signal another thread can fire: the waiting future stores its
/// waker, the other thread sets the flag and wakes it.
#[derive(Clone, Default)]
struct Signal {
    fired: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Signal {
    fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.fired.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

#[test]
fn yield_now_interleaves_tasks_in_order() {
    common::run(Duration::from_secs(5), || async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut handles = Vec::new();
        for name in ["a", "b", "c"] {
            let log = log.clone();
            handles.push(curing::spawn(async move {
                for i in 0..3 {
                    log.borrow_mut().push(format!("{name}{i}"));
                    curing::yield_now().await;
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(
            *log.borrow(),
            ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
        );
    });
}

#[test]
fn a_busy_yielding_task_does_not_starve_io() {
    common::run(Duration::from_secs(5), || async {
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        let spinner = curing::spawn(async move {
            let mut n = 0u64;
            while !s.get() {
                n += 1;
                curing::yield_now().await;
            }
            n
        });
        let start = Instant::now();
        sleep(Duration::from_millis(20)).await;
        for _ in 0..100 {
            nop().await.unwrap();
        }
        stop.set(true);
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(spinner.await.unwrap() > 0);
    });
}

#[test]
fn many_wakes_of_one_task_poll_it_once() {
    common::run(Duration::from_secs(5), || async {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let h = curing::spawn(std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            if p.get() == 1 {
                for _ in 0..1000 {
                    cx.waker().wake_by_ref();
                }
                // Owned wakes too, each consuming its own clone.
                let wakers: Vec<Waker> = (0..10).map(|_| cx.waker().clone()).collect();
                for w in wakers {
                    w.wake();
                }
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        h.await.unwrap();
        for _ in 0..3 {
            curing::yield_now().await;
        }
        assert_eq!(polls.get(), 2, "one poll per wake-up, however many wakes");
    });
}

/// Completions queue their task without looking it up, so a task whose
/// ops complete in the same reap has one run-queue entry per op; the
/// executor still polls it once for them.
#[test]
fn ops_completing_together_poll_their_task_once() {
    common::run(Duration::from_secs(5), || async {
        let polls = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let (p, s, w) = (polls.clone(), stop.clone(), waker.clone());
        let h = curing::spawn(async move {
            let mut ops: Vec<_> = (0..8).map(|_| Box::pin(nop())).collect();
            let mut done = vec![false; ops.len()];
            std::future::poll_fn(|cx| {
                p.set(p.get() + 1);
                for (op, done) in ops.iter_mut().zip(&mut done) {
                    if !*done {
                        if let Poll::Ready(r) = op.as_mut().poll(cx) {
                            r.unwrap();
                            *done = true;
                        }
                    }
                }
                *w.borrow_mut() = Some(cx.waker().clone());
                if s.get() && done.iter().all(|&d| d) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await
        });
        for _ in 0..5 {
            curing::yield_now().await;
        }
        assert_eq!(
            polls.get(),
            2,
            "the first poll, then one for the eight NOPs (completed in one reap)"
        );
        stop.set(true);
        waker.borrow_mut().take().unwrap().wake();
        h.await.unwrap();
        assert_eq!(polls.get(), 3);
    });
}

/// More tasks are ready than one turn runs (128): the rest run on the next
/// turns, in spawn order, before a task woken meanwhile.
#[test]
fn a_burst_of_spawns_runs_in_order_before_later_wakes() {
    common::run(Duration::from_secs(5), || async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..300)
            .map(|i| {
                let order = order.clone();
                curing::spawn(async move {
                    order.borrow_mut().push(i);
                    if i == 0 {
                        curing::yield_now().await;
                        order.borrow_mut().push(1000);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        let expect: Vec<i32> = (0..300).chain([1000]).collect();
        assert_eq!(*order.borrow(), expect);

        // With nothing else queued, the runtime must not park while such
        // a burst is only part run (nothing would wake it).
        let handles: Vec<_> = (0..300).map(|i| curing::spawn(async move { i })).collect();
        for (i, h) in handles.into_iter().enumerate().rev() {
            assert_eq!(h.await.unwrap(), i);
        }
    });
}

#[test]
fn wake_from_a_foreign_thread_wakes_the_parked_runtime() {
    common::run(Duration::from_secs(5), || async {
        let signal = Signal::default();
        let remote = signal.clone();
        let before = curing::runtime::stats().enter_calls;
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            remote.fire();
        });
        signal.wait().await;
        let waited = start.elapsed();
        thread.join().unwrap();
        let enters = curing::runtime::stats().enter_calls - before;
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        // Parked in the kernel, not spinning: a handful of enters at most.
        assert!(enters <= 10, "{enters} io_uring_enter calls while parked");
    });
}

#[test]
fn wake_of_a_spawned_task_from_a_foreign_thread() {
    common::run(Duration::from_secs(5), || async {
        let signals: Vec<Signal> = (0..50).map(|_| Signal::default()).collect();
        let handles: Vec<_> = signals
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, s)| {
                curing::spawn(async move {
                    s.wait().await;
                    i
                })
            })
            .collect();
        curing::yield_now().await;
        let remote = signals.clone();
        let thread = std::thread::spawn(move || {
            for s in remote.iter().rev() {
                std::thread::sleep(Duration::from_micros(200));
                s.fire();
            }
        });
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i);
        }
        thread.join().unwrap();
    });
}

#[test]
fn concurrent_foreign_wakes_from_many_threads() {
    common::run(Duration::from_secs(5), || async {
        let count = Arc::new(AtomicUsize::new(0));
        let signal = Signal::default();
        let waker_slot: Arc<Mutex<Option<Waker>>> = Arc::default();
        let slot = waker_slot.clone();
        let c = count.clone();
        // A task that finishes once 8 * 200 wakes' increments are in.
        let h = curing::spawn(std::future::poll_fn(move |cx| {
            *slot.lock().unwrap() = Some(cx.waker().clone());
            if c.load(Ordering::SeqCst) == 8 * 200 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        curing::yield_now().await;
        let waker = waker_slot.lock().unwrap().clone().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let w = waker.clone();
                let c = count.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        c.fetch_add(1, Ordering::SeqCst);
                        w.wake_by_ref();
                    }
                    // The waker clone is dropped on this foreign thread.
                })
            })
            .collect();
        drop(waker);
        for t in threads {
            t.join().unwrap();
        }
        h.await.unwrap();
        drop(signal);
    });
}

#[test]
fn wake_after_runtime_is_gone_is_a_no_op() {
    let _fd = common::fd_lock();
    let kept: Arc<Mutex<Option<Waker>>> = Arc::default();
    {
        let rt = Runtime::new().unwrap();
        let k = kept.clone();
        rt.block_on(async move {
            let h = curing::spawn(std::future::poll_fn(move |cx| {
                *k.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }));
            curing::yield_now().await;
            drop(h);
            // The block_on waker too.
            std::future::poll_fn(|cx| {
                let main = cx.waker().clone();
                std::thread::spawn(move || drop(main));
                Poll::Ready(())
            })
            .await;
        });
    }
    let w = kept.lock().unwrap().take().expect("waker kept");
    let w2 = w.clone();
    std::thread::spawn(move || {
        w2.wake_by_ref();
        w2.wake();
    })
    .join()
    .unwrap();
    w.wake();
    // Another runtime on this thread is not disturbed by the stale waker.
    assert_eq!(curing::run(async { 1 }), 1);
}

#[test]
fn a_waker_of_one_runtime_woken_inside_another_goes_to_its_own() {
    common::within(Duration::from_secs(5), || {
        let rt1 = Runtime::new().unwrap();
        let rt2 = Runtime::new().unwrap();
        let stored: Rc<RefCell<Option<Waker>>> = Rc::default();
        let flag = Rc::new(Cell::new(false));
        let (s, f) = (stored.clone(), flag.clone());
        let h = rt1.spawn(std::future::poll_fn(move |cx| {
            *s.borrow_mut() = Some(cx.waker().clone());
            if f.get() {
                Poll::Ready("woken")
            } else {
                Poll::Pending
            }
        }));
        rt1.block_on(async {
            for _ in 0..3 {
                curing::yield_now().await;
            }
        });
        assert!(!h.is_finished());
        assert_eq!(rt1.task_count(), 1);
        rt2.block_on(async {
            flag.set(true);
            stored.borrow_mut().take().unwrap().wake();
            nop().await.unwrap();
        });
        assert_eq!(rt2.task_count(), 0);
        let out = rt1.block_on(async {
            let r = curing::time::timeout(Duration::from_secs(2), h).await;
            r.expect("rt1's task was woken").unwrap()
        });
        assert_eq!(out, "woken");
    });
}

/// Ops awaited by their own task are woken through the task's queue
/// reference, not a cloned waker: many completions in one reap still poll
/// the task once per batch, not once per op.
#[test]
fn many_ops_of_one_task_completing_together_poll_it_once_per_batch() {
    common::run(Duration::from_secs(5), || async {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let mut body = Box::pin(async move {
            let mut ops: Vec<_> = (0..20).map(|_| Box::pin(nop())).collect();
            std::future::poll_fn(|cx| {
                ops.retain_mut(|op| op.as_mut().poll(cx).is_pending());
                if ops.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            // Stay alive a while, so extra queue entries would poll it.
            sleep(Duration::from_millis(20)).await;
        });
        let h = curing::spawn(std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            body.as_mut().poll(cx)
        }));
        h.await.unwrap();
        // First poll pushes all 20; they complete in one enter, so the
        // second poll finds them all done and starts the sleep; the third
        // ends it. A queue entry per completed op would poll it ~20 more
        // times.
        assert!(
            polls.get() <= 4,
            "polled {} times for one batch",
            polls.get()
        );
    });
}

/// An op submitted by one task and then moved to another, which awaits it:
/// the completion must wake the task that holds it now.
#[test]
fn an_op_moved_to_another_task_wakes_that_task() {
    common::run(Duration::from_secs(5), || async {
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        let (tx, rx) = curing::sync::oneshot::channel();
        let first = curing::spawn(async move {
            let mut read = Box::pin(async move {
                let (res, buf) = a.read(vec![0u8; 8]).await;
                (res.unwrap(), buf)
            });
            // Submit the read with this task's waker, then hand it away.
            std::future::poll_fn(|cx| {
                assert!(read.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            let _ = tx.send(read);
        });
        first.await.unwrap();
        let read = rx.await.unwrap();
        let second = curing::spawn(read);
        for _ in 0..3 {
            curing::yield_now().await;
        }
        let (res, _) = b.write_all(b"moved".to_vec()).await;
        res.unwrap();
        let out = curing::time::timeout(Duration::from_secs(2), second).await;
        let (n, buf) = out.expect("the moved op never woke its new task").unwrap();
        assert_eq!(&buf[..n], b"moved");
    });
}
