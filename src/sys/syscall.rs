//! Each op's meaning without io_uring: a typed syscall ([`Syscall`]) and
//! how to run it ([`Run`]), together a [`Fallback`].
//!
//! An op builds its fallback from its own typed fields (its fd, its
//! buffer's pointer and length, its path, its `msghdr`) next to its SQE
//! (`Op::fallback` beside `Op::sqe`), so what an op means is written once
//! per backend in the op itself, and nothing ever reads an SQE back. The
//! epoll driver (`driver::emu`) takes `(user_data, Fallback)` and runs the
//! syscall inline, on readiness, or on the blocking pool, as the fallback
//! says.
//!
//! Building a `Syscall` is safe: it only records addresses. Running one is
//! [`Syscall::run`], whose contract is the op lifecycle's: every address
//! names memory the op owns until its completion is posted.

use std::os::fd::RawFd;

/// A descriptor as an op names it: a plain fd, or a slot of the ring's
/// registered-file table (`IOSQE_FIXED_FILE`), which the backend resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fd {
    /// A plain descriptor.
    Raw(RawFd),
    /// A registered-file slot.
    Fixed(u32),
}

impl Fd {
    /// The plain descriptor; `-EBADF` for a slot the backend did not
    /// resolve first.
    fn raw(self) -> Result<RawFd, i32> {
        match self {
            Fd::Raw(fd) => Ok(fd),
            Fd::Fixed(_) => Err(-libc::EBADF),
        }
    }
}

