//! Outside tester's tests (issue 19): bad input (closed fds, huge offsets,
//! wrong descriptor kinds), time and cancel scopes, O_DIRECT and registered
//! buffers, buffer rings, incoming with EMFILE back-off, send_zc,
//! spawn_blocking and handles, task groups, signals, dropping a runtime with
//! ops pending.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
use curing::buf::{AlignedBuf, BufPool, FixedBufPool, IoBuf};
use curing::fs::File;
use curing::net::{TcpListener, TcpStream, UdpSocket};
use curing::time::{sleep, timeout, timeout_at, CancelScope};
#[allow(unused_imports)]
use outside19_common::*;
use std::cell::Cell;
use std::os::fd::{AsRawFd, FromRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

#[test]
fn bad_fds_give_errors_with_buffer_back() {
    let _guard = guard();
    curing::run(async {
        // File on a closed fd number
        let std_f = std::fs::File::open(SMALL_FILE).unwrap();
        let raw = std_f.as_raw_fd();
        drop(std_f);
        // SAFETY: `raw` was just closed and the File is forgotten below, never closed: the EBADF calls under test are all that use the number (the fd lock keeps other tests from opening descriptors meanwhile).
        let f = File::from(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) });
        let (r, b) = f.read_at(vec![7u8; 10], 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(b, vec![7u8; 10]);
        let (r, b) = f.write_at(b"abc".to_vec(), 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(b, b"abc");
        let (r, _) = f.read(vec![0u8; 4]).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        std::mem::forget(f);
        // directory read -> EISDIR
        let d = File::open(tmp_dir()).await.unwrap();
        let (r, b) = d.read_at(vec![0u8; 16], 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        assert_eq!(b.len(), 16);
        // offset > i64::MAX -> InvalidInput
        let f = File::open(SMALL_FILE).await.unwrap();
        let (r, b) = f.read_at(vec![0u8; 16], u64::MAX).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(b.len(), 16);
        let (r, _) = f.read_at(vec![0u8; 16], i64::MAX as u64 + 1).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        // read at i64::MAX exactly: should be Ok(0) or an error, not a panic
        let (r, _) = f.read_at(vec![0u8; 16], i64::MAX as u64).await;
        eprintln!("read_at(i64::MAX) = {r:?}");
        let w = File::create(tmp("o19-off")).await.unwrap();
        let (r, _) = w.write_at(b"x".to_vec(), u64::MAX - 1).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        let (r, _) = w.write_all_at(b"xyz".to_vec(), i64::MAX as u64 - 1).await;
        eprintln!("write_all_at(i64::MAX-1) = {r:?}");
        assert!(r.is_err());
        let (r, _) = w.readv_at(vec![vec![0u8; 4]], u64::MAX).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        let (r, _) = w.writev_at(vec![b"a".to_vec()], u64::MAX).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        let r = w.set_len(u64::MAX).await;
        eprintln!("set_len(u64::MAX) = {r:?}");
        assert!(r.is_err());
        let r = w.allocate(u64::MAX, 1).await;
        eprintln!("allocate(u64::MAX,1) = {r:?}");
        assert!(r.is_err());
        assert_eq!(
            std::fs::metadata(tmp("o19-off")).unwrap().len(),
            0,
            "file touched"
        );
        // recv on a regular file -> ENOTSOCK
        // SAFETY: dup() returns a new descriptor that this stream alone owns.
        let s = unsafe { TcpStream::from_raw_fd(libc::dup(f.as_raw_fd())) };
        let (r, b) = s.read(vec![0u8; 8]).await;
        eprintln!("TcpStream over regular file read: {r:?}");
        assert_eq!(b.len(), 8);
        let (r, _) = s.write(b"q".to_vec()).await;
        eprintln!("TcpStream over regular file write: {r:?}");
        // accept on non-listening socket
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _ = sock;
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        // SAFETY: dup() returns a new descriptor that this listener alone owns.
        let l = unsafe { TcpListener::from_raw_fd(libc::dup(u.as_raw_fd())) };
        let r = l.accept().await;
        eprintln!("accept on udp socket: {:?}", r.as_ref().err());
        assert!(r.is_err());
        // /dev/full
        let full = File::options().write(true).open("/dev/full").await.unwrap();
        let (r, b) = full.write(vec![1u8; 100]).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(b.len(), 100);
        // runtime still works
        sleep(Duration::from_millis(1)).await;
    });
}

#[test]
#[should_panic]
fn slice_past_init_panics_as_documented() {
    let _guard = guard();
    let v = Vec::<u8>::with_capacity(10);
    let _ = v.slice(2..4);
}

#[test]
fn zero_length_buffers() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        let (r, _) = a.write(Vec::new()).await;
        assert_eq!(r.unwrap(), 0);
        let (r, _) = b.read(Vec::new()).await;
        assert_eq!(r.unwrap(), 0);
        let (r, _) = a.write_all(Vec::new()).await;
        r.unwrap();
        let (r, _) = b.read_exact(Vec::new()).await;
        r.unwrap();
        let f = File::open(SMALL_FILE).await.unwrap();
        let (r, _) = f.read_at(Vec::new(), 0).await;
        assert_eq!(r.unwrap(), 0);
    });
}

