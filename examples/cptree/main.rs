//! `cptree SRC DST`: a faithful `cp -a SRC DST`, on one curing runtime per
//! CPU, many entries in flight on each.
//!
//! ```text
//! cargo run --release --example cptree -- SRC DST [--verify] [--no-preserve=LIST]
//!     [--threads N] [--jobs N] [--quiet] [--stats] [--iowq BOUNDED,UNBOUNDED]
//! cargo run --release --example cptree -- --verify-only SRC DST
//! ```
//!
//! DST must not exist: it becomes the copy of SRC (a DST that exists is
//! refused with exit status 1, where `cp -a` would copy into it; so is a
//! DST inside SRC). SRC may be a directory, a file, a symlink or a special
//! file.
//!
//! What is kept, as `cp -a` keeps it: contents; symlinks (their targets);
//! hard links (paths sharing an inode in SRC share one in DST); permission
//! bits including setuid, setgid and sticky; owner and group when running as
//! root (otherwise the group where the user is a member, and setuid/setgid
//! are cleared where the owner or group could not be kept, as `cp` does);
//! access and modification times of files, directories (set after their
//! contents) and symlinks, to the nanosecond; extended attributes, which
//! hold POSIX ACLs, file capabilities (`security.capability`) and security
//! labels; holes in sparse files; FIFOs, sockets and device nodes. The
//! source's files keep their access times where the kernel allows
//! (`O_NOATIME`: files the user owns, or root).
//!
//! `--no-preserve=LIST` (comma-separated: `mode`, `ownership`, `timestamps`,
//! `links`, `xattr`, `all`) leaves those out as `cp --no-preserve` does:
//! without `mode`, new files get `0666` and directories `0777` less the
//! umask (directories keep a sticky bit) and ACLs are not copied (`cp`
//! counts them as part of the mode; `xattr` is every other xattr); without
//! `ownership`, entries belong to the user and keep their setuid/setgid
//! bits. One difference from `cp -a`: under a setgid parent, `cp` leaves the
//! inherited setgid bit on copied directories; cptree gives them the
//! source's mode.
//!
//! Every entry that cannot be copied faithfully is reported on stderr with
//! its path and the reason (the other steps for that entry still run); the
//! exit status is then 1. `--verify` compares SRC and DST after the copy
//! (`--verify-only SRC DST`: without copying) entry by entry: type, size,
//! contents, mode, owner, modification times, access times of files,
//! device numbers, symlink targets, hard-link groups and xattrs (less what
//! `--no-preserve` left out), and prints each difference, then the count; the
//! exit status is 1 if there is any. Access times are compared for files
//! only (listing a directory or reading a symlink moves the source's own),
//! so verify straight after the copy: anything else that reads SRC (`cp`
//! included) moves them.
//!
//! How it goes fast: `--threads N` runtimes (0, the default: one per CPU)
//! take directories from a shared queue; each lists its directory (on the
//! blocking pool, which also reads each entry's metadata: io_uring cannot
//! list one) and copies up to `--jobs N` entries at once (default 64; 0
//! counts as 1), with `--iowq B,U` kernel io-wq workers per runtime
//! (default `1,1`: more workers of one ring create files in the same
//! directory and contend for its lock; `0,0`: the kernel's defaults).
//! Entries are opened and created relative to their open directories.
//! Opens, creates, small reads and writes, `mkdir`,
//! `symlink`, `link` and `close` are io_uring ops; files over [`SMALL`]
//! bytes are copied in the kernel (`FICLONE` where the file system shares
//! blocks, else `copy_file_range`) on the blocking pool. On a terminal a
//! progress line shows files, bytes, rate and ETA (`--quiet`: none);
//! otherwise cptree prints only errors, `--verify`'s findings, and with
//! `--stats` a summary.

use curing::fs::{self, File, FileTimes, Metadata, OpenOptions};
use curing::sync::thread::watch;
use curing::sync::Semaphore;

mod progress;
mod verify;

use progress::Progress;
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;
pub use verify::verify_tree;

/// Files up to this size are read and written through the ring (one read,
/// one write); bigger ones are copied inside the kernel.
pub const SMALL: u64 = 256 << 10;

/// What the copy did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// FIFOs, sockets and device nodes.
    pub specials: u64,
    /// Paths created as hard links to an entry copied before.
    pub hard_links: u64,
    /// Files whose blocks are shared with the source (`FICLONE`).
    pub reflinked: u64,
    pub bytes: u64,
    pub errors: u64,
    pub seconds: f64,
}

/// What to keep besides contents and types (`cp --preserve` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preserve {
    pub mode: bool,
    pub ownership: bool,
    pub timestamps: bool,
    pub links: bool,
    pub xattr: bool,
}

