//! End to end: `examples/cptree/` as a faithful `cp -a`. A tree with
//! every kind of entry and metadata (sizes from empty to bigger than the
//! in-kernel threshold, setuid/setgid/sticky bits, owners, nanosecond
//! times on files, directories and symlinks, hard-link groups, xattrs with
//! ACLs and a file capability, a sparse file, a FIFO, a device node, a
//! read-only directory) is copied and compared field by field here, with
//! `std` (not with cptree's own `--verify`); then `--verify` is shown to
//! find each kind of difference, `--no-preserve` to leave out what it
//! names, a copy by a non-root user to clear the setuid/setgid bits it
//! cannot keep and to report what it could not copy, and, on XFS, files
//! to be reflinked.
//!
//! Most checks need root (owners, capabilities, device nodes, `trusted.*`);
//! CI runs as root. Without root those parts are skipped with a message.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/cptree/main.rs"]
mod cptree;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn dir(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fs-cptree-{}-{name}", std::process::id()));
    if p.exists() {
        remove(&p);
    }
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn remove(p: &Path) {
    let _ = Command::new("chmod").arg("-R").arg("u+rwx").arg(p).status();
    std::fs::remove_dir_all(p).unwrap();
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        == 0
}

fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// Runs `f` on a one-off runtime (for the setup, through curing's own API).
fn on_runtime<F: std::future::Future<Output = ()> + 'static>(f: impl FnOnce() -> F) {
    curing::Runtime::new().unwrap().block_on(f());
}

/// owner rwx, `user` r-x, group r-x, mask r-x, other ---.
fn acl(user: u32) -> Vec<u8> {
    common::posix_acl(7, (user, 5), 5, 5, 0)
}

fn capability() -> Vec<u8> {
    common::capability_net_raw()
}

