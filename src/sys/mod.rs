//! Thin wrappers over the few plain syscalls curing makes outside the ring
//! (creating sockets' addresses, eventfds, socket options). Each returns an
//! `io::Result` and owns what it creates; the `unsafe` stays here.

pub(crate) mod addr;
mod adopt;
pub(crate) mod current;
pub(crate) mod fs;
pub(crate) mod msg;
pub(crate) mod process;
pub(crate) mod sockopt;
pub(crate) mod syscall;
pub(crate) mod thread;

/// The largest length one read or write asks the kernel for, as Linux's
/// `MAX_RW_COUNT` (2 GiB less a page) and std's I/O calls: a longer buffer
/// gets a short read or write, the same on every driver. io_uring refuses
/// some longer lengths outright (`EINVAL`), and its length field is 32 bits.
pub(crate) const MAX_RW: usize = 0x7fff_f000;

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Turns a `-1`-on-error return into an `io::Result`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps an fd number a syscall just returned to us.
pub(crate) fn owned(fd: RawFd) -> OwnedFd {
    assert!(fd >= 0, "owned() needs a valid fd, got {fd}");
    // SAFETY: `fd` was just returned by a successful syscall that created it,
    // so we are its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A blocking, close-on-exec eventfd with counter 0.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })?;
    Ok(owned(fd))
}

// ---- Sockets -------------------------------------------------------------
//
// The few socket calls io_uring has no opcode for (bind, listen, options,
// names), plus `socket` and `shutdown` for kernels whose ring lacks
// IORING_OP_SOCKET (before 5.19) or IORING_OP_SHUTDOWN (before 5.11).
// Addresses travel as a `sockaddr_storage` and its length.

use std::os::fd::{AsRawFd, BorrowedFd};

/// A new socket of `domain` and `ty` (flags such as `SOCK_CLOEXEC` or'ed in).
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers.
    let fd = cvt(unsafe { libc::socket(domain, ty, 0) })?;
    Ok(owned(fd))
}

/// Binds `fd` to the first `len` bytes of `addr`.
pub(crate) fn bind(
    fd: BorrowedFd<'_>,
    addr: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<()> {
    assert!(len as usize <= std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `addr` is a live reference holding at least `len` bytes (just
    // asserted); the kernel only reads it.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (addr as *const libc::sockaddr_storage).cast(),
            len,
        )
    })?;
    Ok(())
}

/// Marks `fd` as a listening socket with room for `backlog` connections.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: listen takes no pointers.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// Which end of a socket [`sockname`] asks about.
#[derive(Clone, Copy)]
pub(crate) enum SockEnd {
    /// `getsockname`: our own address.
    Local,
    /// `getpeername`: the connected peer's address.
    Peer,
}

/// The local or peer address of `fd`, as a `sockaddr_storage` and its length.
pub(crate) fn sockname(
    fd: BorrowedFd<'_>,
    end: SockEnd,
) -> io::Result<(libc::sockaddr_storage, libc::socklen_t)> {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage` (a plain C struct).
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = (&mut storage as *mut libc::sockaddr_storage).cast();
    // SAFETY: `storage` and `len` are live locals; `len` tells the kernel how
    // many bytes it may write into `storage`.
    cvt(unsafe {
        match end {
            SockEnd::Local => libc::getsockname(fd.as_raw_fd(), ptr, &mut len),
            SockEnd::Peer => libc::getpeername(fd.as_raw_fd(), ptr, &mut len),
        }
    })?;
    Ok((storage, len))
}

/// A fresh anonymous, private, read-write mapping of `len` bytes (zeroed,
/// page-aligned), for memory the kernel shares with us (buffer rings,
/// registered buffers). Free it with [`munmap`].
pub(crate) fn mmap_anon(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping with no address hint and no fd.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr.cast())
}

/// Unmaps what [`mmap_anon`] mapped.
///
/// # Safety
///
/// `ptr` and `len` are exactly one [`mmap_anon`] mapping, which nothing (the
/// kernel included) uses any more.
pub(crate) unsafe fn munmap(ptr: *mut u8, len: usize) {
    // SAFETY: forwarded from this function's contract.
    unsafe { libc::munmap(ptr.cast(), len) };
}
