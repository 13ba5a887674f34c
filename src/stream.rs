//! [`Stream`]: the one implementation of byte-stream I/O that every public
//! stream type wraps.
//!
//! [`TcpStream`](crate::net::TcpStream), [`UnixStream`](crate::net::UnixStream),
//! their [`ReadHalf`](crate::net::ReadHalf) and
//! [`WriteHalf`](crate::net::WriteHalf), the child-process pipes
//! ([`ChildStdin`](crate::process::ChildStdin),
//! [`ChildStdout`](crate::process::ChildStdout),
//! [`ChildStderr`](crate::process::ChildStderr)) and
//! [`File`](crate::fs::File)'s reads and writes at its current position all
//! hold (or reach) a `Stream`, and each of their `read`, `read_exact`,
//! `read_to_end`, `write`, `write_all`, `shutdown`, `close`, ... is one call
//! into it. The public types keep their own documentation, constructors and
//! options (socket options, addresses, positional file I/O); what a read or
//! a write does is written here once.
//!
//! ## Kinds
//!
//! A stream is parametrised by its [`Kind`], which says which ops carry its
//! bytes and what else it can do:
//!
//! | kind | types | read / write ops | also |
//! |---|---|---|---|
//! | [`Tcp`] | `TcpStream`, its halves | `RECV` / `SEND` | [`shutdown`](Stream::shutdown), [`send_zc`](Stream::send_zc), [`recv_pooled`](Stream::recv_pooled) |
//! | [`Unix`] | `UnixStream`, its halves | `RECV` / `SEND` | `shutdown`, `recv_pooled`, [`send_with_fds`](Stream::send_with_fds), [`recv_with_fds`](Stream::recv_with_fds) |
//! | [`Pipe`] | child pipes, `File` at its position | `READ` / `WRITE` at the current position | |
//!
//! Reads go through the cancel-safe machinery of [`crate::fd`] (the stash,
//! read tickets, reads served in order), so every kind loses nothing when a
//! read's future is dropped.
//!
//! ## Reaching the stream of a public type
//!
//! Each public stream type implements [`AsStream`], which hands out its
//! `&Stream`: code generic over streams (the read and write halves today; a
//! buffered `BufReader<S>`/`BufWriter<S>` over any of these types next)
//! bounds on `S: AsStream` and calls the `Stream`'s methods, instead of
//! naming each public type. `AsStream` is crate-internal: a public generic
//! type that needs it in a bound of its public API would put it behind a
//! sealed public trait implemented for the same types.

use crate::buf::{self, BufResult, IoBuf, IoBufMut, Slice};
use crate::driver::op::Submit;
use crate::driver::{submit, Multishot, Op};
use crate::fd::{ReadTicket, SharedFd};
use crate::op::recv_msg::{FdStash, StreamRecvFds};
use crate::op::send_msg::SendMsg;
use crate::op::{self, connect::Connect, shutdown::Shutdown, socket::Socket};
use crate::sys::addr::SockAddr;
use crate::sys::sockopt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The ops and extra state of one kind of stream; see the [module
/// docs](self#kinds).
pub(crate) trait Kind: Default + 'static {
    /// The op of one read into `B`, after the ticket's prefix.
    type Read<B: IoBufMut>: Op<Output = BufResult<usize, B>>;
    /// The op of one write of `B`'s initialised bytes.
    type Write<B: IoBuf>: Op<Output = BufResult<usize, B>>;

    /// One read into `buf`, holding `ticket` (see [`crate::fd`]).
    fn read_op<B: IoBufMut>(buf: B, ticket: ReadTicket) -> Self::Read<B>;

    /// One write of `buf` on `fd`.
    fn write_op<B: IoBuf>(fd: SharedFd, buf: B) -> Self::Write<B>;
}

/// A connected stream socket: reads are `RECV`, writes `SEND` with
/// `MSG_NOSIGNAL` (a closed peer is `BrokenPipe`, never SIGPIPE); it can be
/// shut down and read through a buffer pool. Every socket kind is a
/// [`Kind`] through the impl below, so the ops are named once for all.
pub(crate) trait SocketKind: Default + 'static {}

impl<K: SocketKind> Kind for K {
    type Read<B: IoBufMut> = op::Recv<B>;
    type Write<B: IoBuf> = op::Send<B>;

