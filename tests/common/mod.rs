//! Shared test harness: the oracles of docs/reliability.md.
//!
//! - [`run`]: runs an async test body on a fresh runtime in its own thread
//!   with a hard wall-clock timeout, then checks (and prints) the oracles:
//!   (a) the fd count is back to its baseline; (b) the ring's
//!   `/proc/self/fdinfo` after shutdown shows `SqHead == SqTail` and empty
//!   `PollList`/`CqOverflowList` (see [`RingInfo`]); (c) the runtime leaked
//!   no op and no completion was `-EFAULT`. [`run_with`] does the same on a
//!   runtime from any [`curing::Builder`] and returns the final stats.
//! - [`fd_count`]: entries of `/proc/self/fd`.
//! - [`Hash`], [`hash`], [`pattern`]: byte-exact checks of data paths (the
//!   hash of what was sent equals the hash of what was received).
//! - [`GuardBuf`]: an I/O buffer whose memory is made inaccessible on drop
//!   (`PROT_NONE`, address kept reserved), so a kernel write after a
//!   premature free completes with `-EFAULT` instead of corrupting memory
//!   unseen.
//!
//! ## The fd lock
//!
//! All tests of one binary share one fd table and run in parallel. The fd
//! oracle holds [`FD_LOCK`] from its baseline count to its final count, so
//! **every test that opens descriptors outside `run`/`run_with` (a runtime,
//! a socket, a pipe, a child process with piped output) must hold
//! [`fd_lock()`] while it does**, or the oracle may count its descriptors.
//! As a second line of defence the final count is retried for a short while
//! before a leak is reported, and the report lists the descriptors that
//! differ.
#![allow(dead_code)]

use curing::buf::{IoBuf, IoBufMut};
use std::collections::BTreeMap;
use std::future::Future;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tests in one binary share the fd table; fd-count checks hold this lock so
/// they do not see each other's descriptors. Take it with [`fd_lock`].
pub static FD_LOCK: Mutex<()> = Mutex::new(());

/// Holds [`FD_LOCK`] (a poisoned lock is fine: the panicking test already
/// failed). Tests that open fds outside [`run`] take this first.
pub fn fd_lock() -> MutexGuard<'static, ()> {
    FD_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether this test run uses the epoll fallback driver
/// (`CURING_DRIVER=epoll`, as `ci/test.sh`'s second run sets it): tests of
/// io_uring-only facts (ring fdinfo, setup flags, `MSG_RING`, pinned
/// memory) then check the epoll equivalent or skip with [`skip_on_epoll`].
pub fn is_epoll() -> bool {
    std::env::var("CURING_DRIVER").is_ok_and(|v| v.trim().eq_ignore_ascii_case("epoll"))
}

/// On the epoll driver, prints why the calling test is skipped and returns
/// true (the test then returns at once).
pub fn skip_on_epoll(why: &str) -> bool {
    if is_epoll() {
        println!("skipped on the epoll driver: {why}");
    }
    is_epoll()
}

/// Number of open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Open descriptors and what they point at (`readlink /proc/self/fd/N`),
/// without the descriptor this listing itself uses.
pub fn fd_table() -> BTreeMap<i32, String> {
    let own = format!("/proc/{}/fd", std::process::id());
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd") {
        let Ok(entry) = entry else { continue };
        let Some(n) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let target = std::fs::read_link(entry.path())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "?".into());
        if target != own {
            out.insert(n, target);
        }
    }
    out
}

