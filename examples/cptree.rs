//! `cptree SRC DST`: copies a directory tree (files, directories, symlinks,
//! permission bits) with every open, read, write, mkdir, symlink and close
//! going through io_uring, many files in flight at once.
//!
//! ```text
//! cargo run --release --example cptree -- SRC DST [--jobs N] [--iowq BOUNDED,UNBOUNDED] [--quiet]
//! ```
//!
//! Like `cp -r SRC DST` when DST does not exist: DST becomes the copy of
//! SRC. Errors on single entries are reported with their path and the copy
//! goes on; the exit code is 1 if anything failed. Progress goes to stderr
//! every second on long runs; a summary (files, bytes, seconds, MB/s) at
//! the end.
//!
//! Directory listing and reading symlinks run on the blocking pool (io_uring
//! has no ops for them); everything else is an io_uring op.

use curing::fs::{self, File, OpenOptions};
use curing::sync::Semaphore;
use std::cell::{Cell, RefCell};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Files at most this big are copied with one read and one write.
const SMALL: u64 = 1 << 20;

/// What the copy did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub errors: u64,
    pub seconds: f64,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files copied at once.
    pub jobs: usize,
    /// Print progress every second and the errors (false: errors only).
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            jobs: 128,
            progress: false,
        }
    }
}

/// Shared state of one tree copy.
struct Copier {
    opts: Options,
    /// Bounds the files in flight.
    slots: Semaphore,
    stats: RefCell<Summary>,
    start: Instant,
    last_report: Cell<Instant>,
    /// Directories whose final permission bits are set at the end (they
    /// are created writable so their contents can be copied in).
    dir_modes: RefCell<Vec<(PathBuf, u32)>>,
}

impl Copier {
    fn fail(&self, path: &Path, e: io::Error) {
        eprintln!("cptree: {}: {e}", path.display());
        self.stats.borrow_mut().errors += 1;
    }

    fn report(&self) {
        if !self.opts.progress || self.last_report.get().elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_report.set(Instant::now());
        let s = self.stats.borrow();
        let secs = self.start.elapsed().as_secs_f64();
        eprintln!(
            "cptree: {} files, {:.1} MB, {:.0} MB/s so far",
            s.files,
            s.bytes as f64 / 1e6,
            s.bytes as f64 / 1e6 / secs
        );
    }
}

/// Copies the tree at `src` to `dst` (which must not exist yet).
pub async fn copy_tree(src: &Path, dst: &Path, opts: Options) -> Summary {
    let copier = Rc::new(Copier {
        slots: Semaphore::new(opts.jobs.max(1)),
        opts,
        stats: RefCell::new(Summary::default()),
        start: Instant::now(),
        last_report: Cell::new(Instant::now()),
        dir_modes: RefCell::new(Vec::new()),
    });
    match fs::symlink_metadata(src).await {
        Ok(m) if m.is_dir() => walk(&copier, src.to_owned(), dst.to_owned()).await,
        Ok(m) if m.is_symlink() => copy_symlink(&copier, src, dst).await,
        Ok(_) => {
            let permit = copier.slots.acquire().await.expect("never closed");
            copy_file(copier.clone(), src.to_owned(), dst.to_owned(), permit).await
        }
        Err(e) => copier.fail(src, e),
    }
    // Wait for the files in flight: all permits back.
    let all = copier.opts.jobs.max(1);
    drop(copier.slots.acquire_many(all).await.expect("never closed"));
    // Deepest directories first, so a read-only parent is set last.
    let mut modes = std::mem::take(&mut *copier.dir_modes.borrow_mut());
    modes.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (dir, mode) in modes {
        let perm = std::fs::Permissions::from_mode(mode);
        if let Err(e) = fs::set_permissions(&dir, perm).await {
            copier.fail(&dir, e);
        }
    }
    let mut s = copier.stats.borrow().clone();
    s.seconds = copier.start.elapsed().as_secs_f64();
    s
}

/// Walks directories breadth first; files are copied by spawned tasks,
/// at most `jobs` at once.
async fn walk(copier: &Rc<Copier>, src: PathBuf, dst: PathBuf) {
    let mut queue = std::collections::VecDeque::from([(src, dst)]);
    while let Some((src, dst)) = queue.pop_front() {
        let mode = match fs::metadata(&src).await {
            Ok(m) => m.mode() & 0o7777,
            Err(e) => {
                copier.fail(&src, e);
                continue;
            }
        };
        if let Err(e) = fs::create_dir_mode(&dst, 0o700 | mode).await {
            copier.fail(&dst, e);
            continue;
        }
        copier.stats.borrow_mut().dirs += 1;
        copier.dir_modes.borrow_mut().push((dst.clone(), mode));
        let mut entries = match fs::read_dir(&src).await {
            Ok(entries) => entries,
            Err(e) => {
                copier.fail(&src, e);
                continue;
            }
        };
        loop {
            let entry = match entries.next_entry().await {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) => {
                    copier.fail(&src, e);
                    break;
                }
            };
            let (from, to) = (entry.path(), dst.join(entry.file_name()));
            match entry.file_type() {
                Ok(t) if t.is_dir() => queue.push_back((from, to)),
                Ok(t) if t.is_symlink() => copy_symlink(copier, &from, &to).await,
                Ok(t) if t.is_file() => {
                    let permit = copier.slots.acquire().await.expect("never closed");
                    curing::spawn(copy_file(copier.clone(), from, to, permit));
                }
                Ok(_) => copier.fail(
                    &from,
                    io::Error::other("not a file, directory or symlink; skipped"),
                ),
                Err(e) => copier.fail(&from, e),
            }
        }
    }
}