    fn read_op<B: IoBufMut>(buf: B, ticket: ReadTicket) -> Self::Read<B> {
        op::Recv::new(buf, ticket)
    }

    fn write_op<B: IoBuf>(fd: SharedFd, buf: B) -> Self::Write<B> {
        op::Send::new(fd, buf)
    }
}

/// A TCP connection (any IP stream socket).
#[derive(Default)]
pub(crate) struct Tcp;

impl SocketKind for Tcp {}

/// A Unix-domain stream socket, which can pass descriptors.
#[derive(Default)]
pub(crate) struct Unix {
    /// Descriptors received but not yet handed out (a receive whose future
    /// was dropped got them): the next `recv_with_fds` returns them.
    fds: FdStash,
}

impl SocketKind for Unix {}

/// A pipe, or a file read and written at its current position: reads are
/// `READ`, writes `WRITE`, both at offset `-1` (the file position, which
/// the kernel advances).
#[derive(Default)]
pub(crate) struct Pipe;

/// The offset that means "the file's current position" to `READ`/`WRITE`.
const CURRENT_POSITION: u64 = u64::MAX;

impl Kind for Pipe {
    type Read<B: IoBufMut> = op::StreamRead<B>;
    type Write<B: IoBuf> = op::Write<B>;

    fn read_op<B: IoBufMut>(buf: B, ticket: ReadTicket) -> Self::Read<B> {
        op::StreamRead::new(buf, ticket)
    }

    fn write_op<B: IoBuf>(fd: SharedFd, buf: B) -> Self::Write<B> {
        op::Write::new(fd, buf, CURRENT_POSITION)
    }
}

/// A byte stream over a [`SharedFd`]: the single implementation of the
/// stream methods of every public stream type (see the [module
/// docs](self)).
pub(crate) struct Stream<K: Kind> {
    /// The descriptor; each op in flight on it holds a clone, and the stash
    /// of bytes that dropped reads received lives in it.
    fd: SharedFd,
    /// What the kind keeps besides the descriptor.
    kind: K,
}

/// A public stream type (or a half of one) and the [`Stream`] it wraps.
///
/// Implemented by every public stream type, so that code generic over
/// streams (the split halves; a future `BufReader<S>`/`BufWriter<S>`) can
/// reach the one implementation without naming each type.
pub(crate) trait AsStream {
    /// The kind of the stream.
    type Kind: Kind;

    /// The stream this value reads and writes through.
    fn as_stream(&self) -> &Stream<Self::Kind>;
}

impl<K: Kind> Stream<K> {
    /// A stream over `fd`.
    pub(crate) fn new(fd: SharedFd) -> Stream<K> {
        Stream {
            fd,
            kind: K::default(),
        }
    }

