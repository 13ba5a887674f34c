//! `curing::io`: `BufReader` (lines, `read_until`, reads through the
//! buffer, cancellation of a line read at any await point) and `BufWriter`
//! (flush order, the kernel's error surfacing), and `read_to_end` /
//! `read_to_string` on TCP and Unix streams. Every test runs under
//! `common::run`, which fails on a leaked fd or op; CI runs this file on
//! both drivers.

mod common;

use curing::io::{BufReader, BufWriter};
use curing::net::{TcpListener, TcpStream, UnixStream};
use curing::time::{sleep, timeout};
use futures_core::Stream;
use std::future::poll_fn;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A connected TCP pair on 127.0.0.1.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = curing::spawn(TcpStream::connect(addr));
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap().unwrap(), server)
}

/// The next item of a `futures_core::Stream`.
async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// Writes `chunks` to `w` with a pause between them, so the reader sees
/// them in separate reads, then shuts down writing.
async fn trickle(w: TcpStream, chunks: &[&[u8]]) {
    for c in chunks {
        w.write_all(c.to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(20)).await;
    }
    w.shutdown(std::net::Shutdown::Write).await.unwrap();
    w.close().await.unwrap();
}

#[test]
fn lines_over_tcp_split_crlf_and_last_line_without_newline() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        let writer = curing::spawn(async move {
            trickle(b, &[b"hel", b"lo\r\nwor", b"ld\n\n", b"last"]).await;
        });
        // A tiny capacity: every line spans several reads.
        let mut lines = BufReader::with_capacity(4, a).lines();
        let mut got = Vec::new();
        while let Some(line) = next(&mut lines).await {
            got.push(line.unwrap());
        }
        assert_eq!(got, ["hello", "world", "", "last"]);
        // End of stream stays end of stream.
        assert_eq!(lines.next_line().await.unwrap(), None);
        writer.await.unwrap();
    });
}

#[test]
fn read_line_keeps_line_endings_and_returns_zero_at_end() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        b.write_all(b"one\r\ntwo\nthree".to_vec()).await.0.unwrap();
        drop(b);
        let mut r = BufReader::new(a);
        let mut s = String::new();
        assert_eq!(r.read_line(&mut s).await.unwrap(), 5);
        assert_eq!(r.read_line(&mut s).await.unwrap(), 4);
        assert_eq!(r.read_line(&mut s).await.unwrap(), 5);
        assert_eq!(s, "one\r\ntwo\nthree");
        assert_eq!(r.read_line(&mut s).await.unwrap(), 0);
        assert_eq!(s, "one\r\ntwo\nthree");
    });
}

#[test]
fn huge_line_grows_the_buffer() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        let line: Vec<u8> = (0..3 << 20).map(|i| b'a' + (i % 26) as u8).collect();
        let mut expect = String::from_utf8(line.clone()).unwrap();
        expect.push('\n');
        let writer = curing::spawn(async move {
            let mut all = line;
            all.extend_from_slice(b"\nshort\n");
            b.write_all(all).await.0.unwrap();
            b.close().await.unwrap();
        });
        let mut r = BufReader::with_capacity(1024, a);
        let mut s = String::new();
        assert_eq!(r.read_line(&mut s).await.unwrap(), expect.len());
        assert!(s == expect, "the huge line comes back byte for byte");
        s.clear();
        r.read_line(&mut s).await.unwrap();
        assert_eq!(s, "short\n");
        writer.await.unwrap();
    });
}

#[test]
fn read_until_a_delimiter_and_at_end() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        let writer = curing::spawn(async move {
            trickle(b, &[b"k1\0v", b"1\0k2", b"\0tail"]).await;
        });
        let mut r = BufReader::with_capacity(3, a);
        let mut fields = Vec::new();
        loop {
            let mut f = Vec::new();
            if r.read_until(0, &mut f).await.unwrap() == 0 {
                break;
            }
            fields.push(f);
        }
        let want: [&[u8]; 4] = [b"k1\0", b"v1\0", b"k2\0", b"tail"];
        assert_eq!(fields, want);
        writer.await.unwrap();
    });
}

