//! The syscalls behind each emulated opcode: [`blocking`] for pool jobs
//! (may block), and the non-blocking attempts the readiness side makes
//! (`None`: "would block", park and retry when epoll says ready).
//!
//! Every address used here comes from an SQE whose op owns the memory until
//! its CQE is posted (the driver's contract); nothing here keeps an address
//! past the call.

use crate::driver::sqe::Sqe;
use io_uring::opcode as o;

/// `-errno` of the last failed call.
pub(super) fn neg_errno() -> i32 {
    -std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A syscall's return value as a CQE `res`.
pub(super) fn res(r: i64) -> i32 {
    if r < 0 {
        neg_errno()
    } else {
        r as i32
    }
}

/// Like [`res`], but `None` for `EAGAIN`/`EWOULDBLOCK`.
pub(super) fn nb(r: i64) -> Option<i32> {
    match res(r) {
        e if e == -libc::EAGAIN => None,
        r => Some(r),
    }
}

/// `SPLICE_F_FD_IN_FIXED`: the splice's input is a file-table slot.
pub(super) const SPLICE_F_FD_IN_FIXED: u32 = 1 << 31;
/// `IORING_FSYNC_DATASYNC`.
const FSYNC_DATASYNC: u32 = 1;

/// How an op on a descriptor is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Regular file, block device, directory: on the pool.
    Pool,
    /// A socket: `recvmsg`/`sendmsg` with `MSG_DONTWAIT`.
    Sock,
    /// Anything else (pipe, eventfd, signalfd, tty, ...): `preadv2` and
    /// `pwritev2` with `RWF_NOWAIT`, or a zero-timeout `poll` first where
    /// the file does not support that.
    Stream,
}

/// Classifies `fd` by `fstat` (nothing cached: fd numbers are reused).
pub(super) fn kind(fd: i32) -> Result<Kind, i32> {
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one `stat` into the live local.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(neg_errno());
    }
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR => Kind::Pool,
        libc::S_IFSOCK => Kind::Sock,
        _ => Kind::Stream,
    })
}

/// The iovec array of a READ/WRITE (one, on the stack) or READV/WRITEV
/// (the op's own array).
fn with_iov<R>(s: &Sqe, f: impl FnOnce(*const libc::iovec, i32) -> R) -> R {
    match s.opcode {
        o::Readv::CODE | o::Writev::CODE => f(s.addr as *const libc::iovec, s.len as i32),
        _ => {
            let one = libc::iovec {
                iov_base: s.addr as *mut libc::c_void,
                iov_len: s.len as usize,
            };
            f(&one, 1)
        }
    }
}

fn is_write(s: &Sqe) -> bool {
    matches!(
        s.opcode,
        o::Write::CODE | o::Writev::CODE | o::WriteFixed::CODE
    )
}

/// `preadv2`/`pwritev2` at `off` (-1: the file position) with `flags`.
fn rw(s: &Sqe, off: i64, flags: i32) -> i64 {
    with_iov(s, |iov, n| {
        // SAFETY: `iov` names `n` buffers the op owns until its CQE (for
        // READ/WRITE, one iovec on our stack around the op's buffer); the
        // kernel reads or writes only inside them.
        unsafe {
            if is_write(s) {
                libc::pwritev2(s.fd, iov, n, off, flags) as i64
            } else {
                libc::preadv2(s.fd, iov, n, off, flags) as i64
            }
        }
    })
}

