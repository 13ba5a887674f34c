//! Outside tests (issue 22): the hand-written `read`/`write`/`write_all`
//! futures of streams, halves and child pipes, dropped at every point, on
//! both drivers, written against the public API only.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use curing::buf::IoBuf;
use curing::net::{TcpStream, UnixStream};
use curing::process::{Command, Stdio};
use curing::time::{sleep, timeout};

mod outside22_common;
use outside22_common::{on_both, pattern, poll_once, seed, tcp_pair, write_in_pieces, Rng};

/// What a reader in the storm does with each read: cut it off in one of
/// several ways, or let it finish.
async fn storm_read<Fut>(rng: &mut Rng, make: impl Fn(Vec<u8>) -> Fut, got: &mut Vec<u8>) -> bool
where
    Fut: Future<Output = curing::buf::BufResult<usize, Vec<u8>>>,
{
    let size = 1 + rng.below(70_000) as usize;
    match rng.below(6) {
        // dropped before its first poll
        0 => {
            drop(make(vec![0u8; size]));
            true
        }
        // polled once, then dropped
        1 => {
            let mut f = Box::pin(make(vec![0u8; size]));
            if let Some((res, buf)) = poll_once(&mut f).await {
                let n = res.unwrap();
                got.extend_from_slice(&buf[..n]);
                return n != 0;
            }
            true
        }
        // a tiny random timeout
        2 | 3 => {
            let d = Duration::from_micros(rng.below(300));
            match timeout(d, make(vec![0u8; size])).await {
                Ok((res, buf)) => {
                    let n = res.unwrap();
                    got.extend_from_slice(&buf[..n]);
                    n != 0
                }
                Err(_) => true,
            }
        }
        // an empty buffer: Ok(0) at once, not end of stream
        4 => {
            let (res, _) = make(Vec::new()).await;
            assert_eq!(res.unwrap(), 0, "empty-buffer read");
            true
        }
        // a plain read
        _ => {
            let (res, buf) = make(vec![0u8; size]).await;
            let n = res.unwrap();
            got.extend_from_slice(&buf[..n]);
            n != 0
        }
    }
}

const STORM_LEN: usize = 3 << 20;

#[test]
fn read_storm_tcp_exact_bytes() {
    on_both(|kind| async move {
        let (a, b) = tcp_pair().await;
        let data = Rc::new(pattern(STORM_LEN, 7));
        let d2 = data.clone();
        let writer = curing::spawn(async move {
            write_in_pieces(&d2, Rng(seed(99)), 100_000, |c| a.write_all(c)).await;
            a.close().await.unwrap();
        });
        let mut rng = Rng(seed(12345));
        let mut got = Vec::new();
        while storm_read(&mut rng, |buf| b.read(buf), &mut got).await {}
        writer.await.unwrap();
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == *data, "{kind:?}: bytes differ");
    });
}

#[test]
fn read_storm_unix_halves_exact_bytes() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let (br, _bw) = b.into_split();
        let (_ar, aw) = a.into_split();
        let data = Rc::new(pattern(STORM_LEN, 8));
        let d2 = data.clone();
        let writer = curing::spawn(async move {
            write_in_pieces(&d2, Rng(seed(5)), 50_000, |c| aw.write_all(c)).await;
            aw.shutdown(std::net::Shutdown::Write).await.unwrap();
        });
        let mut rng = Rng(seed(777));
        let mut got = Vec::new();
        while storm_read(&mut rng, |buf| br.read(buf), &mut got).await {}
        writer.await.unwrap();
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == *data, "{kind:?}: bytes differ");
    });
}

#[test]
fn read_storm_child_pipe_exact_bytes() {
    on_both(|kind| async move {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let data = Rc::new(pattern(1 << 20, 9));
        let d2 = data.clone();
        let writer = curing::spawn(async move {
            write_in_pieces(&d2, Rng(seed(3)), 30_000, |c| stdin.write_all(c)).await;
            stdin.close().await.unwrap();
        });
        let mut rng = Rng(seed(4242));
        let mut got = Vec::new();
        while storm_read(&mut rng, |buf| stdout.read(buf), &mut got).await {}
        writer.await.unwrap();
        assert!(child.wait().await.unwrap().success());
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == *data, "{kind:?}: bytes differ");
    });
}

