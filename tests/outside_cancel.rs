//! Written by an outside tester from README.md and the crate docs alone
//! (issue 18): dropped reads, resets, EOF and datagrams on TCP, Unix
//! streams and pipes, both drivers.
//! Promise 3: cancel safety per the crate docs' table.
#[path = "outside_common/mod.rs"]
mod common;
use common::*;
use curing::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use curing::time::{sleep, timeout};
use std::future::Future;
use std::io::{ErrorKind, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

struct PollOnce<'a, F: ?Sized>(&'a mut Pin<Box<F>>);
impl<F: Future + ?Sized> Future for PollOnce<'_, F> {
    type Output = Poll<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(self.0.as_mut().poll(cx))
    }
}
async fn poll_once<F: Future + ?Sized>(f: &mut Pin<Box<F>>) -> Poll<F::Output> {
    PollOnce(f).await
}

/// A connected pair: curing stream + std peer.
async fn tcp_pair() -> (TcpStream, std::net::TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
    let (s, _) = l.accept().await.unwrap();
    (s, peer.join().unwrap())
}

fn set_linger0(fd: i32) {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &lg as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as u32,
        )
    };
    assert_eq!(r, 0);
}

/// What the peer does while the first read is parked, before it is dropped.
#[derive(Clone, Copy, Debug)]
enum Ev {
    Data,
    Eof,
    Reset,
    DataThenEof,
    DataThenReset,
}

async fn dropped_tcp_read_hands_over(ev: Ev) {
    use std::os::fd::AsRawFd;
    let (s, peer) = tcp_pair().await;
    let mut peer = Some(peer);
    let mut fut = Box::pin(s.read(vec![0u8; 64]));
    assert!(poll_once(&mut fut).await.is_pending());
    match ev {
        Ev::Data => peer.as_mut().unwrap().write_all(b"hello").unwrap(),
        Ev::Eof => peer
            .as_mut()
            .unwrap()
            .shutdown(std::net::Shutdown::Write)
            .unwrap(),
        Ev::Reset => {
            set_linger0(peer.as_ref().unwrap().as_raw_fd());
            drop(peer.take());
        }
        Ev::DataThenEof => {
            peer.as_mut().unwrap().write_all(b"hello").unwrap();
            sleep(Duration::from_millis(20)).await;
            peer.as_mut()
                .unwrap()
                .shutdown(std::net::Shutdown::Write)
                .unwrap();
        }
        Ev::DataThenReset => {
            peer.as_mut().unwrap().write_all(b"hello").unwrap();
            sleep(Duration::from_millis(20)).await;
            set_linger0(peer.as_ref().unwrap().as_raw_fd());
            drop(peer.take());
        }
    }
    let _keep = peer;
    sleep(Duration::from_millis(30)).await; // the op completes meanwhile
    drop(fut);
    let (r1, b1) = s.read(vec![0u8; 64]).await;
    match ev {
        Ev::Data => assert_eq!(&b1[..r1.unwrap()], b"hello"),
        Ev::Eof => assert_eq!(r1.unwrap(), 0, "EOF must reach the next read"),
        Ev::Reset => assert_eq!(
            r1.unwrap_err().kind(),
            ErrorKind::ConnectionReset,
            "reset must reach the next read"
        ),
        Ev::DataThenEof | Ev::DataThenReset => {
            assert_eq!(&b1[..r1.unwrap()], b"hello", "{ev:?}: data first");
            let (r2, _) = s.read(vec![0u8; 64]).await;
            if let Ev::DataThenEof = ev {
                assert_eq!(r2.unwrap(), 0, "then EOF");
            } else {
                assert_eq!(
                    r2.unwrap_err().kind(),
                    ErrorKind::ConnectionReset,
                    "then reset"
                );
            }
        }
    }
}

#[test]
fn tcp_dropped_read_after_data() {
    run_bounded(Duration::from_secs(10), || {
        dropped_tcp_read_hands_over(Ev::Data)
    });
}
#[test]
fn tcp_dropped_read_after_eof() {
    run_bounded(Duration::from_secs(10), || {
        dropped_tcp_read_hands_over(Ev::Eof)
    });
}
#[test]
fn tcp_dropped_read_after_reset() {
    run_bounded(Duration::from_secs(10), || {
        dropped_tcp_read_hands_over(Ev::Reset)
    });
}
#[test]
fn tcp_dropped_read_after_data_then_eof() {
    run_bounded(Duration::from_secs(10), || {
        dropped_tcp_read_hands_over(Ev::DataThenEof)
    });
}
#[test]
fn tcp_dropped_read_after_data_then_reset() {
    run_bounded(Duration::from_secs(10), || {
        dropped_tcp_read_hands_over(Ev::DataThenReset)
    });
}

/// A dropped read on a read half: the next read on the same half gets it.
#[test]
fn split_half_dropped_read_after_data() {
    run_bounded(Duration::from_secs(10), || async {
        let (s, mut peer) = tcp_pair().await;
        let (rh, _wh) = s.into_split();
        let mut fut = Box::pin(rh.read(vec![0u8; 64]));
        assert!(poll_once(&mut fut).await.is_pending());
        peer.write_all(b"half").unwrap();
        sleep(Duration::from_millis(30)).await;
        drop(fut);
        let (r, b) = rh.read(vec![0u8; 64]).await;
        assert_eq!(&b[..r.unwrap()], b"half");
    });
}

