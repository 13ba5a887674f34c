//! `TcpListener`: binds synchronously, accepts through the ring.

use super::opts::BindOptions;
use super::resolve::{self, ToSocketAddrs};
use super::stream::TcpStream;
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::accept::Accept;
use crate::sys;
use crate::sys::addr::{self, SockAddr};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};

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
    /// This is a synchronous call; resolving a host name blocks the thread
    /// (see the [module docs](super#name-resolution)). Port 0 picks a free port: ask
    /// [`local_addr`](TcpListener::local_addr) which.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, &BindOptions::new())
    }

    /// [`bind`](TcpListener::bind) with options set before binding
    /// (`SO_REUSEPORT`, `IPV6_V6ONLY`, buffer sizes, backlog).
    /// `SO_REUSEADDR` is on unless `opts` turns it off.
    pub fn bind_with(addr: impl ToSocketAddrs, opts: &BindOptions) -> io::Result<TcpListener> {
        let mut last = None;
        for a in resolve::resolve_blocking(&addr)? {
            match bind_one(&a, opts) {
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
        let (fd, addr) = submit(Accept::new(self.fd.clone())).await?;
        // On an unexpected address family `fd` is dropped here: closed.
        let peer = addr.to_std()?;
        Ok((TcpStream::from(fd), peer))
    }

    /// The connections of this listener as an async stream, through one
    /// multishot accept (see [`Incoming`](super::Incoming): re-armed
    /// transparently, backs off on `EMFILE`). The streams are close-on-exec;
    /// ask each for its [`peer_addr`](TcpStream::peer_addr).
    ///
    /// ```no_run
    /// use curing::net::TcpListener;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// curing::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:8080")?;
    ///     let mut incoming = listener.incoming();
    ///     while let Some(conn) = incoming.next().await {
    ///         match conn {
    ///             Ok(stream) => drop(curing::spawn(async move { stream.close().await })),
    ///             Err(e) => eprintln!("accept: {e}"), // EMFILE: it backs off by itself
    ///         }
    ///     }
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn incoming(&self) -> super::Incoming<TcpStream> {
        super::Incoming::new(self.fd.clone(), TcpStream::from)
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Local)?;
        addr::to_std(&storage, len)
    }

    /// Closes the socket through the ring and reports the kernel's answer,
    /// after any accept still in flight on it has finished.
    pub async fn close(self) -> io::Result<()> {
        crate::op::close(self.fd).await
    }
}

/// socket, options, bind and listen for one address.
fn bind_one(addr: &SocketAddr, opts: &BindOptions) -> io::Result<OwnedFd> {
    let raw = SockAddr::from_std(addr);
    let fd = sys::socket(raw.family(), libc::SOCK_STREAM | libc::SOCK_CLOEXEC)?;
    opts.apply(fd.as_fd(), raw.family(), true)?;
    sys::bind(fd.as_fd(), &raw.storage, raw.len)?;
    sys::listen(fd.as_fd(), opts.backlog)?;
    Ok(fd)
}

impl TcpListener {
    fn from_shared(fd: SharedFd) -> TcpListener {
        TcpListener { fd }
    }
}

super::opts::fd_conversions!(TcpListener, std::net::TcpListener);
super::opts::common_sockopts!(TcpListener);
super::opts::ip_sockopts!(TcpListener);

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
