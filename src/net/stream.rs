//! `TcpStream`: connect, read, write, shut down and close through the ring.

use super::resolve::{self, ToSocketAddrs};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::stream::{AsStream, Stream, Tcp};
use crate::sys;
use crate::sys::addr::{self, SockAddr};
use crate::sys::sockopt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A connected TCP socket.
///
/// All I/O methods take `&self`: put the stream in an `Rc` to read in one
/// task while another writes. Two reads at once are served in order (a read
/// waits for the earlier one), and so are their bytes. Two writes at once
/// are not kept apart: the bytes of two `write_all`s in flight together can
/// interleave on the wire, so let one task do the writing.
///
/// Dropping the stream closes it (once no op is in flight on it);
/// [`close`](TcpStream::close) does the same and reports errors.
///
/// ```no_run
/// use curing::net::TcpStream;
///
/// # fn main() -> std::io::Result<()> {
/// curing::run(async {
///     let stream = TcpStream::connect("127.0.0.1:7878").await?;
///     let (res, _) = stream.write_all("hello\n").await;
///     res?;
///     let (res, buf) = stream.read(vec![0u8; 1024]).await;
///     println!("{:?}", String::from_utf8_lossy(&buf[..res?]));
///     stream.close().await
/// })
/// # }
/// ```
///
/// A stream belongs to the thread whose runtime it uses (it is not `Send`):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<curing::net::TcpStream>();
/// ```
pub struct TcpStream {
    /// The socket and its stream methods (see [`crate::stream`]).
    stream: Stream<Tcp>,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn, and
    /// returns the first connection made, or the last error.
    ///
    /// A host name is resolved on the blocking pool (see the [module
    /// docs](super#name-resolution)); the runtime keeps running meanwhile.
    /// Dropping the future cancels the attempt and closes its socket once
    /// the kernel has let go of it.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens at the address, and whatever
    /// else the kernel reports (`ETIMEDOUT`, `ENETUNREACH`, ...).
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in resolve::resolve(&addr).await? {
            match connect_one(&a).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    /// [`connect`](TcpStream::connect) with a deadline: gives up with
    /// `TimedOut` when `limit` passes first (name lookup included), cancelling
    /// the attempt.
    pub async fn connect_timeout(
        addr: impl ToSocketAddrs,
        limit: Duration,
    ) -> io::Result<TcpStream> {
        match crate::time::timeout(limit, TcpStream::connect(addr)).await {
            Ok(res) => res,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        }
    }

    /// Reads some bytes into `buf`, from its start up to its capacity
    /// (`bytes_total`), and returns how many with the buffer. `Ok(0)` is end
    /// of stream (the peer shut down writing), except for a buffer with no
    /// room at all, which returns `Ok(0)` at once without asking the kernel.
    ///
    /// Dropping the future is safe and loses no bytes: what the kernel
    /// received for it anyway is returned by the next read.
    pub fn read<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<usize, B>> + '_ {
        self.stream.read(buf)
    }

    /// Reads until `buf` is full (`bytes_total` bytes from its start).
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first; the bytes read so far are
    /// in the buffer (its initialised length says how many, for buffers
    /// that track it, like `Vec`). The buffer comes back on every error.
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

