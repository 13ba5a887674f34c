//! An echo server: every byte a client sends comes back.
//!
//! ```text
//! cargo run --release --example echo -- [ADDR]     # default 127.0.0.1:7878
//! ```
//!
//! Try it with `nc 127.0.0.1 7878`. One thread, one task per connection, no
//! event loop passed around; each read and write is one io_uring op, and the
//! buffer travels into the kernel and back.

use curing::buf::IoBuf;
use curing::net::{TcpListener, TcpStream};
use std::io;

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7878".to_string());
    curing::run(async move {
        let listener = TcpListener::bind(addr.as_str())?;
        println!("echo: listening on {}", listener.local_addr()?);
        loop {
            let (stream, peer) = listener.accept().await?;
            curing::spawn(async move {
                if let Err(e) = echo(stream).await {
                    eprintln!("echo: {peer}: {e}");
                }
            });
        }
    })
}

/// Echoes until the peer closes its side, then closes ours.
async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            break;
        }
        let (res, slice) = stream.write_all(b.slice(..n)).await;
        res?;
        buf = slice.into_inner();
    }
    stream.close().await
}