    /// The shared descriptor, for the public type's other ops.
    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// The descriptor number.
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// The descriptor, borrowed for the lifetime of `&self`.
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads some bytes into `buf`, from its start up to its capacity.
    /// `Ok(0)` is end of stream, or a buffer with no room at all, which
    /// returns at once without asking the kernel (and leaves the stash to
    /// reads that can take from it). Cancel-safe (see [`crate::fd`]).
    ///
    /// One hand-written future rather than `async` layers: in the common
    /// case (no earlier read in flight, nothing stashed) it holds the op's
    /// own future and nothing else.
    pub(crate) fn read<B: IoBufMut>(&self, buf: B) -> ReadFuture<'_, K, B> {
        ReadFuture {
            fd: &self.fd,
            state: ReadState::Start(Some(buf)),
        }
    }

    /// Reads some bytes into `buf` after its first `prefix` bytes (which
    /// the caller read before, initialised); how many this read added. If
    /// the future is dropped, the prefix goes back to the front of the
    /// stream's stash (then what the cut-off op got), so the next read
    /// returns it: the caller's bytes are never lost with the op.
    pub(crate) async fn read_after<B: IoBufMut>(
        &self,
        buf: B,
        prefix: usize,
    ) -> BufResult<usize, B> {
        self.fd.stream_read_after(buf, prefix, K::read_op).await
    }

    /// Puts `bytes`, which were read from this stream and not consumed,
    /// back in front of what the next read returns.
    pub(crate) fn unread(&self, bytes: &[u8]) {
        self.fd.unread(bytes);
    }

    /// [`read`](Stream::read) that gives up at `deadline`: the op is
    /// cancelled and its completion awaited, so the buffer comes back with
    /// `TimedOut`. Bytes the op got before the cancel reached it are
    /// returned as a normal read (`Ok(n)`), never dropped; what arrives
    /// later is left for the next read.
    pub(crate) async fn read_deadline<B: IoBufMut>(
        &self,
        buf: B,
        deadline: std::time::Instant,
    ) -> BufResult<usize, B> {
        self.read_until_timer(buf, crate::time::sleep_until(deadline))
            .await
    }

    /// [`read_deadline`](Stream::read_deadline) `limit` from now.
    pub(crate) async fn read_timeout<B: IoBufMut>(
        &self,
        buf: B,
        limit: std::time::Duration,
    ) -> BufResult<usize, B> {
        self.read_until_timer(buf, crate::time::sleep(limit)).await
    }

    /// One read that gives up when `timer` fires.
    async fn read_until_timer<B: IoBufMut>(
        &self,
        buf: B,
        timer: crate::time::Sleep,
    ) -> BufResult<usize, B> {
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        self.fd.stream_read_deadline(buf, K::read_op, timer).await
    }

    /// Reads until `buf` is full (`bytes_total` bytes from its start);
    /// `UnexpectedEof` if the stream ends first, with the bytes read so far
    /// in the buffer. Cancel-safe: a dropped call gives back what it read.
    pub(crate) async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        self.fd.stream_read_exact(buf, K::read_op).await
    }

    /// Reads to end of stream, appending to `out`; the number of bytes
    /// appended, with `out` (holding what was read, also on error).
    /// Cancel-safe: a dropped call gives back what it read.
    pub(crate) async fn read_to_end(&self, out: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        self.fd.stream_read_to_end(out, K::read_op).await
    }

    /// Reads to end of stream and appends it to `out` as UTF-8; the number
    /// of bytes appended, with `out`. `InvalidData` if what was read is not
    /// UTF-8 (then `out` is unchanged and those bytes are consumed).
    /// Cancel-safe as [`read_to_end`](Stream::read_to_end).
    pub(crate) async fn read_to_string(&self, mut out: String) -> BufResult<usize, String> {
        let (res, bytes) = self.read_to_end(Vec::new()).await;
        if let Err(e) = res {
            // What was read before the error is not lost: it goes back in
            // front of the next read.
            self.unread(&bytes);
            return (Err(e), out);
        }
        match std::str::from_utf8(&bytes) {
            Ok(text) => {
                out.push_str(text);
                (Ok(bytes.len()), out)
            }
            Err(_) => {
                let e = io::Error::new(
                    io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                );
                (Err(e), out)
            }
        }
    }

    /// Writes some of the initialised bytes of `buf` (one op); how many,
    /// with the buffer back. The op's future itself, which the public
    /// `write` methods return as it is.
    pub(crate) fn write<B: IoBuf>(&self, buf: B) -> Submit<K::Write<B>> {
        submit(K::write_op(self.fd.clone(), buf))
    }

    /// Writes all the initialised bytes of `buf`, as many writes as it
    /// takes; `WriteZero` if the kernel took nothing.
    /// One hand-written future (no `async` layers): it holds the current
    /// write's op future, or the buffer between writes.
    pub(crate) fn write_all<B: IoBuf>(&self, buf: B) -> WriteAllFuture<'_, K, B> {
        WriteAllFuture {
            fd: &self.fd,
            written: 0,
            total: buf.bytes_init(),
            buf: Some(buf),
            op: None,
        }
    }

    /// Closes the descriptor through the ring once no op is in flight on
    /// it, and reports the kernel's answer. What the kind kept (received
    /// descriptors) is dropped first.
    pub(crate) async fn close(self) -> io::Result<()> {
        let Stream { fd, kind } = self;
        drop(kind);
        crate::op::close(fd).await
    }
}

/// The future of [`Stream::read`].
pub(crate) struct ReadFuture<'a, K: Kind, B: IoBufMut> {
    /// The stream's descriptor.
    fd: &'a SharedFd,
    /// Where the read is.
    state: ReadState<'a, K::Read<B>, B>,
}

/// The states of a [`ReadFuture`].
enum ReadState<'a, O: Op, B> {
    /// Not polled yet: the caller's buffer.
    Start(Option<B>),
    /// The common case: the read's op.
    Op(Submit<O>),
    /// An earlier read is in flight or bytes are stashed: the general path
    /// of [`SharedFd::stream_read_after`] (boxed: it is rare, and the
    /// common case stays small).
    Queued(Pin<Box<dyn Future<Output = BufResult<usize, B>> + 'a>>),
    /// The result was returned.
    Done,
}

