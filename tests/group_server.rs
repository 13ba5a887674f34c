//! `TaskGroup::reaping`, the group for servers: finished children free their
//! slot and outcome while nobody awaits the group (10k+ children, and 10k
//! real connections through an accept loop), `shutdown` and dropping the
//! group cancel the live children (their drops run, their sockets close),
//! a panicking child is caught and dropped as documented, and `shutdown` of
//! a non-reaping group cancels and drops everything too. Both drivers
//! (`CURING_DRIVER=epoll`).

mod common;

use curing::net::{TcpListener, TcpStream};
use curing::task::TaskGroup;
use curing::time::{sleep, timeout};
use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Counts drops: shows a child's future (or its value) was dropped.
struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// 20k children that each finish after a yield, spawned in batches by an
/// owner that never calls `next`: the group holds only the running ones
/// (`len` bounded by one batch), and each child's value is dropped when the
/// child ends.
#[test]
fn finished_children_free_their_slots_without_next() {
    common::run(LIMIT, || async {
        const TOTAL: usize = 20_000;
        const BATCH: usize = 100;
        let values_dropped = Rc::new(Cell::new(0));
        let futures_dropped = Rc::new(Cell::new(0));
        let mut group = TaskGroup::<Counted>::reaping();
        let mut max_len = 0;
        for _ in 0..TOTAL / BATCH {
            for _ in 0..BATCH {
                let value = Counted(values_dropped.clone());
                let alive = Counted(futures_dropped.clone());
                group.spawn(async move {
                    let _alive = alive;
                    curing::yield_now().await;
                    Ok(value)
                });
            }
            max_len = max_len.max(group.len());
            // Let the batch run; the owner does not touch the group.
            for _ in 0..4 {
                curing::yield_now().await;
            }
        }
        assert!(max_len <= BATCH, "len reached {max_len}");
        // Every child ended, and took its value with it.
        assert_eq!(group.len(), 0);
        assert!(group.is_empty());
        assert_eq!(futures_dropped.get(), TOTAL);
        assert_eq!(values_dropped.get(), TOTAL);
        // `next` on a reaping group gives no outcomes: `None` at once.
        assert!(group.next().await.is_none());
        let dbg = format!("{group:?}");
        assert!(
            dbg.contains("reaping: true") && dbg.contains("live: 0"),
            "{dbg}"
        );
    });
}

/// The same with real connections: an accept loop spawns one child per
/// connection for 10k short connections and never calls `next`; the group's
/// length stays bounded by the clients in flight and the process RSS does
/// not grow with the number of connections served.
#[test]
fn accept_loop_of_10k_short_connections_stays_bounded() {
    common::run(LIMIT, || async {
        const CONNECTIONS: usize = 10_000;
        const CLIENTS: usize = 50;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = curing::spawn(async move {
            let mut clients = TaskGroup::<()>::wait_all();
            for c in 0..CLIENTS {
                clients.spawn(async move {
                    for _ in 0..CONNECTIONS / CLIENTS {
                        let stream = TcpStream::connect(addr).await.unwrap();
                        let (res, buf) = stream.read(vec![0u8; 8]).await;
                        assert_eq!(&buf[..res.unwrap()], b"hi", "client {c}");
                        stream.close().await.unwrap();
                    }
                    Ok(())
                });
            }
            clients.join().await.unwrap();
        });
        let mut group = TaskGroup::<(), io::Error>::reaping();
        let mut max_len = 0;
        let mut rss_after_first = 0;
        for n in 0..CONNECTIONS {
            let (stream, _) = listener.accept().await.unwrap();
            group.spawn(async move {
                let (res, _) = stream.write_all(b"hi".to_vec()).await;
                res?;
                stream.close().await
            });
            max_len = max_len.max(group.len());
            if n == 1_000 {
                rss_after_first = rss_kib();
            }
        }
        clients.await.unwrap();
        let rss_end = rss_kib();
        // Each client holds at most one connection at a time, so at most
        // CLIENTS children run at once (plus ones whose close is still in
        // flight after their client moved on).
        assert!(max_len <= 2 * CLIENTS, "len reached {max_len}");
        // A group that kept 9k finished children would grow by their task
        // slots, handles and outcomes; allow allocator noise.
        assert!(
            rss_end <= rss_after_first + 4 * 1024,
            "RSS grew from {rss_after_first} KiB to {rss_end} KiB"
        );
        group.shutdown().await;
        assert!(group.is_empty());
    });
}

