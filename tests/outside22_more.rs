//! Outside tests (issue 22): more edges of the hand-written stream futures
//! on both drivers: read_exact / read_to_end cut off, halves reunited with
//! stashed bytes, empty writes, a runtime dropped with a huge write in
//! flight, and an aborted task holding a read.

use std::time::{Duration, Instant};

use curing::io::BufReader;
use curing::net::UnixStream;
use curing::runtime::DriverKind;
use curing::time::{sleep, timeout};

mod outside22_common;
use outside22_common::{on_both, poll_once, tcp_pair};

fn drivers() -> Vec<(DriverKind, curing::Runtime)> {
    let mut v = Vec::new();
    for kind in [DriverKind::IoUring, DriverKind::Epoll] {
        match curing::Runtime::builder().driver(kind).build() {
            Ok(rt) => v.push((kind, rt)),
            Err(e) if kind == DriverKind::IoUring => eprintln!("no io_uring: {e}"),
            Err(e) => panic!("{e}"),
        }
    }
    v
}

/// A read_exact that got part of its bytes, cut off: the next read_exact
/// gets those bytes first.
#[test]
fn read_exact_cut_off_keeps_partial_bytes() {
    on_both(|kind| async move {
        let (a, b) = tcp_pair().await;
        a.write_all(b"0123456789".to_vec()).await.0.unwrap();
        let r = timeout(Duration::from_millis(20), b.read_exact(vec![0u8; 20])).await;
        assert!(
            r.is_err(),
            "{kind:?}: read_exact of 20 with 10 sent finished"
        );
        a.write_all(b"abcdefghij".to_vec()).await.0.unwrap();
        let (res, buf) = b.read_exact(vec![0u8; 20]).await;
        res.unwrap();
        assert_eq!(&buf[..], b"0123456789abcdefghij", "{kind:?}");
    });
}

/// read_to_end cut off, then the stream ends: the next read_to_end has it all.
#[test]
fn read_to_end_cut_off_then_again() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let d = data.clone();
        let w = curing::spawn(async move {
            for c in d.chunks(7000) {
                a.write_all(c.to_vec()).await.0.unwrap();
                sleep(Duration::from_micros(100)).await;
            }
            a.close().await.unwrap();
        });
        for _ in 0..5 {
            let _ = timeout(Duration::from_millis(1), b.read_to_end(Vec::new())).await;
        }
        let (res, out) = b.read_to_end(Vec::new()).await;
        res.unwrap();
        w.await.unwrap();
        assert_eq!(out.len(), data.len(), "{kind:?}");
        assert!(out == data, "{kind:?}");
    });
}

/// A read half's dropped read got bytes; after reunite, the stream's next
/// read returns them.
#[test]
fn reunite_keeps_stashed_bytes() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let (br, bw) = b.into_split();
        let mut f = Box::pin(br.read(vec![0u8; 16]));
        assert!(poll_once(&mut f).await.is_none());
        a.write_all(b"stash".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(5)).await;
        drop(f);
        let b = br.reunite(bw).expect("reunite");
        let (res, buf) = b.read(vec![0u8; 16]).await;
        assert_eq!(&buf[..res.unwrap()], b"stash", "{kind:?}");
    });
}

/// Empty writes: write returns Ok(0), write_all Ok(()), nothing sent.
#[test]
fn empty_writes() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write(Vec::new()).await;
        assert_eq!(res.unwrap(), 0, "{kind:?}");
        a.write_all(Vec::new()).await.0.unwrap();
        a.write_all(b"z".to_vec()).await.0.unwrap();
        a.close().await.unwrap();
        let (res, out) = b.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(out, b"z", "{kind:?}");
    });
}

/// A BufReader's read_line cut off mid-line, again and again: the lines
/// come out whole and in order.
#[test]
fn bufreader_read_line_cut_off() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let w = curing::spawn(async move {
            for i in 0..200 {
                let line = format!("line number {i:05} {}\n", "x".repeat(i * 37 % 500));
                let (l1, l2) = line.as_bytes().split_at(line.len() / 2);
                a.write_all(l1.to_vec()).await.0.unwrap();
                sleep(Duration::from_micros(50)).await;
                a.write_all(l2.to_vec()).await.0.unwrap();
            }
            a.close().await.unwrap();
        });
        let mut r = BufReader::with_capacity(64, b);
        let mut i = 0;
        loop {
            let mut line = String::new();
            let got = loop {
                match timeout(Duration::from_micros(30), r.read_line(&mut line)).await {
                    Ok(res) => break res.unwrap(),
                    Err(_) => continue,
                }
            };
            if got == 0 {
                break;
            }
            let want = format!("line number {i:05} {}\n", "x".repeat(i * 37 % 500));
            assert_eq!(line, want, "{kind:?}: line {i}");
            i += 1;
        }
        assert_eq!(i, 200, "{kind:?}");
        w.await.unwrap();
    });
}

/// A runtime dropped while a 64 MiB write_all to a reader that never reads
/// is in flight (future dropped and not): the drop is bounded.
#[test]
fn runtime_drop_with_huge_write_in_flight_is_bounded() {
    for (kind, rt) in drivers() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        rt.block_on(async {
            let a = UnixStream::from_std(a);
            // A task stuck in write_all, left running when block_on returns.
            curing::spawn(async move {
                let _ = a.write_all(vec![1u8; 64 << 20]).await;
            });
            sleep(Duration::from_millis(20)).await;
        });
        let t = Instant::now();
        drop(rt);
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "{kind:?}: runtime drop took {took:?}"
        );
        drop(b);
    }
}