#[test]
fn time_promises() {
    let _guard = guard();
    curing::run(async {
        // never early
        for ms in [0u64, 1, 3, 10] {
            let s = Instant::now();
            sleep(Duration::from_millis(ms)).await;
            assert!(s.elapsed() >= Duration::from_millis(ms));
        }
        // Duration::MAX
        let r = timeout(Duration::from_millis(5), sleep(Duration::MAX)).await;
        assert!(r.is_err());
        let r = CancelScope::after(Duration::MAX).ignore(async { 3 }).await;
        assert_eq!(r, Some(3));
        // timeout_at in the past with ready future -> result
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(timeout_at(past, async { 5 }).await, Ok(5));
        assert!(timeout_at(past, sleep(Duration::from_millis(10)))
            .await
            .is_err());
        // Elapsed -> io::Error TimedOut
        let e: std::io::Error = timeout(Duration::from_millis(1), sleep(Duration::from_secs(1)))
            .await
            .unwrap_err()
            .into();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        // after counts from first poll
        let scope =
            CancelScope::after(Duration::from_millis(30)).ignore(sleep(Duration::from_millis(20)));
        sleep(Duration::from_millis(40)).await;
        assert_eq!(scope.await, Some(()), "after() must count from first poll");
        // nesting: both expire together; the code between does not run
        let ran = Rc::new(Cell::new(false));
        let r2 = ran.clone();
        let t = Instant::now() + Duration::from_millis(20);
        let outer = CancelScope::at(t).fail(async move {
            let inner = CancelScope::at(t).fail(sleep(Duration::from_secs(5))).await;
            r2.set(true);
            inner
        });
        assert!(outer.await.is_err(), "outer must report");
        assert!(
            !ran.get(),
            "code between nested scopes ran after both expired"
        );
        // inner shorter: inner reports, code after runs
        let ran = Rc::new(Cell::new(false));
        let r2 = ran.clone();
        let outer = CancelScope::after(Duration::from_millis(200)).fail(async move {
            let inner = CancelScope::after(Duration::from_millis(5))
                .ignore(sleep(Duration::from_secs(5)))
                .await;
            r2.set(true);
            inner
        });
        assert_eq!(outer.await, Ok(None));
        assert!(ran.get());
        // inner generous does not extend outer
        let s = Instant::now();
        let r = timeout(
            Duration::from_millis(20),
            timeout(Duration::from_secs(10), sleep(Duration::from_secs(60))),
        )
        .await;
        assert!(r.is_err());
        assert!(s.elapsed() < Duration::from_millis(500));
        // busy always-ready future is cut off on time
        let ev = curing::sync::Event::new();
        ev.set();
        let s = Instant::now();
        let r = timeout(Duration::from_millis(20), async {
            loop {
                ev.wait().await;
            }
        })
        .await;
        assert!(r.is_err());
        let el = s.elapsed();
        assert!(
            el < Duration::from_millis(200),
            "busy loop cut off late: {el:?}"
        );
        // busy ready-reads loop in a scope
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        let (r, _) = a.write_all(vec![1u8; 1 << 16]).await;
        r.unwrap();
        let s = Instant::now();
        let ignored = CancelScope::after(Duration::from_millis(10))
            .ignore(async {
                loop {
                    let (r, _) = b.read(vec![0u8; 1]).await;
                    r.unwrap();
                }
            })
            .await;
        assert!(ignored.is_none());
        assert!(
            s.elapsed() < Duration::from_millis(200),
            "{:?}",
            s.elapsed()
        );
        // result ready wins over passed deadline
        let t = Instant::now() + Duration::from_millis(5);
        let r = CancelScope::at(t)
            .fail(async {
                std::thread::sleep(Duration::from_millis(10));
                9
            })
            .await;
        assert_eq!(r, Ok(9));
    });
}

