//! `UnixStream`: a connected Unix-domain stream socket, with descriptor
//! passing.

use super::{ToUnixAddr, UnixSocketAddr};
use crate::buf::{self, BufResult, IoBuf, IoBufMut};
use crate::driver::{submit, Op};
use crate::fd::SharedFd;
use crate::op::recv_msg::{FdStash, StreamRecvFds};
use crate::op::send_msg::SendMsg;
use crate::op::{self, connect::Connect, shutdown::Shutdown, socket::Socket};
use crate::runtime;
use crate::sys::{self, sockopt};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

/// A connected Unix-domain stream socket.
///
/// Reads, writes, shutdown and close behave as on a
/// [`TcpStream`](crate::net::TcpStream): `&self` methods, owned buffers,
/// cancel-safe reads (bytes a dropped read received go to the next read).
/// On top, [`send_with_fds`](UnixStream::send_with_fds) and
/// [`recv_with_fds`](UnixStream::recv_with_fds) pass open descriptors to
/// the peer process.
///
/// ```no_run
/// use curing::net::UnixStream;
///
/// # fn main() -> std::io::Result<()> {
/// curing::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let file = std::fs::File::open("/etc/hostname")?;
///     let (res, _) = a.send_with_fds(b"here".to_vec(), &[std::os::fd::AsFd::as_fd(&file)]).await;
///     res?;
///     let (res, buf) = b.recv_with_fds(vec![0u8; 16], 4).await;
///     let (n, fds) = res?;
///     assert_eq!((&buf[..n], fds.len()), (&b"here"[..], 1));
///     Ok(())
/// })
/// # }
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<curing::net::UnixStream>();
/// ```
pub struct UnixStream {
    /// The socket; each op in flight holds a clone, and the stash of bytes
    /// that dropped reads received lives here.
    fd: SharedFd,
    /// Descriptors received but not yet handed out (a receive whose future
    /// was dropped got them): the next `recv_with_fds` returns them.
    fd_stash: FdStash,
}

impl UnixStream {
    /// Connects to the socket at `addr` (a path or a [`UnixSocketAddr`]).
    ///
    /// # Errors
    ///
    /// `NotFound` when no socket file is there, `ConnectionRefused` when
    /// nothing listens on it.
    pub async fn connect(addr: impl ToUnixAddr) -> io::Result<UnixStream> {
        let raw = addr.to_unix_addr()?.to_raw()?;
        let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
        let fd = if runtime::supports(Socket::CODE) {
            submit(Socket::new(libc::AF_UNIX, ty)).await?
        } else {
            sys::socket(libc::AF_UNIX, ty)?
        };
        let fd = SharedFd::new(fd);
        submit(Connect::new(fd.clone(), raw)).await?;
        Ok(UnixStream::from_shared(fd))
    }

    /// Two streams connected to each other (`socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sockopt::socketpair(libc::SOCK_STREAM)?;
        Ok((UnixStream::from(a), UnixStream::from(b)))
    }

    /// Reads some bytes into `buf`; `Ok(0)` is end of stream (or a buffer
    /// with no room). Cancel-safe: a dropped read's bytes go to the next.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        self.fd.stream_read(buf, op::Recv::new).await
    }

    /// Reads until `buf` is full; `UnexpectedEof` if the stream ends first.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        self.fd.stream_read_exact(buf, op::Recv::new).await
    }

    /// Sends some of the initialised bytes of `buf`. Never raises SIGPIPE:
    /// a closed peer is `BrokenPipe`.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        submit(op::Send::new(self.fd.clone(), buf)).await
    }

    /// Sends all the initialised bytes of `buf`.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        buf::write_all_with(buf, |slice, _| self.write(slice)).await
    }

    /// Sends some of `buf` together with copies of `fds` (`SCM_RIGHTS`):
    /// the peer's [`recv_with_fds`](UnixStream::recv_with_fds) gets new
    /// descriptors for the same open files. The descriptors travel with the
    /// first byte sent; if no byte is sent (an error), none is passed.
    /// curing sends its own duplicates, so closing `fds` right after the
    /// call (or dropping the future) is safe.
    pub async fn send_with_fds<B: IoBuf>(
        &self,
        buf: B,
        fds: &[BorrowedFd<'_>],
    ) -> BufResult<usize, B> {
        if buf.bytes_init() == 0 {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                "descriptors need at least one byte to travel with",
            );
            return (Err(e), buf);
        }
        let mut copies = Vec::with_capacity(fds.len());
        for fd in fds {
            match sockopt::dup(*fd) {
                Ok(c) => copies.push(c),
                Err(e) => return (Err(e), buf),
            }
        }
        submit(SendMsg::new(self.fd.clone(), buf, None, copies)).await
    }

    /// Reads some bytes into `buf`, and the descriptors that came with them
    /// (at most `max_fds` per call; the kernel closes any beyond that). The
    /// descriptors are close-on-exec and owned by the caller.
    ///
    /// Cancel-safe: bytes and descriptors that a dropped call received are
    /// returned by the next call (descriptors only by this method).
    pub async fn recv_with_fds<B: IoBufMut>(
        &self,
        buf: B,
        max_fds: usize,
    ) -> BufResult<(usize, Vec<OwnedFd>), B> {
        let (res, buf) = if buf.bytes_total() == 0 {
            (Ok(0), buf)
        } else {
            let stash = self.fd_stash.clone();
            self.fd
                .stream_read(buf, |b, ticket| {
                    StreamRecvFds::new(b, ticket, max_fds.max(1), stash)
                })
                .await
        };
        let fds: Vec<OwnedFd> = self.fd_stash.borrow_mut().drain(..).collect();
        (res.map(|n| (n, fds)), buf)
    }

    /// Shuts down reading, writing or both.
    pub async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        if runtime::supports(Shutdown::CODE) {
            submit(Shutdown::new(self.fd.clone(), how)).await
        } else {
            sys::shutdown(self.fd.as_fd(), how)
        }
    }

    /// Closes the socket through the ring and reports the kernel's answer,
    /// after any op still in flight on it has finished.
    pub async fn close(self) -> io::Result<()> {
        drop(self.fd_stash);
        self.fd.close().await
    }

    /// This end's address (usually unnamed for a connecting socket).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Local)?;
        UnixSocketAddr::from_raw(&storage, len)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Peer)?;
        UnixSocketAddr::from_raw(&storage, len)
    }

    /// Receives through `pool`: one multishot receive yields the data as
    /// [`PooledBuf`](crate::buf::PooledBuf)s, and while the connection is
    /// idle it holds no buffer. See [`PooledRecv`](crate::net::PooledRecv)
    /// (one per connection; do not mix with `read`).
    pub fn recv_pooled(&self, pool: &crate::buf::BufPool) -> crate::net::PooledRecv {
        crate::net::PooledRecv::new(self.fd.clone(), pool)
    }

    /// Splits the stream into owned halves; see
    /// [`TcpStream::into_split`](crate::net::TcpStream::into_split).
    pub fn into_split(
        self,
    ) -> (
        crate::net::ReadHalf<UnixStream>,
        crate::net::WriteHalf<UnixStream>,
    ) {
        crate::net::split::split(self)
    }

    pub(crate) fn from_shared(fd: SharedFd) -> UnixStream {
        UnixStream {
            fd,
            fd_stash: FdStash::default(),
        }
    }
}

crate::net::opts::fd_conversions!(UnixStream, std::os::unix::net::UnixStream);
crate::net::opts::common_sockopts!(UnixStream);
crate::net::split::split_methods!(UnixStream);

impl std::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UnixStream");
        d.field("fd", &self.fd.raw());
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.finish()
    }
}
