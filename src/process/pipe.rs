//! The child's standard streams as async pipes: each read or write one
//! io_uring op on the pipe, buffers owned and given back.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::stream::{AsStream, Pipe, Stream};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The write end of the child's stdin. Dropping it (or [`close`]) gives the
/// child end-of-file.
///
/// [`close`]: ChildStdin::close
pub struct ChildStdin {
    stream: Stream<Pipe>,
}

/// The read end of the child's stdout.
pub struct ChildStdout {
    stream: Stream<Pipe>,
}

/// The read end of the child's stderr.
pub struct ChildStderr {
    stream: Stream<Pipe>,
}

impl ChildStdin {
    /// Writes some of `buf`; how much, with the buffer back.
    pub fn write<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<usize, B>> + '_ {
        self.stream.write(buf)
    }

    /// Writes all of `buf` (the child must read, or this waits for room).
    pub fn write_all<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<(), B>> + '_ {
        self.stream.write_all(buf)
    }

    /// Closes the pipe through the ring (the child sees end-of-file) and
    /// reports the kernel's answer.
    pub async fn close(self) -> io::Result<()> {
        self.stream.close().await
    }
}

/// What every pipe end has: adopting the descriptor, `AsRawFd`, its
/// [`Stream`], `Debug`.
macro_rules! pipe {
    ($ty:ident) => {
        impl $ty {
            pub(crate) fn new(fd: OwnedFd) -> $ty {
                $ty {
                    stream: Stream::new(SharedFd::new(fd)),
                }
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.stream.raw()
            }
        }

        impl AsStream for $ty {
            type Kind = Pipe;

            fn as_stream(&self) -> &Stream<Pipe> {
                &self.stream
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", self.stream.fd())
                    .finish()
            }
        }
    };
}

pipe!(ChildStdin);
pipe!(ChildStdout);
pipe!(ChildStderr);

/// The read methods of the read ends.
macro_rules! reader {
    ($ty:ident) => {
        impl $ty {
            /// Reads what the child wrote so far (at least one byte, or `0`
            /// at end-of-file) into `buf`. Dropping the future loses no
            /// bytes: what the kernel read anyway goes to the next read.
            pub fn read<B: IoBufMut>(
                &self,
                buf: B,
            ) -> impl std::future::Future<Output = BufResult<usize, B>> + '_ {
                self.stream.read(buf)
            }

            /// Reads to end-of-file, appending to `out`; the number of bytes
            /// read, with `out` back (holding what was read, also on error).
            ///
            /// Cancel-safe: if the future is dropped, the bytes it had read
            /// go to the next read.
            pub async fn read_to_end(&self, out: Vec<u8>) -> BufResult<usize, Vec<u8>> {
                self.stream.read_to_end(out).await
            }

            /// Closes the pipe through the ring and reports the kernel's
            /// answer (the child gets `SIGPIPE` on its next write).
            pub async fn close(self) -> io::Result<()> {
                self.stream.close().await
            }
        }
    };
}

reader!(ChildStdout);
reader!(ChildStderr);