impl Preserve {
    /// Everything, as `cp -a`.
    pub const ALL: Preserve = Preserve {
        mode: true,
        ownership: true,
        timestamps: true,
        links: true,
        xattr: true,
    };

    /// Turns off the comma-separated `list` (`--no-preserve=LIST`).
    pub fn without(mut self, list: &str) -> Result<Preserve, String> {
        for item in list.split(',') {
            match item {
                "mode" => self.mode = false,
                "ownership" => self.ownership = false,
                "timestamps" => self.timestamps = false,
                "links" => self.links = false,
                "xattr" => self.xattr = false,
                "all" => {
                    self = Preserve {
                        mode: false,
                        ownership: false,
                        timestamps: false,
                        links: false,
                        xattr: false,
                    }
                }
                other => return Err(format!("unknown attribute {other:?}")),
            }
        }
        Ok(self)
    }
}

/// Settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Runtime threads (0: one per CPU).
    pub threads: usize,
    /// Entries copied at once on each thread.
    pub jobs: usize,
    /// A progress line on stderr (only shown when stderr is a terminal).
    pub progress: bool,
    /// What to keep.
    pub preserve: Preserve,
    /// io-wq worker caps for each runtime (bounded, unbounded); `None`:
    /// the kernel's defaults. The default is one of each per runtime: more
    /// workers of one ring create files in the same directory and contend
    /// for its lock.
    pub iowq: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: 0,
            jobs: 64,
            progress: false,
            preserve: Preserve::ALL,
            iowq: Some((1, 1)),
        }
    }
}

/// A directory whose metadata is set once its contents are in place.
struct DirMeta {
    src: PathBuf,
    dst: PathBuf,
    depth: usize,
    meta: Metadata,
}

/// A directory still to be listed and copied (its copy already exists).
struct DirJob {
    src: PathBuf,
    dst: PathBuf,
    depth: usize,
}

/// Counters, updated from every thread.
#[derive(Default)]
struct Counts {
    files: AtomicU64,
    dirs: AtomicU64,
    symlinks: AtomicU64,
    specials: AtomicU64,
    hard_links: AtomicU64,
    reflinked: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

/// Whether `FICLONE` is worth trying: unknown until the first try.
const REFLINK_UNKNOWN: u8 = 0;
const REFLINK_WORKS: u8 = 1;
const REFLINK_NO: u8 = 2;

/// What every thread of one copy shares.
struct Shared {
    opts: Options,
    /// Directories to list, taken from the back (depth first).
    queue: Mutex<VecDeque<DirJob>>,
    /// Directories queued or being listed, plus entries being copied: 0
    /// means the copy is complete (but for `finish`).
    pending: AtomicUsize,
    /// Bumped when a directory is queued or `pending` reaches 0: wakes the
    /// threads that found the queue empty.
    news: watch::Sender<u64>,
    /// Source (device, inode) of multiply-linked entries → their first copy.
    inodes: Mutex<HashMap<(u64, u64), PathBuf>>,
    /// Hard links to make once every file is copied: (first copy, new path).
    links: Mutex<Vec<(PathBuf, PathBuf)>>,
    dirs: Mutex<Vec<DirMeta>>,
    counts: Counts,
    reflink: AtomicU8,
    /// Effective user and group ids: what new files get.
    ids: (u32, u32),
    /// The umask, which `mkdir` and `open` apply to the modes asked for.
    umask: u32,
    /// Every copy must be chowned (the destination's parent is setgid, so
    /// new entries take its group).
    chown_always: AtomicBool,
}

impl Shared {
    /// Queues a directory (already counted in `pending`) for any thread.
    fn push_dir(&self, job: DirJob) {
        self.queue.lock().unwrap().push_back(job);
        self.news.send_modify(|n| *n += 1);
    }

    /// One directory listed or entry copied.
    fn done_one(&self) {
        if self.pending.fetch_sub(1, Relaxed) == 1 {
            self.news.send_modify(|n| *n += 1);
        }
    }

    fn fail(&self, path: &Path, what: &str, e: impl std::fmt::Display) {
        eprintln!("cptree: {}: {what}: {e}", path.display());
        self.counts.errors.fetch_add(1, Relaxed);
    }

