//! Path operations, metadata, directory listing, vectored I/O, allocation,
//! permissions and `openat2` resolve flags: happy paths and the errors the
//! kernel gives for bad input. Every test runs through `common::run`
//! (no leaked fd, no leaked op, no EFAULT).

mod common;

use curing::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// A fresh, empty directory under the target directory (a real disk).
fn dir(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fs-paths-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn create_rename_link_remove() {
    let d = dir("ops");
    common::run(T, move || async move {
        let sub = d.join("a");
        fs::create_dir(&sub).await.unwrap();
        assert!(fs::metadata(&sub).await.unwrap().is_dir());
        let e = fs::create_dir(&sub).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        let e = fs::create_dir(d.join("missing/child")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        let deep = d.join("x/y/z");
        fs::create_dir_all(&deep).await.unwrap();
        fs::create_dir_all(&deep).await.unwrap(); // already there: fine
        assert!(std::fs::metadata(&deep).unwrap().is_dir());

        let f = sub.join("file");
        fs::write(&f, "data").await.unwrap();
        let e = fs::create_dir_all(f.join("below")).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR), "{e}");
        let e = fs::create_dir_all(&f).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "a file is in the way");

        let moved = d.join("moved");
        fs::rename(&f, &moved).await.unwrap();
        assert!(!fs::exists(&f).await);
        assert_eq!(std::fs::read(&moved).unwrap(), b"data");
        let e = fs::rename(&f, &moved).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        let hard = d.join("hard");
        fs::hard_link(&moved, &hard).await.unwrap();
        assert_eq!(fs::metadata(&moved).await.unwrap().nlink(), 2);
        let e = fs::hard_link(&moved, &hard).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);

        let link = d.join("sym");
        fs::symlink("moved", &link).await.unwrap();
        assert_eq!(fs::read_link(&link).await.unwrap(), PathBuf::from("moved"));
        assert!(fs::symlink_metadata(&link).await.unwrap().is_symlink());
        let through = fs::metadata(&link).await.unwrap();
        assert!(through.is_file() && through.len() == 4);
        let canon = fs::canonicalize(&link).await.unwrap();
        assert_eq!(canon, std::fs::canonicalize(&moved).unwrap());
        let e = fs::canonicalize(d.join("nope")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        // Removing: files with remove_file, empty directories with remove_dir.
        let e = fs::remove_file(&sub).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
        let e = fs::remove_dir(&moved).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
        let e = fs::remove_dir(&d).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTEMPTY));
        for f in [&moved, &hard, &link] {
            fs::remove_file(f).await.unwrap();
        }
        let e = fs::remove_file(&moved).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        fs::remove_dir(&sub).await.unwrap();
        assert!(!fs::exists(&sub).await);
        let e = fs::metadata(&sub).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = fs::remove_file("bad\0name").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        std::fs::remove_dir_all(&d).unwrap();
    });
}

#[test]
fn read_dir_lists_everything_once() {
    use futures_util::StreamExt;
    let d = dir("list");
    common::run(T, move || async move {
        // Set up inside `run`: it holds the fd lock other tests count under.
        for i in 0..1500 {
            std::fs::write(d.join(format!("f{i}")), "").unwrap();
        }
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("f1", d.join("ln")).unwrap();
        let mut names = Vec::new();
        let mut dirs = fs::read_dir(&d).await.unwrap();
        while let Some(e) = dirs.next_entry().await.unwrap() {
            let ty = e.file_type().unwrap();
            match e.file_name().to_str().unwrap() {
                "sub" => assert!(ty.is_dir()),
                "ln" => {
                    assert!(ty.is_symlink());
                    assert!(e.metadata().await.unwrap().is_symlink());
                }
                _ => assert!(ty.is_file()),
            }
            assert_eq!(e.path(), d.join(e.file_name()));
            names.push(e.file_name());
        }
        assert_eq!(names.len(), 1502);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 1502, "no entry twice");

        // As a Stream, and dropped half way: the lister thread stops.
        let listed = fs::read_dir(&d).await.unwrap().take(10).count().await;
        assert_eq!(listed, 10);

        let e = fs::read_dir(d.join("none")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = fs::read_dir(d.join("f1")).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
        std::fs::remove_dir_all(&d).unwrap();
    });
}

