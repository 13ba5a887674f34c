//! [`BufReader`] and its [`Lines`].

use super::{StreamRead, DEFAULT_BUF_SIZE};
use crate::buf::{self, BufResult, IoBufMut};
use crate::stream::{AsStream, Stream};
use std::cell::Cell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

/// Reads a curing stream or file through a buffer of its own, for lines,
/// delimited records and many small reads.
///
/// The reader owns one `Vec<u8>`, lent to the kernel for each read (an
/// owned buffer, like every curing read) and given back with the bytes. A
/// line longer than the capacity grows the buffer to hold it.
///
/// ```no_run
/// use curing::io::BufReader;
/// use curing::net::TcpStream;
///
/// # fn main() -> std::io::Result<()> {
/// curing::run(async {
///     let stream = TcpStream::connect("127.0.0.1:7878").await?;
///     let mut reader = BufReader::new(stream);
///     let mut status = String::new();
///     reader.read_line(&mut status).await?;        // "HTTP/1.1 200 OK\r\n"
///     let mut header = Vec::new();
///     reader.read_until(b'\n', &mut header).await?;
///     let stream = reader.into_inner();              // buffered bytes go back to it
///     let (res, _body) = stream.read_to_end(Vec::new()).await;
///     res?;
///     Ok(())
/// })
/// # }
/// ```
///
/// **Cancellation**: [`read_line`](BufReader::read_line) and
/// [`read_until`](BufReader::read_until) consume nothing until a whole
/// line (or the end of the stream) is there. Dropping one of them at any
/// await point, say in a `select!` whose other branch won, loses no byte:
/// the next call on the same reader returns the line from its start.
pub struct BufReader<S> {
    /// The stream read from.
    inner: S,
    /// Bytes read and not consumed: `buf[pos..]`. Empty, with no
    /// allocation, while a read of this reader was cut off (its op has the
    /// vector; the bytes went back to the stream).
    buf: Vec<u8>,
    /// Where the unconsumed bytes start.
    pos: usize,
    /// How much a read asks for at least.
    cap: usize,
}

impl<S: StreamRead> BufReader<S> {
    /// A reader over `inner` with a buffer of [`DEFAULT_BUF_SIZE`] bytes.
    pub fn new(inner: S) -> BufReader<S> {
        BufReader::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A reader over `inner` whose reads ask for `capacity` bytes (at least
    /// one).
    pub fn with_capacity(capacity: usize, inner: S) -> BufReader<S> {
        let cap = capacity.max(1);
        BufReader {
            inner,
            buf: Vec::with_capacity(cap),
            pos: 0,
            cap,
        }
    }

    /// The stream underneath. Reading from it directly skips the bytes
    /// this reader holds ([`buffer`](BufReader::buffer)).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The bytes read from the stream and not consumed yet.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// How many bytes one read of this reader asks for.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The stream back. The bytes this reader had read and not consumed
    /// are **not lost**: they go back to the stream, in front, and its
    /// next read returns them (unlike tokio's `into_inner`, which drops
    /// them).
    ///
    /// ```
    /// # curing::run(async {
    /// use curing::io::BufReader;
    /// let (a, b) = curing::net::UnixStream::pair()?;
    /// b.write_all(b"one\ntwo".to_vec()).await.0?;
    /// let mut reader = BufReader::new(a);
    /// let mut line = String::new();
    /// reader.read_line(&mut line).await?;
    /// let a = reader.into_inner();
    /// let (res, rest) = a.read(vec![0u8; 16]).await;
    /// assert_eq!(&rest[..res?], b"two");
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn into_inner(self) -> S {
        self.stream().unread(&self.buf[self.pos..]);
        self.inner
    }

    fn stream(&self) -> &Stream<<S as AsStream>::Kind> {
        self.inner.as_stream()
    }

    /// Marks `amt` buffered bytes as consumed (at most all of them).
    pub fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// The buffered bytes, reading from the stream first if there are
    /// none; empty at end of stream. Call [`consume`](BufReader::consume)
    /// for what was used. Cancel-safe.
    pub async fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.fill_more().await?;
        }
        Ok(self.buffer())
    }

    /// Reads once from the stream, appending to the buffered bytes; how
    /// many came (`0` at end of stream). The buffer is lent to the op with
    /// the unconsumed bytes as its prefix: if this future is dropped, they
    /// go back to the stream in front of what the cut-off op got, so the
    /// next read of this reader returns them all, in order.
    async fn fill_more(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let held = self.buf.len();
        if self.buf.capacity() - held < (self.cap / 2).max(1) {
            // Room for a read of the capacity, or double for a long line.
            self.buf.reserve(self.cap.max(held));
        }
        let lent = std::mem::take(&mut self.buf);
        let (res, lent) = self.inner.as_stream().read_after(lent, held).await;
        self.buf = lent;
        res
    }

