//! The futures-io and tokio-io adapters (`curing::compat::Compat`): plain
//! reads and writes over Unix, TCP, files and child pipes; buffered reads;
//! a read abandoned by a timeout and resumed; write-behind with errors
//! reported by flush; a pending write finished after the adapter is
//! dropped; close/shutdown; and a tokio-util codec (`Framed` +
//! `LinesCodec`) over a curing TCP stream.
#![cfg(all(feature = "futures-io", feature = "tokio-io"))]

mod common;

use curing::compat::Compat;
use curing::net::{TcpListener, TcpStream, UnixStream};
use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn futures_io_round_trip_and_close() {
    common::run(T, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Compat::new(a), Compat::new(b));
        a.write_all(b"hello\nworld\n").await.unwrap();
        a.flush().await.unwrap();
        let mut line = String::new();
        b.read_line(&mut line).await.unwrap();
        assert_eq!(line, "hello\n");
        // The rest of what one read op got is buffered in the adapter.
        assert_eq!(b.buffered(), b"world\n");
        let mut rest = [0u8; 6];
        b.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"world\n");
        // close = flush + shutdown(Write): the peer sees end of stream and
        // can still answer.
        a.close().await.unwrap();
        let mut all = Vec::new();
        assert_eq!(b.read_to_end(&mut all).await.unwrap(), 0);
        b.write_all(b"bye").await.unwrap();
        b.close().await.unwrap();
        let mut got = Vec::new();
        a.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
    });
}

#[test]
fn large_transfer_in_both_directions_over_tcp() {
    common::run(T, || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expect = data.clone();
        let server = curing::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            let (mut r, mut w) = futures_util::io::AsyncReadExt::split(Compat::new(s));
            // Echo through futures' own copy: small writes, buffered reads.
            futures_util::io::copy(&mut r, &mut w).await.unwrap();
            w.close().await.unwrap();
        });
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut c = Compat::with_capacity(s, 4096, 1000);
        let c2 = &mut c;
        let (mut r, mut w) = futures_util::io::AsyncReadExt::split(c2);
        let writer = async {
            for chunk in data.chunks(77_777) {
                w.write_all(chunk).await.unwrap();
            }
            w.close().await.unwrap();
        };
        let mut got = Vec::new();
        // A read loop, not `read_to_end`: futures' `read_to_end` zeroes the
        // vector's whole spare capacity after every `Pending`, which is slow
        // for megabytes in a debug build.
        let reader = async {
            let mut buf = vec![0u8; 5000];
            loop {
                let n = r.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        };
        futures_util::future::join(writer, reader).await;
        assert!(got == expect, "echoed bytes differ");
        server.await.unwrap();
    });
}

#[test]
fn read_abandoned_by_timeout_resumes_without_cancelling() {
    common::run(T, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut b = Compat::new(b);
        let mut buf = [0u8; 16];
        let cancelled_before = curing::runtime::stats().ops_cancelled;
        let timed_out = curing::time::timeout(Duration::from_millis(20), b.read(&mut buf)).await;
        assert!(timed_out.is_err());
        // The read op stays in the adapter: nothing was cancelled.
        assert_eq!(curing::runtime::stats().ops_cancelled, cancelled_before);
        let (res, _) = a.write_all(&b"late bytes"[..]).await;
        res.unwrap();
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"late bytes");
        assert_eq!(curing::runtime::stats().ops_cancelled, cancelled_before);
    });
}

#[test]
fn write_is_accepted_at_once_and_errors_surface_on_flush() {
    common::run(T, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut a = Compat::with_capacity(a, 1024, 8);
        // One call accepts at most the write capacity.
        assert_eq!(a.write(b"0123456789").await.unwrap(), 8);
        a.flush().await.unwrap();
        assert!(!a.write_pending());
        drop(b);
        // The peer is gone: the error shows on this write or, if the write
        // was accepted first, on the flush.
        let res = match a.write(b"xy").await {
            Ok(n) => {
                assert_eq!(n, 2);
                a.flush().await
            }
            Err(e) => Err(e),
        };
        let kind = res.unwrap_err().kind();
        assert!(
            matches!(
                kind,
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{kind:?}"
        );
    });
}

