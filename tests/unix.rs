//! Unix-domain sockets through the ring: streams and datagrams with
//! filesystem and abstract addresses, descriptor passing (`SCM_RIGHTS`),
//! bad input (address in use, no listener, sending to a closed socket,
//! truncation), cancel-safe reads, split halves, and close semantics.

mod common;

use curing::net::{UnixDatagram, UnixListener, UnixSocketAddr, UnixStream};
use curing::time::{sleep, timeout};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// A fresh socket path in the temp dir (removed first if it exists).
fn sock_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("curing-{}-{tag}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn stream_round_trip_on_a_path() {
    common::run(LIMIT, || async {
        let path = sock_path("rt");
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let p2 = path.clone();
        let client = curing::spawn(async move {
            let s = UnixStream::connect(&p2).await.unwrap();
            assert_eq!(s.peer_addr().unwrap().as_pathname(), Some(p2.as_path()));
            let (res, _) = s.write_all(b"hello unix".to_vec()).await;
            res.unwrap();
            let (res, buf) = s.read_exact(vec![0u8; 5]).await;
            res.unwrap();
            assert_eq!(buf, b"reply");
            s.close().await.unwrap();
        });
        let (s, peer) = listener.accept().await.unwrap();
        assert!(peer.is_unnamed(), "{peer:?}");
        let (res, buf) = s.read_exact(vec![0u8; 10]).await;
        res.unwrap();
        assert_eq!(buf, b"hello unix");
        let (res, _) = s.write_all(b"reply".to_vec()).await;
        res.unwrap();
        let (res, _) = s.read(vec![0u8; 8]).await;
        assert_eq!(res.unwrap(), 0, "end of stream after the client closes");
        client.await.unwrap();
        listener.close().await.unwrap();
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn abstract_address_and_bad_input() {
    common::run(LIMIT, || async {
        let name = format!("curing-test-{}", std::process::id());
        let addr = UnixSocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixListener::bind(&addr).unwrap();
        let local = listener.local_addr().unwrap();
        assert_eq!(local.as_abstract_name(), Some(name.as_bytes()));
        // Address in use, for abstract names and for paths.
        assert_eq!(
            UnixListener::bind(&addr).unwrap_err().kind(),
            io::ErrorKind::AddrInUse
        );
        let path = sock_path("inuse");
        let _l = UnixListener::bind(&path).unwrap();
        assert_eq!(
            UnixListener::bind(&path).unwrap_err().kind(),
            io::ErrorKind::AddrInUse
        );
        std::fs::remove_file(&path).unwrap();
        let a2 = addr.clone();
        let connect = curing::spawn(async move { UnixStream::connect(&a2).await });
        let (_server_side, _) = listener.accept().await.unwrap();
        let s = connect.await.unwrap().unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
        // No socket file: NotFound. A file but no listener: refused.
        let missing = sock_path("missing");
        let e = UnixStream::connect(&missing).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let stale = sock_path("stale");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let e = UnixStream::connect(&stale).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        std::fs::remove_file(&stale).unwrap();
        // Too long, or with a nul: InvalidInput before any syscall.
        let long = "x".repeat(200);
        assert_eq!(
            UnixStream::connect(long.as_str()).await.unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(UnixSocketAddr::from_pathname("a\0b").is_err());
    });
}

/// A pipe's write end passed over a socket works in the receiver.
#[test]
fn passes_file_descriptors() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let (pipe_r, pipe_w) = common::pipe();
        let (other_r, other_w) = common::pipe();
        let fds = [pipe_w.as_fd(), other_w.as_fd()];
        let (res, _) = a.send_with_fds(b"fds!".to_vec(), &fds).await;
        assert_eq!(res.unwrap(), 4);
        // Our own copies may go at once: the kernel holds references.
        drop(pipe_w);
        drop(other_w);
        let (res, buf) = b.recv_with_fds(vec![0u8; 16], 4).await;
        let (n, got) = res.unwrap();
        assert_eq!(&buf[..n], b"fds!");
        assert_eq!(got.len(), 2);
        for (fd, r) in got.into_iter().zip([pipe_r, other_r]) {
            let mut w = std::fs::File::from(fd);
            w.write_all(b"via passed fd").unwrap();
            drop(w);
            let mut text = String::new();
            std::fs::File::from(r).read_to_string(&mut text).unwrap();
            assert_eq!(text, "via passed fd");
        }
        // Plain bytes: no descriptors.
        let (res, _) = a.write_all(b"plain".to_vec()).await;
        res.unwrap();
        let (res, buf) = b.recv_with_fds(vec![0u8; 16], 4).await;
        let (n, got) = res.unwrap();
        assert_eq!((&buf[..n], got.len()), (&b"plain"[..], 0));
        // More than the receiver has room for: the extra ones are closed by
        // the kernel, never leaked (common::run checks the fd count).
        let (x, y) = common::pipe();
        let many: Vec<_> = (0..5).map(|_| x.as_fd()).collect();
        let (res, _) = a.send_with_fds(b"m".to_vec(), &many).await;
        res.unwrap();
        let (res, _) = b.recv_with_fds(vec![0u8; 4], 2).await;
        let (_, got) = res.unwrap();
        assert!(got.len() <= 2, "{}", got.len());
        drop((x, y, got));
        // Descriptors need a byte to travel with.
        let (res, _) = a.send_with_fds(Vec::new(), &[b.as_fd()]).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    });
}

/// A `recv_with_fds` dropped after the kernel delivered keeps both the
/// bytes and the descriptors for the next call.
#[test]
fn dropped_recv_with_fds_keeps_bytes_and_fds() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let b = Rc::new(b);
        let (r, w) = common::pipe();
        let mut got_fds: Vec<OwnedFd> = Vec::new();
        let mut got = Vec::new();
        for round in 0..20u8 {
            // Start a receive, let the data arrive, then drop the future
            // before it is polled again.
            let b2 = b.clone();
            let mut fut = Box::pin(async move { b2.recv_with_fds(vec![0u8; 64], 2).await });
            let poll_once = std::future::poll_fn(|cx| {
                let _ = fut.as_mut().poll(cx);
                std::task::Poll::Ready(())
            });
            poll_once.await;
            let (res, _) = a.send_with_fds(vec![round; 3], &[w.as_fd()]).await;
            res.unwrap();
            sleep(Duration::from_millis(1)).await;
            drop(fut);
            let (res, buf) = b.recv_with_fds(vec![0u8; 64], 2).await;
            let (n, fds) = res.unwrap();
            got.extend_from_slice(&buf[..n]);
            got_fds.extend(fds);
        }
        let want: Vec<u8> = (0..20u8).flat_map(|r| [r; 3]).collect();
        assert_eq!(got, want);
        assert_eq!(got_fds.len(), 20);
        drop((r, w, got_fds));
    });
}

