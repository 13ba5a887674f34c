//! Outside tester's tests (issue 19): stream promises: TCP, Unix, split
//! halves, child pipes, File sequential I/O, concurrent reads served in order,
//! slices.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
use curing::buf::IoBuf;
use curing::net::{TcpListener, TcpStream, UnixStream};
#[allow(unused_imports)]
use outside19_common::*;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let c = curing::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (s, _) = l.accept().await.unwrap();
    (c.await.unwrap(), s)
}

#[test]
fn tcp_read_write_exact_shutdown_close() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let (a, b) = tcp_pair().await;
        let (r, _) = a.write_all(b"hello world".to_vec()).await;
        r.unwrap();
        let (r, buf) = b.read_exact(vec![0u8; 5]).await;
        r.unwrap();
        assert_eq!(&buf, b"hello");
        a.shutdown(Shutdown::Write).await.unwrap();
        // read_exact hitting EOF: UnexpectedEof, bytes so far in buffer
        let (r, buf) = b.read_exact(Vec::with_capacity(100)).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..], b" world", "bytes so far in buffer");
        let (r, _) = b.read(vec![0u8; 10]).await;
        assert_eq!(r.unwrap(), 0);
        // zero-room buffer returns Ok(0) at once
        let (r, _) = b.read(Vec::<u8>::new()).await;
        assert_eq!(r.unwrap(), 0);
        // b can still write after peer shut down write
        let (r, _) = b.write_all(b"reply".to_vec()).await;
        r.unwrap();
        let (r, buf) = a.read_exact(vec![0u8; 5]).await;
        r.unwrap();
        assert_eq!(&buf, b"reply");
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn tcp_write_to_closed_peer_is_error_not_sigpipe() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = tcp_pair().await;
        b.set_linger(Some(Duration::ZERO)).unwrap();
        drop(b);
        curing::time::sleep(Duration::from_millis(20)).await;
        let mut saw_err = false;
        for _ in 0..100 {
            let (r, _) = a.write(vec![1u8; 65536]).await;
            if let Err(e) = r {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ),
                    "{e:?}"
                );
                saw_err = true;
                break;
            }
        }
        assert!(saw_err);
    });
}

#[test]
fn unix_stream_ops() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, _) = a.write_all(b"abc".to_vec()).await;
        r.unwrap();
        a.shutdown(Shutdown::Write).await.unwrap();
        let (r, buf) = b.read_exact(vec![0u8; 4]).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..3], b"abc");
        let (r, _) = b.read(vec![0u8; 4]).await;
        assert_eq!(r.unwrap(), 0);
        b.close().await.unwrap();
        // a writes to closed peer
        let (r, _) = a.write(b"x".to_vec()).await;
        let e = r.unwrap_err();
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{e:?}"
        );
        a.close().await.unwrap();
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn split_halves_tcp_and_unix() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let (a, b) = tcp_pair().await;
        let (ar, aw) = a.into_split();
        let (br, bw) = b.into_split();
        let t = curing::spawn(async move {
            let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
            let (r, _) = aw.write_all(data).await;
            r.unwrap();
            aw.shutdown(Shutdown::Write).await.unwrap();
            aw
        });
        // echo back through b
        let mut total = Vec::new();
        loop {
            let (r, buf) = br.read(vec![0u8; 7000]).await;
            let n = r.unwrap();
            if n == 0 {
                break;
            }
            total.extend_from_slice(&buf[..n]);
        }
        let expected: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(total.len(), expected.len());
        assert!(total == expected);
        let (r, _) = bw.write_all(b"done".to_vec()).await;
        r.unwrap();
        let aw = t.await.unwrap();
        let (r, buf) = ar.read_exact(vec![0u8; 4]).await;
        r.unwrap();
        assert_eq!(&buf, b"done");
        // reunite mismatched -> error with both back
        let err = ar.reunite(bw).unwrap_err();
        drop(err);
        drop(aw);
        drop(br);
        // unix halves
        let (u1, u2) = UnixStream::pair().unwrap();
        let (r1, w1) = u1.into_split();
        let (r2, w2) = u2.into_split();
        let (r, _) = w1.write_all(b"ping".to_vec()).await;
        r.unwrap();
        let (r, buf) = r2.read_exact(vec![0u8; 4]).await;
        r.unwrap();
        assert_eq!(&buf, b"ping");
        let u1 = r1.reunite(w1).unwrap();
        drop(w2);
        drop(r2);
        u1.close().await.unwrap();
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn dropping_write_half_alone_does_not_shutdown() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = tcp_pair().await;
        let (ar, aw) = a.into_split();
        drop(aw);
        // b should not see EOF: a read on b should time out
        let r = curing::time::timeout(Duration::from_millis(50), b.read(vec![0u8; 4])).await;
        assert!(
            r.is_err(),
            "dropping write half alone must not shut down writing: got {:?}",
            r.map(|(r, _)| r)
        );
        drop(ar);
    });
}

