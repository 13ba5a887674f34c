//! docs/reliability.md, rows 16, 17, 18, 20 (short transfers, zero-length
//! buffers, wrong file types, full disks) and 30 (memlock). The map of every
//! row to its tests is docs/reliability.md itself.

mod common;

use curing::fs::File;
use curing::net::{TcpListener, TcpStream};
use curing::runtime::nop;
use curing::Runtime;
use std::io;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn tmp(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("faults-io-{name}"))
}

// ---- docs/reliability.md, rows 16, 17, 18, 20: short transfers and bad input ---

#[test]
fn tiny_pipe_and_socket_buffers_transfer_every_byte() {
    use std::os::fd::AsRawFd;
    common::run(T, || async {
        // A pipe of one page: every write is short.
        let (r, w) = common::pipe();
        // SAFETY: F_SETPIPE_SZ on a pipe we own; no memory involved.
        let sz = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
        assert!(sz >= 4096);
        let (r, w) = (File::from(r), File::from(w));
        let data = common::pattern(16, 1 << 20);
        let want = common::hash(&data);
        let writer = curing::spawn(async move { w.write_all(data).await.0 });
        let mut got = common::Hash::new();
        let mut buf = vec![0u8; 10_000];
        loop {
            let (res, b) = r.read(buf).await;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            got.update(&b[..n]);
            buf = b;
        }
        writer.await.unwrap().unwrap();
        assert_eq!(got.finish(), want, "pipe: byte-exact");
        // read_exact: UnexpectedEof only at the real end, with the bytes
        // read so far in the buffer.
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        a.write_all(b"12345".to_vec()).await.0.unwrap();
        drop(a);
        let (res, buf) = b.read_exact(vec![0u8; 3]).await;
        res.unwrap();
        assert_eq!(buf, b"123");
        let (res, buf) = b.read_exact(Vec::with_capacity(3)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"45");

        // Sockets with 4 KiB buffers each way.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
            let v: libc::c_int = 4096;
            // SAFETY: setsockopt with a pointer to a live c_int of the size given.
            unsafe {
                libc::setsockopt(
                    client.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&v as *const libc::c_int).cast(),
                    4,
                )
            };
        }
        let (server, _) = listener.accept().await.unwrap();
        let client = TcpStream::from(client);
        let data = common::pattern(17, 2 << 20);
        let want = common::hash(&data);
        let writer = curing::spawn(async move {
            let r = client.write_all(data).await.0;
            drop(client);
            r
        });
        let mut got = common::Hash::new();
        let mut buf = vec![0u8; 3000];
        loop {
            let (res, b) = server.read(buf).await;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            got.update(&b[..n]);
            buf = b;
        }
        writer.await.unwrap().unwrap();
        assert_eq!(got.finish(), want, "socket: byte-exact");
        // A file read in a chunk larger than the file: the count is short.
        let p = tmp("short");
        std::fs::write(&p, b"short file").unwrap();
        let f = File::open(&p).await.unwrap();
        let (res, _) = f.read_at(vec![0u8; 1 << 16], 0).await;
        assert_eq!(res.unwrap(), 10);
    });
}

#[test]
fn zero_length_buffers_on_pipe_socket_and_file() {
    common::run(T, || async {
        // Documented: a zero-length read or write returns Ok(0) at once and
        // is not end of stream (the next read still gets the data).
        let (r, w) = common::pipe();
        let (r, w) = (File::from(r), File::from(w));
        assert_eq!(w.write(Vec::new()).await.0.unwrap(), 0);
        assert_eq!(r.read(Vec::new()).await.0.unwrap(), 0);
        w.write_all(b"after".to_vec()).await.0.unwrap();
        let (res, buf) = r.read(vec![0u8; 8]).await;
        assert_eq!(&buf[..res.unwrap()], b"after");
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        assert_eq!(a.write(Vec::new()).await.0.unwrap(), 0);
        assert_eq!(b.read(Vec::new()).await.0.unwrap(), 0);
        a.write_all(b"sock".to_vec()).await.0.unwrap();
        let (res, buf) = b.read(vec![0u8; 8]).await;
        assert_eq!(&buf[..res.unwrap()], b"sock");
    });
}