/// One syscall with its arguments, as an op describes it. Addresses are
/// the op's own memory (see the module docs); offsets of `u64::MAX` mean
/// "the file position", as in an SQE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syscall {
    /// Nothing: completes with 0 (the NOP op exists only for tests and
    /// benchmarks, feature `testing`).
    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))]
    Nop,
    /// `close(fd)`.
    Close { fd: RawFd },
    /// `socket(domain, ty, protocol)`.
    Socket { domain: i32, ty: i32, protocol: i32 },
    /// `shutdown(fd, how)`.
    Shutdown { fd: RawFd, how: i32 },
    /// `pread` into `buf[..len]` at `offset`. `registered`: the buffer is
    /// in slot `index` of the registered-buffer table (`READ_FIXED`),
    /// which the backend checks it against.
    Read {
        fd: Fd,
        buf: *mut u8,
        len: u32,
        offset: u64,
        registered: Option<u16>,
    },
    /// `pwrite` of `buf[..len]` at `offset`; `registered` as for `Read`.
    Write {
        fd: Fd,
        buf: *const u8,
        len: u32,
        offset: u64,
        registered: Option<u16>,
    },
    /// `preadv` into the `n` buffers of `iov` at `offset`.
    Readv {
        fd: Fd,
        iov: *const libc::iovec,
        n: u32,
        offset: u64,
    },
    /// `pwritev` of the `n` buffers of `iov` at `offset`.
    Writev {
        fd: Fd,
        iov: *const libc::iovec,
        n: u32,
        offset: u64,
    },
    /// `fsync(fd)`, or `fdatasync(fd)`.
    Fsync { fd: RawFd, datasync: bool },
    /// `fallocate(fd, mode, offset, len)`.
    Fallocate {
        fd: RawFd,
        mode: i32,
        offset: u64,
        len: u64,
    },
    /// `ftruncate(fd, len)`.
    Ftruncate { fd: RawFd, len: u64 },
    /// `openat(dirfd, path, flags, mode)`.
    OpenAt {
        dirfd: RawFd,
        path: *const libc::c_char,
        flags: i32,
        mode: libc::mode_t,
    },
    /// `openat2(dirfd, path, how, size)`.
    OpenAt2 {
        dirfd: RawFd,
        path: *const libc::c_char,
        how: *const libc::c_void,
        size: usize,
    },
    /// `statx(dirfd, path, flags, mask, out)`.
    Statx {
        dirfd: RawFd,
        path: *const libc::c_char,
        flags: i32,
        mask: u32,
        out: *mut libc::statx,
    },
    /// `unlinkat(dirfd, path, flags)`.
    UnlinkAt {
        dirfd: RawFd,
        path: *const libc::c_char,
        flags: i32,
    },
    /// `renameat2(olddir, old, newdir, new, flags)`.
    RenameAt {
        olddir: RawFd,
        old: *const libc::c_char,
        newdir: RawFd,
        new: *const libc::c_char,
        flags: u32,
    },
    /// `mkdirat(dirfd, path, mode)`.
    MkDirAt {
        dirfd: RawFd,
        path: *const libc::c_char,
        mode: libc::mode_t,
    },
    /// `symlinkat(target, dirfd, link)`.
    SymlinkAt {
        target: *const libc::c_char,
        dirfd: RawFd,
        link: *const libc::c_char,
    },
    /// `linkat(olddir, old, newdir, new, flags)`.
    LinkAt {
        olddir: RawFd,
        old: *const libc::c_char,
        newdir: RawFd,
        new: *const libc::c_char,
        flags: i32,
    },
    /// `splice(from, from_off, to, to_off, len, flags)`; an offset of -1
    /// means the descriptor's position.
    Splice {
        from: Fd,
        from_off: i64,
        to: Fd,
        to_off: i64,
        len: u32,
        flags: u32,
    },
    /// `waitid(idtype, id, infop, options)`.
    WaitId {
        idtype: libc::idtype_t,
        id: libc::id_t,
        infop: *mut libc::siginfo_t,
        options: i32,
    },
    /// `recv(fd, buf, len, flags)`.
    Recv {
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        flags: i32,
    },
    /// Multishot receive into buffers taken from the provided-buffer ring
    /// `bgid` (one completion per receive, with `F_BUFFER` and the buffer
    /// id). The backend runs it: only it knows the ring.
    RecvRing { fd: RawFd, bgid: u16 },
    /// `send(fd, buf, len, flags)`.
    Send {
        fd: RawFd,
        buf: *const u8,
        len: u32,
        flags: i32,
    },
    /// A zero-copy send: as `Send`, then a notification completion
    /// (`F_NOTIF`) once the buffer is free.
    SendZc {
        fd: RawFd,
        buf: *const u8,
        len: u32,
        flags: i32,
    },
    /// `recvmsg(fd, msg, flags)`.
    RecvMsg {
        fd: RawFd,
        msg: *mut libc::msghdr,
        flags: i32,
    },
    /// `sendmsg(fd, msg, flags)`.
    SendMsg {
        fd: RawFd,
        msg: *const libc::msghdr,
        flags: i32,
    },
    /// `accept4(fd, addr, addrlen, flags)`.
    Accept {
        fd: RawFd,
        addr: *mut libc::sockaddr,
        addrlen: *mut libc::socklen_t,
        flags: i32,
    },
    /// Multishot accept: `accept4(fd, NULL, NULL, flags)` for each
    /// connection, one completion each.
    AcceptMulti { fd: RawFd, flags: i32 },
    /// `connect(fd, addr, len)`.
    Connect {
        fd: RawFd,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
    },
    /// One-shot `poll` for `events` (an epoll-style mask).
    PollAdd { fd: RawFd, events: u32 },
    /// Cancels the request whose `user_data` is `target` (the backend's
    /// own bookkeeping, no syscall).
    AsyncCancel { target: u64 },
    /// Not emulated: completes with `-EINVAL`.
    Unsupported,
}

// SAFETY: a `Syscall` is plain data; its addresses name memory the op owns
// until its completion (the driver's contract), and are dereferenced only
// by `run`, whose caller keeps that contract whichever thread it runs on
// (a pool thread runs an op's syscall while the op waits in the driver).
unsafe impl Send for Syscall {}

/// How the epoll backend runs a [`Syscall`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Run {
    /// At once, on the driver's thread (cheap, never blocks).
    Inline,
    /// Tried without blocking; if it would block, parked until epoll says
    /// its fd is ready, then tried again.
    Readiness,
    /// On the blocking pool (it may block on a disk).
    Blocking,
    /// As the fd is: regular files, block devices and directories on the
    /// blocking pool, anything else (sockets, pipes, eventfds, ttys) on
    /// readiness (decided by `fstat` each time: fd numbers are reused).
    ByFileType,
}

