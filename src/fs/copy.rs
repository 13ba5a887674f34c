//! Copying bytes: whole files by path ([`copy`]), ranges between files
//! ([`copy_range`]), and streams between a file and a socket or pipe
//! ([`send_file`], [`recv_file`]).
//!
//! Two engines move the bytes, both entirely through io_uring:
//!
//! - **read/write**: [`DEPTH`] chunks of [`CHUNK`] bytes in flight at once,
//!   each read into a reused buffer and written out; positional reads and
//!   writes overlap freely, stream reads and writes keep their order.
//! - **splice**: the bytes go from the source into a pipe and from the pipe
//!   to the destination (`IORING_OP_SPLICE`), never through user memory.
//!
//! Both were measured (benches/compare/README.md, "Copy engines"): read/write was faster file → TCP and TCP → file, and
//! steadier file → file. So every function uses read/write; splice stays
//! for measuring again, chosen through `force_copy_method`, a test hook of
//! the `testing` feature (not part of the API).

use super::File;
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::{self, splice::Splice};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;

/// Bytes per read/write chunk, and per splice.
pub(crate) const CHUNK: usize = 1 << 20;
/// Chunks in flight at once in the read/write engine.
pub(crate) const DEPTH: usize = 4;

/// How [`copy`], [`copy_range`], [`send_file`] and [`recv_file`] move
/// bytes. Both engines are io_uring only; read/write is the default
/// everywhere (see the module doc). Public only with the `testing` feature,
/// as the argument of [`force_copy_method`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyMethod {
    /// Through a pipe with `IORING_OP_SPLICE`.
    // Chosen only through the test hook.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Splice,
    /// Pipelined `IORING_OP_READ` / `IORING_OP_WRITE` through user buffers.
    ReadWrite,
}

#[cfg(feature = "testing")]
thread_local! {
    /// A forced method, for measuring both (see [`force_copy_method`]).
    static FORCED: Cell<Option<CopyMethod>> = const { Cell::new(None) };
}

/// **Test hook, not part of the API** (feature `testing`): forces every
/// copy on this thread to use `method` (`None`: the default for each case),
/// for tests and benchmarks of both engines.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn force_copy_method(method: Option<CopyMethod>) {
    FORCED.with(|f| f.set(method));
}

/// The method a test forced, else `default`.
#[cfg(feature = "testing")]
fn method_or(default: CopyMethod) -> CopyMethod {
    FORCED.with(Cell::get).unwrap_or(default)
}

/// `default`: without the `testing` feature nothing can force a method.
#[cfg(not(feature = "testing"))]
fn method_or(default: CopyMethod) -> CopyMethod {
    default
}

/// One side of a copy: a descriptor and a position (`None`: a stream, read
/// or written at its current position).
#[derive(Clone)]
struct End {
    fd: SharedFd,
    pos: Option<u64>,
}

/// Copies the contents of file `from` to `to` (created, or truncated), and
/// then `from`'s permission bits; returns the number of bytes copied. Like
/// `std::fs::copy`, but every open, read, write and close is an io_uring op.
///
/// ```no_run
/// # curing::run(async {
/// let n = curing::fs::copy("/etc/os-release", "/tmp/os-release.copy").await?;
/// # std::io::Result::Ok(()) });
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let src = File::open(from).await?;
    let meta = src.metadata().await?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "copy: the source is not a regular file",
        ));
    }
    let dst = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(meta.mode() & 0o7777)
        .open(to)
        .await?;
    let n = copy_range(&src, 0, &dst, 0, meta.len()).await?;
    dst.set_permissions(meta.permissions()).await?;
    src.close().await?;
    dst.close().await?;
    Ok(n)
}

/// Copies up to `len` bytes from `src` at `src_pos` to `dst` at `dst_pos`
/// (fewer if `src` ends first); returns how many were copied. Many chunks
/// are in flight at once. `len` may be `u64::MAX`: until the end of `src`.
pub async fn copy_range(
    src: &File,
    src_pos: u64,
    dst: &File,
    dst_pos: u64,
    len: u64,
) -> io::Result<u64> {
    super::check_offset(src_pos)?;
    super::check_offset(dst_pos)?;
    let from = End {
        fd: src.shared_fd().clone(),
        pos: Some(src_pos),
    };
    let to = End {
        fd: dst.shared_fd().clone(),
        pos: Some(dst_pos),
    };
    run(method_or(CopyMethod::ReadWrite), from, to, len).await
}

