//! hyper 1.x on curing: a hyper server and a hyper client over
//! `curing::compat::Compat`, with keep-alive (many requests, one
//! connection), a streaming response, a streaming request body echoed back
//! as it arrives, a header-read timeout through `CuringTimer`, and curl as
//! an outside client.
#![cfg(feature = "hyper")]

mod common;

use curing::compat::hyper::{CuringExecutor, CuringTimer};
use curing::compat::Compat;
use curing::net::{TcpListener, TcpStream};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use std::cell::Cell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

type Body = Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = hyper::Error>>>;

fn full(data: impl Into<Bytes>) -> Body {
    Box::pin(Full::new(data.into()).map_err(|never| match never {}))
}

/// `n` chunks, `gap` apart, made as they are sent.
fn chunks(n: u32, gap: Duration) -> Body {
    let stream = futures_util::stream::unfold(0, move |i| async move {
        if i == n {
            return None;
        }
        curing::time::sleep(gap).await;
        Some((
            Ok::<_, hyper::Error>(Frame::data(Bytes::from(format!("chunk {i}\n")))),
            i + 1,
        ))
    });
    Box::pin(StreamBody::new(stream))
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(full("hello\n")),
        (&Method::GET, "/stream") => Response::new(chunks(5, Duration::from_millis(20))),
        (&Method::POST, "/echo") => Response::new(Box::pin(req.into_body())),
        _ => Response::builder().status(404).body(full("")).unwrap(),
    })
}

/// Starts a hyper server task; returns its address and its count of
/// accepted connections.
fn serve(header_timeout: Option<Duration>) -> (SocketAddr, Rc<Cell<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Rc::new(Cell::new(0));
    let count = accepted.clone();
    curing::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            count.set(count.get() + 1);
            curing::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(CuringTimer);
                builder.header_read_timeout(header_timeout);
                let _ = builder
                    .serve_connection(Compat::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
    (addr, accepted)
}

/// A hyper client connection to `addr`; its driver runs as a task.
async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Body> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(Compat::new(stream))
        .await
        .unwrap();
    hyper::rt::Executor::execute(&CuringExecutor, async move {
        let _ = conn.await;
    });
    send
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header("host", "localhost")
        .body(full(""))
        .unwrap()
}

#[test]
fn keep_alive_many_requests_one_connection() {
    common::run(T, || async {
        let (addr, accepted) = serve(None);
        let mut send = connect(addr).await;
        for _ in 0..50 {
            send.ready().await.unwrap();
            let resp = send.send_request(get("/")).await.unwrap();
            assert_eq!(resp.status(), 200);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "hello\n");
        }
        assert_eq!(accepted.get(), 1, "keep-alive: one connection for all");
        let resp = send.send_request(get("/nothing")).await.unwrap();
        assert_eq!(resp.status(), 404);
    });
}

#[test]
fn streaming_response_arrives_chunk_by_chunk() {
    common::run(T, || async {
        let (addr, _) = serve(None);
        let mut send = connect(addr).await;
        let resp = send.send_request(get("/stream")).await.unwrap();
        assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        let mut body = resp.into_body();
        let mut frames = Vec::new();
        let start = Instant::now();
        while let Some(frame) = body.frame().await {
            let frame = frame.unwrap();
            if let Ok(data) = frame.into_data() {
                frames.push((start.elapsed(), data));
            }
        }
        let text: String = frames
            .iter()
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
            .collect();
        assert_eq!(text, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
        // Streamed, not collected by the server first: the chunks came
        // separately, the last one ~80 ms after the first.
        assert!(frames.len() >= 3, "{} frames", frames.len());
        let spread = frames.last().unwrap().0 - frames[0].0;
        assert!(spread >= Duration::from_millis(50), "{spread:?}");
    });
}

#[test]
fn streaming_request_body_is_echoed_as_it_arrives() {
    common::run(T, || async {
        let (addr, _) = serve(None);
        let mut send = connect(addr).await;
        // The upload is a stream; the server echoes it while it still comes.
        let upload = chunks(4, Duration::from_millis(30));
        let req = Request::post("/echo")
            .header("host", "localhost")
            .body(upload)
            .unwrap();
        let start = Instant::now();
        let resp = send.send_request(req).await.unwrap();
        let headers_at = start.elapsed();
        assert!(
            headers_at < Duration::from_millis(100),
            "the response started before the upload ended ({headers_at:?})"
        );
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
        // And a big body, both ways.
        let big: Vec<u8> = (0..2_000_000u32).map(|i| i as u8).collect();
        let req = Request::post("/echo")
            .header("host", "localhost")
            .body(full(big.clone()))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(body == big, "big echo differs");
    });
}

#[test]
fn header_read_timeout_uses_curing_timers() {
    common::run(T, || async {
        let (addr, _) = serve(Some(Duration::from_millis(100)));
        let stream = TcpStream::connect(addr).await.unwrap();
        let (res, _) = stream
            .write_all(&b"GET / HTTP/1.1\r\nhost: x\r\n"[..])
            .await;
        res.unwrap();
        let start = Instant::now();
        // The server gives up on the unfinished head: 408 or just a close.
        let mut seen = Vec::new();
        loop {
            let (res, buf) = stream.read(Vec::with_capacity(1024)).await;
            match res {
                Ok(0) | Err(_) => break,
                Ok(_) => seen.extend_from_slice(&buf),
            }
        }
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(80) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        let text = String::from_utf8_lossy(&seen);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    });
}

#[test]
fn curl_keep_alive_and_stream() {
    common::run(T, || async {
        let found = curing::spawn_blocking(|| {
            std::process::Command::new("curl")
                .arg("--version")
                .output()
                .is_ok()
        });
        if !found.await.unwrap() {
            println!("skipped: curl is not installed (ci/test.sh installs it)");
            return;
        }
        let (addr, accepted) = serve(None);
        let out = curing::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["-sSv", "--max-time", "10"])
                .arg(format!("http://{addr}/"))
                .arg(format!("http://{addr}/stream"))
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            stdout,
            "hello\nchunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n"
        );
        assert!(stderr.contains("Re-using existing connection"), "{stderr}");
        assert_eq!(accepted.get(), 1);
    });
}
