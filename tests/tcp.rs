//! TCP through the ring: round trips, many connections, large transfers,
//! resets, half-close, errors, and cancellation of accept, connect and read
//! (docs/reliability.md, rows 3, 6, 16, 18, 22, 23). Every test runs under
//! `common::run`, which fails on a leaked fd or op.

mod common;

use curing::buf::IoBuf;
use curing::net::{TcpListener, TcpStream};
use curing::time::{sleep, timeout};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd};
use std::rc::Rc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// The byte at `offset` of a test stream with seed `seed`.
fn pattern(seed: u64, offset: u64) -> u8 {
    (offset.wrapping_mul(2654435761).wrapping_add(seed) >> 7) as u8
}

/// Small deterministic RNG (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A listener on 127.0.0.1 with an ephemeral port.
fn local_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("local_addr");
    (l, addr)
}

/// A TCP socket bound to 127.0.0.1:0, listening with `backlog` if given,
/// made with raw syscalls (std always listens, with its own backlog).
fn raw_socket(backlog: Option<i32>) -> std::net::TcpListener {
    // SAFETY: plain syscalls; `sin` is a live local of the size passed, and
    // the fd is fresh, so the std listener becomes its only owner.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let r = libc::bind(fd, (&sin as *const libc::sockaddr_in).cast(), len);
        assert_eq!(r, 0, "bind: {}", io::Error::last_os_error());
        if let Some(backlog) = backlog {
            assert_eq!(
                libc::listen(fd, backlog),
                0,
                "listen: {}",
                io::Error::last_os_error()
            );
        }
        std::net::TcpListener::from_raw_fd(fd)
    }
}

/// Makes closing `s` send a RST instead of a FIN.
fn set_linger_zero(s: &std::net::TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value is a live local of the size passed.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_LINGER: {}", io::Error::last_os_error());
}

/// Echoes until end of stream or an error, then closes.
async fn echo(stream: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let (res, b) = stream.read(buf).await;
        let n = match res {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (res, s) = stream.write_all(b.slice(..n)).await;
        buf = s.into_inner();
        if res.is_err() {
            break;
        }
    }
    let _ = stream.close().await;
}

#[test]
fn echo_round_trip() {
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        assert!(format!("{listener:?}").contains("TcpListener"));
        let server = curing::spawn(async move {
            let (stream, peer) = listener.accept().await.expect("accept");
            assert_eq!(stream.peer_addr().unwrap(), peer);
            echo(stream).await;
            listener.close().await.expect("close listener");
            peer
        });
        let stream = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(stream.peer_addr().unwrap(), addr);
        stream.set_nodelay(true).unwrap();
        assert!(stream.nodelay().unwrap());
        stream.set_nodelay(false).unwrap();
        assert!(!stream.nodelay().unwrap());
        let (res, _) = stream.write_all("hello, ring").await;
        res.expect("write_all");
        let (res, buf) = stream.read_exact(vec![0u8; 11]).await;
        res.expect("read_exact");
        assert_eq!(buf, b"hello, ring");
        // A buffer with no room is not end of stream and asks nothing.
        let (res, _) = stream.read(Vec::new()).await;
        assert_eq!(res.unwrap(), 0);
        let local = stream.local_addr().unwrap();
        stream.close().await.expect("close");
        assert_eq!(server.await.unwrap(), local);
    });
}

#[test]
fn connect_by_name_and_from_std() {
    common::run(LIMIT, || async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap(); // From must undo this
        let port = std_listener.local_addr().unwrap().port();
        let listener = TcpListener::from(std_listener);
        let server = curing::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            echo(stream).await;
        });
        let stream = TcpStream::connect(("localhost", port))
            .await
            .expect("connect");
        let (res, _) = stream.write_all(b"abc".to_vec()).await;
        res.unwrap();
        let (res, buf) = stream.read_exact(vec![0u8; 3]).await;
        res.unwrap();
        assert_eq!(buf, b"abc");
        drop(stream);
        server.await.unwrap();

        // A std stream taken over by curing.
        let (listener, addr) = local_listener();
        let client = std::net::TcpStream::connect(addr).unwrap();
        client.set_nonblocking(true).unwrap();
        let client = TcpStream::from(client);
        let (server_side, _) = listener.accept().await.unwrap();
        let (res, _) = server_side.write_all("xyz").await;
        res.unwrap();
        let (res, buf) = client.read_exact(vec![0u8; 3]).await;
        res.unwrap();
        assert_eq!(buf, b"xyz");
    });
}

