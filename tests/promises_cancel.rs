//! "Dropping a read loses nothing", checked from the public API: a stream
//! read that is cut off hands its whole outcome (bytes, then end of stream
//! or the error) to the next read; a cut-off `read_exact` gives back the
//! bytes it had; a cut-off datagram receive's datagram goes to the next
//! receive. TCP, Unix streams and pipes; both drivers (`ci/test.sh` runs
//! this file again with `CURING_DRIVER=epoll`).

mod common;

use curing::fs::File;
use curing::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixStream};
use curing::time::{sleep, timeout};
use std::future::{poll_fn, Future};
use std::io::{ErrorKind, Write};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// Polls `fut` once (its op reaches the driver), leaving it pending.
async fn poll_once<F: Future>(fut: &mut Pin<Box<F>>) {
    poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending(), "expected to wait");
        Poll::Ready(())
    })
    .await
}

/// Long enough for a completion to arrive and be reaped.
const SETTLE: Duration = Duration::from_millis(50);

async fn tcp_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
    let (stream, _) = listener.accept().await.unwrap();
    (stream, peer.join().unwrap())
}

#[test]
fn a_reset_seen_by_a_dropped_read_goes_to_the_next_read() {
    common::run(Duration::from_secs(20), || async {
        let (stream, peer) = tcp_pair().await;
        let mut read = Box::pin(stream.read(vec![0u8; 64]));
        poll_once(&mut read).await;
        // Reset: SO_LINGER 0, then close.
        let sock = socket_of(&peer);
        set_linger_zero(sock);
        drop(peer);
        sleep(SETTLE).await; // the read's completion (ECONNRESET) arrives
        drop(read);
        let (res, _) = stream.read(vec![0u8; 64]).await;
        let err = res.expect_err("the reset must not read as end of stream");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        // Reported once, as a read that was never cut off would.
        let (res, _) = stream.read(vec![0u8; 64]).await;
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn bytes_then_reset_both_reach_the_next_reads() {
    common::run(Duration::from_secs(20), || async {
        let (stream, mut peer) = tcp_pair().await;
        let mut read = Box::pin(stream.read(vec![0u8; 64]));
        poll_once(&mut read).await;
        peer.write_all(b"last words").unwrap();
        sleep(SETTLE).await;
        set_linger_zero(socket_of(&peer));
        drop(peer);
        drop(read); // it had received "last words"
        sleep(SETTLE).await;
        let (res, buf) = stream.read(vec![0u8; 64]).await;
        assert_eq!(&buf[..res.unwrap()], b"last words");
        let (res, _) = stream.read(vec![0u8; 64]).await;
        // The reset came after the bytes: whichever read meets it says so.
        match res {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
            Ok(n) => assert_eq!(n, 0, "only end of stream may follow"),
        }
    });
}

#[test]
fn end_of_stream_seen_by_a_dropped_read_goes_to_the_next_read() {
    common::run(Duration::from_secs(20), || async {
        // TCP.
        let (stream, peer) = tcp_pair().await;
        let mut read = Box::pin(stream.read(vec![0u8; 64]));
        poll_once(&mut read).await;
        drop(peer);
        sleep(SETTLE).await;
        drop(read);
        let (res, _) = stream.read(vec![0u8; 64]).await;
        assert_eq!(res.unwrap(), 0);
        // Unix stream.
        let (a, b) = UnixStream::pair().unwrap();
        let mut read = Box::pin(a.read(vec![0u8; 64]));
        poll_once(&mut read).await;
        b.write_all(b"xy".to_vec()).await.0.unwrap();
        drop(b);
        sleep(SETTLE).await;
        drop(read);
        let (res, buf) = a.read(vec![0u8; 64]).await;
        assert_eq!(&buf[..res.unwrap()], b"xy");
        let (res, _) = a.read(vec![0u8; 64]).await;
        assert_eq!(res.unwrap(), 0);
        // Pipe.
        let (r, w) = common::pipe();
        let r = File::from(r);
        let mut read = Box::pin(r.read(vec![0u8; 64]));
        poll_once(&mut read).await;
        let mut w = std::fs::File::from(w);
        w.write_all(b"pq").unwrap();
        drop(w);
        sleep(SETTLE).await;
        drop(read);
        let (res, buf) = r.read(vec![0u8; 64]).await;
        assert_eq!(&buf[..res.unwrap()], b"pq");
        let (res, _) = r.read(vec![0u8; 64]).await;
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn a_cut_off_read_exact_gives_its_bytes_back() {
    common::run(Duration::from_secs(20), || async {
        let (stream, mut peer) = tcp_pair().await;
        peer.write_all(b"0123456789").unwrap();
        // 10 of 20 bytes arrive; the deadline cuts the read_exact off.
        let cut = timeout(Duration::from_millis(30), stream.read_exact(vec![0u8; 20])).await;
        assert!(cut.is_err(), "only half the bytes were there");
        peer.write_all(b"abcdefghij").unwrap();
        let (res, buf) = stream.read_exact(vec![0u8; 20]).await;
        res.unwrap();
        assert_eq!(&buf[..], b"0123456789abcdefghij");

        // The same on a Unix stream, with the cut-off read_exact's late
        // completion racing the drop.
        let (a, b) = UnixStream::pair().unwrap();
        b.write_all(b"0123".to_vec()).await.0.unwrap();
        let mut exact = Box::pin(a.read_exact(vec![0u8; 8]));
        poll_once(&mut exact).await; // 4 bytes read, the second read waits
        b.write_all(b"45".to_vec()).await.0.unwrap();
        sleep(SETTLE).await; // "45" went to the waiting read
        drop(exact);
        b.write_all(b"67".to_vec()).await.0.unwrap();
        let (res, buf) = a.read_exact(vec![0u8; 8]).await;
        res.unwrap();
        assert_eq!(&buf[..], b"01234567");
    });
}

/// A seeded xorshift, so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A writer thread sends `total` pattern bytes in random chunks with small
/// random pauses; the reader takes them with `read` and `read_exact` of
/// random sizes under random short deadlines, and what it gets must be the
/// pattern, in order, to the last byte, then end of stream.
async fn storm<R, Fut1, Fut2>(
    read: impl Fn(Vec<u8>) -> Fut1,
    read_exact: impl Fn(Vec<u8>) -> Fut2,
    exact: bool,
    seed: u64,
    total: usize,
    mut w: R,
) where
    R: Write + Send + 'static,
    Fut1: Future<Output = (std::io::Result<usize>, Vec<u8>)>,
    Fut2: Future<Output = (std::io::Result<()>, Vec<u8>)>,
{
    let writer = std::thread::spawn(move || {
        let data = common::pattern(seed, total);
        let mut rng = Rng(seed ^ 0x9e37_79b9);
        let mut at = 0;
        while at < total {
            let n = (1 + rng.below(300) as usize).min(total - at);
            w.write_all(&data[at..at + n]).unwrap();
            at += n;
            if rng.below(4) == 0 {
                std::thread::sleep(Duration::from_micros(rng.below(400)));
            }
        }
    });
    let mut rng = Rng(seed);
    let mut got = Vec::with_capacity(total);
    let mut cut = 0;
    loop {
        let size = 1 + rng.below(200) as usize;
        let limit = Duration::from_micros(rng.below(300));
        if !exact || rng.below(2) == 0 {
            match timeout(limit, read(Vec::with_capacity(size))).await {
                Ok((res, buf)) => {
                    if res.unwrap() == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf);
                }
                Err(_) => cut += 1,
            }
        } else {
            match timeout(limit, read_exact(Vec::with_capacity(size))).await {
                Ok((Ok(()), buf)) => got.extend_from_slice(&buf),
                Ok((Err(e), buf)) => {
                    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
                    got.extend_from_slice(&buf);
                    break;
                }
                Err(_) => cut += 1,
            }
        }
    }
    writer.join().unwrap();
    println!("seed {seed}: {} bytes, {cut} reads cut off", got.len());
    assert!(cut >= 3, "the storm cut off only {cut} reads");
    let want = common::pattern(seed, total);
    if let Some(i) = (0..got.len().min(total)).find(|&i| got[i] != want[i]) {
        panic!(
            "seed {seed}: first difference at byte {i}: got {:?}, want {:?}",
            &got[i.saturating_sub(4)..(i + 12).min(got.len())],
            &want[i.saturating_sub(4)..(i + 12).min(total)]
        );
    }
    assert_eq!(got.len(), total, "seed {seed}: bytes lost or duplicated");
    assert!(
        got == common::pattern(seed, total),
        "seed {seed}: bytes out of order"
    );
}

#[test]
fn a_storm_of_cut_off_reads_loses_nothing() {
    common::run(Duration::from_secs(60), || async {
        for seed in 1..=3u64 {
            let (stream, peer) = tcp_pair().await;
            let s = &stream;
            storm(
                |b| s.read(b),
                |b| s.read_exact(b),
                true,
                seed,
                200_000,
                peer,
            )
            .await;

            let (a, b) = UnixStream::pair().unwrap();
            let b: std::os::unix::net::UnixStream = b.into_std().unwrap();
            let a = &a;
            storm(
                |buf| a.read(buf),
                |buf| a.read_exact(buf),
                true,
                seed,
                200_000,
                b,
            )
            .await;

            // A pipe has no read_exact of its own: plain reads only.
            let (r, w) = common::pipe();
            let r = File::from(r);
            let r = &r;
            let no_exact = |_: Vec<u8>| async { unreachable!("reads only") };
            storm(
                |buf| r.read(buf),
                no_exact,
                false,
                seed,
                100_000,
                std::fs::File::from(w),
            )
            .await;
        }
    });
}

#[test]
fn a_datagram_a_dropped_receive_got_goes_to_the_next_receive() {
    common::run(Duration::from_secs(20), || async {
        // UDP.
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        let mut recv = Box::pin(a.recv_from(vec![0u8; 64]));
        poll_once(&mut recv).await;
        b.send(b"first".to_vec()).await.0.unwrap();
        sleep(SETTLE).await;
        drop(recv);
        b.send(b"second".to_vec()).await.0.unwrap();
        let (res, buf) = a.recv_from(vec![0u8; 64]).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"first");
        assert_eq!(from, b.local_addr().unwrap());
        let (res, buf) = a.recv(vec![0u8; 64]).await;
        assert_eq!(&buf[..res.unwrap()], b"second");
        // Unix datagrams.
        let (a, b) = UnixDatagram::pair().unwrap();
        let mut recv = Box::pin(a.recv(vec![0u8; 64]));
        poll_once(&mut recv).await;
        b.send(b"one".to_vec()).await.0.unwrap();
        sleep(SETTLE).await;
        drop(recv);
        b.send(b"two".to_vec()).await.0.unwrap();
        let (res, buf) = a.recv(vec![0u8; 64]).await;
        assert_eq!(&buf[..res.unwrap()], b"one");
        let (res, buf) = a.recv(vec![0u8; 64]).await;
        assert_eq!(&buf[..res.unwrap()], b"two");
    });
}

#[test]
fn datagrams_under_a_storm_of_cut_off_receives_all_arrive_in_order() {
    common::run(Duration::from_secs(60), || async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = a.local_addr().unwrap();
        // Room for every datagram in the socket buffer: none is dropped by
        // the kernel, so any loss would be curing's.
        set_rcvbuf(&a, 4 << 20);
        const N: u32 = 3000;
        let sender = std::thread::spawn(move || {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut rng = Rng(7);
            for i in 0..N {
                s.send_to(&i.to_le_bytes(), addr).unwrap();
                if rng.below(8) == 0 {
                    std::thread::sleep(Duration::from_micros(rng.below(300)));
                }
            }
        });
        let mut rng = Rng(11);
        let mut next = 0u32;
        let mut cut = 0;
        while next < N {
            let limit = Duration::from_micros(rng.below(200));
            match timeout(limit, a.recv(vec![0u8; 16])).await {
                Ok((res, buf)) => {
                    assert_eq!(res.unwrap(), 4);
                    let i = u32::from_le_bytes(buf[..4].try_into().unwrap());
                    assert_eq!(i, next, "datagram lost or out of order");
                    next += 1;
                }
                Err(_) => cut += 1,
            }
        }
        sender.join().unwrap();
        println!("{N} datagrams, {cut} receives cut off");
        assert!(cut >= 3, "the storm cut off only {cut} receives");
    });
}

fn socket_of(s: &std::net::TcpStream) -> i32 {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

fn set_linger_zero(fd: i32) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        )
    };
    assert_eq!(r, 0);
}

fn set_rcvbuf(s: &UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&bytes as *const i32).cast(),
            4,
        )
    };
    assert_eq!(r, 0);
}

#[test]
fn a_cut_off_read_to_end_gives_its_bytes_back() {
    common::run(Duration::from_secs(20), || async {
        let (r, w) = common::pipe();
        let r = File::from(r);
        let mut w = std::fs::File::from(w);
        w.write_all(b"0123456789").unwrap();
        let cut = timeout(Duration::from_millis(30), r.read_to_end(b"mine:".to_vec())).await;
        assert!(cut.is_err(), "the pipe is still open");
        w.write_all(b"abcde").unwrap();
        drop(w);
        let (res, buf) = r.read_to_end(b"mine:".to_vec()).await;
        assert_eq!(res.unwrap(), 15);
        assert_eq!(&buf[..], b"mine:0123456789abcde");
    });
}
