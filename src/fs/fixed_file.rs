//! Registered files ([`FixedFile`]) and the `File` methods for registered
//! buffers ([`FixedBuf`], see [`crate::buf::FixedBufPool`]).
//!
//! For every op on a plain fd the kernel looks the fd up and takes a
//! reference on the file. [`File::register`] puts the open file into the
//! ring's file table once; the [`FixedFile`] it returns names the slot
//! (`IOSQE_FIXED_FILE`) instead of the fd, and keeps working after the
//! `File` is closed. Fixed files and buffers work only on the runtime that
//! made them; elsewhere their ops fail with `InvalidInput`. The file table
//! is sparse, which needs Linux 5.19: before that, registering a file fails
//! with `Unsupported`, naming the kernel.

use super::File;
use crate::buf::{BufResult, FixedBuf, IoBuf, IoBufMut};
use crate::driver::op::Checked;
use crate::driver::{submit, FileSlot};
use crate::fd::FileRef;
use crate::op::fixed_file_rw::{ReadAt, WriteAt};
use crate::op::read_fixed::ReadFixed;
use crate::op::write_fixed::WriteFixed;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

/// An open file registered in the runtime's file table: ops name its slot
/// (`IOSQE_FIXED_FILE`) rather than an fd, which spares the kernel an
/// fd-table lookup and a file reference count on every request.
///
/// Made by [`File::register`]. The table holds its own reference to the
/// open file, so a `FixedFile` keeps working after the `File` it came from
/// is closed. Cloning is cheap; the slot is emptied when the last clone is
/// dropped and no op on it is in flight (each op holds a clone), which
/// closes the file if nothing else has it open.
///
/// ```no_run
/// use curing::fs::File;
///
/// # curing::run(async {
/// let file = File::open("/etc/os-release").await?.register()?;
/// // The `File` is gone; the registered file is still open.
/// let (res, buf) = file.read_at(Vec::with_capacity(4096), 0).await;
/// assert_eq!(buf.len(), res?);
/// # std::io::Result::Ok(()) });
/// ```
#[derive(Clone)]
pub struct FixedFile {
    slot: Rc<FileSlot>,
}

impl File {
    /// Registers this file in the runtime's file table (Linux 5.19) and
    /// returns the handle that names it by slot. The `File` stays usable
    /// and may be closed independently.
    ///
    /// # Errors
    ///
    /// `Unsupported` before Linux 5.19 (the message names the kernel);
    /// `OutOfMemory` when every slot is taken (the table has up to 4096,
    /// no more than `RLIMIT_NOFILE`).
    ///
    /// # Panics
    ///
    /// Outside a curing runtime.
    pub fn register(&self) -> io::Result<FixedFile> {
        let fd = self.shared_fd();
        let slot = FileSlot::register(fd.as_raw_fd(), fd.is_direct())?;
        Ok(FixedFile {
            slot: Rc::new(slot),
        })
    }

    /// Reads into a registered buffer (`IORING_OP_READ_FIXED`), up to its
    /// capacity, from byte `pos`; `Ok(0)` at end of file. The buffer comes
    /// back on success and on error; its length grows to cover the bytes
    /// read. `InvalidInput` if `buf`'s pool belongs to another runtime.
    ///
    /// Meant for files. On a pipe or socket (where `pos` is ignored), the
    /// bytes a read got after its future was dropped are not kept for the
    /// next read, as [`File::read`] keeps them.
    pub fn read_fixed_at(
        &self,
        buf: FixedBuf,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, FixedBuf>> + 'static {
        read_fixed(FileRef::Fd(self.shared_fd().clone()), buf, pos)
    }

    /// Writes the contents of a registered buffer
    /// (`IORING_OP_WRITE_FIXED`) at byte `pos`; returns how many bytes were
    /// written. `InvalidInput` if `buf`'s pool belongs to another runtime.
    pub fn write_fixed_at(
        &self,
        buf: FixedBuf,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, FixedBuf>> + 'static {
        write_fixed(FileRef::Fd(self.shared_fd().clone()), buf, pos)
    }
}

impl FixedFile {
    /// Reads into `buf` (up to its capacity) from byte `pos`, like
    /// [`File::read_at`].
    pub fn read_at<B: IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + 'static {
        if !self.slot.is_current() {
            return Checked::Failed(Some((Err(foreign("fixed file")), buf)));
        }
        if let Err(e) = super::check_offset(pos) {
            return Checked::Failed(Some((Err(e), buf)));
        }
        Checked::Submit(submit(ReadAt::new(self.file(), buf, pos)))
    }

    /// Writes the initialised bytes of `buf` at byte `pos`, like
    /// [`File::write_at`].
    pub fn write_at<B: IoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + 'static {
        if !self.slot.is_current() {
            return Checked::Failed(Some((Err(foreign("fixed file")), buf)));
        }
        if let Err(e) = super::check_offset(pos) {
            return Checked::Failed(Some((Err(e), buf)));
        }
        Checked::Submit(submit(WriteAt::new(self.file(), buf, pos)))
    }

    /// [`File::read_fixed_at`] through the registered file.
    pub fn read_fixed_at(
        &self,
        buf: FixedBuf,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, FixedBuf>> + 'static {
        if !self.slot.is_current() {
            return Checked::Failed(Some((Err(foreign("fixed file")), buf)));
        }
        read_fixed(self.file(), buf, pos)
    }

    /// [`File::write_fixed_at`] through the registered file.
    pub fn write_fixed_at(
        &self,
        buf: FixedBuf,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, FixedBuf>> + 'static {
        if !self.slot.is_current() {
            return Checked::Failed(Some((Err(foreign("fixed file")), buf)));
        }
        write_fixed(self.file(), buf, pos)
    }

    /// The slot in the ring's file table.
    pub fn index(&self) -> u32 {
        self.slot.index()
    }

    fn file(&self) -> FileRef {
        FileRef::Fixed(self.slot.clone())
    }
}

impl std::fmt::Debug for FixedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedFile")
            .field("index", &self.slot.index())
            .finish()
    }
}

/// The error for a fixed buffer or file used on the wrong runtime.
fn foreign(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("this {what} is registered with another runtime (or one that is gone)"),
    )
}

fn read_fixed(file: FileRef, buf: FixedBuf, pos: u64) -> Checked<ReadFixed> {
    if !buf.is_current() {
        return Checked::Failed(Some((Err(foreign("fixed buffer")), buf)));
    }
    if let Err(e) = super::check_offset(pos) {
        return Checked::Failed(Some((Err(e), buf)));
    }
    Checked::Submit(submit(ReadFixed::new(file, buf, pos)))
}

fn write_fixed(file: FileRef, buf: FixedBuf, pos: u64) -> Checked<WriteFixed> {
    if !buf.is_current() {
        return Checked::Failed(Some((Err(foreign("fixed buffer")), buf)));
    }
    if let Err(e) = super::check_offset(pos) {
        return Checked::Failed(Some((Err(e), buf)));
    }
    Checked::Submit(submit(WriteFixed::new(file, buf, pos)))
}