/// Builds the tree; returns how many entries it has below `src`.
fn build_tree(src: &Path) {
    use curing::fs::{self, FileTimes};
    let src = src.to_owned();
    let root = is_root();
    on_runtime(move || async move {
        let w = |p: &str, data: Vec<u8>, mode: u32| {
            let p = src.join(p);
            std::fs::write(&p, data).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        for d in ["a/b/c", "ro", "sticky", "acl"] {
            std::fs::create_dir_all(src.join(d)).unwrap();
        }
        for (i, len) in [0, 1, 4095, 4096, 70_000, (256 << 10) + 1, (3 << 20) + 7]
            .into_iter()
            .enumerate()
        {
            w(&format!("a/f{i}"), common::pattern(i as u64, len), 0o644);
        }
        w("a/b/secret", b"600".to_vec(), 0o600);
        w("a/b/shared", b"666".to_vec(), 0o666);
        w("a/b/c/setuid", b"#!/bin/sh\n".to_vec(), 0o4755);
        w("a/b/c/setgid", b"sgid".to_vec(), 0o2711);
        w("ro/inside", b"kept".to_vec(), 0o444);
        // Hard links: three paths of one inode (two directories), and a pair.
        w("a/multi", b"one inode".to_vec(), 0o640);
        std::fs::hard_link(src.join("a/multi"), src.join("a/b/multi2")).unwrap();
        std::fs::hard_link(src.join("a/multi"), src.join("multi3")).unwrap();
        w("pair", common::pattern(9, 300_000), 0o644);
        std::fs::hard_link(src.join("pair"), src.join("a/pair2")).unwrap();
        // Symlinks: relative, dangling.
        std::os::unix::fs::symlink("a/f1", src.join("link")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/target", src.join("a/dangling")).unwrap();
        // A sparse file: 64 MiB with data at 1 MiB and at its last 4 KiB.
        let sparse = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .open(src.join("sparse"))
            .await
            .unwrap();
        sparse.set_len(64 << 20).await.unwrap();
        sparse
            .write_all_at(vec![1u8; 8192], 1 << 20)
            .await
            .0
            .unwrap();
        sparse
            .write_all_at(vec![2u8; 4096], (64 << 20) - 4096)
            .await
            .0
            .unwrap();
        sparse.close().await.unwrap();
        fs::mkfifo(src.join("a/fifo"), 0o620).await.unwrap();
        // xattrs: user on a file and a directory, ACLs (a default one on a
        // directory: its new entries inherit it, which the copy must undo).
        fs::set_xattr(src.join("a/f2"), "user.note", b"hello")
            .await
            .unwrap();
        fs::set_xattr(src.join("a/b"), "user.dir", b"d")
            .await
            .unwrap();
        fs::set_xattr(src.join("a/f3"), "system.posix_acl_access", &acl(1234))
            .await
            .unwrap();
        // Written before the directory's default ACL, so it has none.
        w("acl/plain", b"no acl of its own".to_vec(), 0o644);
        fs::set_xattr(src.join("acl"), "system.posix_acl_default", &acl(4321))
            .await
            .unwrap();
        std::fs::set_permissions(src.join("sticky"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        if root {
            let own = |p: &str, u, g| std::os::unix::fs::lchown(src.join(p), Some(u), Some(g));
            own("a/f4", 1234, 5678).unwrap();
            own("a/b", 2222, 3333).unwrap();
            own("link", 4444, 5555).unwrap();
            own("a/b/c/setgid", 0, 42).unwrap();
            own("a/b/c/setuid", 1000, 1000).unwrap();
            // Chown cleared the bits: set them again.
            std::fs::set_permissions(
                src.join("a/b/c/setgid"),
                std::fs::Permissions::from_mode(0o2711),
            )
            .unwrap();
            std::fs::set_permissions(
                src.join("a/b/c/setuid"),
                std::fs::Permissions::from_mode(0o4755),
            )
            .unwrap();
            fs::set_xattr(src.join("a/f5"), "security.capability", &capability())
                .await
                .unwrap();
            fs::set_symlink_xattr(src.join("link"), "trusted.own", b"link's own")
                .await
                .unwrap();
            fs::mknod(
                src.join("a/null"),
                libc::S_IFCHR | 0o666,
                libc::makedev(1, 3),
            )
            .await
            .unwrap();
        }
        // Times, with nanoseconds, last (after every change inside).
        let times = |a, m| FileTimes::new().set_accessed(a).set_modified(m);
        for (i, p) in ["a/f1", "a/f6", "pair", "sparse", "a/fifo", "ro/inside"]
            .into_iter()
            .enumerate()
        {
            let t = times(
                at(1_500_000_000 + i as u64, 111),
                at(1_400_000_000, 222 + i as u32),
            );
            fs::set_times(src.join(p), t).await.unwrap();
        }
        fs::set_symlink_times(
            src.join("link"),
            times(at(1_000_000_000, 5), at(1_000_000_001, 6)),
        )
        .await
        .unwrap();
        for (i, d) in ["a/b/c", "a/b", "a", "ro", "sticky", "acl"]
            .into_iter()
            .enumerate()
        {
            let t = times(at(1_600_000_000, i as u32), at(1_300_000_000, 7 + i as u32));
            fs::set_times(src.join(d), t).await.unwrap();
        }
        std::fs::set_permissions(src.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
    });
}

/// Every entry below `root` (not following symlinks), by relative path.
fn walk(root: &Path) -> BTreeMap<PathBuf, std::fs::Metadata> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.insert(e.path().strip_prefix(root).unwrap().to_owned(), m);
        }
    }
    out
}

/// Every xattr of `p` itself, sorted.
fn xattrs(p: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let p = p.to_owned();
    let mut out = Vec::new();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        on_runtime(|| async move {
            let mut names = curing::fs::symlink_xattr_names(&p).await.unwrap();
            names.sort();
            let mut v = Vec::new();
            for n in names {
                let val = curing::fs::symlink_xattr(&p, &n).await.unwrap();
                v.push((n.into_string().unwrap(), val));
            }
            tx.send(v).unwrap();
        })
    })
    .join()
    .unwrap();
    out.extend(rx.recv().unwrap());
    out
}

