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

use super::exec::{self, nb, Kind};
use super::tables::Tables;
use super::{ACCEPT_MULTISHOT, F_BUFFER, F_MORE, F_NOTIF, RECV_MULTISHOT};
use crate::driver::sqe::Sqe;
use io_uring::opcode as o;
use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;

/// A CQE waiting to be drained: `(user_data, res, flags)`.
pub(super) type Cqe = (u64, i32, u32);

/// An op waiting for its fd.
pub(super) struct Parked {
    pub(super) sqe: Sqe,
    /// What readiness lets it make progress (`EPOLL*` bits).
    pub(super) events: u32,
    pub(super) kind: Kind,
    /// A non-blocking connect is in progress: readiness means "read
    /// `SO_ERROR`", not "call connect again".
    connecting: bool,
}

impl Parked {
    pub(super) fn new(sqe: Sqe, kind: Kind) -> Parked {
        let read = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
        let write = libc::EPOLLOUT as u32;
        let events = match sqe.opcode {
            o::Send::CODE
            | o::SendZc::CODE
            | o::SendMsg::CODE
            | o::Connect::CODE
            | o::Write::CODE
            | o::Writev::CODE
            | o::WriteFixed::CODE => write,
            // The kernel takes `events` as an epoll-style mask.
            o::PollAdd::CODE => sqe.op_flags & 0xffff,
            _ => read,
        };
        Parked {
            sqe,
            events,
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
        let fd = p.sqe.fd;
        let w = self.fds.entry(fd).or_default();
        w.waiters.push(p);
        if let Err(e) = arm(epfd, fd, w) {
            let p = w.waiters.pop().expect("just pushed");
            return Err((p, e));
        }
        let ud = w.waiters.last().expect("just pushed").sqe.user_data;
        self.by_data.insert(ud, fd);
        Ok(())
    }

    /// Removes the parked op `user_data`, if parked.
    pub(super) fn remove(&mut self, epfd: RawFd, user_data: u64) -> Option<Parked> {
        let fd = self.by_data.remove(&user_data)?;
        let w = self.fds.get_mut(&fd)?;
        let pos = w
            .waiters
            .iter()
            .position(|p| p.sqe.user_data == user_data)?;
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
                    self.by_data.remove(&p.sqe.user_data);
                    cq.push_back((p.sqe.user_data, res, flags));
                }
                None => w.waiters.push(p),
            }
        }
        if let Err(e) = arm(epfd, fd, w) {
            for p in w.waiters.drain(..) {
                self.by_data.remove(&p.sqe.user_data);
                cq.push_back((p.sqe.user_data, e, 0));
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
        let e = exec::neg_errno();
        r = if e == -libc::ENOENT {
            ctl(libc::EPOLL_CTL_ADD)
        } else if e == -libc::EEXIST {
            ctl(libc::EPOLL_CTL_MOD)
        } else {
            return Err(e);
        };
        if r < 0 {
            return Err(exec::neg_errno());
        }
    }
    w.added = true;
    w.armed = want;
    Ok(())
}

