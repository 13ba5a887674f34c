//! Buffered I/O on owned buffers: [`BufReader`] and [`BufWriter`] over any
//! curing stream or file.
//!
//! They are tokio's `BufReader`/`BufWriter` in shape (`read_line`,
//! `read_until`, `lines`, `write_all`, `flush`), with curing's owned
//! buffers: a read takes its buffer by value and gives it back, and nothing
//! borrows a `&mut [u8]` across an await.
//!
//! Which types they wrap: anything that implements [`StreamRead`] (for
//! `BufReader`) or [`StreamWrite`] (for `BufWriter`): [`TcpStream`],
//! [`UnixStream`], their [`ReadHalf`]/[`WriteHalf`], [`File`] (at its
//! current position) and the child-process pipes. The traits are sealed:
//! they name curing's one stream implementation, not an interface to
//! implement.
//!
//! ```no_run
//! use curing::io::{BufReader, BufWriter};
//! use curing::net::TcpStream;
//!
//! # fn main() -> std::io::Result<()> {
//! curing::run(async {
//!     let (rd, wr) = TcpStream::connect("127.0.0.1:7878").await?.into_split();
//!     let mut out = BufWriter::new(wr);
//!     out.write_all(b"HELLO\r\n".to_vec()).await.0?;
//!     out.flush().await?; // the kernel's answer: nothing is held after this
//!     let mut input = BufReader::new(rd);
//!     let mut line = String::new();
//!     while input.read_line(&mut line).await? > 0 {
//!         print!("{line}");
//!         line.clear();
//!     }
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## Cancellation
//!
//! | call | dropped before it finished |
//! |---|---|
//! | [`BufReader::read_line`], [`read_until`](BufReader::read_until), [`Lines::next_line`] | **cancel-safe**: nothing is consumed until a whole line is there; the bytes read so far stay with the reader (what its cut-off op got goes to the stream's next read, which the reader does next) |
//! | [`BufReader::read`], [`read_exact`](BufReader::read_exact), [`read_to_end`](BufReader::read_to_end) | **cancel-safe**, as the stream's own |
//! | [`BufWriter::write_all`], [`flush`](BufWriter::flush), [`shutdown`](BufWriter::shutdown) | **not cancel-safe** while a write is in flight (like the stream's `write_all`): the bytes of that write may or may not have been sent |
//!
//! A read with a time limit that gives its buffer back (instead of
//! `timeout(d, stream.read(buf))`, which loses `buf` on `Elapsed`) is the
//! streams' own `read_timeout`/`read_deadline`, e.g.
//! [`TcpStream::read_timeout`](crate::net::TcpStream::read_timeout).
//!
//! Dropping a `BufWriter` with bytes it has not flushed **discards them**,
//! as tokio's `BufWriter` does: call [`flush`](BufWriter::flush) (or
//! [`shutdown`](BufWriter::shutdown)) and check its result.
//!
//! [`TcpStream`]: crate::net::TcpStream
//! [`UnixStream`]: crate::net::UnixStream
//! [`ReadHalf`]: crate::net::ReadHalf
//! [`WriteHalf`]: crate::net::WriteHalf
//! [`File`]: crate::fs::File

mod read;
mod write;

pub use read::{BufReader, Lines};
pub use write::BufWriter;

use crate::net::{ReadHalf, TcpStream, UnixStream, WriteHalf};
use crate::process::{ChildStderr, ChildStdin, ChildStdout};
use std::future::Future;
use std::io;

/// The default capacity of a [`BufReader`]'s and a [`BufWriter`]'s buffer.
pub const DEFAULT_BUF_SIZE: usize = 8 * 1024;

/// A curing type a [`BufReader`] can read from: [`TcpStream`],
/// [`UnixStream`], their read halves, [`File`](crate::fs::File),
/// [`ChildStdout`] and [`ChildStderr`]. Sealed.
#[allow(private_bounds)]
pub trait StreamRead: sealed::Read {}

/// A curing type a [`BufWriter`] can write to: [`TcpStream`],
/// [`UnixStream`], their write halves, [`File`](crate::fs::File) and
/// [`ChildStdin`]. Sealed.
#[allow(private_bounds)]
pub trait StreamWrite: sealed::Write {}

mod sealed {
    use crate::stream::AsStream;
    use std::future::Future;
    use std::io;

    /// Reading goes through the type's [`Stream`](crate::stream::Stream).
    pub(crate) trait Read: AsStream + 'static {}

    /// Writing goes through the type's `Stream`; what shutting down the
    /// writing side means differs per type.
    pub(crate) trait Write: AsStream + 'static {
        /// End of stream for the peer (`shutdown(Write)`); nothing for
        /// files and pipes.
        fn shutdown_write(&self) -> impl Future<Output = io::Result<()>> + '_;
    }
}

macro_rules! readable {
    ($($t:ty),* $(,)?) => {$(
        impl sealed::Read for $t {}
        impl StreamRead for $t {}
    )*};
}

readable!(
    TcpStream,
    UnixStream,
    ReadHalf<TcpStream>,
    ReadHalf<UnixStream>,
    crate::fs::File,
    ChildStdout,
    ChildStderr,
);

macro_rules! writable {
    ($($t:ty => |$s:ident| $shutdown:expr),* $(,)?) => {$(
        impl sealed::Write for $t {
            fn shutdown_write(&self) -> impl Future<Output = io::Result<()>> + '_ {
                let $s = self;
                async move { $shutdown }
            }
        }
        impl StreamWrite for $t {}
    )*};
}

writable!(
    TcpStream => |s| s.shutdown(std::net::Shutdown::Write).await,
    UnixStream => |s| s.shutdown(std::net::Shutdown::Write).await,
    WriteHalf<TcpStream> => |s| s.shutdown(std::net::Shutdown::Write).await,
    WriteHalf<UnixStream> => |s| s.shutdown(std::net::Shutdown::Write).await,
    crate::fs::File => |_s| Ok(()),
    ChildStdin => |_s| Ok(()),
);
