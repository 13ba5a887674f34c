//! [`File`]: an open file, read and written through io_uring.

use super::{Metadata, OpenOptions};
use crate::buf::{self, BufResult, IoBuf, IoBufMut};
use crate::driver::op::Checked;
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op;
use crate::stream::{AsStream, Pipe, Stream};
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

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
    /// The descriptor; reads and writes at the current position go through
    /// its stream methods (see [`crate::stream`]).
    stream: Stream<Pipe>,
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
    ///
    /// The future holds what the read needs (the buffer and the open file),
    /// not a borrow of `self`.
    pub fn read_at<B: IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + 'static {
        match super::check_offset(pos) {
            Err(e) => Checked::Failed(Some((Err(e), buf))),
            Ok(()) => Checked::Submit(submit(op::Read::at(self.shared_fd().clone(), buf, pos))),
        }
    }

    /// Fills `buf` to its capacity from byte `pos`, with as many reads as
    /// needed. Fails with `UnexpectedEof` if the file ends first; the buffer
    /// comes back either way, holding what was read.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        buf::read_exact_with(buf, |slice, done| {
            self.read_at(slice, pos.saturating_add(done))
        })
        .await
    }

    /// Writes the initialised bytes of `buf` at byte `pos`; returns how many
    /// were written (possibly fewer: see [`write_all_at`](File::write_all_at)).
    ///
    /// The future holds what the write needs (the buffer and the open
    /// file), not a borrow of `self`.
    pub fn write_at<B: IoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + 'static {
        match super::check_offset(pos) {
            Err(e) => Checked::Failed(Some((Err(e), buf))),
            Ok(()) => Checked::Submit(submit(op::Write::new(self.shared_fd().clone(), buf, pos))),
        }
    }

    /// Writes all the initialised bytes of `buf` at byte `pos`, with as many
    /// writes as needed.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        buf::write_all_with(buf, |slice, done| {
            self.write_at(slice, pos.saturating_add(done))
        })
        .await
    }

    /// Reads into several buffers with one op (`IORING_OP_READV`), from
    /// byte `pos`: the first buffer is filled to its capacity, then the
    /// next, and so on. Returns the total read (fewer at end of file); each
    /// buffer's initialised length grows to cover its part. The buffers come
    /// back in order, on success and on error.
    ///
    /// ```no_run
    /// # curing::run(async {
    /// let file = curing::fs::File::open("/etc/os-release").await?;
    /// let bufs = vec![Vec::with_capacity(16), Vec::with_capacity(4096)];
    /// let (res, bufs) = file.readv_at(bufs, 0).await;
    /// let n = res?;
    /// assert_eq!(bufs[0].len() + bufs[1].len(), n);
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn readv_at<B: IoBufMut>(&self, bufs: Vec<B>, pos: u64) -> BufResult<usize, Vec<B>> {
        if let Err(e) = super::check_offset(pos) {
            return (Err(e), bufs);
        }
        submit(op::readv::Readv::new(self.shared_fd().clone(), bufs, pos)).await
    }

    /// Writes the initialised bytes of several buffers, in order, with one
    /// op (`IORING_OP_WRITEV`) at byte `pos`. Returns how many bytes were
    /// written (possibly fewer than all; see
    /// [`writev_all_at`](File::writev_all_at)).
    pub async fn writev_at<B: IoBuf>(&self, bufs: Vec<B>, pos: u64) -> BufResult<usize, Vec<B>> {
        if let Err(e) = super::check_offset(pos) {
            return (Err(e), bufs);
        }
        submit(op::writev::Writev::new(self.shared_fd().clone(), bufs, pos)).await
    }

    /// Writes all the initialised bytes of `bufs` at byte `pos`, repeating
    /// after a short write (continuing with the buffers not yet written).
    pub async fn writev_all_at<B: IoBuf>(&self, bufs: Vec<B>, pos: u64) -> BufResult<(), Vec<B>> {
        let total: usize = bufs.iter().map(IoBuf::bytes_init).sum();
        let (res, bufs) = self.writev_at(bufs, pos).await;
        let n = match res {
            Ok(n) if n == total => return (Ok(()), bufs),
            Ok(n) => n,
            Err(e) => return (Err(e), bufs),
        };
        // Rare: finish the rest one buffer at a time.
        let mut done = 0;
        let mut out = Vec::with_capacity(bufs.len());
        for b in bufs {
            let len = b.bytes_init();
            let skip = n.saturating_sub(done).min(len);
            let at = pos + (done + skip) as u64;
            done += len;
            if skip == len {
                out.push(b);
                continue;
            }
            let (res, slice) = self.write_all_at(b.slice(skip..), at).await;
            out.push(slice.into_inner());
            if let Err(e) = res {
                return (Err(e), out);
            }
        }
        (Ok(()), out)
    }

    /// Reads from byte `pos` to the end of the file, appending to `buf`
    /// (growing it as needed). Returns how many bytes were appended; the
    /// buffer comes back on error too, holding what was read.
    pub async fn read_to_end_at(&self, mut buf: Vec<u8>, pos: u64) -> BufResult<usize, Vec<u8>> {
        let start = buf.len();
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(buf.capacity().max(8192));
            }
            let (at, cap) = (buf.len(), buf.capacity());
            let offset = pos.saturating_add((at - start) as u64);
            let (res, slice) = self.read_at(buf.slice(at..cap), offset).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Ok(buf.len() - start), buf),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
    }

    /// Reads from the current position to the end (for pipes and other
    /// streams too), appending to `buf`. Returns how many bytes were
    /// appended.
    ///
    /// Cancel-safe: if the future is dropped, the bytes it had read go to
    /// the next read at the current position, as with [`read`](File::read).
    pub async fn read_to_end(&self, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        self.stream.read_to_end(buf).await
    }

    /// Reads from the current position to the end and appends it to `out`
    /// as UTF-8; how many bytes were appended. `InvalidData` (with `out`
    /// unchanged) if they are not UTF-8. Cancel-safe like
    /// [`read_to_end`](File::read_to_end).
    pub async fn read_to_string(&self, out: String) -> BufResult<usize, String> {
        self.stream.read_to_string(out).await
    }

    /// Reads at the file's current position and advances it: for pipes,
    /// terminals and sequential reading. Bytes a dropped `read` received
    /// anyway are returned by the next `read`, so none are lost.
    pub fn read<B: IoBufMut>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<usize, B>> + '_ {
        self.stream.read(buf)
    }

    /// Writes at the file's current position (the end, for a file opened
    /// with [`append`](OpenOptions::append)) and advances it.
    pub fn write<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<usize, B>> + '_ {
        self.stream.write(buf)
    }

    /// Writes all of `buf` at the current position.
    pub fn write_all<B: IoBuf>(
        &self,
        buf: B,
    ) -> impl std::future::Future<Output = BufResult<(), B>> + '_ {
        self.stream.write_all(buf)
    }

    /// Flushes data and metadata to storage (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        submit(op::fsync::Fsync::new(self.shared_fd().clone(), false)).await
    }

    /// Flushes data, and only the metadata needed to read it back
    /// (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        submit(op::fsync::Fsync::new(self.shared_fd().clone(), true)).await
    }

    /// Truncates or extends the file to `len` bytes: `IORING_OP_FTRUNCATE`
    /// (Linux 6.9), which the driver runs as `ftruncate(2)` on the blocking
    /// pool on older kernels.
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        submit(op::ftruncate::Ftruncate::new(self.shared_fd().clone(), len)).await
    }

    /// Makes sure the `len` bytes from `offset` have disk space allocated,
    /// growing the file if they reach past its end (`fallocate(2)` mode 0,
    /// through `IORING_OP_FALLOCATE`). Fails with `StorageFull` (ENOSPC)
    /// when the space is not there, before any data is written.
    pub async fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.fallocate(0, offset, len).await
    }

    /// `fallocate(2)` with any `mode` (`libc::FALLOC_FL_KEEP_SIZE`,
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`, ...).
    pub async fn fallocate(&self, mode: i32, offset: u64, len: u64) -> io::Result<()> {
        submit(op::fallocate::Fallocate::new(
            self.shared_fd().clone(),
            offset,
            len,
            mode,
        ))
        .await
    }

    /// Sets the file's permission bits.
    ///
    /// io_uring has no chmod op: this calls `fchmod(2)` on the runtime
    /// thread (an in-memory inode change that does not wait for the disk).
    pub async fn set_permissions(&self, perm: std::fs::Permissions) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        crate::sys::fs::fchmod(self.stream.as_fd(), perm.mode())
    }

    /// The file's metadata (`statx` on the open file).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let stx = submit(op::statx::Statx::new(self.shared_fd().clone())).await?;
        Ok(Metadata::new(stx))
    }

    /// A `File` over an open descriptor.
    pub(crate) fn from_shared(fd: SharedFd) -> File {
        File {
            stream: Stream::new(fd),
        }
    }

    /// The shared descriptor, for other ops of this module.
    pub(crate) fn shared_fd(&self) -> &SharedFd {
        self.stream.fd()
    }

    /// Closes the file through io_uring once no op on it is in flight, and
    /// reports the result (dropping a `File` closes it too, silently).
    pub async fn close(self) -> io::Result<()> {
        self.stream.close().await
    }
}

impl From<OwnedFd> for File {
    /// Adopts an open descriptor (a file, a pipe end, ...). Asks the kernel
    /// once whether it was opened with `O_DIRECT` (see
    /// [`OpenOptions::direct`](super::OpenOptions::direct)).
    fn from(fd: OwnedFd) -> File {
        let direct = crate::sys::fs::is_direct(fd.as_fd());
        File::from_shared(SharedFd::with_direct(fd, direct))
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from(OwnedFd::from(file))
    }
}

impl AsStream for File {
    type Kind = Pipe;

    fn as_stream(&self) -> &Stream<Pipe> {
        &self.stream
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.raw()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("fd", &self.stream.raw())
            .finish()
    }
}
