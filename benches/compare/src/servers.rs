//! Echo servers, one per runtime, each written the way its own docs write
//! one: bind, accept in a loop, spawn a task per connection, read into a
//! 4 KiB buffer and write back what came. Every runtime runs at its defaults
//! on one thread. The hand-written io_uring loop is in `raw.rs`.
//!
//! With `--threads N` (N > 1) the same accept loop and connection code run
//! on N threads, each runtime the way it spreads over threads: curing,
//! monoio, glommio and compio thread-per-core (one runtime, one ring and one
//! `SO_REUSEPORT` listener per thread: the kernel spreads connections over
//! the listeners), tokio its multi-thread runtime with N workers (one
//! listener; connections are tasks its workers share and steal). With one
//! thread each server is the single-threaded one above, unchanged.

use std::future::Future;
use std::io;

/// The same buffer size for every runtime.
pub const BUF: usize = 4096;

/// curing: owned buffers, `read` gives the buffer back, `write_all` a slice.
pub fn curing(addr: &str, threads: usize) -> io::Result<()> {
    curing_with(addr, BUF, threads)
}

/// [`curing`] with an 8 KiB buffer, as the plain server of the README
/// writes it: a 4 KiB message leaves the buffer half full, so every read
/// is short and the next one waits for data first (`POLL_FIRST`).
pub fn curing_8k(addr: &str, threads: usize) -> io::Result<()> {
    curing_with(addr, 2 * BUF, threads)
}

/// The plain curing echo server with a `size`-byte buffer per connection.
fn curing_with(addr: &str, size: usize, threads: usize) -> io::Result<()> {
    curing_on(addr, threads, move |listener| curing_echo(listener, size))
}

async fn curing_echo(listener: curing::net::TcpListener, size: usize) -> io::Result<()> {
    use curing::buf::IoBuf;

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
}

/// curing with a shared buffer pool: one multishot receive per connection
/// (armed once, never re-armed per message) into a provided-buffer ring, and
/// each received buffer written back as it is (no copy). With threads, one
/// pool per thread.
pub fn curing_pooled(addr: &str, threads: usize) -> io::Result<()> {
    curing_on(addr, threads, curing_pooled_echo)
}

async fn curing_pooled_echo(listener: curing::net::TcpListener) -> io::Result<()> {
    use curing::buf::BufPool;

    let pool = BufPool::new(4096, BUF)?;
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
}

/// Runs `serve(listener)` on `threads` curing runtimes. One: on this thread
/// (`curing::run`) with a plain listener. More: thread-per-core
/// (`Builder::build_threads`), one runtime per thread, each binding its own
/// `SO_REUSEPORT` listener on `addr`.
fn curing_on<F, Fut>(addr: &str, threads: usize, serve: F) -> io::Result<()>
where
    F: Fn(curing::net::TcpListener) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    use curing::net::{BindOptions, TcpListener};

    if threads <= 1 {
        return curing::run(async { serve(TcpListener::bind(addr)?).await });
    }
    let workers = curing::Runtime::builder()
        .threads(threads)
        .build_threads()
        .map_err(io::Error::other)?;
    let addr = addr.to_string();
    workers
        .block_on_each(move |_| {
            let served = TcpListener::bind_with(addr.as_str(), &BindOptions::new().reuseport(true))
                .map(&serve);
            async move { served?.await }
        })
        .into_iter()
        .collect()
}

/// tokio: current-thread runtime (epoll), borrowed buffers; with threads,
/// the multi-thread runtime.
pub fn tokio(addr: &str, threads: usize) -> io::Result<()> {
    tokio_runtime(threads)?
        .block_on(async { tokio_echo(tokio::net::TcpListener::bind(addr).await?).await })
}

async fn tokio_echo(listener: tokio::net::TcpListener) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
}

