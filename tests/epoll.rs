//! The epoll driver (`DriverKind::Epoll`, the io_uring emulator) through
//! the public API, whatever `CURING_DRIVER` says: sockets (readiness),
//! files (the blocking pool), cancellation of parked and pooled ops with
//! nothing leaked, multishot accept and receive with provided buffers,
//! fixed files and buffers, timers, cross-thread wakes and processes.
//! Every test runs under `common::run_with`'s oracles (no fd leaked, no op
//! leaked, no `-EFAULT`).

mod common;

use common::{hash, pattern, Hash};
use curing::buf::{BufPool, FixedBufPool};
use curing::fs::{File, OpenOptions};
use curing::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use curing::runtime::DriverKind;
use curing::time::{sleep, timeout};
use curing::Runtime;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn epoll() -> curing::Builder {
    Runtime::builder().driver(DriverKind::Epoll)
}

/// `common::run_with` on the epoll driver, plus: every CQE belonged to a
/// live op (the emulator never posts twice or for nothing).
fn run<F, Fut>(body: F) -> curing::stats::Stats
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let stats = common::run_with(epoll, T, body);
    assert_eq!(stats.stale_cqes, 0, "a CQE for no live op: {stats:?}");
    stats
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("curing-epoll-{}-{name}", std::process::id()))
}

#[test]
fn runs_on_epoll_and_says_so() {
    run(|| async {
        assert_eq!(curing::runtime::driver_kind(), DriverKind::Epoll);
        curing::runtime::nop().await.unwrap();
    });
}

#[test]
fn tcp_echo_is_byte_exact() {
    run(|| async {
        const LEN: usize = 1 << 20;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = curing::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            loop {
                let (n, b) = s.read(buf).await;
                let n = n.unwrap();
                if n == 0 {
                    break;
                }
                let (w, b) = s.write_all(b[..n].to_vec()).await;
                w.unwrap();
                drop(b);
                buf = vec![0u8; 8192];
            }
        });
        let c = std::rc::Rc::new(TcpStream::connect(addr).await.unwrap());
        let data = pattern(1, LEN);
        let reader = {
            let c = c.clone();
            curing::spawn(async move {
                let mut h = Hash::new();
                let mut got = 0;
                while got < LEN {
                    let (n, b) = c.read(vec![0u8; 16384]).await;
                    let n = n.unwrap();
                    assert!(n > 0, "early EOF at {got}");
                    h.update(&b[..n]);
                    got += n;
                }
                h.finish()
            })
        };
        for chunk in data.chunks(100_000) {
            let (w, _) = c.write_all(chunk.to_vec()).await;
            w.unwrap();
        }
        assert_eq!(reader.await.unwrap(), hash(&data));
        c.shutdown(std::net::Shutdown::Write).await.unwrap();
        server.await.unwrap();
    });
}

#[test]
fn udp_and_unix_round_trips() {
    run(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b.local_addr().unwrap();
        let recv = curing::spawn(async move {
            let (r, buf) = b.recv_from(vec![0u8; 64]).await;
            let (n, from) = r.unwrap();
            (buf[..n].to_vec(), from)
        });
        sleep(Duration::from_millis(5)).await; // the receive is parked
        let (r, _) = a.send_to(b"datagram".to_vec(), b_addr).await;
        assert_eq!(r.unwrap(), 8);
        let (data, from) = recv.await.unwrap();
        assert_eq!(data, b"datagram");
        assert_eq!(from, a.local_addr().unwrap());

        let (x, y) = UnixStream::pair().unwrap();
        let (w, _) = x.write_all(pattern(3, 100_000)).await;
        w.unwrap();
        drop(x);
        let mut h = Hash::new();
        loop {
            let (n, b) = y.read(vec![0u8; 4096]).await;
            let n = n.unwrap();
            if n == 0 {
                break;
            }
            h.update(&b[..n]);
        }
        assert_eq!(h.finish(), hash(&pattern(3, 100_000)));
    });
}

#[test]
fn files_random_reads_and_writes_match() {
    run(|| async {
        const LEN: usize = 256 * 1024;
        let path = tmp("rw");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        let mut model = vec![0u8; LEN];
        let mut x = 12345u64;
        for i in 0..200u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pos = (x >> 33) as usize % (LEN - 5000);
            let len = 1 + (x >> 20) as usize % 4999;
            let data = pattern(i, len);
            model[pos..pos + len].copy_from_slice(&data);
            let (w, _) = f.write_all_at(data, pos as u64).await;
            w.unwrap();
        }
        f.sync_all().await.unwrap();
        let (r, back) = f.read_at(Vec::with_capacity(LEN), 0).await;
        let n = r.unwrap();
        let end = model.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        assert!(n >= end, "read {n} of at least {end}");
        assert_eq!(hash(&back[..end]), hash(&model[..end]));
        f.close().await.unwrap();
        curing::fs::remove_file(&path).await.unwrap();
    });
}

