//! The readiness side: ops on sockets, pipes, eventfds, signalfds, pidfds
//! and ttys are tried without blocking; one that would block is parked on
//! its fd and tried again when epoll says the fd is ready.
//!
//! ## One `EPOLLONESHOT` registration per fd
//!
//! Each fd with parked ops has one registration whose interest is the
//! union of what its ops wait for (`EPOLLIN`, `EPOLLOUT`, a poll mask),
//! with `EPOLLONESHOT`: after an event it is disarmed, the ops it concerns
//! are retried in arrival order, and it is re-armed (`EPOLL_CTL_MOD`) only
//! if some still wait. Edge-triggered mode would save that re-arm, but an
//! edge-triggered registration that outlives its fd number (a closed fd
//! whose file lives on in a dup, the number then reused) goes silent for
//! the new file; with one-shot, re-arming through `MOD` names the *current*
//! file of the number, `ENOENT` says it is a new file, and it is added. A
//! stale registration can at worst deliver one spurious event, and every
//! event only leads to a retry of the syscall, so spurious events are
//! harmless.

use super::exec::{self, Kind};
use super::tables::Tables;
use super::{F_BUFFER, F_MORE, F_NOTIF};
use crate::sys::syscall::{self, neg_errno, Syscall};
use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;

/// A CQE waiting to be drained: `(user_data, res, flags)`.
pub(super) type Cqe = (u64, i32, u32);

/// An op waiting for its fd.
pub(super) struct Parked {
    pub(super) user_data: u64,
    /// The op's syscall, fixed-file slots resolved.
    pub(super) call: Syscall,
    /// The fd it waits on.
    fd: RawFd,
    /// What readiness lets it make progress (`EPOLL*` bits).
    pub(super) events: u32,
    pub(super) kind: Kind,
    /// A non-blocking connect is in progress: readiness means "read
    /// `SO_ERROR`", not "call connect again".
    connecting: bool,
}

impl Parked {
    pub(super) fn new(user_data: u64, call: Syscall, fd: RawFd, kind: Kind) -> Parked {
        Parked {
            user_data,
            call,
            fd,
            events: call.interest(),
            kind,
            connecting: false,
        }
    }
}

/// The ops parked on one fd.
#[derive(Default)]
struct FdWait {
    waiters: Vec<Parked>,
    /// The interest the registration is armed with (0: disarmed).
    armed: u32,
    /// Whether this fd number was added to the epoll set (it may have been
    /// closed since: see the module docs).
    added: bool,
}

/// Parked ops by fd, and where each `user_data` is.
#[derive(Default)]
pub(super) struct Ready {
    fds: HashMap<RawFd, FdWait>,
    by_data: HashMap<u64, RawFd>,
}

impl Ready {
    /// Ops parked now.
    pub(super) fn len(&self) -> usize {
        self.by_data.len()
    }

    /// Parks `p` on its fd and arms the registration; `Err(res)` if epoll
    /// refuses the fd (the op is then completed with it).
    pub(super) fn park(&mut self, epfd: RawFd, p: Parked) -> Result<(), (Parked, i32)> {
        let fd = p.fd;
        let w = self.fds.entry(fd).or_default();
        w.waiters.push(p);
        if let Err(e) = arm(epfd, fd, w) {
            let p = w.waiters.pop().expect("just pushed");
            return Err((p, e));
        }
        let ud = w.waiters.last().expect("just pushed").user_data;
        self.by_data.insert(ud, fd);
        Ok(())
    }

    /// Removes the parked op `user_data`, if parked.
    pub(super) fn remove(&mut self, epfd: RawFd, user_data: u64) -> Option<Parked> {
        let fd = self.by_data.remove(&user_data)?;
        let w = self.fds.get_mut(&fd)?;
        let pos = w.waiters.iter().position(|p| p.user_data == user_data)?;
        // Keep arrival order of the others; the registration may fire once
        // for nothing, which is harmless.
        let p = w.waiters.remove(pos);
        if w.waiters.is_empty() {
            // No registration stays armed without waiters: the fd may be
            // closed next without a CLOSE op (the kernel then drops the
            // registration behind our back) and its number reused, and an
            // `armed` left here would skip arming the new file.
            self.fds.remove(&fd);
            // SAFETY: EPOLL_CTL_DEL takes no event pointer.
            unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
        }
        Some(p)
    }

