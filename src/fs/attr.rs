//! The metadata a faithful copy keeps, beyond permission bits: owner and
//! group, access and modification times, extended attributes (which hold
//! POSIX ACLs, file capabilities and security labels), sparse-file holes,
//! special files; and the two in-kernel ways to copy contents, reflinks
//! ([`File::reflink_from`]) and [`copy_file_range`].
//!
//! io_uring has no opcode for owner, times, listing xattrs, `lseek` or
//! `ioctl`. Owner, times and xattrs change or read one inode in memory and
//! `SEEK_DATA`/`SEEK_HOLE` read its extent map, so these call the syscall
//! directly on the runtime thread, as [`set_permissions`](super::set_permissions)
//! does. Reflinks and `copy_file_range`, whose cost grows with the file,
//! run on the blocking pool.
//!
//! ```no_run
//! use curing::fs::{self, FileTimes};
//! # curing::run(async {
//! let src = fs::symlink_metadata("/etc/hostname").await?;
//! fs::copy("/etc/hostname", "/tmp/hostname.copy").await?;
//! let times = FileTimes::new()
//!     .set_accessed(src.accessed())
//!     .set_modified(src.modified());
//! fs::set_times("/tmp/hostname.copy", times).await?;
//! for name in fs::xattr_names("/etc/hostname").await? {
//!     if let Some(value) = fs::xattr("/etc/hostname", &name).await? {
//!         fs::set_xattr("/tmp/hostname.copy", &name, &value).await?;
//!     }
//! }
//! # std::io::Result::Ok(()) });
//! ```

use super::open_options::cstring;
use super::File;
use crate::sys::fs::{self as sysfs, Stamp, XattrOf};
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Access and modification times to set, as `std::fs::FileTimes` (whose
/// fields cannot be read back, so curing has its own). A time left unset is
/// not changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileTimes {
    accessed: Option<SystemTime>,
    modified: Option<SystemTime>,
}

impl FileTimes {
    /// Changes nothing until a time is set.
    pub fn new() -> FileTimes {
        FileTimes::default()
    }

    /// Sets the last access time.
    pub fn set_accessed(mut self, t: SystemTime) -> FileTimes {
        self.accessed = Some(t);
        self
    }

    /// Sets the last modification time.
    pub fn set_modified(mut self, t: SystemTime) -> FileTimes {
        self.modified = Some(t);
        self
    }

    /// Both times as (seconds, nanoseconds) since the epoch, for the kernel.
    fn raw(self) -> (Option<Stamp>, Option<Stamp>) {
        (self.accessed.map(epoch), self.modified.map(epoch))
    }
}

/// `t` as whole seconds since the epoch (negative before it) and the
/// nanoseconds that follow, as `timespec` counts.
fn epoch(t: SystemTime) -> Stamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let (secs, nanos) = (d.as_secs() as i64, d.subsec_nanos());
            if nanos == 0 {
                (-secs, 0)
            } else {
                (-secs - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

/// An xattr name for the kernel.
fn name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("xattr name contains a NUL byte: {name:?}"),
        )
    })
}

impl File {
    /// Sets the file's access and/or modification time (`futimens(3)`).
    /// Set them after the last write: a write moves the modification time.
    pub async fn set_times(&self, times: FileTimes) -> io::Result<()> {
        let (a, m) = times.raw();
        sysfs::futimens(self.as_fd(), a, m)
    }

