//! Adapters from curing's owned-buffer streams to the ecosystem's borrowed-
//! buffer I/O traits: [`Compat`] implements `futures_io`'s `AsyncRead`,
//! `AsyncBufRead` and `AsyncWrite` (feature `futures-io`), tokio's
//! (feature `tokio-io`) and hyper 1.x's `rt::Read`/`rt::Write` (feature
//! `hyper`, which also brings the `compat::hyper` module's executor and timer).
//!
//! ```no_run
//! # #[cfg(feature = "futures-io")]
//! # fn main() -> std::io::Result<()> {
//! use curing::compat::Compat;
//! use curing::net::TcpStream;
//! use futures_io::{AsyncRead, AsyncWrite}; // what a library asks for
//!
//! fn takes_futures_io(_: impl AsyncRead + AsyncWrite + Unpin) {}
//!
//! curing::run(async {
//!     let stream = TcpStream::connect("127.0.0.1:7878").await?;
//!     takes_futures_io(Compat::new(stream));
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(feature = "futures-io"))]
//! # fn main() {}
//! ```
//!
//! ## How it works
//!
//! The traits lend a `&mut [u8]` for one call; the kernel may use a buffer
//! long after a call returns. So a `Compat` owns one buffer per direction
//! and keeps each direction's op future inside itself, across polls:
//!
//! - **Reading**: a read op fills the read buffer (up to its capacity,
//!   16 KiB by default); `poll_read` copies from it into the caller's slice,
//!   `poll_fill_buf`/`consume` lend it without a copy. If the caller stops
//!   polling while a read is in flight (a [`select!`](crate::select) took
//!   another branch), the op stays in the `Compat` and the next poll
//!   completes it: no bytes are lost. Dropping the `Compat` cancels it; bytes the kernel read
//!   anyway go to the stream's stash and its next read (see
//!   [`net::TcpStream::read`](crate::net::TcpStream::read)), but bytes
//!   already in the read buffer and not yet consumed are dropped with it
//!   ([`Compat::into_inner`] hands them back).
//! - **Writing is write-behind**, like a `BufWriter` of one chunk: `poll_write`
//!   copies up to the write buffer's capacity (32 KiB by default) into the
//!   write buffer, starts a `write_all` op with it and returns `Ok(n)` at
//!   once. The next `poll_write`, `poll_flush` or `poll_close`/
//!   `poll_shutdown` waits for that op first and reports its error, if
//!   any: an error can surface one call late, for bytes already reported
//!   as accepted. So **`poll_flush` means "in the kernel"**: call it (or
//!   close) before relying on the peer having the bytes. The write op runs
//!   in the kernel whether or not the caller polls again; if the `Compat`
//!   is dropped with a write pending inside a runtime, that write is
//!   finished by a detached task (so accepted bytes are not silently
//!   lost), and the stream closes after it.
//! - **Closing**: `poll_close` (futures-io) and `poll_shutdown` (tokio,
//!   hyper) flush, then shut the stream down for writing
//!   (`shutdown(Write)`; a no-op for files). A connection the peer has
//!   already closed (`NotConnected`) counts as shut down, as with tokio's
//!   streams; a flush error is still reported. The stream itself is closed
//!   when the `Compat` is dropped.
//!
//! Per call, the traits force one copy (between the caller's slice and the
//! owned buffer) and nothing more: buffers are reused; each op boxes its
//! future once.
//!
//! Any type that implements [`OwnedRead`] and/or [`OwnedWrite`] can be
//! wrapped: curing implements them for [`TcpStream`], [`UnixStream`], their
//! split halves, [`File`] (at its current position) and the child-process
//! pipes.
//!
//! A `Compat` belongs to its thread's runtime like the stream inside it
//! (it is not `Send`).
//!
//! [`TcpStream`]: crate::net::TcpStream
//! [`UnixStream`]: crate::net::UnixStream
//! [`File`]: crate::fs::File

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "tokio-io")]
mod tokio_io;

use crate::buf::BufResult;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

/// Default capacity of the read buffer.
pub const DEFAULT_READ_CAPACITY: usize = 16 * 1024;
/// Default capacity of the write buffer.
pub const DEFAULT_WRITE_CAPACITY: usize = 32 * 1024;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A stream that reads into owned buffers, as [`Compat`] needs: the future
/// must own what it uses (`'static`), so it gets the stream as an `Rc`.
pub trait OwnedRead: 'static {
    /// Reads some bytes into `buf`, from its start up to its capacity, and
    /// gives the buffer back with its length set to the bytes read; `Ok(0)`
    /// is end of stream.
    fn read_owned(
        self: Rc<Self>,
        buf: Vec<u8>,
    ) -> impl Future<Output = BufResult<usize, Vec<u8>>> + 'static;
}

/// A stream that writes owned buffers, as [`Compat`] needs.
pub trait OwnedWrite: 'static {
    /// Writes all of `buf` and gives it back.
    fn write_all_owned(
        self: Rc<Self>,
        buf: Vec<u8>,
    ) -> impl Future<Output = BufResult<(), Vec<u8>>> + 'static;

    /// Shuts down the writing side (end of stream for the peer). Types
    /// with no such notion (files) do nothing.
    fn shutdown_owned(self: Rc<Self>) -> impl Future<Output = io::Result<()>> + 'static;
}