#[test]
fn many_concurrent_connections() {
    const N: u64 = 100;
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        let server = curing::spawn(async move {
            let mut handlers = Vec::new();
            for _ in 0..N {
                let (stream, _) = listener.accept().await.expect("accept");
                handlers.push(curing::spawn(echo(stream)));
            }
            for h in handlers {
                h.await.unwrap();
            }
        });
        let clients: Vec<_> = (0..N)
            .map(|id| {
                curing::spawn(async move {
                    let stream = TcpStream::connect(addr).await.expect("connect");
                    for round in 0..10u64 {
                        let len = 1 + ((id * 37 + round * 101) % 3000) as usize;
                        let msg: Vec<u8> = (0..len as u64)
                            .map(|i| pattern(id * 1000 + round, i))
                            .collect();
                        let (res, msg) = stream.write_all(msg).await;
                        res.expect("write_all");
                        let (res, back) = stream.read_exact(vec![0u8; len]).await;
                        res.expect("read_exact");
                        assert_eq!(back, msg, "client {id} round {round}");
                    }
                    stream.close().await.expect("close");
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
}

/// 8 MiB through an echo server, written by one task and read back by
/// another on the same stream at the same time.
#[test]
fn large_transfer_full_duplex() {
    const TOTAL: u64 = 8 << 20;
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        let server = curing::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            echo(stream).await;
        });
        let stream = Rc::new(TcpStream::connect(addr).await.expect("connect"));
        let writer = {
            let stream = stream.clone();
            curing::spawn(async move {
                let mut sent = 0u64;
                while sent < TOTAL {
                    let len = (TOTAL - sent).min(1 << 20);
                    let chunk: Vec<u8> = (sent..sent + len).map(|i| pattern(7, i)).collect();
                    let (res, _) = stream.write_all(chunk).await;
                    res.expect("write_all");
                    sent += len;
                }
                stream.shutdown(Shutdown::Write).await.expect("shutdown");
            })
        };
        let mut got = 0u64;
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            let (res, b) = stream.read(buf).await;
            let n = res.expect("read");
            if n == 0 {
                break;
            }
            for (i, &byte) in b[..n].iter().enumerate() {
                assert_eq!(byte, pattern(7, got + i as u64), "byte {}", got + i as u64);
            }
            got += n as u64;
            buf = b;
            buf.clear();
        }
        assert_eq!(got, TOTAL);
        writer.await.unwrap();
        server.await.unwrap();
        Rc::try_unwrap(stream).unwrap().close().await.unwrap();
    });
}

#[test]
fn half_close_then_reply() {
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        let server = curing::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut request = Vec::new();
            let mut buf = vec![0u8; 7];
            loop {
                let (res, b) = stream.read(buf).await;
                let n = res.expect("server read");
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&b[..n]);
                buf = b;
            }
            assert_eq!(request, b"request through a half-closed stream");
            // The client's side is shut for writing; ours is still open.
            let (res, _) = stream.write_all("the reply").await;
            res.expect("reply");
            stream.close().await.expect("close");
        });
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (res, _) = stream
            .write_all("request through a half-closed stream")
            .await;
        res.unwrap();
        stream.shutdown(Shutdown::Write).await.expect("shutdown");
        let mut reply = Vec::new();
        loop {
            let (res, b) = stream.read(vec![0u8; 4]).await;
            let n = res.expect("client read");
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&b[..n]);
        }
        assert_eq!(reply, b"the reply");
        // A read after end of stream says end of stream again.
        let (res, _) = stream.read(vec![0u8; 4]).await;
        assert_eq!(res.unwrap(), 0);
        server.await.unwrap();
    });
}

#[test]
fn peer_reset_is_an_error_or_eof_and_buffers_come_back() {
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        // Reset before anything is read.
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        set_linger_zero(&client);
        drop(client);
        let buf = Vec::with_capacity(1000);
        let (res, buf) = stream.read(buf).await;
        match res {
            Ok(0) => {}
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
            Ok(n) => panic!("read {n} bytes from a reset peer"),
        }
        assert_eq!(buf.capacity(), 1000, "the read buffer came back");

        // read_exact that meets end of stream keeps what it got.
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        client.write_all(b"only five").unwrap();
        drop(client);
        let (res, buf) = stream.read_exact(Vec::with_capacity(100)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"only five");
        assert_eq!(buf.capacity(), 100);
    });
}