// The buffer is never pinned: it is moved into the op or the boxed future.
impl<K: Kind, B: IoBufMut> Unpin for ReadFuture<'_, K, B> {}

impl<'a, K: Kind, B: IoBufMut> Future for ReadFuture<'a, K, B> {
    type Output = BufResult<usize, B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let ReadState::Start(buf) = &mut this.state {
            let buf = buf
                .take()
                .expect("a read's future polled after it completed");
            // A buffer with no room: end of stream's answer, without the
            // kernel, leaving the stash to reads that can take from it.
            if buf.bytes_total() == 0 {
                this.state = ReadState::Done;
                return Poll::Ready((Ok(0), buf));
            }
            this.state = match this.fd.plain_read_op(buf, K::read_op) {
                Ok(op) => ReadState::Op(submit(op)),
                Err(buf) => {
                    let fd: &'a SharedFd = this.fd;
                    ReadState::Queued(Box::pin(fd.stream_read_after(buf, 0, K::read_op)))
                }
            };
        }
        let out = match &mut this.state {
            ReadState::Op(op) => std::task::ready!(Pin::new(op).poll(cx)),
            ReadState::Queued(fut) => std::task::ready!(fut.as_mut().poll(cx)),
            ReadState::Done => panic!("a read's future polled after it completed"),
            ReadState::Start(_) => unreachable!("left above"),
        };
        this.state = ReadState::Done;
        Poll::Ready(out)
    }
}

/// The future of [`Stream::write_all`].
pub(crate) struct WriteAllFuture<'a, K: Kind, B: IoBuf> {
    /// The stream's descriptor.
    fd: &'a SharedFd,
    /// Bytes of the buffer written so far.
    written: usize,
    /// Bytes to write: the buffer's initialised length.
    total: usize,
    /// The buffer between writes.
    buf: Option<B>,
    /// The write in flight, holding the buffer.
    op: Option<Submit<K::Write<Slice<B>>>>,
}

// The buffer is never pinned: it is moved into each write's op.
impl<K: Kind, B: IoBuf> Unpin for WriteAllFuture<'_, K, B> {}

impl<K: Kind, B: IoBuf> Future for WriteAllFuture<'_, K, B> {
    type Output = BufResult<(), B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Some(op) = &mut this.op {
                let (res, slice) = std::task::ready!(Pin::new(op).poll(cx));
                this.op = None;
                let buf = slice.into_inner();
                if let Err(e) = buf::count_written(res, &mut this.written) {
                    return Poll::Ready((Err(e), buf));
                }
                this.buf = Some(buf);
            }
            let buf = this
                .buf
                .take()
                .expect("a write_all's future polled after it completed");
            if this.written >= this.total {
                return Poll::Ready((Ok(()), buf));
            }
            let slice = buf.slice(this.written..this.total);
            this.op = Some(submit(K::write_op(this.fd.clone(), slice)));
        }
    }
}

impl<K: SocketKind> Stream<K> {
    /// Connects a new stream socket to `addr`: an `IORING_OP_SOCKET` (which
    /// the driver runs as `socket(2)` on kernels without it), then an
    /// `IORING_OP_CONNECT`. If the future is dropped during the connect,
    /// the op's clone of the socket is the last and closes it after the CQE.
    pub(crate) async fn connect(addr: SockAddr) -> io::Result<Stream<K>> {
        let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
        let fd = submit(Socket::new(addr.family(), ty)).await?;
        let fd = SharedFd::new(fd);
        submit(Connect::new(fd.clone(), addr)).await?;
        Ok(Stream::new(fd))
    }

    /// Shuts down reading, writing or both: `IORING_OP_SHUTDOWN` (which the
    /// driver runs as `shutdown(2)` on kernels before Linux 5.11).
    pub(crate) async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        submit(Shutdown::new(self.fd.clone(), how)).await
    }

    /// Receives through `pool` (see [`PooledRecv`](crate::net::PooledRecv)).
    pub(crate) fn recv_pooled(&self, pool: &crate::buf::BufPool) -> crate::net::PooledRecv {
        crate::net::PooledRecv::new(self.fd.clone(), pool)
    }
}