/// Tries the op once more without blocking: its final `(res, flags)`, or
/// `None` to keep it parked. Multishot ops post their intermediate CQEs
/// (with `F_MORE`) into `cq` themselves.
pub(super) fn attempt(
    p: &mut Parked,
    tables: &mut Tables,
    cq: &mut VecDeque<Cqe>,
) -> Option<(i32, u32)> {
    let s = p.sqe;
    let fd = s.fd;
    let flags = s.op_flags as i32;
    let done = |r: i32| (r, 0);
    // SAFETY (every call below): the addresses come from the SQE and name
    // memory (buffers, msghdrs, sockaddrs and their lengths) that the op
    // owns until its CQE, which is posted only after the call returns.
    match s.opcode {
        o::Recv::CODE if s.buffer_select() => recv_select(&s, tables, cq),
        // SAFETY: the SQE's addresses name memory the op owns until its
        // CQE, posted after this call (see the note on this function).
        o::Recv::CODE => nb(unsafe {
            libc::recv(
                fd,
                s.addr as *mut _,
                s.len as usize,
                flags | libc::MSG_DONTWAIT,
            ) as i64
        })
        .map(done),
        o::Send::CODE | o::SendZc::CODE => {
            let dest = s.off as *const libc::sockaddr;
            let dest_len = (s.file_index & 0xffff) as libc::socklen_t;
            // SAFETY: the SQE's addresses name memory the op owns until its
            // CQE, posted after this call (see the note on this function).
            let r = nb(unsafe {
                libc::sendto(
                    fd,
                    s.addr as *const _,
                    s.len as usize,
                    flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    dest,
                    if dest.is_null() { 0 } else { dest_len },
                ) as i64
            })?;
            if s.opcode == o::SendZc::CODE {
                // As the kernel: the result with F_MORE, then the
                // notification that the buffer is free again.
                cq.push_back((s.user_data, r, F_MORE));
                return Some((0, F_NOTIF));
            }
            Some(done(r))
        }
        o::RecvMsg::CODE if s.buffer_select() => Some(done(-libc::EINVAL)),
        // SAFETY: the SQE's addresses name memory the op owns until its
        // CQE, posted after this call (see the note on this function).
        o::RecvMsg::CODE => nb(unsafe {
            libc::recvmsg(fd, s.addr as *mut libc::msghdr, flags | libc::MSG_DONTWAIT) as i64
        })
        .map(done),
        // SAFETY: the SQE's addresses name memory the op owns until its
        // CQE, posted after this call (see the note on this function).
        o::SendMsg::CODE => nb(unsafe {
            libc::sendmsg(
                fd,
                s.addr as *const libc::msghdr,
                flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            ) as i64
        })
        .map(done),
        o::Accept::CODE => loop {
            // SAFETY: the SQE's addresses name memory the op owns until its
            // CQE, posted after this call (see the note on this function).
            let r = nb(unsafe {
                libc::accept4(
                    fd,
                    s.addr as *mut libc::sockaddr,
                    s.off as *mut libc::socklen_t,
                    flags,
                ) as i64
            })?;
            if s.ioprio & ACCEPT_MULTISHOT == 0 || r < 0 {
                return Some(done(r));
            }
            cq.push_back((s.user_data, r, F_MORE));
        },
        o::Connect::CODE if p.connecting => {
            let ready = exec::poll_now(fd, libc::POLLOUT);
            if ready == 0 {
                return None;
            }
            Some(done(exec::so_error(fd)))
        }
        o::Connect::CODE => {
            // SAFETY: the SQE's addresses name memory the op owns until its
            // CQE, posted after this call (see the note on this function).
            let r = exec::res(unsafe {
                libc::connect(
                    fd,
                    s.addr as *const libc::sockaddr,
                    s.off as libc::socklen_t,
                ) as i64
            });
            if r == -libc::EINPROGRESS {
                p.connecting = true;
                return None;
            }
            (r != -libc::EAGAIN).then_some(done(r))
        }
        o::PollAdd::CODE => {
            let r = exec::poll_now(fd, (p.events & 0xffff) as i16);
            (r != 0).then_some(done(r))
        }
        o::WaitId::CODE => exec::waitid_nohang(&s).map(done),
        _ => exec::stream_rw(&s, p.kind).map(done),
    }
}

/// RECV with `IOSQE_BUFFER_SELECT`, single or multishot: each read takes
/// the next buffer of the group and is posted with `F_BUFFER | bid << 16`.
/// An empty ring fails with `ENOBUFS` only once data is waiting (as the
/// kernel, which picks a buffer when data arrives), which ends a multishot.
fn recv_select(s: &Sqe, tables: &mut Tables, cq: &mut VecDeque<Cqe>) -> Option<(i32, u32)> {
    let multi = s.ioprio & RECV_MULTISHOT != 0;
    let flags = s.op_flags as i32 | libc::MSG_DONTWAIT;
    loop {
        let pick = match tables.peek(s.buf_index) {
            Ok(p) => p,
            Err(e) => {
                let mut byte = 0u8;
                // SAFETY: peeks at most one byte into a live local.
                let r = nb(unsafe {
                    libc::recv(
                        s.fd,
                        (&mut byte as *mut u8).cast(),
                        1,
                        flags | libc::MSG_PEEK,
                    ) as i64
                })?;
                return Some((if r > 0 { e } else { r }, 0));
            }
        };
        let len = if s.len == 0 {
            pick.len
        } else {
            s.len.min(pick.len)
        };
        // SAFETY: the provided buffer `pick` is `pick.len` bytes of the
        // ring's memory, handed to us (the "kernel") by the application,
        // which keeps it mapped while the ring is registered.
        let r = nb(unsafe { libc::recv(s.fd, pick.addr as *mut _, len as usize, flags) as i64 })?;
        if r <= 0 {
            return Some((r, 0));
        }
        tables.consume(s.buf_index);
        let cflags = F_BUFFER | (u32::from(pick.bid) << 16);
        if !multi {
            return Some((r, cflags));
        }
        cq.push_back((s.user_data, r, cflags | F_MORE));
    }
}
