//! Outside tester's tests (issue 19): edge cases: datagram truncation, huge
//! buffers, non-blocking std sockets, a File over a socket, dropped children
//! leave no zombie, fs copy and path operations, past deadlines and timer
//! storms, shutdown(Read).
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
use curing::fs::File;
use curing::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram};
#[allow(unused_imports)]
use outside19_common::*;
use std::time::Duration;

#[test]
fn datagram_truncation_is_invalid_data() {
    let _guard = guard();
    curing::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (r, _) = a.send_to(vec![5u8; 100], b.local_addr().unwrap()).await;
        r.unwrap();
        let (r, buf) = b.recv_from(vec![0u8; 10]).await;
        let e = r.unwrap_err();
        eprintln!("udp trunc: {e}");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(&buf[..10], &[5u8; 10]);
        // next datagram still fine
        let (r, _) = a.send_to(b"ok".to_vec(), b.local_addr().unwrap()).await;
        r.unwrap();
        let (r, buf) = b.recv_from(vec![0u8; 10]).await;
        assert_eq!(&buf[..r.unwrap().0], b"ok");
        let (x, y) = UnixDatagram::pair().unwrap();
        let (r, _) = x.send(vec![1u8; 100]).await;
        r.unwrap();
        let (r, _) = y.recv(vec![0u8; 10]).await;
        let e = r.unwrap_err();
        eprintln!("unix dgram trunc: {e}");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        // Vec with capacity but zero len
        let (r, _) = x.send(vec![2u8; 5]).await;
        r.unwrap();
        let (r, buf) = y.recv(Vec::with_capacity(16)).await;
        assert_eq!(r.unwrap(), 5);
        assert_eq!(buf, vec![2u8; 5]);
        // zero-length datagram
        let (r, _) = x.send(Vec::new()).await;
        r.unwrap();
        let (r, _) = y.recv(vec![0u8; 4]).await;
        assert_eq!(r.unwrap(), 0);
    });
}

#[test]
fn huge_buffers_short_io() {
    let _guard = guard();
    curing::run(async {
        let big = vec![0u8; (3usize << 30) + 5];
        let f = File::options().write(true).open("/dev/null").await.unwrap();
        let (r, big) = f.write_at(big, 0).await;
        let n = r.unwrap();
        eprintln!("3GiB write_at /dev/null -> {n}");
        assert_eq!(n, 0x7fff_f000);
        let (r, big) = f.write(big).await;
        assert_eq!(r.unwrap(), 0x7fff_f000);
        let (r, big) = f.write_all(big).await;
        r.unwrap();
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        drop(b);
        let (r, big) = a.write(big).await;
        eprintln!("3GiB write to closed unix peer -> {:?}", r.as_ref().err());
        assert!(r.is_err());
        // read 3 GiB buffer from a small file
        let small = File::open(SMALL_FILE).await.unwrap();
        let mut big = big;
        big.clear();
        let (r, big) = small.read_at(big, 0).await;
        let n = r.unwrap();
        assert!(n > 0 && big.len() == n);
        drop(big);
    });
}

#[test]
fn nonblocking_std_socket_is_accepted() {
    let _guard = guard();
    curing::run(async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let l = TcpListener::from_std(l);
        let c = std::net::TcpStream::connect(addr).unwrap();
        c.set_nonblocking(true).unwrap();
        let c = TcpStream::from_std(c);
        let (s, _) = curing::time::timeout(Duration::from_secs(2), l.accept())
            .await
            .unwrap()
            .unwrap();
        let t = curing::spawn(async move {
            curing::time::sleep(Duration::from_millis(20)).await;
            let (r, _) = s.write_all(b"late".to_vec()).await;
            r.unwrap();
            s
        });
        // read must wait, not fail with EAGAIN
        let (r, buf) = c.read_exact(vec![0u8; 4]).await;
        r.unwrap();
        assert_eq!(&buf, b"late");
        let _s = t.await.unwrap();
        // into_std gives a blocking socket; stash discarded
        let std_c = c.into_std().unwrap();
        // SAFETY: F_GETFL on a descriptor the std socket owns touches no memory of ours.
        let fl = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&std_c), libc::F_GETFL) };
        assert!(fl >= 0, "F_GETFL: {}", std::io::Error::last_os_error());
        assert_eq!(fl & libc::O_NONBLOCK, 0);
    });
}