use std::future::Future;

#[test]
fn dropped_read_bytes_go_to_next_read() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        for i in 0..50u8 {
            let r = timeout(Duration::from_micros(20), b.read(common::GuardBuf::new(16))).await;
            if let Ok((res, buf)) = r {
                // Nothing was written yet: a read can only end in error.
                panic!("read finished early: {res:?} {:?}", buf.as_slice());
            }
            let (res, _) = a.write_all(vec![i; 2]).await;
            res.unwrap();
            let (res, buf) = b.read_exact(vec![0u8; 2]).await;
            res.unwrap();
            assert_eq!(buf, [i, i]);
        }
    });
}

#[test]
fn write_to_closed_peer_is_broken_pipe() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        b.close().await.unwrap();
        let mut saw = None;
        for _ in 0..10 {
            let (res, _) = a.write(vec![1u8; 4096]).await;
            if let Err(e) = res {
                saw = Some(e);
                break;
            }
        }
        let e = saw.expect("write to a closed peer fails");
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
        let (res, _) = a.read(vec![0u8; 4]).await;
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn split_halves_work_in_two_tasks_and_reunite() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let (rd, wr) = a.into_split();
        let (rd2, wr2) = b.into_split();
        let reader = curing::spawn(async move {
            let (res, buf) = rd.read_exact(vec![0u8; 100_000]).await;
            res.unwrap();
            assert!(buf.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8));
            rd
        });
        let data: Vec<u8> = (0..100_000).map(|i| (i % 251) as u8).collect();
        let (res, _) = wr2.write_all(data).await;
        res.unwrap();
        let rd = reader.await.unwrap();
        // Mismatched halves come back unharmed.
        let err = rd.reunite(wr2).unwrap_err();
        let (rd, wr2) = (err.0, err.1);
        assert!(!rd.is_pair_of(&wr2));
        let a = rd.reunite(wr).unwrap();
        let b = rd2.reunite(wr2).unwrap();
        wr_shutdown_check(&a, &b).await;
    });
}

