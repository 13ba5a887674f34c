//! `UnixStream`: a connected Unix-domain stream socket, with descriptor
//! passing.

use super::{ToUnixAddr, UnixSocketAddr};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::stream::{AsStream, Stream, Unix};
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
    /// The socket, the descriptors received and not yet handed out, and
    /// the stream methods (see [`crate::stream`]).
    stream: Stream<Unix>,
}

impl UnixStream {
    /// Connects to the socket at `addr` (a path or a [`UnixSocketAddr`]).
    ///
    /// # Errors
    ///
    /// `NotFound` when no socket file is there, `ConnectionRefused` when
    /// nothing listens on it.
    pub async fn connect(addr: impl ToUnixAddr) -> io::Result<UnixStream> {
        let stream = Stream::connect(addr.to_unix_addr()?.to_raw()?).await?;
        Ok(UnixStream { stream })
    }

    /// Two streams connected to each other (`socketpair`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sockopt::socketpair(libc::SOCK_STREAM)?;
        Ok((UnixStream::from(a), UnixStream::from(b)))
    }

    /// Reads some bytes into `buf`; `Ok(0)` is end of stream (or a buffer
    /// with no room). Cancel-safe: a dropped read's bytes go to the next.
    pub fn read<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<usize, B>> + '_ {
        self.stream.read(buf)
    }

    /// Reads until `buf` is full; `UnexpectedEof` if the stream ends first.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        self.stream.read_exact(buf).await
    }

    /// [`read`](Self::read) with a time limit that gives the buffer back:
    /// when `limit` passes first, the read is cancelled and awaited, and
    /// the result is `(Err(TimedOut), buf)`. Unlike `timeout(d,
    /// stream.read(buf))`, which loses `buf` on `Elapsed`. Bytes that
    /// arrive as the limit passes are returned (`Ok(n)`), and bytes that
    /// arrive later go to the next read: nothing is lost.
    ///
    /// ```
    /// # curing::run(async {
    /// use std::time::Duration;
    /// let (a, b) = curing::net::UnixStream::pair()?;
    /// let (res, buf) = a.read_timeout(vec![0u8; 64], Duration::from_millis(10)).await;
    /// assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// b.write_all(b"late".to_vec()).await.0?;
    /// let (res, buf) = a.read_timeout(buf, Duration::from_secs(5)).await;
    /// assert_eq!(&buf[..res?], b"late");
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn read_timeout<B: crate::buf::IoBufMut>(
        &self,
        buf: B,
        limit: std::time::Duration,
    ) -> crate::buf::BufResult<usize, B> {
        self.stream.read_timeout(buf, limit).await
    }

    /// [`read_timeout`](Self::read_timeout) with a point in time: gives up
    /// at `deadline` (a deadline already past still returns bytes that
    /// are there at once).
    pub async fn read_deadline<B: crate::buf::IoBufMut>(
        &self,
        buf: B,
        deadline: std::time::Instant,
    ) -> crate::buf::BufResult<usize, B> {
        self.stream.read_deadline(buf, deadline).await
    }

    /// Reads to end of stream (the peer shut down writing), appending to
    /// `out`; the number of bytes appended, with `out` (holding what was
    /// read, also on error).
    ///
    /// Cancel-safe: if the future is dropped, the bytes it had read go to
    /// the next read.
    pub async fn read_to_end(&self, out: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        self.stream.read_to_end(out).await
    }

    /// Reads to end of stream and appends it to `out` as UTF-8; the number
    /// of bytes appended, with `out`. Cancel-safe like
    /// [`read_to_end`](Self::read_to_end).
    ///
    /// # Errors
    ///
    /// A read error (what was read goes back to the next read), or
    /// `InvalidData` if the bytes are not UTF-8 (`out` is unchanged).
    pub async fn read_to_string(&self, out: String) -> BufResult<usize, String> {
        self.stream.read_to_string(out).await
    }

    /// Sends some of the initialised bytes of `buf`. Never raises SIGPIPE:
    /// a closed peer is `BrokenPipe`.
    pub fn write<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<usize, B>> + '_ {
        self.stream.write(buf)
    }

    /// Sends all the initialised bytes of `buf`. Two `write_all`s in flight
    /// together on one stream can interleave their bytes: let one task
    /// write.
    pub fn write_all<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<(), B>> + '_ {
        self.stream.write_all(buf)
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
        self.stream.send_with_fds(buf, fds).await
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
        self.stream.recv_with_fds(buf, max_fds).await
    }

    /// Shuts down reading, writing or both.
    pub async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.stream.shutdown(how).await
    }

    /// Closes the socket through the ring and reports the kernel's answer,
    /// after any op still in flight on it has finished.
    pub async fn close(self) -> io::Result<()> {
        self.stream.close().await
    }

    /// This end's address (usually unnamed for a connecting socket).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        let (storage, len) = sys::sockname(self.stream.as_fd(), sys::SockEnd::Local)?;
        UnixSocketAddr::from_raw(&storage, len)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        let (storage, len) = sys::sockname(self.stream.as_fd(), sys::SockEnd::Peer)?;
        UnixSocketAddr::from_raw(&storage, len)
    }

    /// Receives through `pool`: one multishot receive yields the data as
    /// [`PooledBuf`](crate::buf::PooledBuf)s, and while the connection is
    /// idle it holds no buffer. See [`PooledRecv`](crate::net::PooledRecv)
    /// (one per connection; do not mix with `read`).
    pub fn recv_pooled(&self, pool: &crate::buf::BufPool) -> crate::net::PooledRecv {
        self.stream.recv_pooled(pool)
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
            stream: Stream::new(fd),
        }
    }
}

crate::net::opts::fd_conversions!(UnixStream, std::os::unix::net::UnixStream, stream);
crate::net::opts::common_sockopts!(UnixStream);
crate::net::split::split_methods!(UnixStream);

impl AsStream for UnixStream {
    type Kind = Unix;

    fn as_stream(&self) -> &Stream<Unix> {
        &self.stream
    }
}

impl std::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UnixStream");
        d.field("fd", &self.stream.raw());
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.finish()
    }
}