#[test]
fn file_over_a_socket() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fa = File::from(std::os::fd::OwnedFd::from(a));
        let fb = File::from(std::os::fd::OwnedFd::from(b));
        let t = curing::spawn(async move {
            curing::time::sleep(Duration::from_millis(10)).await;
            let (r, _) = fa.write_all(b"via file".to_vec()).await;
            r.unwrap();
            fa.close().await.unwrap();
        });
        let (r, buf) = fb.read_to_end(Vec::new()).await;
        assert_eq!(r.unwrap(), 8);
        assert_eq!(&buf, b"via file");
        t.await.unwrap();
    });
}

#[test]
fn dropped_child_leaves_no_zombie() {
    let _guard = guard();
    curing::run(async {
        for _ in 0..5 {
            let c = curing::process::Command::new("sleep")
                .arg("0.1")
                .spawn()
                .unwrap();
            drop(c);
        }
        let c = curing::process::Command::new("sleep")
            .arg("100")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = c.id();
        drop(c);
        curing::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "kill_on_drop child still exists"
        );
    });
    std::thread::sleep(Duration::from_millis(300));
    // count zombie children of this process
    let me = std::process::id();
    let mut zombies = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path().join("stat")) {
            let after = &s[s.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = after.split(' ').collect();
            if f[1].parse::<u32>().ok() == Some(me) && f[0] == "Z" {
                zombies += 1;
            }
        }
    }
    assert_eq!(zombies, 0, "zombie children left");
}

#[test]
fn fs_copy_and_path_ops() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let src = tmp("o19-copysrc");
        let data: Vec<u8> = (0..3_000_003u32).map(|i| (i * 31 % 256) as u8).collect();
        std::fs::write(src, &data).unwrap();
        let n = curing::fs::copy(src, tmp("o19-copydst")).await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(std::fs::read(tmp("o19-copydst")).unwrap() == data);
        curing::fs::create_dir_all(tmp("o19-d/x/y")).await.unwrap();
        curing::fs::create_dir_all(tmp("o19-d/x/y")).await.unwrap();
        curing::fs::rename(tmp("o19-copydst"), tmp("o19-d/x/y/z"))
            .await
            .unwrap();
        assert!(curing::fs::exists(tmp("o19-d/x/y/z")).await);
        curing::fs::remove_file(tmp("o19-d/x/y/z")).await.unwrap();
        let e = curing::fs::remove_file(tmp("o19-d/x/y/z"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let e = File::open("/nonexistent/x").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let m = curing::fs::metadata(src).await.unwrap();
        assert_eq!(m.len(), data.len() as u64);
        let e = curing::fs::copy("/nonexistent", tmp("o19-x"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        std::fs::remove_dir_all(tmp("o19-d")).unwrap();
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn sleep_until_past_and_timer_storm() {
    let _guard = guard();
    curing::run(async {
        use std::time::Instant;
        let t = Instant::now() - Duration::from_secs(5);
        let s = Instant::now();
        curing::time::sleep_until(t).await;
        assert!(s.elapsed() < Duration::from_millis(5));
        // 20k timers, drop half
        let mut hs = Vec::new();
        for i in 0..20_000u64 {
            hs.push(curing::spawn(async move {
                curing::time::sleep(Duration::from_micros(i % 5000)).await;
                i
            }));
        }
        for (i, h) in hs.iter().enumerate() {
            if i % 2 == 1 {
                h.abort();
            }
        }
        let mut sum = 0;
        let mut aborted = 0;
        for h in hs {
            match h.await {
                Ok(v) => sum += v,
                Err(_) => aborted += 1,
            }
        }
        eprintln!("sum {sum} aborted {aborted}");
        assert!(aborted <= 10_000);
        assert_eq!(curing::runtime::stats().tasks_alive, 0);
    });
}

#[test]
fn shutdown_read_then_read_is_eof() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        b.shutdown(std::net::Shutdown::Read).await.unwrap();
        let (r, _) = b.read(vec![0u8; 4]).await;
        assert_eq!(r.unwrap(), 0);
        // shutdown both then write -> error
        a.shutdown(std::net::Shutdown::Both).await.unwrap();
        let (r, _) = a.write(b"x".to_vec()).await;
        assert!(r.is_err());
    });
}