/// How an op runs without io_uring: its syscall, and where it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fallback {
    pub(crate) call: Syscall,
    pub(crate) run: Run,
}

impl Fallback {
    /// Runs `call` at once.
    pub(crate) fn inline(call: Syscall) -> Fallback {
        Fallback {
            call,
            run: Run::Inline,
        }
    }

    /// Runs `call` when its fd is ready.
    pub(crate) fn readiness(call: Syscall) -> Fallback {
        Fallback {
            call,
            run: Run::Readiness,
        }
    }

    /// Runs `call` on the blocking pool.
    pub(crate) fn blocking(call: Syscall) -> Fallback {
        Fallback {
            call,
            run: Run::Blocking,
        }
    }

    /// Runs `call` on the pool for files, on readiness for streams.
    pub(crate) fn by_file_type(call: Syscall) -> Fallback {
        Fallback {
            call,
            run: Run::ByFileType,
        }
    }

    /// Not emulated: the op completes with `-EINVAL`.
    pub(crate) fn unsupported() -> Fallback {
        Fallback::inline(Syscall::Unsupported)
    }
}

/// `-errno` of the last failed call.
pub(crate) fn neg_errno() -> i32 {
    -std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A syscall's return value as a completion's `res`.
pub(crate) fn res(r: i64) -> i32 {
    if r < 0 {
        neg_errno()
    } else {
        r as i32
    }
}

/// An `off_t` from an SQE-style offset (`u64::MAX`: -1, the position).
fn off(offset: u64) -> i64 {
    offset as i64
}

/// A null pointer for an offset of -1 (the position), else `slot`.
fn off_ptr(off: i64, slot: &mut i64) -> *mut i64 {
    if off == -1 {
        std::ptr::null_mut()
    } else {
        *slot = off;
        slot
    }
}

impl Syscall {
    /// The descriptors the backend must resolve before running (registered
    /// slots become plain fds).
    pub(crate) fn fds_mut(&mut self) -> [Option<&mut Fd>; 2] {
        match self {
            Syscall::Read { fd, .. }
            | Syscall::Write { fd, .. }
            | Syscall::Readv { fd, .. }
            | Syscall::Writev { fd, .. } => [Some(fd), None],
            Syscall::Splice { from, to, .. } => [Some(from), Some(to)],
            _ => [None, None],
        }
    }

    /// The same call at the file position (offset `u64::MAX`), for streams,
    /// which have none (a pipe refuses any other offset).
    pub(crate) fn at_position(mut self) -> Syscall {
        match &mut self {
            Syscall::Read { offset, .. }
            | Syscall::Write { offset, .. }
            | Syscall::Readv { offset, .. }
            | Syscall::Writev { offset, .. } => *offset = u64::MAX,
            _ => {}
        }
        self
    }

    /// The descriptor a readiness wait is on (after resolution).
    pub(crate) fn fd(&self) -> Option<RawFd> {
        match *self {
            Syscall::Read { fd, .. }
            | Syscall::Write { fd, .. }
            | Syscall::Readv { fd, .. }
            | Syscall::Writev { fd, .. } => fd.raw().ok(),
            Syscall::Splice { to, .. } => to.raw().ok(),
            Syscall::Close { fd }
            | Syscall::Shutdown { fd, .. }
            | Syscall::Fsync { fd, .. }
            | Syscall::Fallocate { fd, .. }
            | Syscall::Ftruncate { fd, .. }
            | Syscall::Recv { fd, .. }
            | Syscall::RecvRing { fd, .. }
            | Syscall::Send { fd, .. }
            | Syscall::SendZc { fd, .. }
            | Syscall::RecvMsg { fd, .. }
            | Syscall::SendMsg { fd, .. }
            | Syscall::Accept { fd, .. }
            | Syscall::AcceptMulti { fd, .. }
            | Syscall::Connect { fd, .. }
            | Syscall::PollAdd { fd, .. } => Some(fd),
            Syscall::WaitId { id, .. } => Some(id as RawFd),
            _ => None,
        }
    }

    /// Whether it moves data out (ready means writable).
    pub(crate) fn writes(&self) -> bool {
        matches!(
            self,
            Syscall::Write { .. }
                | Syscall::Writev { .. }
                | Syscall::Send { .. }
                | Syscall::SendZc { .. }
                | Syscall::SendMsg { .. }
                | Syscall::Connect { .. }
        )
    }

    /// The epoll events that let it make progress.
    pub(crate) fn interest(&self) -> u32 {
        match *self {
            Syscall::PollAdd { events, .. } => events & 0xffff,
            _ if self.writes() => libc::EPOLLOUT as u32,
            _ => (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
        }
    }

    /// Runs the syscall once and returns the completion's `res` (the
    /// result, or `-errno`). With `nonblocking`, calls that would block
    /// fail with `-EAGAIN` instead (`MSG_DONTWAIT`, `RWF_NOWAIT`,
    /// `WNOHANG`; `accept` and `connect` rely on the socket being
    /// `O_NONBLOCK`, which the backend sets). Sends never raise `SIGPIPE`.
    /// `RecvRing`, `AsyncCancel` and `Unsupported` are the backend's own
    /// and give `-EINVAL` here; `AcceptMulti` accepts one connection.
    ///
    /// # Safety
    ///
    /// Every address in `self` names memory that stays valid (and is not
    /// otherwise accessed) until the op's completion is posted, with the
    /// lengths beside it; fixed-file slots were resolved (`fds_mut`).
    pub(crate) unsafe fn run(&self, nonblocking: bool) -> i32 {
        let dontwait = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
        let nowait = if nonblocking { libc::RWF_NOWAIT } else { 0 };
        // SAFETY: (whole match) each call passes the op's own addresses
        // with the lengths it put next to them (this function's contract),
        // or live locals; integers otherwise.
        let r: i64 = unsafe {
            match *self {
                Syscall::Nop => 0,
                Syscall::Close { fd } => libc::close(fd).into(),
                Syscall::Socket {
                    domain,
                    ty,
                    protocol,
                } => libc::socket(domain, ty, protocol).into(),
                Syscall::Shutdown { fd, how } => libc::shutdown(fd, how).into(),
                Syscall::Read {
                    fd,
                    buf,
                    len,
                    offset,
                    ..
                } => {
                    let iov = libc::iovec {
                        iov_base: buf.cast(),
                        iov_len: len as usize,
                    };
                    match fd.raw() {
                        Ok(fd) => libc::preadv2(fd, &iov, 1, off(offset), nowait) as i64,
                        Err(e) => return e,
                    }
                }
                Syscall::Write {
                    fd,
                    buf,
                    len,
                    offset,
                    ..
                } => {
                    let iov = libc::iovec {
                        iov_base: buf.cast_mut().cast(),
                        iov_len: len as usize,
                    };
                    match fd.raw() {
                        Ok(fd) => libc::pwritev2(fd, &iov, 1, off(offset), nowait) as i64,
                        Err(e) => return e,
                    }
                }
                Syscall::Readv { fd, iov, n, offset } => match fd.raw() {
                    Ok(fd) => libc::preadv2(fd, iov, n as i32, off(offset), nowait) as i64,
                    Err(e) => return e,
                },
                Syscall::Writev { fd, iov, n, offset } => match fd.raw() {
                    Ok(fd) => libc::pwritev2(fd, iov, n as i32, off(offset), nowait) as i64,
                    Err(e) => return e,
                },
                Syscall::Fsync { fd, datasync: true } => libc::fdatasync(fd).into(),
                Syscall::Fsync { fd, .. } => libc::fsync(fd).into(),
                Syscall::Fallocate {
                    fd,
                    mode,
                    offset,
                    len,
                } => libc::fallocate(fd, mode, offset as i64, len as i64).into(),
                Syscall::Ftruncate { fd, len } => libc::ftruncate(fd, len as i64).into(),
                Syscall::OpenAt {
                    dirfd,
                    path,
                    flags,
                    mode,
                } => libc::openat(dirfd, path, flags | libc::O_LARGEFILE, mode).into(),
                Syscall::OpenAt2 {
                    dirfd,
                    path,
                    how,
                    size,
                } => libc::syscall(libc::SYS_openat2, dirfd, path, how, size),
                Syscall::Statx {
                    dirfd,
                    path,
                    flags,
                    mask,
                    out,
                } => libc::statx(dirfd, path, flags, mask, out).into(),
                Syscall::UnlinkAt { dirfd, path, flags } => {
                    libc::unlinkat(dirfd, path, flags).into()
                }
                Syscall::RenameAt {
                    olddir,
                    old,
                    newdir,
                    new,
                    flags,
                } => libc::renameat2(olddir, old, newdir, new, flags).into(),
                Syscall::MkDirAt { dirfd, path, mode } => libc::mkdirat(dirfd, path, mode).into(),
                Syscall::SymlinkAt {
                    target,
                    dirfd,
                    link,
                } => libc::symlinkat(target, dirfd, link).into(),
                Syscall::LinkAt {
                    olddir,
                    old,
                    newdir,
                    new,
                    flags,
                } => libc::linkat(olddir, old, newdir, new, flags).into(),
                Syscall::Splice {
                    from,
                    from_off,
                    to,
                    to_off,
                    len,
                    flags,
                } => {
                    let (Ok(from), Ok(to)) = (from.raw(), to.raw()) else {
                        return -libc::EBADF;
                    };
                    let (mut oin, mut oout) = (0i64, 0i64);
                    let pin = off_ptr(from_off, &mut oin);
                    let pout = off_ptr(to_off, &mut oout);
                    let flags = flags
                        | if nonblocking {
                            libc::SPLICE_F_NONBLOCK
                        } else {
                            0
                        };
                    libc::splice(from, pin, to, pout, len as usize, flags) as i64
                }
                Syscall::WaitId {
                    idtype,
                    id,
                    infop,
                    options,
                } => return waitid(idtype, id, infop, options, nonblocking),
                Syscall::Recv {
                    fd,
                    buf,
                    len,
                    flags,
                } => libc::recv(fd, buf.cast(), len as usize, flags | dontwait) as i64,
                Syscall::Send {
                    fd,
                    buf,
                    len,
                    flags,
                }
                | Syscall::SendZc {
                    fd,
                    buf,
                    len,
                    flags,
                } => libc::send(
                    fd,
                    buf.cast(),
                    len as usize,
                    flags | dontwait | libc::MSG_NOSIGNAL,
                ) as i64,
                Syscall::RecvMsg { fd, msg, flags } => {
                    libc::recvmsg(fd, msg, flags | dontwait) as i64
                }
                Syscall::SendMsg { fd, msg, flags } => {
                    libc::sendmsg(fd, msg, flags | dontwait | libc::MSG_NOSIGNAL) as i64
                }
                Syscall::Accept {
                    fd,
                    addr,
                    addrlen,
                    flags,
                } => libc::accept4(fd, addr, addrlen, flags).into(),
                Syscall::AcceptMulti { fd, flags } => {
                    libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), flags).into()
                }
                Syscall::Connect { fd, addr, len } => libc::connect(fd, addr, len).into(),
                Syscall::PollAdd { fd, events } => return poll_now(fd, (events & 0xffff) as i16),
                Syscall::RecvRing { .. } | Syscall::AsyncCancel { .. } | Syscall::Unsupported => {
                    return -libc::EINVAL
                }
            }
        };
        res(r)
    }

    /// A READ/WRITE-family call on a socket, without blocking:
    /// `recvmsg`/`sendmsg` with `MSG_DONTWAIT` (and `MSG_NOSIGNAL`), since
    /// `RWF_NOWAIT` is not for sockets. Other calls: as `run(true)`.
    ///
    /// # Safety
    ///
    /// As for [`run`](Syscall::run).
    pub(crate) unsafe fn run_on_socket(&self) -> i32 {
        let (fd, iov, n, write) = match *self {
            Syscall::Read { fd, buf, len, .. } => (fd, buf, len as usize, false),
            Syscall::Write { fd, buf, len, .. } => (fd, buf.cast_mut(), len as usize, true),
            Syscall::Readv { fd, iov, n, .. } => return rw_msg(fd, iov, n as usize, false),
            Syscall::Writev { fd, iov, n, .. } => return rw_msg(fd, iov, n as usize, true),
            // SAFETY: forwarded from this function's contract.
            _ => return unsafe { self.run(true) },
        };
        let one = libc::iovec {
            iov_base: iov.cast(),
            iov_len: n,
        };
        rw_msg(fd, &one, 1, write)
    }
}