#[test]
fn busy_task_does_not_starve_timers() {
    let _guard = guard();
    curing::run(async {
        let stop = Rc::new(Cell::new(false));
        let s2 = stop.clone();
        let busy = curing::spawn(async move {
            let ev = curing::sync::Event::new();
            ev.set();
            let mut n = 0u64;
            while !s2.get() {
                ev.wait().await;
                n += 1;
            }
            n
        });
        let s = Instant::now();
        sleep(Duration::from_millis(10)).await;
        let el = s.elapsed();
        stop.set(true);
        let n = busy.await.unwrap();
        eprintln!("sleep 10ms took {el:?}; busy loop ran {n}");
        assert!(el < Duration::from_millis(200));
    });
}

#[test]
fn aligned_buf_odirect() {
    let _guard = guard();
    curing::run(async {
        let dir = std::path::Path::new(tmp("o19direct"));
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join("d");
        let data: Vec<u8> = (0..65536u32).map(|i| (i % 249) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let f = match File::options()
            .read(true)
            .write(true)
            .direct(true)
            .open(&p)
            .await
        {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                eprintln!("SKIPPED: O_DIRECT not supported on this file system: {e}");
                return;
            }
            Err(e) => panic!("open O_DIRECT: {e}"),
        };
        let buf = AlignedBuf::for_file(&f, 8192).await.unwrap();
        let align = buf.alignment();
        eprintln!("alignment {align}");
        let (r, buf) = f.read_direct_at(buf, 8192).await;
        assert_eq!(r.unwrap(), 8192);
        assert_eq!(&buf[..], &data[8192..16384]);
        // misaligned pos -> InvalidInput, buffer back
        let (r, buf) = f.read_direct_at(buf, 1).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        // misaligned length write
        let mut wb = AlignedBuf::new(align * 2, align);
        wb.extend_from_slice(&[5u8; 100]);
        let (r, wb) = f.write_direct_at(wb, 0).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        eprintln!("misaligned len: {e}");
        let mut wb2 = AlignedBuf::new(align, align);
        wb2.set_len(align);
        let (r, _) = f.write_direct_at(wb2, align as u64).await;
        assert_eq!(r.unwrap(), align);
        // short read at end
        let (r, b) = f.read_direct_at(buf, 65536 - align as u64).await;
        assert_eq!(r.unwrap(), align.min(8192));
        let _ = b;
        let _ = wb;
        // read_direct_at at EOF
        let (r, _) = f.read_direct_at(AlignedBuf::new(align, align), 65536).await;
        assert_eq!(r.unwrap(), 0);
        // plain read_at with AlignedBuf works too
        let (r, _) = f.read_at(AlignedBuf::new(align, align), 0).await;
        assert_eq!(r.unwrap(), align);
        f.close().await.unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    });
}

#[test]
#[should_panic]
fn aligned_buf_non_pow2_panics() {
    let _guard = guard();
    let _ = AlignedBuf::new(100, 3);
}

