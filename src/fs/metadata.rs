//! [`Metadata`]: what `statx(2)` says about a file.

use std::time::{Duration, SystemTime};

/// A file's metadata, from an `IORING_OP_STATX` on the open file
/// ([`File::metadata`](super::File::metadata)).
///
/// ```no_run
/// # curing::run(async {
/// let file = curing::fs::File::open("/etc/hostname").await?;
/// let meta = file.metadata().await?;
/// println!("{} bytes, file: {}, mode {:o}", meta.len(), meta.is_file(), meta.mode());
/// # std::io::Result::Ok(()) });
/// ```
#[derive(Clone)]
pub struct Metadata {
    stx: Box<libc::statx>,
}

impl Metadata {
    pub(crate) fn new(stx: Box<libc::statx>) -> Metadata {
        Metadata { stx }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.stx.stx_size
    }

    /// Whether the size is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn file_type(&self) -> u32 {
        u32::from(self.stx.stx_mode) & libc::S_IFMT
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    /// Whether this is a symbolic link (only seen when opened with
    /// `O_PATH | O_NOFOLLOW`).
    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }

    /// Permission bits and file type, as in `st_mode`.
    pub fn mode(&self) -> u32 {
        u32::from(self.stx.stx_mode)
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.stx.stx_ino
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u32 {
        self.stx.stx_nlink
    }

    /// Owner's user id.
    pub fn uid(&self) -> u32 {
        self.stx.stx_uid
    }

    /// Owner's group id.
    pub fn gid(&self) -> u32 {
        self.stx.stx_gid
    }

    /// Preferred I/O block size.
    pub fn blksize(&self) -> u32 {
        self.stx.stx_blksize
    }

    /// Number of 512-byte blocks allocated.
    pub fn blocks(&self) -> u64 {
        self.stx.stx_blocks
    }

    /// Last modification time.
    pub fn modified(&self) -> SystemTime {
        time(&self.stx.stx_mtime)
    }

    /// Last access time.
    pub fn accessed(&self) -> SystemTime {
        time(&self.stx.stx_atime)
    }

    /// The permission bits, as the standard type (`PermissionsExt::mode`).
    pub fn permissions(&self) -> std::fs::Permissions {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(self.mode() & 0o7777)
    }

    /// ID of the device holding the file, as `st_dev` holds it (major and
    /// minor packed by glibc's `makedev`, `libc::makedev`).
    pub fn dev(&self) -> u64 {
        libc::makedev(self.stx.stx_dev_major, self.stx.stx_dev_minor)
    }

    /// The device a device node stands for, as `st_rdev` holds it (packed
    /// by `libc::makedev`); 0 for other files.
    pub fn rdev(&self) -> u64 {
        libc::makedev(self.stx.stx_rdev_major, self.stx.stx_rdev_minor)
    }

    /// Direct-I/O alignment the file needs, where the kernel reports it
    /// (`STATX_DIOALIGN`, Linux 6.1): `(memory, offset)`, the alignment in
    /// bytes of buffer addresses and of file offsets and lengths. `None` if
    /// the kernel did not say; `Some((0, 0))` if the file does not support
    /// direct I/O at all.
    pub fn dio_alignment(&self) -> Option<(u32, u32)> {
        (self.stx.stx_mask & libc::STATX_DIOALIGN != 0)
            .then_some((self.stx.stx_dio_mem_align, self.stx.stx_dio_offset_align))
    }

    /// Creation (birth) time, where the file system records it.
    pub fn created(&self) -> Option<SystemTime> {
        (self.stx.stx_mask & libc::STATX_BTIME != 0).then(|| time(&self.stx.stx_btime))
    }
}

fn time(t: &libc::statx_timestamp) -> SystemTime {
    // `tv_nsec` counts forward from `tv_sec`, also for times before 1970.
    let secs = Duration::from_secs(t.tv_sec.unsigned_abs());
    let nanos = Duration::from_nanos(u64::from(t.tv_nsec));
    if t.tv_sec >= 0 {
        SystemTime::UNIX_EPOCH + secs + nanos
    } else {
        SystemTime::UNIX_EPOCH - secs + nanos
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len())
            .field("mode", &format_args!("{:o}", self.mode()))
            .field("ino", &self.ino())
            .field("modified", &self.modified())
            .finish_non_exhaustive()
    }
}