    fn summary(&self, start: Instant) -> Summary {
        let c = &self.counts;
        Summary {
            files: c.files.load(Relaxed),
            dirs: c.dirs.load(Relaxed),
            symlinks: c.symlinks.load(Relaxed),
            specials: c.specials.load(Relaxed),
            hard_links: c.hard_links.load(Relaxed),
            reflinked: c.reflinked.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            errors: c.errors.load(Relaxed),
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    /// For an entry with more than one link: `Some(first copy)` if an
    /// earlier path of the same inode was (or is being) copied, so this one
    /// becomes a link to it; `None` (and this path recorded) otherwise.
    fn seen(&self, meta: &Metadata, dst: &Path) -> Option<PathBuf> {
        if !self.opts.preserve.links || meta.nlink() < 2 || meta.is_dir() {
            return None;
        }
        let mut map = self.inodes.lock().unwrap();
        match map.entry((meta.dev(), meta.ino())) {
            std::collections::hash_map::Entry::Occupied(first) => Some(first.get().clone()),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(dst.to_owned());
                None
            }
        }
    }

    /// If `dst` is a later path of an inode already copied, records the
    /// link to make at the end and says so.
    fn link_to_first(&self, meta: &Metadata, dst: &Path) -> bool {
        match self.seen(meta, dst) {
            Some(first) => {
                self.links.lock().unwrap().push((first, dst.to_owned()));
                true
            }
            None => false,
        }
    }

    /// Mode bits the copy should end with, and which of owner and group to
    /// set: the rules of `cp -a` (see the module docs).
    fn plan(&self, meta: &Metadata) -> (u32, Option<u32>, Option<u32>) {
        let p = self.opts.preserve;
        let mut mode = meta.mode() & 0o7777;
        if !p.mode {
            // As `cp --no-preserve=mode`: the defaults for new entries
            // (directories keep a sticky bit; sockets get `0777`).
            mode = match meta.mode() & libc::S_IFMT {
                libc::S_IFDIR => (0o777 & !self.umask) | (mode & libc::S_ISVTX),
                libc::S_IFSOCK => 0o777 & !self.umask,
                _ => 0o666 & !self.umask,
            };
        }
        let (uid, gid) = (meta.uid(), meta.gid());
        let always = self.chown_always.load(Relaxed);
        let set_uid = (p.ownership && (always || uid != self.ids.0)).then_some(uid);
        let set_gid = (p.ownership && (always || gid != self.ids.1)).then_some(gid);
        (mode, set_uid, set_gid)
    }
}

/// After an owner change was tried: drops setuid/setgid where the owner or
/// group the bits refer to could not be kept (as `cp` does; `chown` failing
/// without root is not an error).
fn drop_unsafe_bits(mode: u32, uid_kept: bool, gid_kept: bool) -> u32 {
    let mut mode = mode;
    if !uid_kept {
        mode &= !libc::S_ISUID;
    }
    if !gid_kept {
        mode &= !libc::S_ISGID;
    }
    mode
}

fn times_of(meta: &Metadata) -> FileTimes {
    FileTimes::new()
        .set_accessed(meta.accessed())
        .set_modified(meta.modified())
}

/// Effective user and group ids, read from `/proc/self/status`.
fn ids_from_proc() -> (u32, u32) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX)
    };
    (field("Uid:"), field("Gid:"))
}

/// The process umask (from `/proc/self/status`, Linux 4.7+; `0o022` if
/// the kernel does not say).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Opens `path` for reading without following a final symlink, without
/// waiting (should it have become a FIFO since it was listed) and, where
/// allowed, without touching its access time.
async fn open_source(path: &Path, at: Option<&Place>) -> io::Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let open = |flags| async move {
        let mut o = OpenOptions::new();
        o.read(true).custom_flags(flags);
        match at {
            Some(at) => o.open_at(&at.dirs.src, &at.name).await,
            None => o.open(path).await,
        }
    };
    match open(flags | libc::O_NOATIME).await {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(flags).await,
        res => res,
    }
}

/// A directory being copied and its copy, open, so that its entries are
/// opened and created relative to them (the kernel does not walk their
/// paths again for each entry).
struct Dirs {
    src: File,
    dst: File,
}

/// An entry's name in its directories.
struct Place {
    dirs: Rc<Dirs>,
    name: OsString,
}

impl Dirs {
    /// Both directories open, or `None` (then entries go by path).
    async fn open(src: &Path, dst: &Path) -> Option<Rc<Dirs>> {
        let dir = |p: &Path| {
            let p = p.to_owned();
            async move {
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
                    .open(p)
                    .await
                    .ok()
            }
        };
        Some(Rc::new(Dirs {
            src: dir(src).await?,
            dst: dir(dst).await?,
        }))
    }
}