#[test]
fn fixed_buf_pool() {
    let _guard = guard();
    curing::run(async {
        assert_eq!(
            FixedBufPool::new(0, 10).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        assert_eq!(
            FixedBufPool::new(1, 0).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        assert_eq!(
            FixedBufPool::new(2, 1 << 30).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        let pool = FixedBufPool::new(2, 4096).unwrap();
        let p = tmp("o19fixed");
        std::fs::write(p, vec![3u8; 10000]).unwrap();
        let f = File::options()
            .read(true)
            .write(true)
            .open(p)
            .await
            .unwrap();
        let b = pool.acquire().await;
        let (r, b) = f.read_fixed_at(b, 0).await;
        assert_eq!(r.unwrap(), 4096);
        assert_eq!(b.len(), 4096);
        let b2 = pool.try_acquire().unwrap();
        assert!(pool.try_acquire().is_none());
        assert_eq!(pool.available(), 0);
        // waiter gets buffer when one is dropped
        let pool2 = pool.clone();
        let t = curing::spawn(async move { pool2.acquire().await.index() });
        sleep(Duration::from_millis(5)).await;
        drop(b2);
        let _idx = t.await.unwrap();
        // write fixed
        let mut b = b;
        b.clear();
        b.extend_from_slice(b"fixed!");
        let (r, b) = f.write_fixed_at(b, 100).await;
        assert_eq!(r.unwrap(), 6);
        // read at EOF
        let mut b = b;
        b.clear();
        let (r, b) = f.read_fixed_at(b, 20000).await;
        assert_eq!(r.unwrap(), 0);
        // bad offset
        let (r, b) = f.read_fixed_at(b, u64::MAX).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        drop(b);
        assert_eq!(pool.available(), 2);
        assert_eq!(&std::fs::read(p).unwrap()[100..106], b"fixed!");
        // buffer from another runtime
        let other = std::thread::spawn(|| {
            let rt = curing::Runtime::new().unwrap();
            rt.block_on(async { std::mem::size_of::<usize>() })
        });
        other.join().unwrap();
    });
    // pool of runtime A used in runtime B (same thread)
    let rt_a = curing::Runtime::new().unwrap();
    let pool = rt_a.block_on(async { FixedBufPool::new(1, 4096).unwrap() });
    let rt_b = curing::Runtime::new().unwrap();
    rt_b.block_on(async {
        let f = File::open(tmp("o19fixed")).await.unwrap();
        let b = pool.try_acquire().unwrap();
        let (r, _b) = f.read_fixed_at(b, 0).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn buf_pool_recv_pooled() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        assert_eq!(
            BufPool::new(3, 100).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        assert_eq!(
            BufPool::new(4, 0).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        let pool = BufPool::new(4, 1024).unwrap();
        eprintln!("is_ring {}", pool.is_ring());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let total = 500_000usize;
        let w = curing::spawn(async move {
            let c = TcpStream::connect(addr).await.unwrap();
            let data: Vec<u8> = (0..total).map(|i| (i % 241) as u8).collect();
            let (r, _) = c.write_all(data).await;
            r.unwrap();
            c.shutdown(std::net::Shutdown::Write).await.unwrap();
            c
        });
        let (s, _) = l.accept().await.unwrap();
        let mut rx = s.recv_pooled(&pool);
        let mut got = Vec::new();
        let mut held = Vec::new();
        let mut i = 0;
        loop {
            // hold some buffers to exhaust pool, cut off some next() calls
            let n = if i % 7 == 3 {
                match curing::time::timeout(Duration::from_micros(1), rx.next()).await {
                    Ok(n) => n,
                    Err(_) => {
                        i += 1;
                        continue;
                    }
                }
            } else {
                rx.next().await
            };
            match n {
                None => break,
                Some(Ok(b)) => {
                    got.extend_from_slice(&b);
                    if i % 5 == 0 && held.len() < 3 {
                        held.push(b);
                    }
                    if held.len() == 3 && i % 11 == 0 {
                        sleep(Duration::from_millis(1)).await;
                        held.clear();
                    }
                }
                Some(Err(e)) => panic!("pooled recv error {e}"),
            }
            i += 1;
        }
        let expect: Vec<u8> = (0..total).map(|i| (i % 241) as u8).collect();
        assert_eq!(got.len(), total);
        assert!(got == expect);
        eprintln!("rearms {}", rx.rearms());
        drop(held);
        drop(rx);
        assert_eq!(pool.available(), pool.count());
        // PooledBuf echo: write a PooledBuf as-is
        let c = w.await.unwrap();
        let (a2, b2) = curing::net::UnixStream::pair().unwrap();
        let (r, _) = a2.write_all(b"pooled".to_vec()).await;
        r.unwrap();
        let mut rx2 = b2.recv_pooled(&pool);
        let pb = rx2.next().await.unwrap().unwrap();
        let (r, _) = s.write_all(pb).await;
        r.unwrap();
        let (r, buf) = c.read_exact(vec![0u8; 6]).await;
        r.unwrap();
        assert_eq!(&buf, b"pooled");
        drop(rx2);
        assert_eq!(pool.available(), pool.count());
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn incoming_multishot() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut inc = l.incoming();
        let clients = std::thread::spawn(move || {
            let mut v = Vec::new();
            for _ in 0..200 {
                v.push(std::net::TcpStream::connect(addr).unwrap());
            }
            v
        });
        let mut n = 0;
        while n < 200 {
            let s = inc.next().await.unwrap().unwrap();
            drop(s);
            n += 1;
        }
        eprintln!("is_multishot {}", inc.is_multishot());
        let v = clients.join().unwrap();
        drop(v);
        // dropping incoming with clients connecting
        let t = std::thread::spawn(move || {
            for _ in 0..100 {
                let _ = std::net::TcpStream::connect(addr);
            }
        });
        sleep(Duration::from_millis(5)).await;
        drop(inc);
        t.join().unwrap();
        // futures Stream
        use futures_util::StreamExt;
        let mut inc2 = l.incoming();
        let c = std::net::TcpStream::connect(addr).unwrap();
        let _ = StreamExt::next(&mut inc2).await;
        drop(c);
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(fd_count(), before);
}

#[test]
fn incoming_emfile_backoff() {
    let _guard = guard();
    // lower RLIMIT_NOFILE in this process temporarily
    curing::run(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut inc = l.incoming();
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `old` is a valid rlimit for getrlimit to fill.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) };
        let mut hog = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => hog.push(f),
                Err(_) => break,
            }
            if hog.len() > 100_000 {
                break;
            }
        }
        // set limit to current usage
        let lim = libc::rlimit {
            rlim_cur: (hog.last().unwrap().as_raw_fd() + 1) as u64,
            rlim_max: old.rlim_max,
        };
        // SAFETY: setrlimit reads a valid rlimit and changes only this process's limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        // free two for the client side via a thread: client socket needs fd
        hog.pop();
        hog.pop();
        let c = std::net::TcpStream::connect(addr);
        hog.push(std::fs::File::open("/dev/null").unwrap());
        let first = timeout(Duration::from_millis(500), inc.next()).await;
        eprintln!(
            "emfile first item: {:?}",
            first
                .as_ref()
                .map(|o| o.as_ref().map(|r| r.as_ref().err().map(|e| e.to_string())))
        );
        let cpu0 = cpu_time();
        sleep(Duration::from_millis(300)).await;
        let cpu1 = cpu_time();
        eprintln!(
            "resource_errors {} cpu in 300ms {:?}",
            inc.resource_errors(),
            cpu1 - cpu0
        );
        drop(hog);
        // SAFETY: setrlimit reads a valid rlimit and changes only this process's limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
        let mut got = None;
        for _ in 0..5 {
            match timeout(Duration::from_secs(2), inc.next()).await {
                Ok(Some(Ok(s))) => {
                    got = Some(s);
                    break;
                }
                other => eprintln!("item {:?}", other.map(|o| o.map(|r| r.err()))),
            }
        }
        assert!(got.is_some(), "queued connection accepted after fds freed");
        drop(c);
    });
}

fn cpu_time() -> Duration {
    // SAFETY: rusage is plain integers; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage for getrusage to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    Duration::from_micros(
        (ru.ru_utime.tv_sec * 1_000_000
            + ru.ru_utime.tv_usec
            + ru.ru_stime.tv_sec * 1_000_000
            + ru.ru_stime.tv_usec) as u64,
    )
}

#[test]
fn send_zc_works() {
    let _guard = guard();
    curing::run(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 239) as u8).collect();
        let d2 = data.clone();
        let t = curing::spawn(async move {
            let (r, b) = c.send_zc_all(d2).await;
            r.unwrap();
            assert_eq!(b.len(), 2_000_000);
            let (r, _) = c.send_zc(b"tail".to_vec()).await;
            assert_eq!(r.unwrap(), 4);
            c.shutdown(std::net::Shutdown::Write).await.unwrap();
            c
        });
        let mut got = Vec::new();
        loop {
            let (r, b) = s.read(vec![0u8; 65536]).await;
            let n = r.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&b[..n]);
        }
        let c = t.await.unwrap();
        assert_eq!(got.len(), 2_000_004);
        assert!(got[..2_000_000] == data[..]);
        // send_zc to reset peer
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
        sleep(Duration::from_millis(10)).await;
        let mut err = None;
        for _ in 0..20 {
            let (r, b) = c.send_zc(vec![0u8; 100_000]).await;
            assert_eq!(b.len(), 100_000);
            if let Err(e) = r {
                err = Some(e);
                break;
            }
        }
        eprintln!("send_zc to reset peer: {err:?}");
        assert!(err.is_some());
    });
}