/// The fields `cp -a` keeps, for one entry.
fn fields(m: &std::fs::Metadata, what: Keep) -> Vec<(&'static str, i128)> {
    let mut v = vec![("type", i128::from(m.mode() & libc::S_IFMT))];
    if !m.is_dir() {
        v.push(("size", i128::from(m.size())));
    }
    if what.mode && !m.file_type().is_symlink() {
        v.push(("mode", i128::from(m.mode())));
    }
    if what.owner {
        v.push(("uid", i128::from(m.uid())));
        v.push(("gid", i128::from(m.gid())));
    }
    if what.times {
        v.push((
            "mtime",
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        ));
        // Directories' and symlinks' own access times move when they are
        // listed or read (this walk too): checked against known values in
        // `copies_every_kind_of_entry_and_metadata`.
        if m.is_file() {
            v.push((
                "atime",
                i128::from(m.atime()) * 1_000_000_000 + i128::from(m.atime_nsec()),
            ));
        }
    }
    v.push(("rdev", i128::from(m.rdev())));
    v
}

#[derive(Clone, Copy)]
struct Keep {
    mode: bool,
    owner: bool,
    times: bool,
}

const ALL: Keep = Keep {
    mode: true,
    owner: true,
    times: true,
};

/// Compares with `std` what cptree claims to keep; returns the entries.
fn assert_faithful(src: &Path, dst: &Path) -> usize {
    let (a, b) = (walk(src), walk(dst));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same entries"
    );
    let mut groups_a: BTreeMap<u64, Vec<&PathBuf>> = BTreeMap::new();
    let mut groups_b: BTreeMap<u64, Vec<&PathBuf>> = BTreeMap::new();
    for (p, ma) in &a {
        let mb = &b[p];
        assert_eq!(fields(ma, ALL), fields(mb, ALL), "metadata of {p:?}");
        assert_eq!(
            xattrs(&src.join(p)),
            xattrs(&dst.join(p)),
            "xattrs of {p:?}"
        );
        if ma.is_file() {
            assert!(
                std::fs::read(src.join(p)).unwrap() == std::fs::read(dst.join(p)).unwrap(),
                "contents of {p:?}"
            );
            // Holes stay holes (a little slack for the file system).
            assert!(
                mb.blocks() <= ma.blocks() + 64,
                "{p:?}: {} blocks vs {}",
                mb.blocks(),
                ma.blocks()
            );
        } else if ma.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(src.join(p)).unwrap(),
                std::fs::read_link(dst.join(p)).unwrap()
            );
        }
        if !ma.is_dir() {
            groups_a.entry(ma.ino()).or_default().push(p);
            groups_b.entry(mb.ino()).or_default().push(p);
        }
    }
    let mut ga: Vec<_> = groups_a.into_values().collect();
    let mut gb: Vec<_> = groups_b.into_values().collect();
    ga.sort();
    gb.sort();
    assert_eq!(ga, gb, "hard-link groups");
    a.len()
}

fn opts() -> cptree::Options {
    cptree::Options {
        jobs: 8,
        ..cptree::Options::default()
    }
}