#[test]
fn vectored_io_to_end_allocate_permissions() {
    let d = dir("vec");
    common::run(T, move || async move {
        let p = d.join("v");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&p)
            .await
            .unwrap();
        let bufs = vec![
            b"hello ".to_vec(),
            Vec::new(),
            b"vectored ".to_vec(),
            b"world".to_vec(),
        ];
        let (res, bufs) = f.writev_at(bufs, 3).await;
        assert_eq!(res.unwrap(), 20);
        assert_eq!(bufs[3], b"world", "buffers come back in order");
        f.writev_all_at(vec![b"abc".to_vec()], 0).await.0.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abchello vectored world");

        let bufs = vec![
            Vec::with_capacity(3),
            Vec::with_capacity(6),
            Vec::with_capacity(100),
        ];
        let (res, bufs) = f.readv_at(bufs, 0).await;
        assert_eq!(res.unwrap(), 23);
        assert_eq!(bufs[0], b"abc");
        assert_eq!(bufs[1], b"hello ");
        assert_eq!(bufs[2], b"vectored world");
        let (res, bufs) = f
            .readv_at(vec![vec![9u8; 0], Vec::with_capacity(4)], 100)
            .await;
        assert_eq!(res.unwrap(), 0, "past the end");
        assert!(bufs[1].is_empty());

        let (res, all) = f.read_to_end_at(b"head:".to_vec(), 3).await;
        assert_eq!(res.unwrap(), 20);
        assert_eq!(all, b"head:hello vectored world");
        let (res, all) = f.read_to_end(Vec::new()).await;
        assert_eq!(res.unwrap(), 23, "from the current position (0)");
        assert_eq!(all.len(), 23);

        f.allocate(0, 1 << 20).await.unwrap();
        let m = f.metadata().await.unwrap();
        assert_eq!(m.len(), 1 << 20);
        assert!(m.blocks() * 512 >= 1 << 20, "space is allocated");
        f.fallocate(libc::FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20)
            .await
            .unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 1 << 20);
        let e = f.allocate(0, 0).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "fallocate of 0 bytes");

        f.set_permissions(std::fs::Permissions::from_mode(0o640))
            .await
            .unwrap();
        assert_eq!(f.metadata().await.unwrap().permissions().mode(), 0o640);
        fs::set_permissions(&p, std::fs::Permissions::from_mode(0o604))
            .await
            .unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o604
        );
        let e = fs::set_permissions(d.join("none"), std::fs::Permissions::from_mode(0o600))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        // Vectored I/O on a read-only file: EBADF, buffers back.
        let ro = File::open(&p).await.unwrap();
        let (res, bufs) = ro.writev_at(vec![b"x".to_vec(), b"y".to_vec()], 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(bufs, vec![b"x".to_vec(), b"y".to_vec()]);
        let (res, bufs) = ro.writev_all_at(vec![b"x".to_vec()], 0).await;
        assert!(res.is_err());
        assert_eq!(bufs, vec![b"x".to_vec()]);
        let e = ro.allocate(0, 4096).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        drop((f, ro));
        std::fs::remove_dir_all(&d).unwrap();
    });
}

#[test]
fn open_at_and_resolve_beneath() {
    let d = dir("beneath");
    common::run(T, move || async move {
        std::fs::create_dir(d.join("inner")).unwrap();
        std::fs::write(d.join("inner/ok"), "ok").unwrap();
        std::fs::write(d.join("secret"), "no").unwrap();
        std::os::unix::fs::symlink("../secret", d.join("inner/escape")).unwrap();
        let inner = File::open(d.join("inner")).await.unwrap();
        let mut opts = OpenOptions::new();
        opts.read(true);
        let f = opts.open_at(&inner, "ok").await.unwrap();
        assert_eq!(f.read_to_end(Vec::new()).await.1, b"ok");
        // Without restrictions, `..` and symlinks leave the directory.
        assert!(opts.open_at(&inner, "../secret").await.is_ok());
        assert!(opts.open_at(&inner, "escape").await.is_ok());
        opts.resolve(libc::RESOLVE_BENEATH);
        assert!(opts.open_at(&inner, "ok").await.is_ok());
        for bad in ["../secret", "escape", "/etc/passwd"] {
            let e = opts.open_at(&inner, bad).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{bad}: {e}");
        }
        let e = OpenOptions::new()
            .read(true)
            .resolve(libc::RESOLVE_NO_SYMLINKS)
            .open(d.join("inner/escape"))
            .await
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        // create_new on an existing file; a file as a directory.
        let e = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open_at(&inner, "ok")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        let e = File::open(d.join("secret/x")).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
        let e = OpenOptions::new().write(true).open(&d).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
        drop((inner, f));
        std::fs::remove_dir_all(&d).unwrap();
    });
}

#[test]
fn file_removed_while_open_stays_readable() {
    let d = dir("unlinked");
    common::run(T, move || async move {
        let p = d.join("f");
        fs::write(&p, vec![7u8; 10_000]).await.unwrap();
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .await
            .unwrap();
        fs::remove_file(&p).await.unwrap();
        assert!(!fs::exists(&p).await);
        let (res, buf) = f.read_exact_at(Vec::with_capacity(10_000), 0).await;
        res.unwrap();
        assert!(buf.iter().all(|&b| b == 7));
        f.write_all_at(b"more".to_vec(), 10_000).await.0.unwrap();
        let m = f.metadata().await.unwrap();
        assert_eq!((m.len(), m.nlink()), (10_004, 0));
        f.close().await.unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    });
}