    /// Sends the initialised bytes of `buf`, or some of them, and returns
    /// how many the kernel took, with the buffer. Never raises SIGPIPE: a
    /// closed peer is `BrokenPipe` (or `ConnectionReset`).
    pub fn write<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<usize, B>> + '_ {
        self.stream.write(buf)
    }

    /// Sends the initialised bytes of `buf`, or some of them, *without
    /// copying* them (`IORING_OP_SEND_ZC`, Linux 6.0): the network stack
    /// reads the pages in place. Resolves after the kernel's notification
    /// that it no longer uses the pages, so the buffer comes back only
    /// when reusing it is safe.
    ///
    /// Use it explicitly for large writes (hundreds of KiB and up) to real
    /// network interfaces; [`write`](TcpStream::write) never uses it by
    /// itself. On loopback the kernel copies anyway and the extra
    /// notification makes it slower. On kernels without the opcode it is a
    /// plain [`write`](TcpStream::write).
    pub async fn send_zc<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.stream.send_zc(buf).await
    }

    /// Sends all the initialised bytes of `buf` with
    /// [`send_zc`](TcpStream::send_zc), as many sends as it takes.
    pub async fn send_zc_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        self.stream.send_zc_all(buf).await
    }

    /// Sends all the initialised bytes of `buf`, as many writes as it takes.
    ///
    /// # Errors
    ///
    /// The first write error (with the buffer back), or `WriteZero` if the
    /// kernel took nothing. How much was sent before an error is not
    /// reported; the stream is best closed.
    pub fn write_all<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<(), B>> + '_ {
        self.stream.write_all(buf)
    }

    /// Shuts down reading, writing or both. After `Shutdown::Write` the
    /// peer reads end of stream and can still send; this side can still read.
    pub async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.stream.shutdown(how).await
    }

    /// Closes the socket through the ring and reports the kernel's answer,
    /// after any op still in flight on it (e.g. a dropped read) has finished.
    /// Bytes not yet read are discarded.
    pub async fn close(self) -> io::Result<()> {
        self.stream.close().await
    }

    /// The address of the remote end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let (storage, len) = sys::sockname(self.stream.as_fd(), sys::SockEnd::Peer)?;
        addr::to_std(&storage, len)
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let (storage, len) = sys::sockname(self.stream.as_fd(), sys::SockEnd::Local)?;
        addr::to_std(&storage, len)
    }

    /// Sets `TCP_NODELAY`: `true` sends small writes at once instead of
    /// waiting to coalesce them (Nagle's algorithm off).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        sockopt::set_bool(
            self.stream.as_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            nodelay,
        )
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        sockopt::get_bool(self.stream.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY)
    }

    /// Sets `SO_KEEPALIVE`: the kernel probes an idle connection and
    /// reports a dead peer as an error on the next op.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(
            self.stream.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            on,
        )
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keepalive(&self) -> io::Result<bool> {
        sockopt::get_bool(self.stream.as_fd(), libc::SOL_SOCKET, libc::SO_KEEPALIVE)
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes closing reset the
    /// connection (RST) and discard unsent data; `None` (the default)
    /// closes gracefully in the background.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        super::opts::set_linger(self.stream.as_fd(), linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        super::opts::linger(self.stream.as_fd())
    }

    /// Receives through `pool`: one multishot receive yields the data as
    /// [`PooledBuf`](crate::buf::PooledBuf)s, and while the connection is
    /// idle it holds no buffer. See [`PooledRecv`](crate::net::PooledRecv)
    /// (one per connection; do not mix with `read`).
    pub fn recv_pooled(&self, pool: &crate::buf::BufPool) -> crate::net::PooledRecv {
        self.stream.recv_pooled(pool)
    }

    /// Splits the stream into a read half and a write half that two tasks
    /// can own and use at once; [`ReadHalf::reunite`](super::ReadHalf::reunite)
    /// puts them back together. The socket closes when both halves are
    /// gone (dropping the write half alone does not shut writing down: call
    /// [`WriteHalf::shutdown`](super::WriteHalf::shutdown)).
    pub fn into_split(self) -> (super::ReadHalf<TcpStream>, super::WriteHalf<TcpStream>) {
        super::split::split(self)
    }

    fn from_shared(fd: SharedFd) -> TcpStream {
        TcpStream {
            stream: Stream::new(fd),
        }
    }
}

/// One connection attempt (see [`Stream::connect`]).
async fn connect_one(addr: &SocketAddr) -> io::Result<TcpStream> {
    let stream = Stream::connect(SockAddr::from_std(addr)).await?;
    Ok(TcpStream { stream })
}

super::opts::fd_conversions!(TcpStream, std::net::TcpStream, stream);
super::opts::common_sockopts!(TcpStream);
super::opts::ip_sockopts!(TcpStream);
super::split::split_methods!(TcpStream);

impl AsStream for TcpStream {
    type Kind = Tcp;

    fn as_stream(&self) -> &Stream<Tcp> {
        &self.stream
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        d.field("fd", &self.stream.raw());
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.finish()
    }
}