#[test]
fn copies_every_kind_of_entry_and_metadata() {
    let d = dir("faithful");
    let (src, dst) = (d.join("src"), d.join("dst"));
    std::fs::create_dir(&src).unwrap();
    build_tree(&src);
    // (Without listing the directories, which would move their atimes.)
    let file_atimes = || -> Vec<_> {
        [
            "a/f1",
            "a/f5",
            "a/f6",
            "pair",
            "sparse",
            "ro/inside",
            "a/multi",
        ]
        .iter()
        .map(|p| std::fs::metadata(src.join(p)).unwrap())
        .map(|m| (m.atime(), m.atime_nsec()))
        .collect()
    };
    let atimes = file_atimes();
    let s = cptree::copy_tree(&src, &dst, opts());
    // Directories' and symlinks' access times as they were before the copy
    // listed or read them.
    for (p, t) in [
        ("a/b/c", at(1_600_000_000, 0)),
        ("a", at(1_600_000_000, 2)),
        ("ro", at(1_600_000_000, 3)),
        ("link", at(1_000_000_000, 5)),
    ] {
        assert_eq!(
            std::fs::symlink_metadata(dst.join(p))
                .unwrap()
                .accessed()
                .unwrap(),
            t,
            "{p}"
        );
    }
    assert_eq!(s.errors, 0, "{s:?}");
    assert_eq!(s.hard_links, 3, "{s:?}");
    assert_eq!(s.specials, if is_root() { 2 } else { 1 }, "{s:?}");
    // The source's access times are as they were (O_NOATIME; checked
    // before the comparison below reads the files).
    let after = file_atimes();
    // cptree's own verify agrees (it reads without moving access times;
    // the comparison below moves them).
    assert_eq!(
        cptree::verify_tree(&src, &dst, cptree::Preserve::ALL),
        Vec::<String>::new()
    );
    let n = assert_faithful(&src, &dst);
    assert!(n >= 28, "{n}");
    if is_root() {
        assert_eq!(atimes, after, "source access times");
    }
    // The root directory's own metadata too.
    let (ra, rb) = (
        std::fs::metadata(&src).unwrap(),
        std::fs::metadata(&dst).unwrap(),
    );
    assert_eq!(fields(&ra, ALL), fields(&rb, ALL));
    // A default ACL does not leak onto entries that had none.
    assert_eq!(xattrs(&dst.join("acl/plain")), []);
    // Copying onto an existing destination fails, reported.
    let s = cptree::copy_tree(&src, &dst, opts());
    assert!(s.errors == 1 && s.files == 0, "{s:?}");
    // Threads and jobs do not change the result.
    for (threads, jobs) in [(1, 1), (2, 64)] {
        let out = d.join(format!("dst-{threads}-{jobs}"));
        let o = cptree::Options {
            threads,
            jobs,
            ..opts()
        };
        let s = cptree::copy_tree(&src, &out, o);
        assert_eq!(s.errors, 0, "{s:?}");
        assert_faithful(&src, &out);
    }
    remove(&d);
}

#[test]
fn a_single_file_or_symlink_is_copied_with_its_metadata() {
    let d = dir("single");
    std::fs::write(d.join("f"), b"data").unwrap();
    std::fs::set_permissions(d.join("f"), std::fs::Permissions::from_mode(0o751)).unwrap();
    std::os::unix::fs::symlink("f", d.join("l")).unwrap();
    let t = std::fs::FileTimes::new().set_modified(at(1_234_567_890, 42));
    std::fs::File::options()
        .write(true)
        .open(d.join("f"))
        .unwrap()
        .set_times(t)
        .unwrap();
    let s = cptree::copy_tree(&d.join("f"), &d.join("f2"), opts());
    assert_eq!((s.files, s.errors), (1, 0), "{s:?}");
    let s = cptree::copy_tree(&d.join("l"), &d.join("l2"), opts());
    assert_eq!((s.symlinks, s.errors), (1, 0), "{s:?}");
    let (a, b) = (
        std::fs::metadata(d.join("f")).unwrap(),
        std::fs::metadata(d.join("f2")).unwrap(),
    );
    assert_eq!(fields(&a, ALL), fields(&b, ALL));
    assert_eq!(std::fs::read_link(d.join("l2")).unwrap(), Path::new("f"));
    remove(&d);
}

