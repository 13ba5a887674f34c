//! `UnixListener`: binds synchronously, accepts through the ring.

use super::{ToUnixAddr, UnixSocketAddr, UnixStream};
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::accept::Accept;
use crate::sys;
use std::io;
use std::os::fd::AsFd;

/// A Unix-domain socket listening for connections.
///
/// The socket file a filesystem address creates is not removed when the
/// listener closes (as with `std`): remove it before binding again.
///
/// ```no_run
/// use curing::net::UnixListener;
///
/// # fn main() -> std::io::Result<()> {
/// curing::run(async {
///     let listener = UnixListener::bind("/tmp/app.sock")?;
///     let (stream, _peer) = listener.accept().await?;
///     stream.close().await
/// })
/// # }
/// ```
pub struct UnixListener {
    /// The listening socket; each accept in flight holds a clone.
    fd: SharedFd,
}

impl UnixListener {
    /// Creates a socket listening at `addr` (a path, or a
    /// [`UnixSocketAddr`] for an abstract name), backlog 1024.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the path exists (even a stale socket file).
    pub fn bind(addr: impl ToUnixAddr) -> io::Result<UnixListener> {
        let raw = addr.to_unix_addr()?.to_raw()?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC)?;
        sys::bind(fd.as_fd(), &raw.storage, raw.len)?;
        sys::listen(fd.as_fd(), 1024)?;
        Ok(UnixListener::from_shared(SharedFd::new(fd)))
    }

    /// Waits for a connection; returns it with the peer's address (usually
    /// unnamed). Dropping the future closes a connection accepted anyway.
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddr)> {
        let (fd, addr) = submit(Accept::new(self.fd.clone())).await?;
        let peer = UnixSocketAddr::from_raw(&addr.storage, addr.len)?;
        Ok((UnixStream::from_shared(SharedFd::new(fd)), peer))
    }

    /// The connections of this listener as an async stream, through one
    /// multishot accept; see [`Incoming`](crate::net::Incoming).
    pub fn incoming(&self) -> crate::net::Incoming<UnixStream> {
        crate::net::Incoming::new(self.fd.clone(), UnixStream::from)
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Local)?;
        UnixSocketAddr::from_raw(&storage, len)
    }

    /// Closes the socket through the ring, after any accept in flight.
    pub async fn close(self) -> io::Result<()> {
        crate::op::close(self.fd).await
    }

    fn from_shared(fd: SharedFd) -> UnixListener {
        UnixListener { fd }
    }
}

crate::net::opts::fd_conversions!(UnixListener, std::os::unix::net::UnixListener);
crate::net::opts::common_sockopts!(UnixListener);

impl std::fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UnixListener");
        d.field("fd", &self.fd.raw());
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        d.finish()
    }
}
