//! `curing::task`: every TaskGroup policy, spawn and completion order,
//! nested groups with cancellation reaching grandchildren, panics in
//! children, dropping a running group (no leak), and `as_completed` order.

mod common;

use curing::net::{TcpListener, TcpStream};
use curing::sync::Event;
use curing::task::{as_completed, GroupError, TaskGroup};
use curing::time::{sleep, timeout, CancelScope};
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);
const LONG: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sets its flag when dropped: shows a child's future was dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn flag() -> (Rc<Cell<bool>>, DropFlag) {
    let f = Rc::new(Cell::new(false));
    (f.clone(), DropFlag(f))
}

/// A child that sleeps `n` ms and returns `n`.
async fn nap(n: u64) -> io::Result<u64> {
    sleep(ms(n)).await;
    Ok(n)
}

/// A child that fails after `n` ms.
async fn fail_after(n: u64, msg: &'static str) -> io::Result<u64> {
    sleep(ms(n)).await;
    Err(io::Error::other(msg))
}

/// A child that never finishes on its own; its flag tells it was dropped.
async fn forever(guard: DropFlag) -> io::Result<u64> {
    let _guard = guard;
    Event::new().wait().await; // never set
    unreachable!()
}

#[test]
fn join_gives_values_in_spawn_order() {
    common::run(LIMIT, || async {
        let mut group = TaskGroup::new();
        for n in [40, 30, 20, 10] {
            group.spawn(nap(n));
        }
        assert_eq!(group.len(), 4);
        assert_eq!(group.join().await.unwrap(), [40, 30, 20, 10]);
    });
}

#[test]
fn next_gives_completion_order_with_ids() {
    common::run(LIMIT, || async {
        let mut group = TaskGroup::new();
        let ids: Vec<_> = [40, 30, 20, 10].map(|n| group.spawn(nap(n))).into();
        let mut order = Vec::new();
        while let Some((id, out)) = group.next_with_id().await {
            let n = out.unwrap();
            let spawned = ids.iter().position(|&i| i == id).unwrap();
            order.push((n, spawned));
        }
        assert_eq!(order, [(10, 3), (20, 2), (30, 1), (40, 0)]);
        assert!(group.is_empty());
        assert!(group.next().await.is_none());
    });
}