    /// Changes the file's owner and/or group (`fchown(2)`; `None`, or
    /// `u32::MAX`, keeps one). Only root may give a file away; the owner may change the group
    /// to one of its own. The kernel clears the setuid and setgid bits on
    /// a change: set the mode again afterwards to keep them.
    pub async fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        sysfs::fchown(self.as_fd(), uid, gid)
    }

    /// The names of the file's extended attributes (`flistxattr(2)`):
    /// `user.*`, and as root `trusted.*`; `security.*` (capabilities, labels)
    /// and `system.posix_acl_*` (ACLs) where set.
    pub async fn xattr_names(&self) -> io::Result<Vec<OsString>> {
        sysfs::list_xattrs(XattrOf::Fd(self.as_fd()))
    }

    /// The value of extended attribute `name`; `None` if it is not set.
    pub async fn xattr(&self, name: impl AsRef<OsStr>) -> io::Result<Option<Vec<u8>>> {
        sysfs::get_xattr(XattrOf::Fd(self.as_fd()), &self::name(name.as_ref())?)
    }

    /// Sets extended attribute `name` to `value`, creating or replacing it.
    /// Errors: `Unsupported` (`EOPNOTSUPP`) where the file system keeps no
    /// xattrs of that namespace, `PermissionDenied` for a namespace the
    /// caller may not write.
    pub async fn set_xattr(&self, name: impl AsRef<OsStr>, value: &[u8]) -> io::Result<()> {
        sysfs::set_xattr(
            XattrOf::Fd(self.as_fd()),
            &self::name(name.as_ref())?,
            value,
        )
    }

    /// Removes extended attribute `name`; fails with `ENODATA` (raw OS
    /// error 61) if it is not set.
    pub async fn remove_xattr(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        sysfs::remove_xattr(XattrOf::Fd(self.as_fd()), &self::name(name.as_ref())?)
    }

    /// The first offset at or after `from` that holds data
    /// (`lseek(SEEK_DATA)`); `None` if only a hole follows, or `from` is
    /// at or past the end. With
    /// [`seek_hole`](File::seek_hole) this finds a sparse file's data
    /// without reading its holes. File systems that do not track holes
    /// report all of the file as data.
    pub async fn seek_data(&self, from: u64) -> io::Result<Option<u64>> {
        super::check_offset(from)?;
        sysfs::seek(self.as_fd(), from, libc::SEEK_DATA)
    }

    /// The first offset at or after `from` that starts a hole
    /// (`lseek(SEEK_HOLE)`); the file's end counts as a hole. `None` if
    /// `from` is at or past the end (so always for an empty file).
    pub async fn seek_hole(&self, from: u64) -> io::Result<Option<u64>> {
        super::check_offset(from)?;
        sysfs::seek(self.as_fd(), from, libc::SEEK_HOLE)
    }

    /// Makes this file, which should be empty (just created), a copy of
    /// `src` that shares its blocks (`ioctl(FICLONE)`, a reflink: instant,
    /// and no space used until one side changes). Runs on the blocking
    /// pool. The kernel replaces only the range `src` covers: a longer file
    /// keeps its tail, and a non-empty one may refuse a `src` whose size is
    /// not a multiple of the block size (`EINVAL`). Fails with `Unsupported`
    /// (`EOPNOTSUPP`) on file systems without reflinks (ext4, tmpfs), and
    /// `EXDEV` across file systems: callers fall back to copying.
    pub async fn reflink_from(&self, src: &File) -> io::Result<()> {
        let dst = sysfs::dup(self.as_fd())?;
        let src = sysfs::dup(src.as_fd())?;
        crate::spawn_blocking(move || sysfs::ficlone(dst.as_fd(), src.as_fd()))
            .await
            .map_err(io::Error::from)?
    }
}

/// Bytes per `copy_file_range` call: small enough that a dropped copy stops
/// soon, big enough that the calls cost nothing next to the copying.
const RANGE_CHUNK: usize = 64 << 20;

