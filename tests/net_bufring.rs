//! Provided-buffer rings with multishot receive: byte-exact streams, pool
//! exhaustion under 1,000 connections (ENOBUFS re-arms, never fails), every
//! buffer back in the pool after drops and cancels, and buffers that
//! outlive their runtime. docs/reliability.md, rows 27, 28.

mod common;

use curing::buf::BufPool;
use curing::net::{TcpListener, TcpStream, UnixStream};
use curing::time::{sleep, timeout};
use std::io::Write;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn pattern(seed: usize, i: usize) -> u8 {
    (i.wrapping_mul(2654435761).wrapping_add(seed) >> 7) as u8
}

#[test]
fn pooled_stream_is_byte_exact_and_ends_at_eof() {
    common::run(LIMIT, || async {
        let pool = BufPool::new(16, 4096).unwrap();
        assert!(pool.is_ring(), "this kernel has buffer rings: {pool:?}");
        assert_eq!(pool.available(), 16);
        let (a, b) = UnixStream::pair().unwrap();
        const TOTAL: usize = 2 * 1024 * 1024 + 13;
        let writer = curing::spawn(async move {
            let data: Vec<u8> = (0..TOTAL).map(|i| pattern(7, i)).collect();
            let (res, _) = a.write_all(data).await;
            res.unwrap();
            a.close().await.unwrap();
        });
        let mut rx = b.recv_pooled(&pool);
        let mut got = 0usize;
        let mut chunks = 0;
        while let Some(buf) = rx.next().await {
            let buf = buf.unwrap();
            assert!(!buf.is_empty() && buf.len() <= 4096);
            for (k, &x) in buf.iter().enumerate() {
                assert_eq!(x, pattern(7, got + k), "byte {}", got + k);
            }
            got += buf.len();
            chunks += 1;
        }
        assert_eq!(got, TOTAL);
        assert!(chunks >= TOTAL / 4096);
        assert!(rx.next().await.is_none(), "stays ended");
        writer.await.unwrap();
        drop(rx);
        assert_eq!(pool.available(), pool.count(), "every buffer back");
    });
}

/// 1,000 connections share a pool of 32 buffers, each holding its buffer
/// for a while: the pool runs dry again and again, receives re-arm, and
/// every byte arrives; afterwards every buffer is back.
#[test]
fn exhaustion_under_1000_connections_rearms() {
    common::run(LIMIT, || async {
        const N: usize = 1000;
        const PER: usize = 3000;
        let pool = BufPool::new(32, 1024).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = std::thread::spawn(move || {
            let mut v = Vec::new();
            for i in 0..N {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let data: Vec<u8> = (0..PER).map(|k| pattern(i, k)).collect();
                s.write_all(&(i as u32).to_le_bytes()).unwrap();
                s.write_all(&data).unwrap();
                v.push(s);
            }
            v
        });
        let mut incoming = listener.incoming();
        let mut tasks = Vec::new();
        for _ in 0..N {
            let stream = incoming.next().await.unwrap().unwrap();
            let pool = pool.clone();
            tasks.push(curing::spawn(async move {
                let mut rx = stream.recv_pooled(&pool);
                let mut data = Vec::new();
                while data.len() < 4 + PER {
                    let buf = rx.next().await.expect("data").expect("no error");
                    // Hold the buffer a while: the pool runs dry.
                    sleep(Duration::from_millis(2)).await;
                    data.extend_from_slice(&buf);
                }
                let i = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
                assert!(
                    data[4..]
                        .iter()
                        .enumerate()
                        .all(|(k, &x)| x == pattern(i, k)),
                    "conn {i}"
                );
                rx.rearms()
            }));
        }
        let mut rearms = 0;
        for t in tasks {
            rearms += t.await.unwrap();
        }
        let held = clients.join().unwrap();
        println!("1000 connections, 32 buffers: {rearms} ENOBUFS re-arms");
        assert!(rearms > 0, "the pool never ran dry");
        // About one re-arm per buffer fill at most (~3,000 fills here); a
        // herd of starved receivers re-arming for every returned buffer
        // would make tens of thousands.
        assert!(
            rearms < 4 * 3000,
            "{rearms} re-arms: starved receivers stampede"
        );
        assert_eq!(pool.available(), pool.count(), "every buffer back");
        drop(held);
    });
}

