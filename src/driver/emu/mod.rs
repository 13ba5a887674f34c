//! The epoll backend: an io_uring *emulator* for kernels or sandboxes where
//! io_uring cannot be used (seccomp profiles, `kernel.io_uring_disabled`,
//! old kernels).
//!
//! It is a readiness reactor plus the runtime's one blocking pool. It takes
//! each request as `(user_data, Fallback)`: the typed syscall the op built
//! from its own fields (`sys::syscall`, beside the op's SQE) and where to
//! run it. Nothing here reads an SQE. It posts CQEs with the kernel's
//! semantics (`res` is the result or `-errno`; `F_MORE`, `F_BUFFER` with
//! the buffer id in the high 16 bits, `F_NOTIF`), so the driver above
//! (slots, abandon and cancel, multishot, buffer rings) is the same code
//! on both backends.
//!
//! ## Where a request runs (its `Run`)
//!
//! - **Inline**, in [`Emu::enter`]: `Nop`, `Socket`, `Close`, `Shutdown`,
//!   and the driver's `AsyncCancel`.
//! - **Readiness** ([`ready`]): ops on sockets, pidfds and other pollable
//!   fds (`Recv`, `Send`, `SendZc`, `RecvMsg`, `SendMsg`, `Accept` and
//!   multishot accept, `Connect`, `PollAdd`, `WaitId` on a pidfd, multishot
//!   receive from a provided-buffer ring, the driver's eventfd read). The
//!   syscall is tried without blocking (`MSG_DONTWAIT`, `RWF_NOWAIT`,
//!   `WNOHANG`, or `O_NONBLOCK` set on the socket for `accept`/`connect`,
//!   which have no per-call flag); on `EAGAIN` the op is parked on the fd's
//!   epoll registration and retried when the fd is ready. Sends never raise
//!   `SIGPIPE` (`MSG_NOSIGNAL`), as io_uring's.
//! - **Blocking** (the runtime's pool, `blocking::pool`, through [`jobs`]):
//!   `Fsync`, `Fallocate`, `Ftruncate`, the opens, `Statx`, the path ops,
//!   `Splice`. At most `iowq_max_workers`' bounded limit of them run at
//!   once (16 by default), beside `spawn_blocking` work on the same
//!   threads; a job posts its result through an eventfd in the epoll set.
//! - **By file type**: reads and writes (plain, vectored, fixed) go to the
//!   pool for regular files, block devices and directories, and to
//!   readiness for anything else, as `fstat` says each time (fd numbers are
//!   reused, so nothing is cached).
//!
//! Registered files (`Fd::Fixed`) are resolved through the emulator's own
//! table before a request runs, and fixed buffers are checked against the
//! registered ranges ([`tables`]), as the kernel does.
//!
//! ## Cancel
//!
//! `AsyncCancel` (by `user_data`) finds its target where it is: parked on
//! epoll or queued in the pool and not started → removed, posted with
//! `-ECANCELED`, the cancel gets 0; running in the pool → the cancel gets
//! `-EALREADY` and the target posts its own result when the syscall
//! returns; done or unknown → `-ENOENT`. So, as with the kernel, every
//! request gets exactly its CQE(s) and the cancel one more.
//!
//! ## Memory
//!
//! An op's memory is touched only between its push and the posting of its
//! final CQE: parked ops are retried by the emulator itself, pool jobs by
//! one thread, and each posts its CQE after its last access (a job dropped
//! unrun posts `-ECANCELED`). At close the emulator stops taking results
//! and takes its unstarted jobs out of the pool; a thread still inside a
//! syscall (the driver leaked its op's memory after the shutdown bound)
//! holds only an `Arc` of the result list and does not write the (closed)
//! eventfd.
//!
//! ## Not emulated
//!
//! `MSG_RING` (the runtime wakes other threads through their eventfd
//! instead), direct descriptors, multishot `POLL_ADD`, `RECVMSG` with
//! buffer selection, cancel flags (`ANY`, `FD`, `ALL`), linked SQEs, and
//! every opcode the runtime does not use: they are absent from the probe
//! ([`supports`]), so the runtime's `Unsupported` paths and fallbacks apply;
//! a request whose fallback is `Syscall::Unsupported` completes with
//! `-EINVAL`.
//!
//! ## Costs
//!
//! One `fstat` per read or write (regular file or not), one `epoll_ctl` to
//! re-arm per wait, and a pool hop (two context switches) per file op, where
//! io_uring completes cached reads inline. `enter` is one `epoll_wait` (the
//! runtime's `Stats::enter_calls` counts them).

