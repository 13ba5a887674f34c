//! What the readiness side needs besides the syscalls themselves (which
//! are `sys::syscall`): telling files from streams, making a socket
//! non-blocking, reading a finished connect's error.

use crate::sys::syscall::neg_errno;

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
