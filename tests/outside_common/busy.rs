//! Futures that loop on always-ready work. `prepare(kind)` sets up state (so
//! preparation is not counted), then returns the busy future.
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

pub type Busy = Pin<Box<dyn Future<Output = ()>>>;

pub const KINDS: &[&str] = &[
    "local_mpsc_unbounded",
    "local_mpsc_bounded",
    "local_mpsc_reserve",
    "thread_mpsc_bounded",
    "thread_mpsc_unbounded",
    "local_oneshot",
    "thread_oneshot",
    "oneshot_closed",
    "mutex",
    "semaphore",
    "semaphore_closed",
    "event",
    "taskgroup_next",
    "taskgroup_join",
    "taskgroup_results",
    "as_completed",
    "joinhandles_finished",
    "local_mpsc_closed_recv",
    "unix_stream_read_ready",
    "yield_now",
];

pub const N_FINISHED: usize = 300_000;

pub async fn prepare(kind: &str) -> Busy {
    match kind {
        "local_mpsc_unbounded" => {
            let (tx, mut rx) = curing::sync::mpsc::unbounded_channel::<u64>();
            Box::pin(async move {
                loop {
                    tx.send(1).unwrap();
                    rx.recv().await.unwrap();
                }
            })
        }
        "local_mpsc_bounded" => {
            let (tx, mut rx) = curing::sync::mpsc::channel::<u64>(4);
            Box::pin(async move {
                loop {
                    tx.send(1).await.unwrap();
                    rx.recv().await.unwrap();
                }
            })
        }
        "local_mpsc_reserve" => {
            let (tx, mut rx) = curing::sync::mpsc::channel::<u64>(4);
            Box::pin(async move {
                loop {
                    tx.reserve().await.unwrap().send(1);
                    rx.recv().await.unwrap();
                }
            })
        }
        "local_mpsc_closed_recv" => {
            let (tx, mut rx) = curing::sync::mpsc::channel::<u64>(4);
            drop(tx);
            Box::pin(async move {
                loop {
                    assert!(rx.recv().await.is_none());
                }
            })
        }
        "thread_mpsc_bounded" => {
            let (tx, mut rx) = curing::sync::thread::mpsc::channel::<u64>(4);
            Box::pin(async move {
                loop {
                    tx.send(1).await.unwrap();
                    rx.recv().await.unwrap();
                }
            })
        }
        "thread_mpsc_unbounded" => {
            let (tx, mut rx) = curing::sync::thread::mpsc::unbounded_channel::<u64>();
            Box::pin(async move {
                loop {
                    tx.send(1).await.unwrap();
                    rx.recv().await.unwrap();
                }
            })
        }
        "local_oneshot" => Box::pin(async move {
            loop {
                let (tx, rx) = curing::sync::oneshot::channel::<u64>();
                tx.send(1).unwrap();
                rx.await.unwrap();
            }
        }),
        "thread_oneshot" => Box::pin(async move {
            loop {
                let (tx, rx) = curing::sync::thread::oneshot::channel::<u64>();
                tx.send(1).unwrap();
                rx.await.unwrap();
            }
        }),
        "oneshot_closed" => {
            let (mut tx, rx) = curing::sync::oneshot::channel::<u64>();
            drop(rx);
            Box::pin(async move {
                loop {
                    tx.closed().await;
                }
            })
        }
        "mutex" => {
            let m = Rc::new(curing::sync::Mutex::new(0u64));
            Box::pin(async move {
                loop {
                    *m.lock().await += 1;
                }
            })
        }
        "semaphore" => {
            let s = curing::sync::Semaphore::new(1);
            Box::pin(async move {
                loop {
                    let _p = s.acquire().await.unwrap();
                }
            })
        }
        "semaphore_closed" => {
            let s = curing::sync::Semaphore::new(0);
            s.close();
            Box::pin(async move {
                loop {
                    assert!(s.acquire().await.is_err());
                }
            })
        }
        "event" => {
            let e = curing::sync::Event::new();
            e.set();
            Box::pin(async move {
                loop {
                    e.wait().await;
                }
            })
        }
        "taskgroup_next" => {
            let mut g = curing::task::TaskGroup::<usize, ()>::wait_all();
            for i in 0..N_FINISHED * 3 {
                g.spawn(async move { Ok(i) });
            }
            settle().await;
            Box::pin(async move {
                let t0 = std::time::Instant::now();
                let mut n = 0;
                while let Some(r) = g.next().await {
                    r.unwrap();
                    n += 1;
                }
                panic!("drained all {n} finished children before the deadline: N_FINISHED too small to test (took {:?} from first poll)", t0.elapsed());
            })
        }
        "taskgroup_join" => {
            let mut g = curing::task::TaskGroup::<usize, ()>::new();
            for i in 0..N_FINISHED {
                g.spawn(async move { Ok(i) });
            }
            settle().await;
            Box::pin(async move {
                let t0 = std::time::Instant::now();
                let v = g.join().await.unwrap();
                panic!(
                    "joined all {} before the deadline: N too small (took {:?} from first poll)",
                    v.len(),
                    t0.elapsed()
                );
            })
        }
        "taskgroup_results" => {
            let mut g = curing::task::TaskGroup::<usize, ()>::wait_all();
            for i in 0..N_FINISHED {
                g.spawn(async move { Ok(i) });
            }
            settle().await;
            Box::pin(async move {
                let t0 = std::time::Instant::now();
                let v = g.results().await;
                panic!(
                    "collected all {} before the deadline: N too small (took {:?} from first poll)",
                    v.len(),
                    t0.elapsed()
                );
            })
        }
        "as_completed" => {
            let mut ac = curing::task::as_completed((0..N_FINISHED * 3).map(|i| async move { i }));
            Box::pin(async move {
                let t0 = std::time::Instant::now();
                let mut n = 0;
                while ac.next().await.is_some() {
                    n += 1;
                }
                panic!("as_completed drained {n} before the deadline: N too small (took {:?} from first poll)", t0.elapsed());
            })
        }
        "joinhandles_finished" => {
            let hs: Vec<_> = (0..N_FINISHED * 4)
                .map(|i| curing::spawn(async move { i }))
                .collect();
            settle().await;
            assert!(hs.iter().all(|h| h.is_finished()));
            Box::pin(async move {
                let t0 = std::time::Instant::now();
                let n = hs.len();
                for h in hs {
                    h.await.unwrap();
                }
                panic!("awaited all {n} finished handles before the deadline: N too small (took {:?} from first poll)", t0.elapsed());
            })
        }
        "unix_stream_read_ready" => {
            // A peer thread keeps the socket full; every read has data available.
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut b = b;
                let chunk = vec![7u8; 65536];
                while b.write_all(&chunk).is_ok() {}
            });
            let s = curing::net::UnixStream::from_std(a);
            Box::pin(async move {
                let mut buf = vec![0u8; 16];
                loop {
                    let (r, b) = s.read(buf).await;
                    assert!(r.unwrap() > 0);
                    buf = b;
                }
            })
        }
        "yield_now" => Box::pin(async move {
            loop {
                curing::yield_now().await;
            }
        }),
        other => panic!("unknown kind {other}"),
    }
}

/// Lets freshly spawned children run to completion.
pub async fn settle() {
    for _ in 0..4 {
        curing::yield_now().await;
    }
    curing::time::sleep(std::time::Duration::from_millis(1)).await;
}
