//! Unix-domain sockets: streams, listeners and datagrams, with filesystem
//! or abstract addresses, and descriptor passing (`SCM_RIGHTS`) on streams.

mod addr;
mod datagram;
mod listener;
mod stream;

pub use addr::{ToUnixAddr, UnixSocketAddr};
pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use stream::UnixStream;