#[test]
fn invalid_utf8_line_is_an_error_and_the_next_line_reads() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        b.write_all(b"ok\n\xff\xfe\nafter\n".to_vec())
            .await
            .0
            .unwrap();
        drop(b);
        let mut lines = BufReader::new(a).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ok"));
        let e = lines.next_line().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("after"));
        assert_eq!(lines.next_line().await.unwrap(), None);
    });
}

#[test]
fn dropped_read_line_keeps_its_bytes() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        let mut r = BufReader::with_capacity(4, a);
        b.write_all(b"hel".to_vec()).await.0.unwrap();
        let mut s = String::new();
        // Cut off while waiting for the rest of the line (its read is in
        // flight, holding "hel" as its prefix).
        let cut = timeout(Duration::from_millis(50), r.read_line(&mut s)).await;
        assert!(cut.is_err(), "no newline yet: the read waits");
        assert_eq!(s, "", "nothing appended before the line is whole");
        b.write_all(b"lo\nworld\n".to_vec()).await.0.unwrap();
        r.read_line(&mut s).await.unwrap();
        assert_eq!(s, "hello\n");
        s.clear();
        r.read_line(&mut s).await.unwrap();
        assert_eq!(s, "world\n");
    });
}

/// Lines trickle in, in pieces of random sizes, while the reader's
/// `read_line` is cut off at random moments: every line arrives whole and
/// in order.
#[test]
fn read_line_cut_off_at_random_moments_loses_nothing() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let text: String = (0..300)
            .map(|i| format!("line {i} {}\n", "x".repeat(i % 37)))
            .collect();
        let bytes = text.clone().into_bytes();
        let writer = curing::spawn(async move {
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            let mut at = 0;
            while at < bytes.len() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let n = (1 + seed % 40) as usize;
                let end = (at + n).min(bytes.len());
                b.write_all(bytes[at..end].to_vec()).await.0.unwrap();
                at = end;
                if seed % 3 == 0 {
                    sleep(Duration::from_micros(seed % 700)).await;
                } else {
                    curing::yield_now().await;
                }
            }
            b.close().await.unwrap();
        });
        let mut r = BufReader::with_capacity(8, a);
        let mut got = String::new();
        let mut cuts = 0;
        let mut seed = 7u64;
        loop {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let limit = Duration::from_micros((seed >> 33) % 400);
            let mut line = String::new();
            match timeout(limit, r.read_line(&mut line)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(_)) => got.push_str(&line),
                Ok(Err(e)) => panic!("read_line: {e}"),
                Err(_) => {
                    cuts += 1;
                    assert_eq!(line, "", "a cut-off read_line appends nothing");
                }
            }
        }
        assert!(got == text, "every line, whole and in order");
        assert!(cuts > 0, "some reads were cut off");
        writer.await.unwrap();
    });
}

#[test]
fn lines_into_inner_mid_line_keeps_the_bytes() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        b.write_all(b"first\npart".to_vec()).await.0.unwrap();
        let mut lines = BufReader::with_capacity(4, a).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("first"));
        // A line read left pending (its future is kept by `Lines`)...
        let cut = timeout(Duration::from_millis(30), lines.next_line()).await;
        assert!(cut.is_err());
        // ...is given up by `into_inner`, and its bytes stay.
        let r = lines.into_inner();
        let a = r.into_inner();
        b.write_all(b"ial\n".to_vec()).await.0.unwrap();
        let (res, buf) = a.read_exact(vec![0u8; 8]).await;
        res.unwrap();
        assert_eq!(&buf[..], b"partial\n");
    });
}