/// read_exact cut off after 10 of 20 bytes loses nothing.
#[test]
fn tcp_read_exact_cut_midway_loses_nothing() {
    run_bounded(Duration::from_secs(10), || async {
        let (s, mut peer) = tcp_pair().await;
        let data: Vec<u8> = (0..20u8).collect();
        peer.write_all(&data[..10]).unwrap();
        let r = timeout(Duration::from_millis(30), s.read_exact(vec![0u8; 20])).await;
        assert!(r.is_err(), "should time out with only 10 bytes");
        peer.write_all(&data[10..]).unwrap();
        let (r, b) = s.read_exact(vec![0u8; 20]).await;
        r.unwrap();
        assert_eq!(b, data);
    });
}

#[test]
fn unix_read_exact_cut_midway_loses_nothing() {
    run_bounded(Duration::from_secs(10), || async {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let s = UnixStream::from_std(a);
        let data: Vec<u8> = (0..20u8).collect();
        b.write_all(&data[..10]).unwrap();
        let r = timeout(Duration::from_millis(30), s.read_exact(vec![0u8; 20])).await;
        assert!(r.is_err());
        b.write_all(&data[10..]).unwrap();
        let (r, buf) = s.read_exact(vec![0u8; 20]).await;
        r.unwrap();
        assert_eq!(buf, data);
    });
}

fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// File::read_to_end on a pipe cut off midway: the next read_to_end gets all.
#[test]
fn pipe_read_to_end_cut_midway_loses_nothing() {
    run_bounded(Duration::from_secs(10), || async {
        let (r, w) = pipe();
        let f = curing::fs::File::from(r);
        let mut w = std::fs::File::from(w);
        w.write_all(b"first-part;").unwrap();
        let cut = timeout(Duration::from_millis(30), f.read_to_end(Vec::new())).await;
        assert!(cut.is_err());
        w.write_all(b"second-part").unwrap();
        drop(w);
        let (res, buf) = f.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(String::from_utf8_lossy(&buf), "first-part;second-part");
    });
}

/// File::read on a pipe dropped after data arrived.
#[test]
fn pipe_dropped_read_after_data_and_eof() {
    run_bounded(Duration::from_secs(10), || async {
        let (r, w) = pipe();
        let f = curing::fs::File::from(r);
        let mut w = std::fs::File::from(w);
        let mut fut = Box::pin(f.read(vec![0u8; 64]));
        assert!(poll_once(&mut fut).await.is_pending());
        w.write_all(b"piped").unwrap();
        drop(w);
        sleep(Duration::from_millis(30)).await;
        drop(fut);
        let (r1, b1) = f.read(vec![0u8; 64]).await;
        assert_eq!(&b1[..r1.unwrap()], b"piped");
        let (r2, _) = f.read(vec![0u8; 64]).await;
        assert_eq!(r2.unwrap(), 0);
    });
}

/// A child's stdout: read_to_end cut off, then finished.
#[test]
fn child_stdout_read_to_end_cut_midway() {
    run_bounded(Duration::from_secs(10), || async {
        let mut child = curing::process::Command::new("sh")
            .arg("-c")
            .arg("printf abc; sleep 0.2; printf def")
            .stdout(curing::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let cut = timeout(Duration::from_millis(60), out.read_to_end(Vec::new())).await;
        assert!(cut.is_err());
        let (r, buf) = out.read_to_end(Vec::new()).await;
        r.unwrap();
        assert_eq!(buf, b"abcdef");
        child.wait().await.unwrap();
    });
}

/// UDP: a recv dropped after its datagram arrived -> the next recv gets it.
#[test]
fn udp_dropped_recv_hands_datagram_over() {
    run_bounded(Duration::from_secs(10), || async {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for (i, via_from) in [(0u8, false), (1, true)] {
            let mut fut: Pin<Box<dyn Future<Output = ()>>> = if via_from {
                Box::pin(async {
                    let _ = s.recv_from(vec![0u8; 64]).await;
                })
            } else {
                Box::pin(async {
                    let _ = s.recv(vec![0u8; 64]).await;
                })
            };
            assert!(poll_once(&mut fut).await.is_pending());
            peer.send_to(&[b'd', i], addr).unwrap();
            peer.send_to(&[b'e', i], addr).unwrap();
            sleep(Duration::from_millis(30)).await;
            drop(fut);
            let (r, b) = s.recv(vec![0u8; 64]).await;
            assert_eq!(
                &b[..r.unwrap()],
                &[b'd', i],
                "first datagram lost (via_from={via_from})"
            );
            let (r, b) = s.recv_from(vec![0u8; 64]).await;
            assert_eq!(&b[..r.unwrap().0], &[b'e', i]);
        }
    });
}

// ---------- randomized storm ----------

#[derive(Clone, Copy, Debug)]
enum Kind {
    Tcp,
    Unix,
    Pipe,
    TcpSplit,
    UnixSplit,
}

const TOTAL: usize = 2 << 20;

fn writer<W: Write + Send + 'static>(mut w: W, seed: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut rng = Rng(seed);
        let data: Vec<u8> = (0..TOTAL).map(pattern).collect();
        let mut off = 0;
        while off < TOTAL {
            let n = (1 + rng.below(3000) as usize).min(TOTAL - off);
            w.write_all(&data[off..off + n]).unwrap();
            off += n;
            if rng.below(8) == 0 {
                std::thread::sleep(Duration::from_micros(rng.below(300)));
            }
        }
    })
}

