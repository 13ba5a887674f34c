//! [`OpenOptions`]: how to open a file, as in `std::fs::OpenOptions`.

use super::File;
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::at::At;
use crate::op::openat::OpenAt;
use crate::op::openat2::OpenAt2;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Options for opening a file; the same flags as [`std::fs::OpenOptions`],
/// but [`open`](OpenOptions::open) is an io_uring op.
///
/// ```no_run
/// use curing::fs::OpenOptions;
///
/// # curing::run(async {
/// let log = OpenOptions::new().append(true).create(true).open("/tmp/app.log").await?;
/// let (res, _) = log.write_all("started\n").await;
/// res?;
/// # std::io::Result::Ok(()) });
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: libc::mode_t,
    custom_flags: libc::c_int,
    /// `RESOLVE_*` flags; non-zero means the open goes through `openat2`.
    resolve: u64,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// All options off; new files get mode `0o666` (before the umask).
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
            resolve: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut OpenOptions {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut OpenOptions {
        self.write = on;
        self
    }

    /// Open for appending (implies writing): writes at the current position
    /// ([`File::write`]) go to the end of the file.
    pub fn append(&mut self, on: bool) -> &mut OpenOptions {
        self.append = on;
        self
    }

    /// Truncate an existing file to length 0 (needs `write`).
    pub fn truncate(&mut self, on: bool) -> &mut OpenOptions {
        self.truncate = on;
        self
    }

    /// Create the file if it does not exist (needs `write` or `append`).
    pub fn create(&mut self, on: bool) -> &mut OpenOptions {
        self.create = on;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut OpenOptions {
        self.create_new = on;
        self
    }

    /// Permission bits of a newly created file (default `0o666`).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.mode = mode as libc::mode_t;
        self
    }

    /// Extra `open(2)` flags, e.g. `libc::O_DIRECT` or `libc::O_NOATIME`.
    /// The access-mode bits are ignored; `O_CLOEXEC` is always set.
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.custom_flags = flags;
        self
    }

    /// Open for direct I/O (`O_DIRECT`): reads and writes bypass the page
    /// cache and need aligned buffers, offsets and lengths (see
    /// [`AlignedBuf`](crate::buf::AlignedBuf)). Opening fails with `EINVAL` on a
    /// file system that cannot do it.
    ///
    /// The runtime hands a direct file's reads and writes to the kernel in
    /// pairs as tasks issue them, rather than with every other op at the
    /// end of its turn: they go to the device, which can start on the first
    /// while other tasks still run (measured gain: benches/compare/README.md,
    /// "Design measurements", "Direct I/O in pairs"). The same holds for a file opened with `O_DIRECT` in
    /// [`custom_flags`](OpenOptions::custom_flags), or adopted with
    /// `File::from`.
    pub fn direct(&mut self, on: bool) -> &mut OpenOptions {
        if on {
            self.custom_flags |= libc::O_DIRECT;
        } else {
            self.custom_flags &= !libc::O_DIRECT;
        }
        self
    }

    /// Restricts how the path is resolved, with `openat2(2)`'s `RESOLVE_*`
    /// flags (`IORING_OP_OPENAT2`, Linux 5.6):
    ///
    /// - `libc::RESOLVE_BENEATH`: with [`open_at`](OpenOptions::open_at),
    ///   fail with `EXDEV` if the path would leave the directory (through
    ///   `..`, an absolute path or a symlink), the safe way to open a
    ///   user-supplied name inside a directory;
    /// - `libc::RESOLVE_IN_ROOT`: treat the directory as `/`;
    /// - `libc::RESOLVE_NO_SYMLINKS`, `RESOLVE_NO_MAGICLINKS`,
    ///   `RESOLVE_NO_XDEV`: refuse (`ELOOP`, `EXDEV`) symlinks, `/proc`
    ///   magic links, or crossing a mount point.
    ///
    /// ```no_run
    /// use curing::fs::{File, OpenOptions};
    /// # curing::run(async {
    /// let root = File::open("/srv/www").await?;
    /// let page = OpenOptions::new()
    ///     .read(true)
    ///     .resolve(libc::RESOLVE_BENEATH)
    ///     .open_at(&root, "../../etc/passwd")
    ///     .await;
    /// assert_eq!(page.unwrap_err().raw_os_error(), Some(libc::EXDEV));
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn resolve(&mut self, flags: u64) -> &mut OpenOptions {
        self.resolve = flags;
        self
    }

    /// Opens `path` with these options.
    ///
    /// Errors as `open(2)` reports them (`NotFound`, `PermissionDenied`, ...),
    /// and `InvalidInput` for a path containing a NUL byte or an impossible
    /// combination of options (e.g. `truncate` without `write`).
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        self.open_in(None, path.as_ref()).await
    }

    /// Opens `path` relative to the directory `dir` (absolute paths ignore
    /// `dir` unless [`resolve`](OpenOptions::resolve) says otherwise). Saves
    /// the kernel from walking the directory's own path again, and with
    /// `RESOLVE_BENEATH` keeps the open inside it.
    pub async fn open_at(&self, dir: &File, path: impl AsRef<Path>) -> io::Result<File> {
        self.open_in(Some(dir.shared_fd().clone()), path.as_ref())
            .await
    }

    async fn open_in(&self, dir: Option<SharedFd>, path: &Path) -> io::Result<File> {
        let flags = self.flags()?;
        let at = At::new(dir, cstring(path)?);
        let fd = if self.resolve == 0 {
            submit(OpenAt::new(at, flags, self.mode)).await?
        } else {
            submit(OpenAt2::new(at, flags, self.mode, self.resolve)).await?
        };
        Ok(File::from_shared(SharedFd::with_direct(
            fd,
            flags & libc::O_DIRECT != 0,
        )))
    }

    /// The `open(2)` flags, with std's rules for invalid combinations.
    fn flags(&self) -> io::Result<libc::c_int> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return Err(invalid("open: none of read, write or append is set"))
            }
        };
        let writes = self.write || self.append;
        if (self.truncate || self.create || self.create_new) && !writes {
            return Err(invalid(
                "open: truncate, create and create_new need write or append",
            ));
        }
        if self.truncate && self.append && !self.create_new {
            return Err(invalid("open: truncate and append exclude each other"));
        }
        let creation = if self.create_new {
            libc::O_CREAT | libc::O_EXCL
        } else {
            let mut f = 0;
            if self.create {
                f |= libc::O_CREAT;
            }
            if self.truncate {
                f |= libc::O_TRUNC;
            }
            f
        };
        Ok(access | creation | libc::O_CLOEXEC | (self.custom_flags & !libc::O_ACCMODE))
    }
}