/// One thread: tokio's current-thread runtime. More: its multi-thread
/// runtime with `threads` workers (the accept loop runs in `block_on` on
/// this thread, connections on the workers).
pub fn tokio_runtime(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_io()
            .build()
    }
}

/// monoio: io_uring driver, owned buffers (`AsyncReadRent`), as in its echo
/// example: read appends to a `Vec`, write it all back, clear. (Its
/// `TcpListener::bind` sets `SO_REUSEPORT`.)
pub fn monoio(addr: &str, threads: usize) -> io::Result<()> {
    let addr = addr.to_string();
    per_thread(threads, move || {
        let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().build()?;
        rt.block_on(async { monoio_echo(monoio::net::TcpListener::bind(addr.as_str())?).await })
    })
}

async fn monoio_echo(listener: monoio::net::TcpListener) -> io::Result<()> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

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
}

/// Runs `serve` on this thread (one thread) or on `threads` threads of its
/// own; the first error.
pub fn per_thread<F>(threads: usize, serve: F) -> io::Result<()>
where
    F: Fn() -> io::Result<()> + Clone + Send + 'static,
{
    if threads <= 1 {
        return serve();
    }
    let joins: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(serve.clone()))
        .collect();
    joins.into_iter().try_for_each(|j| {
        j.join()
            .unwrap_or_else(|_| Err(io::Error::other("server thread panicked")))
    })
}

/// glommio: its own io_uring executor on a thread it starts; streams are
/// futures-lite `AsyncRead`/`AsyncWrite` with borrowed buffers. (Its
/// `TcpListener::bind` sets `SO_REUSEPORT`.)
pub fn glommio(addr: &str, threads: usize) -> io::Result<()> {
    let addr = addr.to_string();
    glommio_on(threads, move || glommio_echo(addr))
}

async fn glommio_echo(addr: String) -> io::Result<()> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use glommio::{net::TcpListener, spawn_local};

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
}

/// Runs `serve()` on one glommio executor (`LocalExecutorBuilder`, its
/// defaults) or on a pool of `threads` (`LocalExecutorPoolBuilder`,
/// unbound), and waits for them.
pub fn glommio_on<G, F>(threads: usize, serve: G) -> io::Result<()>
where
    G: FnOnce() -> F + Clone + Send + 'static,
    F: Future<Output = io::Result<()>> + 'static,
{
    use glommio::{LocalExecutorBuilder, LocalExecutorPoolBuilder, PoolPlacement};

    if threads <= 1 {
        let handle = LocalExecutorBuilder::default()
            .spawn(serve)
            .map_err(io::Error::from)?;
        return handle.join().map_err(io::Error::from)?;
    }
    LocalExecutorPoolBuilder::new(PoolPlacement::Unbound(threads))
        .on_all_shards(serve)
        .map_err(io::Error::from)?
        .join_all()
        .into_iter()
        .try_for_each(|r| r.map_err(io::Error::from).and_then(|served| served))
}

/// compio: io_uring driver, owned buffers; `read` appends to a `Vec`.
pub fn compio(addr: &str, threads: usize) -> io::Result<()> {
    let addr = addr.to_string();
    per_thread(threads, move || {
        let rt = compio::runtime::Runtime::new()?;
        rt.block_on(async { compio_echo(compio_listener(&addr, threads).await?).await })
    })
}

async fn compio_echo(listener: compio::net::TcpListener) -> io::Result<()> {
    use compio::io::{AsyncRead, AsyncWriteExt};

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
}

/// compio's `TcpListener::bind` with one thread; with more, the same socket
/// with `SO_REUSEPORT` too (`TcpSocket`), one per thread.
pub async fn compio_listener(addr: &str, threads: usize) -> io::Result<compio::net::TcpListener> {
    use compio::net::{TcpListener, TcpSocket};

    if threads <= 1 {
        return TcpListener::bind(addr).await;
    }
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4().await?
    } else {
        TcpSocket::new_v6().await?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr).await?;
    socket.listen(128).await
}
