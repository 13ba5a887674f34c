//! [`File`]: an open file, read and written through io_uring.

use super::{Metadata, OpenOptions};
use crate::buf::{self, BufResult, IoBuf, IoBufMut};
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

/// The position argument that means "the file's current position".
const CURRENT_POSITION: u64 = u64::MAX;

/// An open file (or any other descriptor read and written like one: a pipe,
/// a character device).
///
/// All I/O methods take `&self`: share a `File` between tasks with an `Rc`
/// and keep many reads in flight. Dropping a `File` closes it once no op on
/// it is in flight; [`close`](File::close) does so through io_uring and
/// reports the error.
///
/// ```no_run
/// use curing::fs::File;
///
/// # curing::run(async {
/// let file = File::open("/etc/os-release").await?;
/// let (res, buf) = file.read_at(Vec::with_capacity(4096), 0).await;
/// let n = res?;
/// assert_eq!(buf.len(), n);
/// file.close().await?;
/// # std::io::Result::Ok(()) });
/// ```
pub struct File {
    fd: SharedFd,
}

impl File {
    /// Opens a file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens a file for writing, creating it or truncating it to length 0.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// [`OpenOptions::new`], for `File::options().read(true).open(p)`.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Reads into `buf` (up to its capacity, from its start) from byte
    /// `pos` of the file. `Ok(0)` at end of file. The buffer's initialised
    /// length grows to cover the bytes read.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        submit(op::Read::at(self.fd.clone(), buf, pos)).await
    }

    /// Fills `buf` to its capacity from byte `pos`, with as many reads as
    /// needed. Fails with `UnexpectedEof` if the file ends first; the buffer
    /// comes back either way, holding what was read.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        buf::read_exact_with(buf, |slice, done| self.read_at(slice, pos + done)).await
    }

    /// Writes the initialised bytes of `buf` at byte `pos`; returns how many
    /// were written (possibly fewer: see [`write_all_at`](File::write_all_at)).
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        submit(op::Write::new(self.fd.clone(), buf, pos)).await
    }

    /// Writes all the initialised bytes of `buf` at byte `pos`, with as many
    /// writes as needed.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        buf::write_all_with(buf, |slice, done| self.write_at(slice, pos + done)).await
    }

    /// Reads at the file's current position and advances it: for pipes,
    /// terminals and sequential reading. Bytes a dropped `read` received
    /// anyway are returned by the next `read`, so none are lost.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.fd.stream_read(buf, op::Read::stream).await
    }

    /// Writes at the file's current position (the end, for a file opened
    /// with [`append`](OpenOptions::append)) and advances it.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        submit(op::Write::new(self.fd.clone(), buf, CURRENT_POSITION)).await
    }

    /// Writes all of `buf` at the current position.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        buf::write_all_with(buf, |slice, _| self.write(slice)).await
    }

    /// Flushes data and metadata to storage (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        submit(op::fsync::Fsync::new(self.fd.clone(), false)).await
    }

    /// Flushes data, and only the metadata needed to read it back
    /// (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        submit(op::fsync::Fsync::new(self.fd.clone(), true)).await
    }

    /// Truncates or extends the file to `len` bytes. Uses
    /// `IORING_OP_FTRUNCATE` (Linux 6.9) where the kernel has it, else a
    /// plain `ftruncate(2)`, which only updates metadata and does not block
    /// on I/O.
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        use io_uring::opcode;
        if crate::runtime::supports(opcode::Ftruncate::CODE) {
            submit(op::ftruncate::Ftruncate::new(self.fd.clone(), len)).await
        } else {
            crate::sys::ftruncate(self.fd.as_fd(), len)
        }
    }

    /// The file's metadata (`statx` on the open file).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let stx = submit(op::statx::Statx::new(self.fd.clone())).await?;
        Ok(Metadata::new(stx))
    }

    /// Closes the file through io_uring once no op on it is in flight, and
    /// reports the result (dropping a `File` closes it too, silently).
    pub async fn close(self) -> io::Result<()> {
        self.fd.close().await
    }
}

impl From<OwnedFd> for File {
    /// Adopts an open descriptor (a file, a pipe end, ...).
    fn from(fd: OwnedFd) -> File {
        File {
            fd: SharedFd::new(fd),
        }
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from(OwnedFd::from(file))
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File").field("fd", &self.fd.raw()).finish()
    }
}