#[test]
fn read_serves_buffered_bytes_then_the_stream() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        b.write_all(b"ab\ncdefgh".to_vec()).await.0.unwrap();
        let mut r = BufReader::with_capacity(64, a);
        let mut s = String::new();
        r.read_line(&mut s).await.unwrap();
        assert_eq!(r.buffer(), b"cdefgh");
        let (res, small) = r.read(vec![0u8; 2]).await;
        assert_eq!(&small[..res.unwrap()], b"cd");
        // Four bytes buffered, six wanted: the rest comes from the stream.
        b.write_all(b"ij".to_vec()).await.0.unwrap();
        let (res, exact) = r.read_exact(vec![0u8; 6]).await;
        res.unwrap();
        assert_eq!(&exact[..], b"efghij");
        assert!(r.buffer().is_empty());
    });
}

#[test]
fn read_exact_and_read_to_end_take_the_buffered_bytes_first() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        b.write_all(b"hdr\n0123456789rest".to_vec())
            .await
            .0
            .unwrap();
        let mut r = BufReader::with_capacity(8, a);
        let mut s = String::new();
        r.read_line(&mut s).await.unwrap();
        assert_eq!(s, "hdr\n");
        let (res, ten) = r.read_exact(vec![0u8; 10]).await;
        res.unwrap();
        assert_eq!(&ten[..], b"0123456789");
        b.write_all(b"!".to_vec()).await.0.unwrap();
        drop(b);
        let (res, all) = r.read_to_end(Vec::new()).await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(&all[..], b"rest!");
    });
}

#[test]
fn into_inner_gives_buffered_bytes_back_to_the_stream() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        b.write_all(b"line\nrest of it".to_vec()).await.0.unwrap();
        b.shutdown(std::net::Shutdown::Write).await.unwrap();
        let mut r = BufReader::new(a);
        let mut s = String::new();
        r.read_line(&mut s).await.unwrap();
        assert_eq!(r.buffer(), b"rest of it");
        let a = r.into_inner();
        let (res, rest) = a.read_to_string(String::new()).await;
        assert_eq!(res.unwrap(), 10);
        assert_eq!(rest, "rest of it");
    });
}

#[test]
fn bufwriter_holds_small_writes_until_flush_and_keeps_order() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        let mut w = BufWriter::with_capacity(16, a);
        w.write_all(b"ab".to_vec()).await.0.unwrap();
        w.write_all("cd").await.0.unwrap();
        assert_eq!(w.buffer(), b"abcd");
        // Nothing reached the peer yet.
        let early = timeout(Duration::from_millis(30), b.read(vec![0u8; 8])).await;
        assert!(early.is_err(), "held until flush");
        // A write as large as the capacity goes after the buffered bytes.
        w.write_all(b"0123456789ABCDEF_large".to_vec())
            .await
            .0
            .unwrap();
        assert!(w.buffer().is_empty());
        w.write_all(b"tail".to_vec()).await.0.unwrap();
        w.flush().await.unwrap();
        assert!(w.buffer().is_empty());
        w.shutdown().await.unwrap();
        let (res, got) = b.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(&got[..], b"abcd0123456789ABCDEF_largetail");
        // The read cut off above lost nothing either: all bytes are here.
    });
}

#[test]
fn bufwriter_flush_reports_a_reset_peer() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        // The peer resets the connection (RST on close).
        b.set_linger(Some(Duration::ZERO)).unwrap();
        b.close().await.unwrap();
        // Wait until the reset has arrived.
        let (res, _) = a.read(vec![0u8; 8]).await;
        assert!(
            matches!(&res, Err(e) if e.kind() == io::ErrorKind::ConnectionReset)
                || matches!(res, Ok(0)),
            "{res:?}"
        );
        let mut w = BufWriter::new(a);
        w.write_all(b"lost?".to_vec()).await.0.unwrap();
        let err = w
            .flush()
            .await
            .expect_err("a reset peer is an error, not silence");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
        assert_eq!(w.buffer(), b"lost?", "unwritten bytes stay buffered");
        assert!(w.flush().await.is_err(), "and a second flush fails again");
    });
}

