//! Cancel scopes: `CancelScope::{after, at}` with `fail` and `ignore`; nesting
//! (an inner scope never extends an outer deadline, and the outer scope
//! reports its own expiry), and cleanup after a cut-off op.

mod common;

use curing::net::{TcpListener, TcpStream};
use curing::time::{sleep, CancelScope};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn results_and_expiry() {
    common::run(LIMIT, || async {
        assert_eq!(CancelScope::after(ms(500)).fail(async { 1 }).await, Ok(1));
        assert_eq!(
            CancelScope::after(ms(500)).ignore(async { 2 }).await,
            Some(2)
        );
        let start = Instant::now();
        assert!(CancelScope::after(ms(10))
            .fail(sleep(Duration::from_secs(10)))
            .await
            .is_err());
        assert_eq!(
            CancelScope::after(ms(10))
                .ignore(sleep(Duration::from_secs(10)))
                .await,
            None
        );
        let t = start.elapsed();
        assert!(t >= ms(20) && t < Duration::from_secs(5), "{t:?}");
        let io_err: std::io::Error = CancelScope::after(ms(1))
            .fail(sleep(ms(100)))
            .await
            .unwrap_err()
            .into();
        assert_eq!(io_err.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn outer_deadline_fires_through_a_longer_inner_scope() {
    common::run(LIMIT, || async {
        let after_inner = Rc::new(Cell::new(false));
        let start = Instant::now();
        let outcome = CancelScope::after(ms(50))
            .fail({
                let after_inner = after_inner.clone();
                async move {
                    let inner = CancelScope::after(Duration::from_secs(10))
                        .fail(sleep(Duration::from_secs(3600)))
                        .await;
                    after_inner.set(true);
                    inner
                }
            })
            .await;
        let t = start.elapsed();
        // The outer scope reports (Err at the outer level), at ~50 ms.
        assert!(outcome.is_err(), "the inner scope reported: {outcome:?}");
        assert!(!after_inner.get(), "code after the inner scope ran");
        assert!(t >= ms(50), "fired early: {t:?}");
        assert!(
            t < ms(1000),
            "the inner 10 s scope extended the outer deadline: {t:?}"
        );
    });
}

#[test]
fn shorter_inner_scope_reports_and_the_outer_goes_on() {
    common::run(LIMIT, || async {
        let outcome = CancelScope::after(Duration::from_secs(5))
            .fail(async {
                let inner = CancelScope::after(ms(10))
                    .ignore(sleep(Duration::from_secs(3600)))
                    .await;
                assert_eq!(inner, None);
                "handled"
            })
            .await;
        assert_eq!(outcome, Ok("handled"));
    });
}

#[test]
fn when_both_expired_the_outer_scope_reports() {
    common::run(LIMIT, || async {
        // Same deadline for both.
        let handled = Rc::new(Cell::new(false));
        let deadline = Instant::now() + ms(20);
        let outcome = CancelScope::at(deadline)
            .ignore({
                let handled = handled.clone();
                async move {
                    let inner = CancelScope::at(deadline)
                        .ignore(sleep(Duration::from_secs(3600)))
                        .await;
                    handled.set(true); // must not run: the outer deadline passed too
                    sleep(Duration::from_secs(3600)).await;
                    inner
                }
            })
            .await;
        assert_eq!(outcome, None);
        assert!(!handled.get(), "the inner scope reported the outer expiry");

        // Outer earlier than inner, both past when the inner one notices
        // (the thread was blocked through both deadlines).
        let handled = Rc::new(Cell::new(false));
        let outcome = CancelScope::after(ms(20))
            .fail({
                let handled = handled.clone();
                async move {
                    let inner = CancelScope::after(ms(30))
                        .fail(async {
                            std::thread::sleep(ms(60));
                            curing::yield_now().await;
                            sleep(Duration::from_secs(3600)).await;
                        })
                        .await;
                    handled.set(true);
                    inner
                }
            })
            .await;
        assert!(outcome.is_err());
        assert!(!handled.get(), "the inner scope reported the outer expiry");
    });
}

#[test]
fn deadline_state_does_not_leak_out_of_a_scope() {
    common::run(LIMIT, || async {
        // A scope that expired long ago must not affect later, unrelated
        // scopes (the thread-local deadline is restored after each poll).
        let early = Instant::now() + ms(1);
        assert_eq!(CancelScope::at(early).ignore(async { 1 }).await, Some(1));
        sleep(ms(5)).await;
        let inner = CancelScope::after(ms(5))
            .ignore(sleep(Duration::from_secs(3600)))
            .await;
        assert_eq!(inner, None);
        // A task spawned inside a scope does not inherit its deadline.
        let task = Rc::new(Cell::new(None));
        let r = CancelScope::after(ms(20))
            .ignore({
                let task = task.clone();
                async move {
                    task.set(Some(curing::spawn(async {
                        CancelScope::after(ms(300)).fail(sleep(ms(150))).await
                    })));
                    sleep(Duration::from_secs(3600)).await;
                }
            })
            .await;
        assert_eq!(r, None);
        let t = task.take().unwrap();
        assert!(t.await.unwrap().is_ok(), "task saw its spawner's deadline");
    });
}

#[test]
fn cut_off_read_then_async_cleanup_outside_the_scope() {
    common::run(LIMIT, || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let read = CancelScope::after(ms(20))
            .fail(async {
                let (res, buf) = stream.read(vec![0u8; 128]).await;
                res.map(|n| buf[..n].to_vec())
            })
            .await;
        assert!(read.is_err(), "the peer never wrote");
        // Cleanup after the scope: the stream is intact and closes properly.
        CancelScope::after(Duration::from_secs(2))
            .ignore(stream.close())
            .await
            .expect("close timed out")
            .expect("close failed");
        drop(peer);
        // common::run checks the cancelled read left no op and no fd.
    });
}

#[test]
fn after_counts_from_the_first_poll_and_at_from_the_instant() {
    common::run(LIMIT, || async {
        // Two scopes built 100 ms before they run.
        let relative = CancelScope::after(ms(200));
        let fixed = CancelScope::at(Instant::now() + ms(200));
        sleep(ms(100)).await;
        // `at` is fixed: half of its time went by before it ran, so a
        // 150 ms block is cut off about 100 ms in.
        let start = Instant::now();
        assert_eq!(fixed.ignore(sleep(ms(150))).await, None);
        let t = start.elapsed();
        assert!(t < ms(150), "the fixed deadline moved: {t:?}");
        // `after` counts from its first poll: the same block finishes.
        let start = Instant::now();
        let out = relative
            .fail(async {
                sleep(ms(150)).await;
                1
            })
            .await;
        assert_eq!(out, Ok(1), "after {:?}", start.elapsed());
        // A scope is a value: the same one runs several blocks, each with
        // its own `after` deadline.
        let short = CancelScope::after(ms(10));
        assert!(short.fail(sleep(Duration::from_secs(3600))).await.is_err());
        assert_eq!(short.ignore(async { 3 }).await, Some(3));
        // A deadline already past: a ready result still wins, a pending
        // one is cut off at its first poll.
        let past = CancelScope::at(Instant::now() - ms(1));
        assert_eq!(past.fail(async { 4 }).await, Ok(4));
        assert_eq!(past.ignore(sleep(ms(1))).await, None);
    });
}