/// Copies the tree (or single entry) at `src` to `dst`, which must not
/// exist yet. Starts its own runtime threads: call it from a plain thread.
pub fn copy_tree(src: &Path, dst: &Path, opts: Options) -> Summary {
    let start = Instant::now();
    if let Some(why) = into_itself(src, dst) {
        eprintln!("cptree: {}: {why}", dst.display());
        return Summary {
            errors: 1,
            ..Summary::default()
        };
    }
    let threads = start_threads(&opts);
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        pending: AtomicUsize::new(0),
        news: watch::channel(0).0,
        inodes: Mutex::new(HashMap::new()),
        links: Mutex::new(Vec::new()),
        dirs: Mutex::new(Vec::new()),
        counts: Counts::default(),
        reflink: AtomicU8::new(REFLINK_UNKNOWN),
        ids: ids_from_proc(),
        umask: umask(),
        chown_always: AtomicBool::new(false),
        opts,
    });
    let progress = Progress::start(&shared, src, start);
    // The root, on thread 0: a directory is created and queued; anything
    // else is copied at once.
    let (sh, from, to) = (shared.clone(), src.to_owned(), dst.to_owned());
    threads.handle(0).block_on_with(move || async move {
        copy_root(&sh, from, to).await;
    });
    // Every thread lists and copies until no directory is left.
    let sh = shared.clone();
    threads.block_on_each(move |_| worker(sh.clone()));
    // Then hard links, then directories' metadata, deepest first.
    let sh = shared.clone();
    threads.handle(0).block_on_with(move || async move {
        finish(&sh).await;
    });
    drop(progress);
    shared.summary(start)
}

/// Why `dst` cannot be a copy of `src`: it would be inside it (a copy
/// that never ends), as `cp` refuses.
fn into_itself(src: &Path, dst: &Path) -> Option<&'static str> {
    // A symlink is copied as a symlink, never followed.
    if !std::fs::symlink_metadata(src).ok()?.is_dir() {
        return None;
    }
    let src = std::fs::canonicalize(src).ok()?;
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dst = std::fs::canonicalize(parent).ok()?.join(dst.file_name()?);
    dst.starts_with(&src)
        .then_some("cannot copy a directory into itself")
}

/// Builds the runtime threads, or exits with the reason.
fn start_threads(opts: &Options) -> curing::runtime::Threads {
    let mut builder = curing::Runtime::builder().threads(opts.threads);
    if let Some((b, u)) = opts.iowq {
        builder = builder.iowq_max_workers(b, u);
    }
    builder.build_threads().unwrap_or_else(|e| {
        eprintln!("cptree: cannot start the runtime: {e}");
        std::process::exit(2)
    })
}

async fn copy_root(sh: &Arc<Shared>, src: PathBuf, dst: PathBuf) {
    let meta = match fs::symlink_metadata(&src).await {
        Ok(m) => m,
        Err(e) => return sh.fail(&src, "cannot read", e),
    };
    if !meta.is_dir() {
        return copy_entry(sh.clone(), src, dst, None, Some(meta), None).await;
    }
    if let Err(e) = fs::create_dir_mode(&dst, 0o700).await {
        return sh.fail(&dst, "cannot create directory", e);
    }
    // New entries take a setgid directory's group: then every copy needs
    // its group set.
    if let Ok(m) = fs::metadata(&dst).await {
        if m.mode() & libc::S_ISGID != 0 || m.gid() != sh.ids.1 {
            sh.chown_always.store(true, Relaxed);
        }
    }
    sh.counts.dirs.fetch_add(1, Relaxed);
    sh.dirs.lock().unwrap().push(DirMeta {
        src: src.clone(),
        dst: dst.clone(),
        depth: 0,
        meta,
    });
    sh.pending.fetch_add(1, Relaxed);
    sh.push_dir(DirJob { src, dst, depth: 0 });
}

/// One thread's share: list directories from the queue and copy their
/// entries, until every directory has been listed and every copy started
/// here has finished.
async fn worker(sh: Arc<Shared>) {
    let jobs = sh.opts.jobs.max(1);
    let slots = Semaphore::new(jobs);
    let mut news = sh.news.subscribe();
    loop {
        news.borrow_and_update();
        let job = sh.queue.lock().unwrap().pop_back();
        match job {
            Some(job) => {
                list_dir(&sh, &slots, job).await;
                sh.done_one();
            }
            // Others are still at work: more directories may come. Wait
            // for news (a directory queued, or the count reaching 0); what
            // came since the last look counts as news.
            None if sh.pending.load(Relaxed) > 0 => {
                if news.changed().await.is_err() {
                    break;
                }
            }
            None => break,
        }
    }
    drop(slots.acquire_many(jobs).await.expect("never closed"));
}