#[test]
fn cancelling_parked_and_pooled_ops_leaks_nothing() {
    let stats = run(|| async {
        // Parked on epoll: a read with nothing to read, dropped.
        let (a, b) = UnixStream::pair().unwrap();
        for _ in 0..50 {
            let r = timeout(Duration::from_micros(200), a.read(vec![0u8; 64])).await;
            assert!(r.is_err(), "nothing was sent");
        }
        // The stream still works: no byte was lost to a cancelled read.
        let (w, _) = b.write_all(b"after".to_vec()).await;
        w.unwrap();
        let (n, buf) = a.read(vec![0u8; 64]).await;
        assert_eq!(&buf[..n.unwrap()], b"after");
        // On the pool: file ops dropped at once (queued or running).
        let path = tmp("cancel");
        let f = File::create(&path).await.unwrap();
        for i in 0..50u64 {
            let fut = f.write_all_at(pattern(i, 64 * 1024), i * 4096);
            let _ = timeout(Duration::from_micros(10), fut).await;
        }
        f.close().await.unwrap();
        curing::fs::remove_file(&path).await.unwrap();
    });
    assert!(stats.ops_cancelled >= 50, "{stats:?}");
}

#[test]
fn multishot_accept_and_pooled_receives() {
    run(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = BufPool::new(8, 1024).unwrap();
        let clients = curing::spawn(async move {
            let mut v = Vec::new();
            for i in 0..20u64 {
                let c = TcpStream::connect(addr).await.unwrap();
                let (w, _) = c.write_all(pattern(i, 10_000)).await;
                w.unwrap();
                v.push(c);
            }
            v
        });
        let mut incoming = listener.incoming();
        let mut hashes = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let s = incoming.next().await.unwrap().unwrap();
            let pool = pool.clone();
            tasks.push(curing::spawn(async move {
                let mut rx = s.recv_pooled(&pool);
                let mut h = Hash::new();
                let mut got = 0;
                while got < 10_000 {
                    let buf = rx.next().await.unwrap().unwrap();
                    h.update(&buf);
                    got += buf.len();
                }
                h.finish()
            }));
        }
        assert!(incoming.is_multishot(), "multishot accept on epoll");
        for t in tasks {
            hashes.push(t.await.unwrap());
        }
        let all: Vec<_> = (0..20u64).map(|i| hash(&pattern(i, 10_000))).collect();
        for h in &hashes {
            assert!(all.contains(h), "a stream's bytes match one client's");
        }
        drop(clients.await.unwrap());
        assert_eq!(pool.available(), pool.count(), "every buffer back");
    });
}

#[test]
fn fixed_files_and_buffers() {
    run(|| async {
        let path = tmp("fixed");
        std::fs::write(&path, pattern(9, 8192)).unwrap();
        let file = File::open(&path).await.unwrap();
        let fixed = file.register().unwrap();
        file.close().await.unwrap();
        let (r, buf) = fixed.read_at(Vec::with_capacity(8192), 0).await;
        assert_eq!(r.unwrap(), 8192);
        assert_eq!(hash(&buf), hash(&pattern(9, 8192)));
        let pool = FixedBufPool::new(2, 4096).unwrap();
        let b = pool.try_acquire().unwrap();
        let (r, b) = fixed.read_fixed_at(b, 4096).await;
        assert_eq!(r.unwrap(), 4096);
        assert_eq!(hash(&b[..]), hash(&pattern(9, 8192)[4096..]));
        drop((b, fixed));
        curing::fs::remove_file(&path).await.unwrap();
    });
}

#[test]
fn timers_cross_thread_wakes_and_processes() {
    run(|| async {
        let start = Instant::now();
        sleep(Duration::from_millis(20)).await;
        let slept = start.elapsed();
        assert!(slept >= Duration::from_millis(20), "{slept:?}");
        assert!(slept < Duration::from_millis(500), "{slept:?}");
        // Wakes from plain threads (the eventfd read is a parked op).
        let handle = curing::runtime::Handle::current();
        let t = std::thread::spawn(move || {
            (0..200)
                .map(|i| handle.block_on(async move { i }))
                .sum::<i32>()
        });
        while !t.is_finished() {
            sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(t.join().unwrap(), 199 * 200 / 2);
        // A child process: WAITID on its pidfd is parked on epoll.
        let out = curing::process::Command::new("sh")
            .args(["-c", "sleep 0.05; echo epoll"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"epoll\n");
    });
}