macro_rules! owned_read {
    ($($t:ty),* $(,)?) => {$(
        impl OwnedRead for $t {
            fn read_owned(
                self: Rc<Self>,
                buf: Vec<u8>,
            ) -> impl Future<Output = BufResult<usize, Vec<u8>>> + 'static {
                async move { self.read(buf).await }
            }
        }
    )*};
}

macro_rules! owned_write {
    ($($t:ty => |$s:ident| $shutdown:expr),* $(,)?) => {$(
        impl OwnedWrite for $t {
            fn write_all_owned(
                self: Rc<Self>,
                buf: Vec<u8>,
            ) -> impl Future<Output = BufResult<(), Vec<u8>>> + 'static {
                async move { self.write_all(buf).await }
            }

            fn shutdown_owned(self: Rc<Self>) -> impl Future<Output = io::Result<()>> + 'static {
                async move {
                    let $s = &*self;
                    $shutdown
                }
            }
        }
    )*};
}

use crate::net::{ReadHalf, TcpStream, UnixStream, WriteHalf};
use crate::process::{ChildStderr, ChildStdin, ChildStdout};

owned_read!(
    TcpStream,
    UnixStream,
    ReadHalf<TcpStream>,
    ReadHalf<UnixStream>,
    crate::fs::File,
    ChildStdout,
    ChildStderr,
);

owned_write!(
    TcpStream => |s| s.shutdown(std::net::Shutdown::Write).await,
    UnixStream => |s| s.shutdown(std::net::Shutdown::Write).await,
    WriteHalf<TcpStream> => |s| s.shutdown(std::net::Shutdown::Write).await,
    WriteHalf<UnixStream> => |s| s.shutdown(std::net::Shutdown::Write).await,
    crate::fs::File => |_s| Ok(()),
    ChildStdin => |_s| Ok(()),
);

/// A curing stream with the ecosystem's I/O traits; see the [module
/// docs](self) for buffering and cancellation.
///
/// ```no_run
/// # #[cfg(feature = "tokio-io")]
/// # fn main() -> std::io::Result<()> {
/// use curing::compat::Compat;
/// use curing::net::UnixStream;
/// use tokio::io::{AsyncBufRead, AsyncWrite};
///
/// fn takes_tokio_io(_: impl AsyncBufRead + AsyncWrite + Unpin) {}
///
/// curing::run(async {
///     let (a, _b) = UnixStream::pair()?;
///     takes_tokio_io(Compat::with_capacity(a, 4096, 4096));
///     Ok(())
/// })
/// # }
/// # #[cfg(not(feature = "tokio-io"))]
/// # fn main() {}
/// ```
pub struct Compat<S: 'static> {
    /// The stream; each op future in flight holds a clone.
    io: Rc<S>,
    /// Read buffer (while no read is in flight): unread bytes are
    /// `rbuf[rpos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Capacity the read buffer is given.
    rcap: usize,
    /// The read in flight; it owns the read buffer meanwhile.
    rfut: Option<BoxFuture<BufResult<usize, Vec<u8>>>>,
    /// Write buffer (while no write is in flight).
    wbuf: Vec<u8>,
    /// Most bytes one `poll_write` accepts.
    wcap: usize,
    /// The write in flight; it owns the write buffer meanwhile.
    wfut: Option<BoxFuture<BufResult<(), Vec<u8>>>>,
    /// The shutdown in flight.
    sfut: Option<BoxFuture<io::Result<()>>>,
    /// Whether the write side was shut down.
    shut: bool,
}

