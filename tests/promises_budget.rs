//! The cooperative budget, for every await of `curing::sync`, `curing::task`,
//! `JoinHandle` and `Child::wait` that can be ready at once: a task looping on
//! one of them still lets timers and other tasks run, with no `yield_now` in
//! its loop.
//!
//! Each test runs three tasks: a *spinner* that loops on the always-ready
//! await (counting the ready results it got), a *ticker* that counts its own
//! turns (`yield_now` in a loop), and a *sleeper* that sleeps 10 ms twenty
//! times. A ready await spends one unit of a budget of 128 per poll, so the
//! ticker must get a turn at least once per 128 ready results (checked with
//! a factor two of slack), and the sleeper must wake on time. A spinner that
//! never yields would starve both; it stops on its own after a few seconds
//! so the test then fails on those checks rather than hanging.

mod common;

use curing::sync::{broadcast, mpsc, oneshot, thread, watch, Event, Mutex, Semaphore};
use curing::task::{as_completed, TaskGroup};
use curing::time::sleep;
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::sleeper;

/// Limit on a 10 ms sleeper's lateness: generous for a noisy CI machine, far
/// below what starvation causes (the spinner's whole run, [`SPIN_CAP`]).
const LATE: Duration = Duration::from_millis(50);

/// How long a spinner runs at most, if nothing stops it.
const SPIN_CAP: Duration = Duration::from_secs(3);

/// Tells a spinner when to stop: once the sleeper is done, or after
/// [`SPIN_CAP`] if it never gets there.
#[derive(Clone)]
struct Stop {
    done: Rc<Cell<bool>>,
    start: Instant,
}

impl Stop {
    fn now(&self) -> bool {
        self.done.get() || self.start.elapsed() > SPIN_CAP
    }
}

/// Runs the spinner made by `spinner` (a loop of awaits that are ready at
/// once, until `Stop::now`; returns how many ready results it got) in a
/// task next to a ticker and a sleeper; checks that the spinner ran, that
/// the ticker got a turn per budget's worth of ready results, and that the
/// sleeper was on time.
async fn spin<F, Fut>(what: &str, spinner: F)
where
    F: FnOnce(Stop) -> Fut,
    Fut: Future<Output = u64> + 'static,
{
    let stop = Stop {
        done: Rc::new(Cell::new(false)),
        start: Instant::now(),
    };
    let ticks = Rc::new(Cell::new(0u64));
    let spinning = Rc::new(Cell::new(true));
    let ticker = {
        let (ticks, spinning) = (ticks.clone(), spinning.clone());
        curing::spawn(async move {
            loop {
                curing::yield_now().await;
                // Only the turns the spinner let it have count.
                if spinning.get() {
                    ticks.set(ticks.get() + 1);
                }
            }
        })
    };
    let spinner = {
        let spin = spinner(stop.clone());
        curing::spawn(async move {
            let ready = spin.await;
            spinning.set(false);
            ready
        })
    };
    let worst = sleeper(20).await;
    stop.done.set(true);
    let ready = spinner.await.unwrap();
    ticker.abort();
    let ticks = ticks.get();
    println!("{what}: {ready} ready awaits, {ticks} ticker turns; sleeper at most {worst:?} late");
    assert!(
        ready > 1000,
        "{what}: the spinner got only {ready} ready results"
    );
    assert!(
        ticks >= ready / 256,
        "{what}: the ticker ran {ticks} times for {ready} ready results"
    );
    assert!(worst < LATE, "{what}: sleeper starved: {worst:?} late");
}

/// Runs `spin(what, spinner)` on a fresh default runtime.
fn check<F, Fut>(what: &'static str, spinner: F)
where
    F: FnOnce(Stop) -> Fut + Send + 'static,
    Fut: Future<Output = u64> + 'static,
{
    common::run(Duration::from_secs(30), move || spin(what, spinner));
}

#[test]
fn local_mpsc_unbounded_recv() {
    check("local mpsc: unbounded recv", |stop| async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tx.send(0u64).unwrap();
        let mut n = 0;
        while !stop.now() {
            let v = rx.recv().await.unwrap();
            tx.send(v + 1).unwrap();
            n += 1;
        }
        n
    });
}

