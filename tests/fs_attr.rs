//! The metadata calls of `curing::fs` that a faithful copy needs: times
//! (files, paths, symlinks' own), owner and group, xattrs (user, trusted,
//! security.capability, POSIX ACLs), special files, sparse-file holes,
//! reflinks, `copy_file_range`, and listings that carry metadata. Run on
//! both drivers by `ci/test.sh`.

mod common;

use curing::fs::{self, File, FileTimes, OpenOptions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn dir(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fs-attr-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        == 0
}

/// A time with nanoseconds, before and after the epoch.
fn at(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0) + Duration::new(0, nanos)
    }
}

#[test]
fn times_of_files_paths_and_symlinks_themselves() {
    let d = dir("times");
    common::run(Duration::from_secs(20), move || async move {
        let f = d.join("f");
        let file = File::create(&f).await.unwrap();
        file.write_all_at(b"x".to_vec(), 0).await.0.unwrap();
        let t = FileTimes::new()
            .set_accessed(at(1_000_000_000, 123_456_789))
            .set_modified(at(-86_400 * 3, 5));
        file.set_times(t).await.unwrap();
        let m = file.metadata().await.unwrap();
        assert_eq!(m.accessed(), at(1_000_000_000, 123_456_789));
        assert_eq!(m.modified(), at(-86_400 * 3, 5));
        // Only one time: the other stays.
        file.set_times(FileTimes::new().set_modified(at(7, 0)))
            .await
            .unwrap();
        let m = file.metadata().await.unwrap();
        assert_eq!(
            (m.accessed(), m.modified()),
            (at(1_000_000_000, 123_456_789), at(7, 0))
        );
        file.close().await.unwrap();

        // By path, following a symlink; and a symlink's own times.
        let link = d.join("link");
        fs::symlink("f", &link).await.unwrap();
        fs::set_times(&link, FileTimes::new().set_modified(at(99, 1)))
            .await
            .unwrap();
        assert_eq!(fs::metadata(&f).await.unwrap().modified(), at(99, 1));
        let before = fs::symlink_metadata(&link).await.unwrap().modified();
        fs::set_symlink_times(
            &link,
            FileTimes::new()
                .set_modified(at(42, 2))
                .set_accessed(at(43, 3)),
        )
        .await
        .unwrap();
        let l = fs::symlink_metadata(&link).await.unwrap();
        assert_eq!((l.modified(), l.accessed()), (at(42, 2), at(43, 3)));
        assert_ne!(before, l.modified());
        assert_eq!(
            fs::metadata(&f).await.unwrap().modified(),
            at(99, 1),
            "target untouched"
        );
        let e = fs::set_times(d.join("missing"), FileTimes::new().set_modified(at(1, 0)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn owner_and_group() {
    let d = dir("owner");
    common::run(Duration::from_secs(20), move || async move {
        let f = d.join("f");
        let file = File::create(&f).await.unwrap();
        let link = d.join("link");
        fs::symlink("f", &link).await.unwrap();
        if !is_root() {
            // Giving a file away needs root.
            let e = file.set_owner(Some(4321), None).await.unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
            return;
        }
        file.set_owner(Some(4321), Some(8765)).await.unwrap();
        let m = file.metadata().await.unwrap();
        assert_eq!((m.uid(), m.gid()), (4321, 8765));
        // None keeps one of them.
        file.set_owner(None, Some(11)).await.unwrap();
        let m = file.metadata().await.unwrap();
        assert_eq!((m.uid(), m.gid()), (4321, 11));
        // A chown clears setuid: the mode is set again after it.
        file.set_permissions(std::fs::Permissions::from_mode(0o4755))
            .await
            .unwrap();
        file.set_owner(Some(1), None).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().mode() & 0o7777, 0o755);
        // By path (following) and a symlink itself.
        fs::chown(&link, Some(5), Some(6)).await.unwrap();
        let m = fs::metadata(&f).await.unwrap();
        assert_eq!((m.uid(), m.gid()), (5, 6));
        fs::lchown(&link, Some(7), Some(8)).await.unwrap();
        let l = fs::symlink_metadata(&link).await.unwrap();
        assert_eq!((l.uid(), l.gid()), (7, 8));
        let m = fs::metadata(&f).await.unwrap();
        assert_eq!((m.uid(), m.gid()), (5, 6), "target untouched");
        file.close().await.unwrap();
    });
}

/// owner rw-, user 1234 r--, group r--, mask r--, other ---.
fn acl() -> Vec<u8> {
    common::posix_acl(6, (1234, 4), 4, 4, 0)
}

fn capability() -> Vec<u8> {
    common::capability_net_raw()
}

#[test]
fn xattrs_acls_and_capabilities() {
    let d = dir("xattr");
    common::run(Duration::from_secs(20), move || async move {
        let f = d.join("f");
        let file = File::create(&f).await.unwrap();
        assert!(file.xattr_names().await.unwrap().is_empty());
        assert_eq!(file.xattr("user.none").await.unwrap(), None);
        file.set_xattr("user.a", b"one").await.unwrap();
        fs::set_xattr(&f, "user.b", b"").await.unwrap();
        let mut names = fs::xattr_names(&f).await.unwrap();
        names.sort();
        assert_eq!(names, ["user.a", "user.b"]);
        assert_eq!(
            file.xattr("user.a").await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(fs::xattr(&f, "user.b").await.unwrap(), Some(Vec::new()));
        // A value bigger than a first guess comes back whole.
        let big = vec![7u8; 3000];
        file.set_xattr("user.big", &big).await.unwrap();
        assert_eq!(file.xattr("user.big").await.unwrap(), Some(big));
        file.remove_xattr("user.big").await.unwrap();
        fs::remove_xattr(&f, "user.b").await.unwrap();
        assert_eq!(file.xattr_names().await.unwrap(), ["user.a"]);
        let e = file.set_xattr("bogus.ns", b"x").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
        let e = file.xattr("user.a\0b").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);

        // An ACL is an xattr; setting it moves the group bits to its mask.
        file.set_xattr("system.posix_acl_access", &acl())
            .await
            .unwrap();
        assert_eq!(
            file.xattr("system.posix_acl_access").await.unwrap(),
            Some(acl())
        );
        assert_eq!(file.metadata().await.unwrap().mode() & 0o777, 0o640);

        // A symlink's own xattrs (only trusted.* and security.* may be set
        // on one, and trusted.* only by root).
        let link = d.join("link");
        fs::symlink("f", &link).await.unwrap();
        assert!(fs::symlink_xattr_names(&link).await.unwrap().is_empty());
        assert_eq!(
            fs::xattr(&link, "user.a").await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        if is_root() {
            fs::set_symlink_xattr(&link, "trusted.t", b"own")
                .await
                .unwrap();
            assert_eq!(fs::symlink_xattr_names(&link).await.unwrap(), ["trusted.t"]);
            assert_eq!(
                fs::symlink_xattr(&link, "trusted.t")
                    .await
                    .unwrap()
                    .as_deref(),
                Some(&b"own"[..])
            );
            assert_eq!(fs::xattr(&f, "trusted.t").await.unwrap(), None);
            // A file capability; a chown drops it (so a copy sets xattrs
            // after the owner).
            file.set_xattr("security.capability", &capability())
                .await
                .unwrap();
            assert_eq!(
                file.xattr("security.capability").await.unwrap(),
                Some(capability())
            );
            file.set_owner(Some(0), Some(0)).await.unwrap();
            assert_eq!(file.xattr("security.capability").await.unwrap(), None);
        }
        file.close().await.unwrap();
    });
}

#[test]
fn fifos_and_device_nodes() {
    let d = dir("special");
    common::run(Duration::from_secs(20), move || async move {
        fs::mkfifo(d.join("fifo"), 0o640).await.unwrap();
        let m = std::fs::symlink_metadata(d.join("fifo")).unwrap();
        assert_eq!(m.mode() & libc::S_IFMT, libc::S_IFIFO);
        assert_eq!(m.mode() & 0o777, 0o640 & !0o022 & 0o640);
        let e = fs::mkfifo(d.join("fifo"), 0o600).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        let null = libc::makedev(1, 3);
        let res = fs::mknod(d.join("null"), libc::S_IFCHR | 0o600, null).await;
        if is_root() {
            res.unwrap();
            let m = fs::symlink_metadata(d.join("null")).await.unwrap();
            assert_eq!(m.mode() & libc::S_IFMT, libc::S_IFCHR);
            assert_eq!(m.rdev(), null);
        } else {
            assert_eq!(
                res.unwrap_err().kind(),
                std::io::ErrorKind::PermissionDenied
            );
        }
        assert_eq!(
            fs::symlink_metadata(d.join("fifo")).await.unwrap().rdev(),
            0
        );
    });
}

#[test]
fn sparse_files_data_and_holes() {
    let d = dir("sparse");
    common::run(Duration::from_secs(20), move || async move {
        let f = d.join("f");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&f)
            .await
            .unwrap();
        const MIB: u64 = 1 << 20;
        file.set_len(10 * MIB).await.unwrap();
        file.write_all_at(vec![1u8; 4096], 5 * MIB).await.0.unwrap();
        assert_eq!(file.seek_data(0).await.unwrap(), Some(5 * MIB));
        assert_eq!(file.seek_hole(5 * MIB).await.unwrap(), Some(5 * MIB + 4096));
        assert_eq!(file.seek_hole(0).await.unwrap(), Some(0));
        // Only a hole after the data; the end counts as a hole.
        assert_eq!(file.seek_data(5 * MIB + 4096).await.unwrap(), None);
        assert_eq!(file.seek_hole(9 * MIB).await.unwrap(), Some(9 * MIB));
        assert_eq!(file.seek_data(11 * MIB).await.unwrap(), None);
        assert_eq!(file.seek_hole(11 * MIB).await.unwrap(), None);
        let e = file.seek_data(u64::MAX).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        file.close().await.unwrap();
    });
}

#[test]
fn copy_file_range_copies_in_the_kernel_and_stops_when_dropped() {
    let d = dir("cfr");
    common::run(Duration::from_secs(30), move || async move {
        let data = common::pattern(3, (5 << 20) + 321);
        std::fs::write(d.join("a"), &data).unwrap();
        let a = File::open(d.join("a")).await.unwrap();
        let b = File::create(d.join("b")).await.unwrap();
        // From an offset to an offset; stops at the source's end.
        let n = fs::copy_file_range(&a, 100, &b, 7, u64::MAX).await.unwrap();
        assert_eq!(n, data.len() as u64 - 100);
        let got = std::fs::read(d.join("b")).unwrap();
        assert_eq!(&got[..7], &[0u8; 7]);
        assert!(got[7..] == data[100..]);
        // A limited length.
        let c = File::create(d.join("c")).await.unwrap();
        assert_eq!(fs::copy_file_range(&a, 0, &c, 0, 1000).await.unwrap(), 1000);
        assert!(std::fs::read(d.join("c")).unwrap() == data[..1000]);
        // Dropped at once: the files close at once, nothing hangs or leaks.
        let big = File::create(d.join("big")).await.unwrap();
        big.set_len(1 << 30).await.unwrap();
        let copy = fs::copy_file_range(&big, 0, &c, 0, u64::MAX);
        let _ = curing::time::timeout(Duration::from_millis(1), copy).await;
        big.close().await.unwrap();
        // An offset no file can have: refused before the kernel sees it.
        let e = fs::copy_file_range(&a, u64::MAX, &b, 0, 1)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        for f in [a, b, c] {
            f.close().await.unwrap();
        }
    });
}

#[test]
fn reflink_is_refused_where_blocks_cannot_be_shared() {
    // ext4 and tmpfs (where the test directory lives) cannot share blocks:
    // the caller is told so, to fall back to copying. `fs_cptree`
    // reflinks for real on XFS.
    let d = dir("reflink");
    common::run(Duration::from_secs(20), move || async move {
        std::fs::write(d.join("a"), b"shared").unwrap();
        let a = File::open(d.join("a")).await.unwrap();
        let b = File::create(d.join("b")).await.unwrap();
        let fstype = std::process::Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(&d)
            .output()
            .unwrap();
        let fstype = String::from_utf8_lossy(&fstype.stdout).trim().to_owned();
        match b.reflink_from(&a).await {
            Ok(()) => assert!(
                ["xfs", "btrfs", "bcachefs"].contains(&fstype.as_str()),
                "reflinked on {fstype}"
            ),
            Err(e) => {
                assert!(
                    matches!(
                        e.raw_os_error(),
                        Some(libc::EOPNOTSUPP | libc::EXDEV | libc::EINVAL)
                    ),
                    "{e} on {fstype}"
                );
                assert_eq!(std::fs::read(d.join("b")).unwrap(), b"", "nothing written");
            }
        }
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
}

#[test]
fn listings_can_carry_each_entrys_metadata() {
    let d = dir("listing");
    common::run(Duration::from_secs(20), move || async move {
        std::fs::write(d.join("f"), b"12345").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("f", d.join("link")).unwrap();
        let mut seen = Vec::new();
        let mut entries = fs::read_dir_with_metadata(&d).await.unwrap();
        while let Some(e) = entries.next_entry().await.unwrap() {
            let m = e.metadata().await.unwrap();
            let want = fs::symlink_metadata(e.path()).await.unwrap();
            assert_eq!(
                (m.ino(), m.mode(), m.len()),
                (want.ino(), want.mode(), want.len())
            );
            seen.push((e.file_name().into_string().unwrap(), m.is_symlink()));
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                ("f".into(), false),
                ("link".into(), true),
                ("sub".into(), false)
            ]
        );
        let e = fs::read_dir_with_metadata(d.join("missing"))
            .await
            .err()
            .unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    });
}