impl<S: 'static> Compat<S> {
    /// Wraps `io` with the default buffer capacities
    /// ([`DEFAULT_READ_CAPACITY`], [`DEFAULT_WRITE_CAPACITY`]). Buffers are
    /// allocated on first use.
    pub fn new(io: S) -> Compat<S> {
        Compat::with_capacity(io, DEFAULT_READ_CAPACITY, DEFAULT_WRITE_CAPACITY)
    }

    /// Wraps `io` with a read buffer of `read` bytes (the most one read op
    /// asks the kernel for) and a write buffer of `write` bytes (the most
    /// one `poll_write` accepts). Both at least 1.
    pub fn with_capacity(io: S, read: usize, write: usize) -> Compat<S> {
        Compat {
            io: Rc::new(io),
            rbuf: Vec::new(),
            rpos: 0,
            rcap: read.max(1),
            rfut: None,
            wbuf: Vec::new(),
            wcap: write.max(1),
            wfut: None,
            sfut: None,
            shut: false,
        }
    }

    /// The wrapped stream, for its own methods (addresses, options; its
    /// reads and writes bypass this adapter's buffers).
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Bytes read from the stream and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.rbuf[self.rpos..]
    }

    /// Whether a write is in flight (accepted by `poll_write`, not yet
    /// flushed).
    pub fn write_pending(&self) -> bool {
        self.wfut.is_some()
    }

    /// The stream back, with the bytes read and not consumed.
    ///
    /// A read in flight is cancelled (bytes the kernel read anyway go to the
    /// stream's next read); a write in flight is cancelled too, and may or
    /// may not have been sent: flush first (`poll_flush`) to be sure.
    pub fn into_inner(mut self) -> (S, Vec<u8>) {
        self.rfut = None;
        self.wfut = None;
        self.sfut = None;
        let mut unread = std::mem::take(&mut self.rbuf);
        unread.drain(..self.rpos);
        let io = self.io.clone();
        drop(self);
        let io = Rc::try_unwrap(io).unwrap_or_else(|_| {
            unreachable!("only the op futures share the stream, and they are gone")
        });
        (io, unread)
    }

    /// Consumes `amt` buffered bytes (as `AsyncBufRead::consume`).
    fn consume_buf(&mut self, amt: usize) {
        self.rpos = (self.rpos + amt).min(self.rbuf.len());
    }

    /// Waits for the write in flight; reports its error.
    fn poll_write_done(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(fut) = self.wfut.as_mut() {
            let (res, buf) = ready!(fut.as_mut().poll(cx));
            self.wfut = None;
            self.wbuf = buf;
            res?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: OwnedRead> Compat<S> {
    /// The buffered bytes, reading more if there are none; empty at end of
    /// stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if self.rpos < self.rbuf.len() {
            return Poll::Ready(Ok(&self.rbuf[self.rpos..]));
        }
        if self.rfut.is_none() {
            let mut buf = std::mem::take(&mut self.rbuf);
            buf.clear();
            buf.reserve_exact(self.rcap);
            self.rpos = 0;
            self.rfut = Some(Box::pin(self.io.clone().read_owned(buf)));
        }
        let fut = self.rfut.as_mut().expect("just set");
        let (res, mut buf) = ready!(fut.as_mut().poll(cx));
        self.rfut = None;
        match res {
            Ok(n) => {
                buf.truncate(n);
                self.rbuf = buf;
                Poll::Ready(Ok(&self.rbuf[..]))
            }
            Err(e) => {
                buf.clear();
                self.rbuf = buf;
                Poll::Ready(Err(e))
            }
        }
    }

    /// Copies buffered bytes (reading more if needed) into `dst`.
    #[cfg(feature = "futures-io")]
    fn poll_read_into(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let avail = ready!(self.poll_fill(cx))?;
        let n = avail.len().min(dst.len());
        dst[..n].copy_from_slice(&avail[..n]);
        self.consume_buf(n);
        Poll::Ready(Ok(n))
    }
}

impl<S: OwnedWrite> Compat<S> {
    /// Accepts up to the write capacity from `bufs` and starts writing it;
    /// see the module docs.
    fn poll_write_from(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_write_done(cx))?;
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let mut buf = std::mem::take(&mut self.wbuf);
        buf.clear();
        for b in bufs {
            let room = self.wcap - buf.len();
            if room == 0 {
                break;
            }
            buf.extend_from_slice(&b[..b.len().min(room)]);
        }
        let n = buf.len();
        let mut fut: BoxFuture<_> = Box::pin(self.io.clone().write_all_owned(buf));
        // The first poll pushes the SQE; usually the write is then pending.
        match fut.as_mut().poll(cx) {
            Poll::Ready((res, buf)) => {
                self.wbuf = buf;
                Poll::Ready(res.map(|()| n))
            }
            Poll::Pending => {
                self.wfut = Some(fut);
                Poll::Ready(Ok(n))
            }
        }
    }

    /// Waits until every accepted byte is written.
    fn poll_flush_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_done(cx)
    }

    /// Flushes, then shuts the writing side down (once).
    fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_done(cx))?;
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        let fut = self
            .sfut
            .get_or_insert_with(|| Box::pin(self.io.clone().shutdown_owned()));
        let res = ready!(fut.as_mut().poll(cx));
        self.sfut = None;
        // The peer already closed (or reset) the connection: there is no
        // writing side left to shut down, which is what the caller wanted.
        // Reported as done, as tokio's streams do, so that servers (hyper)
        // do not log an error for every connection the client closed first.
        let res = match res {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            res => res,
        };
        self.shut = res.is_ok();
        Poll::Ready(res)
    }
}

impl<S: 'static> Drop for Compat<S> {
    fn drop(&mut self) {
        // Accepted bytes still in flight: finish them in a detached task
        // rather than cancel them (see the module docs).
        if let Some(fut) = self.wfut.take() {
            if crate::runtime::try_remote().is_some() {
                drop(crate::spawn(fut));
            }
        }
    }
}

impl<S: std::fmt::Debug + 'static> std::fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compat")
            .field("io", &self.io)
            .field("buffered", &(self.rbuf.len() - self.rpos))
            .field("read_pending", &self.rfut.is_some())
            .field("write_pending", &self.wfut.is_some())
            .finish()
    }
}
