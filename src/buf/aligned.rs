//! [`AlignedBuf`]: heap memory aligned as direct I/O (`O_DIRECT`) needs.
//!
//! The kernel refuses a direct read or write with a bare `EINVAL` when the
//! buffer address, the file offset or the length is not a multiple of the
//! device's alignment. An `AlignedBuf` is always aligned in memory;
//! [`File::read_direct_at`](crate::fs::File::read_direct_at) and
//! [`File::write_direct_at`](crate::fs::File::write_direct_at) check the
//! offset and length, and [`AlignedBuf::for_file`] asks the file system for
//! the alignment.

use super::{IoBuf, IoBufMut};
use std::alloc::Layout;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A heap buffer whose address and capacity are multiples of `align`, for
/// direct I/O. Its initialised length grows as reads fill it.
///
/// ```
/// use curing::buf::AlignedBuf;
///
/// let mut buf = AlignedBuf::new(1000, 512);
/// assert_eq!(buf.capacity(), 1024);
/// assert_eq!(buf.as_ptr() as usize % 512, 0);
/// buf.extend_from_slice(b"block");
/// assert_eq!(&buf[..], b"block");
/// ```
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
