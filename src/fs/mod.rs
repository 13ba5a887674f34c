//! Files, with true asynchronous I/O: every read, write, open, sync, stat,
//! allocation, copy, mkdir, unlink, rename, link and symlink is an io_uring
//! op, with no thread pool behind it.
//!
//! Only what io_uring has no op for is done elsewhere, and each function
//! says so: [`read_dir`], [`canonicalize`] and [`read_link`] run on the
//! blocking pool ([`crate::spawn_blocking`]); [`set_permissions`] and [`File::set_permissions`] call
//! `fchmod` directly (an in-memory inode change).
//!
//! Reads and writes take owned buffers and give them back with the result
//! (see [`crate::buf`]). Positional I/O ([`File::read_at`],
//! [`File::write_at`]) takes `&self`, so one [`File`] shared by many tasks
//! (e.g. in an `Rc`) can have many reads in flight at once: that is how a
//! single thread keeps an SSD busy.
//!
//! ```no_run
//! use curing::fs::File;
//!
//! # fn main() -> std::io::Result<()> {
//! curing::run(async {
//!     let file = File::create("/tmp/hello.txt").await?;
//!     let (res, _buf) = file.write_all_at("hello, world\n", 0).await;
//!     res?;
//!     file.sync_all().await?;
//!     file.close().await?; // reports the close error, if any
//!
//!     let contents = curing::fs::read("/tmp/hello.txt").await?;
//!     assert_eq!(contents, b"hello, world\n");
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## Cancellation
//!
//! Dropping any of these futures is safe: an open that completes after its
//! future was dropped has its new descriptor closed; a buffer stays owned by
//! the runtime until the kernel is done with it. A positional write that was
//! dropped may or may not have happened, as with any cancelled write; a read
//! at the current position ([`File::read`]) whose future was dropped hands
//! the bytes the kernel read anyway to the next `read`.

mod attr;
mod blocking;
mod copy;
mod dir;
mod direct;
mod file;
mod fixed_file;
mod metadata;
mod open_options;
mod path;

pub use attr::{
    chown, copy_file_range, lchown, mkfifo, mknod, remove_xattr, set_symlink_times,
    set_symlink_xattr, set_times, set_xattr, symlink_xattr, symlink_xattr_names, xattr,
    xattr_names, FileTimes,
};
pub use copy::{copy, copy_range, recv_file, send_file};
// Test hooks (feature `testing`), not part of the API.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use copy::{force_copy_method, CopyMethod};
pub use dir::{read_dir, read_dir_with_metadata, DirEntry, ReadDir};
pub use file::File;
pub use fixed_file::FixedFile;
pub use metadata::Metadata;
pub use open_options::OpenOptions;
pub use path::{
    canonicalize, create_dir, create_dir_all, create_dir_mode, exists, hard_link, metadata,
    read_link, remove_dir, remove_file, rename, set_permissions, symlink, symlink_metadata,
};

use crate::buf::IoBuf;
use std::io;
use std::path::Path;

/// The largest file offset Linux takes (`off_t` is signed 64-bit). io_uring
/// reads a larger one (`u64::MAX` above all) as "the file position", so a
/// positional op must refuse it rather than touch the wrong bytes.
const MAX_OFFSET: u64 = i64::MAX as u64;

/// `InvalidInput` for an offset no file can have (above `i64::MAX`).
pub(crate) fn check_offset(pos: u64) -> io::Result<()> {
    if pos > MAX_OFFSET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file offset {pos} is past the largest a file can have ({MAX_OFFSET})"),
        ));
    }
    Ok(())
}

/// Reads a whole file into a `Vec<u8>`.
///
/// ```no_run
/// # curing::run(async {
/// let hostname = curing::fs::read("/etc/hostname").await?;
/// # std::io::Result::Ok(()) });
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let len = file.metadata().await?.len();
    // Files in /proc and /sys report size 0 but have contents: read until EOF.
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0).max(4096));
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let (at, cap) = (buf.len(), buf.capacity());
        let (res, slice) = file.read_at(buf.slice(at..cap), at as u64).await;
        buf = slice.into_inner();
        if res? == 0 {
            break;
        }
    }
    file.close().await?;
    Ok(buf)
}

/// Creates (or truncates) a file and writes all of `contents` into it.
///
/// ```no_run
/// # curing::run(async {
/// curing::fs::write("/tmp/greeting", "hello\n").await?;
/// # std::io::Result::Ok(()) });
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl IoBuf) -> io::Result<()> {
    let file = File::create(path).await?;
    let (res, _) = file.write_all_at(contents, 0).await;
    res?;
    file.close().await
}
