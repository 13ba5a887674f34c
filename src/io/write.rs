//! [`BufWriter`].

use super::{StreamWrite, DEFAULT_BUF_SIZE};
use crate::buf::{self, BufResult, IoBuf};
use std::fmt;
use std::io;

/// Gathers small writes to a curing stream or file into one buffer, and
/// writes it when it is full or on [`flush`](BufWriter::flush).
///
/// Nothing is held unless you asked for this buffer: the stream's own
/// `write_all` writes at once. `flush().await` returns when the kernel has
/// taken every buffered byte, with the kernel's error if it refused them
/// (a reset peer, a full disk): no error is swallowed.
///
/// ```no_run
/// use curing::io::BufWriter;
/// use curing::net::TcpStream;
///
/// # fn main() -> std::io::Result<()> {
/// curing::run(async {
///     let stream = TcpStream::connect("127.0.0.1:7878").await?;
///     let mut out = BufWriter::new(stream);
///     for i in 0..100 {
///         out.write_all(format!("line {i}\n").into_bytes()).await.0?; // buffered
///     }
///     out.flush().await?; // written, or the kernel's error
///     out.into_inner().close().await
/// })
/// # }
/// ```
///
/// **Dropping a `BufWriter` discards the bytes it holds** (as tokio's
/// does): flush first. A `write_all`, `flush` or `shutdown` dropped while
/// its write is in flight may or may not have sent that write's bytes, as
/// with the stream's `write_all`.
pub struct BufWriter<S> {
    /// The stream written to.
    inner: S,
    /// Bytes accepted and not written yet. Empty, with no allocation,
    /// while a write of this writer was cut off.
    buf: Vec<u8>,
    /// How many bytes are gathered before a write.
    cap: usize,
}

impl<S: StreamWrite> BufWriter<S> {
    /// A writer over `inner` with a buffer of [`DEFAULT_BUF_SIZE`] bytes.
    pub fn new(inner: S) -> BufWriter<S> {
        BufWriter::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A writer over `inner` that gathers up to `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: S) -> BufWriter<S> {
        BufWriter {
            inner,
            buf: Vec::with_capacity(capacity),
            cap: capacity,
        }
    }

    /// The stream underneath. Writing to it directly goes ahead of the
    /// bytes this writer holds.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The bytes accepted and not written yet.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// How many bytes are gathered before a write.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The stream back; the bytes not written yet are **discarded** (as
    /// with tokio's `into_inner`): [`flush`](BufWriter::flush) first, or
    /// use [`into_parts`](BufWriter::into_parts).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The stream back, with the bytes not written yet.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        (self.inner, self.buf)
    }

    /// Accepts all the initialised bytes of `src`: into the buffer if they
    /// fit, after writing what it holds if they do not; bytes as many as
    /// the capacity or more are written directly (after the buffer). The
    /// buffer comes back at once.
    ///
    /// # Errors
    ///
    /// The error of a write this call made (see [`flush`](BufWriter::flush));
    /// then `src` was not accepted.
    pub async fn write_all<B: IoBuf>(&mut self, src: B) -> BufResult<(), B> {
        let n = src.bytes_init();
        if self.buf.len() + n > self.cap {
            if let Err(e) = self.flush().await {
                return (Err(e), src);
            }
        }
        if n >= self.cap {
            return self.inner.as_stream().write_all(src).await;
        }
        self.buf.extend_from_slice(buf::init_bytes(&src, n));
        (Ok(()), src)
    }

    /// Accepts the initialised bytes of `src`, as [`write_all`](BufWriter::write_all)
    /// does, and returns how many (all of them, unless the direct write of
    /// a large `src` was short).
    pub async fn write<B: IoBuf>(&mut self, src: B) -> BufResult<usize, B> {
        let n = src.bytes_init();
        if self.buf.len() + n > self.cap {
            if let Err(e) = self.flush().await {
                return (Err(e), src);
            }
        }
        if n >= self.cap {
            return self.inner.as_stream().write(src).await;
        }
        self.buf.extend_from_slice(buf::init_bytes(&src, n));
        (Ok(n), src)
    }

    /// Writes every buffered byte, as many writes as it takes, and returns
    /// once the kernel has taken them all.
    ///
    /// # Errors
    ///
    /// The kernel's error (`BrokenPipe` or `ConnectionReset` for a closed
    /// peer, `StorageFull`, ...), or `WriteZero` if it took nothing. The
    /// bytes not written stay buffered; a later `flush` tries them again.
    ///
    /// ```
    /// # curing::run(async {
    /// use curing::io::BufWriter;
    /// let (a, b) = curing::net::UnixStream::pair()?;
    /// let mut out = BufWriter::new(a);
    /// out.write_all(b"ping".to_vec()).await.0?;
    /// assert_eq!(out.buffer(), b"ping");
    /// out.flush().await?;
    /// assert!(out.buffer().is_empty());
    /// let (res, got) = b.read(vec![0u8; 4]).await;
    /// assert_eq!(&got[..res?], b"ping");
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn flush(&mut self) -> io::Result<()> {
        while !self.buf.is_empty() {
            let lent = std::mem::take(&mut self.buf);
            let (res, lent) = self.inner.as_stream().write(lent).await;
            self.buf = lent;
            match res {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the kernel took none of the buffered bytes",
                    ))
                }
                Ok(n) => drop(self.buf.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Flushes, then shuts down the writing side: the peer reads end of
    /// stream (nothing more for files and pipes, which end when closed).
    ///
    /// # Errors
    ///
    /// The flush's error (then the stream is not shut down), or the
    /// shutdown's.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.flush().await?;
        super::sealed::Write::shutdown_write(&self.inner).await
    }
}

impl<S: fmt::Debug> fmt::Debug for BufWriter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufWriter")
            .field("inner", &self.inner)
            .field("buffered", &self.buf.len())
            .field("capacity", &self.cap)
            .finish()
    }
}