/// `recvmsg`/`sendmsg` of `n` buffers at `iov`, without blocking.
fn rw_msg(fd: Fd, iov: *const libc::iovec, n: usize, write: bool) -> i32 {
    let fd = match fd.raw() {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    // SAFETY: an all-zero msghdr is valid (no name, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.cast_mut();
    msg.msg_iovlen = n;
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: `msg` names only the op's buffers (the callers' contract:
    // valid until the op's completion) and lives across the call.
    res(unsafe {
        if write {
            libc::sendmsg(fd, &msg, flags) as i64
        } else {
            libc::recvmsg(fd, &mut msg, flags) as i64
        }
    })
}

/// `waitid`; with `nonblocking`, `WNOHANG` into a local first, copied to
/// the op's `infop` (if any) only once a child has exited (`-EAGAIN`
/// while it runs).
///
/// # Safety
///
/// `infop` is null or the op's own `siginfo_t`, valid until its completion.
unsafe fn waitid(
    idtype: libc::idtype_t,
    id: libc::id_t,
    infop: *mut libc::siginfo_t,
    options: i32,
    nonblocking: bool,
) -> i32 {
    if !nonblocking {
        // SAFETY: `infop` is the op's (this function's contract).
        return res(unsafe { libc::waitid(idtype, id, infop, options) }.into());
    }
    // SAFETY: an all-zero siginfo is valid (and says "no child").
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes one siginfo into the live local.
    let r = unsafe { libc::waitid(idtype, id, &mut info, options | libc::WNOHANG) };
    if r < 0 {
        return neg_errno();
    }
    // SAFETY: reading si_pid of a siginfo waitid filled (or left zero).
    if unsafe { info.si_pid() } == 0 {
        return -libc::EAGAIN;
    }
    if !infop.is_null() {
        // SAFETY: `infop` is the op's own siginfo (this function's
        // contract), written before its completion is posted.
        unsafe { std::ptr::write_unaligned(infop, info) };
    }
    0
}

/// `poll(fd, events, 0)`: the ready events (`POLLERR`/`POLLHUP` always
/// included), `-EAGAIN` if none.
pub(crate) fn poll_now(fd: RawFd, events: i16) -> i32 {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: polls one live local pollfd, without waiting.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n < 0 {
        return neg_errno();
    }
    match i32::from(p.revents as u16) {
        0 => -libc::EAGAIN,
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_read_into_the_named_buffer_only() {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds into the live local array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let (r, w) = (fds[0], fds[1]);
        assert_eq!(write_all(w, b"hello"), 5);
        let mut buf = [0u8; 8];
        let call = Syscall::Read {
            fd: Fd::Raw(r),
            buf: buf[1..].as_mut_ptr(),
            len: 3,
            offset: u64::MAX,
            registered: None,
        };
        // SAFETY: `buf` outlives the call.
        assert_eq!(unsafe { call.run(true) }, 3);
        assert_eq!(&buf, b"\0hel\0\0\0\0");
        // SAFETY: as above.
        assert_eq!(unsafe { call.run(true) }, 2);
        // Nothing left: would block, without blocking.
        // SAFETY: as above.
        assert_eq!(unsafe { call.run(true) }, -libc::EAGAIN);
        let slot = Syscall::Read {
            fd: Fd::Fixed(0),
            buf: buf.as_mut_ptr(),
            len: 1,
            offset: u64::MAX,
            registered: None,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { slot.run(true) }, -libc::EBADF, "unresolved slot");
        for fd in [r, w] {
            // SAFETY: a syscall on integers only.
            assert_eq!(unsafe { Syscall::Close { fd }.run(false) }, 0);
        }
    }

    fn write_all(fd: RawFd, bytes: &[u8]) -> i32 {
        let call = Syscall::Write {
            fd: Fd::Raw(fd),
            buf: bytes.as_ptr(),
            len: bytes.len() as u32,
            offset: u64::MAX,
            registered: None,
        };
        // SAFETY: `bytes` outlives the call.
        unsafe { call.run(false) }
    }
}
