//! Direct I/O (`O_DIRECT`): reads and writes that bypass the page cache,
//! with buffers aligned as the device needs.
//!
//! The kernel refuses a direct read or write with a bare `EINVAL` when the
//! buffer address, the file offset or the length is not a multiple of the
//! device's alignment. [`AlignedBuf`] is always aligned in memory, and
//! [`File::read_direct_at`] / [`File::write_direct_at`] check the offset and
//! length first and say what is wrong.
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
//! use curing::fs::{AlignedBuf, OpenOptions};
//! # curing::run(async {
//! let file = OpenOptions::new().read(true).direct(true).open("/var/tmp/data").await?;
//! let buf = AlignedBuf::for_file(&file, 1 << 20).await?;
//! let (res, buf) = file.read_direct_at(buf, 0).await;
//! println!("read {} bytes without the page cache", res?);
//! # std::io::Result::Ok(()) });
//! ```

use super::File;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::op::Checked;
use crate::driver::submit;
use crate::op;
use std::alloc::Layout;
use std::future::Future;
use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Alignment used when the kernel does not report one.
const FALLBACK_ALIGN: usize = 4096;

/// A heap buffer whose address and capacity are multiples of `align`, for
/// direct I/O. Its initialised length grows as reads fill it.
pub struct AlignedBuf {
    /// Start of an allocation of `cap` bytes aligned to `align`.
    ptr: NonNull<u8>,
    /// Initialised bytes from the start.
    len: usize,
    /// Bytes allocated (a multiple of `align`, at least `align`).
    cap: usize,
    /// A power of two.
    align: usize,
}

impl AlignedBuf {
    /// An empty buffer with room for `cap` bytes (rounded up to a multiple
    /// of `align`), aligned to `align`.
    ///
    /// # Panics
    ///
    /// If `align` is not a power of two, or the size overflows.
    pub fn new(cap: usize, align: usize) -> AlignedBuf {
        assert!(
            align.is_power_of_two(),
            "alignment {align} is not a power of two"
        );
        let cap = cap.max(1).div_ceil(align) * align;
        let layout = Layout::from_size_align(cap, align).expect("buffer too large");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            std::alloc::handle_alloc_error(layout)
        };
        AlignedBuf {
            ptr,
            len: 0,
            cap,
            align,
        }
    }

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

    /// The alignment of the address and capacity.
    pub fn alignment(&self) -> usize {
        self.align
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Sets the initialised length to 0 (the bytes stay allocated).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Sets the initialised length (the memory is zeroed at allocation, so
    /// every byte is initialised).
    ///
    /// # Panics
    ///
    /// If `len` is past the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.cap, "length {len} past capacity {}", self.cap);
        self.len = len;
    }

    /// Appends `data` after the initialised bytes.
    ///
    /// # Panics
    ///
    /// If it does not fit in the capacity.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let end = self.len + data.len();
        assert!(end <= self.cap, "{end} bytes do not fit in {}", self.cap);
        self.len = end;
        self[end - data.len()..].copy_from_slice(data);
    }
}

// SAFETY: the allocation is owned by the buffer alone (no aliasing), so it
// can move to another thread with it.
unsafe impl Send for AlignedBuf {}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.cap, self.align).expect("checked in new");
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) };
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len <= cap` bytes, all initialised (zeroed at allocation).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` is the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .field("align", &self.align)
            .finish()
    }
}

// SAFETY: the heap allocation does not move when the buffer moves and lives
// until drop; `len <= cap`.
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.cap
    }
}

// SAFETY: as for `IoBuf`; the allocation is writable.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.len = self.len.max(pos);
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
        match check("read", pos, buf.cap, buf.align) {
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
        match check("write", pos, buf.len, buf.align) {
            Err(e) => Checked::Failed(Some((Err(e), buf))),
            Ok(()) => Checked::Submit(submit(op::Write::new(self.shared_fd().clone(), buf, pos))),
        }
    }
}
