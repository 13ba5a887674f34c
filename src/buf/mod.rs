//! Owned buffers: what an op lends to the kernel and always gets back.
//!
//! An io_uring op may write into a buffer long after the future that started
//! it is gone, so curing never borrows a buffer for I/O: it takes it by value
//! and returns it with the result, on success *and* on error, as a
//! [`BufResult`]. While the op is in flight the buffer belongs to the op (or,
//! if the future was dropped, to the driver), and it is freed only after the
//! kernel's completion says the kernel is done with it.
//!
//! [`IoBuf`] is a buffer the kernel may read from (writes, sends);
//! [`IoBufMut`] one the kernel may write into (reads, receives). Both are
//! implemented for `Vec<u8>`, `Box<[u8]>`, `bytes::BytesMut`, and (read-only)
//! `bytes::Bytes`, `&'static [u8]` and `&'static str`. [`IoBuf::slice`] gives
//! a [`Slice`] view of part of a buffer that is itself a buffer.
//!
//! curing's own buffer types live here too:
//!
//! - [`AlignedBuf`]: heap memory aligned for direct I/O (`O_DIRECT`);
//! - [`FixedBufPool`] and its [`FixedBuf`]s: memory registered with the
//!   ring, for `read_fixed_at` / `write_fixed_at`;
//! - [`BufPool`] and its [`PooledBuf`]s: a provided-buffer ring the kernel
//!   picks receive buffers from (`recv_pooled`).
//!
//! This module, the driver and the thin syscall wrappers are the only
//! places with `unsafe` code: everything above them (files, sockets, ops)
//! goes through their safe functions.
//!
//! ```no_run
//! # curing::run(async {
//! let file = curing::fs::File::open("/etc/hostname").await?;
//! let buf = vec![0u8; 4096];
//! let (res, buf) = file.read_at(buf, 0).await; // the buffer comes back either way
//! let n = res?;
//! println!("{}", String::from_utf8_lossy(&buf[..n]));
//! # std::io::Result::Ok(()) });
//! ```

mod aligned;
mod fixed;
mod impls;
mod ring;
mod slice;

pub use aligned::AlignedBuf;
pub use fixed::{AcquireBuf, FixedBuf, FixedBufPool};
pub use ring::{BufPool, PooledBuf};
pub use slice::Slice;

use std::io;
use std::ops::{Bound, RangeBounds};

/// The result of an owned-buffer op: what the kernel said, and the buffer back.
pub type BufResult<T, B> = (io::Result<T>, B);

/// A buffer the kernel may read from while an op is in flight.
///
/// # Safety
///
/// An implementor promises that the memory `[stable_ptr(), stable_ptr() +
/// bytes_total())` stays valid and does not move while `self` is alive, even
/// when `self` itself is moved (the memory is on the heap or static), and that
/// `bytes_init() <= bytes_total()`.
pub unsafe trait IoBuf: 'static {
    /// A pointer to the start of the memory; valid while `self` lives.
    fn stable_ptr(&self) -> *const u8;

    /// How many bytes from the start are initialised (what a write sends).
    fn bytes_init(&self) -> usize;

    /// How many bytes the memory holds in all (the capacity).
    fn bytes_total(&self) -> usize;

    /// A view of `range` of this buffer; the range must lie within
    /// [`bytes_total`](IoBuf::bytes_total).
    ///
    /// ```
    /// use curing::buf::IoBuf;
    /// let slice = b"hello world".to_vec().slice(6..);
    /// assert_eq!(&slice[..], b"world");
    /// let whole: Vec<u8> = slice.into_inner();
    /// assert_eq!(whole.len(), 11);
    /// ```
    ///
    /// # Panics
    ///
    /// If the range ends past `bytes_total()`, starts after it ends, or starts
    /// past `bytes_init()` (a view never begins in uninitialised memory).
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_init(),
        };
        assert!(
            begin <= end,
            "slice range starts at {begin} but ends at {end}"
        );
        assert!(
            begin <= self.bytes_init(),
            "slice range start {begin} is past the initialised length {}",
            self.bytes_init()
        );
        assert!(
            end <= self.bytes_total(),
            "slice range end {end} is past the buffer's capacity {}",
            self.bytes_total()
        );
        Slice::new(self, begin, end)
    }
}

/// A buffer the kernel may write into while an op is in flight.
///
/// # Safety
///
/// As for [`IoBuf`], and `stable_mut_ptr()` points at the same memory, which
/// is writable for `bytes_total()` bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// A writable pointer to the start of the memory.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Record that the first `pos` bytes are initialised. Never shrinks the
    /// initialised length. Called by an op's completion, not by users.
    ///
    /// # Safety
    ///
    /// The first `pos` bytes must really be initialised, and `pos <=
    /// bytes_total()`.
    unsafe fn set_init(&mut self, pos: usize);
}

/// Copies as much of `data` as fits into `buf`'s spare room from offset
/// `at` on and marks it initialised; returns how many bytes were copied.
/// The first `at` bytes of `buf` must be initialised already.
pub(crate) fn fill_from_at<B: IoBufMut>(buf: &mut B, at: usize, data: &[u8]) -> usize {
    assert!(at <= buf.bytes_init(), "fill past the initialised bytes");
    let n = data.len().min(buf.bytes_total() - at);
    // The bytes before `at` are initialised (checked above); the `n` after
    // it are written here.
    // SAFETY: `stable_mut_ptr()` is writable for `bytes_total() >= at + n`
    // bytes (IoBufMut contract); `data` cannot overlap it (`&mut buf`).
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf.stable_mut_ptr().add(at), n);
        buf.set_init(at + n);
    }
    n
}

