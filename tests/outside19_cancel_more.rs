//! Outside tester's tests (issue 19): more cancellation edge cases: the read
//! stash across split/reunite, queued reads dropped in either order, cut-off
//! reads and writes then close or drop, received descriptors of a cut-off
//! receive, stats counters, thread-per-core runtimes.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
use curing::net::{TcpListener, TcpStream, UnixStream};
#[allow(unused_imports)]
use outside19_common::*;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Poll `f` once; return the still-pending future or the output.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    struct P<'a, F>(&'a mut F);
    impl<F: Future + Unpin> Future for P<'_, F> {
        type Output = Option<F::Output>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            match Pin::new(&mut *self.0).poll(cx) {
                Poll::Ready(v) => Poll::Ready(Some(v)),
                Poll::Pending => Poll::Ready(None),
            }
        }
    }
    P(f).await
}

async fn settle() {
    for _ in 0..5 {
        curing::yield_now().await;
    }
    curing::time::sleep(Duration::from_millis(5)).await;
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let c = curing::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (s, _) = l.accept().await.unwrap();
    (c.await.unwrap(), s)
}

#[test]
fn stash_survives_into_split_and_reunite() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = tcp_pair().await;
        // cut a read that gets "AB"
        {
            let mut f = Box::pin(b.read(vec![0u8; 2]));
            assert!(poll_once(&mut f).await.is_none());
            let (r, _) = a.write_all(b"ABCD".to_vec()).await;
            r.unwrap();
            settle().await;
            drop(f);
        }
        let (br, bw) = b.into_split();
        let (r, buf) = br.read_exact(vec![0u8; 1]).await;
        r.unwrap();
        assert_eq!(&buf, b"A", "stash lost across into_split");
        // cut on the half, then reunite
        {
            let mut f = Box::pin(br.read(vec![0u8; 1]));
            let got = poll_once(&mut f).await;
            if let Some((r, buf)) = got {
                // data already there
                assert_eq!(r.unwrap(), 1);
                assert_eq!(&buf, b"B");
            } else {
                settle().await;
                drop(f);
                let b = br.reunite(bw).unwrap();
                let (r, buf) = b.read_exact(vec![0u8; 3]).await;
                r.unwrap();
                assert_eq!(&buf, b"BCD");
                return;
            }
        }
        let b = br.reunite(bw).unwrap();
        let (r, buf) = b.read_exact(vec![0u8; 2]).await;
        r.unwrap();
        assert_eq!(&buf, b"CD");
    });
}

#[test]
fn drop_first_of_two_queued_reads() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let b = Rc::new(b);
        let mut f1 = Box::pin(b.read(vec![0u8; 3]));
        assert!(poll_once(&mut f1).await.is_none());
        let b2 = b.clone();
        let t2 = curing::spawn(async move { b2.read_exact(vec![0u8; 6]).await });
        settle().await;
        drop(f1);
        let (r, _) = a.write_all(b"123456".to_vec()).await;
        r.unwrap();
        let (r, buf) = curing::time::timeout(Duration::from_secs(2), t2)
            .await
            .expect("second read stuck after first dropped")
            .unwrap();
        r.unwrap();
        assert_eq!(&buf, b"123456");
    });
}

#[test]
fn drop_second_queued_read_while_first_pending() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let b = Rc::new(b);
        let b1 = b.clone();
        let t1 = curing::spawn(async move { b1.read_exact(vec![0u8; 3]).await });
        settle().await;
        let mut f2 = Box::pin(b.read(vec![0u8; 3]));
        assert!(poll_once(&mut f2).await.is_none());
        drop(f2);
        let (r, _) = a.write_all(b"abcdef".to_vec()).await;
        r.unwrap();
        let (r, buf) = t1.await.unwrap();
        r.unwrap();
        assert_eq!(&buf, b"abc");
        let (r, buf) = b.read_exact(vec![0u8; 3]).await;
        r.unwrap();
        assert_eq!(&buf, b"def");
    });
}

#[test]
fn cut_read_then_close_leaks_nothing() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        for _ in 0..50 {
            let (a, b) = tcp_pair().await;
            let mut f = Box::pin(b.read(vec![0u8; 100]));
            assert!(poll_once(&mut f).await.is_none());
            let (r, _) = a.write_all(vec![1u8; 50]).await;
            r.unwrap();
            settle().await;
            drop(f);
            b.close().await.unwrap();
            a.close().await.unwrap();
        }
        // close with a read still in flight held by another task
        let (a, b) = UnixStream::pair().unwrap();
        let b = Rc::new(b);
        let b2 = b.clone();
        let t = curing::spawn(async move { b2.read(vec![0u8; 10]).await.0.map(|_| ()) });
        settle().await;
        t.abort();
        let _ = t.await;
        let b = Rc::try_unwrap(b).ok().unwrap();
        let r = curing::time::timeout(Duration::from_secs(2), b.close()).await;
        assert!(matches!(r, Ok(Ok(()))), "close after aborted read: {r:?}");
        drop(a);
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn cut_write_all_then_drop_no_panic_no_leak() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_send_buffer_size(4096).unwrap();
        let mut f = Box::pin(a.write_all(vec![9u8; 4_000_000]));
        assert!(poll_once(&mut f).await.is_none());
        settle().await;
        drop(f);
        // read what arrived
        let mut n = 0;
        while let Ok((r, _)) =
            curing::time::timeout(Duration::from_millis(50), b.read(vec![0u8; 65536])).await
        {
            let k = r.unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        eprintln!("cut write_all delivered {n} bytes");
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn cut_recv_with_fds_then_plain_read() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open(SMALL_FILE).unwrap();
        let mut fut = Box::pin(b.recv_with_fds(vec![0u8; 8], 4));
        assert!(poll_once(&mut fut).await.is_none());
        let (r, _) = a
            .send_with_fds(b"fdfd".to_vec(), &[std::os::fd::AsFd::as_fd(&f)])
            .await;
        r.unwrap();
        settle().await;
        drop(fut);
        let (r, buf) = b.read(vec![0u8; 8]).await;
        let n = r.unwrap();
        assert_eq!(&buf[..n], b"fdfd");
        drop(f);
    });
    assert_eq!(
        fd_count(),
        before,
        "fd received by a cut-off recv_with_fds and then read() leaked"
    );
}