#[test]
fn bufwriter_over_a_write_half_and_a_file() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let (rd, wr) = a.into_split();
        let mut w = BufWriter::new(wr);
        for i in 0..100 {
            w.write_all(format!("{i},").into_bytes()).await.0.unwrap();
        }
        w.shutdown().await.unwrap();
        let want: String = (0..100).map(|i| format!("{i},")).collect();
        let (res, got) = b.read_to_string(String::new()).await;
        res.unwrap();
        assert_eq!(got, want);
        drop((rd, w));

        let dir = std::env::temp_dir().join(format!("curing-io-buf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.txt");
        let file = curing::fs::File::create(&path).await.unwrap();
        let mut w = BufWriter::with_capacity(64, file);
        for i in 0..50 {
            w.write_all(format!("row {i}\n").into_bytes())
                .await
                .0
                .unwrap();
        }
        w.flush().await.unwrap();
        w.into_inner().close().await.unwrap();
        let file = curing::fs::File::open(&path).await.unwrap();
        let mut lines = BufReader::new(file).lines();
        let mut n = 0;
        while let Some(line) = lines.next_line().await.unwrap() {
            assert_eq!(line, format!("row {n}"));
            n += 1;
        }
        assert_eq!(n, 50);
        drop(lines);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn read_to_end_on_tcp_unix_and_read_halves() {
    common::run(LIMIT, || async {
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();

        let (a, b) = tcp_pair().await;
        let p = payload.clone();
        let w = curing::spawn(async move {
            b.write_all(p).await.0.unwrap();
            b.close().await.unwrap();
        });
        let (res, got) = a.read_to_end(b"pre".to_vec()).await;
        assert_eq!(res.unwrap(), payload.len());
        assert_eq!(&got[..3], b"pre");
        assert!(got[3..] == payload[..]);
        w.await.unwrap();

        let (a, b) = UnixStream::pair().unwrap();
        let (rd, _wr) = a.into_split();
        let p = payload.clone();
        let w = curing::spawn(async move {
            b.write_all(p).await.0.unwrap();
        });
        let (res, got) = rd.read_to_end(Vec::new()).await;
        assert_eq!(res.unwrap(), payload.len());
        assert!(got == payload);
        w.await.unwrap();

        let (a, b) = tcp_pair().await;
        let (rd, _wr) = a.into_split();
        b.write_all("text ✓").await.0.unwrap();
        drop(b);
        let (res, s) = rd.read_to_string(String::from(">")).await;
        assert_eq!(res.unwrap(), "text ✓".len());
        assert_eq!(s, ">text ✓");

        let (a, b) = UnixStream::pair().unwrap();
        b.write_all(b"\xffbad".to_vec()).await.0.unwrap();
        drop(b);
        let (res, s) = a.read_to_string(String::from("kept")).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(s, "kept");
    });
}

/// A `read_to_end` cut off mid-stream gives what it had read to the next
/// read.
#[test]
fn cut_off_read_to_end_loses_nothing() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        let a = Rc::new(a);
        b.write_all(b"first half,".to_vec()).await.0.unwrap();
        let cut = timeout(Duration::from_millis(50), a.read_to_end(Vec::new())).await;
        assert!(cut.is_err(), "the stream has not ended");
        b.write_all(b"second half".to_vec()).await.0.unwrap();
        drop(b);
        let (res, got) = a.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(&got[..], b"first half,second half");
    });
}

