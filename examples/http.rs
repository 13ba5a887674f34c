//! A small HTTP/1.1 server: `GET /` answers `Hello, world!` (`HEAD /` the
//! same headers without the body), with keep-alive and pipelining (several
//! requests in one read are answered with one write). Request bodies up to
//! 1 MiB are read and ignored; a larger `Content-Length` is answered `413`,
//! an unreadable one `400`, and the connection closed.
//!
//! ```text
//! cargo run --release --example http -- [ADDR] [--threads N] [--pooled]
//! # default 127.0.0.1:8080, 1 thread
//! curl -v http://127.0.0.1:8080/
//! wrk -t2 -c100 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Connections come from one multishot accept (`listener.incoming()`).
//! With `--threads N`, N threads each run their own runtime and listener on
//! the same port (`SO_REUSEPORT`). With `--pooled`, connections receive
//! into a shared buffer ring (`recv_pooled`), so idle ones hold no buffer.

use curing::buf::BufPool;
use curing::net::{BindOptions, TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;

const BODY: &[u8] = b"Hello, world!\n";
/// Largest request head accepted before answering 431 and closing.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted (this server reads and ignores bodies);
/// a larger `Content-Length` is answered 413 and the connection closed.
const MAX_BODY: usize = 1024 * 1024;

fn main() -> io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut threads = 1;
    let mut pooled = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "--threads takes a number ≥ 1")
                    })?
            }
            "--pooled" => pooled = true,
            a => {
                addr = a
                    .parse()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            }
        }
    }
    // Each thread binds its own listener and says so before it serves:
    // "listening" is printed once every one of them is bound.
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let bound = bound_tx.clone();
            std::thread::spawn(move || curing::run(server(addr, pooled, bound)))
        })
        .collect();
    drop(bound_tx);
    // A thread that could not bind returns its error from the join below.
    if (0..threads).all(|_| matches!(bound_rx.recv(), Ok(Ok(())))) {
        eprintln!(
            "http: listening on {addr} ({threads} thread(s){})",
            if pooled { ", pooled" } else { "" }
        );
    }
    for w in workers {
        w.join().expect("server thread")?;
    }
    Ok(())
}

async fn server(
    addr: SocketAddr,
    pooled: bool,
    bound: std::sync::mpsc::Sender<Result<(), ()>>,
) -> io::Result<()> {
    let listener = match TcpListener::bind_with(addr, &BindOptions::new().reuseport(true)) {
        Ok(l) => {
            let _ = bound.send(Ok(()));
            l
        }
        Err(e) => {
            let _ = bound.send(Err(()));
            return Err(e);
        }
    };
    let pool = if pooled {
        Some(BufPool::new(4096, 4096)?)
    } else {
        None
    };
    let mut incoming = listener.incoming();
    while let Some(conn) = incoming.next().await {
        match conn {
            Ok(stream) => {
                let pool = pool.clone();
                drop(curing::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let _ = serve(&stream, pool).await;
                    let _ = stream.close().await;
                }));
            }
            // EMFILE and friends: `incoming` backs off by itself.
            Err(e) => eprintln!("http: accept: {e}"),
        }
    }
    Ok(())
}

/// Serves one connection until the client closes or asks to.
async fn serve(stream: &TcpStream, pool: Option<BufPool>) -> io::Result<()> {
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut rx = pool.as_ref().map(|p| stream.recv_pooled(p));
    let mut rbuf = Vec::with_capacity(4096);
    loop {
        // More bytes: from the pool, or into our own buffer.
        match &mut rx {
            Some(rx) => match rx.next().await {
                Some(buf) => pending.extend_from_slice(&buf?),
                None => return Ok(()),
            },
            None => {
                rbuf.clear();
                let (res, b) = stream.read(rbuf).await;
                rbuf = b;
                if res? == 0 {
                    return Ok(());
                }
                pending.extend_from_slice(&rbuf);
            }
        }
        // Answer every complete request in what we have (pipelining).
        let mut close = false;
        while let Some(req) = parse(&pending) {
            match req {
                Parsed::Request {
                    len,
                    keep_alive,
                    found,
                    head,
                } => {
                    respond(&mut out, found, keep_alive, head);
                    pending.drain(..len);
                    if !keep_alive {
                        close = true;
                        break;
                    }
                }
                Parsed::Refused(status) => {
                    out.extend_from_slice(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    close = true;
                    break;
                }
                Parsed::Incomplete => break,
            }
        }
        if pending.len() > MAX_HEAD {
            out.extend_from_slice(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            close = true;
        }
        if !out.is_empty() {
            let (res, b) = stream.write_all(out).await;
            out = b;
            out.clear();
            res?;
        }
        if close {
            return Ok(());
        }
    }
}

enum Parsed {
    /// A whole request of `len` bytes (head and body).
    Request {
        len: usize,
        keep_alive: bool,
        found: bool,
        /// A `HEAD` request: the response has no body.
        head: bool,
    },
    /// A request this server refuses (its status line); the connection
    /// closes after the answer.
    Refused(&'static str),
    /// Need more bytes.
    Incomplete,
}

/// Parses the request at the start of `buf`, if it is all there.
fn parse(buf: &[u8]) -> Option<Parsed> {
    if buf.is_empty() {
        return None;
    }
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Some(Parsed::Incomplete);
    };
    let head = std::str::from_utf8(&buf[..head_end]).unwrap_or("");
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
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
            body = match value.parse::<usize>() {
                Ok(n) if n <= MAX_BODY => n,
                Ok(_) => return Some(Parsed::Refused("413 Content Too Large")),
                Err(_) => return Some(Parsed::Refused("400 Bad Request")),
            };
        }
    }
    let len = head_end + 4 + body;
    if buf.len() < len {
        return Some(Parsed::Incomplete);
    }
    let found = (method == "GET" || method == "HEAD") && path == "/";
    Some(Parsed::Request {
        len,
        keep_alive,
        found,
        head: method == "HEAD",
    })
}

/// Appends the response to a request: the body unless it was `HEAD`.
fn respond(out: &mut Vec<u8>, found: bool, keep_alive: bool, head: bool) {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    if found {
        out.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n",
                BODY.len()
            )
            .as_bytes(),
        );
        if !head {
            out.extend_from_slice(BODY);
        }
    } else {
        out.extend_from_slice(
            format!("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: {conn}\r\n\r\n")
                .as_bytes(),
        );
    }
}