mod exec;
mod ready;
mod tables;
#[cfg(test)]
mod tests;

use crate::blocking::pool::{self, Pool};
use crate::sys::syscall::{Fallback, Fd, Run, Syscall};
use exec::Kind;
use io_uring::opcode as o;
use ready::{Cqe, Parked, Ready};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `IORING_CQE_F_BUFFER`.
const F_BUFFER: u32 = 1 << 0;
/// `IORING_CQE_F_MORE`.
const F_MORE: u32 = 1 << 1;
/// `IORING_CQE_F_NOTIF`.
const F_NOTIF: u32 = 1 << 3;
/// epoll `data` of the pool's eventfd (fds are never this large).
const POOL_TOKEN: u64 = u64::MAX;

/// The opcodes whose ops have a fallback the emulator runs: its "probe".
/// (The driver checks an op's opcode against it before building anything;
/// the fallback then says how the op runs.)
const EMULATED: [u8; 32] = [
    o::Nop::CODE,
    o::AsyncCancel::CODE,
    o::Close::CODE,
    o::Socket::CODE,
    o::Shutdown::CODE,
    o::Read::CODE,
    o::Write::CODE,
    o::Readv::CODE,
    o::Writev::CODE,
    o::ReadFixed::CODE,
    o::WriteFixed::CODE,
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
    EMULATED.contains(&code)
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
    /// Pushed requests not yet run, at most `sq_cap`.
    sq: VecDeque<(u64, Fallback)>,
    sq_cap: usize,
    /// Posted CQEs not yet drained (never dropped: like `FEAT_NODROP`).
    cq: VecDeque<Cqe>,
    cq_entries: u32,
    ready: Ready,
    /// The runtime's blocking pool, where file and path ops run.
    pool: Arc<Pool>,
    /// Where pool jobs leave their results.
    sink: Arc<super::jobs::Sink>,
    /// Ops on the pool whose result is not collected yet: `user_data` →
    /// pool job id (for cancel), and whether the op is a read or write of
    /// a regular file (which a cancel does not stop; see `cancel`).
    jobs: HashMap<u64, (u64, bool)>,
    tables: tables::Tables,
    events: Vec<libc::epoll_event>,
    /// Whether the kernel has `epoll_pwait2` (Linux 5.11), which takes its
    /// timeout in nanoseconds; without it, `epoll_wait` rounds timeouts up
    /// to whole milliseconds.
    pwait2: bool,
}