/// Records that the kernel wrote `n` bytes into `buf` from offset `at` on:
/// the buffer's initialised length becomes at least `at + n`. The
/// completion of every read op goes through here.
///
/// Why this is not an `unsafe fn`: its contract is the op layer's, and the
/// ops keep it. Call it only with the byte count of the completion of the
/// read whose SQE pointed the kernel at `buf.stable_mut_ptr() + at` for at
/// most `bytes_total() - at` bytes, with the first `at` bytes initialised
/// already (checked). The new length is capped at `bytes_total()`, so a
/// wrong count cannot make the buffer claim memory it does not have.
///
/// # Panics
///
/// If `at` is past the initialised bytes.
pub(crate) fn kernel_wrote<B: IoBufMut>(buf: &mut B, at: usize, n: usize) {
    assert!(at <= buf.bytes_init(), "a read after the initialised bytes");
    let end = at.saturating_add(n).min(buf.bytes_total());
    // SAFETY: the first `at` bytes were initialised (checked above) and the
    // kernel wrote the `n` after them (this function's contract); `end <=
    // bytes_total()`.
    unsafe { buf.set_init(end) };
}

pub(crate) use crate::sys::MAX_RW;

/// `len` capped at [`MAX_RW`], as an SQE's length field.
#[inline]
pub(crate) fn rw_len(len: usize) -> u32 {
    len.min(MAX_RW) as u32
}

/// The error of a `read_exact` that met the end of the stream first.
pub(crate) fn unexpected_eof(filled: usize, total: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("reached the end after {filled} of {total} bytes"),
    )
}

/// The initialised bytes of `buf` from offset 0, up to `len`.
pub(crate) fn init_bytes<B: IoBuf>(buf: &B, len: usize) -> &[u8] {
    let n = len.min(buf.bytes_init());
    // SAFETY: the first `bytes_init()` bytes are initialised and live as long
    // as `buf` (IoBuf contract).
    unsafe { std::slice::from_raw_parts(buf.stable_ptr(), n) }
}

/// Writes all of `buf` with repeated calls of `write(slice, written)`, where
/// `written` counts the bytes already written. `WriteZero` if a write takes
/// nothing. The buffer comes back on success and on error.
pub(crate) async fn write_all_with<B, F, Fut>(buf: B, mut write: F) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: std::future::Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_init();
    let mut written = 0;
    let mut buf = buf;
    while written < total {
        let (res, slice) = write(buf.slice(written..total), written as u64).await;
        buf = slice.into_inner();
        if let Err(e) = count_written(res, &mut written) {
            return (Err(e), buf);
        }
    }
    (Ok(()), buf)
}

/// One write's result in a write-all loop: the bytes it took are added to
/// `written`; `Interrupted` adds nothing (the loop writes again); a write
/// that took nothing is `WriteZero`, and any other error ends the loop.
pub(crate) fn count_written(res: io::Result<usize>, written: &mut usize) -> io::Result<()> {
    match res {
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "write returned 0 bytes",
        )),
        Ok(n) => {
            *written += n;
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fills all of `buf` (up to `bytes_total()`) with repeated calls of
/// `read(slice, filled)`. `UnexpectedEof` if a read returns 0 first; the
/// buffer comes back on success and on error, holding what was read.
pub(crate) async fn read_exact_with<B, F, Fut>(buf: B, mut read: F) -> BufResult<(), B>
where
    B: IoBufMut,
    F: FnMut(Slice<B>, u64) -> Fut,
    Fut: std::future::Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_total();
    let mut filled = 0;
    let mut buf = buf;
    while filled < total {
        let (res, slice) = read(buf.slice(filled..total), filled as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(unexpected_eof(filled, total)), buf),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read's count lands after the bytes the buffer already had, and a
    /// count past the room the kernel had cannot stretch the buffer past
    /// its capacity.
    #[test]
    fn kernel_wrote_extends_from_its_offset_and_stops_at_the_capacity() {
        let mut v = Vec::with_capacity(8);
        v.extend_from_slice(b"ab");
        let cap = v.capacity();
        let n = fill_from_at(&mut v, 2, b"cd");
        assert_eq!((n, &v[..]), (2, &b"abcd"[..]));
        kernel_wrote(&mut v, 4, 0);
        assert_eq!(v.len(), 4);
        // Pretend the kernel wrote the rest of the room (it is initialised:
        // fill it first), then overstate the count.
        let room = vec![b'x'; cap - 4];
        fill_from_at(&mut v, 4, &room);
        v.truncate(4);
        kernel_wrote(&mut v, 4, usize::MAX);
        assert_eq!(v.len(), cap);
    }

    #[test]
    #[should_panic(expected = "after the initialised bytes")]
    fn kernel_wrote_refuses_a_gap_before_its_offset() {
        let mut v: Vec<u8> = Vec::with_capacity(8);
        kernel_wrote(&mut v, 1, 1);
    }
}