/// Many reads on one stream at once: they are served in the order they
/// were first polled, and dropping some of them mid-way loses nothing.
#[test]
fn concurrent_reads_in_order_with_drops() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let b = Rc::new(b);
        let data = pattern(64 * 1000, 11);
        // 16 reads of 1000 bytes, all polled once (all pending).
        let mut futs: Vec<_> = (0..16).map(|_| Box::pin(b.read(vec![0u8; 1000]))).collect();
        for f in futs.iter_mut() {
            assert!(poll_once(f).await.is_none(), "{kind:?}: ready with no data");
        }
        // Drop every third one while pending.
        let mut kept = Vec::new();
        for (i, f) in futs.into_iter().enumerate() {
            if i % 3 == 1 {
                drop(f);
            } else {
                kept.push(f);
            }
        }
        let (res, _) = a.write_all(data.clone()).await;
        res.unwrap();
        a.shutdown(std::net::Shutdown::Write).await.unwrap();
        let mut got = Vec::new();
        for f in kept {
            let (res, buf) = f.await;
            let n = res.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        loop {
            let (res, buf) = b.read(vec![0u8; 4096]).await;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == data, "{kind:?}: bytes out of order or lost");
    });
}

/// Reads racing each other from separate tasks (Rc): every byte once.
#[test]
fn concurrent_reader_tasks_every_byte_once() {
    on_both(|kind| async move {
        let (a, b) = tcp_pair().await;
        let b = Rc::new(b);
        // Each chunk carries its index, so the reader tasks' pieces can be
        // checked without knowing which task got what.
        let total = 2 << 20;
        let data = Rc::new(pattern(total, 13));
        let d2 = data.clone();
        let writer = curing::spawn(async move {
            let mut off = 0;
            while off < d2.len() {
                let n = 40_000.min(d2.len() - off);
                a.write_all(d2[off..off + n].to_vec()).await.0.unwrap();
                off += n;
            }
            a.close().await.unwrap();
        });
        // Sequence numbers: a shared counter taken right before each read is
        // first polled; reads are served in that order.
        let seq = Rc::new(std::cell::Cell::new(0u64));
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let b = b.clone();
            let seq = seq.clone();
            tasks.push(curing::spawn(async move {
                let mut rng = Rng(seed(t + 100));
                let mut pieces = Vec::new();
                loop {
                    let size = 1 + rng.below(20_000) as usize;
                    let mut f = Box::pin(b.read(vec![0u8; size]));
                    let my = seq.get();
                    seq.set(my + 1);
                    let out = match poll_once(&mut f).await {
                        Some(out) => out,
                        None => f.await,
                    };
                    let n = out.0.unwrap();
                    if n == 0 {
                        break;
                    }
                    pieces.push((my, out.1[..n].to_vec()));
                }
                pieces
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        writer.await.unwrap();
        all.sort_by_key(|p| p.0);
        let got: Vec<u8> = all.into_iter().flat_map(|p| p.1).collect();
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == *data, "{kind:?}: bytes out of order or lost");
    });
}

/// Polling a read future again after it returned Ready: a clear panic,
/// not UB or a hang.
#[test]
fn poll_after_ready_panics() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"x".to_vec()).await.0.unwrap();
        let mut f = Box::pin(b.read(vec![0u8; 8]));
        let (res, _) = (&mut f).await;
        assert_eq!(res.unwrap(), 1);
        let again = std::future::poll_fn(|cx: &mut Context<'_>| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f.as_mut().poll(cx).is_ready()
            }));
            Poll::Ready(r)
        })
        .await;
        assert!(
            again.is_err(),
            "{kind:?}: second poll returned {again:?}, expected a panic"
        );
        // And the same for write_all.
        let mut w = Box::pin(a.write_all(b"yz".to_vec()));
        (&mut w).await.0.unwrap();
        let again = std::future::poll_fn(|cx: &mut Context<'_>| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                w.as_mut().poll(cx).is_ready()
            }));
            Poll::Ready(r)
        })
        .await;
        assert!(
            again.is_err(),
            "{kind:?}: write_all second poll returned {again:?}"
        );
        // The stream still works after that.
        let (res, buf) = b.read(vec![0u8; 8]).await;
        assert_eq!(&buf[..res.unwrap()], b"yz", "{kind:?}");
    });
}

