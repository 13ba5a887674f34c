//! HTTP/1.1 hello world servers for the peers, for `wrk`. curing's is the
//! main crate's `examples/http.rs`; every server here answers with the same
//! bytes through the same parser (`answer`, copied from that example, so the
//! runtimes differ and the HTTP work does not): keep-alive, every complete
//! request in a read answered (pipelining), one write per read. With
//! `--threads N` they spread over threads as the echo servers do (see
//! `servers.rs`).

use crate::servers;
use std::io;

const BODY: &[u8] = b"Hello, world!\n";
/// Same 4 KiB read buffer for every runtime.
const BUF: usize = 4096;

/// Answers every complete request at the start of `pending` into `out` and
/// drains them; true if the connection must close afterwards.
pub fn answer(pending: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    while let Some((len, keep_alive, found)) = parse(pending) {
        respond(out, found, keep_alive);
        pending.drain(..len);
        if !keep_alive {
            return true;
        }
    }
    false
}

/// The request at the start of `buf` if it is all there: (length,
/// keep-alive, found). As `examples/http.rs` parses it.
fn parse(buf: &[u8]) -> Option<(usize, bool, bool)> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..head_end]).unwrap_or("");
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (method, path, version) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let mut keep_alive = version == "HTTP/1.1";
    let mut body = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            body = value.parse().unwrap_or(0);
        }
    }
    let len = head_end + 4 + body;
    if buf.len() < len {
        return None;
    }
    let found = (method == "GET" || method == "HEAD") && path == "/";
    Some((len, keep_alive, found))
}

fn respond(out: &mut Vec<u8>, found: bool, keep_alive: bool) {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    if found {
        out.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n",
                BODY.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(BODY);
    } else {
        out.extend_from_slice(
            format!("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: {conn}\r\n\r\n")
                .as_bytes(),
        );
    }
}

/// tokio, current-thread (epoll), borrowed buffers; with threads, the
/// multi-thread runtime (see `servers::tokio_runtime`).
pub fn tokio(addr: &str, threads: usize) -> io::Result<()> {
    servers::tokio_runtime(threads)?
        .block_on(async { tokio_serve(tokio::net::TcpListener::bind(addr).await?).await })
}

async fn tokio_serve(listener: tokio::net::TcpListener) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let (mut s, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let (mut pending, mut out, mut buf) = (Vec::new(), Vec::new(), vec![0u8; BUF]);
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                let close = answer(&mut pending, &mut out);
                if s.write_all(&out).await.is_err() || close {
                    break;
                }
                out.clear();
            }
        });
    }
}

/// monoio (io_uring), owned buffers; with threads, one runtime and one
/// (`SO_REUSEPORT`) listener per thread.
pub fn monoio(addr: &str, threads: usize) -> io::Result<()> {
    let addr = addr.to_string();
    servers::per_thread(threads, move || {
        let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build()?;
        rt.block_on(async { monoio_serve(monoio::net::TcpListener::bind(addr.as_str())?).await })
    })
}

async fn monoio_serve(listener: monoio::net::TcpListener) -> io::Result<()> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    loop {
        let (mut s, _) = listener.accept().await?;
        monoio::spawn(async move {
            let _ = s.set_nodelay(true);
            let (mut pending, mut out) = (Vec::new(), Vec::new());
            let mut buf: Vec<u8> = Vec::with_capacity(BUF);
            let mut res;
            loop {
                buf.clear();
                (res, buf) = s.read(buf).await;
                if !matches!(res, Ok(n) if n > 0) {
                    break;
                }
                pending.extend_from_slice(&buf);
                let close = answer(&mut pending, &mut out);
                (res, out) = s.write_all(out).await;
                if res.is_err() || close {
                    break;
                }
                out.clear();
            }
        });
    }
}

/// compio (io_uring), owned buffers; with threads, one runtime and one
/// `SO_REUSEPORT` listener per thread.
pub fn compio(addr: &str, threads: usize) -> io::Result<()> {
    let addr = addr.to_string();
    servers::per_thread(threads, move || {
        let rt = compio::runtime::Runtime::new()?;
        rt.block_on(async { compio_serve(servers::compio_listener(&addr, threads).await?).await })
    })
}

async fn compio_serve(listener: compio::net::TcpListener) -> io::Result<()> {
    use compio::io::{AsyncRead, AsyncWriteExt};
    loop {
        let (mut s, _) = listener.accept().await?;
        compio::runtime::spawn(async move {
            let _ = s.set_nodelay(true);
            let (mut pending, mut out) = (Vec::new(), Vec::new());
            let mut buf: Vec<u8> = Vec::with_capacity(BUF);
            loop {
                buf.clear();
                let res;
                (res, buf) = s.read(buf).await.into();
                if !matches!(res, Ok(n) if n > 0) {
                    break;
                }
                pending.extend_from_slice(&buf);
                let close = answer(&mut pending, &mut out);
                let res;
                (res, out) = s.write_all(out).await.into();
                if res.is_err() || close {
                    break;
                }
                out.clear();
            }
        })
        .detach();
    }
}

