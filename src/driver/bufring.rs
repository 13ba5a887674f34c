//! Provided-buffer rings (`IORING_REGISTER_PBUF_RING`, Linux 5.19): a pool
//! of equal buffers the kernel picks from when data arrives, so a receive
//! that waits holds no buffer of its own.
//!
//! ## The ring, and who writes what
//!
//! The ring is an array of `io_uring_buf {addr, len, bid}` entries in our
//! memory, registered with the kernel under a group id (`bgid`). *We* add
//! buffers: write an entry at `tail & mask`, then publish the new tail
//! (a release store into the ring's shared tail field). The *kernel* takes
//! them from its head as data arrives and names the buffer it used in the
//! CQE (`IORING_CQE_F_BUFFER`, buffer id in the high 16 bits of `flags`).
//! From then the buffer is ours until we put it back.
//!
//! ## Lifetime
//!
//! Everything (entries and buffer memory) is one [`RingShared`] behind an
//! `Rc`, held by the driver, by each op that selects from it, and by each
//! buffer handed to a user. Putting a buffer back is a plain memory write,
//! so it works anywhere on the runtime's thread, even after the runtime is
//! gone (the ring memory is still ours; nobody reads it any more). The
//! memory is unmapped when the last holder goes. The driver unregisters a
//! ring once only the driver holds it (no op can select from it and no
//! buffer is out), the next time a ring is registered, or when the ring
//! itself closes. If shutdown has to leak ops the kernel still holds, the
//! rings are leaked too: an op may still write into their buffers.

use super::Driver;
use io_uring::types::BufRingEntry;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Waker;

/// A registered ring and its buffers; see the module docs.
pub(crate) struct RingShared {
    /// The group id SQEs name (`buf_group`).
    bgid: u16,
    /// Entries in the ring (a power of two), equal to the buffer count.
    entries: u16,
    /// Bytes per buffer.
    buf_size: usize,
    /// The entries, page-aligned (`mmap`); the kernel reads them.
    ring: Mapping,
    /// The buffers, `entries * buf_size` bytes (`mmap`, so untouched
    /// buffers cost no resident memory); the kernel writes into them.
    bufs: Mapping,
    /// Our tail: where the next returned buffer goes.
    tail: Cell<u16>,
    /// Buffers in the kernel's ring right now (not handed out).
    available: Cell<usize>,
    /// Receivers that found the pool empty (`ENOBUFS`), in arrival order,
    /// by registration id; each returned buffer wakes the first one (not
    /// all: a thousand starved receivers must not all re-arm for one
    /// buffer).
    waiters: RefCell<VecDeque<(u64, Waker)>>,
    /// The next registration id.
    next_waiter: Cell<u64>,
    /// Waiters woken with a buffer promised to them, not yet re-armed.
    granted: RefCell<Vec<u64>>,
}

/// An anonymous private mapping, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        let ptr = crate::sys::mmap_anon(len)?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; the kernel no longer
        // uses it (see the module docs for who holds the `Rc` around it).
        unsafe { crate::sys::munmap(self.ptr, self.len) };
    }
}