#[test]
fn local_mpsc_bounded_send_and_recv() {
    check("local mpsc: bounded send and recv", |stop| async move {
        let (tx, mut rx) = mpsc::channel(4);
        let mut n = 0;
        while !stop.now() {
            tx.send(n).await.unwrap();
            assert_eq!(rx.recv().await, Some(n));
            n += 2;
        }
        n
    });
}

#[test]
fn local_mpsc_recv_at_the_end() {
    check(
        "local mpsc: send and recv of a closed channel",
        |stop| async move {
            let (tx, mut rx) = mpsc::channel::<u64>(1);
            drop(tx);
            let (tx2, rx2) = mpsc::channel::<u64>(1);
            drop(rx2);
            let mut n = 0;
            while !stop.now() {
                assert_eq!(rx.recv().await, None);
                assert!(tx2.send(1).await.is_err());
                n += 2;
            }
            n
        },
    );
}

#[test]
fn local_oneshot_receive() {
    check("local oneshot: receive a sent value", |stop| async move {
        let mut n = 0;
        while !stop.now() {
            let (tx, rx) = oneshot::channel();
            tx.send(n).unwrap();
            assert_eq!(rx.await, Ok(n));
            n += 1;
        }
        n
    });
}

#[test]
fn local_oneshot_dropped_sender_and_closed() {
    check(
        "local oneshot: dropped sender, closed()",
        |stop| async move {
            let (tx, mut rx) = oneshot::channel::<u64>();
            drop(tx);
            let (mut tx2, rx2) = oneshot::channel::<u64>();
            drop(rx2);
            let mut n = 0;
            while !stop.now() {
                assert!((&mut rx).await.is_err());
                tx2.closed().await;
                n += 2;
            }
            n
        },
    );
}

#[test]
fn thread_mpsc_bounded_send_and_recv() {
    check("thread mpsc: bounded send and recv", |stop| async move {
        let (tx, mut rx) = thread::mpsc::channel(4);
        let mut n = 0;
        while !stop.now() {
            tx.send(n).await.unwrap();
            assert_eq!(rx.recv().await, Some(n));
            n += 2;
        }
        n
    });
}

#[test]
fn thread_mpsc_unbounded_send_and_recv() {
    check("thread mpsc: unbounded send and recv", |stop| async move {
        let (tx, mut rx) = thread::mpsc::unbounded_channel();
        let mut n = 0;
        while !stop.now() {
            tx.send(n).await.unwrap();
            assert_eq!(rx.recv().await, Some(n));
            n += 2;
        }
        n
    });
}

#[test]
fn thread_mpsc_fed_by_a_thread() {
    // The messages come from a plain thread that keeps the queue full.
    check("thread mpsc: recv fed by a thread", |stop| async move {
        let (tx, mut rx) = thread::mpsc::channel(1024);
        let feeder = std::thread::spawn(move || {
            let mut i = 0u64;
            while tx.blocking_send(i).is_ok() {
                i += 1;
            }
        });
        // Let the thread fill the queue first.
        sleep(Duration::from_millis(20)).await;
        let mut n = 0;
        while !stop.now() {
            rx.recv().await.unwrap();
            n += 1;
        }
        drop(rx);
        feeder.join().unwrap();
        n
    });
}

#[test]
fn thread_mpsc_send_and_recv_at_the_end() {
    check(
        "thread mpsc: send and recv of a closed channel",
        |stop| async move {
            let (tx, mut rx) = thread::mpsc::channel::<u64>(1);
            let (tx2, rx2) = thread::mpsc::channel::<u64>(1);
            drop(tx);
            drop(rx2);
            let mut n = 0;
            while !stop.now() {
                assert_eq!(rx.recv().await, None);
                assert!(tx2.send(1).await.is_err());
                n += 2;
            }
            n
        },
    );
}

#[test]
fn thread_oneshot_receive_and_closed() {
    check(
        "thread oneshot: receive, dropped sender, closed()",
        |stop| async move {
            let (tx, mut gone) = thread::oneshot::channel::<u64>();
            drop(tx);
            let (mut tx2, rx2) = thread::oneshot::channel::<u64>();
            drop(rx2);
            let mut n = 0;
            while !stop.now() {
                let (tx, rx) = thread::oneshot::channel();
                tx.send(n).unwrap();
                assert_eq!(rx.await, Ok(n));
                assert!((&mut gone).await.is_err());
                tx2.closed().await;
                n += 3;
            }
            n
        },
    );
}