/// Lists one directory: each entry is copied by a task of its own (a
/// subdirectory is created, then queued for any thread to list).
async fn list_dir(sh: &Arc<Shared>, slots: &Semaphore, job: DirJob) {
    let mut entries = match fs::read_dir_with_metadata(&job.src).await {
        Ok(entries) => entries,
        Err(e) => {
            // Nothing of it can be copied: no empty copy is left (as `cp`).
            sh.fail(&job.src, "cannot list", e);
            sh.dirs.lock().unwrap().retain(|d| d.dst != job.dst);
            sh.counts.dirs.fetch_sub(1, Relaxed);
            let _ = fs::remove_dir(&job.dst).await;
            return;
        }
    };
    let dirs = Dirs::open(&job.src, &job.dst).await;
    loop {
        let entry = match entries.next_entry().await {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => return sh.fail(&job.src, "cannot list", e),
        };
        let (from, to) = (entry.path(), job.dst.join(entry.file_name()));
        let place = dirs.clone().map(|dirs| Place {
            dirs,
            name: entry.file_name(),
        });
        // Looked up by the listing thread (`None` if the entry vanished).
        let meta = entry.metadata().await.ok();
        let permit = slots.acquire().await.expect("never closed");
        let sh = sh.clone();
        let depth = job.depth + 1;
        // Counted until done: a directory found by this entry is queued
        // before the count drops, so no thread stops early.
        sh.pending.fetch_add(1, Relaxed);
        curing::spawn(async move {
            copy_entry(sh.clone(), from, to, Some(depth), meta, place).await;
            sh.done_one();
            drop(permit);
        });
    }
}

/// Copies one entry of any type; `depth` is `Some` inside the tree (a
/// directory is then queued) and `None` for a root that is not a directory.
async fn copy_entry(
    sh: Arc<Shared>,
    from: PathBuf,
    to: PathBuf,
    depth: Option<usize>,
    listed: Option<Metadata>,
    place: Option<Place>,
) {
    let meta = match listed {
        Some(m) => m,
        None => match fs::symlink_metadata(&from).await {
            Ok(m) => m,
            Err(e) => return sh.fail(&from, "cannot read", e),
        },
    };
    let kind = meta.mode() & libc::S_IFMT;
    if kind == libc::S_IFDIR {
        return new_dir(&sh, from, to, depth.unwrap_or(1), meta).await;
    }
    if sh.link_to_first(&meta, &to) {
        return;
    }
    let res = match kind {
        libc::S_IFREG => copy_file(&sh, &from, &to, &meta, place.as_ref()).await,
        libc::S_IFLNK => copy_symlink(&sh, &from, &to, &meta).await,
        _ => copy_special(&sh, &from, &to, &meta).await,
    };
    if let Err((what, e)) = res {
        sh.fail(&from, what, e);
    }
}

async fn new_dir(sh: &Arc<Shared>, src: PathBuf, dst: PathBuf, depth: usize, meta: Metadata) {
    // Writable and searchable by us while its contents are copied; the
    // real mode comes at the end.
    if let Err(e) = fs::create_dir_mode(&dst, 0o700).await {
        return sh.fail(&dst, "cannot create directory", e);
    }
    sh.counts.dirs.fetch_add(1, Relaxed);
    sh.dirs.lock().unwrap().push(DirMeta {
        src: src.clone(),
        dst: dst.clone(),
        depth,
        meta,
    });
    sh.pending.fetch_add(1, Relaxed);
    sh.push_dir(DirJob { src, dst, depth });
}