/// Checks that no descriptor is open now that was not open in `before`
/// (same number, same target). Retries for a while in case a test
/// elsewhere in the binary forgot [`fd_lock`] and holds a transient fd;
/// then panics with the difference. Descriptors that were open before and
/// are gone now are reported, not failed: that is what a transient fd of
/// another test, open while `before` was taken, looks like.
/// The fd oracle: no descriptor is new or changed since `before` (a
/// [`fd_table`]), retried for a short while; descriptors that went away
/// (another test's) are reported, not failed.
pub fn assert_fds_back(before: &BTreeMap<i32, String>, what: &str) {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        let after = fd_table();
        let new: Vec<_> = after
            .iter()
            .filter(|(k, v)| before.get(k) != Some(v))
            .collect();
        if new.is_empty() {
            let gone: Vec<_> = before
                .iter()
                .filter(|(k, _)| !after.contains_key(k))
                .collect();
            if !gone.is_empty() {
                println!("oracle: fds open before and gone now (another test's?): {gone:?}");
            }
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "fd leak: {} fds before, {} after; new or changed: {new:?}; {what}",
                before.len(),
                after.len()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `body` on a new curing runtime, in a thread, failing the test if it
/// takes longer than `timeout`. Afterwards (holding [`FD_LOCK`]): no op left
/// in the kernel, none leaked, no `-EFAULT`, the ring's fdinfo clean after
/// shutdown, and the fd count what it was before.
pub fn run<F, Fut>(timeout: Duration, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    run_with(curing::Runtime::builder, timeout, body);
}

/// [`run`] on a runtime from `builder`; returns the runtime's final stats
/// (taken after the body, before the runtime is dropped).
pub fn run_with<F, Fut>(
    builder: fn() -> curing::Builder,
    timeout: Duration,
    body: F,
) -> curing::stats::Stats
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let _guard = fd_lock();
    let before = fd_table();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = builder().build().expect("runtime");
        rt.block_on(body());
        let stats = rt.stats();
        let epoll = rt.driver_kind() == curing::runtime::DriverKind::Epoll;
        // A duplicate of the ring fd keeps the ring's kernel state readable
        // after the runtime has shut down and closed its own fd.
        let ring = dup(rt.ring_fd());
        drop(rt);
        let info = RingInfo::read(ring).map(|i| RingInfo { epoll, ..i });
        close(ring);
        let _ = tx.send((stats, info));
    });
    let (stats, info) = match rx.recv_timeout(timeout) {
        Ok(out) => out,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("test timed out after {timeout:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: re-raise its panic.
            match thread.join() {
                Err(p) => std::panic::resume_unwind(p),
                Ok(()) => unreachable!("sender dropped without sending"),
            }
        }
    };
    thread.join().expect("test thread");
    assert_eq!(stats.leaked, 0, "ops leaked at shutdown: {stats:?}");
    assert_eq!(
        stats.efault_cqes, 0,
        "the kernel hit freed buffer memory: {stats:?}"
    );
    let info = info.expect("read the ring's /proc/self/fdinfo");
    let (checked, problems) = info.check_after_shutdown();
    assert!(
        problems.is_empty(),
        "ring not clean after shutdown: {problems:?}\n{}",
        info.text
    );
    assert_fds_back(&before, &format!("{stats:?}"));
    println!(
        "oracle: fds back to {}; ops leaked 0; EFAULT CQEs 0; ring fdinfo after shutdown: {}",
        before.len(),
        checked.join(", ")
    );
    stats
}

fn dup(fd: RawFd) -> RawFd {
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd touches no memory of ours.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    assert!(new >= 0, "dup ring fd: {}", std::io::Error::last_os_error());
    new
}

fn close(fd: RawFd) {
    // SAFETY: `fd` is a descriptor this module duplicated and owns.
    unsafe { libc::close(fd) };
}

/// `/proc/self/fdinfo/<ring fd>` parsed: `Key:\tvalue` lines, and lists
/// (`PollList:`, `CqOverflowList:`, ...) whose entries are the indented
/// lines after them. Kernels differ in what they print (`SqHead` since
/// 5.18, `PollList` since 5.6, `CqOverflowList` since 5.15), so every check
/// is made only where the kernel prints the field.
#[derive(Debug, Clone)]
pub struct RingInfo {
    /// The raw text, for failure messages.
    pub text: String,
    /// `Key: value` lines, in order.
    pub fields: Vec<(String, String)>,
    /// Lists and their (trimmed) entries.
    pub lists: Vec<(String, Vec<String>)>,
    /// The "ring" is the epoll driver's epoll fd: its fdinfo lists one
    /// `tfd:` line per registered descriptor instead.
    pub epoll: bool,
}