/// glommio (its own io_uring executor thread), borrowed buffers; with
/// threads, a pool of executors, one (`SO_REUSEPORT`) listener each.
pub fn glommio(addr: &str, threads: usize) -> io::Result<()> {
    let addr = addr.to_string();
    servers::glommio_on(threads, move || glommio_serve(addr))
}

async fn glommio_serve(addr: String) -> io::Result<()> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use glommio::{net::TcpListener, spawn_local};
    let listener = TcpListener::bind(addr.as_str()).map_err(io::Error::from)?;
    loop {
        let mut s = listener.accept().await.map_err(io::Error::from)?;
        spawn_local(async move {
            let _ = s.set_nodelay(true);
            let (mut pending, mut out, mut buf) = (Vec::new(), Vec::new(), vec![0u8; BUF]);
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                let close = answer(&mut pending, &mut out);
                if s.write_all(&out).await.is_err() || close {
                    break;
                }
                out.clear();
            }
        })
        .detach();
    }
}

/// The hand-written io_uring loop (see `raw.rs`): recv → parse → send →
/// recv per connection, one op in flight per connection.
pub fn raw(addr: &str) -> io::Result<()> {
    use crate::raw::{push, ring};
    use io_uring::{opcode, types};
    use std::os::fd::AsRawFd;

    const ACCEPT: u64 = u64::MAX;
    struct Conn {
        fd: i32,
        rbuf: Box<[u8]>,
        pending: Vec<u8>,
        out: Vec<u8>,
        /// `Some((sent, close))` while a send is in flight.
        sending: Option<(usize, bool)>,
    }
    let recv = |i: usize, c: &mut Conn| {
        opcode::Recv::new(types::Fd(c.fd), c.rbuf.as_mut_ptr(), BUF as u32)
            .build()
            .user_data(i as u64)
    };
    let send = |i: usize, c: &Conn, off: usize| {
        opcode::Send::new(
            types::Fd(c.fd),
            c.out[off..].as_ptr(),
            (c.out.len() - off) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(i as u64)
    };
    let listener = std::net::TcpListener::bind(addr)?;
    let mut ring = ring(1024)?;
    let accept = opcode::Accept::new(
        types::Fd(listener.as_raw_fd()),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
    .build()
    .user_data(ACCEPT);
    push(&mut ring, &accept)?;
    let mut conns: Vec<Option<Box<Conn>>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut done: Vec<(u64, i32)> = Vec::with_capacity(1024);
    loop {
        match ring.submit_and_wait(1) {
            Err(e) if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {
                return Err(e)
            }
            _ => {}
        }
        done.clear();
        done.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for &(ud, res) in &done {
            if ud == ACCEPT {
                if res >= 0 {
                    let one: libc::c_int = 1;
                    // SAFETY: `one` outlives the call; the fd is the one accept gave.
                    unsafe {
                        libc::setsockopt(
                            res,
                            libc::IPPROTO_TCP,
                            libc::TCP_NODELAY,
                            &one as *const _ as *const libc::c_void,
                            4,
                        )
                    };
                    let i = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    let mut c = Box::new(Conn {
                        fd: res,
                        rbuf: vec![0u8; BUF].into_boxed_slice(),
                        pending: Vec::new(),
                        out: Vec::new(),
                        sending: None,
                    });
                    push(&mut ring, &recv(i, &mut c))?;
                    conns[i] = Some(c);
                }
                push(&mut ring, &accept)?;
                continue;
            }
            let i = ud as usize;
            let c = conns[i].as_mut().expect("completion for a live connection");
            let mut close = res <= 0;
            if !close {
                match c.sending {
                    None => {
                        c.pending.extend_from_slice(&c.rbuf[..res as usize]);
                        let cl = answer(&mut c.pending, &mut c.out);
                        if c.out.is_empty() {
                            close = cl;
                            if !close {
                                push(&mut ring, &recv(i, c))?;
                            }
                        } else {
                            c.sending = Some((0, cl));
                            push(&mut ring, &send(i, c, 0))?;
                        }
                    }
                    Some((off, cl)) => {
                        let off = off + res as usize;
                        if off < c.out.len() {
                            c.sending = Some((off, cl));
                            push(&mut ring, &send(i, c, off))?;
                        } else {
                            c.out.clear();
                            c.sending = None;
                            close = cl;
                            if !close {
                                push(&mut ring, &recv(i, c))?;
                            }
                        }
                    }
                }
            }
            if close {
                // SAFETY: no op is in flight on this fd any more.
                unsafe { libc::close(c.fd) };
                conns[i] = None;
                free.push(i);
            }
        }
    }
}