async fn storm(kind: Kind, seed: u64) {
    enum R {
        S(TcpStream),
        U(UnixStream),
        F(curing::fs::File),
        TS(curing::net::ReadHalf<TcpStream>),
        US(curing::net::ReadHalf<UnixStream>),
    }
    let mut keep = Vec::new();
    let (reader, w) = match kind {
        Kind::Tcp | Kind::TcpSplit => {
            let (s, peer) = tcp_pair().await;
            let w = writer(peer, seed);
            if let Kind::Tcp = kind {
                (R::S(s), w)
            } else {
                let (r, wh) = s.into_split();
                keep.push(Box::new(wh) as Box<dyn std::any::Any>);
                (R::TS(r), w)
            }
        }
        Kind::Unix | Kind::UnixSplit => {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            let s = UnixStream::from_std(a);
            let w = writer(b, seed);
            if let Kind::Unix = kind {
                (R::U(s), w)
            } else {
                let (r, wh) = s.into_split();
                keep.push(Box::new(wh) as Box<dyn std::any::Any>);
                (R::US(r), w)
            }
        }
        Kind::Pipe => {
            let (r, w) = pipe();
            (
                R::F(curing::fs::File::from(r)),
                writer(std::fs::File::from(w), seed),
            )
        }
    };
    macro_rules! rd {
        ($b:expr) => {
            match &reader {
                R::S(s) => s.read($b).await,
                R::U(s) => s.read($b).await,
                R::F(s) => s.read($b).await,
                R::TS(s) => s.read($b).await,
                R::US(s) => s.read($b).await,
            }
        };
    }
    macro_rules! rdx {
        ($b:expr) => {
            match &reader {
                R::S(s) => s.read_exact($b).await,
                R::U(s) => s.read_exact($b).await,
                R::F(s) => {
                    let (r, b) = s.read($b).await;
                    (r.map(|_| ()), b)
                } // File has no read_exact
                R::TS(s) => s.read_exact($b).await,
                R::US(s) => s.read_exact($b).await,
            }
        };
    }
    let mut rng = Rng(seed ^ 0x9e3779b97f4a7c15);
    let mut got: Vec<u8> = Vec::with_capacity(TOTAL);
    let mut cut = 0u64;
    let mut eof = false;
    while !eof {
        let size = 1 + rng.below(4096) as usize;
        let d = Duration::from_micros(if rng.below(3) == 0 {
            rng.below(5)
        } else {
            rng.below(150)
        });
        let exact = rng.below(3) == 0 && got.len() + size <= TOTAL && !matches!(kind, Kind::Pipe);
        if exact {
            match timeout(d, async { rdx!(vec![0u8; size]) }).await {
                Ok((r, b)) => {
                    r.unwrap();
                    got.extend_from_slice(&b);
                }
                Err(_) => cut += 1,
            }
        } else {
            match timeout(d, async { rd!(vec![0u8; size]) }).await {
                Ok((r, b)) => {
                    let n = r.unwrap();
                    if n == 0 {
                        eof = true;
                    }
                    got.extend_from_slice(&b[..n]);
                }
                Err(_) => cut += 1,
            }
        }
        if got.len() > TOTAL {
            break;
        }
    }
    w.join().unwrap();
    let want: Vec<u8> = (0..TOTAL).map(pattern).collect();
    eprintln!(
        "[{}] storm {kind:?} seed {seed}: {} bytes, {cut} reads cut off",
        driver(),
        got.len()
    );
    assert_eq!(
        got.len(),
        want.len(),
        "{kind:?} seed {seed}: length differs"
    );
    if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
        panic!("{kind:?} seed {seed}: first mismatch at byte {i}");
    }
    drop(keep);
}

fn run_storm(kind: Kind) {
    for seed in [1u64, 2, 3] {
        run_bounded(Duration::from_secs(60), move || storm(kind, seed));
    }
}

// The writer must be done (EOF) for TCP/Unix: close the peer side after
// writing. writer() drops `w` at thread end, which closes it.
#[test]
fn storm_tcp() {
    run_storm(Kind::Tcp);
}
#[test]
fn storm_unix() {
    run_storm(Kind::Unix);
}
#[test]
fn storm_pipe() {
    run_storm(Kind::Pipe);
}
#[test]
fn storm_tcp_split() {
    run_storm(Kind::TcpSplit);
}
#[test]
fn storm_unix_split() {
    run_storm(Kind::UnixSplit);
}
