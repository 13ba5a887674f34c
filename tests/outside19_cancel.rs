//! Outside tester's tests (issue 19): the cancellation contract under random
//! cut-offs: cut-off reads lose nothing and duplicate nothing (TCP, Unix,
//! halves, pipes, files, child stdout, datagrams), dropped
//! accepts/connects/opens leak no descriptor.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
use curing::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
#[allow(unused_imports)]
use outside19_common::*;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

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

/// Polls `f` at most `n` times; drops it after the n-th Pending.
struct PollN<F> {
    f: Option<Pin<Box<F>>>,
    left: usize,
}
impl<F: Future> Future for PollN<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let f = this.f.as_mut().unwrap();
        match f.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending => {
                this.left -= 1;
                if this.left == 0 {
                    this.f = None;
                    // give the runtime a turn so completions can arrive after drop
                    cx.waker().wake_by_ref();
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                }
            }
        }
    }
}
fn poll_n<F: Future>(f: F, n: usize) -> PollN<F> {
    PollN {
        f: Some(Box::pin(f)),
        left: n.max(1),
    }
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let c = curing::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (s, _) = l.accept().await.unwrap();
    (c.await.unwrap(), s)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 256) % 256) as u8).collect()
}

// kind: 0 read, 1 read_exact, 2 mixed
macro_rules! storm {
    ($reader:expr, $writer:expr, $seed:expr, $total:expr) => {{
        let reader = $reader;
        let writer = $writer;
        let total: usize = $total;
        let data = pattern(total);
        let d2 = data.clone();
        let mut rng = Rng($seed);
        let w = curing::spawn(async move {
            let mut rng = Rng($seed ^ 0xdead);
            let mut off = 0;
            while off < d2.len() {
                let n = (1 + rng.below(5000) as usize).min(d2.len() - off);
                let (r, _) = writer.write_all(d2[off..off + n].to_vec()).await;
                r.unwrap();
                off += n;
                if rng.below(4) == 0 {
                    curing::time::sleep(Duration::from_micros(rng.below(300))).await;
                }
            }
            writer
        });
        let mut got: Vec<u8> = Vec::new();
        let mut cut = 0u32;
        loop {
            if got.len() >= total {
                break;
            }
            let sz = 1 + rng.below(8000) as usize;
            let polls = 1 + rng.below(3) as usize;
            let mode = rng.below(3);
            if mode == 0 {
                match poll_n(reader.read(vec![0u8; sz]), polls).await {
                    Some((r, b)) => {
                        let n = r.unwrap();
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&b[..n]);
                    }
                    None => cut += 1,
                }
            } else if mode == 1 {
                let sz = sz.min(total - got.len()).max(1);
                match poll_n(reader.read_exact(vec![0u8; sz]), polls).await {
                    Some((r, b)) => {
                        r.unwrap();
                        got.extend_from_slice(&b);
                    }
                    None => cut += 1,
                }
            } else {
                // timeout-based cut
                let d = Duration::from_micros(rng.below(200));
                match curing::time::timeout(d, reader.read(vec![0u8; sz])).await {
                    Ok((r, b)) => {
                        let n = r.unwrap();
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&b[..n]);
                    }
                    Err(_) => cut += 1,
                }
            }
            if got.len() > total {
                panic!("too many bytes");
            }
        }
        let _writer = w.await.unwrap();
        assert_eq!(got.len(), data.len(), "lost/extra bytes (cut {cut})");
        let first_bad = got.iter().zip(data.iter()).position(|(a, b)| a != b);
        assert!(first_bad.is_none(), "mismatch at {first_bad:?} (cut {cut})");
        eprintln!("cut {cut} reads");
    }};
}