/// End of stream and reset peers, with dropped reads before them.
#[test]
fn closed_and_reset_peers() {
    on_both(|kind| async move {
        // Peer closes while a read is in flight and then dropped: the next
        // read sees the end (Ok(0)), and keeps seeing it.
        let (a, b) = UnixStream::pair().unwrap();
        let mut f = Box::pin(b.read(vec![0u8; 8]));
        assert!(poll_once(&mut f).await.is_none());
        a.write_all(b"last".to_vec()).await.0.unwrap();
        drop(a);
        sleep(Duration::from_millis(5)).await;
        drop(f);
        let (res, buf) = b.read(vec![0u8; 8]).await;
        assert_eq!(&buf[..res.unwrap()], b"last", "{kind:?}");
        for _ in 0..3 {
            assert_eq!(b.read(vec![0u8; 8]).await.0.unwrap(), 0, "{kind:?}");
        }
        // An empty buffer on a closed stream: still Ok(0).
        assert_eq!(b.read(Vec::new()).await.0.unwrap(), 0, "{kind:?}");
        // Writing to a closed peer: an error, no SIGPIPE, buffer back.
        let (res, buf) = b.write_all(vec![1u8; 100_000]).await;
        assert!(res.is_err(), "{kind:?}: write to closed peer succeeded");
        assert_eq!(buf.len(), 100_000);

        // TCP reset: linger 0 then drop.
        let (a, b) = tcp_pair().await;
        a.set_linger(Some(Duration::ZERO)).unwrap();
        let mut f = Box::pin(b.read(vec![0u8; 8]));
        assert!(poll_once(&mut f).await.is_none());
        drop(a);
        sleep(Duration::from_millis(5)).await;
        drop(f);
        let (res, _) = b.read(vec![0u8; 8]).await;
        let e = res.expect_err("read after reset");
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset,
            "{kind:?}: {e}"
        );
    });
}

/// A write_all of a 64 MiB buffer whose future is dropped before the
/// kernel took it all, then the stream dropped at once: nothing hangs,
/// and the next runtime use is fine.
#[test]
fn drop_stream_with_dropped_write_in_flight() {
    on_both(|kind| async move {
        for _ in 0..5 {
            let (a, b) = UnixStream::pair().unwrap();
            let big = vec![7u8; 64 << 20];
            let r = timeout(Duration::from_millis(2), a.write_all(big)).await;
            assert!(r.is_err(), "{kind:?}");
            drop(a);
            // The reader sees a prefix then end of stream (or a reset).
            let (res, out) = b.read_to_end(Vec::new()).await;
            if let Err(e) = res {
                assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset,
                    "{kind:?}: {e}"
                );
            }
            assert!(out.iter().all(|&x| x == 7), "{kind:?}");
        }
        // Slices: write_all of a slice dropped mid-way gives the slice back? No:
        // the future is gone. A fresh write still works.
        let (a, b) = UnixStream::pair().unwrap();
        let buf = vec![3u8; 10].slice(2..5);
        a.write_all(buf).await.0.unwrap();
        drop(a);
        let (_, out) = b.read_to_end(Vec::new()).await;
        assert_eq!(out, vec![3u8; 3], "{kind:?}");
    });
}