/// A failed step: what was being done, and why it failed.
type Step = (&'static str, io::Error);

/// Adds the context of a step to an error.
trait During<T> {
    fn during(self, what: &'static str) -> Result<T, Step>;
}

impl<T> During<T> for io::Result<T> {
    fn during(self, what: &'static str) -> Result<T, Step> {
        self.map_err(|e| (what, e))
    }
}

/// Copies a regular file: contents, then owner, xattrs, mode, times (in
/// that order: a chown clears setuid bits and file capabilities, a write
/// moves the modification time). `meta` was read before the file was
/// opened (as `cp` reads it), so the copy keeps the access time the source
/// had before this read.
async fn copy_file(
    sh: &Shared,
    from: &Path,
    to: &Path,
    meta: &Metadata,
    at: Option<&Place>,
) -> Result<(), Step> {
    let src = open_source(from, at).await.during("cannot open")?;
    let (mode, _, _) = sh.plan(meta);
    let mut create = OpenOptions::new();
    create.write(true).create_new(true).mode(mode & 0o777);
    let dst = match at {
        Some(at) => create.open_at(&at.dirs.dst, &at.name).await,
        None => create.open(to).await,
    }
    .during("cannot create")?;
    copy_contents(sh, &src, &dst, meta).await?;
    apply_meta(
        sh,
        from,
        Source::File(&src),
        Target::File(&dst),
        meta,
        SetMode::IfNeeded,
    )
    .await;
    src.close().await.during("cannot close")?;
    dst.close().await.during("cannot close the copy")?;
    sh.counts.files.fetch_add(1, Relaxed);
    Ok(())
}

/// The bytes: a reflink if the file system shares blocks; else sparse
/// files data range by data range; else through the ring (small) or
/// `copy_file_range` (big). Counts the bytes as they are copied.
async fn copy_contents(sh: &Shared, src: &File, dst: &File, meta: &Metadata) -> Result<(), Step> {
    let len = meta.len();
    if len == 0 {
        return Ok(());
    }
    if sh.reflink.load(Relaxed) != REFLINK_NO {
        match dst.reflink_from(src).await {
            Ok(()) => {
                sh.reflink.store(REFLINK_WORKS, Relaxed);
                sh.counts.reflinked.fetch_add(1, Relaxed);
                sh.counts.bytes.fetch_add(len, Relaxed);
                return Ok(());
            }
            // Not on this file system (or not between these two): never
            // try again in this copy.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::ENOTTY | libc::EXDEV | libc::EINVAL)
                ) =>
            {
                let _ = sh
                    .reflink
                    .compare_exchange(REFLINK_UNKNOWN, REFLINK_NO, Relaxed, Relaxed);
            }
            Err(e) => return Err(("cannot clone", e)),
        }
    }
    // Fewer blocks than the size needs: holes to keep.
    if meta.blocks() * 512 < len {
        return copy_sparse(sh, src, dst, len).await;
    }
    if len <= SMALL {
        // One read of the size the metadata gave, one write (a file
        // written to while it is copied is copied as one read saw it).
        let (res, buf) = src.read_at(Vec::with_capacity(len as usize), 0).await;
        res.during("cannot read")?;
        let n = buf.len() as u64;
        dst.write_all_at(buf, 0).await.0.during("cannot write")?;
        sh.counts.bytes.fetch_add(n, Relaxed);
        return Ok(());
    }
    copy_range(sh, src, 0, dst, u64::MAX).await
}

/// Bytes per `copy_file_range` call, so progress moves on big files (each
/// call is a trip to the blocking pool: not too small).
const STEP: u64 = 256 << 20;

/// `len` bytes (or up to the end) from `pos` in `src` to the same offset
/// in `dst`: `copy_file_range` in the kernel, or through the ring where
/// the kernel will not (across file systems on old kernels).
async fn copy_range(sh: &Shared, src: &File, pos: u64, dst: &File, len: u64) -> Result<(), Step> {
    let mut done = 0;
    while done < len {
        let step = (len - done).min(STEP);
        let at = pos + done;
        let n = match fs::copy_file_range(src, at, dst, at, step).await {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EXDEV | libc::EINVAL | libc::EOPNOTSUPP)
                ) =>
            {
                fs::copy_range(src, at, dst, at, step).await
            }
            res => res,
        }
        .during("cannot copy")?;
        if n == 0 {
            break;
        }
        sh.counts.bytes.fetch_add(n, Relaxed);
        done += n;
    }
    Ok(())
}

/// A sparse file: only its data ranges are copied; the holes stay holes,
/// and the size is set at the end (a file may end in a hole).
async fn copy_sparse(sh: &Shared, src: &File, dst: &File, len: u64) -> Result<(), Step> {
    let mut pos = 0;
    while pos < len {
        let Some(data) = src.seek_data(pos).await.during("cannot find data")? else {
            break;
        };
        let end = src
            .seek_hole(data)
            .await
            .during("cannot find a hole")?
            .unwrap_or(len);
        copy_range(sh, src, data, dst, end - data).await?;
        pos = end;
    }
    dst.set_len(len).await.during("cannot set the size")?;
    Ok(())
}

