//! Registering resources with the ring: the io-wq worker limits, fixed
//! buffers and fixed files.
//!
//! ## io-wq workers
//!
//! Requests the kernel cannot complete without blocking (buffered writes
//! on most file systems, opens that miss the dentry cache, `fallocate`,
//! `splice`) run on the ring's io-wq kernel threads. "Bounded" work (regular
//! file and block I/O) gets at most one worker per CPU by default;
//! "unbounded" work (sockets, pipes, anything that may wait forever) is
//! limited only by `RLIMIT_NPROC`, so a burst can spawn hundreds of kernel
//! threads. `IORING_REGISTER_IOWQ_MAX_WORKERS` (Linux 5.15) caps both.
//!
//! ## Fixed buffers
//!
//! `IORING_OP_READ_FIXED`/`WRITE_FIXED` name a buffer the ring pinned at
//! registration, so the kernel skips mapping user memory on every request.
//! The ring gets a sparse buffer table of [`BUF_TABLE_SLOTS`] slots on first
//! use (`IORING_REGISTER_BUFFERS2` with `IORING_RSRC_REGISTER_SPARSE`, Linux
//! 5.19); each pool is one mapping registered in one slot
//! (`IORING_REGISTER_BUFFERS_UPDATE`), and its buffers are equal parts of
//! it. The driver owns the memory ([`FixedMem`], behind an `Rc` that the
//! pool and each buffer also hold): it is unregistered and unmapped once only
//! the driver holds it, or after the ring is closed. An op leaked at
//! shutdown keeps its buffer, hence an `Rc`, hence the memory: leaked too.
//!
//! ## Fixed files
//!
//! A sparse file table (`IORING_REGISTER_FILES2`, sparse, Linux 5.19; at
//! most [`FILE_TABLE_MAX`] slots and no more than `RLIMIT_NOFILE`) made on
//! first use. A slot holds its own reference to the open file; SQEs name the
//! slot with `IOSQE_FIXED_FILE`, which spares the kernel an fd-table lookup
//! and a reference count per request. A slot is emptied only when no op
//! naming it is queued or in flight: as with fd numbers
//! (docs/reliability.md, rule 5), a queued SQE would otherwise act on
//! whatever file the slot holds next.

use super::current::{self, Core};
use super::Driver;
use std::io;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};

impl Driver {
    /// Caps the ring's io-wq workers (0 leaves a limit unchanged); returns
    /// the previous limits `[bounded, unbounded]`.
    pub(crate) fn set_iowq_max_workers(
        &mut self,
        bounded: u32,
        unbounded: u32,
    ) -> io::Result<[u32; 2]> {
        let mut max = [bounded, unbounded];
        self.ring.register_iowq_max_workers(&mut max)?;
        Ok(max)
    }
}

/// Slots of the ring's sparse registered-buffer table: one per pool.
const BUF_TABLE_SLOTS: u32 = 64;
/// Most slots of the sparse registered-file table (fewer when
/// `RLIMIT_NOFILE` is lower: the kernel refuses a larger table).
const FILE_TABLE_MAX: u32 = 4096;
/// The kernel's limit on the size of one registered buffer.
const MAX_REGISTERED_BYTES: usize = 1 << 30;

/// The ring's registered-resource tables, both made on first use (a ring
/// that never uses them pays nothing).
#[derive(Default)]
pub(crate) struct Registered {
    /// One entry per slot of the sparse buffer table (empty until the first
    /// pool): the pool memory registered there. The driver's `Rc` keeps the
    /// memory mapped while the slot is registered; it is unregistered once
    /// this is the only `Rc` left (no buffer out, no op using it).
    buf_slots: Vec<Option<Rc<FixedMem>>>,
    /// Free slots of the sparse file table; `None` until the first file.
    free_files: Option<Vec<u32>>,
}

/// The memory of one fixed-buffer pool: an anonymous mapping registered as
/// one entry of the ring's buffer table.
pub(crate) struct FixedMem {
    /// Start of the mapping (page-aligned).
    ptr: *mut u8,
    /// Length of the mapping and of the registered entry.
    len: usize,
    /// The slot in the ring's buffer table (an SQE's `buf_index`).
    index: u16,
}