#[test]
fn spawn_blocking_and_handle() {
    let _guard = guard();
    curing::run(async {
        let h = curing::spawn_blocking(|| std::thread::current().name().map(String::from));
        assert_eq!(h.await.unwrap().as_deref(), Some("curing-blocking"));
        let h = curing::spawn_blocking(|| panic!("boom"));
        let e = h.await.unwrap_err();
        eprintln!("blocking panic -> {e:?}");
        // Handle from plain thread
        let handle = curing::runtime::Handle::current();
        let t = std::thread::spawn(move || {
            let v = handle.block_on(async { 5 });
            let r = handle.spawn(async { 6 });
            let w = handle.block_on_with(|| async {
                let (a, b) = curing::net::UnixStream::pair().unwrap();
                let (r, _) = a.write_all(b"hi".to_vec()).await;
                r.unwrap();
                let (r, buf) = b.read_exact(vec![0u8; 2]).await;
                r.unwrap();
                buf
            });
            (v, r, w)
        });
        let (v, r, w) = curing::spawn_blocking(move || t.join().unwrap())
            .await
            .unwrap();
        assert_eq!(v, 5);
        assert_eq!(w, b"hi");
        let rv = curing::spawn_blocking(move || r.join()).await.unwrap();
        eprintln!("remote join: {:?}", rv.is_ok());
        // Handle::try_current on plain thread
        assert!(
            std::thread::spawn(|| curing::runtime::Handle::try_current().is_none())
                .join()
                .unwrap()
        );
        // many concurrent blocking
        let mut hs = Vec::new();
        for i in 0..200 {
            hs.push(curing::spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(1));
                i
            }));
        }
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        assert_eq!(s, 199 * 200 / 2);
    });
}

