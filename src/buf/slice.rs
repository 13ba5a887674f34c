//! `Slice`: a range of an owned buffer, itself an owned buffer.

use super::{IoBuf, IoBufMut};
use std::ops::{Deref, DerefMut};

/// A view of `begin..end` of an owned buffer, made by [`IoBuf::slice`].
///
/// Reads into a `Slice` fill the range from its start; writes from it send the
/// initialised part of the range. [`into_inner`](Slice::into_inner) gives the
/// whole buffer back.
#[derive(Debug)]
pub struct Slice<T> {
    /// The whole buffer; kept so it can be given back.
    buf: T,
    /// Offset of the view's first byte in `buf`.
    begin: usize,
    /// Offset one past the view's last byte in `buf`.
    end: usize,
}

impl<T: IoBuf> Slice<T> {
    pub(crate) fn new(buf: T, begin: usize, end: usize) -> Slice<T> {
        Slice { buf, begin, end }
    }

    /// Offset of the view's start in the whole buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Offset one past the view's end in the whole buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The whole buffer, by reference.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }

    /// The whole buffer, given back.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

impl<T: IoBuf> Deref for Slice<T> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let init = self.bytes_init();
        // SAFETY: `begin..begin+init` lies within the initialised part of the
        // buffer (bytes_init clamps to the buffer's initialised length), and
        // the memory lives as long as `self.buf`.
        unsafe { std::slice::from_raw_parts(self.buf.stable_ptr().add(self.begin), init) }
    }
}

impl<T: IoBufMut> DerefMut for Slice<T> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let init = self.bytes_init();
        // SAFETY: as in `deref`, and we hold `&mut self`, so no other reference
        // to these bytes exists.
        unsafe { std::slice::from_raw_parts_mut(self.buf.stable_mut_ptr().add(self.begin), init) }
    }
}

// SAFETY: the view's memory is the inner buffer's memory, offset by `begin`,
// which is within `bytes_total()` of the inner buffer (checked in `slice`).
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: `begin <= bytes_total()` of the inner buffer, so the result
        // is in bounds or one past the end.
        unsafe { self.buf.stable_ptr().add(self.begin) }
    }

    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }

    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as for `IoBuf`; the memory is writable because the inner buffer's is.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: as in `stable_ptr`.
        unsafe { self.buf.stable_mut_ptr().add(self.begin) }
    }

    unsafe fn set_init(&mut self, pos: usize) {
        // The caller promises `pos` bytes from the view's start are
        // initialised, and `slice` asserted `begin <= bytes_init()` when the
        // view was made.
        // SAFETY: so the first `begin + pos` inner bytes are initialised.
        unsafe { self.buf.set_init(self.begin + pos) }
    }
}