#[test]
fn recv_on_a_regular_file_is_enotsock() {
    let p = tmp("notsock");
    std::fs::write(&p, b"abc").unwrap();
    common::run(T, move || async move {
        let file = std::fs::File::open(&p).unwrap();
        let s = TcpStream::from(std::os::fd::OwnedFd::from(file));
        let (res, buf) = s.read(vec![0u8; 8]).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ENOTSOCK));
        assert_eq!(buf.len(), 8, "the buffer comes back");
        nop().await.unwrap();
    });
}

#[test]
fn dev_full_is_storage_full_and_other_files_still_work() {
    let p = tmp("after-full");
    common::run(T, move || async move {
        let full = curing::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .await
            .unwrap();
        let (res, buf) = full.write_all(vec![1u8; 10_000]).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::StorageFull);
        assert_eq!(buf.len(), 10_000, "the buffer comes back");
        let f = File::create(&p).await.unwrap();
        f.write_all(b"fine".to_vec()).await.0.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"fine");
    });
}

// ---- docs/reliability.md, row 30: memlock ----------------------------------

const CHILD_ENV: &str = "CURING_FAULTS_CHILD";

/// Drops `CAP_IPC_LOCK` (root ignores `RLIMIT_MEMLOCK` for io_uring with
/// it) from this process's effective and permitted sets.
fn drop_cap_ipc_lock() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data structs, as the
    // kernel ABI requires; both live across the calls.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()),
            0
        );
        let bit = 1u32 << 14; // CAP_IPC_LOCK
        data[0].effective &= !bit;
        data[0].permitted &= !bit;
        assert_eq!(libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()), 0);
    }
}

#[test]
fn fixed_buffers_over_the_memlock_limit_fail_clearly() {
    if common::skip_on_epoll("the epoll driver pins no memory (RLIMIT_MEMLOCK does not apply)") {
        return;
    }
    if std::env::var(CHILD_ENV).as_deref() == Ok("memlock") {
        drop_cap_ipc_lock();
        let lim = libc::rlimit {
            rlim_cur: 1 << 20,
            rlim_max: 1 << 20,
        };
        // SAFETY: setrlimit with a pointer to a live rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) }, 0);
        let rt = Runtime::new().expect("the default ring fits in 1 MiB");
        rt.block_on(async {
            let err = curing::buf::FixedBufPool::new(64, 64 * 1024).unwrap_err();
            println!("MEMLOCK-ERROR: {:?} {err}", err.kind());
            // Smaller pools fit; the runtime keeps working.
            let pool = curing::buf::FixedBufPool::new(4, 4096).expect("a small pool fits");
            assert_eq!(pool.available(), 4);
            nop().await.unwrap();
            println!("MEMLOCK-SMALL: ok");
        });
        drop(rt);
        // Recent kernels (6.13+) also count the ring itself: below its size
        // the runtime does not start, and says why.
        let lim = libc::rlimit {
            rlim_cur: 16 * 1024,
            rlim_max: 16 * 1024,
        };
        // SAFETY: setrlimit with a pointer to a live rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) }, 0);
        match Runtime::new() {
            Ok(_) => println!("MEMLOCK-STARTUP: ok (this kernel does not count the ring)"),
            Err(e) => println!("MEMLOCK-STARTUP: {e:?}: {e}"),
        }
        return;
    }
    let _fd = common::fd_lock();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "fixed_buffers_over_the_memlock_limit_fail_clearly",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "memlock")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("MEMLOCK-ERROR:"))
        .unwrap_or_else(|| panic!("{text}"));
    println!("{line}");
    assert!(
        line.contains("OutOfMemory") && line.contains("ENOMEM"),
        "{line}"
    );
    assert!(line.contains("RLIMIT_MEMLOCK"), "names the limit: {line}");
    assert!(text.contains("MEMLOCK-SMALL: ok"), "{text}");
    let startup = text
        .lines()
        .find(|l| l.contains("MEMLOCK-STARTUP:"))
        .unwrap_or_else(|| panic!("{text}"));
    println!("{startup}");
    assert!(
        startup.contains("MEMLOCK-STARTUP: ok") || startup.contains("LockedMemory"),
        "a clear memlock error at startup: {startup}"
    );
}
