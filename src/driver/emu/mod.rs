//! The epoll backend: an io_uring *emulator* for kernels or sandboxes where
//! io_uring cannot be used (seccomp profiles, `kernel.io_uring_disabled`,
//! old kernels).
//!
//! It takes the very `io_uring::squeue::Entry` values the driver builds,
//! decodes them ([`sqe`]), runs them, and posts CQEs with the kernel's
//! semantics (`res` is the result or `-errno`; `F_MORE`, `F_BUFFER` with
//! the buffer id in the high 16 bits, `F_NOTIF`), so the driver above
//! (slots, abandon and cancel, multishot, buffer rings) is the same code
//! on both backends.
//!
//! ## Where an op runs
//!
//! - **Inline**, in [`Emu::enter`]: `NOP`, `SOCKET`, `CLOSE`, `SHUTDOWN`,
//!   `ASYNC_CANCEL`.
//! - **Readiness** ([`ready`]): ops on sockets, pipes, eventfds, signalfds,
//!   pidfds and ttys (`RECV`, `SEND`, `SEND_ZC`, `RECVMSG`, `SENDMSG`,
//!   `ACCEPT` (also multishot), `CONNECT`, `POLL_ADD`, `WAITID` on a pidfd,
//!   multishot `RECV` from a provided-buffer ring, and
//!   `READ`/`WRITE`/`READV`/`WRITEV`/`*_FIXED` on anything that is not a
//!   regular file or block device, decided by `fstat` each time). The
//!   syscall is tried without blocking (`MSG_DONTWAIT`, `RWF_NOWAIT`, or
//!   `O_NONBLOCK` set on the socket for `accept`/`connect`, which have no
//!   per-call flag); on `EAGAIN` the op is parked on the fd's epoll
//!   registration and retried when the fd is ready. Sends never raise
//!   `SIGPIPE` (`MSG_NOSIGNAL`), as io_uring's.
//! - **Blocking pool** ([`pool`]): regular-file and block-device I/O,
//!   `FSYNC`, `FALLOCATE`, `FTRUNCATE`, `OPENAT`, `OPENAT2`, `STATX`, the
//!   path ops, `SPLICE`, `WAITID` on anything but a pidfd. Threads are
//!   started on demand up to a cap (16, or `iowq_max_workers`' bounded
//!   limit) and report through an eventfd in the same epoll set.
//!
//! ## Cancel
//!
//! `ASYNC_CANCEL` (by `user_data`) finds its target where it is: parked on
//! epoll or queued in the pool and not started → removed, posted with
//! `-ECANCELED`, the cancel gets 0; running in the pool → the cancel gets
//! `-EALREADY` and the target posts its own result when the syscall
//! returns; done or unknown → `-ENOENT`. So, as with the kernel, every SQE
//! gets exactly its CQE(s) and the cancel one more.
//!
//! ## Memory
//!
//! An op's memory is touched only between its push and the posting of its
//! final CQE: parked ops are retried by the emulator itself, pool jobs by
//! one thread, and each posts its CQE after its last access. At close the
//! pool is stopped; a thread still inside a syscall (the driver leaked its
//! op's memory after the shutdown bound) holds only an `Arc` of the pool
//! state and does not write the (closed) eventfd.
//!
//! ## Not emulated
//!
//! `MSG_RING` (the runtime wakes other threads through their eventfd
//! instead), direct descriptors (`file_index` on open/accept/socket),
//! multishot `POLL_ADD`, `RECVMSG` with buffer selection, cancel flags
//! (`ANY`, `FD`, `ALL`), linked SQEs, and every opcode the runtime does not
//! use: they are absent from the probe, so the runtime's `Unsupported`
//! paths and fallbacks apply.
//!
//! ## Costs
//!
//! One `fstat` per READ/WRITE (regular file or not), one `epoll_ctl` to
//! re-arm per wait, and a pool hop (two context switches) per file op, where
//! io_uring completes cached reads inline. `enter` is one `epoll_wait` (the
//! runtime's `Stats::enter_calls` counts them).

mod exec;
mod pool;
mod ready;
mod tables;

use super::sqe::Sqe;
use exec::Kind;
use io_uring::opcode as o;
use io_uring::squeue::Entry;
use ready::{Cqe, Parked, Ready};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// `IORING_CQE_F_BUFFER`.
const F_BUFFER: u32 = 1 << 0;
/// `IORING_CQE_F_MORE`.
const F_MORE: u32 = 1 << 1;
/// `IORING_CQE_F_NOTIF`.
const F_NOTIF: u32 = 1 << 3;
/// `IORING_RECV_MULTISHOT` (in `ioprio`).
pub(super) const RECV_MULTISHOT: u16 = 1 << 1;
/// `IORING_ACCEPT_MULTISHOT` (in `ioprio`).
const ACCEPT_MULTISHOT: u16 = 1 << 0;
/// epoll `data` of the pool's eventfd (fds are never this large).
const POOL_TOKEN: u64 = u64::MAX;