#[test]
fn write_to_closed_peer_is_epipe_not_sigpipe() {
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        for reset in [false, true] {
            let client = std::net::TcpStream::connect(addr).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            if reset {
                set_linger_zero(&client);
            }
            drop(client);
            let msg: Vec<u8> = (0..64 * 1024).map(|i| pattern(3, i)).collect();
            let mut msg = msg;
            let mut error = None;
            for _ in 0..1000 {
                let (res, back) = stream.write_all(msg).await;
                assert_eq!(back.len(), 64 * 1024, "the buffer came back whole");
                assert!(back
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == pattern(3, i as u64)));
                msg = back;
                if let Err(e) = res {
                    error = Some(e);
                    break;
                }
                sleep(Duration::from_millis(1)).await;
            }
            let e = error.expect("writes to a closed peer kept succeeding");
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ),
                "{e}"
            );
        }
    });
}

#[test]
fn connect_refused() {
    common::run(LIMIT, || async {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        // Nothing resolves: a clear error, not a panic.
        let none: &[SocketAddr] = &[];
        let err = TcpStream::connect(none).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn accept_on_non_listening_socket_is_einval() {
    common::run(LIMIT, || async {
        let listener = TcpListener::from(raw_socket(None));
        let err = listener.accept().await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        // The runtime keeps working.
        let (listener, addr) = local_listener();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        listener.accept().await.expect("accept after an error");
        assert!(TcpListener::bind("192.0.2.1:0").is_err());
    });
}

/// An accept dropped before a connection came leaves the connection to the
/// next accept; one dropped after the kernel accepted anyway closes it.
#[test]
fn dropped_accept_loses_or_leaks_nothing() {
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        assert!(timeout(Duration::from_millis(5), listener.accept())
            .await
            .is_err());
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, peer) = listener.accept().await.expect("accept after a dropped one");
        assert_eq!(peer, client.local_addr().unwrap());
        drop((stream, client));

        // The connection is already queued: the accept completes inside
        // the submit, before its cancel, and its fd must be closed.
        let (mut closed, mut handed_on) = (0, 0);
        for _ in 0..20 {
            let client = TcpStream::from(std::net::TcpStream::connect(addr).unwrap());
            let client_addr = client.local_addr().unwrap();
            assert!(timeout(Duration::ZERO, listener.accept()).await.is_err());
            match timeout(Duration::from_millis(500), client.read(vec![0u8; 1])).await {
                Ok((Ok(0), _)) => closed += 1,
                Ok((Err(e), _)) if e.kind() == io::ErrorKind::ConnectionReset => closed += 1,
                Ok((res, _)) => panic!("unexpected read result {res:?}"),
                Err(_) => {
                    // The cancel won: the connection is still queued.
                    let (s, peer) = listener.accept().await.unwrap();
                    assert_eq!(peer, client_addr);
                    drop(s);
                    handed_on += 1;
                }
            }
        }
        println!("late accepts closed: {closed}, left queued: {handed_on}");
        assert!(curing::runtime::stats().late_completions as usize >= closed);
    });
}

/// Connects dropped at random moments (during the socket op, the connect,
/// or while the SYN waits on a full backlog) leak no socket.
#[test]
fn dropped_connect_leaks_no_fd() {
    common::run(LIMIT, || async {
        // Backlog 0 holds one connection; later SYNs are dropped, so their
        // connects hang until cancelled.
        let full = raw_socket(Some(0));
        let addr = full.local_addr().unwrap();
        let _filler = std::net::TcpStream::connect(addr).unwrap();
        let before = common::fd_count();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for i in 0..40 {
            let wait = if i < 5 {
                Duration::from_millis(100)
            } else {
                Duration::from_micros(rng.below(3000))
            };
            let res = timeout(wait, TcpStream::connect(addr)).await;
            assert!(res.is_err(), "a connect to a full backlog succeeded");
        }
        // Let the cancelled ops' completions arrive and close their sockets.
        for _ in 0..100 {
            if common::fd_count() == before {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(common::fd_count(), before, "sockets of dropped connects");
    });
}

/// A read dropped after the kernel already received data (the data is
/// there before the read is submitted): the bytes go to the next read.
#[test]
fn dropped_read_bytes_go_to_next_read() {
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().await.unwrap();

        // Idle: the cancel wins, nothing is lost either.
        assert!(
            timeout(Duration::from_millis(5), stream.read(vec![0u8; 64]))
                .await
                .is_err()
        );
        for round in 0..50u64 {
            let msg: Vec<u8> = (0..100).map(|i| pattern(round, i)).collect();
            client.write_all(&msg).unwrap();
            sleep(Duration::from_micros(200)).await;
            assert!(timeout(Duration::ZERO, stream.read(vec![0u8; 64]))
                .await
                .is_err());
            let (res, buf) = stream.read_exact(vec![0u8; 100]).await;
            res.expect("read_exact after a dropped read");
            assert_eq!(buf, msg, "round {round}");
        }
        let late = curing::runtime::stats().late_completions;
        println!("{late} dropped reads completed with data anyway");
        assert!(
            late > 0,
            "no dropped read ever completed: the stash went untested"
        );
        client.shutdown(Shutdown::Write).unwrap();
        let (res, _) = stream.read(vec![0u8; 8]).await;
        assert_eq!(res.unwrap(), 0);
        let mut rest = Vec::new();
        drop(stream);
        client.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    });
}

