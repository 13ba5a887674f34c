//! A small HTTP/1.1 server: `GET /` answers `Hello, world!`, with
//! keep-alive and pipelining (several requests in one read are answered
//! with one write).
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

fn main() -> io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut threads = 1;
    let mut pooled = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            "--pooled" => pooled = true,
            a => {
                addr = a
                    .parse()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            }
        }
    }
    eprintln!(
        "http: listening on {addr} ({threads} thread(s){})",
        if pooled { ", pooled" } else { "" }
    );
    let workers: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(move || curing::run(server(addr, pooled))))
        .collect();
    for w in workers {
        w.join().expect("server thread")?;
    }
    Ok(())
}

async fn server(addr: SocketAddr, pooled: bool) -> io::Result<()> {
    let listener = TcpListener::bind_with(addr, &BindOptions::new().reuseport(true))?;
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
                } => {
                    respond(&mut out, found, keep_alive);
                    pending.drain(..len);
                    if !keep_alive {
                        close = true;
                        break;
                    }
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
    },
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
            body = value.parse().unwrap_or(0);
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
    })
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