/// Ops run inline in [`Emu::enter`] (cheap syscalls, or none).
const INLINE_OPS: [u8; 5] = [
    o::Nop::CODE,
    o::AsyncCancel::CODE,
    o::Close::CODE,
    o::Socket::CODE,
    o::Shutdown::CODE,
];
/// READ/WRITE-family ops: the pool for files, readiness for the rest.
const RW_OPS: [u8; 6] = [
    o::Read::CODE,
    o::Write::CODE,
    o::Readv::CODE,
    o::Writev::CODE,
    o::ReadFixed::CODE,
    o::WriteFixed::CODE,
];
/// Ops always run on the pool (files and paths; `WAITID` other than on a
/// pidfd).
const POOL_OPS: [u8; 13] = [
    o::Fsync::CODE,
    o::Fallocate::CODE,
    o::Ftruncate::CODE,
    o::OpenAt::CODE,
    o::OpenAt2::CODE,
    o::Statx::CODE,
    o::UnlinkAt::CODE,
    o::RenameAt::CODE,
    o::MkDirAt::CODE,
    o::SymlinkAt::CODE,
    o::LinkAt::CODE,
    o::Splice::CODE,
    o::WaitId::CODE,
];
/// Socket ops: tried without blocking, then parked on epoll.
const SOCKET_OPS: [u8; 8] = [
    o::Accept::CODE,
    o::Connect::CODE,
    o::Recv::CODE,
    o::Send::CODE,
    o::SendZc::CODE,
    o::RecvMsg::CODE,
    o::SendMsg::CODE,
    o::PollAdd::CODE,
];

/// The opcodes the emulator runs: its "probe".
pub(crate) fn supports(code: u8) -> bool {
    [&INLINE_OPS[..], &RW_OPS, &POOL_OPS, &SOCKET_OPS]
        .iter()
        .any(|ops| ops.contains(&code))
}

fn cvt(r: libc::c_int) -> io::Result<OwnedFd> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `r` is an fd a syscall just created for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// The emulator; see the module docs.
pub(crate) struct Emu {
    /// The epoll set: parked ops' fds and the pool's eventfd.
    epfd: OwnedFd,
    /// Written by pool threads when results wait (non-blocking).
    efd: OwnedFd,
    /// Pushed SQEs not yet run, at most `sq_cap`.
    sq: VecDeque<Sqe>,
    sq_cap: usize,
    /// Posted CQEs not yet drained (never dropped: like `FEAT_NODROP`).
    cq: VecDeque<Cqe>,
    cq_entries: u32,
    ready: Ready,
    pool: pool::Pool,
    tables: tables::Tables,
    events: Vec<libc::epoll_event>,
    /// Whether the kernel has `epoll_pwait2` (Linux 5.11), which takes its
    /// timeout in nanoseconds; without it, `epoll_wait` rounds timeouts up
    /// to whole milliseconds.
    pwait2: bool,
}