#[test]
fn read_timeout_gives_the_buffer_back_and_a_late_byte_goes_to_the_next_read() {
    common::run(LIMIT, || async {
        let (a, b) = tcp_pair().await;
        let buf = vec![0u8; 64];
        let ptr = buf.as_ptr();
        let started = std::time::Instant::now();
        let (res, buf) = a.read_timeout(buf, Duration::from_millis(40)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert_eq!(buf.as_ptr(), ptr, "the same buffer comes back");
        b.write_all(b"x".to_vec()).await.0.unwrap();
        let (res, buf) = a.read(buf).await;
        assert_eq!(&buf[..res.unwrap()], b"x");

        // A deadline already past still returns bytes that are there.
        b.write_all(b"ready".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(20)).await;
        let past = std::time::Instant::now() - Duration::from_millis(1);
        let (res, buf) = a.read_deadline(buf, past).await;
        let n = res.unwrap();
        let mut ready = buf[..n].to_vec();
        assert!(n > 0, "bytes already there are returned, not a timeout");

        // On a read half: the rest of "ready", then end of stream (which
        // is not a timeout).
        let (rd, _wr) = a.into_split();
        let mut buf = buf;
        drop(b);
        loop {
            let (res, b2) = rd.read_timeout(buf, Duration::from_secs(5)).await;
            buf = b2;
            match res.unwrap() {
                0 => break,
                n => ready.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(ready, b"ready");
    });
}

/// Reads with tiny random time limits while bytes trickle in: every
/// timed-out read gives its buffer back, and every byte arrives once, in
/// order (whatever a cancelled read got first is returned, not dropped).
#[test]
fn read_timeout_storm_loses_no_byte() {
    common::run(LIMIT, || async {
        let (a, b) = UnixStream::pair().unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        let expect = data.clone();
        let writer = curing::spawn(async move {
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            let mut at = 0;
            while at < data.len() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let end = (at + 1 + (seed % 300) as usize).min(data.len());
                b.write_all(data[at..end].to_vec()).await.0.unwrap();
                at = end;
                if seed % 4 == 0 {
                    sleep(Duration::from_micros(seed % 500)).await;
                } else {
                    curing::yield_now().await;
                }
            }
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 97];
        let ptr = buf.as_ptr();
        let (mut timeouts, mut seed) = (0, 11u64);
        while got.len() < expect.len() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let limit = Duration::from_micros((seed >> 33) % 300);
            let (res, b) = a.read_timeout(buf, limit).await;
            buf = b;
            assert_eq!(buf.as_ptr(), ptr, "the buffer always comes back");
            match res {
                Ok(0) => panic!("end of stream before all bytes"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => timeouts += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(got == expect, "every byte once, in order");
        assert!(timeouts > 0, "some reads timed out");
        writer.await.unwrap();
    });
}

/// A `read_timeout` whose op is still waiting for a free slot (every
/// in-flight slot of a tiny ring is taken by parked reads) when the limit
/// passes: it never reached the kernel, and the buffer comes back.
#[test]
fn read_timeout_while_waiting_for_a_slot() {
    fn tiny() -> curing::Builder {
        curing::Runtime::builder().entries(4).cq_entries(8)
    }
    common::run_with(tiny, LIMIT, || async {
        let mut pairs = Vec::new();
        let mut parked = Vec::new();
        for _ in 0..12 {
            // The writing ends are std sockets: a curing write would need a
            // slot too, and every slot is taken.
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            let a = Rc::new(UnixStream::from(a));
            let r = a.clone();
            parked.push(curing::spawn(async move { r.read(vec![0u8; 8]).await.0 }));
            pairs.push((a, b));
        }
        curing::yield_now().await;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = UnixStream::from(a);
        let buf = vec![0u8; 32];
        let ptr = buf.as_ptr();
        let waited = curing::runtime::stats().backpressure;
        let (res, buf) = a.read_timeout(buf, Duration::from_millis(30)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(buf.as_ptr(), ptr);
        assert!(
            curing::runtime::stats().backpressure > waited,
            "the timed-out read waited for a slot"
        );
        for (_, w) in &mut pairs {
            w.write_all(b"go").unwrap();
        }
        for p in parked {
            assert_eq!(p.await.unwrap().unwrap(), 2);
        }
        b.write_all(b"after").unwrap();
        let (res, buf) = a.read_timeout(buf, Duration::from_secs(5)).await;
        assert_eq!(&buf[..res.unwrap()], b"after");
    });
}