impl FixedMem {
    fn map(len: usize, index: u16) -> io::Result<FixedMem> {
        let ptr = crate::sys::mmap_anon(len)?;
        Ok(FixedMem { ptr, len, index })
    }

    /// Start of the memory: `len()` bytes, zero-filled at first, valid
    /// while `self` lives.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The slot in the ring's buffer table.
    pub(crate) fn index(&self) -> u16 {
        self.index
    }
}

impl Drop for FixedMem {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`. No op uses it any more
        // (each holds an `Rc`), and the kernel's own pins on the pages, if
        // it still has any, keep those pages alive on its side.
        unsafe { crate::sys::munmap(self.ptr, self.len) };
    }
}

impl Driver {
    /// Maps `len` bytes and registers them as one entry of the ring's
    /// buffer table (made sparse on first use).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for 0 or more than 1 GiB; `Unsupported` before Linux
    /// 5.19; `OutOfMemory` when every slot is taken; `ENOMEM` naming
    /// `RLIMIT_MEMLOCK` when the kernel refuses to pin the memory.
    pub(crate) fn register_fixed_mem(&mut self, len: usize) -> io::Result<Rc<FixedMem>> {
        if len == 0 || len > MAX_REGISTERED_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a fixed buffer pool must hold 1 byte to 1 GiB in all, not {len}"),
            ));
        }
        super::fork::check(self.fork_generation);
        self.collect_fixed_mem();
        if self.registered.buf_slots.is_empty() {
            self.ring
                .register_buffers_sparse(BUF_TABLE_SLOTS)
                .map_err(|e| needs_5_19("fixed buffers (a sparse registered-buffer table)", e))?;
            self.registered
                .buf_slots
                .resize_with(BUF_TABLE_SLOTS as usize, || None);
        }
        let Some(index) = self.registered.buf_slots.iter().position(Option::is_none) else {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("all {BUF_TABLE_SLOTS} fixed buffer pools of this runtime are in use"),
            ));
        };
        let mem = Rc::new(FixedMem::map(len, index as u16)?);
        let iov = libc::iovec {
            iov_base: mem.ptr.cast(),
            iov_len: len,
        };
        // SAFETY: the entry covers exactly our mapping, which stays mapped
        // while the slot is registered: the driver holds an `Rc` until it
        // unregisters the slot (or the ring is closed first, in `Drop`).
        unsafe { self.ring.register_buffer(index as u32, iov) }
            .map_err(|e| memlock_hint(len, e))?;
        self.registered.buf_slots[index] = Some(mem.clone());
        Ok(mem)
    }

    /// A pool let go of its memory: unregister and free it if nothing else
    /// holds it.
    pub(crate) fn release_fixed_mem(&mut self, mem: Rc<FixedMem>) {
        let index = usize::from(mem.index);
        drop(mem);
        self.collect_fixed_slot(index);
    }

    /// Unregisters and frees every pool memory only the driver holds.
    fn collect_fixed_mem(&mut self) {
        for index in 0..self.registered.buf_slots.len() {
            self.collect_fixed_slot(index);
        }
    }

    fn collect_fixed_slot(&mut self, index: usize) {
        let idle = matches!(&self.registered.buf_slots[index],
            Some(m) if Rc::strong_count(m) == 1);
        if !idle || self.forked() {
            return;
        }
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        // SAFETY: an empty entry points at no memory.
        let res = unsafe { self.ring.register_buffer(index as u32, empty) };
        // Unregistering an idle slot does not fail in practice; if it did,
        // keep the memory rather than free what the kernel still knows.
        if res.is_ok() {
            self.registered.buf_slots[index] = None;
        }
    }

    /// Installs `fd` in a free slot of the ring's file table (made sparse
    /// on first use); returns the slot. The table holds its own reference
    /// to the open file: `fd` may be closed afterwards.
    ///
    /// # Errors
    ///
    /// `Unsupported` before Linux 5.19; `OutOfMemory` when every slot is
    /// taken; what the kernel says (`EBADF`).
    pub(crate) fn register_file(&mut self, fd: RawFd) -> io::Result<u32> {
        super::fork::check(self.fork_generation);
        if self.registered.free_files.is_none() {
            let size = file_table_size();
            self.ring
                .register_files_sparse(size)
                .map_err(|e| needs_5_19("registered files (a sparse file table)", e))?;
            self.registered.free_files = Some((0..size).rev().collect());
        }
        let free = self
            .registered
            .free_files
            .as_mut()
            .expect("made just above");
        let Some(index) = free.pop() else {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "every slot of this runtime's registered file table is in use",
            ));
        };
        match self.ring.register_file(index, fd) {
            Ok(_) => Ok(index),
            Err(e) => {
                free.push(index);
                Err(e)
            }
        }
    }

    /// Empties slot `index` of the file table (the kernel drops its file
    /// reference once no request uses it) and makes it free again. Call
    /// only when no op naming the slot is queued or in flight.
    pub(crate) fn unregister_file(&mut self, index: u32) {
        if self.forked() {
            return;
        }
        let res = self.ring.register_file(index, -1);
        // If the kernel refused (it does not for a valid slot), the slot
        // stays taken rather than be handed out while still holding a file.
        if let (Ok(_), Some(free)) = (res, self.registered.free_files.as_mut()) {
            free.push(index);
        }
    }
}

/// A taken slot of the ring's file table, emptied when dropped: what a
/// registered file and each op naming it hold (in an `Rc`), so the slot is
/// emptied only when no op naming it is queued or in flight.
pub(crate) struct FileSlot {
    /// The slot number SQEs name.
    index: u32,
    /// The file was opened with `O_DIRECT` (see `Op::eager`).
    direct: bool,
    /// The runtime whose ring has the table: ops check it, and the drop
    /// empties the slot through it (if it still exists).
    owner: Weak<Core>,
}

impl FileSlot {
    /// Installs `fd` (opened with `O_DIRECT` if `direct`) in a free slot of
    /// the current runtime's file table; see [`Driver::register_file`].
    ///
    /// # Panics
    ///
    /// Outside a curing runtime.
    pub(crate) fn register(fd: RawFd, direct: bool) -> io::Result<FileSlot> {
        let ctx = current::current();
        let index = ctx.driver.borrow_mut().register_file(fd)?;
        Ok(FileSlot {
            index,
            direct,
            owner: Rc::downgrade(&ctx),
        })
    }

    /// The slot number.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Whether the file was opened with `O_DIRECT`.
    #[inline]
    pub(crate) fn is_direct(&self) -> bool {
        self.direct
    }

    /// Whether the slot belongs to the current runtime's ring.
    pub(crate) fn is_current(&self) -> bool {
        current::is_current(&self.owner)
    }
}

impl Drop for FileSlot {
    fn drop(&mut self) {
        // Runtime gone: its ring, and the table with it, are closed.
        let Some(ctx) = self.owner.upgrade() else {
            return;
        };
        // Never busy here (no user drop runs inside the driver); if it
        // were, the slot stays taken (and the file open) until the ring
        // closes, which is safe.
        if let Ok(mut driver) = ctx.driver.try_borrow_mut() {
            driver.unregister_file(self.index);
        };
    }
}

/// Size of the sparse file table: the kernel refuses one larger than the
/// soft `RLIMIT_NOFILE` (`EMFILE`).
fn file_table_size() -> u32 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    if !ok {
        return 256;
    }
    lim.rlim_cur.min(u64::from(FILE_TABLE_MAX)) as u32
}

/// The error for a kernel without sparse registered tables (before 5.19).
fn needs_5_19(what: &str, e: io::Error) -> io::Error {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let kind = match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => io::ErrorKind::Unsupported,
        _ => e.kind(),
    };
    io::Error::new(
        kind,
        format!(
            "{what} need Linux 5.19 or newer; this kernel is {} and said: {e}",
            release.trim()
        ),
    )
}

/// `ENOMEM` from registering buffers nearly always means `RLIMIT_MEMLOCK`.
fn memlock_hint(len: usize, e: io::Error) -> io::Error {
    if e.raw_os_error() != Some(libc::ENOMEM) {
        return e;
    }
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "the kernel refused to pin {len} bytes of fixed buffers (ENOMEM): the locked-memory \
             limit (RLIMIT_MEMLOCK, `ulimit -l`) is probably lower; raise it or use a smaller pool"
        ),
    )
}