#[test]
fn local_broadcast_recv_lagged_and_closed() {
    check(
        "local broadcast: recv of a value, a lag, the end",
        |stop| async move {
            let (tx, mut rx) = broadcast::channel(1);
            let (gone, mut ended) = broadcast::channel::<u64>(1);
            drop(gone);
            let mut n = 0;
            while !stop.now() {
                tx.send(n).unwrap();
                assert_eq!(rx.recv().await, Ok(n));
                tx.send(n + 1).unwrap();
                tx.send(n + 2).unwrap();
                assert_eq!(rx.recv().await, Err(broadcast::RecvError::Lagged(1)));
                assert_eq!(rx.recv().await, Ok(n + 2));
                assert_eq!(ended.recv().await, Err(broadcast::RecvError::Closed));
                n += 4;
            }
            n
        },
    );
}

#[test]
fn local_watch_changed_and_closed() {
    check(
        "local watch: changed after a send, the end",
        |stop| async move {
            let (tx, mut rx) = watch::channel(0u64);
            let (gone, mut ended) = watch::channel(0u64);
            drop(gone);
            let mut n = 0;
            while !stop.now() {
                tx.send(n).unwrap();
                rx.changed().await.unwrap();
                assert!(ended.changed().await.is_err());
                n += 2;
            }
            n
        },
    );
}

#[test]
fn thread_broadcast_recv_lagged_and_closed() {
    check(
        "thread broadcast: recv of a value, a lag, the end",
        |stop| async move {
            let (tx, mut rx) = thread::broadcast::channel(1);
            let (gone, mut ended) = thread::broadcast::channel::<u64>(1);
            drop(gone);
            let mut n = 0;
            while !stop.now() {
                tx.send(n).unwrap();
                assert_eq!(rx.recv().await, Ok(n));
                tx.send(n + 1).unwrap();
                tx.send(n + 2).unwrap();
                assert_eq!(
                    rx.recv().await,
                    Err(thread::broadcast::RecvError::Lagged(1))
                );
                assert_eq!(rx.recv().await, Ok(n + 2));
                assert_eq!(
                    ended.recv().await,
                    Err(thread::broadcast::RecvError::Closed)
                );
                n += 4;
            }
            n
        },
    );
}

#[test]
fn thread_watch_changed_and_closed() {
    check(
        "thread watch: changed after a send, the end",
        |stop| async move {
            let (tx, mut rx) = thread::watch::channel(0u64);
            let (gone, mut ended) = thread::watch::channel(0u64);
            drop(gone);
            let mut n = 0;
            while !stop.now() {
                tx.send(n).unwrap();
                rx.changed().await.unwrap();
                assert!(ended.changed().await.is_err());
                n += 2;
            }
            n
        },
    );
}

#[test]
fn semaphore_and_mutex_when_free() {
    check(
        "semaphore acquire and mutex lock, free",
        |stop| async move {
            let sem = Semaphore::new(4);
            let mutex = Mutex::new(0u64);
            let mut n = 0;
            while !stop.now() {
                let _a = sem.acquire().await.unwrap();
                let _b = sem.acquire_many(3).await.unwrap();
                *mutex.lock().await += 1;
                n += 3;
            }
            n
        },
    );
}

#[test]
fn semaphore_closed() {
    check("semaphore acquire, closed", |stop| async move {
        let sem = Semaphore::new(0);
        sem.close();
        let mut n = 0;
        while !stop.now() {
            assert!(sem.acquire().await.is_err());
            n += 1;
        }
        n
    });
}

#[test]
fn event_wait_when_set() {
    check("event wait, set", |stop| async move {
        let ev = Event::new();
        ev.set();
        let mut n = 0;
        while !stop.now() {
            ev.wait().await;
            n += 1;
        }
        n
    });
}

#[test]
fn join_handles_of_finished_tasks() {
    check("JoinHandle of a finished task", |stop| async move {
        let mut n = 0;
        while !stop.now() {
            // Many per round: the one yield per round alone gives the
            // ticker fewer turns than the budget must.
            let handles: Vec<_> = (0..1024u64)
                .map(|i| curing::spawn(async move { i }))
                .collect();
            curing::yield_now().await; // they all finish
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), i as u64);
            }
            n += 1024;
        }
        n
    });
}