impl Stream<Tcp> {
    /// Sends some of `buf` without copying it (`IORING_OP_SEND_ZC`); a
    /// plain [`write`](Stream::write) on kernels without the opcode.
    /// Resolves after the kernel's notification that it no longer uses the
    /// pages.
    pub(crate) async fn send_zc<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        if !crate::driver::features().send_zc {
            return self.write(buf).await;
        }
        let mut op = Multishot::new(op::send_zc::SendZc::new(self.fd.clone(), buf));
        let first = poll_fn(|cx| op.poll_next(cx)).await;
        if io_uring::cqueue::more(first.flags) {
            // The notification: the kernel has let go of the pages.
            let _notif = poll_fn(|cx| op.poll_next(cx)).await;
        }
        let buf = op.op_mut().take_buf();
        (first.result.map(|n| n as usize), buf)
    }

    /// Sends all of `buf` with [`send_zc`](Stream::send_zc), as many sends
    /// as it takes.
    pub(crate) async fn send_zc_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        buf::write_all_with(buf, |slice, _| self.send_zc(slice)).await
    }
}

impl Stream<Unix> {
    /// Sends some of `buf` with duplicates of `fds` (`SCM_RIGHTS`), which
    /// travel with the first byte sent; `InvalidInput` for a buffer with no
    /// bytes to carry them.
    pub(crate) async fn send_with_fds<B: IoBuf>(
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

    /// Reads some bytes into `buf` and the descriptors that came with them
    /// (at most `max_fds` per receive), with the descriptors that receives
    /// cut off earlier got. Cancel-safe for both.
    pub(crate) async fn recv_with_fds<B: IoBufMut>(
        &self,
        buf: B,
        max_fds: usize,
    ) -> BufResult<(usize, Vec<OwnedFd>), B> {
        let (res, buf) = if buf.bytes_total() == 0 {
            (Ok(0), buf)
        } else {
            let stash = self.kind.fds.clone();
            self.fd
                .stream_read(buf, |b, ticket| {
                    StreamRecvFds::new(b, ticket, max_fds.max(1), stash)
                })
                .await
        };
        let fds: Vec<OwnedFd> = self.kind.fds.borrow_mut().drain(..).collect();
        (res.map(|n| (n, fds)), buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Duration;

    /// The same calls on each kind: a read with no room answers at once
    /// even behind a parked read (it takes nothing from the stream), and
    /// `write_all`, `read_exact` and `read_to_end` see the bytes in order.
    async fn one_stream<K: Kind>(r: Stream<K>, w: Stream<K>) {
        let r = Rc::new(r);
        let parked = {
            let r = r.clone();
            crate::spawn(async move { r.read(vec![0u8; 1]).await })
        };
        crate::yield_now().await;
        let empty = crate::time::timeout(Duration::from_secs(1), r.read(Vec::new())).await;
        assert_eq!(empty.expect("answered without waiting").0.unwrap(), 0);
        w.write_all(b"hello world".to_vec()).await.0.unwrap();
        let (res, first) = parked.await.unwrap();
        assert_eq!((res.unwrap(), &first[..]), (1, &b"h"[..]));
        let (res, word) = r.read_exact(vec![0u8; 4]).await;
        res.unwrap();
        assert_eq!(&word[..], b"ello");
        w.close().await.unwrap();
        let (res, rest) = r.read_to_end(b"kept:".to_vec()).await;
        assert_eq!(res.unwrap(), 6);
        assert_eq!(&rest[..], b"kept: world");
    }

    #[test]
    fn every_kind_reads_and_writes_alike() {
        crate::run(async {
            let (a, b) = sockopt::socketpair(libc::SOCK_STREAM).unwrap();
            let (a, b) = (SharedFd::new(a), SharedFd::new(b));
            one_stream::<Unix>(Stream::new(a), Stream::new(b)).await;
            let (a, b) = sockopt::socketpair(libc::SOCK_STREAM).unwrap();
            let (a, b) = (SharedFd::new(a), SharedFd::new(b));
            one_stream::<Tcp>(Stream::new(a), Stream::new(b)).await;
            let (r, w) = crate::sys::fs::pipe(4096).unwrap();
            one_stream::<Pipe>(Stream::new(SharedFd::new(r)), Stream::new(SharedFd::new(w))).await;
        });
    }
}