#[test]
fn child_pipes() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        use curing::process::{Command, Stdio};
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let d2 = data.clone();
        let w = curing::spawn(async move {
            let (r, _) = stdin.write_all(d2).await;
            r.unwrap();
            stdin.close().await.unwrap();
        });
        let (r, out) = stdout.read_to_end(Vec::new()).await;
        assert_eq!(r.unwrap(), data.len());
        assert!(out == data);
        w.await.unwrap();
        let (r, _) = stdout.read(vec![0u8; 10]).await;
        assert_eq!(r.unwrap(), 0);
        stdout.close().await.unwrap();
        assert!(child.wait().await.unwrap().success());
        // wait again returns status at once
        assert!(child.wait().await.unwrap().success());
        // output()
        let out = Command::new("sh")
            .arg("-c")
            .arg("echo out; echo err >&2; exit 3")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
        // big output on both pipes doesn't deadlock
        let out = Command::new("sh")
            .arg("-c")
            .arg("head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), 1_000_000);
        assert_eq!(out.stderr.len(), 1_000_000);
        // kill
        let mut c = Command::new("sleep").arg("10").spawn().unwrap();
        let st = c.kill().await.unwrap();
        assert!(!st.success());
        c.start_kill().unwrap();
        c.signal(libc::SIGTERM).unwrap();
        // nonexistent program
        assert!(Command::new("/nonexistent/prog").spawn().is_err());
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(fd_count(), before);
}

#[test]
fn child_wait_dropped_midway_then_again() {
    let _guard = guard();
    curing::run(async {
        let mut c = curing::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let r = curing::time::timeout(Duration::from_millis(20), c.wait()).await;
        assert!(r.is_err());
        let st = c.wait().await.unwrap();
        assert!(st.success());
    });
}

#[test]
fn file_sequential_read_write() {
    let _guard = guard();
    let dir = std::env::temp_dir().join(format!("o19seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("f");
    let before = fd_count();
    curing::run(async {
        let f = curing::fs::File::create(&p).await.unwrap();
        let (r, _) = f.write_all(b"0123456789".to_vec()).await;
        r.unwrap();
        let (r, _) = f.write(b"abc".to_vec()).await;
        assert_eq!(r.unwrap(), 3);
        f.close().await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123456789abc");
        let f = curing::fs::File::open(&p).await.unwrap();
        let (r, b) = f.read(vec![0u8; 4]).await;
        assert_eq!(r.unwrap(), 4);
        assert_eq!(&b, b"0123");
        let (r, b) = f.read_to_end(Vec::new()).await;
        assert_eq!(r.unwrap(), 9);
        assert_eq!(&b, b"456789abc");
        let (r, _) = f.read(vec![0u8; 4]).await;
        assert_eq!(r.unwrap(), 0);
        // read_to_end appends
        let (r, b) = f.read_to_end_at(b"X".to_vec(), 10).await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(&b, b"Xabc");
        // read_exact_at past EOF
        let (r, b) = f.read_exact_at(Vec::with_capacity(8), 8).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(&b[..], b"89abc");
        // append mode
        let f2 = curing::fs::File::options()
            .append(true)
            .open(&p)
            .await
            .unwrap();
        let (r, _) = f2.write_all(b"Z".to_vec()).await;
        r.unwrap();
        f2.close().await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123456789abcZ");
        // write on read-only file -> EBADF error, buffer back
        let (r, b) = f.write(b"nope".to_vec()).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(&b, b"nope");
        f.close().await.unwrap();
    });
    assert_eq!(fd_count(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_on_a_pipe_read_to_end() {
    let _guard = guard();
    curing::run(async {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        unsafe { libc::pipe(fds.as_mut_ptr()) };
        use std::os::fd::FromRawFd;
        // SAFETY: pipe() just created both descriptors; each is owned once, here.
        let r = unsafe { std::fs::File::from_raw_fd(fds[0]) };
        let w = unsafe { std::fs::File::from_raw_fd(fds[1]) };
        let rf: curing::fs::File = curing::fs::File::from(r);
        let wf: curing::fs::File = curing::fs::File::from(w);
        let t = curing::spawn(async move {
            for i in 0..50u8 {
                let (r, _) = wf.write_all(vec![i; 1000]).await;
                r.unwrap();
                curing::time::sleep(Duration::from_millis(1)).await;
            }
            wf.close().await.unwrap();
        });
        let (r, b) = rf.read_to_end(Vec::new()).await;
        assert_eq!(r.unwrap(), 50_000);
        for i in 0..50usize {
            assert!(b[i * 1000..(i + 1) * 1000].iter().all(|&x| x == i as u8));
        }
        t.await.unwrap();
    });
}

#[test]
fn two_concurrent_reads_are_served_in_order() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = tcp_pair().await;
        let b = Rc::new(b);
        let b1 = b.clone();
        let b2 = b.clone();
        let t1 = curing::spawn(async move { b1.read_exact(vec![0u8; 3]).await });
        curing::yield_now().await;
        let t2 = curing::spawn(async move { b2.read_exact(vec![0u8; 3]).await });
        curing::yield_now().await;
        let (r, _) = a.write_all(b"111222".to_vec()).await;
        r.unwrap();
        let (r1, x1) = t1.await.unwrap();
        let (r2, x2) = t2.await.unwrap();
        r1.unwrap();
        r2.unwrap();
        assert_eq!(&x1, b"111");
        assert_eq!(&x2, b"222");
    });
}

#[test]
fn slice_reads_and_writes() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = tcp_pair().await;
        let (r, _) = a.write_all(b"xxHELLOyy".to_vec().slice(2..7)).await;
        r.unwrap();
        let (r, s) = b.read_exact(vec![0u8; 10].slice(3..8)).await;
        r.unwrap();
        let v = s.into_inner();
        assert_eq!(&v[3..8], b"HELLO");
        assert_eq!(v.len(), 10);
    });
}
