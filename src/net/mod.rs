//! Sockets: TCP, UDP and Unix-domain, every accept, connect, send, receive
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
//! ## Name resolution
//!
//! io_uring has no DNS. A host name (`"localhost:80"`, `("example.com",
//! 443)`) is resolved by the system resolver (`getaddrinfo`) on a helper
//! thread for async calls ([`TcpStream::connect`], [`UdpSocket::send_to`],
//! [`UdpSocket::connect`]), so the runtime keeps running; synchronous calls
//! ([`TcpListener::bind`], [`UdpSocket::bind`]) resolve on the calling
//! thread. `SocketAddr`s and IP literals are used as they are, with no
//! lookup. [`TcpStream::connect_timeout`] bounds a connect, lookup included.
//!
//! ## Socket options and conversions
//!
//! Options that must be set before binding (`SO_REUSEADDR`,
//! `SO_REUSEPORT`, `IPV6_V6ONLY`, buffer sizes, backlog) go in
//! [`BindOptions`]; the others are methods on each type (`set_nodelay`,
//! `set_keepalive`, `set_linger`, `set_ttl`, `set_send_buffer_size`, ...).
//! Every type converts from and into its `std` twin (`from_std`,
//! `into_std`) and implements `AsRawFd`, `AsFd`, `FromRawFd`, `IntoRawFd`.
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

mod datagram;
mod incoming;
mod listener;
pub(crate) mod opts;
mod pool;
mod resolve;
pub(crate) mod split;
mod stream;
mod udp;
mod unix;

pub use incoming::Incoming;
pub use listener::TcpListener;
pub use opts::BindOptions;
pub use pool::PooledRecv;
pub use resolve::ToSocketAddrs;
pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;
pub use udp::UdpSocket;
pub use unix::{ToUnixAddr, UnixDatagram, UnixListener, UnixSocketAddr, UnixStream};