    /// Reads until `byte` (included) or the end of the stream, appending
    /// to `out`; how many bytes were appended (`0` at end of stream).
    ///
    /// Cancel-safe: nothing is consumed, and nothing is appended to `out`,
    /// until the delimiter or the end of the stream is there. A dropped
    /// call leaves every byte to the next one.
    ///
    /// ```
    /// # curing::run(async {
    /// use curing::io::BufReader;
    /// let (a, b) = curing::net::UnixStream::pair()?;
    /// b.write_all(b"key\0value\0".to_vec()).await.0?;
    /// let mut reader = BufReader::new(a);
    /// let mut field = Vec::new();
    /// reader.read_until(0, &mut field).await?;
    /// assert_eq!(field, b"key\0");
    /// # std::io::Result::Ok(()) });
    /// ```
    ///
    /// # Errors
    ///
    /// A read error; the bytes read so far stay buffered.
    pub async fn read_until(&mut self, byte: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        let end = self.find(byte).await?;
        out.extend_from_slice(&self.buf[self.pos..self.pos + end]);
        self.consume(end);
        Ok(end)
    }

    /// How many buffered bytes make the next record: up to and including
    /// `byte`, or all of them at end of stream. Reads until then.
    async fn find(&mut self, byte: u8) -> io::Result<usize> {
        // Buffered bytes already searched; the search goes on after them.
        let mut scanned = 0;
        loop {
            let data = &self.buf[self.pos..];
            if let Some(i) = data[scanned..].iter().position(|&b| b == byte) {
                return Ok(scanned + i + 1);
            }
            scanned = data.len();
            match self.fill_more().await {
                Ok(0) => return Ok(scanned),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads a line, up to and including `\n` (a `\r\n` ending is kept as
    /// is), or to the end of the stream, and appends it to `out`; how many
    /// bytes were appended (`0` at end of stream). A last line without
    /// `\n` is returned as it is.
    ///
    /// Cancel-safe, like [`read_until`](BufReader::read_until).
    ///
    /// # Errors
    ///
    /// A read error (the bytes read so far stay buffered), or
    /// `InvalidData` if the line is not UTF-8: that line is consumed and
    /// `out` is left unchanged.
    pub async fn read_line(&mut self, out: &mut String) -> io::Result<usize> {
        let end = self.find(b'\n').await?;
        let line = std::str::from_utf8(&self.buf[self.pos..self.pos + end]);
        let res = match line {
            Ok(text) => {
                out.push_str(text);
                Ok(end)
            }
            Err(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )),
        };
        self.consume(end);
        res
    }

    /// The lines of the stream, without their `\n` or `\r\n`, as a
    /// [`Stream`](futures_core::Stream) of `io::Result<String>` (or one at
    /// a time with [`Lines::next_line`]).
    ///
    /// ```
    /// # curing::run(async {
    /// use curing::io::BufReader;
    /// let (a, b) = curing::net::UnixStream::pair()?;
    /// b.write_all(b"one\r\ntwo".to_vec()).await.0?;
    /// drop(b);
    /// let mut lines = BufReader::new(a).lines();
    /// assert_eq!(lines.next_line().await?.as_deref(), Some("one"));
    /// assert_eq!(lines.next_line().await?.as_deref(), Some("two"));
    /// assert_eq!(lines.next_line().await?, None);
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn lines(self) -> Lines<S> {
        Lines {
            slot: Rc::new(Cell::new(Some(self))),
            next: None,
        }
    }

    /// Reads some bytes into `buf` (from its start, up to its capacity):
    /// the buffered ones first; when there are none, a buffer at least as
    /// large as this reader's capacity is read into directly, a smaller
    /// one through the reader's buffer. `Ok(0)` is end of stream.
    /// Cancel-safe.
    pub async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        if buf.bytes_total() == 0 {
            return (Ok(0), buf);
        }
        if self.pos == self.buf.len() {
            if buf.bytes_total() >= self.cap {
                return self.stream().read(buf).await;
            }
            match self.fill_more().await {
                Ok(0) => return (Ok(0), buf),
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
        }
        let n = buf::fill_from_at(&mut buf, 0, &self.buf[self.pos..]);
        self.consume(n);
        (Ok(n), buf)
    }

    /// Reads until `buf` is full (`bytes_total` bytes from its start):
    /// the buffered bytes first, then the stream.
    ///
    /// Cancel-safe: if the future is dropped, the bytes it had taken go
    /// back in front of the next read.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first (the bytes read so far are
    /// in `buf`), or a read error.
    pub async fn read_exact<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<(), B> {
        let want = buf.bytes_total();
        if self.buffer().len() >= want {
            buf::fill_from_at(&mut buf, 0, &self.buf[self.pos..self.pos + want]);
            self.consume(want);
            return (Ok(()), buf);
        }
        // Hand the buffered bytes back to the stream, whose `read_exact`
        // returns them first and gives back what a dropped call read.
        self.give_back();
        self.stream().read_exact(buf).await
    }

    /// Reads to end of stream, appending to `out` (the buffered bytes
    /// first); how many bytes were appended, with `out`. Cancel-safe as the
    /// stream's `read_to_end`.
    pub async fn read_to_end(&mut self, out: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        self.give_back();
        self.stream().read_to_end(out).await
    }

    /// Reads to end of stream, appending it to `out` as UTF-8; how many
    /// bytes were appended. `InvalidData` (with `out` unchanged) if it is
    /// not UTF-8.
    pub async fn read_to_string(&mut self, out: String) -> BufResult<usize, String> {
        self.give_back();
        self.stream().read_to_string(out).await
    }

    /// Moves the buffered bytes back to the front of the stream.
    fn give_back(&mut self) {
        self.stream().unread(&self.buf[self.pos..]);
        self.buf.clear();
        self.pos = 0;
    }
}

impl<S: fmt::Debug> fmt::Debug for BufReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.buf.len() - self.pos))
            .field("capacity", &self.cap)
            .finish()
    }
}

