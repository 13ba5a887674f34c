//! Echo servers, one per runtime, each written the way its own docs write
//! one: bind, accept in a loop, spawn a task per connection, read into a
//! 4 KiB buffer and write back what came. Every runtime runs at its defaults
//! on one thread. The hand-written io_uring loop is in `raw.rs`.

use std::io;

/// The same buffer size for every runtime.
pub const BUF: usize = 4096;

/// curing: owned buffers, `read` gives the buffer back, `write_all` a slice.
pub fn curing(addr: &str) -> io::Result<()> {
    curing_with(addr, BUF)
}

/// [`curing`] with an 8 KiB buffer, as the plain server of the README
/// writes it: a 4 KiB message leaves the buffer half full, so every read
/// is short and the next one waits for data first (`POLL_FIRST`).
pub fn curing_8k(addr: &str) -> io::Result<()> {
    curing_with(addr, 2 * BUF)
}

/// The plain curing echo server with a `size`-byte buffer per connection.
fn curing_with(addr: &str, size: usize) -> io::Result<()> {
    use curing::buf::IoBuf;
    use curing::net::TcpListener;

    curing::run(async {
        let listener = TcpListener::bind(addr)?;
        loop {
            let (stream, _peer) = listener.accept().await?;
            curing::spawn(async move {
                let mut buf = vec![0u8; size];
                loop {
                    let (res, b) = stream.read(buf).await;
                    let n = match res {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let (res, slice) = stream.write_all(b.slice(..n)).await;
                    buf = slice.into_inner();
                    if res.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

/// curing with a shared buffer pool: one multishot receive per connection
/// (armed once, never re-armed per message) into a provided-buffer ring, and
/// each received buffer written back as it is (no copy).
pub fn curing_pooled(addr: &str) -> io::Result<()> {
    use curing::buf::BufPool;
    use curing::net::TcpListener;

    curing::run(async {
        let pool = BufPool::new(4096, BUF)?;
        let listener = TcpListener::bind(addr)?;
        loop {
            let (stream, _peer) = listener.accept().await?;
            let pool = pool.clone();
            curing::spawn(async move {
                let mut rx = stream.recv_pooled(&pool);
                while let Some(Ok(buf)) = rx.next().await {
                    if stream.write_all(buf).await.0.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

/// tokio: current-thread runtime (epoll), borrowed buffers.
pub fn tokio(addr: &str) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        loop {
            let (mut stream, _peer) = listener.accept().await?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

/// monoio: io_uring driver, owned buffers (`AsyncReadRent`), as in its echo
/// example: read appends to a `Vec`, write it all back, clear.
pub fn monoio(addr: &str) -> io::Result<()> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    use monoio::net::TcpListener;

    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(addr)?;
        loop {
            let (mut stream, _peer) = listener.accept().await?;
            monoio::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(BUF);
                let mut res;
                loop {
                    (res, buf) = stream.read(buf).await;
                    match res {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    (res, buf) = stream.write_all(buf).await;
                    if res.is_err() {
                        break;
                    }
                    buf.clear();
                }
            });
        }
    })
}

/// glommio: its own io_uring executor on a thread it starts; streams are
/// futures-lite `AsyncRead`/`AsyncWrite` with borrowed buffers.
pub fn glommio(addr: &str) -> io::Result<()> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use glommio::{net::TcpListener, spawn_local, LocalExecutorBuilder};

    let addr = addr.to_string();
    let handle = LocalExecutorBuilder::default()
        .spawn(move || async move {
            let listener = TcpListener::bind(addr.as_str()).map_err(io::Error::from)?;
            loop {
                let mut stream = listener.accept().await.map_err(io::Error::from)?;
                spawn_local(async move {
                    let mut buf = vec![0u8; BUF];
                    loop {
                        let n = match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                })
                .detach();
            }
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        })
        .map_err(io::Error::from)?;
    handle.join().map_err(io::Error::from)?
}

/// compio: io_uring driver, owned buffers; `read` appends to a `Vec`.
pub fn compio(addr: &str) -> io::Result<()> {
    use compio::io::{AsyncRead, AsyncWriteExt};
    use compio::net::TcpListener;

    let rt = compio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        loop {
            let (mut stream, _peer) = listener.accept().await?;
            compio::runtime::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(BUF);
                loop {
                    let res;
                    (res, buf) = stream.read(buf).await.into();
                    match res {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let res;
                    (res, buf) = stream.write_all(buf).await.into();
                    if res.is_err() {
                        break;
                    }
                    buf.clear();
                }
            })
            .detach();
        }
    })
}