#[test]
fn verify_finds_each_kind_of_difference() {
    let d = dir("verify");
    let (src, dst) = (d.join("src"), d.join("dst"));
    std::fs::create_dir(&src).unwrap();
    build_tree(&src);
    let s = cptree::copy_tree(&src, &dst, opts());
    assert_eq!(s.errors, 0, "{s:?}");
    // One change of each kind in the copy.
    let keep_times = |p: &Path, f: &dyn Fn()| {
        let m = std::fs::symlink_metadata(p).unwrap();
        f();
        let t = std::fs::FileTimes::new()
            .set_accessed(m.accessed().unwrap())
            .set_modified(m.modified().unwrap());
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_times(t)
            .unwrap();
    };
    // Contents, same size and times.
    let f0 = dst.join("a/f4");
    keep_times(&f0, &|| {
        let mut v = std::fs::read(&f0).unwrap();
        v[100] ^= 1;
        std::fs::write(&f0, v).unwrap();
    });
    std::fs::set_permissions(dst.join("a/f2"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(dst.join("a/f6"))
        .unwrap()
        .set_modified(at(5, 0))
        .unwrap();
    on_runtime(|| {
        let p = dst.join("a/f2");
        async move {
            curing::fs::remove_xattr(&p, "user.note").await.unwrap();
        }
    });
    // A hard link broken into a separate file with the same metadata.
    let p2 = dst.join("a/pair2");
    std::fs::remove_file(&p2).unwrap();
    std::process::Command::new("cp")
        .arg("-a")
        .arg(dst.join("pair"))
        .arg(&p2)
        .status()
        .unwrap();
    std::fs::remove_file(dst.join("link")).unwrap();
    std::os::unix::fs::symlink("elsewhere", dst.join("link")).unwrap();
    std::fs::write(dst.join("a/b/extra"), b"").unwrap();
    std::fs::remove_file(dst.join("multi3")).unwrap();
    let diffs = cptree::verify_tree(&src, &dst, cptree::Preserve::ALL).join("\n");
    for want in [
        "a/f4: contents differ from byte 100",
        "a/f2: mode",
        "a/f6: mtime",
        "a/f2: xattrs",
        "hard links: grouped differently",
        "link: symlink target",
        "a/b/extra: only in the copy",
        "multi3: missing in the copy",
    ] {
        assert!(diffs.contains(want), "{want:?} not in:\n{diffs}");
    }
    // What `--no-preserve` leaves out is not compared.
    let none = cptree::Preserve::ALL.without("all").unwrap();
    let diffs = cptree::verify_tree(&src, &dst, none).join("\n");
    assert!(!diffs.contains("mtime") && !diffs.contains(": mode") && !diffs.contains("xattrs"));
    assert!(diffs.contains("contents differ"));
    remove(&d);
}

#[test]
fn no_preserve_leaves_out_what_it_names() {
    let d = dir("nopreserve");
    let (src, dst) = (d.join("src"), d.join("dst"));
    std::fs::create_dir(&src).unwrap();
    build_tree(&src);
    let before = SystemTime::now() - Duration::from_secs(5);
    let o = cptree::Options {
        preserve: cptree::Preserve::ALL
            .without("timestamps,links,xattr,ownership,mode")
            .unwrap(),
        ..opts()
    };
    let s = cptree::copy_tree(&src, &dst, o);
    assert_eq!((s.errors, s.hard_links), (0, 0), "{s:?}");
    let (a, b) = (walk(&src), walk(&dst));
    let umask = 0o022;
    for (p, ma) in &a {
        let mb = &b[p];
        assert_eq!(ma.mode() & libc::S_IFMT, mb.mode() & libc::S_IFMT, "{p:?}");
        if !ma.file_type().is_symlink() {
            assert!(mb.modified().unwrap() > before, "{p:?}: new times");
            // As `cp --no-preserve=mode`: the defaults less the umask;
            // directories keep a sticky bit.
            let want = if ma.is_dir() {
                (0o777 & !umask) | (ma.mode() & 0o1000)
            } else {
                0o666 & !umask
            };
            assert_eq!(mb.mode() & 0o7777, want, "{p:?}");
        }
        assert_eq!(
            (mb.uid(), mb.gid()),
            (std::fs::metadata("/proc/self").unwrap().uid(), mb.gid())
        );
        if ma.is_file() {
            assert_eq!(xattrs(&dst.join(p)), [], "{p:?}");
        }
    }
    assert_ne!(
        b[Path::new("pair")].ino(),
        b[Path::new("a/pair2")].ino(),
        "links split"
    );
    assert!(cptree::Preserve::ALL.without("colour").is_err());

    // One at a time, checked by cptree's own verify with the same
    // settings, and against what `cp` does: ACLs go with the mode, other
    // xattrs with `xattr`; without `ownership` setuid/setgid stay.
    for what in ["mode", "xattr", "ownership", "timestamps", "links"] {
        let out = d.join(format!("only-{what}"));
        let preserve = cptree::Preserve::ALL.without(what).unwrap();
        let o = cptree::Options { preserve, ..opts() };
        let s = cptree::copy_tree(&src, &out, o);
        assert_eq!(s.errors, 0, "{what}: {s:?}");
        let diffs = cptree::verify_tree(&src, &out, preserve);
        assert_eq!(diffs, Vec::<String>::new(), "--no-preserve={what}");
        let acl = xattrs(&out.join("a/f3"));
        let user = xattrs(&out.join("a/f2"));
        match what {
            "mode" => {
                assert_eq!(acl, [], "ACLs go with the mode");
                assert_eq!(user.len(), 1);
            }
            "xattr" => {
                assert_eq!(acl.len(), 1, "ACLs stay with the mode");
                assert_eq!(user, []);
            }
            "ownership" if is_root() => {
                let m = std::fs::metadata(out.join("a/b/c/setuid")).unwrap();
                assert_eq!((m.mode() & 0o7777, m.uid()), (0o4755, 0), "bits kept");
            }
            _ => {}
        }
    }
    remove(&d);
}

#[test]
fn a_copy_into_its_own_source_is_refused() {
    let d = dir("into-itself");
    std::fs::create_dir_all(d.join("src/sub")).unwrap();
    for dst in [
        d.join("src/copy"),
        d.join("src/sub/copy"),
        d.join("src/./sub/../copy2"),
    ] {
        let s = cptree::copy_tree(&d.join("src"), &dst, opts());
        assert_eq!((s.errors, s.dirs), (1, 0), "{dst:?}: {s:?}");
        assert!(!dst.exists());
    }
    // A sibling whose name starts the same is fine.
    let s = cptree::copy_tree(&d.join("src"), &d.join("src2"), opts());
    assert_eq!(s.errors, 0, "{s:?}");
    remove(&d);
}

/// The example's binary (built by `cargo test`; built here if missing).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/cptree");
    // Up to date (`cargo test --test fs_cptree` alone does not build it).
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--quiet", "--example", "cptree"])
            .status()
            .unwrap();
        assert!(ok.success());
    });
    bin
}

