//! End to end: `examples/cptree.rs` copies a tree with files of many sizes,
//! symlinks, odd permissions and a read-only directory; the copy must match
//! byte for byte, mode for mode. A FIFO is reported and skipped without
//! stopping the rest.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/cptree.rs"]
mod cptree;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn dir(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fs-cptree-{}-{name}", std::process::id()));
    if p.exists() {
        make_writable(&p);
        std::fs::remove_dir_all(&p).unwrap();
    }
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn make_writable(p: &Path) {
    for e in walk(p) {
        if e.1.is_dir() {
            std::fs::set_permissions(&e.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

/// Every path under `root` (not following symlinks) with its metadata,
/// sorted.
fn walk(root: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), m));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn build_tree(src: &Path) {
    let mut seed = 0x1234_5678_u64;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    for d in 0..6 {
        let sub = src.join(format!("dir{d}/inner{}", d % 2));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..40 {
            let len = [0, 1, 511, 4096, 70_000][f % 5];
            std::fs::write(sub.join(format!("f{f}")), bytes(len)).unwrap();
        }
    }
    // Larger than one chunk, not a multiple of it: the streaming path.
    std::fs::write(src.join("big"), bytes((3 << 20) + 4321)).unwrap();
    std::fs::write(src.join("secret"), b"600").unwrap();
    std::fs::set_permissions(src.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(src.join("big"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Bits the umask would clear at creation, and a setuid bit.
    std::fs::write(src.join("shared"), b"666").unwrap();
    std::fs::set_permissions(src.join("shared"), std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::write(src.join("suid"), b"suid").unwrap();
    std::fs::set_permissions(src.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::symlink("dir0/inner0/f1", src.join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", src.join("dangling")).unwrap();
    std::fs::create_dir(src.join("empty")).unwrap();
    std::fs::create_dir(src.join("ro")).unwrap();
    std::fs::write(src.join("ro/inside"), b"kept").unwrap();
    std::fs::set_permissions(src.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
}

fn assert_same_tree(src: &Path, dst: &Path) -> usize {
    let (a, b) = (walk(src), walk(dst));
    let rel = |v: &[(PathBuf, std::fs::Metadata)], root: &Path| -> Vec<PathBuf> {
        v.iter()
            .map(|(p, _)| p.strip_prefix(root).unwrap().to_owned())
            .collect()
    };
    assert_eq!(rel(&a, src), rel(&b, dst), "same entries");
    for ((pa, ma), (pb, mb)) in a.iter().zip(&b) {
        assert_eq!(ma.file_type(), mb.file_type(), "{pa:?}");
        assert_eq!(
            ma.permissions().mode(),
            mb.permissions().mode(),
            "mode of {pb:?}"
        );
        if ma.is_file() {
            assert!(
                std::fs::read(pa).unwrap() == std::fs::read(pb).unwrap(),
                "contents of {pb:?}"
            );
        } else if ma.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(pa).unwrap(),
                std::fs::read_link(pb).unwrap()
            );
        }
    }
    a.len()
}

#[test]
fn cptree_copies_the_tree_byte_for_byte() {
    let d = dir("tree");
    common::run(Duration::from_secs(30), move || async move {
        let (src, dst) = (d.join("src"), d.join("dst"));
        build_tree(&src);
        let opts = cptree::Options {
            jobs: 16,
            progress: false,
        };
        let s = cptree::copy_tree(&src, &dst, opts).await;
        assert_eq!(s.errors, 0, "{s:?}");
        assert_eq!((s.files, s.symlinks), (6 * 40 + 5, 2), "{s:?}");
        let entries = assert_same_tree(&src, &dst);
        assert!(entries > 250);

        // Copying onto an existing tree fails for each entry, reported.
        let s = cptree::copy_tree(&src, &dst, cptree::Options::default()).await;
        assert!(s.errors >= 1 && s.files == 0, "{s:?}");

        // A FIFO cannot be copied: reported, the rest still copied.
        let fifo = src.join("dir1/fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a live NUL-terminated path; mkfifo only reads it.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let dst2 = d.join("dst2");
        let s = cptree::copy_tree(&src, &dst2, cptree::Options::default()).await;
        assert_eq!(s.errors, 1, "{s:?}");
        assert_eq!(s.files, 6 * 40 + 5);
        std::fs::remove_file(&fifo).unwrap();
        assert_same_tree(&src, &dst2);

        make_writable(&d);
        std::fs::remove_dir_all(&d).unwrap();
    });
}