#[test]
fn file_regular_read_cut_then_next_read() {
    let _guard = guard();
    curing::run(async {
        let p = tmp("o19-seqcut");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(p, &data).unwrap();
        let f = curing::fs::File::open(p).await.unwrap();
        let mut got = Vec::new();
        let mut i = 0u32;
        loop {
            i += 1;
            let mut fut = Box::pin(f.read(vec![0u8; 1000 + (i as usize % 7) * 300]));
            match poll_once(&mut fut).await {
                Some((r, b)) => {
                    let n = r.unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&b[..n]);
                }
                None => {
                    if i % 2 == 0 {
                        settle().await;
                    }
                    drop(fut);
                }
            }
            if i > 100_000 {
                panic!("no progress");
            }
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data);
        // read_to_end cut-off on regular file
        let f = curing::fs::File::open(p).await.unwrap();
        let mut fut = Box::pin(f.read_to_end(Vec::new()));
        let first = poll_once(&mut fut).await;
        let mut got = Vec::new();
        if let Some((r, b)) = first {
            r.unwrap();
            got = b;
        } else {
            curing::yield_now().await;
            drop(fut);
            let (r, b) = f.read_to_end(Vec::new()).await;
            r.unwrap();
            got.extend_from_slice(&b);
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data);
    });
}

/// The program's ops in flight never exceed those submitted and not yet
/// completed (the runtime's own wake-up read is in none of the counters).
fn check_in_flight(when: &str) {
    let s = curing::runtime::stats();
    eprintln!(
        "{when}: submitted {} completed {} in_flight {}",
        s.ops_submitted, s.ops_completed, s.ops_in_flight
    );
    assert!(
        s.ops_in_flight as u64 <= s.ops_submitted - s.ops_completed,
        "{when}: in flight {} > submitted {} - completed {}",
        s.ops_in_flight,
        s.ops_submitted,
        s.ops_completed
    );
}

#[test]
fn stats_in_flight_consistency() {
    let _guard = guard();
    curing::run(async {
        check_in_flight("fresh runtime");
        curing::time::sleep(Duration::from_millis(5)).await;
        check_in_flight("after a sleep");
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        curing::spawn(async move {
            let _ = l.accept().await;
        });
        curing::time::sleep(Duration::from_millis(5)).await;
        check_in_flight("accept pending");
        let (_a, b) = UnixStream::pair().unwrap();
        curing::spawn(async move {
            let _ = b.read(vec![0u8; 1]).await;
        });
        curing::time::sleep(Duration::from_millis(5)).await;
        check_in_flight("+read pending");
        let mut c = curing::process::Command::new("sleep")
            .arg("5")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        curing::spawn(async move {
            let _ = c.wait().await;
        });
        curing::time::sleep(Duration::from_millis(5)).await;
        check_in_flight("+wait pending");
    });
}

#[test]
fn thread_per_core_runtime() {
    let _guard = guard();
    let threads = curing::Runtime::builder().threads(2).build_threads();
    match threads {
        Ok(t) => {
            // SO_REUSEPORT listeners on each thread, cross-thread wakes
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let hs = t.spawn_each(move |i| async move {
                let l = curing::net::TcpListener::bind_with(
                    ("127.0.0.1", port),
                    &curing::net::BindOptions::new().reuseport(true),
                )
                .unwrap();
                let mut n = 0;
                while let Ok(Ok((s, _))) =
                    curing::time::timeout(Duration::from_millis(300), l.accept()).await
                {
                    let (r, b) = s.read(vec![0u8; 4]).await;
                    let k = r.unwrap();
                    let (r, _) = s.write_all(b[..k].to_vec()).await;
                    r.unwrap();
                    n += 1;
                }
                (i, n)
            });
            std::thread::sleep(Duration::from_millis(50));
            for _ in 0..40 {
                use std::io::{Read, Write};
                let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.write_all(b"ping").unwrap();
                let mut b = [0u8; 4];
                c.read_exact(&mut b).unwrap();
                assert_eq!(&b, b"ping");
            }
            let res: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            eprintln!("per-thread accepts {res:?}");
            assert_eq!(res.iter().map(|r| r.1).sum::<i32>(), 40);
            let ids =
                t.block_on_each(|i| async move { curing::runtime::thread_index() == Some(i) });
            assert!(ids.iter().all(|x| *x));
            drop(t);
        }
        Err(e) => panic!("build_threads: {e}"),
    }
}