#[test]
fn tcp_storm() {
    let _guard = guard();
    let before = fd_count();
    for seed in 1..6u64 {
        curing::run(async move {
            let (a, b) = tcp_pair().await;
            // writer closes via wrapper: shutdown after writing
            let a = Rc::new(a);
            let a2 = a.clone();
            struct W(Rc<TcpStream>);
            impl W {
                async fn write_all(&self, v: Vec<u8>) -> curing::buf::BufResult<(), Vec<u8>> {
                    self.0.write_all(v).await
                }
            }
            let b = Rc::new(b);
            let w = W(a2);
            let fin = {
                let a = a.clone();
                async move {
                    a.shutdown(std::net::Shutdown::Write).await.unwrap();
                }
            };
            // run storm; writer shuts down when done
            let total = 400_000;
            let writer = w;
            let reader = b.clone();
            let wh = curing::spawn(async move {
                let d = pattern(total);
                let mut rng = Rng(seed ^ 0xdead);
                let mut off = 0;
                while off < d.len() {
                    let n = (1 + rng.below(5000) as usize).min(d.len() - off);
                    let (r, _) = writer.write_all(d[off..off + n].to_vec()).await;
                    r.unwrap();
                    off += n;
                    if rng.below(4) == 0 {
                        curing::time::sleep(Duration::from_micros(rng.below(300))).await;
                    }
                }
                fin.await;
            });
            let mut rng = Rng(seed);
            let mut got = Vec::new();
            let mut cut = 0;
            loop {
                let sz = 1 + rng.below(8000) as usize;
                let polls = 1 + rng.below(3) as usize;
                match rng.below(3) {
                    0 => match poll_n(reader.read(vec![0u8; sz]), polls).await {
                        Some((r, bb)) => {
                            let n = r.unwrap();
                            if n == 0 {
                                break;
                            }
                            got.extend_from_slice(&bb[..n]);
                        }
                        None => cut += 1,
                    },
                    1 => {
                        let sz = sz.min(total - got.len());
                        if sz == 0 {
                            let (r, _) = reader.read(vec![0u8; 10]).await;
                            assert_eq!(r.unwrap(), 0);
                            break;
                        }
                        match poll_n(reader.read_exact(vec![0u8; sz]), polls).await {
                            Some((r, bb)) => {
                                r.unwrap();
                                got.extend_from_slice(&bb);
                            }
                            None => cut += 1,
                        }
                    }
                    _ => {
                        let d = Duration::from_micros(rng.below(200));
                        match curing::time::timeout(d, reader.read(vec![0u8; sz])).await {
                            Ok((r, bb)) => {
                                let n = r.unwrap();
                                if n == 0 {
                                    break;
                                }
                                got.extend_from_slice(&bb[..n]);
                            }
                            Err(_) => cut += 1,
                        }
                    }
                }
            }
            wh.await.unwrap();
            let data = pattern(total);
            assert_eq!(got.len(), data.len(), "seed {seed} cut {cut}");
            assert!(
                got == data,
                "seed {seed} mismatch at {:?}",
                got.iter().zip(data.iter()).position(|(a, b)| a != b)
            );
            eprintln!("tcp seed {seed}: cut {cut}");
        });
    }
    assert_eq!(fd_count(), before);
}

#[test]
fn unix_storm_and_halves_storm() {
    let _guard = guard();
    let before = fd_count();
    for seed in 10..13u64 {
        curing::run(async move {
            let (a, b) = UnixStream::pair().unwrap();
            storm!(Rc::new(b), a, seed, 300_000);
        });
    }
    for seed in 20..23u64 {
        curing::run(async move {
            let (a, b) = tcp_pair().await;
            let (br, _bw) = b.into_split();
            let (_ar, aw) = a.into_split();
            storm!(Rc::new(br), aw, seed, 300_000);
        });
    }
    assert_eq!(fd_count(), before);
}