/// Two reads queued on one stream; the first one's op got bytes, then the
/// first future is dropped before it is polled again: the second read
/// returns those bytes (it does not wait for new ones), and a third read
/// gets what comes after.
#[test]
fn dropped_first_read_bytes_go_to_queued_second() {
    on_both(|kind| async move {
        for tcp in [false, true] {
            let (a, b): (Box<dyn StreamWDyn>, Rc<dyn StreamRDyn>) = if tcp {
                let (a, b) = tcp_pair().await;
                (Box::new(a), Rc::new(b))
            } else {
                let (a, b) = UnixStream::pair().unwrap();
                (Box::new(a), Rc::new(b))
            };
            let mut r1 = b.read_dyn(vec![0u8; 64]);
            let mut r2 = b.read_dyn(vec![0u8; 64]);
            assert!(poll_once(&mut r1).await.is_none());
            assert!(poll_once(&mut r2).await.is_none());
            a.write_all_dyn(b"AAAA".to_vec()).await.0.unwrap();
            sleep(Duration::from_millis(10)).await;
            drop(r1);
            let out = timeout(Duration::from_secs(2), &mut r2).await;
            let (res, buf) = out.unwrap_or_else(|_| {
                panic!("{kind:?} tcp={tcp}: the queued read never got the dropped read's bytes")
            });
            assert_eq!(&buf[..res.unwrap()], b"AAAA", "{kind:?} tcp={tcp}");
            a.write_all_dyn(b"BB".to_vec()).await.0.unwrap();
            let (res, buf) = b.read_dyn(vec![0u8; 64]).await;
            assert_eq!(&buf[..res.unwrap()], b"BB", "{kind:?} tcp={tcp}");
        }
    });
}

type DynRead<'a> = Pin<Box<dyn Future<Output = curing::buf::BufResult<usize, Vec<u8>>> + 'a>>;
type DynWrite<'a> = Pin<Box<dyn Future<Output = curing::buf::BufResult<(), Vec<u8>>> + 'a>>;
trait StreamRDyn {
    fn read_dyn(&self, buf: Vec<u8>) -> DynRead<'_>;
}
trait StreamWDyn {
    fn write_all_dyn(&self, buf: Vec<u8>) -> DynWrite<'_>;
}
impl StreamRDyn for TcpStream {
    fn read_dyn(&self, buf: Vec<u8>) -> DynRead<'_> {
        Box::pin(self.read(buf))
    }
}
impl StreamRDyn for UnixStream {
    fn read_dyn(&self, buf: Vec<u8>) -> DynRead<'_> {
        Box::pin(self.read(buf))
    }
}
impl StreamWDyn for TcpStream {
    fn write_all_dyn(&self, buf: Vec<u8>) -> DynWrite<'_> {
        Box::pin(self.write_all(buf))
    }
}
impl StreamWDyn for UnixStream {
    fn write_all_dyn(&self, buf: Vec<u8>) -> DynWrite<'_> {
        Box::pin(self.write_all(buf))
    }
}

/// Stashed bytes handed out through small and empty buffers, in order.
#[test]
fn stash_through_small_and_empty_buffers() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let mut r = Box::pin(b.read(vec![0u8; 64]));
        assert!(poll_once(&mut r).await.is_none());
        a.write_all(b"ABCDEFGH".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(10)).await;
        drop(r);
        a.write_all(b"IJ".to_vec()).await.0.unwrap();
        let mut got = Vec::new();
        for size in [2usize, 0, 3, 0, 1, 64, 64] {
            if got.len() == 10 {
                break;
            }
            let (res, buf) = b.read(vec![0u8; size]).await;
            let n = res.unwrap();
            assert!(n <= size, "{kind:?}");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"ABCDEFGHIJ", "{kind:?}");
    });
}

/// Every read loses a `select!` against `yield_now` unless it is ready at
/// its first poll: the byte stream still comes through whole.
#[test]
fn select_against_yield_every_read_cut_off() {
    on_both(|kind| async move {
        let (a, b) = tcp_pair().await;
        let data = Rc::new(pattern(1 << 20, 41));
        let d2 = data.clone();
        let writer = curing::spawn(async move {
            for c in d2.chunks(10_000) {
                a.write_all(c.to_vec()).await.0.unwrap();
            }
            a.close().await.unwrap();
        });
        let mut got = Vec::new();
        let mut lost_races = 0u64;
        let mut spins = 0u64;
        loop {
            spins += 1;
            assert!(spins < 50_000_000, "{kind:?}: no progress");
            let done = curing::select! {
                r = b.read(vec![0u8; 8192]) => {
                    let (res, buf) = r;
                    let n = res.unwrap();
                    got.extend_from_slice(&buf[..n]);
                    n == 0
                }
                _ = curing::yield_now() => { lost_races += 1; false }
            };
            if done {
                break;
            }
        }
        writer.await.unwrap();
        eprintln!("{kind:?}: {lost_races} reads cut off by select!");
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == *data, "{kind:?}: bytes differ");
    });
}
