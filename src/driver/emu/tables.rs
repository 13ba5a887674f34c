//! The registered resources the emulator keeps in place of the kernel's:
//! the fixed-file table (our own duplicates of the registered fds), the
//! fixed-buffer table (address ranges, for validation) and the
//! provided-buffer rings (we are the "kernel" side: our own head, the
//! application's tail read with an acquire load).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};

/// Fixed files, fixed buffers and buffer rings.
#[derive(Default)]
pub(super) struct Tables {
    /// Slot → our duplicate of the registered file (the table holds its
    /// own reference, like the kernel's).
    files: Vec<Option<OwnedFd>>,
    /// Slot → registered `(address, length)`.
    bufs: Vec<Option<(u64, u64)>>,
    /// Group id → ring.
    rings: HashMap<u16, BufRing>,
}

/// A registered provided-buffer ring: `entries` `io_uring_buf` structs
/// (16 bytes each) at `base`; the tail is the `u16` at offset 14 of entry
/// 0, as in the kernel's `struct io_uring_buf_ring`.
struct BufRing {
    base: u64,
    mask: u16,
    /// The next entry to take; only the emulator moves it.
    head: u16,
}

/// One provided buffer taken from a ring.
#[derive(Clone, Copy, Debug)]
pub(super) struct Picked {
    pub(super) addr: u64,
    pub(super) len: u32,
    pub(super) bid: u16,
}

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

impl Tables {
    pub(super) fn files_sparse(&mut self, slots: u32) -> io::Result<()> {
        if !self.files.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        self.files.resize_with(slots as usize, || None);
        Ok(())
    }

    /// Sets slot `index` to a duplicate of `fd` (-1: empties it).
    pub(super) fn set_file(&mut self, index: u32, fd: RawFd) -> io::Result<()> {
        let slot = self.files.get_mut(index as usize).ok_or_else(einval)?;
        if fd == -1 {
            *slot = None;
            return Ok(());
        }
        // SAFETY: F_DUPFD_CLOEXEC takes no pointers; on success the new fd
        // is ours alone.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` was just created by fcntl and is owned by no one
        // else.
        *slot = Some(unsafe { OwnedFd::from_raw_fd(dup) });
        Ok(())
    }

    /// The fd behind file-table slot `index`, or `-EBADF`.
    pub(super) fn file(&self, index: u32) -> Result<RawFd, i32> {
        match self.files.get(index as usize) {
            Some(Some(fd)) => Ok(fd.as_raw_fd()),
            _ => Err(-libc::EBADF),
        }
    }

    pub(super) fn bufs_sparse(&mut self, slots: u32) -> io::Result<()> {
        if !self.bufs.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        self.bufs.resize(slots as usize, None);
        Ok(())
    }

    pub(super) fn set_buf(&mut self, index: u32, iov: libc::iovec) -> io::Result<()> {
        let slot = self.bufs.get_mut(index as usize).ok_or_else(einval)?;
        *slot = (!iov.iov_base.is_null()).then_some((iov.iov_base as u64, iov.iov_len as u64));
        Ok(())
    }

    /// Checks that `[addr, addr + len)` lies in registered buffer `index`,
    /// as the kernel does for `READ_FIXED`/`WRITE_FIXED` (`-EFAULT` if not).
    pub(super) fn check_buf(&self, index: u16, addr: u64, len: u32) -> Result<(), i32> {
        match self.bufs.get(usize::from(index)) {
            Some(Some((base, blen))) if addr >= *base && addr + u64::from(len) <= base + blen => {
                Ok(())
            }
            Some(Some(_)) => Err(-libc::EFAULT),
            _ => Err(-libc::EFAULT),
        }
    }

    pub(super) fn add_ring(&mut self, base: u64, entries: u16, bgid: u16) -> io::Result<()> {
        if !entries.is_power_of_two() || base % 4096 != 0 {
            return Err(einval());
        }
        if self.rings.contains_key(&bgid) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        self.rings.insert(
            bgid,
            BufRing {
                base,
                mask: entries - 1,
                head: 0,
            },
        );
        Ok(())
    }

    pub(super) fn remove_ring(&mut self, bgid: u16) -> io::Result<()> {
        self.rings
            .remove(&bgid)
            .map(drop)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }

    /// The next buffer of group `bgid` without taking it: `-ENOBUFS` if the
    /// ring is empty (or unknown, as the kernel says too).
    pub(super) fn peek(&self, bgid: u16) -> Result<Picked, i32> {
        let ring = self.rings.get(&bgid).ok_or(-libc::ENOBUFS)?;
        // The application publishes the tail (a u16 at offset 14 of the
        // page-aligned base) with a release store; this acquire load also
        // orders the entry reads below after it.
        // SAFETY: the ring stays mapped while registered (the
        // `register_buf_ring` contract), and offset 14 is in it, aligned.
        let tail = unsafe { &*((ring.base + 14) as *const AtomicU16) }.load(Ordering::Acquire);
        if tail == ring.head {
            return Err(-libc::ENOBUFS);
        }
        let entry = ring.base + 16 * u64::from(ring.head & ring.mask);
        // SAFETY: entry `head & mask` is inside the registered ring; the
        // application wrote it before publishing the tail we just read, and
        // does not touch it again until it is handed back.
        let (addr, len, bid) = unsafe {
            (
                std::ptr::read_volatile(entry as *const u64),
                std::ptr::read_volatile((entry + 8) as *const u32),
                std::ptr::read_volatile((entry + 12) as *const u16),
            )
        };
        Ok(Picked { addr, len, bid })
    }

    /// Takes the buffer `peek` returned.
    pub(super) fn consume(&mut self, bgid: u16) {
        if let Some(ring) = self.rings.get_mut(&bgid) {
            ring.head = ring.head.wrapping_add(1);
        }
    }
}