#[test]
fn dropped_adapter_finishes_its_pending_write() {
    common::run(T, || async {
        let (a, b) = UnixStream::pair().unwrap();
        // Fill the socket buffer so the adapter's write must wait in the
        // kernel for the reader.
        let filler = vec![1u8; 64 * 1024];
        let mut filled = 0usize;
        loop {
            let w = curing::time::timeout(Duration::from_millis(20), a.write(filler.clone())).await;
            match w {
                Ok((Ok(n), _)) => filled += n,
                Ok((Err(e), _)) => panic!("{e}"),
                Err(_) => break,
            }
        }
        let mut a = Compat::with_capacity(a, 1024, 4096);
        assert_eq!(a.write(&[2u8; 4096]).await.unwrap(), 4096);
        assert!(a.write_pending(), "the socket is full: the write must wait");
        // Dropped with the write in flight: a detached task finishes it,
        // then the stream closes.
        drop(a);
        let mut b = Compat::new(b);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), filled + 4096);
        assert!(got[filled..].iter().all(|&x| x == 2));
    });
}

#[test]
fn files_and_child_pipes() {
    common::run(T, || async {
        let dir = std::env::temp_dir().join(format!("curing-compat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lines.txt");
        let mut f = Compat::new(curing::fs::File::create(&path).await.unwrap());
        for i in 0..1000 {
            f.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
        }
        f.close().await.unwrap();
        drop(f);
        let f = Compat::with_capacity(curing::fs::File::open(&path).await.unwrap(), 100, 1);
        let lines: Vec<String> = futures_util::StreamExt::collect::<Vec<_>>(f.lines())
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines[999], "line 999");
        std::fs::remove_dir_all(&dir).unwrap();

        let mut child = curing::process::Command::new("cat")
            .stdin(curing::process::Stdio::piped())
            .stdout(curing::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = Compat::new(child.stdin.take().unwrap());
        let mut stdout = Compat::new(child.stdout.take().unwrap());
        stdin.write_all(b"through cat\n").await.unwrap();
        stdin.close().await.unwrap();
        drop(stdin);
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "through cat\n");
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn tokio_util_lines_codec_over_tcp() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_util::codec::{Framed, LinesCodec};
    common::run(T, || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = curing::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut framed = Framed::new(Compat::new(s), LinesCodec::new());
            while let Some(line) = framed.next().await {
                let line = line.unwrap();
                framed.send(line.to_uppercase()).await.unwrap();
            }
        });
        let s = TcpStream::connect(addr).await.unwrap();
        let mut framed = Framed::new(Compat::new(s), LinesCodec::new());
        for word in ["alpha", "beta", "gamma"] {
            framed.send(word).await.unwrap();
            let answer = framed.next().await.unwrap().unwrap();
            assert_eq!(answer, word.to_uppercase());
        }
        // Many lines in one go, answers read after.
        let many: Vec<String> = (0..500).map(|i| format!("l{i}")).collect();
        for l in &many {
            framed.feed(l.clone()).await.unwrap();
        }
        SinkExt::<String>::flush(&mut framed).await.unwrap();
        for l in &many {
            assert_eq!(framed.next().await.unwrap().unwrap(), l.to_uppercase());
        }
        tokio::io::AsyncWriteExt::shutdown(framed.get_mut())
            .await
            .unwrap();
        assert!(framed.next().await.is_none());
        server.await.unwrap();
    });
}

#[test]
fn tokio_io_buffered_read_and_shutdown() {
    common::run(T, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Compat::new(a), Compat::new(b));
        tokio::io::AsyncWriteExt::write_all(&mut a, b"one\ntwo\n")
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::shutdown(&mut a).await.unwrap();
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut b, &mut line)
            .await
            .unwrap();
        assert_eq!(line, "one\n");
        let mut rest = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut b, &mut rest)
            .await
            .unwrap();
        assert_eq!(rest, "two\n");
        let (inner, unread) = b.into_inner();
        assert!(unread.is_empty());
        drop(inner);
    });
}

/// A server shutting down a connection the client already reset: done, not
/// an error (as with tokio's streams), so hyper does not log one per
/// closed connection. Both shutdown traits.
#[test]
fn shutdown_after_the_peer_reset_is_not_an_error() {
    common::run(T, || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for tokio_trait in [true, false] {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.set_linger(Some(Duration::ZERO)).unwrap();
            drop(client); // RST
            curing::time::sleep(Duration::from_millis(20)).await;
            // The socket itself says so...
            let raw = server.shutdown(std::net::Shutdown::Write).await;
            assert_eq!(raw.unwrap_err().kind(), std::io::ErrorKind::NotConnected);
            // ...and the adapter reports the shutdown done.
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.set_linger(Some(Duration::ZERO)).unwrap();
            drop(client);
            curing::time::sleep(Duration::from_millis(20)).await;
            let mut server = Compat::new(server);
            if tokio_trait {
                tokio::io::AsyncWriteExt::shutdown(&mut server)
                    .await
                    .unwrap();
            } else {
                server.close().await.unwrap();
            }
        }
    });
}
