//! File-system syscalls io_uring has no opcode for: permission changes
//! (`fchmod`, `fchmodat`, which update an inode in memory and do not wait
//! for the disk, so calling them on the runtime thread is cheap), and the
//! pipes and duplicate descriptors that copies use; and the zeroed
//! `statx` the stat op gives the kernel to fill.

use super::cvt;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `fchmod(2)`: sets the permission bits of an open file.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: fchmod takes no pointers; the fd is borrowed, so open.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// `fchmodat(2)` relative to the working directory, following symlinks.
pub(crate) fn chmod(path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `path` is a live NUL-terminated string the kernel only reads.
    cvt(unsafe { libc::fchmodat(libc::AT_FDCWD, path.as_ptr(), mode as libc::mode_t, 0) }).map(drop)
}

/// A close-on-exec pipe `(read end, write end)`, grown to `size` bytes if
/// the system allows (a smaller pipe still works, with more round trips).
pub(crate) fn pipe(size: usize) -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    let (r, w) = (super::owned(fds[0]), super::owned(fds[1]));
    // SAFETY: F_SETPIPE_SZ takes an int argument, no pointers. Failure
    // (EPERM above pipe-max-size) leaves the default size: ignored.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
    Ok((r, w))
}

/// A new close-on-exec descriptor for the same open file as `fd`.
pub(crate) fn dup(fd: BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int argument, no pointers.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    Ok(super::owned(new))
}

/// Whether `fd`'s open file has `O_DIRECT` set (false if the kernel will
/// not say).
pub(crate) fn is_direct(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GETFL takes no argument and writes no memory; the fd is
    // borrowed, so open.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_DIRECT != 0
}

/// A zeroed `statx` on the heap, for the kernel to fill (the box keeps it
/// in place while the op moves).
pub(crate) fn zeroed_statx() -> Box<libc::statx> {
    // SAFETY: `libc::statx` is plain old data (integers and arrays of
    // them): all-zero is a valid value.
    Box::new(unsafe { std::mem::zeroed::<libc::statx>() })
}

// ---- Metadata a copy keeps (owner, times, xattrs), sparse files, clones ----
//
// io_uring has no chown, utimensat, listxattr, lseek or ioctl(FICLONE)
// opcode. Owner, times and xattrs change or read an inode in memory;
// `lseek(SEEK_DATA)` walks the file's extent map. `fs::attr` calls these on
// the runtime thread; `FICLONE` and `copy_file_range`, which may take as long
// as the file is big, run on the blocking pool.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// A path argument: relative to the working directory.
const CWD: libc::c_int = libc::AT_FDCWD;

/// A time as `timespec` holds it: seconds since the epoch (negative
/// before it) and the nanoseconds that follow.
pub(crate) type Stamp = (i64, u32);

/// `fchown(2)`; `None` (-1) leaves that id unchanged.
pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let (uid, gid) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
    // SAFETY: fchown takes no pointers; the fd is borrowed, so open.
    cvt(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// `fchownat(2)` on a path; `follow: false` changes a symlink itself.
pub(crate) fn chown(
    path: &CStr,
    uid: Option<u32>,
    gid: Option<u32>,
    follow: bool,
) -> io::Result<()> {
    let (uid, gid) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: `path` is a live NUL-terminated string the kernel only reads.
    cvt(unsafe { libc::fchownat(CWD, path.as_ptr(), uid, gid, flags) }).map(drop)
}

/// The two `timespec`s `utimensat` takes: `None` is `UTIME_OMIT`.
fn timespecs(atime: Option<Stamp>, mtime: Option<Stamp>) -> [libc::timespec; 2] {
    let ts = |t: Option<Stamp>| match t {
        Some((sec, nsec)) => libc::timespec {
            tv_sec: sec as libc::time_t,
            tv_nsec: nsec as libc::c_long,
        },
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    };
    [ts(atime), ts(mtime)]
}

/// `futimens(3)`: access and modification times of an open file, as
/// (seconds, nanoseconds) since the epoch; `None` leaves one unchanged.
pub(crate) fn futimens(
    fd: BorrowedFd<'_>,
    atime: Option<Stamp>,
    mtime: Option<Stamp>,
) -> io::Result<()> {
    let ts = timespecs(atime, mtime);
    // SAFETY: `ts` is two live timespecs the kernel only reads; the fd is
    // borrowed, so open.
    cvt(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) }).map(drop)
}

