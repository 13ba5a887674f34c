//! Shared helpers of the outside tester's tests (issue 19, `tests/outside19_*.rs`):
//! written as a separate crate from the README and the crate docs alone, then
//! ported here so they keep guarding what they found.
//!
//! - [`guard`]: taken first thing by every test. It holds the repository's
//!   fd lock (`tests/common`: the tests count descriptors with
//!   [`fd_count`], and every test of a binary runs in parallel with the
//!   others) and arms a hard timeout: a test still running after
//!   [`LIMIT`] prints its name and aborts the test binary, so a hang fails
//!   loudly instead of stalling the suite.
//! - [`tmp`], [`tmp_dir`]: scratch paths in a directory of this process.
//! - [`SMALL_FILE`]: a small regular file every checkout has.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod repo;

#[allow(unused_imports)]
pub use repo::{fd_count, fd_lock};
use std::sync::mpsc;
use std::sync::MutexGuard;
use std::time::Duration;

/// How long one test may run before the watchdog of [`guard`] aborts the
/// binary.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A small regular file that exists in every checkout (the tests read it,
/// open it and compare its bytes with `std::fs::read`).
pub const SMALL_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");

/// What [`guard`] returns: the fd lock and the watchdog; dropping it (at the
/// end of the test, or while a failing test unwinds) disarms the watchdog
/// and releases the lock.
pub struct Guard {
    _disarm: mpsc::Sender<()>,
    _fd: MutexGuard<'static, ()>,
}

/// Takes the fd lock, then arms a watchdog of [`LIMIT`] for the calling
/// test (named by the current thread, which the test harness names after
/// the test).
pub fn guard() -> Guard {
    let fd = fd_lock();
    let name = std::thread::current()
        .name()
        .unwrap_or("an outside19 test")
        .to_string();
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(LIMIT) {
            eprintln!("WATCHDOG: {name} did not finish within {LIMIT:?} (hung or starved)");
            std::process::abort();
        }
    });
    Guard {
        _disarm: tx,
        _fd: fd,
    }
}

/// This process's scratch directory (under cargo's `CARGO_TARGET_TMPDIR`, on
/// the target directory's file system so `O_DIRECT` works where it does;
/// created on first use, when the directories of test processes that have
/// exited are removed).
pub fn tmp_dir() -> &'static str {
    static DIR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Directories of earlier test processes that have exited go.
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("outside19-")) else {
                continue;
            };
            if !std::path::Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = root.join(format!("outside19-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir.display().to_string()
    })
}

/// `name` in [`tmp_dir`] (leaked: a handful of short strings per test
/// process, so the tests can use them as `&'static str` paths).
pub fn tmp(name: &str) -> &'static str {
    Box::leak(format!("{}/{name}", tmp_dir()).into_boxed_str())
}