#[test]
fn block_on_inside_runtime_panics_clearly() {
    let _guard = guard();
    let r = std::panic::catch_unwind(|| {
        curing::run(async {
            let h = curing::runtime::Handle::current();
            h.block_on(async { 1 })
        })
    });
    let e = r.unwrap_err();
    let msg = e
        .downcast_ref::<String>()
        .cloned()
        .or(e.downcast_ref::<&str>().map(|s| s.to_string()));
    eprintln!("block_on in runtime panic: {msg:?}");
}

#[test]
fn handle_after_runtime_dropped() {
    let _guard = guard();
    let rt = curing::Runtime::new().unwrap();
    let h = rt.block_on(async { curing::runtime::Handle::current() });
    drop(rt);
    assert!(!h.is_alive());
    let r = std::thread::spawn(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.block_on(async { 1 })))
    })
    .join()
    .unwrap();
    eprintln!("block_on after drop: is_err={}", r.is_err());
}

#[test]
fn task_groups() {
    let _guard = guard();
    use curing::task::{as_completed, GroupError, TaskGroup};
    curing::run(async {
        // fail fast cancels others, and their ops
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        let b = Rc::new(b);
        let mut g: TaskGroup<u32, std::io::Error> = TaskGroup::new();
        let b2 = b.clone();
        g.spawn(async move {
            let (r, _) = b2.read(vec![0u8; 4]).await;
            r.map(|n| n as u32)
        });
        g.spawn(async {
            sleep(Duration::from_millis(5)).await;
            Err(std::io::Error::other("boom"))
        });
        match g.join().await {
            Err(GroupError::Failed(e)) => assert_eq!(e.to_string(), "boom"),
            other => panic!("{other:?}"),
        }
        // the cancelled child's read must not have eaten the bytes
        let (r, _) = a.write_all(b"abcd".to_vec()).await;
        r.unwrap();
        let (r, buf) = b.read_exact(vec![0u8; 4]).await;
        r.unwrap();
        assert_eq!(&buf, b"abcd");
        // panic -> Panicked
        let mut g: TaskGroup<u32, std::io::Error> = TaskGroup::wait_all();
        g.spawn(async { panic!("child panic") });
        g.spawn(async { Ok(1) });
        let res = g.results().await;
        assert!(
            matches!(res[0], Err(GroupError::Panicked(_))),
            "{:?}",
            res[0]
        );
        assert_eq!(res[1].as_ref().unwrap(), &1);
        // first_completed
        let mut g: TaskGroup<&str, ()> = TaskGroup::first_completed();
        g.spawn(async {
            sleep(Duration::from_secs(10)).await;
            Ok("slow")
        });
        g.spawn(async {
            sleep(Duration::from_millis(1)).await;
            Ok("fast")
        });
        let s = Instant::now();
        assert_eq!(g.join().await.unwrap(), ["fast"]);
        assert!(s.elapsed() < Duration::from_secs(1));
        // abort_all
        let mut g: TaskGroup<u32, ()> = TaskGroup::wait_all();
        g.spawn(async {
            sleep(Duration::from_secs(10)).await;
            Ok(1)
        });
        g.abort_all();
        let r = g.next().await.unwrap();
        assert!(matches!(r, Err(GroupError::Cancelled)), "{r:?}");
        assert!(g.next().await.is_none());
        g.spawn(async { Ok(2) });
        assert_eq!(g.next().await.unwrap().unwrap(), 2);
        // dropping group cancels children (nested)
        let flag = Rc::new(Cell::new(0));
        {
            let mut g: TaskGroup<(), ()> = TaskGroup::new();
            let f = flag.clone();
            g.spawn(async move {
                let mut inner: TaskGroup<(), ()> = TaskGroup::new();
                let f2 = f.clone();
                inner.spawn(async move {
                    sleep(Duration::from_millis(30)).await;
                    f2.set(1);
                    Ok(())
                });
                inner.join().await.map(|_| ()).map_err(|_| ())
            });
            sleep(Duration::from_millis(5)).await;
        }
        sleep(Duration::from_millis(60)).await;
        assert_eq!(flag.get(), 0, "grandchild outlived dropped group");
        // join in a CancelScope
        let mut g: TaskGroup<u64, std::io::Error> = TaskGroup::new();
        for n in 1..=3 {
            g.spawn(async move {
                sleep(Duration::from_millis(10 * n)).await;
                Ok(n)
            });
        }
        let r = CancelScope::after(Duration::from_secs(1))
            .fail(g.join())
            .await;
        assert_eq!(r.unwrap().unwrap(), [1, 2, 3]);
        // as_completed with futures and join handles
        let mut done = as_completed([30u64, 10, 20].map(|ms| async move {
            sleep(Duration::from_millis(ms)).await;
            ms
        }));
        let mut order = Vec::new();
        while let Some(v) = done.next().await {
            order.push(v);
        }
        assert_eq!(order, [10, 20, 30]);
        let hs: Vec<_> = [20u64, 5]
            .iter()
            .map(|&ms| {
                curing::spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    ms
                })
            })
            .collect();
        let mut done = as_completed(hs);
        assert_eq!(done.next().await.unwrap().unwrap(), 5);
        assert_eq!(done.next().await.unwrap().unwrap(), 20);
        assert!(done.next().await.is_none());
        // TaskGroup::next cancel-safe
        let mut g: TaskGroup<u32, ()> = TaskGroup::new();
        g.spawn(async {
            sleep(Duration::from_millis(5)).await;
            Ok(7)
        });
        let mut got = None;
        for _ in 0..100 {
            if let Ok(v) = timeout(Duration::from_micros(500), g.next()).await {
                got = v;
                break;
            }
        }
        assert_eq!(got.unwrap().unwrap(), 7);
    });
}

