//! The child's standard streams as async pipes: each read or write one
//! io_uring op on the pipe, buffers owned and given back.

use crate::buf::{self, BufResult, IoBuf, IoBufMut};
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The write end of the child's stdin. Dropping it (or [`close`]) gives the
/// child end-of-file.
///
/// [`close`]: ChildStdin::close
#[derive(Debug)]
pub struct ChildStdin {
    fd: SharedFd,
}

/// The read end of the child's stdout.
#[derive(Debug)]
pub struct ChildStdout {
    fd: SharedFd,
}

/// The read end of the child's stderr.
#[derive(Debug)]
pub struct ChildStderr {
    fd: SharedFd,
}

impl ChildStdin {
    pub(crate) fn new(fd: OwnedFd) -> ChildStdin {
        ChildStdin {
            fd: SharedFd::new(fd),
        }
    }

    /// Writes some of `buf`; how much, with the buffer back.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        submit(op::Write::new(self.fd.clone(), buf, u64::MAX)).await
    }

    /// Writes all of `buf` (the child must read, or this waits for room).
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        buf::write_all_with(buf, |slice, _| {
            submit(op::Write::new(self.fd.clone(), slice, u64::MAX))
        })
        .await
    }

    /// Closes the pipe through the ring (the child sees end-of-file) and
    /// reports the kernel's answer.
    pub async fn close(self) -> io::Result<()> {
        self.fd.close().await
    }
}

macro_rules! reader {
    ($ty:ident) => {
        impl $ty {
            pub(crate) fn new(fd: OwnedFd) -> $ty {
                $ty {
                    fd: SharedFd::new(fd),
                }
            }

            /// Reads what the child wrote so far (at least one byte, or `0`
            /// at end-of-file) into `buf`. Dropping the future loses no
            /// bytes: what the kernel read anyway goes to the next read.
            pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
                self.fd.stream_read(buf, op::StreamRead::new).await
            }

            /// Reads to end-of-file, appending to `out`; the number of bytes
            /// read, with `out` back (holding what was read, also on error).
            ///
            /// Cancel-safe: if the future is dropped, the bytes it had read
            /// go to the next read.
            pub async fn read_to_end(&self, out: Vec<u8>) -> BufResult<usize, Vec<u8>> {
                self.fd.stream_read_to_end(out, op::StreamRead::new).await
            }

            /// Closes the pipe through the ring and reports the kernel's
            /// answer (the child gets `SIGPIPE` on its next write).
            pub async fn close(self) -> io::Result<()> {
                self.fd.close().await
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.fd.raw()
            }
        }
    };
}

reader!(ChildStdout);
reader!(ChildStderr);

impl AsRawFd for ChildStdin {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