/// `shutdown` cancels the live children and waits for them: their futures
/// drop (the drop counter sees all of them) and their sockets close (the
/// clients read end-of-stream).
#[test]
fn shutdown_cancels_live_children_and_closes_their_sockets() {
    common::run(LIMIT, || async {
        const N: usize = 20;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let dropped = Rc::new(Cell::new(0));
        let mut clients = Vec::new();
        for _ in 0..N {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut group = TaskGroup::<(), io::Error>::reaping();
        for _ in 0..N {
            let (stream, _) = listener.accept().await.unwrap();
            let alive = Counted(dropped.clone());
            group.spawn(async move {
                let _alive = alive;
                // Waits for bytes the client never sends.
                let (res, _) = stream.read(vec![0u8; 16]).await;
                res?;
                unreachable!("the client sent nothing");
            });
        }
        // Let every child reach its read.
        sleep(Duration::from_millis(20)).await;
        assert_eq!(group.len(), N);
        assert_eq!(dropped.get(), 0);
        group.shutdown().await;
        assert_eq!(dropped.get(), N, "every child's future dropped");
        assert!(group.is_empty());
        for client in clients {
            let (res, _) = timeout(Duration::from_secs(5), client.read(vec![0u8; 16]))
                .await
                .expect("the server side closed");
            assert_eq!(res.unwrap(), 0, "end of stream");
        }
        // The group is usable after a shutdown.
        group.spawn(async { Ok(()) });
        assert_eq!(group.len(), 1);
        assert!(group.next().await.is_none());
        assert!(group.is_empty());
    });
}

/// `shutdown` on a group of another policy: it cancels the running
/// children, waits for them, and drops the outcomes not handed out (finished
/// children's values included).
#[test]
fn shutdown_of_a_wait_all_group_drops_everything() {
    common::run(LIMIT, || async {
        let dropped = Rc::new(Cell::new(0));
        let mut group = TaskGroup::<Counted>::wait_all();
        for i in 0..10 {
            let value = Counted(dropped.clone());
            group.spawn(async move {
                if i % 2 == 0 {
                    sleep(Duration::from_secs(3600)).await;
                }
                Ok(value)
            });
        }
        curing::yield_now().await;
        // Five finished (values waiting to be taken), five sleep.
        assert_eq!(group.len(), 10);
        assert_eq!(dropped.get(), 0);
        group.shutdown().await;
        assert_eq!(dropped.get(), 10);
        assert!(group.is_empty());
        assert!(group.next().await.is_none());
    });
}

/// Dropping a reaping group cancels its live children as `shutdown` does.
#[test]
fn dropping_the_group_cancels_live_children() {
    common::run(LIMIT, || async {
        let dropped = Rc::new(Cell::new(0));
        let mut group = TaskGroup::<()>::reaping();
        for _ in 0..100 {
            let alive = Counted(dropped.clone());
            group.spawn(async move {
                let _alive = alive;
                sleep(Duration::from_secs(3600)).await;
                Ok(())
            });
        }
        curing::yield_now().await;
        assert_eq!(group.len(), 100);
        drop(group);
        assert_eq!(dropped.get(), 100);
    });
}

/// `next` on a reaping group is a drain: pending while a child runs, `None`
/// once the last one ended; dropping it and polling again loses nothing.
#[test]
fn next_waits_until_the_last_child_ended() {
    common::run(LIMIT, || async {
        let mut group = TaskGroup::<u8>::reaping();
        group.spawn(async {
            sleep(Duration::from_millis(10)).await;
            Ok(1)
        });
        group.spawn(async {
            sleep(Duration::from_millis(80)).await;
            Ok(2)
        });
        // Dropped at its await: nothing was promised, nothing lost.
        assert!(timeout(Duration::from_millis(30), group.next())
            .await
            .is_err());
        assert_eq!(group.len(), 1);
        assert!(group.next().await.is_none());
        assert!(group.is_empty());
        // `join` and `results` of a reaping group: no values, once all ended.
        let mut group = TaskGroup::<u8>::reaping();
        group.spawn(async { Ok(3) });
        assert_eq!(group.join().await.unwrap(), Vec::<u8>::new());
        let mut group = TaskGroup::<u8>::reaping();
        group.spawn(async { Ok(4) });
        assert!(group.results().await.is_empty());
    });
}

/// A panicking child is caught (the owner and its siblings go on), its slot
/// is freed, and nothing is reported through the group: as documented, the
/// panic hook prints it and the outcome is dropped like any other.
#[test]
fn a_panicking_child_is_caught_and_dropped() {
    common::run(LIMIT, || async {
        let sibling_done = Rc::new(Cell::new(false));
        let mut group = TaskGroup::<()>::reaping();
        group.spawn(async {
            curing::yield_now().await;
            panic!("child panics (expected by this test)");
        });
        let done = sibling_done.clone();
        group.spawn(async move {
            // Long enough to outlast the panic hook printing a backtrace.
            sleep(Duration::from_millis(500)).await;
            done.set(true);
            Ok(())
        });
        assert_eq!(group.len(), 2);
        for _ in 0..4 {
            curing::yield_now().await;
        }
        assert_eq!(group.len(), 1, "the panicked child's slot is free");
        assert!(group.next().await.is_none());
        assert!(sibling_done.get(), "the sibling ran to its end");
        // A failing child's error is dropped the same way, when the child
        // ends, without anyone calling `next`.
        let errors_dropped = Rc::new(Cell::new(0));
        let mut group = TaskGroup::<(), Counted>::reaping();
        for _ in 0..10 {
            let error = Counted(errors_dropped.clone());
            group.spawn(async move { Err(error) });
        }
        curing::yield_now().await;
        assert_eq!(errors_dropped.get(), 10);
        assert!(group.is_empty());
    });
}

/// The process's resident set, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
