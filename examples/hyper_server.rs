//! An HTTP/1.1 server with hyper 1.x on curing: keep-alive, a streaming
//! response and a streaming echo of the request body.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_server [ADDR]
//! curl http://127.0.0.1:3000/                 # hello
//! curl http://127.0.0.1:3000/stream           # five chunks, 10 ms apart
//! curl --data-binary @file http://127.0.0.1:3000/echo
//! wrk -t1 -c50 -d5s http://127.0.0.1:3000/
//! ```
//!
//! One thread, one ring: each connection is a curing task; hyper reads and
//! writes through `curing::compat::Compat`, and its timeouts use curing's
//! timers (`CuringTimer`).

use curing::compat::hyper::CuringTimer;
use curing::compat::Compat;
use curing::net::TcpListener;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use std::time::Duration;

/// Any body, boxed. Not `Send`: curing tasks stay on their thread, so
/// bodies may hold curing timers and streams.
type Body = std::pin::Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = hyper::Error>>>;

#[curing::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(addr.as_str())?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        curing::spawn(async move {
            let served = http1::Builder::new()
                .timer(CuringTimer)
                .serve_connection(Compat::new(stream), service_fn(handle))
                .await;
            if let Err(e) = served {
                eprintln!("connection: {e}");
            }
        });
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(full("Hello from curing\n")),
        (&Method::GET, "/stream") => Response::new(chunks(5, Duration::from_millis(10))),
        // Streams the request body back as it arrives.
        (&Method::POST, "/echo") => Response::new(Box::pin(req.into_body())),
        _ => {
            let mut not_found = Response::new(full("not found\n"));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            not_found
        }
    })
}

fn full(text: &'static str) -> Body {
    Box::pin(Full::new(Bytes::from_static(text.as_bytes())).map_err(|never| match never {}))
}

/// A chunked body of `n` chunks, one every `gap`, made as it is sent.
fn chunks(n: u32, gap: Duration) -> Body {
    let stream = futures_util::stream::unfold(0, move |i| async move {
        if i == n {
            return None;
        }
        curing::time::sleep(gap).await;
        let frame = Frame::data(Bytes::from(format!("chunk {i}\n")));
        Some((Ok::<_, hyper::Error>(frame), i + 1))
    });
    Box::pin(StreamBody::new(stream))
}
