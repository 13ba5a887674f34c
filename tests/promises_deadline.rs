//! A deadline fires on time around any future, busy or not: the scope's own
//! deadline check spends no cooperative budget, so a future that spends its
//! whole budget on every poll is still cut off within a few ms of its time.

mod common;

use curing::sync::mpsc;
use curing::time::{timeout, timeout_at, CancelScope};
use std::time::{Duration, Instant};

/// A future that never finishes and is always ready inside: a local channel
/// send then receive, in a loop. Each round spends budget, so the task
/// yields every 128 rounds and is polled again at once.
async fn busy() -> u64 {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut n = 0u64;
    loop {
        tx.send(n).unwrap();
        n = rx.recv().await.unwrap() + 1;
    }
}

/// How late a 10 ms deadline may fire: generous for a noisy 2-core machine,
/// far below the hundreds of ms a deadline stuck behind the budget took.
const LATE: Duration = Duration::from_millis(50);
const D: Duration = Duration::from_millis(10);

fn check(what: &str, start: Instant, timed_out: bool) {
    let took = start.elapsed();
    println!("{what}: cut off after {took:?}");
    assert!(timed_out, "{what}: the busy future was not cut off");
    assert!(took >= D, "{what}: fired early, after {took:?}");
    assert!(took < D + LATE, "{what}: fired late, after {took:?}");
}

#[test]
fn every_deadline_fires_around_a_busy_future() {
    common::run(Duration::from_secs(30), || async {
        for _ in 0..5 {
            let t = Instant::now();
            check("timeout", t, timeout(D, busy()).await.is_err());
            let t = Instant::now();
            check("timeout_at", t, timeout_at(t + D, busy()).await.is_err());
            let t = Instant::now();
            let out = CancelScope::after(D).fail(busy()).await;
            check("CancelScope::after.fail", t, out.is_err());
            let t = Instant::now();
            let out = CancelScope::after(D).ignore(busy()).await;
            check("CancelScope::after.ignore", t, out.is_none());
            let t = Instant::now();
            let out = CancelScope::at(t + D).ignore(busy()).await;
            check("CancelScope::at.ignore", t, out.is_none());
            let t = Instant::now();
            let out = CancelScope::at(t + D).fail(busy()).await;
            check("CancelScope::at.fail", t, out.is_err());
        }
    });
}

#[test]
fn nested_deadlines_fire_around_a_busy_future() {
    common::run(Duration::from_secs(30), || async {
        // The outer deadline is the earlier: it reports, on time.
        let t = Instant::now();
        let out = timeout(D, async { timeout(Duration::from_secs(60), busy()).await }).await;
        check("outer", t, out.is_err());
        // The inner deadline is the earlier: the inner scope reports, and
        // the outer one returns the inner's Elapsed as its result.
        let t = Instant::now();
        let out = timeout(Duration::from_secs(60), timeout(D, busy())).await;
        check("inner", t, matches!(out, Ok(Err(_))));
    });
}

#[test]
fn a_busy_task_in_a_spawned_timeout_does_not_delay_others() {
    common::run(Duration::from_secs(30), || async {
        let busy_task = curing::spawn(async { timeout(Duration::from_millis(30), busy()).await });
        let t = Instant::now();
        curing::time::sleep(D).await;
        let late = t.elapsed() - D;
        assert!(
            late < LATE,
            "a sleeper beside the busy task was {late:?} late"
        );
        assert!(busy_task.await.unwrap().is_err());
    });
}