/// The future of one line of [`Lines`].
type NextLine = Pin<Box<dyn Future<Output = io::Result<Option<String>>>>>;

/// The lines of a [`BufReader`] (see [`BufReader::lines`]): a
/// [`Stream`](futures_core::Stream) of `io::Result<String>`, each line
/// without its `\n` or `\r\n`.
///
/// Dropping a [`next_line`](Lines::next_line) future, or stopping to poll
/// the stream, loses nothing: the line being read is kept, and the next
/// call resumes it.
pub struct Lines<S: 'static> {
    /// The reader, while no line is being read; a line's future takes it
    /// out and puts it back when it finishes or is dropped.
    slot: Rc<Cell<Option<BufReader<S>>>>,
    /// The line being read, kept across calls.
    next: Option<NextLine>,
}

impl<S: StreamRead> Lines<S> {
    /// The next line, or `None` at end of stream.
    ///
    /// # Errors
    ///
    /// A read error, or `InvalidData` for a line that is not UTF-8 (that
    /// line is skipped); the following call goes on with the next line.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        poll_fn(|cx| self.poll_next_line(cx)).await
    }

    /// Polls for the next line; see [`next_line`](Lines::next_line).
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<String>>> {
        let next = self
            .next
            .get_or_insert_with(|| Box::pin(next_line(self.slot.clone())));
        let line = ready!(next.as_mut().poll(cx));
        self.next = None;
        Poll::Ready(line)
    }

    /// The reader back. A line being read is given up, and its bytes stay
    /// with the reader (nothing is lost).
    pub fn into_inner(mut self) -> BufReader<S> {
        self.next = None;
        self.slot
            .take()
            .expect("the reader is back in its slot once no line is being read")
    }
}

/// Reads the next line with the reader in `slot`, and puts the reader back
/// when done or dropped.
async fn next_line<S: StreamRead>(
    slot: Rc<Cell<Option<BufReader<S>>>>,
) -> io::Result<Option<String>> {
    /// The reader, taken from its slot for one line.
    struct Lease<S: 'static> {
        slot: Rc<Cell<Option<BufReader<S>>>>,
        reader: Option<BufReader<S>>,
    }
    impl<S: 'static> Drop for Lease<S> {
        fn drop(&mut self) {
            self.slot.set(self.reader.take());
        }
    }
    let mut lease = Lease {
        reader: slot.take(),
        slot,
    };
    let reader = lease.reader.as_mut().expect("one line is read at a time");
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(Some(line))
}

impl<S: StreamRead> futures_core::Stream for Lines<S> {
    type Item = io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}

impl<S: fmt::Debug> fmt::Debug for Lines<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines")
            .field("reading", &self.next.is_some())
            .finish_non_exhaustive()
    }
}