/// An aborted task that was waiting in a read: the bytes its read got go
/// to the next reader of the stream (another task).
#[test]
fn aborted_task_read_bytes_go_to_next_reader() {
    on_both(|kind| async move {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut a = a;
        let b = std::rc::Rc::new(UnixStream::from_std(b));
        let b2 = b.clone();
        let t = curing::spawn(async move {
            let (res, _) = b2.read(vec![0u8; 32]).await;
            res.unwrap()
        });
        sleep(Duration::from_millis(2)).await;
        // A blocking write: the reader task gets no chance to run before
        // the abort.
        std::io::Write::write_all(&mut a, b"for-the-next-one").unwrap();
        t.abort();
        assert!(t.await.is_err(), "{kind:?}: task ran to the end");
        let (res, buf) = b.read(vec![0u8; 32]).await;
        assert_eq!(&buf[..res.unwrap()], b"for-the-next-one", "{kind:?}");
    });
}

/// A zero or past deadline still returns bytes that are there at once
/// (in the socket, or stashed by a dropped read); with none, TimedOut and
/// the buffer back.
#[test]
fn zero_deadline_returns_ready_bytes() {
    on_both(|kind| async move {
        let (a, b) = tcp_pair().await;
        let (res, buf) = b.read_timeout(vec![0u8; 8], Duration::ZERO).await;
        assert_eq!(
            res.unwrap_err().kind(),
            std::io::ErrorKind::TimedOut,
            "{kind:?}"
        );
        assert_eq!(buf.len(), 8, "{kind:?}: buffer not given back whole");
        a.write_all(b"ready".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(5)).await;
        let (res, buf) = b.read_timeout(vec![0u8; 8], Duration::ZERO).await;
        assert_eq!(
            &buf[..res.expect("bytes in the socket")],
            b"ready",
            "{kind:?}"
        );
        // Stashed bytes, past deadline.
        let mut f = Box::pin(b.read(vec![0u8; 8]));
        assert!(poll_once(&mut f).await.is_none());
        a.write_all(b"stash".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(5)).await;
        drop(f);
        let past = Instant::now() - Duration::from_secs(1);
        let (res, buf) = b.read_deadline(vec![0u8; 8], past).await;
        assert_eq!(&buf[..res.expect("stashed bytes")], b"stash", "{kind:?}");
    });
}

/// Two write_all calls at once on one stream (from two tasks, through an
/// Rc): does each one's bytes reach the peer in one piece? Informational
/// (the docs promise order for concurrent reads, say nothing of writes):
/// it prints how many runs the peer saw.
#[test]
fn concurrent_write_alls_runs() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_send_buffer_size(16 * 1024).unwrap();
        let a = std::rc::Rc::new(a);
        let mut tasks = Vec::new();
        for byte in [b'A', b'B', b'C'] {
            let a = a.clone();
            tasks.push(curing::spawn(async move {
                a.write_all(vec![byte; 2 << 20]).await.0.unwrap();
            }));
        }
        let reader = curing::spawn(async move {
            let mut out = Vec::new();
            while out.len() < 6 << 20 {
                let (res, buf) = b.read(vec![0u8; 65536]).await;
                let n = res.unwrap();
                assert!(n > 0);
                out.extend_from_slice(&buf[..n]);
            }
            out
        });
        for t in tasks {
            t.await.unwrap();
        }
        let out = reader.await.unwrap();
        let mut runs: Vec<(char, usize)> = Vec::new();
        for &x in &out {
            match runs.last_mut() {
                Some((c, n)) if *c == x as char => *n += 1,
                _ => runs.push((x as char, 1)),
            }
        }
        eprintln!(
            "{kind:?}: 3 concurrent 2 MiB write_alls reached the peer in {} runs: {runs:?}",
            runs.len()
        );
        for byte in [b'A', b'B', b'C'] {
            assert_eq!(
                out.iter().filter(|&&x| x == byte).count(),
                2 << 20,
                "{kind:?}"
            );
        }
    });
}

/// Writing to the stdin of a child that has exited: an error (EPIPE), no
/// SIGPIPE, the buffer back; reading its stdout after it died: the bytes it
/// wrote, then end of stream.
#[test]
fn child_pipes_after_exit() {
    on_both(|kind| async move {
        let mut child = curing::process::Command::new("sh")
            .arg("-c")
            .arg("printf bye")
            .stdin(curing::process::Stdio::piped())
            .stdout(curing::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        assert!(child.wait().await.unwrap().success());
        let (res, buf) = stdin.write_all(vec![1u8; 1 << 20]).await;
        let e = res.expect_err("write to a dead child's stdin");
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{kind:?}: {e}");
        assert_eq!(buf.len(), 1 << 20);
        let (res, out) = stdout.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(out, b"bye", "{kind:?}");
        assert_eq!(stdout.read(vec![0u8; 8]).await.0.unwrap(), 0, "{kind:?}");
    });
}
