//! Thread-per-core: one ring per thread, work sent to a chosen thread, and
//! an echo server with one `SO_REUSEPORT` listener per thread serving
//! connections on every thread.

mod common;

use curing::net::{BindOptions, TcpListener};
use curing::runtime::{peers, thread_index, Handle};
use curing::sync::thread::oneshot;
use curing::Runtime;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn each_thread_has_its_own_ring_and_index() {
    let threads = Runtime::builder().threads(3).build_threads().unwrap();
    assert_eq!(threads.len(), 3);
    let rings = threads.block_on_each(|i| async move {
        assert_eq!(thread_index(), Some(i));
        assert_eq!(peers().len(), 3);
        assert_eq!(peers()[i], Handle::current());
        curing::runtime::nop().await.unwrap();
        (
            std::thread::current().name().unwrap().to_string(),
            curing::runtime::stats().ops_completed,
        )
    });
    let names: Vec<_> = rings.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["curing-0", "curing-1", "curing-2"]);
    assert!(rings.iter().all(|(_, ops)| *ops >= 1));
    assert_eq!(thread_index(), None);
    assert!(peers().is_empty());
}

#[test]
fn work_goes_to_the_chosen_thread_and_back() {
    let threads = Runtime::builder().threads(2).build_threads().unwrap();
    // From a plain thread.
    for i in [1, 0, 1] {
        let got = threads
            .handle(i)
            .spawn(async { thread_index() })
            .join()
            .unwrap();
        assert_eq!(got, Some(i));
    }
    // Thread 0 hands 1000 jobs to thread 1 and awaits each (MSG_RING wakes
    // both ways).
    let sums = threads.block_on_each(|i| async move {
        if i != 0 {
            return 0;
        }
        let other = peers()[1].clone();
        let mut sum = 0;
        for n in 0..1000u64 {
            sum += other
                .spawn(async move {
                    assert_eq!(thread_index(), Some(1));
                    n
                })
                .await
                .unwrap();
        }
        sum
    });
    assert_eq!(sums, [999 * 1000 / 2, 0]);
    let sent = threads.block_on_each(|_| async { curing::runtime::stats().msg_wakes_sent });
    if common::is_epoll() {
        // No MSG_RING on epoll: every wake went through the eventfd.
        assert_eq!(sent, [0, 0], "no MSG_RING on the epoll driver");
        return;
    }
    assert!(
        sent.iter().all(|&n| n > 0),
        "MSG_RING used both ways: {sent:?}"
    );
}

#[test]
fn reuseport_echo_serves_connections_on_every_thread() {
    const N: usize = 4;
    const CONNS: usize = 200;
    let threads = Runtime::builder().threads(N).build_threads().unwrap();
    let accepted: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
    // Thread 0 picks the port; the others bind the same one.
    let port = threads.handle(0).block_on_with(|| async {
        let l = TcpListener::bind_with("127.0.0.1:0", &BindOptions::new().reuseport(true)).unwrap();
        let port = l.local_addr().unwrap().port();
        l.close().await.unwrap();
        port
    });
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut stops = Vec::new();
    let mut servers = Vec::new();
    for i in 0..N {
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let accepted = accepted.clone();
        servers.push(threads.handle(i).spawn_with(move || async move {
            let listener =
                TcpListener::bind_with(addr, &BindOptions::new().reuseport(true)).unwrap();
            ready_tx.send(()).unwrap();
            let serve = curing::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    accepted[i].fetch_add(1, Ordering::Relaxed);
                    curing::spawn(async move {
                        let (res, buf) = stream.read(vec![0u8; 64]).await;
                        let n = res.unwrap();
                        let mut reply = buf[..n].to_vec();
                        reply.push(b'0' + i as u8);
                        stream.write_all(reply).await.0.unwrap();
                        stream.close().await.unwrap();
                    });
                }
            });
            let _ = stop_rx.await;
            serve.abort();
        }));
        stops.push(stop_tx);
        ready_rx.blocking_recv().unwrap();
    }
    let mut served_by = [0usize; N];
    for c in 0..CONNS {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let msg = format!("hi{c}");
        s.write_all(msg.as_bytes()).unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        assert_eq!(&reply[..msg.len()], msg.as_bytes());
        served_by[(reply[msg.len()] - b'0') as usize] += 1;
    }
    for s in stops {
        s.send(()).unwrap();
    }
    for s in servers {
        s.join().unwrap();
    }
    let counts: Vec<usize> = accepted.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    assert_eq!(counts.iter().sum::<usize>(), CONNS);
    assert_eq!(counts, served_by);
    assert!(
        counts.iter().all(|&c| c > 0),
        "every thread served some: {counts:?}"
    );
}

#[test]
fn dropping_threads_cancels_their_tasks_and_joins() {
    let threads = Runtime::builder().threads(2).build_threads().unwrap();
    let pending = threads.handle(1).spawn(std::future::pending::<()>());
    let handle = threads.handle(0).clone();
    drop(threads);
    assert!(pending.join().unwrap_err().is_cancelled());
    assert!(!handle.is_alive());
}

#[test]
fn a_wake_sent_before_the_waker_blocks_its_thread_is_not_stranded() {
    // A task on thread 0 wakes a task on thread 1, then blocks thread 0
    // (bad practice, but it must not strand the wake in thread 0's ring).
    let threads = Runtime::builder().threads(2).build_threads().unwrap();
    let (tx, rx) = oneshot::channel::<u32>();
    let (back_tx, back_rx) = std::sync::mpsc::channel::<u32>();
    let answer = threads.handle(1).spawn(async move {
        let v = rx.await.unwrap();
        back_tx.send(v + 1).unwrap();
    });
    // Let thread 1's task start waiting (its waker is registered).
    std::thread::sleep(std::time::Duration::from_millis(20));
    let got = threads.handle(0).spawn(async move {
        tx.send(41).unwrap(); // a MSG_RING wake from thread 0
        back_rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the wake was stranded in the waker's SQ")
    });
    assert_eq!(got.join().unwrap(), 42);
    answer.join().unwrap();
}
