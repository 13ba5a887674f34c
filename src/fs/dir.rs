//! [`read_dir`]: listing a directory as an async stream.
//!
//! io_uring has no `getdents` op, so a blocking-pool thread lists the directory
//! (with `std::fs::read_dir`) and hands entries over in batches. The thread
//! stays at most [`AHEAD`] entries ahead of the reader, and stops as soon as
//! the [`ReadDir`] is dropped.

use super::blocking::detach;
use super::Metadata;
use crate::driver::submit;
use crate::op::{at::At, statx};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

/// How many entries the listing thread may hold ready before it waits.
const AHEAD: usize = 1024;
/// Entries the thread collects before waking the reader.
const BATCH: usize = 64;
/// How long dropping a [`ReadDir`] waits for its thread to close the
/// directory (it is normally a few microseconds).
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Lists the entries of directory `path` (without `.` and `..`), in the
/// order the file system gives them.
///
/// io_uring cannot list a directory: the listing runs on a separate thread
/// (see the module docs). Errors opening the directory (`NotFound`,
/// `ENOTDIR`) come from this call; errors while listing come from the stream.
///
/// ```no_run
/// # curing::run(async {
/// let mut dir = curing::fs::read_dir("/etc").await?;
/// while let Some(entry) = dir.next_entry().await? {
///     println!("{:?} {:?}", entry.file_name(), entry.file_type());
/// }
/// # std::io::Result::Ok(()) });
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    open(path.as_ref().to_owned(), false).await
}

/// [`read_dir`], and the listing thread also reads each entry's metadata
/// (`statx` without following symlinks, as [`DirEntry::metadata`]), so
/// [`DirEntry::metadata`] answers at once, without an op. For walking
/// trees whose entries all get looked at (copies, sizes, searches): the
/// lookups run beside the caller instead of one op each. An entry that
/// vanished before it could be looked up comes with no metadata and
/// `metadata()` looks again (and fails with `NotFound`).
pub async fn read_dir_with_metadata(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    open(path.as_ref().to_owned(), true).await
}

/// Starts the listing thread for `path`; `with_meta`: it stats each entry.
async fn open(path: PathBuf, with_meta: bool) -> io::Result<ReadDir> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            opened: None,
            ready: VecDeque::new(),
            done: false,
            dropped: false,
            exited: false,
            waker: None,
        }),
        room: Condvar::new(),
        gone: Condvar::new(),
    });
    let theirs = shared.clone();
    // The thread first opens the directory and reports how that went in
    // `opened`; then it goes on listing. From here on, dropping `dir`
    // (also when this future is dropped) tells the thread to stop.
    detach(move || list(path, with_meta, theirs))?;
    let dir = ReadDir { shared };
    let opened = std::future::poll_fn(|cx| {
        let shared = &dir.shared;
        let mut s = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.opened.take() {
            Some(res) => Poll::Ready(res),
            None => {
                let old = s.waker.replace(cx.waker().clone());
                drop(s);
                drop(old);
                Poll::Pending
            }
        }
    });
    opened.await?;
    Ok(dir)
}

/// The listing thread: open, then push entries until done or dropped.
/// The directory is closed before the last batch is handed over (or before
/// `exited` is set, when the stream was dropped), so no descriptor outlives
/// the stream.
fn list(path: PathBuf, with_meta: bool, shared: Arc<Shared>) {
    let mut iter = match std::fs::read_dir(&path) {
        Ok(iter) => Some(iter),
        Err(e) => {
            shared.opened(Err(e));
            return shared.exited();
        }
    };
    // Entries are looked up relative to the directory (no walk of its
    // path for each one); without this second descriptor, by full path.
    // Closed with the listing.
    let mut dir = with_meta
        .then(|| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(&path)
                .ok()
        })
        .flatten();
    shared.opened(Ok(()));
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(it) = iter.as_mut() {
        let next = it.next();
        let end = next.is_none();
        batch.extend(next.map(|r| r.map(|e| DirEntry::from_std(e, with_meta, dir.as_ref()))));
        if batch.len() < BATCH && !end {
            continue;
        }
        if end {
            iter = None;
            dir = None;
        }
        if !shared.push(&mut batch, end) {
            break;
        }
    }
    drop(iter);
    drop(dir);
    shared.exited();
}

/// What the listing thread and the stream share.
struct Shared {
    state: Mutex<State>,
    /// Signalled when the reader takes entries (or drops the stream).
    room: Condvar,
    /// Signalled when the thread has closed the directory and is done.
    gone: Condvar,
}

struct State {
    /// How opening the directory went, until `read_dir` takes it.
    opened: Option<io::Result<()>>,
    /// Entries listed but not yet taken.
    ready: VecDeque<io::Result<DirEntry>>,
    /// The listing is complete.
    done: bool,
    /// The stream was dropped: the thread should stop.
    dropped: bool,
    /// The thread has closed the directory and stopped.
    exited: bool,
    /// The reader waiting for entries.
    waker: Option<Waker>,
}