/// `utimensat(2)` on a path; `follow: false` sets a symlink's own times.
pub(crate) fn utimensat(
    path: &CStr,
    atime: Option<Stamp>,
    mtime: Option<Stamp>,
    follow: bool,
) -> io::Result<()> {
    let ts = timespecs(atime, mtime);
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: `path` is a live NUL-terminated string and `ts` two live
    // timespecs; the kernel only reads both.
    cvt(unsafe { libc::utimensat(CWD, path.as_ptr(), ts.as_ptr(), flags) }).map(drop)
}

/// `mknodat(2)`: a FIFO, device node or socket file at `path`.
pub(crate) fn mknod(path: &CStr, mode: u32, dev: u64) -> io::Result<()> {
    // SAFETY: `path` is a live NUL-terminated string the kernel only reads.
    cvt(unsafe { libc::mknodat(CWD, path.as_ptr(), mode as libc::mode_t, dev as libc::dev_t) })
        .map(drop)
}

/// Where an xattr call looks: an open file, or a path (followed or not).
#[derive(Clone, Copy)]
pub(crate) enum XattrOf<'a> {
    Fd(BorrowedFd<'a>),
    Path(&'a CStr),
    Link(&'a CStr),
}

/// Calls `f(buf, len)` (a `*listxattr`/`*getxattr` call) first for the size,
/// then with a buffer that big, again while the value grows in between.
fn sized(mut f: impl FnMut(*mut libc::c_char, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let want = f(std::ptr::null_mut(), 0);
        if want < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; want as usize];
        let got = f(buf.as_mut_ptr().cast(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

/// The names of every extended attribute (`*listxattr(2)`), in the order
/// the file system gives them.
pub(crate) fn list_xattrs(of: XattrOf<'_>) -> io::Result<Vec<OsString>> {
    let raw = sized(|buf, len| match of {
        // SAFETY: `buf` is null with `len` 0, or `len` writable bytes.
        XattrOf::Fd(fd) => unsafe { libc::flistxattr(fd.as_raw_fd(), buf, len) },
        // SAFETY: as above; `p` is a live NUL-terminated string.
        XattrOf::Path(p) => unsafe { libc::listxattr(p.as_ptr(), buf, len) },
        // SAFETY: as above.
        XattrOf::Link(p) => unsafe { libc::llistxattr(p.as_ptr(), buf, len) },
    })?;
    Ok(raw
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| OsString::from_vec(name.to_vec()))
        .collect())
}

/// One extended attribute's value (`*getxattr(2)`); `None` if it is not set.
pub(crate) fn get_xattr(of: XattrOf<'_>, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let n = name.as_ptr();
    let res = sized(|buf, len| match of {
        // SAFETY: `buf` is null with `len` 0, or `len` writable bytes; `n`
        // is a live NUL-terminated string.
        XattrOf::Fd(fd) => unsafe { libc::fgetxattr(fd.as_raw_fd(), n, buf.cast(), len) },
        // SAFETY: as above; `p` is a live NUL-terminated string.
        XattrOf::Path(p) => unsafe { libc::getxattr(p.as_ptr(), n, buf.cast(), len) },
        // SAFETY: as above.
        XattrOf::Link(p) => unsafe { libc::lgetxattr(p.as_ptr(), n, buf.cast(), len) },
    });
    match res {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets one extended attribute (`*setxattr(2)`, flags 0: create or replace).
pub(crate) fn set_xattr(of: XattrOf<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    let (n, v, len) = (name.as_ptr(), value.as_ptr().cast(), value.len());
    let ret = match of {
        // SAFETY: `n` is a live NUL-terminated string, `v` `len` readable
        // bytes; the kernel only reads both.
        XattrOf::Fd(fd) => unsafe { libc::fsetxattr(fd.as_raw_fd(), n, v, len, 0) },
        // SAFETY: as above; `p` is a live NUL-terminated string.
        XattrOf::Path(p) => unsafe { libc::setxattr(p.as_ptr(), n, v, len, 0) },
        // SAFETY: as above.
        XattrOf::Link(p) => unsafe { libc::lsetxattr(p.as_ptr(), n, v, len, 0) },
    };
    cvt(ret).map(drop)
}

/// Removes one extended attribute (`*removexattr(2)`).
pub(crate) fn remove_xattr(of: XattrOf<'_>, name: &CStr) -> io::Result<()> {
    let n = name.as_ptr();
    let ret = match of {
        // SAFETY: `n` is a live NUL-terminated string the kernel only reads.
        XattrOf::Fd(fd) => unsafe { libc::fremovexattr(fd.as_raw_fd(), n) },
        // SAFETY: as above; `p` too.
        XattrOf::Path(p) => unsafe { libc::removexattr(p.as_ptr(), n) },
        // SAFETY: as above.
        XattrOf::Link(p) => unsafe { libc::lremovexattr(p.as_ptr(), n) },
    };
    cvt(ret).map(drop)
}

/// `lseek(2)` with `SEEK_DATA` or `SEEK_HOLE`; `None` for `ENXIO` (no data
/// at or after `from`).
pub(crate) fn seek(fd: BorrowedFd<'_>, from: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    // SAFETY: lseek takes no pointers; the fd is borrowed, so open.
    let ret = unsafe { libc::lseek(fd.as_raw_fd(), from as libc::off_t, whence) };
    if ret >= 0 {
        return Ok(Some(ret as u64));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENXIO) => Ok(None),
        _ => Err(e),
    }
}

/// `ioctl(dst, FICLONE, src)`: makes `dst` share `src`'s blocks.
pub(crate) fn ficlone(dst: BorrowedFd<'_>, src: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: FICLONE takes the source fd as its int argument, no pointers;
    // both fds are borrowed, so open.
    cvt(unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) }).map(drop)
}

/// One `copy_file_range(2)` of up to `len` bytes at explicit offsets; 0 at
/// the source's end.
pub(crate) fn copy_file_range(
    src: BorrowedFd<'_>,
    src_pos: u64,
    dst: BorrowedFd<'_>,
    dst_pos: u64,
    len: usize,
) -> io::Result<usize> {
    let (mut sp, mut dp) = (src_pos as libc::loff_t, dst_pos as libc::loff_t);
    // SAFETY: `sp` and `dp` are live offsets the kernel reads and updates;
    // both fds are borrowed, so open.
    let ret = unsafe {
        libc::copy_file_range(src.as_raw_fd(), &mut sp, dst.as_raw_fd(), &mut dp, len, 0)
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// `statx(2)` of `path` relative to directory `dir` (the working directory
/// if `None`), called directly (for threads that may block, such as a
/// directory listing's).
pub(crate) fn statx(
    dir: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: libc::c_int,
    mask: u32,
) -> io::Result<Box<libc::statx>> {
    let dirfd = dir.map_or(CWD, |d| d.as_raw_fd());
    let mut out = zeroed_statx();
    // SAFETY: `path` is a live NUL-terminated string the kernel only reads;
    // `out` points to a whole `statx` the kernel writes; `dir`, if any, is
    // borrowed, so open.
    cvt(unsafe { libc::statx(dirfd, path.as_ptr(), flags, mask, &mut *out) })?;
    Ok(out)
}
