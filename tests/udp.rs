//! UDP through the ring: addressed and connected datagrams, truncation,
//! bad input (address in use, refused port), options, conversions, name
//! resolution and cancellation. Every test runs under `common::run`, which
//! fails on a leaked fd or op.

mod common;

use curing::buf::IoBuf;
use curing::net::{BindOptions, UdpSocket};
use curing::time::{sleep, timeout};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn local() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let a = s.local_addr().unwrap();
    (s, a)
}

#[test]
fn send_to_and_recv_from_round_trip() {
    common::run(LIMIT, || async {
        let (a, a_addr) = local();
        let (b, b_addr) = local();
        let (res, _) = a.send_to(b"ping".to_vec(), b_addr).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = b.recv_from(vec![0u8; 64]).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr));
        // Echo back, into a slice of a bigger buffer.
        let (res, _) = b.send_to(buf.slice(..n), from).await;
        res.unwrap();
        let (res, buf) = a.recv_from(vec![0u8; 64]).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], b_addr));
        // An empty datagram is a datagram, not end of stream.
        let (res, _) = a.send_to(Vec::new(), b_addr).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = b.recv_from(vec![0u8; 8]).await;
        assert_eq!(res.unwrap(), (0, a_addr));
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
}

#[test]
fn connected_send_and_recv_and_refused_port() {
    common::run(LIMIT, || async {
        let (a, a_addr) = local();
        let (b, b_addr) = local();
        let (stranger, _) = local();
        a.connect(b_addr).await.unwrap();
        b.connect(a_addr).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        // A connected socket ignores datagrams from anyone else.
        let (res, _) = stranger.send_to(b"noise".to_vec(), a_addr).await;
        res.unwrap();
        let (res, _) = b.send(b"hello".to_vec()).await;
        assert_eq!(res.unwrap(), 5);
        let (res, buf) = a.recv(vec![0u8; 16]).await;
        assert_eq!(&buf[..res.unwrap()], b"hello");

        // Connected to a port nobody listens on: the ICMP error comes back
        // as ConnectionRefused on a later op, never as a hang or a panic.
        let dead = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.connect(dead).await.unwrap();
        let (res, _) = c.send(b"anyone?".to_vec()).await;
        res.unwrap();
        let (res, _) = timeout(Duration::from_secs(5), c.recv(vec![0u8; 16]))
            .await
            .expect("refusal arrives");
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn truncated_datagram_is_an_error_with_first_bytes() {
    common::run(LIMIT, || async {
        let (a, _) = local();
        let (b, b_addr) = local();
        let (res, _) = a.send_to(b"0123456789".to_vec(), b_addr).await;
        res.unwrap();
        let (res, _) = a.send_to(b"ok".to_vec(), b_addr).await;
        res.unwrap();
        let (res, buf) = b.recv_from(Vec::with_capacity(4)).await;
        let e = res.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("10 bytes"), "{e}");
        assert_eq!(buf, b"0123");
        // The next datagram is whole and unaffected.
        let (res, buf) = b.recv(vec![0u8; 4]).await;
        assert_eq!(&buf[..res.unwrap()], b"ok");
    });
}

#[test]
fn address_in_use_and_reuseport() {
    common::run(LIMIT, || async {
        let (_a, addr) = local();
        let e = UdpSocket::bind(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        // SO_REUSEPORT on both: the same port twice.
        let opts = BindOptions::new().reuseport(true);
        let x = UdpSocket::bind_with("127.0.0.1:0", &opts).unwrap();
        let port = x.local_addr().unwrap().port();
        let y = UdpSocket::bind_with(("127.0.0.1", port), &opts).unwrap();
        assert_eq!(y.local_addr().unwrap().port(), port);
        // Bad input: an unresolvable name, an empty list.
        let none: &[SocketAddr] = &[];
        assert_eq!(
            UdpSocket::bind(none).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    });
}

#[test]
fn options_round_trip() {
    common::run(LIMIT, || async {
        let (s, _) = local();
        s.set_broadcast(true).unwrap();
        assert!(s.broadcast().unwrap());
        s.set_ttl(17).unwrap();
        assert_eq!(s.ttl().unwrap(), 17);
        s.set_multicast_loop_v4(false).unwrap();
        assert!(!s.multicast_loop_v4().unwrap());
        s.set_multicast_ttl_v4(3).unwrap();
        assert_eq!(s.multicast_ttl_v4().unwrap(), 3);
        s.set_recv_buffer_size(64 * 1024).unwrap();
        assert!(s.recv_buffer_size().unwrap() >= 64 * 1024);
        s.set_send_buffer_size(32 * 1024).unwrap();
        assert!(s.send_buffer_size().unwrap() >= 32 * 1024);
        assert!(s.take_error().unwrap().is_none());
        assert!(s.only_v6().is_err(), "IPv4 socket has no IPV6_V6ONLY");
        // Multicast membership: works where the host has a multicast
        // route; otherwise the kernel's error comes back, never a panic.
        let group = Ipv4Addr::new(239, 255, 0, 77);
        if s.join_multicast_v4(group, Ipv4Addr::UNSPECIFIED).is_ok() {
            s.leave_multicast_v4(group, Ipv4Addr::UNSPECIFIED).unwrap();
        }
        let v6 = BindOptions::new().only_v6(true);
        if let Ok(s6) = UdpSocket::bind_with("[::1]:0", &v6) {
            assert!(s6.only_v6().unwrap());
            s6.set_ttl(9).unwrap();
            assert_eq!(s6.ttl().unwrap(), 9);
        }
    });
}

#[test]
fn conversions_and_name_resolution() {
    common::run(LIMIT, || async {
        let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        std_sock.set_nonblocking(true).unwrap();
        let addr = std_sock.local_addr().unwrap();
        // from_std switches it to blocking mode for the ring.
        let s = UdpSocket::from_std(std_sock);
        let (peer, peer_addr) = local();
        // "localhost" is looked up on the blocking pool.
        let (res, _) = peer
            .send_to(b"by name".to_vec(), ("localhost", addr.port()))
            .await;
        res.unwrap();
        assert!(
            curing::runtime::blocking_pool().threads >= 1,
            "looked up on the pool"
        );
        let (res, buf) = s.recv_from(vec![0u8; 16]).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from), (&b"by name"[..], peer_addr));
        let back = s.into_std().unwrap();
        assert_eq!(back.local_addr().unwrap(), addr);
        let raw = back.into_raw_fd();
        // SAFETY: `raw` was just released by `into_raw_fd`; we own it.
        let s = unsafe { UdpSocket::from_raw_fd(raw) };
        assert_eq!(s.as_raw_fd(), raw);
        assert_eq!(s.local_addr().unwrap(), addr);
        let e = s.send_to(b"x".to_vec(), "no-such-host.invalid:1").await.0;
        assert!(e.is_err());
    });
}

#[test]
fn dropped_recv_leaks_nothing_and_socket_still_works() {
    common::run(LIMIT, || async {
        let (a, _) = local();
        let (b, b_addr) = local();
        for _ in 0..50 {
            let r = timeout(
                Duration::from_micros(50),
                b.recv_from(common::GuardBuf::new(64)),
            )
            .await;
            assert!(r.is_err());
        }
        sleep(Duration::from_millis(5)).await;
        let (res, _) = a.send_to(b"after".to_vec(), b_addr).await;
        res.unwrap();
        let (res, buf) = b.recv_from(vec![0u8; 16]).await;
        assert_eq!(&buf[..res.unwrap().0], b"after");
    });
}
