//! Timers through the public API: `sleep`, `sleep_until`, `timeout`,
//! `timeout_at` (docs/reliability.md, row 31: never early, bounded lateness,
//! `Duration::MAX` without overflow, many timers, no busy loop, cancelled
//! timers leave nothing behind).

mod common;

use curing::runtime::{nop, stats};
use curing::time::{sleep, sleep_until, timeout, timeout_at};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Lateness allowed for a timer on a noisy CI machine.
const SLACK: Duration = Duration::from_millis(50);

/// Polls `fut` exactly once with the current task's waker.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Counts drops.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Small deterministic RNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[test]
fn sleep_is_never_early_and_not_very_late() {
    common::run(Duration::from_secs(5), || async {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(1),
            Duration::from_millis(1),
            Duration::from_millis(20),
            Duration::from_millis(100),
        ] {
            let start = Instant::now();
            sleep(d).await;
            let took = start.elapsed();
            assert!(took >= d, "sleep({d:?}) woke early after {took:?}");
            assert!(took < d + SLACK, "sleep({d:?}) took {took:?}");
        }
    });
}

#[test]
fn sleep_deadline_is_now_plus_duration() {
    common::run(Duration::from_secs(5), || async {
        let before = Instant::now();
        let s = sleep(Duration::from_millis(30));
        let after = Instant::now();
        assert!(s.deadline() >= before + Duration::from_millis(30));
        assert!(s.deadline() <= after + Duration::from_millis(30));
        let deadline = s.deadline();
        s.await;
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn timeout_on_a_pending_future_elapses_and_drops_it() {
    common::run(Duration::from_secs(5), || async {
        let drops = Rc::new(Cell::new(0));
        let guard = DropCounter(drops.clone());
        let start = Instant::now();
        let r = timeout(Duration::from_millis(20), async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        })
        .await;
        let took = start.elapsed();
        assert!(r.is_err());
        assert_eq!(drops.get(), 1, "the inner future is dropped on timeout");
        assert!(took >= Duration::from_millis(20), "{took:?}");
        assert!(took < Duration::from_millis(20) + SLACK, "{took:?}");
        let e: curing::time::Elapsed = r.unwrap_err();
        assert_eq!(e, e.clone());
        assert_eq!(e.to_string(), "deadline has elapsed");
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn timeout_on_a_ready_future_returns_its_value() {
    common::run(Duration::from_secs(5), || async {
        assert_eq!(timeout(Duration::from_secs(10), async { 7 }).await, Ok(7));
        // A ready result wins even over a deadline that has already passed.
        assert_eq!(timeout(Duration::ZERO, async { 8 }).await, Ok(8));
        let past = Instant::now() - Duration::from_millis(5);
        assert_eq!(timeout_at(past, async { 9 }).await, Ok(9));
        // A future that finishes before its deadline, after some waiting.
        let r = timeout(Duration::from_secs(5), async {
            sleep(Duration::from_millis(5)).await;
            nop().await.unwrap();
            10
        })
        .await;
        assert_eq!(r, Ok(10));
    });
}

#[test]
fn timeout_at_a_past_deadline_on_a_pending_future_elapses_at_once() {
    common::run(Duration::from_secs(5), || async {
        let start = Instant::now();
        let past = start - Duration::from_secs(1);
        let r = timeout_at(past, std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert!(start.elapsed() < SLACK);
        let r = timeout_at(
            start + Duration::from_millis(15),
            std::future::pending::<()>(),
        )
        .await;
        assert!(r.is_err());
        assert!(start.elapsed() >= Duration::from_millis(15));
    });
}

#[test]
fn timeout_cancels_an_op_in_flight_and_the_op_is_reaped() {
    common::run(Duration::from_secs(5), || async {
        let before = stats();
        let mut elapsed = 0;
        for _ in 0..200 {
            // The nop is pushed, then the zero deadline fires: the op is
            // dropped in flight and must be finished by the driver.
            if timeout(Duration::ZERO, nop()).await.is_err() {
                elapsed += 1;
            }
        }
        assert!(elapsed > 0, "a zero timeout on a pushed op elapses");
        sleep(Duration::from_millis(5)).await;
        let s = stats();
        assert_eq!(
            s.ops_submitted - before.ops_submitted,
            s.ops_completed - before.ops_completed,
            "{s:?}"
        );
        assert_eq!(s.stale_cqes, 0, "{s:?}");
    });
}

#[test]
fn sleep_until_in_the_past_is_ready_on_first_poll() {
    common::run(Duration::from_secs(5), || async {
        let now = Instant::now();
        for past in [
            now,
            now - Duration::from_millis(1),
            now - Duration::from_secs(3600),
        ] {
            let mut s = Box::pin(sleep_until(past));
            assert!(poll_once(&mut s).await.is_ready());
            assert_eq!(s.deadline(), past);
        }
        let mut zero = Box::pin(sleep(Duration::ZERO));
        assert!(poll_once(&mut zero).await.is_ready());
    });
}

#[test]
fn ten_thousand_timers_fire_in_deadline_order_and_never_early() {
    common::run(Duration::from_secs(10), || async {
        let mut rng = Rng(0x7157_2a11_cafe_f00d);
        // All deadlines lie after a common base, so every timer is
        // registered before the first one fires (checked below).
        let base = Instant::now() + Duration::from_millis(150);
        let fired: Rc<RefCell<Vec<(Instant, Instant)>>> = Rc::default();
        let last_registration = Rc::new(Cell::new(Instant::now()));
        let handles: Vec<_> = (0..10_000)
            .map(|_| {
                let deadline = base + Duration::from_micros(rng.below(50_000));
                let fired = fired.clone();
                let reg = last_registration.clone();
                curing::spawn(async move {
                    reg.set(reg.get().max(Instant::now()));
                    sleep_until(deadline).await;
                    fired.borrow_mut().push((deadline, Instant::now()));
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        let fired = fired.borrow();
        assert_eq!(fired.len(), 10_000);
        let mut max_late = Duration::ZERO;
        for &(deadline, at) in fired.iter() {
            assert!(at >= deadline, "a timer fired early");
            max_late = max_late.max(at - deadline);
        }
        assert!(max_late < SLACK * 2, "worst lateness {max_late:?}");
        if last_registration.get() < base {
            let inversions = fired.windows(2).filter(|w| w[1].0 < w[0].0).count();
            assert_eq!(inversions, 0, "timers fired out of deadline order");
        } else {
            println!("registration outran the base deadline; order not checked");
        }
    });
}

#[test]
fn duration_max_does_not_overflow_and_can_be_cancelled() {
    common::run(Duration::from_secs(5), || async {
        let start = Instant::now();
        let s = sleep(Duration::MAX);
        assert!(s.deadline() > start + Duration::from_secs(365 * 24 * 3600));
        let r = timeout(Duration::from_millis(10), s).await;
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_millis(10) + SLACK);
        // A huge timeout around a short future.
        assert_eq!(timeout(Duration::MAX, async { 1 }).await, Ok(1));
        assert_eq!(
            timeout(Duration::MAX, sleep(Duration::from_millis(5))).await,
            Ok(())
        );
        // The runtime parks with a huge next deadline without trouble.
        let mut far = Box::pin(sleep(Duration::MAX));
        assert!(poll_once(&mut far).await.is_pending());
        sleep(Duration::from_millis(5)).await;
        nop().await.unwrap();
    });
}

#[test]
fn a_hundred_thousand_sleeping_tasks_all_wake() {
    common::run(Duration::from_secs(10), || async {
        let start = Instant::now();
        let handles: Vec<_> = (0..100_000)
            .map(|_| curing::spawn(sleep(Duration::from_millis(10))))
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert_eq!(curing::runtime::stats().stale_cqes, 0);
    });
}

#[test]
fn a_parked_runtime_with_one_timer_wakes_on_time_without_spinning() {
    common::run(Duration::from_secs(5), || async {
        nop().await.unwrap();
        let before = stats().enter_calls;
        let start = Instant::now();
        sleep(Duration::from_millis(100)).await;
        let took = start.elapsed();
        let enters = stats().enter_calls - before;
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_millis(100) + SLACK, "{took:?}");
        assert!(
            enters <= 5,
            "{enters} io_uring_enter calls during one sleep"
        );
    });
}

#[test]
fn dropped_sleeps_leave_no_wake_ups_behind() {
    common::run(Duration::from_secs(5), || async {
        // Register 1000 timers spread over 20..120 ms from now, then drop them.
        let mut sleeps: Vec<_> = (0..1000u64)
            .map(|i| Box::pin(sleep(Duration::from_micros(20_000 + i * 100))))
            .collect();
        for s in &mut sleeps {
            assert!(poll_once(s).await.is_pending());
        }
        drop(sleeps);
        let before = stats().enter_calls;
        sleep(Duration::from_millis(200)).await;
        let enters = stats().enter_calls - before;
        // A removed timer must not wake the runtime: one park, not 1000.
        assert!(enters <= 5, "{enters} enters: dropped timers still fire");
    });
}

#[test]
fn a_sleep_moved_between_tasks_wakes_its_new_owner() {
    common::run(Duration::from_secs(5), || async {
        let shared: Rc<RefCell<Option<Pin<Box<curing::time::Sleep>>>>> = Rc::default();
        let tx = shared.clone();
        let start = Instant::now();
        curing::spawn(async move {
            let mut s = Box::pin(sleep(Duration::from_millis(20)));
            assert!(poll_once(&mut s).await.is_pending());
            *tx.borrow_mut() = Some(s);
        })
        .await
        .unwrap();
        let s = shared.borrow_mut().take().unwrap();
        // The first task is gone; its waker must not be the one called.
        let r = timeout(Duration::from_secs(2), s).await;
        assert!(r.is_ok(), "the moved sleep never woke its new owner");
        assert!(start.elapsed() >= Duration::from_millis(20));
    });
}

#[test]
fn many_tasks_sleeping_the_same_deadline_all_wake() {
    common::run(Duration::from_secs(5), || async {
        let deadline = Instant::now() + Duration::from_millis(20);
        let count = Rc::new(Cell::new(0));
        let handles: Vec<_> = (0..1000)
            .map(|_| {
                let c = count.clone();
                curing::spawn(async move {
                    sleep_until(deadline).await;
                    c.set(c.get() + 1);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(count.get(), 1000);
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn nested_timeouts_the_inner_one_fires_first() {
    common::run(Duration::from_secs(5), || async {
        let r = timeout(
            Duration::from_millis(200),
            timeout(Duration::from_millis(10), std::future::pending::<()>()),
        )
        .await;
        assert!(matches!(r, Ok(Err(_))), "{r:?}");
        let r = timeout(
            Duration::from_millis(10),
            timeout(Duration::from_millis(200), std::future::pending::<()>()),
        )
        .await;
        assert!(r.is_err(), "{r:?}");
    });
}

#[test]
fn timers_at_runtime_drop_are_dropped_quickly() {
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let rt = curing::Runtime::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let guard = DropCounter(drops.clone());
            rt.spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            })
        })
        .collect();
    rt.block_on(async {
        curing::yield_now().await;
    });
    let start = Instant::now();
    drop(rt);
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(drops.get(), 1000);
    assert!(handles.iter().all(|h| h.is_finished()));
}

#[test]
#[should_panic(expected = "curing: no runtime on this thread")]
fn polling_a_sleep_outside_a_runtime_panics_clearly() {
    // A panic's backtrace opens files: hold the fd lock.
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    use std::sync::Arc;
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = std::task::Waker::from(Arc::new(Noop));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut s = Box::pin(sleep(Duration::from_secs(1)));
    let _ = s.as_mut().poll(&mut cx);
}

/// Sub-millisecond sleeps are not rounded up to whole milliseconds, on
/// either driver (the epoll driver waits with `epoll_pwait2`'s nanosecond
/// timeout where the kernel has it).
#[test]
fn sub_millisecond_sleeps_keep_their_precision() {
    common::run(Duration::from_secs(20), || async {
        let want = Duration::from_micros(200);
        let mut took: Vec<Duration> = Vec::new();
        for _ in 0..41 {
            let t = std::time::Instant::now();
            curing::time::sleep(want).await;
            took.push(t.elapsed());
        }
        took.sort();
        let median = took[took.len() / 2];
        println!("200 us sleeps: median {median:?}, best {:?}", took[0]);
        assert!(took[0] >= want, "a sleep ended early");
        assert!(
            median < Duration::from_micros(900),
            "median {median:?}: rounded up to 1 ms?"
        );
    });
}
