//! `TcpListener`: binds synchronously, accepts through the ring.

use super::stream::TcpStream;
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::accept::Accept;
use crate::sys;
use crate::sys::addr::{self, SockAddr};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// How many connections the kernel queues before [`TcpListener::accept`]
/// takes them (capped by `net.core.somaxconn`).
const BACKLOG: libc::c_int = 1024;

/// A TCP socket listening for connections.
///
/// ```no_run
/// use curing::net::TcpListener;
///
/// # fn main() -> std::io::Result<()> {
/// curing::run(async {
///     let listener = TcpListener::bind("127.0.0.1:7878")?;
///     loop {
///         let (stream, peer) = listener.accept().await?;
///         println!("connection from {peer}");
///         curing::spawn(async move { stream.close().await });
///     }
/// })
/// # }
/// ```
///
/// A listener belongs to the thread whose runtime it uses (it is not `Send`):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<curing::net::TcpListener>();
/// ```
pub struct TcpListener {
    /// The listening socket; each accept in flight holds a clone.
    fd: SharedFd,
}

impl TcpListener {
    /// Creates a listening socket bound to `addr` (`SO_REUSEADDR` set,
    /// close-on-exec, backlog 1024), trying each address `addr` resolves to
    /// until one works; the last error if none does.
    ///
    /// This is a synchronous call; resolving a host name blocks (see the
    /// [module docs](super)). Port 0 picks a free port: ask
    /// [`local_addr`](TcpListener::local_addr) which.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let mut last = None;
        for a in super::resolve(addr)? {
            match bind_one(&a) {
                Ok(fd) => return Ok(TcpListener::from(fd)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    /// Waits for a connection and returns it with the peer's address. The
    /// new socket is close-on-exec.
    ///
    /// Dropping the future cancels the accept; a connection the kernel
    /// accepted anyway is closed (the peer sees it closed), not leaked.
    ///
    /// # Errors
    ///
    /// What the kernel says, e.g. `EMFILE` when out of descriptors (the
    /// connection stays queued: back off and retry) or `EINVAL` when the
    /// socket is not listening.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, peer) = submit(Accept::new(self.fd.clone())).await?;
        Ok((TcpStream::from(fd), peer))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Local)?;
        addr::to_std(&storage, len)
    }

    /// Closes the socket through the ring and reports the kernel's answer,
    /// after any accept still in flight on it has finished.
    pub async fn close(self) -> io::Result<()> {
        self.fd.close().await
    }
}

/// socket, `SO_REUSEADDR`, bind and listen for one address.
fn bind_one(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let raw = SockAddr::from_std(addr);
    let fd = sys::socket(raw.family(), libc::SOCK_STREAM | libc::SOCK_CLOEXEC)?;
    sys::setsockopt_int(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    sys::bind(fd.as_fd(), &raw.storage, raw.len)?;
    sys::listen(fd.as_fd(), BACKLOG)?;
    Ok(fd)
}

impl From<OwnedFd> for TcpListener {
    /// Takes a listening TCP socket. The caller promises it is one; ops on
    /// anything else fail with the kernel's error.
    fn from(fd: OwnedFd) -> TcpListener {
        TcpListener {
            fd: SharedFd::new(fd),
        }
    }
}

impl From<std::net::TcpListener> for TcpListener {
    /// Takes a listener made by `std` (or another library), switching it to
    /// blocking mode: io_uring waits for connections itself, and a
    /// non-blocking socket would make accept fail with `EAGAIN` instead.
    fn from(listener: std::net::TcpListener) -> TcpListener {
        // Clearing O_NONBLOCK on a valid socket does not fail in practice; if
        // it did, accept would report EAGAIN, which is still an answer.
        let _ = listener.set_nonblocking(false);
        TcpListener::from(OwnedFd::from(listener))
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        d.field("fd", &self.fd.raw());
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        d.finish()
    }
}
