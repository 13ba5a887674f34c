//! Outside tests of issue 22: write_all futures cut off at random or mid-way,
//! on TCP, Unix sockets and child pipes, both drivers: the peer gets a prefix
//! of each, in order, and nothing else.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use curing::net::{TcpStream, UnixStream};
use curing::process::{Command, Stdio};
use curing::runtime::DriverKind;
use curing::time::{sleep, timeout};

mod outside22_common;
use outside22_common::{on_both, pattern, seed, tcp_pair, Rng};

/// A 64 MiB write_all to a slow reader, dropped after partial progress:
/// the peer gets a prefix of it, then what is written next, nothing else.
async fn write_all_drop_then_marker<W, R>(kind: DriverKind, w: W, r: R)
where
    W: StreamW + 'static,
    R: StreamR + 'static,
{
    let big = Rc::new(pattern(64 << 20, 21));
    let b2 = big.clone();
    let slow = Rc::new(std::cell::Cell::new(true));
    let slow2 = slow.clone();
    let reader = curing::spawn(async move {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let (res, b) = r.read_(buf).await;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&b[..n]);
            buf = b;
            if slow2.get() {
                sleep(Duration::from_millis(1)).await;
            }
        }
        got
    });
    let big_owned: Vec<u8> = (*b2).clone();
    let out = timeout(Duration::from_millis(100), w.write_all_(big_owned)).await;
    assert!(
        out.is_err(),
        "{kind:?}: 64 MiB went through a slow reader in 100 ms"
    );
    let marker = b"--MARKER-AFTER-DROPPED-WRITE--".to_vec();
    slow.set(false);
    w.write_all_(marker.clone()).await.0.unwrap();
    w.finish().await;
    let got = reader.await.unwrap();
    assert!(got.len() >= marker.len(), "{kind:?}: marker missing");
    let k = got.len() - marker.len();
    assert!(k <= big.len(), "{kind:?}: more bytes than written");
    assert!(
        got[k..] == marker[..],
        "{kind:?}: stream does not end with the marker (got {} bytes)",
        got.len()
    );
    if got[..k] != big[..k] {
        let first = (0..k).find(|&i| got[i] != big[i]).unwrap();
        panic!("{kind:?}: received {k} bytes before the marker, not a prefix: first difference at {first}");
    }
}

trait StreamW {
    fn write_all_(&self, buf: Vec<u8>)
        -> impl Future<Output = curing::buf::BufResult<(), Vec<u8>>>;
    fn finish(self) -> impl Future<Output = ()>;
}
trait StreamR {
    fn read_(&self, buf: Vec<u8>) -> impl Future<Output = curing::buf::BufResult<usize, Vec<u8>>>;
}
impl StreamW for TcpStream {
    fn write_all_(
        &self,
        buf: Vec<u8>,
    ) -> impl Future<Output = curing::buf::BufResult<(), Vec<u8>>> {
        self.write_all(buf)
    }
    async fn finish(self) {
        self.close().await.unwrap()
    }
}
impl StreamR for TcpStream {
    fn read_(&self, buf: Vec<u8>) -> impl Future<Output = curing::buf::BufResult<usize, Vec<u8>>> {
        self.read(buf)
    }
}
impl StreamW for UnixStream {
    fn write_all_(
        &self,
        buf: Vec<u8>,
    ) -> impl Future<Output = curing::buf::BufResult<(), Vec<u8>>> {
        self.write_all(buf)
    }
    async fn finish(self) {
        self.close().await.unwrap()
    }
}
impl StreamR for UnixStream {
    fn read_(&self, buf: Vec<u8>) -> impl Future<Output = curing::buf::BufResult<usize, Vec<u8>>> {
        self.read(buf)
    }
}
impl StreamW for curing::process::ChildStdin {
    fn write_all_(
        &self,
        buf: Vec<u8>,
    ) -> impl Future<Output = curing::buf::BufResult<(), Vec<u8>>> {
        self.write_all(buf)
    }
    async fn finish(self) {
        self.close().await.unwrap()
    }
}
impl StreamR for curing::process::ChildStdout {
    fn read_(&self, buf: Vec<u8>) -> impl Future<Output = curing::buf::BufResult<usize, Vec<u8>>> {
        self.read(buf)
    }
}

#[test]
fn write_all_dropped_midway_tcp_prefix_then_marker() {
    on_both(|kind| async move {
        let (a, b) = tcp_pair().await;
        write_all_drop_then_marker(kind, a, b).await;
    });
}