/// A path as the NUL-terminated string the kernel reads.
pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path contains a NUL byte: {path:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::OpenOptions;

    #[test]
    fn flags_follow_std_rules() {
        let f = OpenOptions::new().read(true).flags().unwrap();
        assert_eq!(f & libc::O_ACCMODE, libc::O_RDONLY);
        assert_ne!(f & libc::O_CLOEXEC, 0);
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .flags()
            .unwrap();
        assert_eq!(f & libc::O_ACCMODE, libc::O_WRONLY);
        assert_eq!(
            f & (libc::O_CREAT | libc::O_TRUNC),
            libc::O_CREAT | libc::O_TRUNC
        );
        let f = OpenOptions::new().append(true).flags().unwrap();
        assert_ne!(f & libc::O_APPEND, 0);
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .flags()
            .unwrap();
        assert_eq!(
            f & (libc::O_CREAT | libc::O_EXCL),
            libc::O_CREAT | libc::O_EXCL
        );
        assert!(OpenOptions::new().flags().is_err());
        assert!(OpenOptions::new()
            .read(true)
            .truncate(true)
            .flags()
            .is_err());
        assert!(OpenOptions::new()
            .append(true)
            .truncate(true)
            .flags()
            .is_err());
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT | libc::O_RDWR)
            .flags()
            .unwrap();
        assert_eq!(
            f & libc::O_ACCMODE,
            libc::O_RDONLY,
            "custom flags cannot change the access mode"
        );
        assert_ne!(f & libc::O_DIRECT, 0);
    }
}
