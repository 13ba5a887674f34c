//! Sockets: TCP listeners and streams, every accept, connect, read, write
//! and shutdown an io_uring op.
//!
//! The types find their runtime through the thread they run on, like the rest
//! of curing: no handle is passed around. Each method builds one op and awaits
//! it (`submit(op).await`); nothing here touches the ring.
//!
//! - [`TcpListener::bind`] is a plain synchronous call (socket, bind, listen);
//!   [`TcpListener::accept`] is an `IORING_OP_ACCEPT`.
//! - [`TcpStream::connect`] creates the socket through the ring where the
//!   kernel can (`IORING_OP_SOCKET`, Linux 5.19) and connects with
//!   `IORING_OP_CONNECT`.
//! - Reads and writes take owned buffers and give them back with the result
//!   (see [`crate::buf`]). They take `&self`, so one task can read while
//!   another writes the same stream (share it in an `Rc`).
//!
//! Dropping any of these futures is safe: a connection accepted after its
//! accept was dropped is closed, a socket whose connect was dropped is closed
//! once the kernel lets go of it, and bytes a dropped read received anyway
//! are returned by the stream's next read.
//!
//! Name resolution (`ToSocketAddrs` with a host name) is a blocking call into
//! the system resolver; pass a `SocketAddr` or an IP literal to avoid it.
//!
//! ```no_run
//! use curing::net::{TcpListener, TcpStream};
//!
//! # fn main() -> std::io::Result<()> {
//! curing::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let client = curing::spawn(async move {
//!         let stream = TcpStream::connect(addr).await?;
//!         let (res, _) = stream.write_all(b"ping".to_vec()).await;
//!         res?;
//!         stream.close().await
//!     });
//!     let (stream, _peer) = listener.accept().await?;
//!     let (res, buf) = stream.read_exact(vec![0u8; 4]).await;
//!     res?;
//!     assert_eq!(buf, b"ping");
//!     client.await.expect("client task")?;
//!     Ok(())
//! })
//! # }
//! ```

mod listener;
mod stream;

pub use listener::TcpListener;
pub use stream::TcpStream;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr` to a list (blocking, for host names).
fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(addrs)
}