/// Copies up to `len` bytes from `src` at `src_pos` to `dst` at `dst_pos`
/// inside the kernel (`copy_file_range(2)`, on the blocking pool): the bytes
/// never reach user memory, and file systems that can share blocks or copy
/// on the server (NFS, XFS, Btrfs) do so. Stops at the source's end;
/// returns the bytes copied. Neither file's position moves.
///
/// The kernel copies in chunks of up to 64 MiB. Dropping the future stops
/// the copy after the chunk in flight: the pool thread holds its own
/// descriptors, so the files may be closed at once, and that chunk is still
/// written after they are. Errors: `EXDEV` between file systems (on
/// kernels before 5.19, and always between some kinds), `EINVAL` for files
/// that cannot be copied this way (pipes, overlapping ranges of one file),
/// `EBADF` for a destination opened with `O_APPEND`: use
/// [`copy_range`](super::copy_range), which works on any pair.
pub async fn copy_file_range(
    src: &File,
    src_pos: u64,
    dst: &File,
    dst_pos: u64,
    len: u64,
) -> io::Result<u64> {
    super::check_offset(src_pos)?;
    super::check_offset(dst_pos)?;
    let (from, to) = (sysfs::dup(src.as_fd())?, sysfs::dup(dst.as_fd())?);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = StopOnDrop(stop.clone());
    let job = crate::spawn_blocking(move || {
        let mut done = 0u64;
        while done < len && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let want = (len - done).min(RANGE_CHUNK as u64) as usize;
            match sysfs::copy_file_range(
                from.as_fd(),
                src_pos + done,
                to.as_fd(),
                dst_pos + done,
                want,
            ) {
                Ok(0) => break,
                Ok(n) => done += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    });
    let res = job.await.map_err(io::Error::from)?;
    drop(stopped);
    res
}

/// Tells a pool copy to stop when its future is dropped.
struct StopOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Sets the access and/or modification time of `path`, following
/// symlinks (`utimensat(2)`). See [`set_symlink_times`] for a symlink's own.
pub async fn set_times(path: impl AsRef<Path>, times: FileTimes) -> io::Result<()> {
    let (a, m) = times.raw();
    sysfs::utimensat(&cstring(path.as_ref())?, a, m, true)
}

/// Sets the times of `path` itself, a symlink's own rather than its
/// target's (`utimensat(2)` with `AT_SYMLINK_NOFOLLOW`).
pub async fn set_symlink_times(path: impl AsRef<Path>, times: FileTimes) -> io::Result<()> {
    let (a, m) = times.raw();
    sysfs::utimensat(&cstring(path.as_ref())?, a, m, false)
}

/// Changes the owner and/or group of `path`, following symlinks
/// (`fchownat(2)`); `None` keeps one (as does `u32::MAX`, the kernel's
/// -1). See [`File::set_owner`].
pub async fn chown(path: impl AsRef<Path>, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    sysfs::chown(&cstring(path.as_ref())?, uid, gid, true)
}

/// [`chown`] of a symlink itself (`AT_SYMLINK_NOFOLLOW`).
pub async fn lchown(path: impl AsRef<Path>, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    sysfs::chown(&cstring(path.as_ref())?, uid, gid, false)
}

/// Creates a special file at `path` (`mknodat(2)`): `mode` holds the type
/// (`libc::S_IFIFO`, `S_IFCHR`, `S_IFBLK`, `S_IFSOCK`; `S_IFREG` or no type
/// makes an empty regular file) and permission bits (before the umask);
/// `dev` the device number of a device node (`libc::makedev`; the kernel
/// refuses a major above 4095 with `EINVAL`), else 0. Device nodes need
/// `CAP_MKNOD` (root).
pub async fn mknod(path: impl AsRef<Path>, mode: u32, dev: u64) -> io::Result<()> {
    sysfs::mknod(&cstring(path.as_ref())?, mode, dev)
}

/// Creates a FIFO (named pipe) at `path` with permission bits `mode`
/// (before the umask).
pub async fn mkfifo(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    mknod(path, libc::S_IFIFO | (mode & 0o7777), 0).await
}

/// The extended attribute names of `path`, following symlinks.
pub async fn xattr_names(path: impl AsRef<Path>) -> io::Result<Vec<OsString>> {
    sysfs::list_xattrs(XattrOf::Path(&cstring(path.as_ref())?))
}

/// The extended attribute names of `path` itself (a symlink's own).
pub async fn symlink_xattr_names(path: impl AsRef<Path>) -> io::Result<Vec<OsString>> {
    sysfs::list_xattrs(XattrOf::Link(&cstring(path.as_ref())?))
}

/// The value of extended attribute `name` of `path` (following symlinks);
/// `None` if it is not set.
pub async fn xattr(path: impl AsRef<Path>, name: impl AsRef<OsStr>) -> io::Result<Option<Vec<u8>>> {
    let path = cstring(path.as_ref())?;
    sysfs::get_xattr(XattrOf::Path(&path), &self::name(name.as_ref())?)
}

/// [`xattr`] of `path` itself (a symlink's own).
pub async fn symlink_xattr(
    path: impl AsRef<Path>,
    name: impl AsRef<OsStr>,
) -> io::Result<Option<Vec<u8>>> {
    let path = cstring(path.as_ref())?;
    sysfs::get_xattr(XattrOf::Link(&path), &self::name(name.as_ref())?)
}

/// Sets extended attribute `name` of `path` (following symlinks); see
/// [`File::set_xattr`].
pub async fn set_xattr(
    path: impl AsRef<Path>,
    name: impl AsRef<OsStr>,
    value: &[u8],
) -> io::Result<()> {
    let path = cstring(path.as_ref())?;
    sysfs::set_xattr(XattrOf::Path(&path), &self::name(name.as_ref())?, value)
}

/// [`set_xattr`] on `path` itself (a symlink's own; Linux allows only
/// `trusted.*` and `security.*` there).
pub async fn set_symlink_xattr(
    path: impl AsRef<Path>,
    name: impl AsRef<OsStr>,
    value: &[u8],
) -> io::Result<()> {
    let path = cstring(path.as_ref())?;
    sysfs::set_xattr(XattrOf::Link(&path), &self::name(name.as_ref())?, value)
}

/// Removes extended attribute `name` of `path` (following symlinks).
pub async fn remove_xattr(path: impl AsRef<Path>, name: impl AsRef<OsStr>) -> io::Result<()> {
    let path = cstring(path.as_ref())?;
    sysfs::remove_xattr(XattrOf::Path(&path), &self::name(name.as_ref())?)
}

#[cfg(test)]
mod tests {
    use super::epoch;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_before_the_epoch_count_nanoseconds_forward() {
        assert_eq!(epoch(UNIX_EPOCH + Duration::new(5, 7)), (5, 7));
        assert_eq!(epoch(UNIX_EPOCH - Duration::new(1, 0)), (-1, 0));
        assert_eq!(epoch(UNIX_EPOCH - Duration::new(0, 1)), (-1, 999_999_999));
    }
}
