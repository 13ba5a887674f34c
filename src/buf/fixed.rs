//! Registered buffers: a [`FixedBufPool`] is memory pinned and registered
//! with the runtime's ring, cut into equal [`FixedBuf`]s.
//!
//! For every plain read the kernel maps the user buffer's pages; a read
//! into a registered buffer (`IORING_OP_READ_FIXED`, `WRITE_FIXED`: see
//! [`File::read_fixed_at`](crate::fs::File::read_fixed_at) and
//! [`File::write_fixed_at`](crate::fs::File::write_fixed_at)) names memory
//! the ring pinned once. The larger the reads, the more that saves. It is
//! meant above all for direct I/O, where a plain read pins the user pages
//! on every request; a small buffered read only copies into the user page,
//! which a plain read does as cheaply. `cargo run --release --example
//! fixed_bench` compares plain and registered buffers and files.
//!
//! ```no_run
//! use curing::buf::FixedBufPool;
//! use curing::fs::File;
//!
//! # curing::run(async {
//! let pool = FixedBufPool::new(32, 4096)?;
//! let file = File::open("/etc/os-release").await?.register()?;
//! let buf = pool.acquire().await;
//! let (res, buf) = file.read_fixed_at(buf, 0).await;
//! println!("{}", String::from_utf8_lossy(&buf[..res?]));
//! // Dropping `buf` gives it back to the pool; dropping `file` (and every
//! // op on it) empties its slot in the ring's file table.
//! # std::io::Result::Ok(()) });
//! ```
//!
//! ## Ownership
//!
//! The registered memory belongs to the runtime: it stays registered and
//! mapped while the pool or any of its buffers exists, and is freed once
//! none does (or when the runtime is dropped, whichever is later). A
//! buffer whose read was cancelled goes back to the pool only after the
//! kernel's completion. Buffers work only on the runtime that made them;
//! elsewhere the `*_fixed_at` ops fail with `InvalidInput` (a buffer still
//! works as a plain [`IoBufMut`] anywhere).
//!
//! ## Kernel support
//!
//! The ring's sparse buffer table needs Linux 5.19: before that, creating a
//! pool fails with `Unsupported`, naming the kernel. Registered buffers
//! count against `RLIMIT_MEMLOCK` (unless the process has `CAP_IPC_LOCK`);
//! a refusal is an `OutOfMemory` error saying so.

use super::{IoBuf, IoBufMut};
use crate::driver::current::{self as core, Core};
use crate::driver::FixedMem;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context as TaskCx, Poll, Waker};

/// A pool of equal buffers registered with the current runtime's ring, for
/// [`File::read_fixed_at`](crate::fs::File::read_fixed_at) and
/// [`File::write_fixed_at`](crate::fs::File::write_fixed_at). Cloning is cheap
/// (the clones share the pool).
///
/// **Exhaustion**: when every buffer is out, [`acquire`](Self::acquire)
/// waits until one is dropped; [`try_acquire`](Self::try_acquire) returns
/// `None`. Waiters are served in arrival order, but a `try_acquire` may take
/// a returned buffer first.
///
/// ```
/// # curing::run(async {
/// let pool = curing::buf::FixedBufPool::new(4, 64 * 1024)?;
/// let mut buf = pool.try_acquire().expect("a fresh pool has all buffers free");
/// buf.extend_from_slice(b"hello");
/// assert_eq!(&buf[..], b"hello");
/// assert_eq!(pool.available(), 3);
/// drop(buf);
/// assert_eq!(pool.available(), 4);
/// # std::io::Result::Ok(()) });
/// ```
#[derive(Clone)]
pub struct FixedBufPool {
    shared: Rc<PoolShared>,
}

/// A pool's state, shared by the pool handles and every buffer out.
struct PoolShared {
    /// Start of the registered memory (copied from `mem`, which keeps it).
    ptr: *mut u8,
    /// Bytes per buffer.
    buf_size: usize,
    /// Buffers in all.
    count: usize,
    /// The memory's slot in the ring's buffer table (an SQE's `buf_index`).
    table_index: u16,
    /// Buffers in the pool, by number.
    free: RefCell<Vec<u32>>,
    /// `acquire` calls waiting for a buffer, by registration id.
    waiters: RefCell<VecDeque<(u64, Waker)>>,
    /// The next registration id.
    next_waiter: Cell<u64>,
    /// The runtime whose ring has the memory registered: ops check it.
    owner: Weak<Core>,
    /// Keeps the memory mapped and registered; handed back to the driver
    /// (which may then unregister it) when the last holder goes.
    mem: Option<Rc<FixedMem>>,
}

