//! Fetch from several servers at once, with a task group and a deadline.
//!
//! ```text
//! cargo run --example fetch
//! ```
//!
//! Starts four local TCP servers that answer after different delays, then
//! asks all of them at once. Answers are printed as they arrive; at the
//! deadline the group cancels the fetches still running (their reads are
//! cancelled in the kernel, their sockets closed) and they are reported as
//! cut off. The servers run in a group of their own, stopped at the end.

use curing::net::{TcpListener, TcpStream};
use curing::task::TaskGroup;
use curing::time::{sleep, CancelScope};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long the whole fetch may take.
const DEADLINE: Duration = Duration::from_millis(500);

fn main() -> io::Result<()> {
    curing::run(async {
        // The servers: (name, delay before answering).
        let mut servers = TaskGroup::<(), io::Error>::new();
        let mut targets = Vec::new();
        for (name, delay_ms) in [
            ("alpha", 300),
            ("bravo", 20),
            ("charlie", 2000),
            ("delta", 120),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            targets.push((name, listener.local_addr()?));
            servers.spawn(serve(listener, name, Duration::from_millis(delay_ms)));
        }

        let start = Instant::now();
        let mut fetches = TaskGroup::<String, io::Error>::wait_all();
        let mut names = HashMap::new();
        for (name, addr) in targets {
            names.insert(fetches.spawn(fetch(addr)), name);
        }
        println!(
            "fetching from {} servers, deadline {DEADLINE:?}",
            names.len()
        );

        // Results as they complete, until all are in or the deadline passes.
        let all_in = CancelScope::at(start + DEADLINE)
            .ignore(async {
                while let Some((id, result)) = fetches.next_with_id().await {
                    let ms = start.elapsed().as_millis();
                    match result {
                        Ok(reply) => println!("{ms:>5} ms  {:<8} {reply}", names[&id]),
                        Err(e) => println!("{ms:>5} ms  {:<8} failed: {e}", names[&id]),
                    }
                }
            })
            .await;

        if all_in.is_none() {
            // Cancel the stragglers; each reports `Cancelled`.
            fetches.abort_all();
            while let Some((id, result)) = fetches.next_with_id().await {
                if result.is_err_and(|e| e.is_cancelled()) {
                    println!(
                        "{:>5} ms  {:<8} cut off by the deadline",
                        start.elapsed().as_millis(),
                        names[&id]
                    );
                }
            }
        }
        drop(servers); // stops the servers (their accepts are cancelled)
        Ok(())
    })
}

/// A server that answers each connection with a line, after `delay`.
async fn serve(listener: TcpListener, name: &'static str, delay: Duration) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        curing::spawn(async move {
            sleep(delay).await;
            let reply = format!("hello from {name} (after {} ms)", delay.as_millis());
            let (res, _) = stream.write_all(reply.into_bytes()).await;
            if res.is_ok() {
                let _ = stream.close().await;
            }
        });
    }
}

/// Connects, reads the whole reply, closes.
async fn fetch(addr: SocketAddr) -> io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    let mut reply = Vec::new();
    let mut buf = vec![0u8; 256];
    loop {
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&b[..n]);
        buf = b;
    }
    stream.close().await?;
    String::from_utf8(reply).map_err(io::Error::other)
}