    /// `fd` is being closed by a CLOSE op: drop its registration (a dup of
    /// the file elsewhere would keep it alive under this number).
    pub(super) fn forget(&mut self, epfd: RawFd, fd: RawFd) {
        if let Some(w) = self.fds.get(&fd) {
            if w.waiters.is_empty() {
                if w.added {
                    // SAFETY: EPOLL_CTL_DEL takes no event pointer.
                    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
                }
                self.fds.remove(&fd);
            }
        }
    }

    /// epoll reported `revents` on `fd`: retry the ops it concerns, post
    /// what completes into `cq`, re-arm for the rest.
    pub(super) fn on_event(
        &mut self,
        epfd: RawFd,
        fd: RawFd,
        revents: u32,
        tables: &mut Tables,
        cq: &mut VecDeque<Cqe>,
    ) {
        let Some(w) = self.fds.get_mut(&fd) else {
            return;
        };
        w.armed = 0;
        let all = revents & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
        let waiters = std::mem::take(&mut w.waiters);
        for mut p in waiters {
            if !all && p.events & revents == 0 {
                w.waiters.push(p);
                continue;
            }
            match attempt(&mut p, tables, cq) {
                Some((res, flags)) => {
                    self.by_data.remove(&p.user_data);
                    cq.push_back((p.user_data, res, flags));
                }
                None => w.waiters.push(p),
            }
        }
        if let Err(e) = arm(epfd, fd, w) {
            for p in w.waiters.drain(..) {
                self.by_data.remove(&p.user_data);
                cq.push_back((p.user_data, e, 0));
            }
        }
    }
}

/// Arms `fd`'s registration for its waiters' interest, if not armed so.
fn arm(epfd: RawFd, fd: RawFd, w: &mut FdWait) -> Result<(), i32> {
    let want = w.waiters.iter().fold(0, |m, p| m | p.events);
    if want == 0 || want == w.armed {
        return Ok(());
    }
    let mut ev = libc::epoll_event {
        events: want | libc::EPOLLONESHOT as u32,
        u64: fd as u64,
    };
    let mut ctl = |op| {
        // SAFETY: epoll_ctl reads one live local epoll_event.
        unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) }
    };
    let first = if w.added {
        libc::EPOLL_CTL_MOD
    } else {
        libc::EPOLL_CTL_ADD
    };
    let mut r = ctl(first);
    if r < 0 {
        let e = neg_errno();
        r = if e == -libc::ENOENT {
            ctl(libc::EPOLL_CTL_ADD)
        } else if e == -libc::EEXIST {
            ctl(libc::EPOLL_CTL_MOD)
        } else {
            return Err(e);
        };
        if r < 0 {
            return Err(neg_errno());
        }
    }
    w.added = true;
    w.armed = want;
    Ok(())
}

/// `Some(r)` unless `r` says "would block".
fn nb(r: i32) -> Option<i32> {
    (r != -libc::EAGAIN).then_some(r)
}