/// Sends up to `len` bytes of `src` from `pos` to a socket or pipe, written
/// at its current position (the next bytes of the stream); returns how many
/// were sent. `len` may be `u64::MAX`: until the end of `src`.
///
/// `dst` is borrowed; the copy works on a duplicate of its descriptor
/// (closed when the copy ends), so dropping this future is safe even if
/// `dst` is closed right after.
pub async fn send_file(src: &File, pos: u64, len: u64, dst: &impl AsFd) -> io::Result<u64> {
    super::check_offset(pos)?;
    let from = End {
        fd: src.shared_fd().clone(),
        pos: Some(pos),
    };
    let to = End {
        fd: SharedFd::new(crate::sys::fs::dup(dst.as_fd())?),
        pos: None,
    };
    run(method_or(CopyMethod::ReadWrite), from, to, len).await
}

/// Receives up to `len` bytes from a socket or pipe (until its end of
/// stream) into `dst` at `pos`; returns how many were received. `src` is
/// read through a duplicate descriptor, as in [`send_file`].
pub async fn recv_file(src: &impl AsFd, dst: &File, pos: u64, len: u64) -> io::Result<u64> {
    super::check_offset(pos)?;
    let from = End {
        fd: SharedFd::new(crate::sys::fs::dup(src.as_fd())?),
        pos: None,
    };
    let to = End {
        fd: dst.shared_fd().clone(),
        pos: Some(pos),
    };
    run(method_or(CopyMethod::ReadWrite), from, to, len).await
}

async fn run(method: CopyMethod, from: End, to: End, len: u64) -> io::Result<u64> {
    match method {
        CopyMethod::Splice => splice_copy(from, to, len).await,
        CopyMethod::ReadWrite => read_write_copy(from, to, len).await,
    }
}

/// The `off` argument of a splice: the position, or -1 for a stream.
fn splice_off(pos: Option<u64>) -> io::Result<i64> {
    pos.map_or(Ok(-1), |p| {
        i64::try_from(p)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))
    })
}

/// The splice engine: source → pipe → destination, one chunk at a time.
async fn splice_copy(mut from: End, mut to: End, len: u64) -> io::Result<u64> {
    let (pipe_r, pipe_w) = crate::sys::fs::pipe(CHUNK)?;
    let (pipe_r, pipe_w) = (SharedFd::new(pipe_r), SharedFd::new(pipe_w));
    let mut total = 0u64;
    while total < len {
        let want = (len - total).min(CHUNK as u64) as u32;
        let off = splice_off(from.pos)?;
        let n = submit(Splice::new(from.fd.clone(), off, pipe_w.clone(), -1, want)).await?;
        if n == 0 {
            break;
        }
        from.pos = from.pos.map(|p| p + n as u64);
        let mut moved = 0;
        while moved < n {
            let off = splice_off(to.pos)?;
            let want = (n - moved) as u32;
            let k = submit(Splice::new(pipe_r.clone(), -1, to.fd.clone(), off, want)).await?;
            if k == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "splice wrote 0 bytes",
                ));
            }
            moved += k;
            to.pos = to.pos.map(|p| p + k as u64);
        }
        total += n as u64;
    }
    Ok(total)
}

/// What the chunks of one read/write copy share.
struct Pipeline {
    from: End,
    to: End,
    len: u64,
    /// Reused chunk buffers (at most `DEPTH`).
    pool: RefCell<Vec<Vec<u8>>>,
    /// The chunk whose turn it is to read (stream sources read in order).
    read_turn: Cell<u64>,
    /// The chunk whose turn it is to write (stream destinations in order).
    write_turn: Cell<u64>,
    /// Bytes read so far from a stream source (its chunks' positions).
    streamed: Cell<u64>,
    /// The source ended (or `len` was reached): start no more chunks.
    ended: Cell<bool>,
}