#[test]
fn abort_join_handle_with_op_in_flight() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        let b = Rc::new(b);
        let b2 = b.clone();
        let h = curing::spawn(async move {
            let (r, buf) = b2.read(vec![0u8; 8]).await;
            (r.unwrap(), buf)
        });
        sleep(Duration::from_millis(2)).await;
        h.abort();
        let e = h.await;
        assert!(e.is_err());
        let (r, _) = a.write_all(b"12345678".to_vec()).await;
        r.unwrap();
        let (r, buf) = b.read_exact(vec![0u8; 8]).await;
        r.unwrap();
        assert_eq!(&buf, b"12345678");
        let s = curing::runtime::stats();
        eprintln!("stats: {s:?}");
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn signals() {
    let _guard = guard();
    curing::run(async {
        use curing::signal::{Signals, SIGUSR1, SIGUSR2};
        assert_eq!(
            Signals::new(&[libc::SIGKILL]).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        assert_eq!(
            Signals::new(&[9999]).unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
        let mut s = Signals::new(&[SIGUSR1, SIGUSR2]).unwrap();
        // cut recv then signal
        let r = timeout(Duration::from_millis(5), s.recv()).await;
        assert!(r.is_err());
        // SAFETY: raising a signal this test has a Signals handler for.
        unsafe { libc::raise(SIGUSR1) };
        let r = timeout(Duration::from_secs(2), s.recv()).await;
        assert_eq!(r.unwrap().unwrap(), SIGUSR1);
        // poll once, signal arrives, drop, next recv gets it
        {
            let f = s.recv();
            futures_util::pin_mut!(f);
            let _ = futures_util::future::poll_immediate(&mut f).await;
            // SAFETY: raising a signal this test has a Signals handler for.
            unsafe { libc::raise(SIGUSR2) };
            std::thread::sleep(Duration::from_millis(10));
            let _ = futures_util::future::poll_immediate(curing::yield_now()).await;
        }
        let r = timeout(Duration::from_secs(2), s.recv()).await;
        assert_eq!(r.unwrap().unwrap(), SIGUSR2);
    });
}

#[test]
fn runtime_drop_with_pending_ops_is_bounded() {
    let _guard = guard();
    let before = fd_count();
    let s = Instant::now();
    {
        let rt = curing::Runtime::new().unwrap();
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let (a, b) = curing::net::UnixStream::pair().unwrap();
            curing::spawn(async move {
                let _ = l.accept().await;
            });
            curing::spawn(async move {
                let _ = b.read(vec![0u8; 10]).await;
                drop(a);
            });
            curing::spawn(async {
                sleep(Duration::from_secs(100)).await;
            });
            curing::spawn(async {
                let _ = curing::process::Command::new("sleep")
                    .arg("100")
                    .kill_on_drop(true)
                    .status()
                    .await;
            });
            sleep(Duration::from_millis(10)).await;
        });
        let st = rt.stats();
        eprintln!("before drop: {st:?}");
    }
    let el = s.elapsed();
    eprintln!("drop took {el:?}");
    assert!(el < Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(fd_count(), before);
}