/// A writer task sends a seeded stream in random pieces at random moments;
/// the reader reads under random tiny timeouts. Every byte arrives once, in
/// order.
#[test]
fn random_read_cancellation_is_byte_exact() {
    const TOTAL: u64 = 2 << 20;
    common::run(LIMIT, || async {
        let (listener, addr) = local_listener();
        let writer = curing::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut rng = Rng(0xfeed_beef_1357_9bdf);
            let mut sent = 0u64;
            while sent < TOTAL {
                let len = (1 + rng.below(8_000)).min(TOTAL - sent);
                let chunk: Vec<u8> = (sent..sent + len).map(|i| pattern(11, i)).collect();
                let (res, _) = stream.write_all(chunk).await;
                res.expect("write_all");
                sent += len;
                if rng.below(2) == 0 {
                    sleep(Duration::from_micros(rng.below(300))).await;
                }
            }
            stream.close().await.unwrap();
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut rng = Rng(0x0ddb_a11c_afe5_0001);
        let (mut got, mut timeouts) = (0u64, 0u64);
        let mut buf = Vec::with_capacity(4096);
        loop {
            // A zero timeout drops the read right after it is queued: when
            // data is already there, it completes before its cancel.
            let wait = match rng.below(3) {
                0 => Duration::ZERO,
                _ => Duration::from_micros(rng.below(150)),
            };
            match timeout(wait, stream.read(buf)).await {
                Err(_) => {
                    timeouts += 1;
                    buf = Vec::with_capacity(4096);
                }
                Ok((res, b)) => {
                    let n = res.expect("read");
                    if n == 0 {
                        break;
                    }
                    for (i, &byte) in b[..n].iter().enumerate() {
                        assert_eq!(byte, pattern(11, got + i as u64), "byte {}", got + i as u64);
                    }
                    got += n as u64;
                    buf = b;
                    buf.clear();
                }
            }
        }
        assert_eq!(got, TOTAL);
        assert!(timeouts > 10, "only {timeouts} reads were cancelled");
        println!("{timeouts} reads cancelled");
        writer.await.unwrap();
    });
}

/// After a short read (the socket read dry), the next read waits for data
/// before trying (`IORING_RECVSEND_POLL_FIRST`): data already queued when
/// that read starts, and data that comes later, both arrive, in order.
#[test]
fn reads_after_a_short_read_see_queued_and_later_data() {
    common::run(Duration::from_secs(10), || async {
        let (listener, addr) = local_listener();
        let client = curing::spawn(async move {
            let s = TcpStream::connect(addr).await.unwrap();
            for chunk in [&b"one"[..], b"two", b"three"] {
                let (res, _) = s.write_all(chunk.to_vec()).await;
                res.unwrap();
                sleep(Duration::from_millis(20)).await;
            }
            s
        });
        let (server, _) = listener.accept().await.unwrap();
        // Short read: asks for 64, gets 3.
        let (res, buf) = server.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.unwrap()], b"one");
        // "two" is queued by now: the read (poll first) still sees it.
        sleep(Duration::from_millis(10)).await;
        let (res, buf) = server.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.unwrap()], b"two");
        // "three" comes while the read waits.
        let (res, buf) = server.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.unwrap()], b"three");
        let _client = client.await.unwrap();
    });
}