/// Where metadata is written: an open file, or a path (not followed).
#[derive(Clone, Copy)]
enum Target<'a> {
    File(&'a File),
    Path(&'a Path),
}

/// Where metadata is read from.
#[derive(Clone, Copy)]
enum Source<'a> {
    File(&'a File),
    Path(&'a Path),
}

/// Sets owner and/or group; returns the mode to set afterwards, without
/// setuid/setgid where the owner or group they refer to was not kept.
async fn set_owner(
    sh: &Shared,
    target: Target<'_>,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: u32,
) -> Result<u32, Step> {
    // Not asked to keep owners: the bits stay, as with `cp`.
    if !sh.opts.preserve.ownership || (uid.is_none() && gid.is_none()) {
        return Ok(mode);
    }
    let set = |uid, gid| async move {
        match target {
            Target::File(f) => f.set_owner(uid, gid).await,
            Target::Path(p) => fs::lchown(p, uid, gid).await,
        }
    };
    if sh.ids.0 == 0 {
        set(uid, gid).await.during("cannot set owner")?;
        return Ok(mode);
    }
    // Not root: the owner cannot be given away; the group can be set to
    // one the user is a member of. Failures are not reported (as `cp -a`),
    // but the bits that would now name the wrong owner or group go.
    let gid_kept = gid.is_none() || set(None, gid).await.is_ok();
    Ok(drop_unsafe_bits(mode, uid.is_none(), gid_kept))
}

/// Whether xattr `name` is kept: ACLs go with the mode (as `cp` counts
/// them), every other xattr with `xattr`.
fn keeps_xattr(p: Preserve, name: &OsString) -> bool {
    if name.as_encoded_bytes().starts_with(b"system.posix_acl_") {
        p.mode
    } else {
        p.xattr
    }
}

/// Copies the extended attributes `--no-preserve` leaves in (ACLs,
/// capabilities, labels...). A failure is reported with the xattr's name
/// and the others are still copied.
async fn copy_xattrs(sh: &Shared, path: &Path, from: Source<'_>, to: Target<'_>) {
    let p = sh.opts.preserve;
    if !p.mode && !p.xattr {
        return;
    }
    let names = match from {
        Source::File(f) => f.xattr_names().await,
        Source::Path(p) => fs::symlink_xattr_names(p).await,
    };
    let names = match names {
        Ok(names) => names,
        // The source's file system keeps none.
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
        Err(e) => return sh.fail(path, "cannot list xattrs", e),
    };
    for name in names.into_iter().filter(|n| keeps_xattr(p, n)) {
        let value = match from {
            Source::File(f) => f.xattr(&name).await,
            Source::Path(p) => fs::symlink_xattr(p, &name).await,
        };
        let value = match value {
            Ok(Some(v)) => v,
            // Gone since the listing: nothing to copy.
            Ok(None) => continue,
            Err(e) => {
                sh.fail(path, "cannot read xattr", named(e, &name));
                continue;
            }
        };
        let res = match to {
            Target::File(f) => f.set_xattr(&name, &value).await,
            Target::Path(p) => fs::set_symlink_xattr(p, &name, &value).await,
        };
        if let Err(e) = res {
            sh.fail(path, "cannot set xattr", named(e, &name));
        }
    }
}

/// When the mode is set on a copy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetMode {
    /// Symlinks have no mode of their own.
    Never,
    /// Files: only where creation could not give it (special bits, bits
    /// the umask cleared, or an owner change that cleared them).
    IfNeeded,
    /// Directories (made writable for their contents) and special files.
    Always,
}

/// Owner, xattrs, mode and times of a copy, in that order (a chown clears
/// setuid bits and file capabilities; the times last). Each failure is
/// reported with `path` and the other steps still run.
async fn apply_meta(
    sh: &Shared,
    path: &Path,
    from: Source<'_>,
    to: Target<'_>,
    meta: &Metadata,
    set_mode: SetMode,
) {
    let (mode, uid, gid) = sh.plan(meta);
    let owned = set_owner(sh, to, uid, gid, mode).await;
    let mode = owned.unwrap_or_else(|(what, e)| {
        sh.fail(path, what, e);
        drop_unsafe_bits(mode, false, false)
    });
    copy_xattrs(sh, path, from, to).await;
    let needed = match set_mode {
        SetMode::Never => false,
        SetMode::IfNeeded => mode & !sh.umask != mode || mode & !0o777 != 0,
        SetMode::Always => true,
    };
    if needed {
        let perm = std::fs::Permissions::from_mode(mode);
        let res = match to {
            Target::File(f) => f.set_permissions(perm).await,
            Target::Path(p) => fs::set_permissions(p, perm).await,
        };
        if let Err(e) = res {
            sh.fail(path, "cannot set mode", e);
        }
    }
    if sh.opts.preserve.timestamps {
        let res = match to {
            Target::File(f) => f.set_times(times_of(meta)).await,
            Target::Path(p) => fs::set_symlink_times(p, times_of(meta)).await,
        };
        if let Err(e) = res {
            sh.fail(path, "cannot set times", e);
        }
    }
}

/// [`apply_meta`] for an entry reached by path (directories, symlinks,
/// special files).
async fn apply_path_meta(sh: &Shared, from: &Path, to: &Path, meta: &Metadata, set_mode: SetMode) {
    apply_meta(
        sh,
        from,
        Source::Path(from),
        Target::Path(to),
        meta,
        set_mode,
    )
    .await;
}

/// `e` with the xattr's name in its message.
fn named(e: io::Error, name: &OsString) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", name.to_string_lossy()))
}

