//! Outside test (issue 22): no descriptor leaks from dropped stream and pipe
//! futures, on both drivers. One test in its own binary, so nothing else in
//! the process opens descriptors while it counts them.

use std::time::Duration;

use curing::net::{TcpListener, TcpStream, UnixStream};
use curing::process::{Command, Stdio};
use curing::runtime::DriverKind;
use curing::time::{sleep, timeout};

mod outside22_common;
use outside22_common::poll_once;

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn fd_list() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let t = std::fs::read_link(e.path()).ok()?;
            Some(format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                t.display()
            ))
        })
        .collect();
    v.sort();
    v
}

async fn workload() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    for i in 0..100u64 {
        // A pair, then a read and a write_all each cut off at some point.
        let c = curing::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let (s, _) = l.accept().await.unwrap();
        let c = c.await.unwrap();
        let mut r = Box::pin(s.read(vec![0u8; 1024]));
        assert!(poll_once(&mut r).await.is_none());
        let big = vec![1u8; 8 << 20];
        let _ = timeout(Duration::from_micros(50 + i * 10), c.write_all(big)).await;
        match i % 3 {
            // the read dropped, then its stream at once, op still in flight
            0 => {
                drop(r);
                drop(s);
            }
            // the read dropped, the peer too, then the stream
            1 => {
                drop(r);
                drop(c);
                sleep(Duration::from_micros(100)).await;
                drop(s);
            }
            // another read cut off by a timeout, then close
            _ => {
                drop(r);
                let _ = timeout(Duration::from_micros(30), s.read(vec![0u8; 1 << 20])).await;
                let _ = s.close().await;
            }
        }
        // A connect and an accept, dropped after their first poll.
        let mut conn = Box::pin(TcpStream::connect(addr));
        let _ = poll_once(&mut conn).await;
        drop(conn);
        let mut acc = Box::pin(l.accept());
        let _ = poll_once(&mut acc).await;
        drop(acc);
    }
    // Unix halves with dropped reads/writes.
    for _ in 0..100 {
        let (a, b) = UnixStream::pair().unwrap();
        let (ar, aw) = a.into_split();
        let mut r = Box::pin(ar.read(vec![0u8; 64]));
        assert!(poll_once(&mut r).await.is_none());
        let _ = timeout(Duration::from_micros(20), b.write_all(vec![0u8; 4 << 20])).await;
        let mut w = Box::pin(aw.write_all(vec![9u8; 4 << 20]));
        let _ = poll_once(&mut w).await;
        drop((r, w, b));
        drop((ar, aw));
    }
    // Child pipes: reads and writes dropped mid-way, child killed.
    for _ in 0..10 {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut r = Box::pin(stdout.read(vec![0u8; 64]));
        assert!(poll_once(&mut r).await.is_none());
        let _ = timeout(
            Duration::from_millis(1),
            stdin.write_all(vec![5u8; 4 << 20]),
        )
        .await;
        drop(r);
        drop(stdin);
        drop(stdout);
        child.kill().await.unwrap();
    }
    drop(l);
    // Let the cancellations and closes settle.
    sleep(Duration::from_millis(200)).await;
}

#[test]
fn no_fd_leaks_after_dropped_stream_and_pipe_futures() {
    for kind in [DriverKind::IoUring, DriverKind::Epoll] {
        let before = fd_list();
        let rt = match curing::Runtime::builder().driver(kind).build() {
            Ok(rt) => rt,
            Err(e) if kind == DriverKind::IoUring => {
                eprintln!("io_uring unavailable, skipped: {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        // Warm up once, so descriptors the runtime opens lazily (the
        // blocking pool, a signal or pidfd) are there before counting.
        rt.block_on(workload());
        let inside = fd_count();
        let inside_list = fd_list();
        for _ in 0..3 {
            rt.block_on(workload());
        }
        let after_inside = fd_list();
        assert!(
            after_inside.len() <= inside,
            "{kind:?}: descriptors grew inside one runtime: {} -> {}\nbefore: {inside_list:#?}\nafter: {after_inside:#?}",
            inside,
            after_inside.len()
        );
        drop(rt);
        std::thread::sleep(Duration::from_millis(50));
        let after = fd_list();
        assert_eq!(
            before, after,
            "{kind:?}: descriptors left after the runtime"
        );
    }
}