impl Emu {
    /// An emulator with an SQ of `entries` (rounded up to a power of two,
    /// like the kernel's) and a CQ size of `cq_entries`, running its
    /// blocking ops on `pool`.
    pub(crate) fn new(entries: u32, cq_entries: u32, pool: Arc<Pool>) -> io::Result<Emu> {
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
        let sink = Arc::new(super::jobs::Sink::new(efd.as_raw_fd()));
        Ok(Emu {
            epfd,
            efd,
            sq: VecDeque::new(),
            sq_cap: entries.next_power_of_two() as usize,
            cq: VecDeque::new(),
            cq_entries,
            ready: Ready::default(),
            pool,
            sink,
            jobs: HashMap::new(),
            tables: tables::Tables::default(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
            pwait2: true,
        })
    }

    /// Queues the request `user_data`, run as `fallback` says; gives it
    /// back if the SQ is full.
    pub(crate) fn push(&mut self, user_data: u64, fallback: Fallback) -> Result<(), Fallback> {
        if self.sq.len() >= self.sq_cap {
            return Err(fallback);
        }
        self.sq.push_back((user_data, fallback));
        Ok(())
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
        self.ready.len() > 0 || !self.jobs.is_empty()
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
        while let Some((user_data, fallback)) = self.sq.pop_front() {
            self.start(user_data, fallback);
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
            self.collect();
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

    /// Moves the results pool jobs left into the CQ.
    fn collect(&mut self) {
        let start = self.cq.len();
        self.sink.collect(&mut self.cq);
        for (user_data, _, _) in self.cq.range(start..) {
            self.jobs.remove(user_data);
        }
    }

    /// Runs one request: inline, parked or pooled (see the module docs).
    fn start(&mut self, user_data: u64, fallback: Fallback) {
        let Fallback { mut call, run } = fallback;
        for fd in call.fds_mut().into_iter().flatten() {
            if let Fd::Fixed(slot) = *fd {
                match self.tables.file(slot) {
                    Ok(raw) => *fd = Fd::Raw(raw),
                    Err(e) => return self.post(user_data, e),
                }
            }
        }
        if let Syscall::Read {
            buf,
            len,
            registered: Some(index),
            ..
        } = call
        {
            if let Err(e) = self.tables.check_buf(index, buf as u64, len) {
                return self.post(user_data, e);
            }
        }
        if let Syscall::Write {
            buf,
            len,
            registered: Some(index),
            ..
        } = call
        {
            if let Err(e) = self.tables.check_buf(index, buf as u64, len) {
                return self.post(user_data, e);
            }
        }
        match call {
            Syscall::AsyncCancel { target } => {
                let r = self.cancel(target);
                return self.post(user_data, r);
            }
            Syscall::Close { fd } => self.ready.forget(self.epfd.as_raw_fd(), fd),
            Syscall::Accept { fd, .. }
            | Syscall::AcceptMulti { fd, .. }
            | Syscall::Connect { fd, .. } => exec::set_nonblocking(fd),
            _ => {}
        }
        let rw = matches!(
            call,
            Syscall::Read { .. }
                | Syscall::Write { .. }
                | Syscall::Readv { .. }
                | Syscall::Writev { .. }
        );
        match run {
            // SAFETY: an inline call returns before its CQE is posted, and
            // names only memory its op owns until then (the driver's
            // contract); slots were resolved above.
            Run::Inline => self.post(user_data, unsafe { call.run(false) }),
            Run::Blocking => self.submit_job(user_data, call, false),
            Run::Readiness if !rw => self.start_ready(user_data, call, Kind::Stream),
            Run::Readiness | Run::ByFileType => {
                let Some(fd) = call.fd() else {
                    return self.post(user_data, -libc::EBADF);
                };
                match exec::kind(fd) {
                    Ok(Kind::Pool) => self.submit_job(user_data, call, rw),
                    Ok(kind) => self.start_ready(user_data, call.at_position(), kind),
                    Err(e) => self.post(user_data, e),
                }
            }
        }
    }

    /// Queues `call` on the blocking pool; `file_rw`: a read or write of
    /// a regular file (see `cancel`).
    fn submit_job(&mut self, user_data: u64, call: Syscall, file_rw: bool) {
        let job = super::jobs::Job::new(call, user_data, self.sink.clone());
        let id = self.pool.submit_io(Box::new(move || job.run()));
        self.jobs.insert(user_data, (id, file_rw));
    }

    /// Tries a readiness op now; parks it if it would block.
    fn start_ready(&mut self, user_data: u64, call: Syscall, kind: Kind) {
        let Some(fd) = call.fd() else {
            return self.post(user_data, -libc::EBADF);
        };
        let mut p = Parked::new(user_data, call, fd, kind);
        if let Some((res, flags)) = ready::attempt(&mut p, &mut self.tables, &mut self.cq) {
            self.cq.push_back((user_data, res, flags));
            return;
        }
        if let Err((p, e)) = self.ready.park(self.epfd.as_raw_fd(), p) {
            self.post(p.user_data, e);
        }
    }

    /// `ASYNC_CANCEL` of `target`; the cancel's own `res`.
    fn cancel(&mut self, target: u64) -> i32 {
        if let Some(p) = self.ready.remove(self.epfd.as_raw_fd(), target) {
            self.post(p.user_data, -libc::ECANCELED);
            return 0;
        }
        let Some(&(id, file_rw)) = self.jobs.get(&target) else {
            return -libc::ENOENT;
        };
        if file_rw {
            // A read or write of a regular file runs to its end, queued or
            // not, as the kernel's does (a cached read completes before a
            // cancel can reach it): so reads cut off right after they were
            // issued still make progress, their bytes going to the next
            // read of the stream, instead of being cancelled every time.
            return -libc::EALREADY;
        }
        match self.pool.cancel(id) {
            pool::Cancelled::Removed(work) => {
                // The job's drop posts its `-ECANCELED`; collected now, so
                // it precedes the cancel's own CQE.
                drop(work);
                self.collect();
                0
            }
            pool::Cancelled::Running => -libc::EALREADY,
            // Finished, its result not collected yet.
            pool::Cancelled::NotFound => -libc::ENOENT,
        }
    }

    /// Caps the ops running on the blocking pool at once from
    /// `[bounded, unbounded]` (0: keep; the unbounded limit has no
    /// counterpart here); returns the previous `[cap, 0]`.
    pub(crate) fn register_iowq_max_workers(&mut self, max: &mut [u32; 2]) {
        let old = self.pool.set_io_cap(max[0]);
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
        // Jobs not started are taken out of the runtime's pool (their ops'
        // memory was leaked by the driver; nothing should run on it now).
        self.sink.close();
        for (id, _) in self.jobs.values() {
            drop(self.pool.cancel(*id));
        }
    }
}