async fn copy_symlink(sh: &Shared, from: &Path, to: &Path, meta: &Metadata) -> Result<(), Step> {
    let target = fs::read_link(from).await.during("cannot read link")?;
    fs::symlink(&target, to)
        .await
        .during("cannot create symlink")?;
    apply_path_meta(sh, from, to, meta, SetMode::Never).await;
    sh.counts.symlinks.fetch_add(1, Relaxed);
    Ok(())
}

/// FIFOs, sockets, character and block devices: made anew with `mknod`.
async fn copy_special(sh: &Shared, from: &Path, to: &Path, meta: &Metadata) -> Result<(), Step> {
    let (mode, _, _) = sh.plan(meta);
    let kind = meta.mode() & libc::S_IFMT;
    fs::mknod(to, kind | (mode & 0o777), meta.rdev())
        .await
        .during("cannot create")?;
    apply_path_meta(sh, from, to, meta, SetMode::Always).await;
    sh.counts.specials.fetch_add(1, Relaxed);
    Ok(())
}

/// The last steps, once every entry is copied: hard links, then each
/// directory's owner, xattrs, mode and times, deepest first (a directory's
/// times after everything inside it changed; a read-only parent last).
async fn finish(sh: &Shared) {
    let links = std::mem::take(&mut *sh.links.lock().unwrap());
    for (first, link) in links {
        match fs::hard_link(&first, &link).await {
            Ok(()) => {
                sh.counts.hard_links.fetch_add(1, Relaxed);
            }
            Err(e) => sh.fail(&link, "cannot link", e),
        }
    }
    let mut dirs = std::mem::take(&mut *sh.dirs.lock().unwrap());
    dirs.sort_by_key(|d| std::cmp::Reverse(d.depth));
    for d in dirs {
        apply_path_meta(sh, &d.src, &d.dst, &d.meta, SetMode::Always).await;
    }
}

// ---- Command line ------------------------------------------------------

fn usage() -> ! {
    eprintln!(
        "usage: cptree SRC DST [--threads N] [--jobs N] [--no-preserve=LIST] [--verify] \
         [--quiet] [--stats] [--iowq BOUNDED,UNBOUNDED]\n       cptree --verify-only SRC DST"
    );
    std::process::exit(2)
}

#[allow(dead_code)] // the tests include this file for `copy_tree`
fn main() {
    let mut args = std::env::args().skip(1);
    let mut paths = Vec::new();
    let mut opts = Options {
        progress: true,
        ..Options::default()
    };
    let (mut verify, mut verify_only, mut stats) = (false, false, false);
    let number = |v: Option<String>| v.and_then(|n| n.parse().ok()).unwrap_or_else(|| usage());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--jobs" => opts.jobs = number(args.next()),
            "--threads" => opts.threads = number(args.next()),
            "--iowq" => {
                let v = args.next().unwrap_or_else(|| usage());
                let (b, u) = v.split_once(',').unwrap_or((&v, "0"));
                opts.iowq = Some((number(Some(b.into())) as u32, number(Some(u.into())) as u32));
            }
            "--quiet" => opts.progress = false,
            "--stats" => stats = true,
            "--verify" => verify = true,
            "--verify-only" => verify_only = true,
            _ if arg.starts_with("--no-preserve=") => {
                let list = &arg["--no-preserve=".len()..];
                opts.preserve = opts.preserve.without(list).unwrap_or_else(|e| {
                    eprintln!("cptree: --no-preserve: {e}");
                    usage()
                })
            }
            _ if arg.starts_with("--") => usage(),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let [src, dst] = <[PathBuf; 2]>::try_from(paths).unwrap_or_else(|_| usage());
    let mut failed = false;
    if !verify_only {
        let s = copy_tree(&src, &dst, opts.clone());
        if stats {
            println!(
                "cptree: {} files, {} dirs, {} symlinks, {} special, {} hard links, \
                 {:.1} MB in {:.3} s ({:.0} MB/s), {} errors",
                s.files,
                s.dirs,
                s.symlinks,
                s.specials,
                s.hard_links,
                s.bytes as f64 / 1e6,
                s.seconds,
                s.bytes as f64 / 1e6 / s.seconds.max(1e-9),
                s.errors
            );
        }
        failed |= s.errors > 0;
    }
    if verify || verify_only {
        let diffs = verify_tree(&src, &dst, opts.preserve);
        for d in &diffs {
            println!("differs: {d}");
        }
        println!("cptree: verify: {} differences", diffs.len());
        failed |= !diffs.is_empty();
    }
    std::process::exit(i32::from(failed));
}