#[test]
fn pipe_file_and_child_stdout_storm() {
    let _guard = guard();
    let before = fd_count();
    for seed in 30..33u64 {
        curing::run(async move {
            use curing::process::{Command, Stdio};
            let total = 200_000usize;
            let data = pattern(total);
            std::fs::write(format!("{}/o19pat{seed}", tmp_dir()), &data).unwrap();
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "dd if={}/o19pat{seed} bs=997 status=none",
                    tmp_dir()
                ))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let out = child.stdout.take().unwrap();
            let mut rng = Rng(seed);
            let mut got = Vec::new();
            let mut cut = 0;
            loop {
                let sz = 1 + rng.below(8000) as usize;
                if rng.below(2) == 0 {
                    match poll_n(out.read(vec![0u8; sz]), 1 + rng.below(3) as usize).await {
                        Some((r, bb)) => {
                            let n = r.unwrap();
                            if n == 0 {
                                break;
                            }
                            got.extend_from_slice(&bb[..n]);
                        }
                        None => cut += 1,
                    }
                } else {
                    // cut-off read_to_end: its bytes must go to the next read
                    match poll_n(out.read_to_end(Vec::new()), 1 + rng.below(4) as usize).await {
                        Some((r, bb)) => {
                            r.unwrap();
                            got.extend_from_slice(&bb);
                            break;
                        }
                        None => cut += 1,
                    }
                }
            }
            child.wait().await.unwrap();
            assert_eq!(got.len(), total, "seed {seed} cut {cut}");
            assert!(got == data);
            eprintln!("child seed {seed}: cut {cut}");
            std::fs::remove_file(format!("{}/o19pat{seed}", tmp_dir())).unwrap();
        });
    }
    assert_eq!(fd_count(), before);
}

#[test]
fn file_read_to_end_cut_off_on_pipe() {
    let _guard = guard();
    for seed in 40..44u64 {
        curing::run(async move {
            let mut fds = [0; 2];
            // SAFETY: `fds` has room for the two descriptors pipe() writes.
            unsafe { libc::pipe(fds.as_mut_ptr()) };
            use std::os::fd::FromRawFd;
            // SAFETY: pipe() just created both descriptors; each is owned once, here.
            let rf = curing::fs::File::from(unsafe { std::fs::File::from_raw_fd(fds[0]) });
            let wf = curing::fs::File::from(unsafe { std::fs::File::from_raw_fd(fds[1]) });
            let total = 200_000;
            let data = pattern(total);
            let d2 = data.clone();
            let t = curing::spawn(async move {
                let mut rng = Rng(seed ^ 77);
                let mut off = 0;
                while off < d2.len() {
                    let n = (1 + rng.below(3000) as usize).min(d2.len() - off);
                    let (r, _) = wf.write_all(d2[off..off + n].to_vec()).await;
                    r.unwrap();
                    off += n;
                    if rng.below(3) == 0 {
                        curing::time::sleep(Duration::from_micros(rng.below(200))).await;
                    }
                }
                wf.close().await.unwrap();
            });
            let mut rng = Rng(seed);
            let mut got = Vec::new();
            let mut cut = 0;
            loop {
                if rng.below(2) == 0 {
                    match poll_n(
                        rf.read(vec![0u8; 1 + rng.below(5000) as usize]),
                        1 + rng.below(3) as usize,
                    )
                    .await
                    {
                        Some((r, bb)) => {
                            let n = r.unwrap();
                            if n == 0 {
                                break;
                            }
                            got.extend_from_slice(&bb[..n]);
                        }
                        None => cut += 1,
                    }
                } else {
                    match poll_n(rf.read_to_end(Vec::new()), 1 + rng.below(4) as usize).await {
                        Some((r, bb)) => {
                            r.unwrap();
                            got.extend_from_slice(&bb);
                            break;
                        }
                        None => cut += 1,
                    }
                }
            }
            t.await.unwrap();
            assert_eq!(got.len(), total, "seed {seed} cut {cut}");
            assert!(got == data, "seed {seed}");
            eprintln!("pipe seed {seed}: cut {cut}");
        });
    }
}