impl FixedBufPool {
    /// Registers `count` buffers of `buf_size` bytes each with the current
    /// runtime's ring.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if either is 0 or the total is over 1 GiB;
    /// `Unsupported` before Linux 5.19; `OutOfMemory` when the memory-lock
    /// limit is too low or the runtime already has 64 pools.
    ///
    /// # Panics
    ///
    /// Outside a curing runtime.
    pub fn new(count: usize, buf_size: usize) -> io::Result<FixedBufPool> {
        let total = count
            .checked_mul(buf_size)
            .filter(|_| count > 0 && buf_size > 0);
        let Some(total) = total.filter(|_| u32::try_from(count).is_ok()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a fixed buffer pool cannot have {count} buffers of {buf_size} bytes"),
            ));
        };
        let ctx = core::current();
        let mem = ctx.register_fixed_mem(total)?;
        Ok(FixedBufPool {
            shared: Rc::new(PoolShared {
                ptr: mem.ptr(),
                buf_size,
                count,
                table_index: mem.index(),
                free: RefCell::new((0..count as u32).rev().collect()),
                waiters: RefCell::new(VecDeque::new()),
                next_waiter: Cell::new(0),
                owner: Rc::downgrade(&ctx),
                mem: Some(mem),
            }),
        })
    }

    /// A free buffer (empty, with [`buf_size`](Self::buf_size) bytes of
    /// room), or `None` if all are out.
    pub fn try_acquire(&self) -> Option<FixedBuf> {
        let index = self.shared.free.borrow_mut().pop()?;
        Some(FixedBuf {
            pool: self.shared.clone(),
            index,
            len: 0,
        })
    }

    /// A free buffer, waiting until one is returned if all are out.
    pub fn acquire(&self) -> AcquireBuf<'_> {
        AcquireBuf {
            pool: self,
            registration: None,
        }
    }

    /// Buffers in the pool now (not held by anyone, nor by an op).
    pub fn available(&self) -> usize {
        self.shared.free.borrow().len()
    }

    /// Buffers in all.
    pub fn count(&self) -> usize {
        self.shared.count
    }

    /// Bytes per buffer.
    pub fn buf_size(&self) -> usize {
        self.shared.buf_size
    }
}

impl std::fmt::Debug for FixedBufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedBufPool")
            .field("count", &self.shared.count)
            .field("buf_size", &self.shared.buf_size)
            .field("available", &self.available())
            .finish()
    }
}

impl PoolShared {
    /// Buffer `index` comes back; the longest waiter is woken.
    fn release(&self, index: u32) {
        self.free.borrow_mut().push(index);
        self.wake_next();
    }

    /// Wakes the first waiter if a buffer is free.
    fn wake_next(&self) {
        if self.free.borrow().is_empty() {
            return;
        }
        let next = self.waiters.borrow_mut().pop_front();
        if let Some((_, w)) = next {
            w.wake();
        }
    }
}

impl Drop for PoolShared {
    fn drop(&mut self) {
        let Some(mem) = self.mem.take() else { return };
        // Runtime gone: its driver freed (or leaked) its share already.
        let Some(ctx) = self.owner.upgrade() else {
            return;
        };
        ctx.release_fixed_mem(mem);
    }
}

/// The future of [`FixedBufPool::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct AcquireBuf<'a> {
    pool: &'a FixedBufPool,
    /// Our place in the waiter queue, once we waited.
    registration: Option<u64>,
}