impl Emu {
    /// An emulator with an SQ of `entries` (rounded up to a power of two,
    /// like the kernel's) and a CQ size of `cq_entries`.
    pub(crate) fn new(entries: u32, cq_entries: u32) -> io::Result<Emu> {
        // SAFETY: epoll_create1 and eventfd take no pointers.
        let epfd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: as above.
        let efd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: POOL_TOKEN,
        };
        // SAFETY: reads one live local epoll_event.
        if unsafe {
            libc::epoll_ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                efd.as_raw_fd(),
                &mut ev,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        let pool = pool::Pool::new(efd.as_raw_fd());
        Ok(Emu {
            epfd,
            efd,
            sq: VecDeque::new(),
            sq_cap: entries.next_power_of_two() as usize,
            cq: VecDeque::new(),
            cq_entries,
            ready: Ready::default(),
            pool,
            tables: tables::Tables::default(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
            pwait2: true,
        })
    }

    /// Queues `sqe`; false if the SQ is full.
    pub(crate) fn push(&mut self, sqe: &Entry) -> bool {
        if self.sq.len() >= self.sq_cap {
            return false;
        }
        self.sq.push_back(Sqe::read(sqe));
        true
    }

    pub(crate) fn sq_is_empty(&self) -> bool {
        self.sq.is_empty()
    }

    pub(crate) fn cq_is_empty(&self) -> bool {
        self.cq.is_empty()
    }

    /// Whether ops wait that only an `enter` can complete (parked or in
    /// the pool): like `DEFER_TASKRUN`'s task-run flag, it makes the
    /// runtime's non-waiting flush look at epoll even with nothing to
    /// submit, so busy tasks never starve I/O.
    pub(crate) fn has_hidden_work(&self) -> bool {
        self.ready.len() > 0 || self.pool.outstanding > 0
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.epfd.as_raw_fd()
    }

    pub(crate) fn cq_entries(&self) -> u32 {
        self.cq_entries
    }

    /// One wait for readiness, at most `left` (`None`: no limit); returns
    /// how many events it wrote into `events`.
    fn wait(&mut self, left: Option<Duration>) -> io::Result<usize> {
        let (epfd, events, max) = (
            self.epfd.as_raw_fd(),
            self.events.as_mut_ptr(),
            self.events.len() as i32,
        );
        if self.pwait2 {
            let ts = left.map(|d| libc::timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: epoll_pwait2 writes at most `max` entries into our
            // buffer and reads the local timespec (or none); no signal mask.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    epfd,
                    events,
                    max,
                    ts_ptr,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENOSYS) {
                return Err(err);
            }
            // An older kernel: milliseconds from now on.
            self.pwait2 = false;
        }
        // Round up: waking early would spin.
        let ms = left.map_or(-1, |d| {
            d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
        });
        // SAFETY: epoll_wait writes at most `max` entries into our buffer.
        let n = unsafe { libc::epoll_wait(epfd, events, max, ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Moves every posted CQE into `out`.
    pub(crate) fn drain(&mut self, out: &mut Vec<(u64, i32, u32)>) {
        out.extend(self.cq.drain(..));
    }

    /// Runs every queued SQE, then waits in `epoll_wait` until `want` CQEs
    /// are posted or `timeout` passes (`ETIME`, as `io_uring_enter`).
    pub(crate) fn enter(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<usize> {
        let submitted = self.sq.len();
        while let Some(sqe) = self.sq.pop_front() {
            self.start(sqe);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut looked = false;
        loop {
            let wait = self.cq.len() < want;
            if !wait && (looked || !self.has_hidden_work()) {
                return Ok(submitted);
            }
            let left = match (wait, deadline) {
                (false, _) => Some(Duration::ZERO),
                (true, None) => None,
                (true, Some(d)) => Some(d.saturating_duration_since(Instant::now())),
            };
            let n = self.wait(left)?;
            looked = true;
            for i in 0..n {
                let ev = self.events[i];
                self.on_event(ev.u64, ev.events);
            }
            if self.cq.len() >= want {
                return Ok(submitted);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::from_raw_os_error(libc::ETIME));
            }
        }
    }

    fn on_event(&mut self, token: u64, revents: u32) {
        if token == POOL_TOKEN {
            let mut buf = 0u64;
            // SAFETY: reads 8 bytes into a live local (non-blocking fd).
            unsafe { libc::read(self.efd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8) };
            self.pool.collect(&mut self.cq);
            return;
        }
        self.ready.on_event(
            self.epfd.as_raw_fd(),
            token as RawFd,
            revents,
            &mut self.tables,
            &mut self.cq,
        );
    }

    fn post(&mut self, user_data: u64, res: i32) {
        self.cq.push_back((user_data, res, 0));
    }

    /// Runs one SQE: inline, parked or pooled (see the module docs).
    fn start(&mut self, mut s: Sqe) {
        if s.fixed_file() {
            match self.tables.file(s.fd as u32) {
                Ok(fd) => s.fd = fd,
                Err(e) => return self.post(s.user_data, e),
            }
            s.flags &= !1;
        }
        if s.opcode == o::Splice::CODE && s.op_flags & exec::SPLICE_F_FD_IN_FIXED != 0 {
            match self.tables.file(s.file_index) {
                Ok(fd) => s.file_index = fd as u32,
                Err(e) => return self.post(s.user_data, e),
            }
            s.op_flags &= !exec::SPLICE_F_FD_IN_FIXED;
        }
        let opens = matches!(
            s.opcode,
            o::OpenAt::CODE | o::OpenAt2::CODE | o::Accept::CODE | o::Socket::CODE
        );
        if opens && s.file_index != 0 {
            // Direct descriptors are not emulated.
            return self.post(s.user_data, -libc::EINVAL);
        }
        let fd = s.fd;
        // SAFETY (inline calls): integers only.
        match s.opcode {
            o::Nop::CODE => self.post(s.user_data, 0),
            o::AsyncCancel::CODE => {
                let r = self.cancel(s.addr, s.op_flags);
                self.post(s.user_data, r)
            }
            o::Close::CODE if s.file_index != 0 => {
                let r = match self.tables.set_file(s.file_index - 1, -1) {
                    Ok(()) => 0,
                    Err(e) => -e.raw_os_error().unwrap_or(libc::EINVAL),
                };
                self.post(s.user_data, r)
            }
            o::Close::CODE => {
                self.ready.forget(self.epfd.as_raw_fd(), fd);
                // SAFETY: a syscall on integers only (fds, flags, lengths).
                let r = exec::res(i64::from(unsafe { libc::close(fd) }));
                self.post(s.user_data, r)
            }
            o::Socket::CODE => {
                // SAFETY: a syscall on integers only (fds, flags, lengths).
                let r = unsafe { libc::socket(fd, s.off as i32, s.len as i32) };
                self.post(s.user_data, exec::res(i64::from(r)))
            }
            o::Shutdown::CODE => {
                // SAFETY: a syscall on integers only (fds, flags, lengths).
                let r = unsafe { libc::shutdown(fd, s.len as i32) };
                self.post(s.user_data, exec::res(i64::from(r)))
            }
            o::ReadFixed::CODE | o::WriteFixed::CODE => {
                match self.tables.check_buf(s.buf_index, s.addr, s.len) {
                    Ok(()) => self.start_rw(s),
                    Err(e) => self.post(s.user_data, e),
                }
            }
            c if RW_OPS.contains(&c) => self.start_rw(s),
            o::WaitId::CODE if s.len == libc::P_PIDFD => self.start_ready(s, Kind::Stream),
            c if POOL_OPS.contains(&c) => self.pool.submit(s),
            o::Accept::CODE | o::Connect::CODE => {
                exec::set_nonblocking(fd);
                self.start_ready(s, Kind::Sock)
            }
            c if SOCKET_OPS.contains(&c) => self.start_ready(s, Kind::Sock),
            _ => self.post(s.user_data, -libc::EINVAL),
        }
    }

    /// A READ/WRITE-family op: the pool for files, readiness otherwise.
    fn start_rw(&mut self, s: Sqe) {
        match exec::kind(s.fd) {
            Ok(Kind::Pool) => self.pool.submit(s),
            Ok(kind) => self.start_ready(s, kind),
            Err(e) => self.post(s.user_data, e),
        }
    }

    /// Tries a readiness op now; parks it if it would block.
    fn start_ready(&mut self, s: Sqe, kind: Kind) {
        let mut p = Parked::new(s, kind);
        if let Some((res, flags)) = ready::attempt(&mut p, &mut self.tables, &mut self.cq) {
            self.cq.push_back((s.user_data, res, flags));
            return;
        }
        if let Err((p, e)) = self.ready.park(self.epfd.as_raw_fd(), p) {
            self.post(p.sqe.user_data, e);
        }
    }

    /// `ASYNC_CANCEL` of `target`; the cancel's own `res`.
    fn cancel(&mut self, target: u64, flags: u32) -> i32 {
        if flags != 0 {
            return -libc::EINVAL;
        }
        if let Some(p) = self.ready.remove(self.epfd.as_raw_fd(), target) {
            self.post(p.sqe.user_data, -libc::ECANCELED);
            return 0;
        }
        match self.pool.cancel(target) {
            pool::Cancelled::Removed => {
                self.post(target, -libc::ECANCELED);
                0
            }
            pool::Cancelled::Running => -libc::EALREADY,
            pool::Cancelled::NotFound => -libc::ENOENT,
        }
    }

    /// Sets the pool's thread cap from `[bounded, unbounded]` (0: keep);
    /// returns the previous `[cap, 0]`.
    pub(crate) fn register_iowq_max_workers(&mut self, max: &mut [u32; 2]) {
        let old = self.pool.set_cap(max[0]);
        *max = [old, 0];
    }

    pub(crate) fn register_buffers_sparse(&mut self, slots: u32) -> io::Result<()> {
        self.tables.bufs_sparse(slots)
    }

    pub(crate) fn register_buffer(&mut self, index: u32, iov: libc::iovec) -> io::Result<()> {
        self.tables.set_buf(index, iov)
    }

    pub(crate) fn register_files_sparse(&mut self, slots: u32) -> io::Result<()> {
        self.tables.files_sparse(slots)
    }

    pub(crate) fn register_file(&mut self, index: u32, fd: RawFd) -> io::Result<()> {
        self.tables.set_file(index, fd)
    }

    pub(crate) fn register_buf_ring(
        &mut self,
        addr: u64,
        entries: u16,
        bgid: u16,
    ) -> io::Result<()> {
        self.tables.add_ring(addr, entries, bgid)
    }

    pub(crate) fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        self.tables.remove_ring(bgid)
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        // Before the eventfd closes (field drop): no thread writes it after.
        self.pool.close();
    }
}
