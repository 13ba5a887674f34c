//! Outside tester's tests (issue 19): time promises: timeouts count from the
//! first poll, spawns into a stopped group, a group join dropped in a timeout
//! cancels its children, Event/Semaphore/Mutex waits are cancel safe.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
use curing::task::{GroupError, TaskGroup};
#[allow(unused_imports)]
use outside19_common::*;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[test]
fn timeout_counts_from_first_poll() {
    let _guard = guard();
    curing::run(async {
        let t = curing::time::timeout(
            Duration::from_millis(30),
            curing::time::sleep(Duration::from_millis(20)),
        );
        curing::time::sleep(Duration::from_millis(40)).await;
        assert!(
            t.await.is_ok(),
            "timeout counted from creation, not first poll"
        );
    });
}

#[test]
fn spawn_into_stopped_group_is_cancelled_at_once() {
    let _guard = guard();
    curing::run(async {
        let ran = Rc::new(Cell::new(false));
        let mut g: TaskGroup<(), &str> = TaskGroup::new();
        g.spawn(async { Err("fail") });
        let first = g.next().await.unwrap();
        assert!(matches!(first, Err(GroupError::Failed("fail"))));
        let r2 = ran.clone();
        g.spawn(async move {
            r2.set(true);
            Ok(())
        });
        let n = g.next().await;
        eprintln!("child spawned after failure: {n:?}");
        assert!(!ran.get(), "child spawned into a stopped group ran");
    });
}

#[test]
fn group_join_dropped_in_timeout_cancels_children() {
    let _guard = guard();
    curing::run(async {
        let done = Rc::new(Cell::new(0));
        let mut g: TaskGroup<(), ()> = TaskGroup::wait_all();
        for _ in 0..10 {
            let d = done.clone();
            g.spawn(async move {
                curing::time::sleep(Duration::from_millis(50)).await;
                d.set(d.get() + 1);
                Ok(())
            });
        }
        let s = Instant::now();
        let r = curing::time::timeout(Duration::from_millis(10), g.join()).await;
        assert!(r.is_err());
        curing::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(done.get(), 0, "children outlived dropped join");
        assert!(s.elapsed() < Duration::from_millis(500));
        assert_eq!(curing::runtime::stats().tasks_alive, 0);
    });
}

#[test]
fn event_semaphore_mutex_cancel_safe() {
    let _guard = guard();
    curing::run(async {
        let sem = curing::sync::Semaphore::new(1);
        let p = sem.acquire().await.unwrap();
        // a waiter that gets dropped after being handed the permit
        let s2 = sem.clone();
        let mut fut = Box::pin(s2.acquire());
        let _ = futures_util::future::poll_immediate(&mut fut).await;
        drop(p);
        drop(fut);
        let r = curing::time::timeout(Duration::from_millis(100), sem.acquire()).await;
        assert!(r.is_ok(), "permit lost by a dropped waiter");
        let (tx, mut rx) = curing::sync::mpsc::channel::<u32>(1);
        tx.send(1).await.unwrap();
        let mut sf = Box::pin(tx.send(2));
        let _ = futures_util::future::poll_immediate(&mut sf).await;
        drop(sf);
        assert_eq!(rx.recv().await, Some(1));
        let mut rf = Box::pin(rx.recv());
        let _ = futures_util::future::poll_immediate(&mut rf).await;
        tx.send(3).await.unwrap();
        drop(rf);
        assert_eq!(
            curing::time::timeout(Duration::from_millis(100), rx.recv()).await,
            Ok(Some(3)),
            "message lost by dropped recv"
        );
    });
}