/// Runs a pool job to completion (it may block) and returns the CQE `res`.
pub(super) fn blocking(s: &Sqe) -> i32 {
    let fd = s.fd;
    // SAFETY: (whole match) each call passes addresses from the SQE, which
    // name memory the op owns until its CQE (paths, out-structs, buffers),
    // with the lengths the op put next to them; integers otherwise.
    let r: i64 = unsafe {
        match s.opcode {
            o::Read::CODE
            | o::ReadFixed::CODE
            | o::Readv::CODE
            | o::Write::CODE
            | o::WriteFixed::CODE
            | o::Writev::CODE => rw(s, s.offset(), s.op_flags as i32),
            o::Fsync::CODE if s.op_flags & FSYNC_DATASYNC != 0 => libc::fdatasync(fd) as i64,
            o::Fsync::CODE => libc::fsync(fd) as i64,
            o::Fallocate::CODE => {
                libc::fallocate(fd, s.len as i32, s.off as i64, s.addr as i64) as i64
            }
            o::Ftruncate::CODE => libc::ftruncate(fd, s.off as i64) as i64,
            o::OpenAt::CODE => libc::openat(
                fd,
                s.addr as *const libc::c_char,
                s.op_flags as i32 | libc::O_LARGEFILE,
                s.len as libc::c_uint,
            ) as i64,
            o::OpenAt2::CODE => libc::syscall(
                libc::SYS_openat2,
                fd,
                s.addr as *const libc::c_char,
                s.off as *const libc::c_void,
                s.len as usize,
            ),
            o::Statx::CODE => libc::statx(
                fd,
                s.addr as *const libc::c_char,
                s.op_flags as i32,
                s.len,
                s.off as *mut libc::statx,
            ) as i64,
            o::UnlinkAt::CODE => {
                libc::unlinkat(fd, s.addr as *const libc::c_char, s.op_flags as i32) as i64
            }
            o::RenameAt::CODE => libc::renameat2(
                fd,
                s.addr as *const libc::c_char,
                s.len as i32,
                s.off as *const libc::c_char,
                s.op_flags,
            ) as i64,
            o::MkDirAt::CODE => {
                libc::mkdirat(fd, s.addr as *const libc::c_char, s.len as libc::mode_t) as i64
            }
            o::SymlinkAt::CODE => libc::symlinkat(
                s.addr as *const libc::c_char,
                fd,
                s.off as *const libc::c_char,
            ) as i64,
            o::LinkAt::CODE => libc::linkat(
                fd,
                s.addr as *const libc::c_char,
                s.len as i32,
                s.off as *const libc::c_char,
                s.op_flags as i32,
            ) as i64,
            o::Splice::CODE => {
                let mut off_in = s.addr as i64;
                let mut off_out = s.off as i64;
                let pin: *mut i64 = if off_in == -1 {
                    std::ptr::null_mut()
                } else {
                    &mut off_in
                };
                let pout: *mut i64 = if off_out == -1 {
                    std::ptr::null_mut()
                } else {
                    &mut off_out
                };
                libc::splice(
                    s.file_index as i32,
                    pin,
                    fd,
                    pout,
                    s.len as usize,
                    s.op_flags & !SPLICE_F_FD_IN_FIXED,
                ) as i64
            }
            o::WaitId::CODE => libc::waitid(
                s.len as libc::idtype_t,
                fd as libc::id_t,
                s.off as *mut libc::siginfo_t,
                s.file_index as i32,
            ) as i64,
            _ => return -libc::EINVAL,
        }
    };
    res(r)
}

/// A READ/WRITE family op on a socket or other non-file, without blocking.
pub(super) fn stream_rw(s: &Sqe, kind: Kind) -> Option<i32> {
    if kind == Kind::Sock {
        return with_iov(s, |iov, n| {
            // SAFETY: an all-zero msghdr is valid (no name, no control).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = iov as *mut libc::iovec;
            msg.msg_iovlen = n as usize;
            let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
            // SAFETY: `msg` names the op's buffers (see `rw`) and nothing
            // else.
            nb(unsafe {
                if is_write(s) {
                    libc::sendmsg(s.fd, &msg, flags) as i64
                } else {
                    libc::recvmsg(s.fd, &mut msg, flags) as i64
                }
            })
        });
    }
    match res(rw(s, -1, s.op_flags as i32 | libc::RWF_NOWAIT)) {
        e if e == -libc::EAGAIN => None,
        e if e == -libc::EOPNOTSUPP => {
            // No RWF_NOWAIT here (a tty, some devices): only call when poll
            // says it would not block. (A second reader of the same
            // blocking fd could still take the data in between.)
            let want = if is_write(s) {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            if poll_now(s.fd, want) == 0 {
                return None;
            }
            Some(res(rw(s, -1, s.op_flags as i32)))
        }
        r => Some(r),
    }
}

/// `poll(fd, events, 0)`: the ready events (`POLLERR`/`POLLHUP` always
/// included), 0 if none.
pub(super) fn poll_now(fd: i32, events: i16) -> i32 {
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
    i32::from(p.revents as u16)
}

/// Makes `fd` non-blocking (accept and connect have no per-call flag).
pub(super) fn set_nonblocking(fd: i32) {
    // SAFETY: F_GETFL/F_SETFL take no pointers.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 && fl & libc::O_NONBLOCK == 0 {
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
}

/// `SO_ERROR` of a socket whose non-blocking connect finished.
pub(super) fn so_error(fd: i32) -> i32 {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the live local.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        neg_errno()
    } else {
        -err
    }
}

/// `waitid(..., WNOHANG)`: `None` while the child runs; the siginfo is
/// copied to the op's `infop` only once it has exited.
pub(super) fn waitid_nohang(s: &Sqe) -> Option<i32> {
    // SAFETY: an all-zero siginfo is valid (and says "no child").
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes one siginfo into the live local.
    let r = unsafe {
        libc::waitid(
            s.len as libc::idtype_t,
            s.fd as libc::id_t,
            &mut info,
            s.file_index as i32 | libc::WNOHANG,
        )
    };
    if r < 0 {
        return Some(neg_errno());
    }
    // SAFETY: reading si_pid of a siginfo waitid filled (or left zero).
    if unsafe { info.si_pid() } == 0 {
        return None;
    }
    if s.off != 0 {
        // SAFETY: `off` is the op's own siginfo (the `infop` it owns until
        // the CQE, which is posted after this write).
        unsafe { std::ptr::write_unaligned(s.off as *mut libc::siginfo_t, info) };
    }
    Some(0)
}