#[test]
fn udp_dropped_recv_goes_to_next() {
    let _guard = guard();
    curing::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let baddr = b.local_addr().unwrap();
        let mut rng = Rng(99);
        let mut got = Vec::new();
        let mut sent = 0u32;
        for round in 0..300u32 {
            // arm a recv, then data arrives, then drop it
            let fut = b.recv_from(vec![0u8; 64]);
            let p = poll_n(fut, 1).await;
            if let Some((r, buf)) = p {
                let (n, _) = r.unwrap();
                got.push(u32::from_le_bytes(buf[..n].try_into().unwrap()));
            }
            let (r, _) = a.send_to(round.to_le_bytes().to_vec(), baddr).await;
            r.unwrap();
            sent += 1;
            if rng.below(2) == 0 {
                curing::yield_now().await;
            }
        }
        while (got.len() as u32) < sent {
            match curing::time::timeout(Duration::from_millis(200), b.recv_from(vec![0u8; 64]))
                .await
            {
                Ok((r, buf)) => {
                    let (n, _) = r.unwrap();
                    got.push(u32::from_le_bytes(buf[..n].try_into().unwrap()));
                }
                Err(_) => break,
            }
        }
        assert_eq!(got.len() as u32, sent, "datagrams lost");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order");
    });
}

#[test]
fn dropped_accept_connect_open_leak_nothing() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let l = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = l.local_addr().unwrap();
        let mut rng = Rng(5);
        let mut clients = Vec::new();
        for _ in 0..200 {
            let lf = poll_n(l.accept(), 1 + rng.below(2) as usize);
            let c = std::net::TcpStream::connect(addr).unwrap();
            if let Some(r) = lf.await {
                drop(r);
            }
            clients.push(c);
            let _ = poll_n(TcpStream::connect(addr), 1 + rng.below(3) as usize).await;
            let _ = poll_n(
                curing::fs::File::open(SMALL_FILE),
                1 + rng.below(2) as usize,
            )
            .await;
            let _ = poll_n(
                curing::fs::File::create(tmp("o19-create-test")),
                1 + rng.below(2) as usize,
            )
            .await;
        }
        // accepts of connects that a dropped connect made
        curing::time::sleep(Duration::from_millis(100)).await;
        drop(clients);
        // drain
        while let Ok(r) = curing::time::timeout(Duration::from_millis(50), l.accept()).await {
            drop(r);
        }
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn recv_with_fds_cut_off() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open(SMALL_FILE).unwrap();
        let mut got_fds = 0;
        let mut got_bytes = 0;
        for i in 0..100 {
            let fut = b.recv_with_fds(vec![0u8; 16], 2);
            let p = poll_n(fut, 1).await;
            if let Some((r, _)) = p {
                let (n, fds) = r.unwrap();
                got_bytes += n;
                got_fds += fds.len();
            }
            let (r, _) = a
                .send_with_fds(vec![i as u8; 4], &[std::os::fd::AsFd::as_fd(&f)])
                .await;
            assert_eq!(r.unwrap(), 4);
            curing::yield_now().await;
        }
        while got_bytes < 400 {
            let (r, _) = b.recv_with_fds(vec![0u8; 4], 2).await;
            let (n, fds) = r.unwrap();
            got_bytes += n;
            got_fds += fds.len();
        }
        assert_eq!(got_bytes, 400);
        assert_eq!(got_fds, 100, "descriptors lost on cut-off recv_with_fds");
    });
    assert_eq!(fd_count(), before);
}

#[test]
fn reset_seen_by_dropped_read_goes_to_next() {
    let _guard = guard();
    curing::run(async {
        let (a, b) = tcp_pair().await;
        let (r, _) = a.write_all(b"xyz".to_vec()).await;
        r.unwrap();
        a.set_linger(Some(Duration::ZERO)).unwrap();
        // cut a read that would have got the data
        let _ = poll_n(b.read(vec![0u8; 1]), 1).await;
        drop(a);
        curing::time::sleep(Duration::from_millis(20)).await;
        let mut got = Vec::new();
        loop {
            let (r, buf) = b.read(vec![0u8; 1]).await;
            match r {
                Ok(0) => {
                    eprintln!("eof after {:?}", got);
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => {
                    eprintln!("err {e:?} after {:?}", got);
                    break;
                }
            }
        }
    });
}
