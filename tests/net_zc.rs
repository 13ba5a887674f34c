//! Zero-copy send: byte-exact delivery, the buffer back only after the
//! kernel's notification, dropped futures that leave the buffer with the
//! driver until then (guard buffers: a premature free would show as
//! EFAULT), and a reset peer reported as an error.

mod common;

use curing::buf::{IoBuf, IoBufMut};
use curing::net::{TcpListener, TcpStream};
use curing::time::timeout;
use std::io::Read;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2654435761) >> 9) as u8
}

/// A guard buffer of `len` pattern bytes.
fn guard(len: usize) -> common::GuardBuf {
    let mut g = common::GuardBuf::new(len);
    let p = g.stable_mut_ptr();
    for i in 0..len {
        // SAFETY: `i < len <= capacity` of the mapping.
        unsafe { p.add(i).write(pattern(i)) };
    }
    // SAFETY: just wrote `len` bytes.
    unsafe { g.set_init(len) };
    g
}

/// A std peer that reads everything and checks the pattern.
fn counting_peer(listener: std::net::TcpListener, chunk: usize) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut n = 0usize;
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return n,
                Ok(k) => {
                    for (j, &x) in buf[..k].iter().enumerate() {
                        assert_eq!(x, pattern((n + j) % chunk), "byte {}", n + j);
                    }
                    n += k;
                }
            }
        }
    })
}

#[test]
fn send_zc_delivers_every_byte_and_returns_the_buffer() {
    common::run(LIMIT, || async {
        const LEN: usize = 1 << 20;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let peer = counting_peer(std_listener, LEN);
        let s = TcpStream::connect(addr).await.unwrap();
        let mut buf = guard(LEN);
        for _ in 0..8 {
            let (res, b) = s.send_zc_all(buf).await;
            res.unwrap();
            assert_eq!(b.bytes_init(), LEN);
            buf = b;
        }
        let (res, _) = s.send_zc(b"".to_vec()).await;
        assert_eq!(res.unwrap(), 0);
        s.close().await.unwrap();
        assert_eq!(peer.join().unwrap(), 8 * LEN);
        drop(buf);
    });
}

#[test]
fn dropped_send_zc_keeps_the_buffer_until_the_notification() {
    common::run(LIMIT, || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_send_buffer_size(16 * 1024).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        for _ in 0..20 {
            // The peer does not read: sends block and are dropped midway.
            let _ = timeout(Duration::from_micros(200), s.send_zc(guard(256 * 1024))).await;
        }
        drop(server);
        let stats = curing::runtime::stats();
        assert_eq!(stats.efault_cqes, 0);
        drop(s);
    });
}

#[test]
fn send_zc_to_a_reset_peer_is_an_error() {
    common::run(LIMIT, || async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let s = TcpStream::connect(addr).await.unwrap();
        let (c, _) = std_listener.accept().unwrap();
        let c = TcpStream::from_std(c);
        c.set_linger(Some(Duration::ZERO)).unwrap();
        assert_eq!(c.linger().unwrap(), Some(Duration::ZERO));
        drop(c);
        let mut err = None;
        for _ in 0..50 {
            let (res, _) = s.send_zc(vec![7u8; 64 * 1024]).await;
            if let Err(e) = res {
                err = Some(e);
                break;
            }
        }
        let e = err.expect("sending to a reset peer fails");
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
    });
}
