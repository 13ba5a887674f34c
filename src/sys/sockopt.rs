//! Socket options of any type, and the socket calls the ring has no opcode
//! for that the networking types still need (`dup`, `socketpair`, a
//! synchronous `connect` for datagram sockets).

use super::{cvt, owned};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Plain C option values: every bit pattern of the right size is valid.
///
/// # Safety
///
/// Implementors are `repr(C)` structs or integers with no padding the kernel
/// could leave uninitialised in a way Rust would mind, and for which any bit
/// pattern is a valid value.
pub(crate) unsafe trait OptVal: Copy {}
// SAFETY: integers accept every bit pattern.
unsafe impl OptVal for libc::c_int {}
// SAFETY: two `c_int`s.
unsafe impl OptVal for libc::linger {}
// SAFETY: addresses and an index, all integers.
unsafe impl OptVal for libc::ip_mreqn {}
// SAFETY: an address (bytes) and an index.
unsafe impl OptVal for libc::ipv6_mreq {}

/// `setsockopt(2)` with a value of type `T`.
pub(crate) fn set<T: OptVal>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: T,
) -> io::Result<()> {
    // SAFETY: the value points at a live `T` and its size is passed
    // alongside; the kernel only reads it.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt(2)` for a value of type `T`.
pub(crate) fn get<T: OptVal>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<T> {
    // SAFETY: `T: OptVal` accepts all-zero bytes.
    let mut value: T = unsafe { std::mem::zeroed() };
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals; `len` tells the kernel how
    // many bytes it may write into `value`, all of whose patterns are valid.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// A boolean (`int` 0/1) option.
pub(crate) fn set_bool(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    on: bool,
) -> io::Result<()> {
    set(fd, level, name, libc::c_int::from(on))
}

/// A boolean (`int` 0/1) option.
pub(crate) fn get_bool(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<bool> {
    get::<libc::c_int>(fd, level, name).map(|v| v != 0)
}

/// `SO_ERROR`: the pending error, cleared by reading it.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let e = get::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
}

/// A new close-on-exec descriptor for the same open socket or file.
pub(crate) fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// Two connected sockets of `ty` in `AF_UNIX` (close-on-exec).
pub(crate) fn socketpair(ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// A synchronous `connect(2)`, for datagram sockets (which only record the
/// peer and never block).
pub(crate) fn connect(
    fd: BorrowedFd<'_>,
    addr: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<()> {
    assert!(len as usize <= size_of::<libc::sockaddr_storage>());
    // SAFETY: `addr` is a live reference holding at least `len` bytes; the
    // kernel only reads it.
    cvt(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (addr as *const libc::sockaddr_storage).cast(),
            len,
        )
    })
    .map(drop)
}

/// Switches `fd` to blocking mode (clears `O_NONBLOCK`): io_uring waits
/// for readiness itself, and a non-blocking socket would make ops fail with
/// `EAGAIN` instead.
pub(crate) fn set_blocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL/F_SETFL takes no pointers.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
    }
    Ok(())
}
