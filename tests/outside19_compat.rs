//! Outside tester's tests (issue 19): `compat::Compat` (feature `futures-io`):
//! a dropped adapter finishes its pending write, `into_inner` returns what is
//! buffered, close and flush report errors, cut-off reads lose nothing, over
//! child pipes and files.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
// Needs `compat::Compat`'s futures-io traits: built empty without the
// feature; ci/test.sh runs it with --all-features (the feature-gated step).
#![cfg(feature = "futures-io")]
#[path = "outside19_common/mod.rs"]
mod outside19_common;
use curing::compat::Compat;
use curing::net::{TcpListener, TcpStream, UnixStream};
use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
#[allow(unused_imports)]
use outside19_common::*;
use std::time::Duration;

#[test]
fn dropped_compat_finishes_pending_write() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_send_buffer_size(4096).unwrap();
        let mut ca = Compat::new(a);
        let data: Vec<u8> = (0..32 * 1024u32).map(|i| (i % 256) as u8).collect();
        let mut accepted = 0;
        // write without flush, several times (each waits for the previous)
        for _ in 0..1 {
            accepted += ca.write(&data).await.unwrap();
        }
        assert!(ca.write_pending());
        drop(ca);
        let (r, got) = curing::time::timeout(Duration::from_secs(5), async {
            let mut all = Vec::new();
            loop {
                let (r, buf) = b.read(vec![0u8; 65536]).await;
                let n = r?;
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            std::io::Result::Ok(all)
        })
        .await
        .map(|r| (r.is_ok(), r.unwrap_or_default()))
        .expect("peer never saw EOF after Compat drop");
        assert!(r);
        eprintln!("accepted {accepted}, peer got {}", got.len());
        assert_eq!(
            got.len(),
            accepted,
            "accepted bytes lost when Compat dropped"
        );
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn into_inner_returns_buffered_and_stash() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, _) = a.write_all((0..100u8).collect::<Vec<_>>()).await;
        r.unwrap();
        let mut cb = Compat::new(b);
        let mut ten = [0u8; 10];
        cb.read_exact(&mut ten).await.unwrap();
        assert_eq!(ten, core::array::from_fn::<u8, 10, _>(|i| i as u8));
        // start a read that stays in flight
        {
            let mut buf = Vec::new();
            let _ = futures_util::future::poll_immediate(cb.fill_buf())
                .await
                .map(|r| r.map(|b| buf.extend_from_slice(b)));
        }
        let (s, rest) = cb.into_inner();
        eprintln!("buffered returned {}", rest.len());
        let mut all = rest;
        let (r, _) = a.write_all(vec![200u8; 5]).await;
        r.unwrap();
        drop(a);
        loop {
            let (r, buf) = s.read(vec![0u8; 64]).await;
            let n = r.unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        let mut exp: Vec<u8> = (10..100u8).collect();
        exp.extend_from_slice(&[200u8; 5]);
        assert_eq!(all, exp);
    });
}

#[test]
fn compat_close_on_closed_peer() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let mut ca = Compat::new(a);
        let r = ca.close().await;
        eprintln!("close on closed peer: {r:?}");
    });
}

#[test]
fn compat_over_child_pipes_and_file() {
    let _guard = guard();
    curing::run(async {
        use curing::process::{Command, Stdio};
        let mut child = Command::new("tr")
            .arg("a-z")
            .arg("A-Z")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut w = Compat::new(child.stdin.take().unwrap());
        let mut r = Compat::new(child.stdout.take().unwrap());
        w.write_all(b"hello pipes\n").await.unwrap();
        w.close().await.unwrap();
        drop(w);
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "HELLO PIPES\n");
        child.wait().await.unwrap();
        let f = curing::fs::File::open(SMALL_FILE).await.unwrap();
        let mut cf = Compat::new(f);
        let mut s = String::new();
        cf.read_to_string(&mut s).await.unwrap();
        assert_eq!(s.as_bytes(), std::fs::read(SMALL_FILE).unwrap());
    });
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let c = curing::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (s, _) = l.accept().await.unwrap();
    (c.await.unwrap(), s)
}

#[test]
fn compat_futures_io_read_cut_loses_nothing() {
    let _guard = guard();
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};
    curing::run(async {
        let (a, b) = tcp_pair().await;
        let mut ca = curing::compat::Compat::new(a);
        let mut cb = curing::compat::Compat::new(b);
        let total = 300_000usize;
        let w = curing::spawn(async move {
            let data: Vec<u8> = (0..total).map(|i| (i % 211) as u8).collect();
            for c in data.chunks(3333) {
                ca.write_all(c).await.unwrap();
                ca.flush().await.unwrap();
                if c[0] % 3 == 0 {
                    curing::time::sleep(Duration::from_micros(100)).await;
                }
            }
            ca.close().await.unwrap();
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 5000];
        let mut k = 0u64;
        loop {
            k += 1;
            let d = Duration::from_micros(k % 150);
            if let Ok(r) = curing::time::timeout(d, cb.read(&mut buf)).await {
                let n = r.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        w.await.unwrap();
        let data: Vec<u8> = (0..total).map(|i| (i % 211) as u8).collect();
        assert_eq!(got.len(), total);
        assert!(got == data);
    });
}

#[test]
fn compat_flush_reports_write_error() {
    let _guard = guard();
    use futures_util::io::AsyncWriteExt;
    curing::run(async {
        let (a, b) = tcp_pair().await;
        b.set_linger(Some(Duration::ZERO)).unwrap();
        drop(b);
        curing::time::sleep(Duration::from_millis(10)).await;
        let mut ca = curing::compat::Compat::new(a);
        let mut err = None;
        for _ in 0..50 {
            if let Err(e) = ca.write_all(&[0u8; 10000]).await {
                err = Some(e);
                break;
            }
            if let Err(e) = ca.flush().await {
                err = Some(e);
                break;
            }
        }
        eprintln!("compat error: {err:?}");
        assert!(err.is_some());
    });
}