/// Spawns `count` children that finish at once into `group`, in batches
/// with a yield between (spawning is not an await, so one long batch would
/// hold the thread by itself). The batches are large, so these yields alone
/// give the ticker fewer turns than the budget must.
async fn fill(group: &mut TaskGroup<u64>, count: u64) {
    for i in 0..count {
        group.spawn(async move { Ok(i) });
        if i % 2048 == 2047 {
            curing::yield_now().await;
        }
    }
    curing::yield_now().await; // the last ones finish too
}

#[test]
fn task_group_next_over_finished_children() {
    check(
        "TaskGroup::next over finished children",
        |stop| async move {
            let mut n = 0;
            while !stop.now() {
                let mut group = TaskGroup::wait_all();
                fill(&mut group, 20_000).await;
                while let Some(out) = group.next().await {
                    out.unwrap();
                    n += 1;
                }
                assert!(group.next().await.is_none());
                n += 1;
            }
            n
        },
    );
}

#[test]
fn task_group_join_and_results_over_finished_children() {
    check(
        "TaskGroup::join and results over finished children",
        |stop| async move {
            let mut n = 0;
            let mut round = 0;
            while !stop.now() {
                let mut group = TaskGroup::new();
                fill(&mut group, 20_000).await;
                n += if round % 2 == 0 {
                    group.join().await.unwrap().len() as u64
                } else {
                    group.results().await.len() as u64
                };
                round += 1;
            }
            n
        },
    );
}

#[test]
fn as_completed_over_futures_ready_at_once() {
    check("as_completed over ready futures", |stop| async move {
        let mut n = 0;
        while !stop.now() {
            let mut done = as_completed((0..20_000u64).map(|i| async move { i }));
            while done.next().await.is_some() {
                n += 1;
            }
            assert!(done.next().await.is_none());
            n += 1;
        }
        n
    });
}

#[test]
fn child_wait_once_exited() {
    check("Child::wait once exited", |stop| async move {
        let mut child = curing::process::Command::new("true").spawn().unwrap();
        assert!(child.wait().await.unwrap().success());
        let mut n = 0;
        while !stop.now() {
            assert!(child.wait().await.unwrap().success());
            n += 1;
        }
        n
    });
}

#[test]
fn failing_positional_reads() {
    // Refused before the kernel is asked (a bad offset): ready at once.
    check("read_at past i64::MAX", |stop| async move {
        let file = curing::fs::File::open("/proc/self/stat").await.unwrap();
        let mut buf = Vec::with_capacity(8);
        let mut n = 0;
        while !stop.now() {
            let (res, b) = file.read_at(buf, u64::MAX).await;
            assert!(res.is_err());
            buf = b;
            n += 1;
        }
        n
    });
}

#[test]
fn read_dir_entries_already_listed() {
    // More entries than a budget's worth, fewer than the lister reads
    // ahead: all are ready when the loop takes them. Made before the
    // runtime starts.
    let dir = std::env::temp_dir().join(format!("curing-budget-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    const N: u64 = 900;
    for i in 0..N {
        std::fs::write(dir.join(i.to_string()), b"").unwrap();
    }
    let path = dir.clone();
    common::run(Duration::from_secs(30), move || async move {
        let in_loop = Rc::new(Cell::new(false));
        let ticks = Rc::new(Cell::new(0u64));
        let ticker = {
            let (in_loop, ticks) = (in_loop.clone(), ticks.clone());
            curing::spawn(async move {
                loop {
                    curing::yield_now().await;
                    if in_loop.get() {
                        ticks.set(ticks.get() + 1);
                    }
                }
            })
        };
        let mut entries = curing::fs::read_dir(&path).await.unwrap();
        // Let the lister list them all, then take them in one loop.
        sleep(Duration::from_millis(50)).await;
        in_loop.set(true);
        let mut n = 0;
        while let Some(e) = entries.next_entry().await.unwrap() {
            drop(e);
            n += 1;
        }
        in_loop.set(false);
        ticker.abort();
        let ticks = ticks.get();
        println!("read_dir: {n} entries taken; the ticker ran {ticks} times meanwhile");
        assert_eq!(n, N);
        assert!(
            ticks >= N / 256,
            "the loop over listed entries never yielded"
        );
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