impl RingInfo {
    /// Reads and parses the fdinfo of ring fd `fd`.
    pub fn read(fd: RawFd) -> std::io::Result<RingInfo> {
        std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).map(|t| RingInfo::parse(&t))
    }

    /// Parses fdinfo text.
    pub fn parse(text: &str) -> RingInfo {
        let mut fields = Vec::new();
        let mut lists: Vec<(String, Vec<String>)> = Vec::new();
        let mut in_list = false;
        for line in text.lines() {
            if line.starts_with([' ', '\t']) {
                if in_list {
                    if let Some((_, entries)) = lists.last_mut() {
                        entries.push(line.trim().to_string());
                    }
                }
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                in_list = false;
                continue;
            };
            let value = value.trim();
            in_list = value.is_empty() && key.ends_with("List");
            if in_list {
                lists.push((key.to_string(), Vec::new()));
            } else {
                fields.push((key.to_string(), value.to_string()));
            }
        }
        RingInfo {
            text: text.to_string(),
            fields,
            lists,
            epoll: false,
        }
    }

    /// The value of `key`, if the kernel prints it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The entries of list `key`, if the kernel prints it.
    pub fn list(&self, key: &str) -> Option<&[String]> {
        self.lists
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// The oracle after shutdown: what was checked, and what failed. An
    /// oracle that could check nothing (a kernel that prints none of the
    /// fields) is a failure too, not a silent pass.
    pub fn check_after_shutdown(&self) -> (Vec<String>, Vec<String>) {
        let mut checked = Vec::new();
        let mut problems = Vec::new();
        if self.epoll {
            // Every descriptor the driver watched was closed or removed:
            // nothing is left registered on the epoll instance.
            let registered: Vec<&str> = self
                .text
                .lines()
                .filter(|l| l.starts_with("tfd:"))
                .collect();
            checked.push(format!("epoll registrations {}", registered.len()));
            if !registered.is_empty() {
                problems.push(format!("epoll registrations left: {registered:?}"));
            }
            return (checked, problems);
        }
        match (self.get("SqHead"), self.get("SqTail")) {
            (Some(h), Some(t)) => {
                checked.push(format!("SqHead {h} == SqTail {t}"));
                if h != t {
                    problems.push(format!("SQEs never submitted: SqHead {h}, SqTail {t}"));
                }
            }
            _ => checked.push("SqHead/SqTail not printed by this kernel".into()),
        }
        for list in ["PollList", "CqOverflowList"] {
            match self.list(list) {
                Some([]) => checked.push(format!("{list} empty")),
                Some(entries) => {
                    checked.push(format!("{list} {entries:?}"));
                    problems.push(format!("{list} not empty: {entries:?}"));
                }
                None => checked.push(format!("{list} not printed by this kernel")),
            }
        }
        if checked.iter().all(|c| c.contains("not printed")) {
            problems
                .push("this kernel's fdinfo shows none of the fields: the oracle is blind".into());
        }
        (checked, problems)
    }
}

/// FNV-1a, 64 bits: a streaming hash for byte-exact checks of data paths
/// (not cryptographic; any reordering, loss or duplication changes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash {
    state: u64,
    len: u64,
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::new()
    }
}

impl Hash {
    /// The hash of nothing.
    pub fn new() -> Hash {
        Hash {
            state: 0xcbf2_9ce4_8422_2325,
            len: 0,
        }
    }

    /// Adds `bytes` (chunking does not matter: `update(a); update(b)` is
    /// `update(a ++ b)`).
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state ^= u64::from(b);
            self.state = self.state.wrapping_mul(0x0100_0000_01b3);
        }
        self.len += bytes.len() as u64;
    }

    /// (hash, length) of everything added.
    pub fn finish(&self) -> (u64, u64) {
        (self.state, self.len)
    }
}

