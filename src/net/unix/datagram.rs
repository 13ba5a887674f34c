//! `UnixDatagram`: Unix-domain datagrams through the ring.

use super::{ToUnixAddr, UnixSocketAddr};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::{self, send_msg::SendMsg};
use crate::sys::{self, sockopt};
use std::io;

/// A Unix-domain datagram socket. Datagrams keep their boundaries and, on
/// one host, are never lost or reordered; a datagram larger than the
/// receive buffer is an `InvalidData` error (as for
/// [`UdpSocket`](crate::net::UdpSocket)).
///
/// ```no_run
/// use curing::net::UnixDatagram;
///
/// # fn main() -> std::io::Result<()> {
/// curing::run(async {
///     let (a, b) = UnixDatagram::pair()?;
///     let (res, _) = a.send(b"ping".to_vec()).await;
///     res?;
///     let (res, buf) = b.recv(vec![0u8; 64]).await;
///     assert_eq!(&buf[..res?], b"ping");
///     Ok(())
/// })
/// # }
/// ```
pub struct UnixDatagram {
    /// The socket; each op in flight holds a clone.
    fd: SharedFd,
}

impl UnixDatagram {
    /// A socket bound to `addr` (a path or an abstract [`UnixSocketAddr`]).
    pub fn bind(addr: impl ToUnixAddr) -> io::Result<UnixDatagram> {
        let raw = addr.to_unix_addr()?.to_raw()?;
        let sock = UnixDatagram::unbound()?;
        sys::bind(sock.fd.as_fd(), &raw.storage, raw.len)?;
        Ok(sock)
    }

    /// A socket with no address (it can still send, and receive replies
    /// if the kernel autobinds it or it is connected).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC)?;
        Ok(UnixDatagram::from_shared(SharedFd::new(fd)))
    }

    /// Two sockets connected to each other (`socketpair`).
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = sockopt::socketpair(libc::SOCK_DGRAM)?;
        Ok((UnixDatagram::from(a), UnixDatagram::from(b)))
    }

    /// Sets the default peer for [`send`](UnixDatagram::send) and
    /// [`recv`](UnixDatagram::recv) (a plain syscall: it never waits).
    pub fn connect(&self, addr: impl ToUnixAddr) -> io::Result<()> {
        let raw = addr.to_unix_addr()?.to_raw()?;
        sockopt::connect(self.fd.as_fd(), &raw.storage, raw.len)
    }

    /// Sends one datagram to `addr`.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` if no socket is bound there (or it was closed),
    /// `NotFound` if the path does not exist.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: impl ToUnixAddr) -> BufResult<usize, B> {
        let raw = match addr.to_unix_addr().and_then(|a| a.to_raw()) {
            Ok(raw) => raw,
            Err(e) => return (Err(e), buf),
        };
        submit(SendMsg::new(self.fd.clone(), buf, Some(raw), Vec::new())).await
    }

    /// Receives one datagram and its sender's address.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, UnixSocketAddr), B> {
        let (res, buf) = crate::net::datagram::recv(&self.fd, buf).await;
        let res = res.and_then(|meta| {
            let from = UnixSocketAddr::from_raw(&meta.from.storage, meta.from.len)?;
            Ok((meta.len, from))
        });
        (res, buf)
    }

    /// Sends one datagram to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        submit(op::Send::new(self.fd.clone(), buf)).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        let (res, buf) = crate::net::datagram::recv(&self.fd, buf).await;
        (res.map(|meta| meta.len), buf)
    }

    /// This socket's address.
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Local)?;
        UnixSocketAddr::from_raw(&storage, len)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Peer)?;
        UnixSocketAddr::from_raw(&storage, len)
    }

    /// Closes the socket through the ring, after any op in flight on it.
    pub async fn close(self) -> io::Result<()> {
        crate::op::close(self.fd).await
    }

    fn from_shared(fd: SharedFd) -> UnixDatagram {
        UnixDatagram { fd }
    }
}

crate::net::opts::fd_conversions!(UnixDatagram, std::os::unix::net::UnixDatagram);
crate::net::opts::common_sockopts!(UnixDatagram);

impl std::fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UnixDatagram");
        d.field("fd", &self.fd.raw());
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        d.finish()
    }
}