/// Waits until `turn` reaches `i`. Registers no waker: the pipeline polls
/// its chunks in order after any progress, and chunk `i - 1` (which moves
/// the turn) is polled before chunk `i`.
async fn wait_turn(turn: &Cell<u64>, i: u64) {
    poll_fn(|_| {
        if turn.get() >= i {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

impl Pipeline {
    /// Copies chunk `i`; returns the bytes it moved.
    async fn chunk(&self, i: u64) -> io::Result<u64> {
        let stream_src = self.from.pos.is_none();
        if stream_src {
            wait_turn(&self.read_turn, i).await;
        }
        let start = if stream_src {
            self.streamed.get()
        } else {
            i * CHUNK as u64
        };
        let want = (self.len.saturating_sub(start)).min(CHUNK as u64) as usize;
        let mut buf = self.pool.borrow_mut().pop().unwrap_or_default();
        buf.clear();
        buf.reserve_exact(want);
        let res = self.fill(&mut buf, start, want).await;
        // A positional source ended if it gave less than asked; a stream
        // only when a read gives nothing (short reads are normal there).
        let ended = if stream_src {
            buf.is_empty()
        } else {
            buf.len() < want
        };
        self.ended.set(self.ended.get() || ended || want == 0);
        if stream_src {
            self.streamed.set(start + buf.len() as u64);
            self.read_turn.set(i + 1);
        }
        let n = buf.len();
        let res = match res {
            Ok(()) => self.drain(buf, start, i).await,
            Err(e) => {
                self.write_turn.set(i + 1);
                Err(e)
            }
        };
        res.map(|()| n as u64)
    }

    /// Reads chunk data into `buf` (to `want` bytes, or until the end for a
    /// positional source; one read for a stream).
    async fn fill(&self, buf: &mut Vec<u8>, start: u64, want: usize) -> io::Result<()> {
        use crate::buf::IoBuf;
        while buf.len() < want {
            let b = std::mem::take(buf);
            let at = b.len();
            let slice = b.slice(at..want);
            let (res, slice) = match self.from.pos {
                Some(p) => {
                    submit(op::Read::at(
                        self.from.fd.clone(),
                        slice,
                        p + start + at as u64,
                    ))
                    .await
                }
                None => self.from.fd.stream_read(slice, op::StreamRead::new).await,
            };
            *buf = slice.into_inner();
            match res {
                Ok(0) => return Ok(()),
                Ok(_) if self.from.pos.is_none() => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes `buf` at the chunk's place, then returns it to the pool.
    async fn drain(&self, buf: Vec<u8>, start: u64, i: u64) -> io::Result<()> {
        let stream_dst = self.to.pos.is_none();
        if stream_dst {
            wait_turn(&self.write_turn, i).await;
        }
        let fd = &self.to.fd;
        let (res, buf) = match self.to.pos {
            Some(p) => {
                crate::buf::write_all_with(buf, |s, done| {
                    submit(op::Write::new(fd.clone(), s, p + start + done))
                })
                .await
            }
            None => {
                crate::buf::write_all_with(buf, |s, _| {
                    submit(op::Write::new(fd.clone(), s, u64::MAX))
                })
                .await
            }
        };
        self.write_turn.set(i + 1);
        self.pool.borrow_mut().push(buf);
        res
    }
}

type ChunkFuture<'a> = Pin<Box<dyn Future<Output = io::Result<u64>> + 'a>>;

/// The read/write engine: up to `DEPTH` chunks in flight.
async fn read_write_copy(from: End, to: End, len: u64) -> io::Result<u64> {
    let p = Pipeline {
        from,
        to,
        len,
        pool: RefCell::new(Vec::new()),
        read_turn: Cell::new(0),
        write_turn: Cell::new(0),
        streamed: Cell::new(0),
        ended: Cell::new(len == 0),
    };
    let positional_src = p.from.pos.is_some();
    let mut inflight: VecDeque<ChunkFuture<'_>> = VecDeque::new();
    let mut next = 0u64;
    let mut total = 0u64;
    poll_fn(|cx| loop {
        // Start chunks while there is room and (for a positional source)
        // something left to read.
        while inflight.len() < DEPTH
            && !p.ended.get()
            && !(positional_src && next * CHUNK as u64 >= len)
        {
            inflight.push_back(Box::pin(p.chunk(next)));
            next += 1;
        }
        let mut progressed = false;
        let mut i = 0;
        while i < inflight.len() {
            match inflight[i].as_mut().poll(cx) {
                Poll::Ready(Ok(n)) => {
                    total += n;
                    drop(inflight.remove(i));
                    progressed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => i += 1,
            }
        }
        if inflight.is_empty() && (p.ended.get() || (positional_src && next * CHUNK as u64 >= len))
        {
            return Poll::Ready(Ok(total));
        }
        if !progressed {
            return Poll::Pending;
        }
    })
    .await
}