/// (hash, length) of `bytes`.
pub fn hash(bytes: &[u8]) -> (u64, u64) {
    let mut h = Hash::new();
    h.update(bytes);
    h.finish()
}

/// `len` bytes of a pattern that depends on `seed` and on each byte's
/// position (so a shifted, dropped or repeated chunk changes the hash).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An I/O buffer in its own `mmap`, made inaccessible on drop
/// (`PROT_NONE`, pages freed, the address range kept so nothing else can be
/// mapped there). A kernel write into it after drop fails with `EFAULT`
/// (visible as a CQE result) instead of silently corrupting reused memory.
pub struct GuardBuf {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

impl GuardBuf {
    /// A zero-length buffer with room for `cap` bytes (rounded up to pages).
    pub fn new(cap: usize) -> GuardBuf {
        let page = 4096;
        let map_len = cap.div_ceil(page).max(1) * page;
        // SAFETY: anonymous private mapping, no fd, no address hint.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap failed");
        GuardBuf {
            ptr: ptr.cast(),
            len: 0,
            cap: map_len,
        }
    }

    /// The initialised bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised and mapped.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::fmt::Debug for GuardBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuardBuf({} of {} bytes)", self.len, self.cap)
    }
}

impl Drop for GuardBuf {
    fn drop(&mut self) {
        // Not `munmap`: another thread of the test binary could map
        // something new at this address at once, and a late kernel write
        // would then land there unseen. The range stays reserved but
        // inaccessible (its pages freed), so any access after drop, by the
        // kernel or by us, fails with EFAULT. Tests are short-lived
        // processes; the address space this keeps is small.
        // SAFETY: changes protection and frees the pages of exactly the
        // mapping made in `new`, which nothing uses after drop.
        unsafe {
            libc::madvise(self.ptr.cast(), self.cap, libc::MADV_DONTNEED);
            libc::mprotect(self.ptr.cast(), self.cap, libc::PROT_NONE);
        }
    }
}

// SAFETY: the mapping does not move and lives until drop; len <= cap.
unsafe impl IoBuf for GuardBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.cap
    }
}

// SAFETY: as for IoBuf; the mapping is writable.
unsafe impl IoBufMut for GuardBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.len = self.len.max(pos);
    }
}

/// A pipe as two owned fds (read end, write end), close-on-exec.
pub fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 just created both fds; we own them.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// Runs `f` on its own thread and fails the test if it takes longer than
/// `limit` (for tests that drive a `Runtime` by hand, outside `common::run`).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let _fd = fd_lock();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            thread.join().unwrap();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("timed out after {limit:?}"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("sender dropped without sending"),
        },
    }
}

/// Sleeps 10 ms `rounds` times and returns the worst lateness seen (the
/// budget tests run it beside a busy task).
pub async fn sleeper(rounds: u32) -> Duration {
    let mut worst = Duration::ZERO;
    for _ in 0..rounds {
        let start = Instant::now();
        curing::time::sleep(Duration::from_millis(10)).await;
        worst = worst.max(start.elapsed().saturating_sub(Duration::from_millis(10)));
    }
    worst
}

/// A POSIX ACL as the kernel stores it in `system.posix_acl_access` /
/// `_default`: owner, one named user, group, mask and other, with these
/// permission bits (`rwx` as 4/2/1).
pub fn posix_acl(owner: u16, user: (u32, u16), group: u16, mask: u16, other: u16) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, owner, u32::MAX),
        (0x02, user.1, user.0),
        (0x04, group, u32::MAX),
        (0x10, mask, u32::MAX),
        (0x20, other, u32::MAX),
    ] {
        v.extend(tag.to_le_bytes());
        v.extend(perm.to_le_bytes());
        v.extend(id.to_le_bytes());
    }
    v
}

/// `cap_net_raw+ep` as `security.capability`: revision 2 with the
/// effective flag, permitted bit 13 (`CAP_NET_RAW`).
pub fn capability_net_raw() -> Vec<u8> {
    let mut v = Vec::new();
    for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        v.extend(word.to_le_bytes());
    }
    v
}