#[test]
fn write_all_dropped_midway_unix_prefix_then_marker() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        write_all_drop_then_marker(kind, a, b).await;
    });
}

#[test]
fn write_all_dropped_midway_pipe_prefix_then_marker() {
    on_both(|kind| async move {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        write_all_drop_then_marker(kind, stdin, stdout).await;
        assert!(child.wait().await.unwrap().success());
    });
}

/// write_all dropped before its first poll writes nothing.
#[test]
fn write_all_dropped_unpolled_writes_nothing() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        drop(a.write_all(b"never".to_vec()));
        drop(a.write(b"never".to_vec()));
        a.write_all(b"yes".to_vec()).await.0.unwrap();
        a.close().await.unwrap();
        let (res, out) = b.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(out, b"yes", "{kind:?}");
    });
}

/// Many write_all futures on one stream cut off at random by tiny
/// timeouts, interleaved with ones that finish: the peer gets, for each,
/// a prefix of it, in order (each finished one in full).
#[test]
fn write_all_storm_pieces_in_order() {
    on_both(|kind| async move {
        let (a, b) = tcp_pair().await;
        a.set_send_buffer_size(16 * 1024).unwrap();
        b.set_recv_buffer_size(16 * 1024).unwrap();
        write_storm(kind, a, b).await;
    });
}

#[test]
fn write_all_storm_pieces_in_order_unix() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_send_buffer_size(16 * 1024).unwrap();
        b.set_recv_buffer_size(16 * 1024).unwrap();
        write_storm(kind, a, b).await;
    });
}

#[test]
fn write_all_storm_pieces_in_order_child_pipe() {
    on_both(|kind| async move {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        write_storm(kind, stdin, stdout).await;
        assert!(child.wait().await.unwrap().success());
    });
}

async fn write_storm<W: StreamW, R: StreamR + 'static>(kind: DriverKind, w: W, r: R) {
    let reader = curing::spawn(async move {
        let mut out = Vec::new();
        loop {
            let (res, buf) = r.read_(vec![0u8; 65536]).await;
            let n = res.unwrap();
            if n == 0 {
                break out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    });
    let mut rng = Rng(seed(31337));
    let mut sent: Vec<(Vec<u8>, bool)> = Vec::new();
    for i in 0..300u32 {
        // Each piece: a 5-byte header (tag + index) then filler, so the
        // receiver can find where each piece starts.
        let len = 5 + rng.below(200_000) as usize;
        let mut piece = vec![(i % 251) as u8; len];
        piece[0] = 0xFF;
        piece[1..5].copy_from_slice(&[0, 0, (i >> 7) as u8, (i & 0x7F) as u8]);
        for x in piece[5..].iter_mut() {
            *x &= 0x7F; // filler never contains 0xFF
        }
        let full = if rng.below(3) == 0 {
            w.write_all_(piece.clone()).await.0.unwrap();
            true
        } else {
            let d = Duration::from_micros(rng.below(400));
            match timeout(d, w.write_all_(piece.clone())).await {
                Ok((res, _)) => {
                    res.unwrap();
                    true
                }
                Err(_) => false,
            }
        };
        sent.push((piece, full));
    }
    w.finish().await;
    let got = reader.await.unwrap();
    // Walk the pieces in order: each must be a prefix of its piece,
    // and a full one entirely present.
    let mut pos = 0;
    let (mut none, mut partial, mut whole) = (0, 0, 0);
    for (i, (piece, full)) in sent.iter().enumerate() {
        let mut n = 0;
        while pos + n < got.len() && n < piece.len() && (n == 0 || got[pos + n] != 0xFF) {
            n += 1;
        }
        if got[pos..pos + n] != piece[..n] {
            // This piece sent nothing: what is here is a later one.
            assert!(
                !full,
                "{kind:?}: full piece {i} missing or corrupt at {pos}"
            );
            none += 1;
            continue;
        }
        if *full {
            assert_eq!(n, piece.len(), "{kind:?}: full piece {i} short at {pos}");
        }
        if n == piece.len() {
            whole += 1;
        } else {
            partial += 1;
        }
        pos += n;
    }
    eprintln!(
        "{kind:?}: pieces cut off with nothing sent {none}, partly sent {partial}, whole {whole}"
    );
    assert_eq!(
        pos,
        got.len(),
        "{kind:?}: trailing bytes after the last piece"
    );
}