#[test]
fn the_command_reports_failures_and_differences_with_paths_and_status() {
    let d = dir("command");
    let (src, dst) = (d.join("src"), d.join("dst"));
    std::fs::create_dir(&src).unwrap();
    build_tree(&src);
    // A faithful copy, verified: status 0, "0 differences".
    let out = Command::new(binary())
        .arg(&src)
        .arg(&dst)
        .arg("--verify")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("verify: 0 differences"), "{text}");
    assert!(out.stderr.is_empty(), "quiet without a terminal: {out:?}");
    // A difference: printed with its path, status 1.
    std::fs::write(dst.join("a/f0"), b"changed").unwrap();
    let out = Command::new(binary())
        .arg("--verify-only")
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text.contains("differs: ") && text.contains("a/f0: size"),
        "{text}"
    );
    // On a terminal (through `script`): a progress line, ending in a summary.
    if Command::new("script").arg("--version").output().is_ok() {
        let cmd = format!(
            "{} {} {}",
            binary().display(),
            src.display(),
            d.join("tty").display()
        );
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(
            text.contains(" files, ") && text.contains("MB/s, done in"),
            "{text}"
        );
    }
    // Bad arguments: usage, status 2.
    let out = Command::new(binary())
        .arg("--no-preserve=colour")
        .arg(&src)
        .arg(d.join("x"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    remove(&d);
}

/// As a user who cannot keep owners: setuid/setgid go where the owner or
/// group could not be kept (as `cp -a`), without an error; what cannot be
/// read or set (a root-only file, a capability) is reported with its path,
/// and the status is 1.
#[test]
fn as_a_plain_user_unsafe_bits_are_cleared_and_failures_reported() {
    if !is_root() {
        eprintln!("skipped: needs root to run the copy as another user");
        return;
    }
    use std::os::unix::process::CommandExt;
    let d = dir("plain-user");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (src, dst) = (d.join("src"), d.join("dst"));
    std::fs::create_dir(&src).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
    let w = |p: &str, mode| {
        std::fs::write(src.join(p), b"x").unwrap();
        std::os::unix::fs::chown(src.join(p), Some(0), Some(42)).unwrap();
        std::fs::set_permissions(src.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
    };
    w("setuid", 0o4755);
    w("setgid", 0o2755);
    w("cap", 0o755);
    w("private", 0o600);
    std::fs::create_dir(src.join("closed")).unwrap();
    std::fs::write(src.join("closed/inside"), b"x").unwrap();
    std::fs::set_permissions(src.join("closed"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let old = std::fs::FileTimes::new().set_modified(at(1_111_111_111, 0));
    std::fs::File::options()
        .write(true)
        .open(src.join("cap"))
        .unwrap()
        .set_times(old)
        .unwrap();
    on_runtime(|| {
        let p = src.join("cap");
        async move {
            curing::fs::set_xattr(&p, "security.capability", &capability())
                .await
                .unwrap();
        }
    });
    let out = Command::new(binary())
        .arg(&src)
        .arg(&dst)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(err.contains("private: cannot open"), "{err}");
    assert!(
        err.contains("cap: cannot set xattr: security.capability"),
        "{err}"
    );
    let mode = |p: &str| std::fs::metadata(dst.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("setuid"), 0o755);
    assert_eq!(mode("setgid"), 0o755);
    let m = std::fs::metadata(dst.join("setuid")).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    // A directory that cannot be listed is reported, and no empty copy of
    // it is left (as `cp`).
    assert!(err.contains("closed: cannot list"), "{err}");
    assert!(!dst.join("closed").exists());
    // The capability that could not be set did not stop the rest of that
    // file's metadata.
    let m = std::fs::metadata(dst.join("cap")).unwrap();
    assert_eq!(m.modified().unwrap(), at(1_111_111_111, 0));
    remove(&d);
}

/// On XFS (a loop-mounted image; CI installs xfsprogs), files are
/// reflinked: no bytes copied, blocks shared, and the copy verifies.
#[test]
fn on_xfs_files_are_reflinked() {
    let have = Command::new("mkfs.xfs").arg("-V").output().is_ok();
    if !is_root() || !have {
        assert!(
            std::env::var_os("CI").is_none() || !is_root(),
            "CI runs as root and installs xfsprogs: mkfs.xfs is missing"
        );
        eprintln!("skipped: needs root and mkfs.xfs");
        return;
    }
    let d = dir("xfs");
    let (img, mnt) = (d.join("xfs.img"), d.join("mnt"));
    std::fs::create_dir(&mnt).unwrap();
    std::fs::File::create(&img)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {out:?}");
    };
    run(Command::new("mkfs.xfs")
        .args(["-q", "-m", "reflink=1"])
        .arg(&img));
    run(Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(&mnt));
    let (src, dst) = (mnt.join("src"), mnt.join("dst"));
    std::fs::create_dir(&src).unwrap();
    for i in 0..10 {
        std::fs::write(src.join(format!("f{i}")), common::pattern(i, 1 << 20)).unwrap();
    }
    std::fs::write(src.join("empty"), b"").unwrap();
    let s = cptree::copy_tree(&src, &dst, opts());
    let verified = cptree::verify_tree(&src, &dst, cptree::Preserve::ALL);
    let _ = Command::new("umount").arg(&mnt).status();
    assert_eq!((s.errors, s.files, s.reflinked), (0, 11, 10), "{s:?}");
    assert_eq!(verified, Vec::<String>::new());
    remove(&d);
}