async fn wr_shutdown_check(a: &UnixStream, b: &UnixStream) {
    a.shutdown(std::net::Shutdown::Write).await.unwrap();
    let (res, _) = b.read(vec![0u8; 4]).await;
    assert_eq!(res.unwrap(), 0);
}

/// `close().await` after `write_all` delivers every byte to a peer that
/// counts them (a std thread), even with a small send buffer.
#[test]
fn close_after_write_all_delivers_everything() {
    common::run(LIMIT, || async {
        let path = sock_path("close");
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let counter = std::thread::spawn(move || {
            let (mut s, _) = std_listener.accept().unwrap();
            let mut n = 0usize;
            let mut buf = vec![0u8; 65536];
            loop {
                match s.read(&mut buf).unwrap() {
                    0 => return n,
                    k => n += k,
                }
            }
        });
        let s = UnixStream::connect(&path).await.unwrap();
        s.set_send_buffer_size(4096).unwrap();
        let total = 3 * 1024 * 1024 + 7;
        let (res, _) = s.write_all(vec![0xA5u8; total]).await;
        res.unwrap();
        s.close().await.unwrap();
        assert_eq!(counter.join().unwrap(), total);
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn datagrams_on_paths_and_pairs() {
    common::run(LIMIT, || async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let (res, _) = a.send(b"one".to_vec()).await;
        res.unwrap();
        let (res, buf) = b.recv(vec![0u8; 8]).await;
        assert_eq!(&buf[..res.unwrap()], b"one");

        let pa = sock_path("dga");
        let pb = sock_path("dgb");
        let x = UnixDatagram::bind(&pa).unwrap();
        let y = UnixDatagram::bind(&pb).unwrap();
        let (res, _) = x.send_to(b"to y".to_vec(), &pb).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = y.recv_from(vec![0u8; 8]).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"to y");
        assert_eq!(from.as_pathname(), Some(pa.as_path()));
        // Truncation is an error; the next datagram is unaffected.
        let (res, _) = x.send_to(b"0123456789".to_vec(), &pb).await;
        res.unwrap();
        let (res, _) = x.send_to(b"ok".to_vec(), &pb).await;
        res.unwrap();
        let (res, buf) = y.recv_from(Vec::with_capacity(3)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(buf, b"012");
        let (res, buf) = y.recv_from(vec![0u8; 8]).await;
        assert_eq!(&buf[..res.unwrap().0], b"ok");
        // Sending to a closed socket: refused; to a missing path: not found.
        y.close().await.unwrap();
        let (res, _) = x.send_to(b"anyone?".to_vec(), &pb).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
        std::fs::remove_file(&pb).unwrap();
        let (res, _) = x.send_to(b"anyone?".to_vec(), &pb).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::NotFound);
        // Connected datagrams, abstract names.
        let name = UnixSocketAddr::from_abstract_name(format!("curing-dg-{}", std::process::id()))
            .unwrap();
        let z = UnixDatagram::bind(&name).unwrap();
        let u = UnixDatagram::unbound().unwrap();
        u.connect(&name).unwrap();
        let (res, _) = u.send(b"abs".to_vec()).await;
        res.unwrap();
        let (res, buf) = z.recv_from(vec![0u8; 8]).await;
        let (n, _from) = res.unwrap();
        assert_eq!(&buf[..n], b"abs");
        assert_eq!(z.local_addr().unwrap(), name);
        std::fs::remove_file(&pa).unwrap();
    });
}

#[test]
fn conversions() {
    common::run(LIMIT, || async {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let a = UnixStream::from_std(a);
        let b = UnixStream::from(b);
        let (res, _) = a.write_all(b"std".to_vec()).await;
        res.unwrap();
        let mut b = b.into_std().unwrap();
        let mut buf = [0u8; 3];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"std");
        assert!(a.as_raw_fd() >= 0);
        assert!(format!("{a:?}").contains("UnixStream"));
    });
}
