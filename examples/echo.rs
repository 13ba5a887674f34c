//! An echo server: every byte a client sends comes back.
//!
//! ```text
//! cargo run --release --example echo -- [ADDR] [--threads N]   # default 127.0.0.1:7878, 1 (0: one per CPU)
//! ```
//!
//! Try it with `nc 127.0.0.1 7878`. Each of the N threads runs its own
//! runtime (one ring each) with its own listener on the same port
//! (`SO_REUSEPORT`: the kernel spreads connections); one task per
//! connection, each read and write one io_uring op.
//!
//! The connection tasks are children of a [`TaskGroup::reaping`] group, the
//! group for servers: a finished connection frees its slot at once, so
//! memory follows the open connections, not the ones served; and the group
//! owns them, so stopping it cancels what still runs.
//!
//! Ctrl-C or SIGTERM stops it gracefully: listeners close, open connections
//! get a grace period to finish (then they are cancelled and closed), and
//! the process exits 0.

use curing::buf::IoBuf;
use curing::net::{BindOptions, TcpListener, TcpStream};
use curing::signal::{Signals, SIGINT, SIGTERM};
use curing::sync::thread::oneshot;
use curing::task::TaskGroup;
use curing::time::timeout;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// How long open connections may take to finish after a stop signal.
const GRACE: Duration = Duration::from_secs(5);
/// How long the accept loop waits after running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// `--threads N`: a count (`0`: one per CPU).
fn parse_threads(arg: Option<String>) -> io::Result<usize> {
    arg.and_then(|n| n.parse().ok()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "--threads takes a number (0: one per CPU)",
        )
    })
}

/// Whether an accept error means the process or system is out of
/// descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`).
fn is_resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn main() -> io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:7878".parse().unwrap();
    let mut threads = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = parse_threads(args.next())?,
            a => {
                addr = a
                    .parse()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            }
        }
    }
    let workers = curing::Runtime::builder()
        .threads(threads)
        .build_threads()
        .map_err(io::Error::other)?;
    curing::run(async move {
        // Blocked here; curing's worker threads block them too, so the
        // signalfd gets them.
        let mut signals = Signals::new(&[SIGINT, SIGTERM])?;
        let mut stops = Vec::new();
        let mut served = Vec::new();
        for handle in workers.handles() {
            let (stop_tx, stop_rx) = oneshot::channel();
            let (ready_tx, ready_rx) = oneshot::channel();
            stops.push(stop_tx);
            served.push(handle.spawn_with(move || serve(addr, ready_tx, stop_rx)));
            ready_rx.await.map_err(io::Error::other)??;
        }
        println!("echo: listening on {addr} with {} thread(s)", workers.len());
        let sig = signals.recv().await?;
        eprintln!("echo: signal {sig}: stopping (grace {GRACE:?})");
        for stop in stops {
            let _ = stop.send(());
        }
        for s in served {
            s.await??;
        }
        Ok(())
    })
}

/// One thread's server: an accept loop that spawns one child per connection
/// into a reaping [`TaskGroup`] (finished connections leave the group at
/// once, however long the server runs), until `stop`; then it gives the open
/// connections `GRACE` to finish and cancels the rest.
async fn serve(
    addr: SocketAddr,
    ready: oneshot::Sender<io::Result<()>>,
    stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let listener = match TcpListener::bind_with(addr, &BindOptions::new().reuseport(true)) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e)); // main reports it
            return Ok(());
        }
    };
    let _ = ready.send(Ok(()));
    let mut connections = TaskGroup::<(), io::Error>::reaping();
    let accept_loop = async {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("echo: accept: {e}");
                    // Out of descriptors or memory: the connection stays
                    // queued, and trying again at once would spin. Wait.
                    if is_resource_error(&e) {
                        curing::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            };
            connections.spawn(async move {
                // The group drops outcomes: report errors here.
                if let Err(e) = echo(stream).await {
                    eprintln!("echo: {peer}: {e}");
                }
                Ok(())
            });
        }
    };
    // Accept until `stop`; the loop is dropped at its `accept` (an accept
    // cut off closes the connection it got, see the crate docs).
    curing::select! {
        _ = accept_loop => {}
        _ = stop => {}
    }
    // Stop accepting. `next` on a reaping group ends when no connection is
    // left.
    drop(listener);
    if timeout(GRACE, connections.next()).await.is_err() {
        eprintln!(
            "echo: {} connection(s) still open after {GRACE:?}: closing them",
            connections.len()
        );
    }
    // Cancels what still runs (their sockets close) and waits for it.
    connections.shutdown().await;
    Ok(())
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