#[test]
fn default_policy_fails_fast_and_cancels_the_rest() {
    common::run(LIMIT, || async {
        let start = Instant::now();
        let (dropped, guard) = flag();
        let mut group = TaskGroup::new();
        group.spawn(forever(guard));
        group.spawn(nap(5));
        group.spawn(fail_after(10, "boom"));
        match group.join().await {
            Err(GroupError::Failed(e)) => assert_eq!(e.to_string(), "boom"),
            other => panic!("expected the child's error, got {other:?}"),
        }
        assert!(dropped.get(), "the other child was not cancelled");
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn a_panicking_child_is_an_error_not_a_crash() {
    common::run(LIMIT, || async {
        let (dropped, guard) = flag();
        let mut group = TaskGroup::<u64, io::Error>::new();
        group.spawn(forever(guard));
        group.spawn(async {
            sleep(ms(5)).await;
            panic!("child exploded");
        });
        let err = group.join().await.unwrap_err();
        assert!(err.is_panic());
        assert!(format!("{err}").contains("child exploded"), "{err}");
        match err {
            GroupError::Panicked(p) => {
                assert_eq!(*p.downcast::<&str>().unwrap(), "child exploded")
            }
            other => panic!("{other:?}"),
        }
        assert!(dropped.get(), "siblings of a panicking child keep running");
    });
}

#[test]
fn wait_all_lets_every_child_finish() {
    common::run(LIMIT, || async {
        let finished = Rc::new(Cell::new(0));
        let mut group = TaskGroup::wait_all();
        group.spawn(fail_after(1, "early"));
        for n in [20, 10] {
            let finished = finished.clone();
            group.spawn(async move {
                let v = nap(n).await;
                finished.set(finished.get() + 1);
                v
            });
        }
        group.spawn(async { panic!("late panic") });
        let results = group.results().await;
        assert_eq!(finished.get(), 2, "wait_all cancelled a child");
        assert_eq!(results.len(), 4);
        assert!(matches!(&results[0], Err(GroupError::Failed(e)) if e.to_string() == "early"));
        assert_eq!(results[1].as_ref().unwrap(), &20);
        assert_eq!(results[2].as_ref().unwrap(), &10);
        assert!(results[3].as_ref().unwrap_err().is_panic());

        // join: the first failure, but only after all finished.
        let finished = Rc::new(Cell::new(false));
        let mut group = TaskGroup::wait_all();
        group.spawn(fail_after(1, "first"));
        group.spawn(fail_after(5, "second"));
        group.spawn({
            let finished = finished.clone();
            async move {
                let v = nap(20).await;
                finished.set(true);
                v
            }
        });
        let err = group.join().await.unwrap_err();
        assert_eq!(err.failed().unwrap().to_string(), "first");
        assert!(finished.get());
    });
}

#[test]
fn first_completed_gives_the_winner_and_cancels_the_rest() {
    common::run(LIMIT, || async {
        let (dropped, guard) = flag();
        let mut race = TaskGroup::first_completed();
        race.spawn(forever(guard));
        race.spawn(nap(30));
        race.spawn(nap(5));
        assert_eq!(race.next().await.unwrap().unwrap(), 5);
        assert!(dropped.get(), "loser still running after the race");
        // The losers report Cancelled.
        let mut cancelled = 0;
        while let Some(out) = race.next().await {
            assert!(out.unwrap_err().is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, 2);

        // join: only the winner's value.
        let mut race = TaskGroup::first_completed();
        race.spawn(nap(40));
        race.spawn(nap(2));
        assert_eq!(race.join().await.unwrap(), [2]);

        // A failing winner wins too.
        let mut race = TaskGroup::first_completed();
        race.spawn(nap(40));
        race.spawn(fail_after(2, "lost"));
        assert!(race.join().await.is_err());
    });
}

#[test]
fn nested_groups_cancellation_reaches_grandchildren() {
    common::run(LIMIT, || async {
        let flags: Rc<RefCell<Vec<Rc<Cell<bool>>>>> = Rc::default();
        let inner_started = Event::new();
        let mut outer = TaskGroup::new();
        for _ in 0..2 {
            let flags = flags.clone();
            let started = inner_started.clone();
            outer.spawn(async move {
                let mut inner = TaskGroup::new();
                for _ in 0..3 {
                    let (f, guard) = flag();
                    flags.borrow_mut().push(f);
                    inner.spawn(forever(guard));
                }
                started.set();
                inner
                    .join()
                    .await
                    .map(|v| v.len() as u64)
                    .map_err(io::Error::from)
            });
        }
        outer.spawn({
            let started = inner_started.clone();
            async move {
                started.wait().await;
                fail_after(5, "outer child failed").await
            }
        });
        let err = outer.join().await.unwrap_err();
        assert_eq!(err.failed().unwrap().to_string(), "outer child failed");
        let flags = flags.borrow();
        assert_eq!(flags.len(), 6);
        assert!(
            flags.iter().all(|f| f.get()),
            "a grandchild survived its group's cancellation"
        );
    });
}

#[test]
fn dropping_a_running_group_aborts_children_and_leaks_nothing() {
    common::run(LIMIT, || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut flags = Vec::new();
        let mut group = TaskGroup::<u64, io::Error>::new();
        for _ in 0..4 {
            let (f, guard) = flag();
            flags.push(f);
            group.spawn(async move {
                let _guard = guard;
                let stream = TcpStream::connect(addr).await?;
                // The peer never writes: this read is in the kernel when the
                // group is dropped.
                let (res, _buf) = stream.read(vec![0u8; 64]).await;
                Ok(res? as u64)
            });
        }
        let mut peers = Vec::new();
        for _ in 0..4 {
            peers.push(listener.accept().await.unwrap());
        }
        sleep(ms(5)).await;
        assert!(flags.iter().all(|f| !f.get()));
        drop(group);
        assert!(flags.iter().all(|f| f.get()), "a child outlived its group");
        drop(peers);
        // common::run checks no op is left in the kernel and no fd leaked.
    });
}

#[test]
fn a_deadline_on_join_cancels_every_child() {
    common::run(LIMIT, || async {
        let (dropped, guard) = flag();
        let mut group = TaskGroup::new();
        group.spawn(forever(guard));
        group.spawn(nap(1));
        let start = Instant::now();
        assert!(CancelScope::after(ms(20)).fail(group.join()).await.is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(dropped.get());
    });
}

#[test]
fn spawning_into_a_failed_group_cancels_at_once() {
    common::run(LIMIT, || async {
        let ran = Rc::new(Cell::new(false));
        let mut group = TaskGroup::new();
        group.spawn(fail_after(0, "first"));
        assert!(group.next().await.unwrap().is_err());
        group.spawn({
            let ran = ran.clone();
            async move {
                ran.set(true);
                Ok(1)
            }
        });
        assert!(group.next().await.unwrap().unwrap_err().is_cancelled());
        curing::yield_now().await;
        assert!(!ran.get());
    });
}

#[test]
fn abort_all_reports_cancelled_and_join_leaves_them_out() {
    common::run(LIMIT, || async {
        let mut group = TaskGroup::wait_all();
        group.spawn(nap(1));
        group.spawn(async {
            sleep(LONG).await;
            Ok(0)
        });
        assert_eq!(group.next().await.unwrap().unwrap(), 1);
        group.abort_all();
        group.spawn(nap(2)); // spawning after abort_all works
        assert_eq!(group.join().await.unwrap(), [2]);

        let mut group = TaskGroup::<u8, io::Error>::new();
        group.spawn(async {
            sleep(LONG).await;
            Ok(0)
        });
        group.abort_all();
        let results = group.results().await;
        assert!(results[0].as_ref().unwrap_err().is_cancelled());
    });
}

#[test]
fn group_is_a_stream_and_errors_convert_to_io() {
    use futures_util::StreamExt;
    common::run(LIMIT, || async {
        let mut group = TaskGroup::new();
        for n in [3, 1, 2] {
            group.spawn(nap(n));
        }
        let got: Vec<u64> = group.map(|r| r.unwrap()).collect().await;
        assert_eq!(got, [1, 2, 3]);

        async fn fetch_all() -> io::Result<Vec<u64>> {
            let mut group = TaskGroup::new();
            group.spawn(fail_after(1, "io failure"));
            Ok(group.join().await?)
        }
        assert_eq!(fetch_all().await.unwrap_err().to_string(), "io failure");
    });
}

#[test]
fn as_completed_yields_in_finishing_order() {
    common::run(LIMIT, || async {
        let futures = [40, 30, 20, 10].map(nap);
        let mut done = as_completed(futures);
        assert_eq!(done.len(), 4);
        let mut order = Vec::new();
        while let Some(n) = done.next().await {
            order.push(n.unwrap());
        }
        assert_eq!(order, [10, 20, 30, 40]);
        assert!(done.next().await.is_none());
    });
}

#[test]
fn as_completed_over_join_handles_and_as_a_stream() {
    use futures_util::StreamExt;
    common::run(LIMIT, || async {
        let handles: Vec<_> = [30, 10, 20]
            .into_iter()
            .map(|n| curing::spawn(nap(n)))
            .collect();
        let order: Vec<u64> = as_completed(handles)
            .map(|r| r.unwrap().unwrap())
            .collect()
            .await;
        assert_eq!(order, [10, 20, 30]);

        let mut handles = vec![curing::spawn(async { panic!("task panic") })];
        handles.push(curing::spawn(async { 5 }));
        let mut done = as_completed(handles);
        let mut panics = 0;
        while let Some(r) = done.next().await {
            if r.is_err() {
                panics += 1;
            }
        }
        assert_eq!(panics, 1);

        let mut done = as_completed(Vec::<curing::JoinHandle<()>>::new());
        assert!(done.next().await.is_none());
        done.push(curing::spawn(async {}));
        assert!(done.next().await.unwrap().is_ok());
    });
}

#[test]
fn as_completed_does_not_let_a_busy_future_starve_the_others() {
    common::run(LIMIT, || async {
        let stop = Rc::new(Cell::new(false));
        let busy = {
            let stop = stop.clone();
            Box::pin(async move {
                while !stop.get() {
                    curing::yield_now().await;
                }
                "busy"
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = &str>>>
        };
        let quick = Box::pin(async { "quick" });
        let mut done = as_completed([busy, quick]);
        let first = timeout(Duration::from_secs(2), done.next()).await.unwrap();
        assert_eq!(first, Some("quick"));
        stop.set(true);
        assert_eq!(done.next().await, Some("busy"));
    });
}

/// `join` and `results` give spawn order whatever order the children finish
/// in, leaving out what `next` took before and (for `join`) children the
/// group cancelled.
#[test]
fn join_and_results_keep_spawn_order_over_any_finishing_order() {
    common::run(Duration::from_secs(20), || async {
        for results in [false, true] {
            let mut group = curing::task::TaskGroup::<u32, ()>::wait_all();
            // Finish in reverse order of spawning, except child 0 first.
            group.spawn(async { Ok(0) });
            for i in 1..40u32 {
                group.spawn(async move {
                    curing::time::sleep(Duration::from_micros(u64::from(4000 - i * 100))).await;
                    Ok(i)
                });
            }
            // `next` takes the first to finish (child 0) before the rest.
            assert_eq!(group.next().await.unwrap().unwrap(), 0);
            let got: Vec<u32> = if results {
                group
                    .results()
                    .await
                    .into_iter()
                    .map(|r| r.unwrap())
                    .collect()
            } else {
                group.join().await.unwrap()
            };
            assert_eq!(got, (1..40).collect::<Vec<_>>(), "results: {results}");
        }
    });
}
