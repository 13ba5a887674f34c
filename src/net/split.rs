//! Owned read and write halves of a stream, for two tasks at once.
//!
//! curing's streams already do I/O through `&self`, so a half is just a
//! shared handle that exposes only its side: the read half reads, the write
//! half writes and shuts down. Reads stay in order and cancel-safe across
//! halves exactly as on the whole stream (a dropped read's bytes go to the
//! next read).
//!
//! ```no_run
//! use curing::net::TcpStream;
//!
//! # fn main() -> std::io::Result<()> {
//! curing::run(async {
//!     let stream = TcpStream::connect("127.0.0.1:7878").await?;
//!     let (rd, wr) = stream.into_split();
//!     let echo = curing::spawn(async move {
//!         let (res, buf) = rd.read(vec![0u8; 1024]).await;
//!         res.map(|n| buf[..n].to_vec()).map(|b| (b, rd))
//!     });
//!     let (res, _) = wr.write_all(b"hello".to_vec()).await;
//!     res?;
//!     let (_bytes, rd) = echo.await.expect("task")?;
//!     let stream = rd.reunite(wr).expect("halves of one stream");
//!     stream.close().await
//! })
//! # }
//! ```

use crate::stream::{AsStream, Stream};
use std::fmt;
use std::rc::Rc;

/// The reading side of a split stream (see
/// [`TcpStream::into_split`](crate::net::TcpStream::into_split)). Reads
/// stay in order and cancel-safe as on the whole stream.
pub struct ReadHalf<T> {
    /// Shared with the matching [`WriteHalf`].
    pub(crate) stream: Rc<T>,
}

/// The writing side of a split stream (see
/// [`TcpStream::into_split`](crate::net::TcpStream::into_split)).
pub struct WriteHalf<T> {
    /// Shared with the matching [`ReadHalf`].
    pub(crate) stream: Rc<T>,
}

/// [`ReadHalf::reunite`] was given halves of two different streams; both
/// come back.
pub struct ReuniteError<T>(pub ReadHalf<T>, pub WriteHalf<T>);

impl<T> fmt::Debug for ReuniteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(halves of different streams)")
    }
}

impl<T> fmt::Display for ReuniteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different streams")
    }
}

impl<T> std::error::Error for ReuniteError<T> {}

pub(crate) fn split<T>(stream: T) -> (ReadHalf<T>, WriteHalf<T>) {
    let stream = Rc::new(stream);
    (
        ReadHalf {
            stream: stream.clone(),
        },
        WriteHalf { stream },
    )
}

impl<T> ReadHalf<T> {
    /// Puts the halves back together into the stream they came from.
    ///
    /// # Errors
    ///
    /// If `write` is the write half of another stream; both come back.
    pub fn reunite(self, write: WriteHalf<T>) -> Result<T, ReuniteError<T>> {
        if !Rc::ptr_eq(&self.stream, &write.stream) {
            return Err(ReuniteError(self, write));
        }
        drop(write);
        match Rc::try_unwrap(self.stream) {
            Ok(stream) => Ok(stream),
            Err(_) => unreachable!("only the two halves hold the stream"),
        }
    }

    /// Whether `write` is this half's other half.
    pub fn is_pair_of(&self, write: &WriteHalf<T>) -> bool {
        Rc::ptr_eq(&self.stream, &write.stream)
    }
}

impl<T: AsStream> AsStream for ReadHalf<T> {
    type Kind = T::Kind;

    fn as_stream(&self) -> &Stream<T::Kind> {
        self.stream.as_stream()
    }
}

impl<T: AsStream> AsStream for WriteHalf<T> {
    type Kind = T::Kind;

    fn as_stream(&self) -> &Stream<T::Kind> {
        self.stream.as_stream()
    }
}

impl<T: fmt::Debug> fmt::Debug for ReadHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadHalf").field(&*self.stream).finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for WriteHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteHalf").field(&*self.stream).finish()
    }
}

/// The read methods on `ReadHalf<$t>` and the write methods on
/// `WriteHalf<$t>`, each one call into the [`Stream`] of the whole stream.
macro_rules! split_methods {
    ($t:ty) => {
        impl crate::net::ReadHalf<$t> {
            /// Reads some bytes into `buf`; see the stream's `read`.
            pub fn read<B: crate::buf::IoBufMut>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = crate::buf::BufResult<usize, B>> + '_ {
                crate::stream::AsStream::as_stream(self).read(buf)
            }

            /// Reads until `buf` is full; see the stream's `read_exact`.
            pub async fn read_exact<B: crate::buf::IoBufMut>(
                &self,
                buf: B,
            ) -> crate::buf::BufResult<(), B> {
                crate::stream::AsStream::as_stream(self)
                    .read_exact(buf)
                    .await
            }

            /// `read` with a time limit that gives the buffer back; see the
            /// stream's `read_timeout`.
            pub async fn read_timeout<B: crate::buf::IoBufMut>(
                &self,
                buf: B,
                limit: std::time::Duration,
            ) -> crate::buf::BufResult<usize, B> {
                crate::stream::AsStream::as_stream(self)
                    .read_timeout(buf, limit)
                    .await
            }

            /// `read` until a point in time; see the stream's `read_deadline`.
            pub async fn read_deadline<B: crate::buf::IoBufMut>(
                &self,
                buf: B,
                deadline: std::time::Instant,
            ) -> crate::buf::BufResult<usize, B> {
                crate::stream::AsStream::as_stream(self)
                    .read_deadline(buf, deadline)
                    .await
            }

            /// Reads to end of stream, appending to `out`; see the
            /// stream's `read_to_end`. Cancel-safe.
            pub async fn read_to_end(&self, out: Vec<u8>) -> crate::buf::BufResult<usize, Vec<u8>> {
                crate::stream::AsStream::as_stream(self)
                    .read_to_end(out)
                    .await
            }

            /// Reads to end of stream as UTF-8, appending to `out`; see the
            /// stream's `read_to_string`. Cancel-safe.
            pub async fn read_to_string(
                &self,
                out: String,
            ) -> crate::buf::BufResult<usize, String> {
                crate::stream::AsStream::as_stream(self)
                    .read_to_string(out)
                    .await
            }
        }

        impl crate::net::WriteHalf<$t> {
            /// Sends some of `buf`; see the stream's `write`.
            pub fn write<B: crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = crate::buf::BufResult<usize, B>> + '_ {
                crate::stream::AsStream::as_stream(self).write(buf)
            }

            /// Sends all of `buf`; see the stream's `write_all`.
            pub fn write_all<B: crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = crate::buf::BufResult<(), B>> + '_ {
                crate::stream::AsStream::as_stream(self).write_all(buf)
            }

            /// Shuts down part of the connection; see the stream's `shutdown`.
            pub async fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                crate::stream::AsStream::as_stream(self).shutdown(how).await
            }
        }
    };
}

pub(crate) use split_methods;