impl RingShared {
    /// The group id for SQEs.
    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }

    /// Buffers the kernel can pick right now.
    pub(crate) fn available(&self) -> usize {
        self.available.get()
    }

    /// The first `len` bytes of buffer `bid`, which the kernel filled and
    /// handed to us (a CQE named it) and which is not back in the ring.
    pub(crate) fn data(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.entries && len <= self.buf_size);
        // SAFETY: in bounds (asserted); the kernel wrote `len` bytes there
        // before posting the CQE, and does not touch the buffer again until
        // `recycle` puts it back, which needs the handle borrowing this.
        unsafe {
            std::slice::from_raw_parts(self.bufs.ptr.add(usize::from(bid) * self.buf_size), len)
        }
    }

    /// A buffer the kernel handed out (a CQE's buffer id) goes back into
    /// the ring. It is promised to the receiver that has waited longest
    /// for one, which is woken.
    pub(crate) fn recycle(&self, bid: u16) {
        self.push(bid);
        self.available.set(self.available.get() + 1);
        self.kick();
    }

    /// Promises each free buffer nobody was promised to the next waiter
    /// and wakes it. Called when a buffer comes back, and when a receiver
    /// goes away (its promised buffer, or one it never used, is free).
    pub(crate) fn kick(&self) {
        loop {
            let first = {
                let granted = self.granted.borrow();
                if self.available.get() <= granted.len() {
                    return;
                }
                self.waiters.borrow_mut().pop_front()
            };
            let Some((id, w)) = first else { return };
            self.granted.borrow_mut().push(id);
            w.wake();
        }
    }

    /// Whether the caller may re-arm its receive now: a buffer was promised
    /// to it, or one is free and nobody waits. If not, registers `waker`
    /// (under `*registration`, kept by the caller) in the queue. Call
    /// [`cancel_wait`](RingShared::cancel_wait) when giving up.
    pub(crate) fn wait_available(&self, waker: &Waker, registration: &mut Option<u64>) -> bool {
        let mut granted = self.granted.borrow_mut();
        if let Some(id) = *registration {
            if let Some(pos) = granted.iter().position(|g| *g == id) {
                granted.swap_remove(pos);
                *registration = None;
                return true;
            }
        }
        let mut waiters = self.waiters.borrow_mut();
        if registration.is_none() && waiters.is_empty() && self.available.get() > granted.len() {
            return true;
        }
        let mine = registration.and_then(|id| waiters.iter_mut().find(|(i, _)| *i == id));
        match mine {
            Some((_, w)) => w.clone_from(waker),
            None => {
                let id = self.next_waiter.get();
                self.next_waiter.set(id + 1);
                waiters.push_back((id, waker.clone()));
                *registration = Some(id);
            }
        }
        false
    }

    /// Withdraws a registration made by `wait_available`; a buffer already
    /// promised to it is passed on to the next waiter.
    pub(crate) fn cancel_wait(&self, registration: &mut Option<u64>) {
        let Some(id) = registration.take() else {
            return;
        };
        let queued = self.waiters.borrow().iter().position(|(i, _)| *i == id);
        if let Some(pos) = queued {
            self.waiters.borrow_mut().remove(pos);
            return;
        }
        {
            let mut granted = self.granted.borrow_mut();
            if let Some(p) = granted.iter().position(|g| *g == id) {
                granted.swap_remove(p);
            }
        }
        self.kick();
    }

    /// The kernel took a buffer (the driver reaped a CQE with `F_BUFFER`).
    pub(crate) fn taken(&self) {
        self.available.set(self.available.get().saturating_sub(1));
    }

    /// Writes entry `bid` at our tail and publishes the new tail.
    fn push(&self, bid: u16) {
        let tail = self.tail.get();
        let base = self.ring.ptr.cast::<BufRingEntry>();
        let index = usize::from(tail & (self.entries - 1));
        // SAFETY: `index < entries`, and the mapping holds `entries`
        // entries; slots between the kernel's head and our tail are ours to
        // write (the kernel reads only up to the published tail).
        let entry = unsafe { &mut *base.add(index) };
        entry.set_addr(self.bufs.ptr as u64 + u64::from(bid) * self.buf_size as u64);
        entry.set_len(self.buf_size as u32);
        entry.set_bid(bid);
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail field lives in entry 0 of our mapping, suitably
        // aligned for a u16; the kernel reads it concurrently, hence the
        // atomic release store, which also orders the entry writes before.
        let shared_tail = unsafe { &*BufRingEntry::tail(base).cast::<AtomicU16>() };
        shared_tail.store(tail, Ordering::Release);
    }
}

impl Driver {
    /// Registers a ring of `count` buffers (a power of two, at most 32768)
    /// of `buf_size` bytes each, all handed to the kernel.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad count or size; what the kernel says
    /// otherwise (`EINVAL` before 5.19, `ENOMEM`).
    pub(crate) fn register_buf_ring(
        &mut self,
        count: u16,
        buf_size: usize,
    ) -> io::Result<Rc<RingShared>> {
        if !count.is_power_of_two()
            || count > 32768
            || buf_size == 0
            || buf_size > u32::MAX as usize
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer pool needs a power-of-two count (at most 32768) of non-empty buffers",
            ));
        }
        self.collect_buf_rings();
        let bgid = (0..=u16::MAX)
            .find(|id| self.buf_rings.iter().all(|r| r.bgid != *id))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::OutOfMemory, "all buffer group ids in use")
            })?;
        let ring_len = (usize::from(count) * std::mem::size_of::<BufRingEntry>()).max(4096);
        let shared = Rc::new(RingShared {
            bgid,
            entries: count,
            buf_size,
            ring: Mapping::new(ring_len)?,
            bufs: Mapping::new(usize::from(count) * buf_size)?,
            tail: Cell::new(0),
            available: Cell::new(0),
            waiters: RefCell::new(VecDeque::new()),
            next_waiter: Cell::new(0),
            granted: RefCell::new(Vec::new()),
        });
        // SAFETY: the ring memory is a page-aligned mapping of `count`
        // entries that stays mapped until the ring is unregistered (the
        // driver keeps an `Rc` until then) or the io_uring is closed.
        unsafe {
            self.ring
                .register_buf_ring(shared.ring.ptr as u64, count, bgid)?;
        }
        for bid in 0..count {
            shared.recycle(bid);
        }
        self.buf_rings.push(shared.clone());
        Ok(shared)
    }

    /// Unregisters and frees rings nobody but the driver holds.
    fn collect_buf_rings(&mut self) {
        let ring = &mut self.ring;
        self.buf_rings.retain(|r| {
            if Rc::strong_count(r) > 1 {
                return true;
            }
            // Unregistering an idle ring does not fail in practice; if it
            // did, keep it rather than free memory the kernel knows.
            ring.unregister_buf_ring(r.bgid).is_err()
        });
    }

    /// Shutdown is leaking ops: keep every ring's memory mapped forever.
    pub(super) fn leak_buf_rings(&mut self) {
        for r in self.buf_rings.drain(..) {
            std::mem::forget(r);
        }
    }
}
