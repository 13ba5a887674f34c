//! Cancel scopes: `timeout_after`, `ignore_after`, `ignore_at`; nesting
//! (an inner scope never extends an outer deadline, and the outer scope
//! reports its own expiry), and cleanup after a cut-off op.

mod common;

use curing::net::{TcpListener, TcpStream};
use curing::time::{ignore_after, ignore_at, sleep, timeout_after};
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
        assert_eq!(timeout_after(ms(500), async { 1 }).await, Ok(1));
        assert_eq!(ignore_after(ms(500), async { 2 }).await, Some(2));
        let start = Instant::now();
        assert!(timeout_after(ms(10), sleep(Duration::from_secs(10)))
            .await
            .is_err());
        assert_eq!(
            ignore_after(ms(10), sleep(Duration::from_secs(10))).await,
            None
        );
        let t = start.elapsed();
        assert!(t >= ms(20) && t < Duration::from_secs(5), "{t:?}");
        let io_err: std::io::Error = timeout_after(ms(1), sleep(ms(100)))
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
        let outcome = timeout_after(ms(50), {
            let after_inner = after_inner.clone();
            async move {
                let inner =
                    timeout_after(Duration::from_secs(10), sleep(Duration::from_secs(3600))).await;
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
        let outcome = timeout_after(Duration::from_secs(5), async {
            let inner = ignore_after(ms(10), sleep(Duration::from_secs(3600))).await;
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
        let outcome = ignore_at(deadline, {
            let handled = handled.clone();
            async move {
                let inner = ignore_at(deadline, sleep(Duration::from_secs(3600))).await;
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
        let outcome = timeout_after(ms(20), {
            let handled = handled.clone();
            async move {
                let inner = timeout_after(ms(30), async {
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
        assert_eq!(ignore_at(early, async { 1 }).await, Some(1));
        sleep(ms(5)).await;
        let inner = ignore_after(ms(5), sleep(Duration::from_secs(3600))).await;
        assert_eq!(inner, None);
        // A task spawned inside a scope does not inherit its deadline.
        let task = Rc::new(Cell::new(None));
        let r = ignore_after(ms(20), {
            let task = task.clone();
            async move {
                task.set(Some(curing::spawn(async {
                    timeout_after(ms(300), sleep(ms(150))).await
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
        let read = timeout_after(ms(20), async {
            let (res, buf) = stream.read(vec![0u8; 128]).await;
            res.map(|n| buf[..n].to_vec())
        })
        .await;
        assert!(read.is_err(), "the peer never wrote");
        // Cleanup after the scope: the stream is intact and closes properly.
        ignore_after(Duration::from_secs(2), stream.close())
            .await
            .expect("close timed out")
            .expect("close failed");
        drop(peer);
        // common::run checks the cancelled read left no op and no fd.
    });
}