async fn copy_symlink(copier: &Copier, from: &Path, to: &Path) {
    let res = async {
        let target = fs::read_link(from).await?;
        fs::symlink(target, to).await
    };
    match res.await {
        Ok(()) => copier.stats.borrow_mut().symlinks += 1,
        Err(e) => copier.fail(from, e),
    }
}

/// Copies one regular file; the permit bounds the files in flight.
async fn copy_file(
    copier: Rc<Copier>,
    from: PathBuf,
    to: PathBuf,
    permit: curing::sync::SemaphorePermit,
) {
    match copy_contents(&from, &to).await {
        Ok(n) => {
            let mut s = copier.stats.borrow_mut();
            s.files += 1;
            s.bytes += n;
        }
        Err((path, e)) => copier.fail(if path { &to } else { &from }, e),
    }
    drop(permit);
    copier.report();
}

/// The copy of one file; an error says whether it concerns the
/// destination (`true`) or the source.
async fn copy_contents(from: &Path, to: &Path) -> Result<u64, (bool, io::Error)> {
    let src = File::open(from).await.map_err(|e| (false, e))?;
    let meta = src.metadata().await.map_err(|e| (false, e))?;
    let mode = meta.mode() & 0o7777;
    let dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)
        .await
        .map_err(|e| (true, e))?;
    let len = meta.len();
    let n = if len <= SMALL {
        // One read (a second one only if the file grew), one write.
        let (res, buf) = src
            .read_to_end_at(Vec::with_capacity(len as usize + 1), 0)
            .await;
        res.map_err(|e| (false, e))?;
        let n = buf.len() as u64;
        dst.write_all_at(buf, 0).await.0.map_err(|e| (true, e))?;
        n
    } else {
        fs::copy_range(&src, 0, &dst, 0, u64::MAX)
            .await
            .map_err(|e| (true, e))?
    };
    // The umask may have cleared bits at creation.
    if mode & !0o777 != 0 || mode & umask() != 0 {
        let perm = std::fs::Permissions::from_mode(mode);
        dst.set_permissions(perm).await.map_err(|e| (true, e))?;
    }
    src.close().await.map_err(|e| (false, e))?;
    dst.close().await.map_err(|e| (true, e))?;
    Ok(n)
}

/// The process umask (read once at start).
fn umask() -> u32 {
    thread_local! {
        static MASK: u32 = {
            // SAFETY: umask takes no pointers; the old value is put back at once.
            let old = unsafe { libc::umask(0o022) };
            // SAFETY: as above.
            unsafe { libc::umask(old) };
            old
        };
    }
    MASK.with(|m| *m)
}

fn usage() -> ! {
    eprintln!("usage: cptree SRC DST [--jobs N] [--iowq BOUNDED,UNBOUNDED] [--quiet]");
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
    let mut builder = curing::Runtime::builder();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--jobs" => {
                opts.jobs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--iowq" => {
                let v = args.next().unwrap_or_else(|| usage());
                let (b, u) = v.split_once(',').unwrap_or((&v, "0"));
                let (b, u) = (
                    b.parse().unwrap_or_else(|_| usage()),
                    u.parse().unwrap_or_else(|_| usage()),
                );
                builder = builder.iowq_max_workers(b, u);
            }
            "--quiet" => opts.progress = false,
            _ if arg.starts_with("--") => usage(),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let [src, dst] = <[PathBuf; 2]>::try_from(paths).unwrap_or_else(|_| usage());
    let rt = builder.build().unwrap_or_else(|e| {
        eprintln!("cptree: cannot start the runtime: {e}");
        std::process::exit(2)
    });
    let s = rt.block_on(copy_tree(&src, &dst, opts));
    println!(
        "cptree: {} files, {} dirs, {} symlinks, {:.1} MB in {:.3} s ({:.0} MB/s), {} errors",
        s.files,
        s.dirs,
        s.symlinks,
        s.bytes as f64 / 1e6,
        s.seconds,
        s.bytes as f64 / 1e6 / s.seconds.max(1e-9),
        s.errors
    );
    std::process::exit(i32::from(s.errors > 0));
}