/// Dropping receivers (with data queued, and while data races in) returns
/// every buffer to the pool and leaks no fd or op.
#[test]
fn dropped_receivers_return_every_buffer() {
    common::run(LIMIT, || async {
        let pool = BufPool::new(64, 512).unwrap();
        for round in 0..200usize {
            let (a, b) = UnixStream::pair().unwrap();
            let mut rx = b.recv_pooled(&pool);
            // Arm it, cancel a next() midway (loses nothing)...
            assert!(timeout(Duration::from_micros(50), rx.next()).await.is_err());
            let (res, _) = a.write_all(vec![round as u8; 1500]).await;
            res.unwrap();
            if round % 3 == 0 {
                let first = rx.next().await.unwrap().unwrap();
                assert!(first.iter().all(|&x| x == round as u8));
            }
            if round % 2 == 0 {
                sleep(Duration::from_micros(200)).await;
            }
            // ...then drop the receiver with data queued or in flight.
            drop(rx);
        }
        // Late completions are released when their final CQE comes.
        for _ in 0..100 {
            if pool.available() == pool.count() {
                break;
            }
            sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(pool.available(), pool.count(), "every buffer back");
    });
}

/// A buffer handed out stays valid after its runtime is gone, and
/// dropping it then is safe.
#[test]
fn pooled_buf_outlives_its_runtime() {
    let _fd = common::fd_lock();
    let rt = curing::Runtime::new().unwrap();
    let (buf, pool) = rt.block_on(async {
        let pool = BufPool::new(4, 256).unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write_all(b"survivor".to_vec()).await;
        res.unwrap();
        let mut rx = b.recv_pooled(&pool);
        let buf = rx.next().await.unwrap().unwrap();
        (buf, pool)
    });
    drop(rt);
    assert_eq!(&buf[..], b"survivor");
    drop(buf);
    assert_eq!(pool.available(), 4);
    drop(pool);
}

/// Bad input: the count must be a power of two, the size non-zero.
#[test]
fn bad_pool_parameters() {
    common::run(LIMIT, || async {
        assert!(BufPool::new(3, 4096).is_err());
        assert!(BufPool::new(0, 4096).is_err());
        assert!(BufPool::new(8, 0).is_err());
        // A reset connection is an error item, then the stream ends.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let c = std::net::TcpStream::connect(addr).unwrap();
        let (s, _) = listener.accept().await.unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: the option value is a live local of the size passed.
        unsafe {
            use std::os::fd::AsRawFd;
            libc::setsockopt(
                c.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as u32,
            );
        }
        drop(c);
        let pool = BufPool::new(8, 256).unwrap();
        let mut rx = s.recv_pooled(&pool);
        let e = rx.next().await.unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(rx.next().await.is_none());
        drop(TcpStream::connect(addr).await);
    });
}

/// Late completions: with task work run by signal (no DEFER_TASKRUN, no
/// COOP_TASKRUN) the kernel posts CQEs at any moment, so data lands on
/// receivers right after they were dropped. Every buffer must still come
/// back, and every accepted or received resource be released.
#[test]
fn late_completions_after_drop_are_released() {
    let _guard = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let fds_before = common::fd_table();
    let rt = curing::Runtime::builder()
        .defer_taskrun(false)
        .coop_taskrun(false)
        .build()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (pool, writers) = rt.block_on(async {
        let pool = BufPool::new(64, 256).unwrap();
        let mut writers = Vec::new();
        let mut ours = Vec::new();
        for _ in 0..8 {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            let stop = stop.clone();
            writers.push(std::thread::spawn(move || {
                let mut a = a;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if a.write_all(&[1u8; 100]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
            }));
            ours.push(UnixStream::from(b));
        }
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        let mut round = 0usize;
        while std::time::Instant::now() < deadline {
            for s in &ours {
                let mut rx = s.recv_pooled(&pool);
                for _ in 0..(round % 3) {
                    let _ = timeout(Duration::from_micros(100), rx.next()).await;
                }
                drop(rx);
                round += 1;
            }
            curing::yield_now().await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(ours);
        (pool, writers)
    });
    for w in writers {
        w.join().unwrap();
    }
    let stats = rt.stats();
    drop(rt);
    assert_eq!(stats.leaked, 0);
    assert_eq!(stats.efault_cqes, 0);
    assert_eq!(
        pool.available(),
        pool.count(),
        "every buffer back: {stats:?}"
    );
    drop(pool);
    common::assert_fds_back(&fds_before, "fds leaked");
}

/// A receiver starved by an empty pool (ENOBUFS) and then dropped leaves
/// the queue cleanly; the buffer goes to the next receiver that needs one.
#[test]
fn starved_receiver_dropped_then_buffer_goes_to_the_next() {
    common::run(LIMIT, || async {
        let pool = BufPool::new(1, 64).unwrap();
        let (a1, b1) = UnixStream::pair().unwrap();
        let (a2, b2) = UnixStream::pair().unwrap();
        let (a3, b3) = UnixStream::pair().unwrap();
        let mut rx1 = b1.recv_pooled(&pool);
        let (res, _) = a1.write_all(b"one".to_vec()).await;
        res.unwrap();
        let held = rx1.next().await.unwrap().unwrap();
        assert_eq!(pool.available(), 0);
        // Receiver 2 has data but no buffer: it waits (starved), then is
        // dropped while waiting.
        let mut rx2 = b2.recv_pooled(&pool);
        let (res, _) = a2.write_all(b"two".to_vec()).await;
        res.unwrap();
        assert!(timeout(Duration::from_millis(20), rx2.next())
            .await
            .is_err());
        assert_eq!(rx2.rearms(), 1);
        drop(rx2);
        // Receiver 3 waits too; the held buffer coming back goes to it.
        let mut rx3 = b3.recv_pooled(&pool);
        let (res, _) = a3.write_all(b"three".to_vec()).await;
        res.unwrap();
        assert!(timeout(Duration::from_millis(20), rx3.next())
            .await
            .is_err());
        drop(held);
        let got = timeout(Duration::from_secs(5), rx3.next())
            .await
            .expect("woken")
            .unwrap()
            .unwrap();
        assert_eq!(&got[..], b"three");
        drop(got);
        drop((rx1, rx3));
        assert_eq!(pool.available(), 1);
    });
}

/// A pooled buffer is written as it is (no copy): an echo through a pool
/// is byte-exact, and every buffer is back in the pool afterwards.
#[test]
fn pooled_buf_is_written_without_a_copy() {
    common::run(LIMIT, || async {
        let pool = BufPool::new(8, 1024).unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        const TOTAL: usize = 256 * 1024 + 5;
        let writer = curing::spawn(async move {
            let data: Vec<u8> = (0..TOTAL).map(|i| pattern(3, i)).collect();
            let (res, _) = a.write_all(data).await;
            res.unwrap();
            a.close().await.unwrap();
        });
        // b -> c: forward each pooled buffer itself.
        let forward = {
            let pool = pool.clone();
            curing::spawn(async move {
                let mut rx = b.recv_pooled(&pool);
                while let Some(buf) = rx.next().await {
                    let (res, back) = c.write_all(buf.unwrap()).await;
                    res.unwrap();
                    drop(back);
                }
                c.close().await.unwrap();
            })
        };
        let mut got = Vec::new();
        loop {
            let (res, buf) = d.read(Vec::with_capacity(4096)).await;
            if res.unwrap() == 0 {
                break;
            }
            got.extend_from_slice(&buf);
        }
        assert_eq!(got.len(), TOTAL);
        assert!(got.iter().enumerate().all(|(i, &x)| x == pattern(3, i)));
        writer.await.unwrap();
        forward.await.unwrap();
        assert_eq!(pool.available(), pool.count(), "every buffer back");
    });
}