impl Future for AcquireBuf<'_> {
    type Output = FixedBuf;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<FixedBuf> {
        let shared = &self.pool.shared;
        let queued = self.registration.and_then(|id| {
            let waiters = shared.waiters.borrow();
            waiters.iter().position(|(i, _)| *i == id)
        });
        // Only take a buffer when first in line (or not in line at all
        // while nobody waits): earlier waiters go first.
        let first = match queued {
            Some(pos) => pos == 0,
            None => self.registration.is_some() || shared.waiters.borrow().is_empty(),
        };
        if first {
            if let Some(buf) = self.pool.try_acquire() {
                if queued.is_some() {
                    shared.waiters.borrow_mut().pop_front();
                }
                self.registration = None;
                // More may be free: let the next waiter look too.
                shared.wake_next();
                return Poll::Ready(buf);
            }
        }
        let mut waiters = shared.waiters.borrow_mut();
        match queued {
            Some(pos) => waiters[pos].1.clone_from(cx.waker()),
            // Woken but beaten to the buffer: back to the front of the line.
            None if self.registration.is_some() => {
                let id = self.registration.expect("checked");
                waiters.push_front((id, cx.waker().clone()));
            }
            None => {
                let id = shared.next_waiter.get();
                shared.next_waiter.set(id + 1);
                waiters.push_back((id, cx.waker().clone()));
                drop(waiters);
                self.registration = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for AcquireBuf<'_> {
    fn drop(&mut self) {
        let Some(id) = self.registration else { return };
        let shared = &self.pool.shared;
        let pos = shared.waiters.borrow().iter().position(|(i, _)| *i == id);
        match pos {
            Some(pos) => drop(shared.waiters.borrow_mut().remove(pos)),
            // We were woken for a buffer we will not take: pass it on.
            None => shared.wake_next(),
        }
    }
}

/// One buffer of a [`FixedBufPool`]: registered memory, returned to the
/// pool when dropped. Derefs to its initialised bytes (empty when
/// acquired; a read makes them cover what it read).
///
/// It is an ordinary [`IoBuf`] / [`IoBufMut`] too, usable with any op; only
/// the `*_fixed_at` methods need it to belong to the current runtime.
///
/// Like the runtime it belongs to, it stays on its thread:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// # curing::run(async {
/// let pool = curing::buf::FixedBufPool::new(1, 64).unwrap();
/// send(pool.try_acquire().unwrap());
/// # });
/// ```
pub struct FixedBuf {
    /// Keeps the pool (and its registered memory) alive.
    pool: Rc<PoolShared>,
    /// Buffer number in the pool.
    index: u32,
    /// Initialised bytes from the start.
    len: usize,
}

impl FixedBuf {
    /// The buffer's number in its pool.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// Initialised bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is initialised.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room in all (the pool's buffer size).
    pub fn capacity(&self) -> usize {
        self.pool.buf_size
    }

    /// Forgets the contents (length 0).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens the contents to `len` bytes (no-op if already shorter).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Appends `data`.
    ///
    /// # Panics
    ///
    /// If it does not fit in the remaining capacity.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let end = self.len + data.len();
        assert!(
            end <= self.capacity(),
            "{} bytes do not fit in a fixed buffer of {} with {} used",
            data.len(),
            self.capacity(),
            self.len
        );
        // SAFETY: `end <= capacity`, so the range is inside this buffer's
        // part of the mapping, which `&mut self` holds exclusively.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr().add(self.len), data.len())
        };
        self.len = end;
    }

    /// Whether this buffer's pool is registered with the current runtime.
    pub(crate) fn is_current(&self) -> bool {
        core::is_current(&self.pool.owner)
    }

    /// The pool memory's slot in the ring's buffer table.
    pub(crate) fn table_index(&self) -> u16 {
        self.pool.table_index
    }

    fn ptr(&self) -> *mut u8 {
        // The pool made `count` buffers of `buf_size` bytes in its memory.
        self.pool
            .ptr
            .wrapping_add(self.index as usize * self.pool.buf_size)
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.pool.release(self.index);
    }
}

impl Deref for FixedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised and inside this
        // buffer's part of the mapping, alive while `self.pool` is.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
    }
}

impl DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` holds this buffer exclusively
        // (no two `FixedBuf`s share an index).
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }
    }
}

impl std::fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish()
    }
}

// SAFETY: the memory is part of a mapping owned (through `pool`) by this
// buffer; it does not move when the buffer moves, and lives while it does.
// `len <= capacity` is kept by every method.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.pool.buf_size
    }
}

// SAFETY: as for `IoBuf`; the whole buffer is writable.
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.len = self.len.max(pos);
    }
}
