//! Files, with true asynchronous I/O: every read, write, open, sync and stat
//! is an io_uring op, with no thread pool behind it.
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

mod file;
mod metadata;
mod open_options;

pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;

use crate::buf::IoBuf;
use std::io;
use std::path::Path;

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