impl Shared {
    /// Reports how opening the directory went, and wakes `read_dir`.
    fn opened(&self, res: io::Result<()>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.opened = Some(res);
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The thread is about to return, the directory closed.
    fn exited(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.exited = true;
        drop(s);
        self.gone.notify_all();
    }

    /// Hands `batch` over (waiting while the reader is far behind); false
    /// if the stream was dropped.
    fn push(&self, batch: &mut Vec<io::Result<DirEntry>>, end: bool) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while s.ready.len() >= AHEAD && !s.dropped {
            s = self.room.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.dropped {
            return false;
        }
        s.ready.extend(batch.drain(..));
        s.done = end;
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        true
    }
}

/// The entries of a directory, as a stream; see [`read_dir`].
///
/// Implements `futures_core::Stream<Item = io::Result<DirEntry>>`, and
/// [`next_entry`](ReadDir::next_entry) for use without `StreamExt`.
pub struct ReadDir {
    shared: Arc<Shared>,
}

impl ReadDir {
    /// The next entry, or `None` at the end.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        std::future::poll_fn(|cx| self.poll_entry(cx))
            .await
            .transpose()
    }

    fn poll_entry(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<DirEntry>>> {
        let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if !s.ready.is_empty() || s.done {
            // Ready at once: spends the task's budget (outside the lock;
            // only this stream takes entries, so they are still there).
            drop(s);
            std::task::ready!(crate::coop::poll_proceed(cx));
            s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        }
        if let Some(entry) = s.ready.pop_front() {
            if s.ready.len() + 1 == AHEAD {
                self.shared.room.notify_one();
            }
            return Poll::Ready(Some(entry));
        }
        if s.done {
            return Poll::Ready(None);
        }
        let old = s.waker.replace(cx.waker().clone());
        drop(s);
        drop(old);
        Poll::Pending
    }
}

impl futures_core::Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_entry(cx)
    }
}

impl Drop for ReadDir {
    /// Tells the thread to stop and waits (briefly: it is at most between
    /// two `getdents` calls) until it has closed the directory, so that
    /// the descriptor does not outlive the stream.
    fn drop(&mut self) {
        let mut s = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        s.dropped = true;
        let entries = std::mem::take(&mut s.ready);
        self.shared.room.notify_one();
        let deadline = std::time::Instant::now() + EXIT_WAIT;
        while !s.exited {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            s = (self.shared.gone.wait_timeout(s, left))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(s);
        drop(entries);
    }
}

impl std::fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadDir").finish_non_exhaustive()
    }
}

/// One entry of a directory listing.
#[derive(Debug)]
pub struct DirEntry {
    path: PathBuf,
    name: OsString,
    ino: u64,
    /// From the listing (`d_type`); `None` if neither it nor an `lstat` on
    /// the listing thread could tell.
    file_type: Option<std::fs::FileType>,
    /// Read by the listing thread ([`read_dir_with_metadata`]).
    meta: Option<Metadata>,
}

impl DirEntry {
    /// `dir`: the listed directory, to look entries up relative to it.
    fn from_std(e: std::fs::DirEntry, with_meta: bool, dir: Option<&std::fs::File>) -> DirEntry {
        use std::os::fd::AsFd;
        use std::os::unix::fs::DirEntryExt;
        let path = e.path();
        let meta = with_meta
            .then(|| {
                let (dirfd, name) = match dir {
                    Some(d) => (Some(d.as_fd()), Path::new(&e.file_name()).to_owned()),
                    None => (None, path.clone()),
                };
                let c = super::open_options::cstring(&name).ok()?;
                crate::sys::fs::statx(dirfd, &c, libc::AT_SYMLINK_NOFOLLOW, statx::MASK).ok()
            })
            .flatten()
            .map(Metadata::new);
        DirEntry {
            meta,
            path,
            name: e.file_name(),
            ino: e.ino(),
            file_type: e.file_type().ok(),
        }
    }

    /// The directory's path joined with the entry's name.
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's name, without the directory.
    pub fn file_name(&self) -> OsString {
        self.name.clone()
    }

    /// The inode number, from the listing.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The entry's type (file, directory, symlink, ...) as the listing gave
    /// it; a symlink is reported as a symlink, not followed. Fails only if
    /// the file system gave no type and the entry vanished before it could
    /// be looked up.
    pub fn file_type(&self) -> io::Result<std::fs::FileType> {
        self.file_type.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no file type for {:?}", self.path),
            )
        })
    }

    /// The entry's metadata, not following a symlink
    /// (`IORING_OP_STATX` with `AT_SYMLINK_NOFOLLOW`; no op if the listing
    /// read it, see [`read_dir_with_metadata`]).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        if let Some(meta) = &self.meta {
            return Ok(meta.clone());
        }
        let at = At::new(None, super::open_options::cstring(&self.path)?);
        let stx = submit(statx::Statx::path(at, libc::AT_SYMLINK_NOFOLLOW)).await?;
        Ok(Metadata::new(stx))
    }
}
