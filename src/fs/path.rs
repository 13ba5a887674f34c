//! Path operations: each is one io_uring op, except where the kernel has
//! none (`set_permissions`, `canonicalize`, `read_link`; see each).

use super::blocking::unblock;
use super::open_options::cstring;
use super::Metadata;
use crate::driver::submit;
use crate::op::at::At;
use crate::op::{linkat, mkdirat, renameat, statx, symlinkat, unlinkat};
use std::io;
use std::path::{Path, PathBuf};

/// `path` relative to the working directory, as an op argument.
fn at(path: &Path) -> io::Result<At> {
    Ok(At::new(None, cstring(path)?))
}

/// Removes a file or symlink (`IORING_OP_UNLINKAT`, Linux 5.11).
///
/// Errors: `NotFound`; `EISDIR` (`IsADirectory`) for a directory, which
/// [`remove_dir`] removes.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    submit(unlinkat::UnlinkAt::new(at(path.as_ref())?, 0)).await
}

/// Removes an empty directory (`IORING_OP_UNLINKAT` with `AT_REMOVEDIR`).
///
/// Errors: `NotFound`; `ENOTDIR` for a file; `ENOTEMPTY` if it has entries.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let at = at(path.as_ref())?;
    submit(unlinkat::UnlinkAt::new(at, libc::AT_REMOVEDIR)).await
}

/// Creates a directory with mode `0o777` before the umask
/// (`IORING_OP_MKDIRAT`, Linux 5.15; older kernels get `Unsupported`).
///
/// Errors: `AlreadyExists`; `NotFound` if the parent is missing (see
/// [`create_dir_all`]).
///
/// ```no_run
/// # curing::run(async {
/// curing::fs::create_dir("/tmp/curing-doc-dir").await?;
/// curing::fs::remove_dir("/tmp/curing-doc-dir").await?;
/// # std::io::Result::Ok(()) });
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    create_dir_mode(path.as_ref(), 0o777).await
}

/// [`create_dir`] with the given permission bits (before the umask).
pub async fn create_dir_mode(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    let at = at(path.as_ref())?;
    submit(mkdirat::MkDirAt::new(at, mode as libc::mode_t)).await
}

/// Creates a directory and every missing parent. Succeeds if it already
/// exists as a directory; fails with `AlreadyExists` if a non-directory is
/// in the way (as `ENOTDIR` for a parent that is a file).
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    // Walk up until a mkdir works (or finds the directory), then back down:
    // one op per missing level, no recursion of futures.
    let mut missing: Vec<&Path> = Vec::new();
    let mut cur = path;
    loop {
        if cur.as_os_str().is_empty() {
            break;
        }
        match create_dir(cur).await {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if metadata(cur).await?.is_dir() {
                    break;
                }
                return Err(e);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match cur.parent() {
                Some(parent) => {
                    missing.push(cur);
                    cur = parent;
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    for dir in missing.into_iter().rev() {
        match create_dir(dir).await {
            // Someone else made it meanwhile: fine if it is a directory.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && metadata(dir).await?.is_dir() => {
            }
            other => other?,
        }
    }
    Ok(())
}

/// Renames `from` to `to`, replacing `to` if it exists
/// (`IORING_OP_RENAMEAT`, Linux 5.11).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (at(from.as_ref())?, at(to.as_ref())?);
    submit(renameat::RenameAt::new(from, to, 0)).await
}

/// Makes `link` a new hard link to `original` (`IORING_OP_LINKAT`, 5.15).
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (old, new) = (at(original.as_ref())?, at(link.as_ref())?);
    submit(linkat::LinkAt::new(old, new, 0)).await
}

/// Creates a symbolic link at `link` whose contents are `target`
/// (`IORING_OP_SYMLINKAT`, Linux 5.15).
pub async fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let target = cstring(target.as_ref())?;
    submit(symlinkat::SymlinkAt::new(target, at(link.as_ref())?)).await
}

/// Metadata of `path`, following symlinks (`IORING_OP_STATX`).
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let stx = submit(statx::Statx::path(at(path.as_ref())?, 0)).await?;
    Ok(Metadata::new(stx))
}

/// Metadata of `path` itself: a symlink is described, not followed
/// (`IORING_OP_STATX` with `AT_SYMLINK_NOFOLLOW`).
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let at = at(path.as_ref())?;
    let stx = submit(statx::Statx::path(at, libc::AT_SYMLINK_NOFOLLOW)).await?;
    Ok(Metadata::new(stx))
}

/// Sets the permission bits of `path` (following symlinks).
///
/// io_uring has no chmod op: this calls `fchmodat(2)` directly on the
/// runtime thread. It changes an inode in memory and does not wait for the
/// disk.
pub async fn set_permissions(path: impl AsRef<Path>, perm: std::fs::Permissions) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    crate::sys::fs::chmod(&cstring(path.as_ref())?, perm.mode())
}

/// The absolute path of `path` with every symlink, `.` and `..` resolved.
///
/// io_uring has no op for this: it runs `std::fs::canonicalize` on a
/// separate thread, so the runtime thread never blocks on the lookups.
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    unblock(move || std::fs::canonicalize(path)).await?
}

/// The contents of the symlink `path`.
///
/// io_uring has no readlink op: this runs `std::fs::read_link` on a
/// separate thread.
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    unblock(move || std::fs::read_link(path)).await?
}

/// Whether `path` exists (following symlinks); `false` on any error.
pub async fn exists(path: impl AsRef<Path>) -> bool {
    metadata(path).await.is_ok()
}
