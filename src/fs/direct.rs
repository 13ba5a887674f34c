//! Direct I/O (`O_DIRECT`): reads and writes that bypass the page cache,
//! with buffers aligned as the device needs.
//!
//! The kernel refuses a direct read or write with a bare `EINVAL` when the
//! buffer address, the file offset or the length is not a multiple of the
//! device's alignment. [`AlignedBuf`] (in [`crate::buf`]) is always aligned
//! in memory, and [`File::read_direct_at`] / [`File::write_direct_at`] check
//! the offset and length first and say what is wrong.
//!
//! The alignment comes from `statx(STATX_DIOALIGN)` (Linux 6.1+) where the
//! file system reports it ([`AlignedBuf::for_file`]); elsewhere 4096, which
//! is a multiple of every common logical block size.
//!
//! Reads and writes of a direct file reach the kernel in pairs as tasks
//! issue them, not at the end of the runtime's turn: see
//! [`OpenOptions::direct`](super::OpenOptions::direct) for why, and
//! `EAGER_GROUP` in the driver for the measurements.
//!
//! ```no_run
//! use curing::buf::AlignedBuf;
//! use curing::fs::OpenOptions;
//! # curing::run(async {
//! let file = OpenOptions::new().read(true).direct(true).open("/var/tmp/data").await?;
//! let buf = AlignedBuf::for_file(&file, 1 << 20).await?;
//! let (res, buf) = file.read_direct_at(buf, 0).await;
//! println!("read {} bytes without the page cache", res?);
//! # std::io::Result::Ok(()) });
//! ```

use super::File;
use crate::buf::{AlignedBuf, BufResult};
use crate::driver::op::Checked;
use crate::driver::submit;
use crate::op;
use std::future::Future;
use std::io;

/// Alignment used when the kernel does not report one.
const FALLBACK_ALIGN: usize = 4096;

impl AlignedBuf {
    /// A buffer of `cap` bytes aligned as direct I/O on `file` needs: the
    /// larger of the memory and offset alignments `statx` reports, or 4096
    /// where it reports none. Fails with `Unsupported` if the file system
    /// says the file cannot do direct I/O.
    pub async fn for_file(file: &File, cap: usize) -> io::Result<AlignedBuf> {
        let align = match file.metadata().await?.dio_alignment() {
            Some((0, _)) | Some((_, 0)) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this file does not support direct I/O (statx reports no alignment)",
                ))
            }
            Some((mem, off)) => mem.max(off) as usize,
            None => FALLBACK_ALIGN,
        };
        Ok(AlignedBuf::new(cap, align))
    }
}

/// `InvalidInput` naming what is misaligned, or `Ok`.
fn check(what: &str, pos: u64, len: usize, align: usize) -> io::Result<()> {
    super::check_offset(pos)?;
    let a = align as u64;
    let bad = |name: &str, v: u64| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("direct {what}: the {name} {v} is not a multiple of the alignment {align}"),
        )
    };
    if pos % a != 0 {
        return Err(bad("offset", pos));
    }
    if len as u64 % a != 0 {
        return Err(bad("length", len as u64));
    }
    Ok(())
}

impl File {
    /// A direct read (the file opened with
    /// [`direct`](super::OpenOptions::direct)) into `buf`, to its capacity,
    /// from `pos`. Fails with `InvalidInput` and a message naming the
    /// problem if `pos` is not a multiple of the buffer's alignment, before
    /// asking the kernel. Reads fewer bytes at the end of the file.
    pub fn read_direct_at(
        &self,
        buf: AlignedBuf,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, AlignedBuf>> + 'static {
        match check("read", pos, buf.capacity(), buf.alignment()) {
            Err(e) => Checked::Failed(Some((Err(e), buf))),
            Ok(()) => Checked::Submit(submit(op::Read::at(self.shared_fd().clone(), buf, pos))),
        }
    }

    /// A direct write of the initialised bytes of `buf` at `pos`. Fails with
    /// `InvalidInput` naming the problem if `pos` or the length is not a
    /// multiple of the buffer's alignment (pad the data, then
    /// [`set_len`](File::set_len) the file to trim it).
    pub fn write_direct_at(
        &self,
        buf: AlignedBuf,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, AlignedBuf>> + 'static {
        match check("write", pos, buf.len(), buf.alignment()) {
            Err(e) => Checked::Failed(Some((Err(e), buf))),
            Ok(()) => Checked::Submit(submit(op::Write::new(self.shared_fd().clone(), buf, pos))),
        }
    }
}