/// Tries the op once more without blocking: its final `(res, flags)`, or
/// `None` to keep it parked. Multishot ops post their intermediate CQEs
/// (with `F_MORE`) into `cq` themselves.
pub(super) fn attempt(
    p: &mut Parked,
    tables: &mut Tables,
    cq: &mut VecDeque<Cqe>,
) -> Option<(i32, u32)> {
    let (ud, fd) = (p.user_data, p.fd);
    let done = |r: i32| (r, 0);
    // SAFETY: (each `run` below) the call's addresses name memory (buffers,
    // msghdrs, sockaddrs and their lengths) that the op owns until its CQE,
    // which is posted only after the call returns; slots were resolved.
    match p.call {
        Syscall::RecvRing { bgid, .. } => recv_select(ud, fd, bgid, tables, cq),
        Syscall::SendZc { .. } => {
            // SAFETY: see above.
            let r = nb(unsafe { p.call.run(true) })?;
            // As the kernel: the result with F_MORE, then the notification
            // that the buffer is free again.
            cq.push_back((ud, r, F_MORE));
            Some((0, F_NOTIF))
        }
        Syscall::AcceptMulti { .. } => loop {
            // SAFETY: see above.
            let r = nb(unsafe { p.call.run(true) })?;
            if r < 0 {
                return Some(done(r));
            }
            cq.push_back((ud, r, F_MORE));
        },
        Syscall::Connect { .. } if p.connecting => {
            nb(syscall::poll_now(fd, libc::POLLOUT))?;
            Some(done(exec::so_error(fd)))
        }
        Syscall::Connect { .. } => {
            // SAFETY: see above.
            let r = unsafe { p.call.run(true) };
            if r == -libc::EINPROGRESS {
                p.connecting = true;
                return None;
            }
            nb(r).map(done)
        }
        Syscall::Read { .. }
        | Syscall::Write { .. }
        | Syscall::Readv { .. }
        | Syscall::Writev { .. } => stream_rw(p).map(done),
        // SAFETY: see above.
        _ => nb(unsafe { p.call.run(true) }).map(done),
    }
}

/// A READ/WRITE family op on a socket or other non-file, without blocking.
fn stream_rw(p: &Parked) -> Option<i32> {
    if p.kind == Kind::Sock {
        // SAFETY: as in `attempt`.
        return nb(unsafe { p.call.run_on_socket() });
    }
    // SAFETY: as in `attempt`.
    match unsafe { p.call.run(true) } {
        e if e == -libc::EAGAIN => None,
        e if e == -libc::EOPNOTSUPP => {
            // No RWF_NOWAIT here (a tty, some devices): only call when poll
            // says it would not block. (A second reader of the same
            // blocking fd could still take the data in between.)
            let want = if p.call.writes() {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            nb(syscall::poll_now(p.fd, want))?;
            // SAFETY: as in `attempt`.
            Some(unsafe { p.call.run(false) })
        }
        r => Some(r),
    }
}

/// Multishot RECV from provided-buffer group `bgid`: each read takes the
/// next buffer of the group and is posted with `F_BUFFER | bid << 16` and
/// `F_MORE`. An empty ring fails with `ENOBUFS` only once data is waiting
/// (as the kernel, which picks a buffer when data arrives), which ends it.
fn recv_select(
    ud: u64,
    fd: RawFd,
    bgid: u16,
    tables: &mut Tables,
    cq: &mut VecDeque<Cqe>,
) -> Option<(i32, u32)> {
    let flags = libc::MSG_DONTWAIT;
    loop {
        let pick = match tables.peek(bgid) {
            Ok(p) => p,
            Err(e) => {
                let mut byte = 0u8;
                // SAFETY: peeks at most one byte into a live local.
                let r = unsafe {
                    libc::recv(fd, (&mut byte as *mut u8).cast(), 1, flags | libc::MSG_PEEK)
                };
                let r = nb(syscall::res(r as i64))?;
                return Some((if r > 0 { e } else { r }, 0));
            }
        };
        // SAFETY: the provided buffer `pick` is `pick.len` bytes of the
        // ring's memory, handed to us (the "kernel") by the application,
        // which keeps it mapped while the ring is registered.
        let r = unsafe { libc::recv(fd, pick.addr as *mut _, pick.len as usize, flags) };
        let r = nb(syscall::res(r as i64))?;
        if r <= 0 {
            return Some((r, 0));
        }
        tables.consume(bgid);
        cq.push_back((ud, r, F_BUFFER | (u32::from(pick.bid) << 16) | F_MORE));
    }
}
