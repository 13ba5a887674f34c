//! Outside checks of the `curing::fs` metadata API (outside21).
//! Usage: tester WORKDIR [XFS_DIR] [TMPFS_DIR]   (run as root; CURING_DRIVER=epoll for the fallback)
//! Prints one "PASS name" / "FAIL name: detail" line per check; exit 1 if any failed.
use curing::fs::{self, File, FileTimes};
use std::cell::Cell;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

thread_local!(static FAILS: Cell<u32> = Cell::new(0));

fn check(name: &str, ok: bool, detail: impl std::fmt::Debug) {
    if ok {
        println!("PASS {name}");
    } else {
        println!("FAIL {name}: {detail:?}");
        FAILS.with(|f| f.set(f.get() + 1));
    }
}

fn t(secs: i64, nsec: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsec)
    } else {
        // secs + nsec/1e9 with secs negative
        UNIX_EPOCH - Duration::new((-secs) as u64, 0) + Duration::new(0, nsec)
    }
}

fn stat_times(p: &Path) -> ((i64, i64), (i64, i64)) {
    let m = std::fs::symlink_metadata(p).unwrap();
    ((m.atime(), m.atime_nsec()), (m.mtime(), m.mtime_nsec()))
}

fn sh(cmd: &str) -> (bool, String) {
    let o = std::process::Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr))
}

async fn times_checks(w: &Path) {
    let f = w.join("times_file");
    std::fs::write(&f, b"x").unwrap();
    let file = File::options().write(true).open(&f).await.unwrap();
    // nanoseconds and before 1970
    let at = t(-86400 * 365 * 10 - 1, 123_456_789); // ~1960, -315360001 + .123456789
    let mt = t(1_700_000_000, 999_999_999);
    let r = file.set_times(FileTimes::new().set_accessed(at).set_modified(mt)).await;
    let got = stat_times(&f);
    check("File::set_times nanos + pre-1970 atime", r.is_ok() && got == ((-315360001, 123_456_789), (1_700_000_000, 999_999_999)), (r, got));
    // Metadata reads them back
    let md = file.metadata().await.unwrap();
    check("Metadata::accessed/modified pre-1970 + nanos", md.accessed() == at && md.modified() == mt, (md.accessed(), md.modified()));
    // only modified: accessed unchanged
    let mt2 = t(1_000_000_000, 1);
    let r = file.set_times(FileTimes::new().set_modified(mt2)).await;
    let got = stat_times(&f);
    check("File::set_times modified only keeps atime", r.is_ok() && got == ((-315360001, 123_456_789), (1_000_000_000, 1)), (r, got));
    let r = file.set_times(FileTimes::new()).await;
    let got2 = stat_times(&f);
    check("File::set_times empty changes nothing", r.is_ok() && got2 == got, (r, got2));
    // exactly -1 ns (just before epoch)
    let minus1 = UNIX_EPOCH - Duration::new(0, 1);
    let r = file.set_times(FileTimes::new().set_modified(minus1)).await;
    let got = stat_times(&f);
    check("File::set_times 1ns before epoch", r.is_ok() && got.1 == (-1, 999_999_999), (r, got));
    // File opened read-only as owner (root) - futimens works on O_RDONLY
    let ro = File::open(&f).await.unwrap();
    let r = ro.set_times(FileTimes::new().set_modified(mt)).await;
    check("File::set_times on read-only fd", r.is_ok() && stat_times(&f).1 == (1_700_000_000, 999_999_999), r);
    ro.close().await.unwrap();
    file.close().await.unwrap();

    // paths and symlinks
    let l = w.join("times_link");
    let _ = std::fs::remove_file(&l);
    std::os::unix::fs::symlink("times_file", &l).unwrap();
    let before_link = stat_times(&l);
    let r = fs::set_times(&l, FileTimes::new().set_accessed(t(5, 5)).set_modified(t(6, 6))).await;
    check("fs::set_times follows symlink", r.is_ok() && stat_times(&f) == ((5, 5), (6, 6)) && stat_times(&l).1 == before_link.1, (r, stat_times(&f), stat_times(&l)));
    let r = fs::set_symlink_times(&l, FileTimes::new().set_accessed(t(-7, 7)).set_modified(t(8, 8))).await;
    check("fs::set_symlink_times sets link's own", r.is_ok() && stat_times(&l) == ((-7, 7), (8, 8)) && stat_times(&f) == ((5, 5), (6, 6)), (r, stat_times(&l), stat_times(&f)));
    let d = w.join("dangling");
    let _ = std::fs::remove_file(&d);
    std::os::unix::fs::symlink("/nonexistent/zzz", &d).unwrap();
    let r = fs::set_symlink_times(&d, FileTimes::new().set_modified(t(9, 9))).await;
    check("fs::set_symlink_times on dangling link", r.is_ok() && stat_times(&d).1 == (9, 9), r);
    let r = fs::set_times(&d, FileTimes::new().set_modified(t(9, 9))).await;
    check("fs::set_times on dangling link -> NotFound", matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::NotFound), r);
    let r = fs::set_times(w.join("nope\0x"), FileTimes::new().set_modified(t(9, 9))).await;
    check("fs::set_times path with NUL -> InvalidInput", matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::InvalidInput), r);
    // non-UTF8 path
    let nu = w.join(OsStr::from_bytes(b"bad\xff\nname"));
    std::fs::write(&nu, b"").unwrap();
    let r = fs::set_times(&nu, FileTimes::new().set_modified(t(11, 11))).await;
    check("fs::set_times non-UTF-8 name with newline", r.is_ok() && stat_times(&nu).1 == (11, 11), r);
    // directory
    let dd = w.join("times_dir");
    let _ = std::fs::create_dir(&dd);
    let r = fs::set_times(&dd, FileTimes::new().set_accessed(t(12, 12)).set_modified(t(13, 13))).await;
    check("fs::set_times on directory", r.is_ok() && stat_times(&dd) == ((12, 12), (13, 13)), r);
    // far future
    let far = t(1 << 33, 5); // year 2242
    let r = fs::set_times(&f, FileTimes::new().set_modified(far)).await;
    check("fs::set_times far future (2242)", r.is_ok() && stat_times(&f).1 == (1 << 33, 5), (r, stat_times(&f)));
}

async fn owner_checks(w: &Path) {
    let f = w.join("own_file");
    std::fs::write(&f, b"x").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o6755)).unwrap();
    let file = File::open(&f).await.unwrap();
    let r = file.set_owner(Some(65534), Some(65534)).await;
    let m = std::fs::metadata(&f).unwrap();
    check("File::set_owner uid+gid (root)", r.is_ok() && m.uid() == 65534 && m.gid() == 65534, (r, m.uid(), m.gid()));
    check("File::set_owner clears setuid/setgid (as documented)", m.mode() & 0o6000 == 0, format!("{:o}", m.mode()));
    let r = file.set_owner(None, Some(0)).await;
    let m = std::fs::metadata(&f).unwrap();
    check("File::set_owner gid only keeps uid", r.is_ok() && m.uid() == 65534 && m.gid() == 0, (r, m.uid(), m.gid()));
    let r = file.set_owner(None, None).await;
    let m2 = std::fs::metadata(&f).unwrap();
    check("File::set_owner None,None no change", r.is_ok() && m2.uid() == 65534 && m2.gid() == 0, r);
    file.close().await.unwrap();
    let l = w.join("own_link");
    let _ = std::fs::remove_file(&l);
    std::os::unix::fs::symlink("own_file", &l).unwrap();
    let r = fs::chown(&l, Some(1), Some(2)).await;
    let m = std::fs::metadata(&f).unwrap();
    let lm = std::fs::symlink_metadata(&l).unwrap();
    check("fs::chown follows symlink", r.is_ok() && m.uid() == 1 && m.gid() == 2 && lm.uid() == 0, (r, m.uid(), lm.uid()));
    let r = fs::lchown(&l, Some(3), None).await;
    let m = std::fs::metadata(&f).unwrap();
    let lm = std::fs::symlink_metadata(&l).unwrap();
    check("fs::lchown changes link itself only", r.is_ok() && lm.uid() == 3 && lm.gid() == 0 && m.uid() == 1, (r, lm.uid(), lm.gid(), m.uid()));
    let r = fs::chown(w.join("does_not_exist"), Some(1), None).await;
    check("fs::chown missing -> NotFound", matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::NotFound), r);
    // u32::MAX as uid means "no change" to the kernel (-1); check what curing does
    let r = fs::chown(&f, Some(u32::MAX), None).await;
    let m = std::fs::metadata(&f).unwrap();
    println!("INFO fs::chown Some(u32::MAX): {:?}, uid now {}", r, m.uid());
}

async fn xattr_checks(w: &Path, tmpfs: Option<&Path>, xfs: Option<&Path>) {
    let f = w.join("xa_file");
    let _ = std::fs::remove_file(&f);
    std::fs::write(&f, b"x").unwrap();
    let file = File::options().write(true).open(&f).await.unwrap();
    let r = file.set_xattr("user.a", b"hello").await;
    let v = file.xattr("user.a").await;
    check("File::set_xattr + xattr", r.is_ok() && matches!(&v, Ok(Some(x)) if x == b"hello"), (r, v));
    let r = file.set_xattr("user.empty", b"").await;
    let v = file.xattr("user.empty").await;
    check("File xattr empty value is Some(empty)", r.is_ok() && matches!(&v, Ok(Some(x)) if x.is_empty()), (r, v));
    let v = file.xattr("user.missing").await;
    check("File::xattr missing -> None", matches!(v, Ok(None)), v);
    let r = file.set_xattr("user.a", b"replaced-longer-value").await;
    let v = file.xattr("user.a").await;
    check("File::set_xattr replaces", r.is_ok() && matches!(&v, Ok(Some(x)) if x == b"replaced-longer-value"), v);
    let bin: Vec<u8> = (0..=255u8).collect();
    let r = file.set_xattr(OsStr::from_bytes(b"user.\xff\x01bin"), &bin).await;
    let v = file.xattr(OsStr::from_bytes(b"user.\xff\x01bin")).await;
    check("File xattr non-UTF-8 name, binary value", r.is_ok() && matches!(&v, Ok(Some(x)) if *x == bin), (r, v.map(|o| o.map(|x| x.len()))));
    let r = file.set_xattr("trusted.t", b"tv").await;
    check("File::set_xattr trusted.* as root", r.is_ok(), &r);
    let names = file.xattr_names().await;
    let mut n: Vec<Vec<u8>> = names.as_ref().map(|v| v.iter().map(|s| s.as_bytes().to_vec()).collect()).unwrap_or_default();
    n.sort();
    let mut want: Vec<Vec<u8>> = vec![b"user.a".to_vec(), b"user.empty".to_vec(), b"user.\xff\x01bin".to_vec(), b"trusted.t".to_vec()];
    want.sort();
    check("File::xattr_names lists all (non-UTF-8 too)", n == want, (&names, &want));
    let r = file.remove_xattr("user.a").await;
    let v = file.xattr("user.a").await;
    check("File::remove_xattr", r.is_ok() && matches!(v, Ok(None)), (r, v));
    let r = file.remove_xattr("user.a").await;
    println!("INFO File::remove_xattr missing -> {:?} (kind {:?})", r, r.as_ref().err().map(|e| e.kind()));
    check("File::remove_xattr missing is an error", r.is_err(), &r);
    let r = file.set_xattr("bogus.ns", b"x").await;
    println!("INFO set_xattr bogus namespace -> {:?} kind {:?}", r, r.as_ref().err().map(|e| e.kind()));
    check("File::set_xattr unknown namespace -> Unsupported (as documented: EOPNOTSUPP)", matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::Unsupported), &r);
    // ACL via xattr: copy system.posix_acl_access from a setfacl'd file
    let (ok, out) = sh(&format!("setfacl -m u:65534:r-x '{}' && getfattr --absolute-names -e hex -n system.posix_acl_access '{}'", f.display(), f.display()));
    if ok {
        let acl = file.xattr("system.posix_acl_access").await;
        let g = w.join("xa_acl_target");
        std::fs::write(&g, b"").unwrap();
        let r = match &acl { Ok(Some(a)) => fs::set_xattr(&g, "system.posix_acl_access", a).await, _ => Err(std::io::Error::other("no acl")) };
        let (_, o1) = sh(&format!("getfacl -c '{}'", f.display()));
        let (_, o2) = sh(&format!("getfacl -c '{}'", g.display()));
        check("ACL copied through xattr/set_xattr (getfacl equal)", r.is_ok() && o1 == o2, (r, o1, o2));
    } else {
        println!("SKIP acl: {out}");
    }
    // capability
    let (ok, out) = sh(&format!("setcap cap_net_raw+ep '{}'", f.display()));
    if ok {
        let cap = fs::xattr(&f, "security.capability").await;
        let g = w.join("xa_cap_target");
        std::fs::write(&g, b"").unwrap();
        let r = match &cap { Ok(Some(c)) => fs::set_xattr(&g, "security.capability", c).await, _ => Err(std::io::Error::other("no cap")) };
        let (_, o2) = sh(&format!("getcap '{}'", g.display()));
        check("security.capability copied via fs::xattr/set_xattr", r.is_ok() && o2.contains("cap_net_raw=ep"), (r, o2));
        // set_owner after capability: kernel drops capability
        let gf = File::open(&g).await.unwrap();
        let _ = gf.set_owner(Some(1), None).await;
        let c2 = fs::xattr(&g, "security.capability").await;
        println!("INFO security.capability after chown: {:?} (kernel removes it; hence cptree sets xattrs after chown)", c2.map(|o| o.is_some()));
        gf.close().await.unwrap();
    } else {
        println!("SKIP cap: {out}");
    }
    file.close().await.unwrap();

    // path variants follow symlinks; symlink variants don't
    let l = w.join("xa_link");
    let _ = std::fs::remove_file(&l);
    std::os::unix::fs::symlink("xa_file", &l).unwrap();
    let r = fs::set_xattr(&l, "user.via_link", b"1").await;
    let v = fs::xattr(&f, "user.via_link").await;
    check("fs::set_xattr follows symlink", r.is_ok() && matches!(&v, Ok(Some(x)) if x == b"1"), (r, v));
    let names = fs::xattr_names(&l).await;
    check("fs::xattr_names follows symlink", matches!(&names, Ok(n) if n.iter().any(|s| s == "user.via_link")), &names);
    let r = fs::remove_xattr(&l, "user.via_link").await;
    check("fs::remove_xattr follows symlink", r.is_ok() && matches!(fs::xattr(&f, "user.via_link").await, Ok(None)), r);
    let r = fs::set_symlink_xattr(&l, "trusted.onlink", b"L").await;
    let v = fs::symlink_xattr(&l, "trusted.onlink").await;
    let vt = fs::xattr(&f, "trusted.onlink").await;
    let (_, gf) = sh(&format!("getfattr -h -d -m - '{}'", l.display()));
    check("fs::set_symlink_xattr trusted.* on link itself", r.is_ok() && matches!(&v, Ok(Some(x)) if x == b"L") && matches!(vt, Ok(None)) && gf.contains("trusted.onlink"), (r, v, gf));
    let names = fs::symlink_xattr_names(&l).await;
    check("fs::symlink_xattr_names", matches!(&names, Ok(n) if n.iter().any(|s| s == "trusted.onlink") && !n.iter().any(|s| s == "trusted.t")), &names);
    let r = fs::set_symlink_xattr(&l, "user.x", b"1").await;
    println!("INFO set_symlink_xattr user.* -> {:?} kind {:?}", r, r.as_ref().err().map(|e| e.kind()));
    check("fs::set_symlink_xattr user.* refused (Linux allows only trusted/security)", r.is_err(), &r);
    let d = w.join("xa_dangling");
    let _ = std::fs::remove_file(&d);
    std::os::unix::fs::symlink("/no/such", &d).unwrap();
    let r = fs::set_symlink_xattr(&d, "trusted.d", b"D").await;
    check("fs::set_symlink_xattr on dangling symlink", r.is_ok() && matches!(fs::symlink_xattr(&d, "trusted.d").await, Ok(Some(x)) if x == b"D"), r);
    let r = fs::xattr(&d, "user.x").await;
    check("fs::xattr on dangling symlink -> NotFound", matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::NotFound), r);

    // big lists and values (tmpfs / xfs): exercise buffer growth
    for (label, dir) in [("tmpfs", tmpfs), ("xfs", xfs)] {
        let Some(dir) = dir else { continue };
        let p = dir.join("xa_big");
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, b"").unwrap();
        let big: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
        let r = fs::set_xattr(&p, "user.big", &big).await;
        let v = fs::xattr(&p, "user.big").await;
        check(&format!("{label}: 64 KiB xattr value round trip"), r.is_ok() && matches!(&v, Ok(Some(x)) if *x == big), (r, v.map(|o| o.map(|x| x.len()))));
        let mut ok_all = true;
        let mut want = vec![];
        for i in 0..300 {
            let name = format!("user.{:0>200}", i);
            if fs::set_xattr(&p, &name, b"v").await.is_err() { ok_all = false; break; }
            want.push(name);
        }
        let names = fs::xattr_names(&p).await;
        let got = names.as_ref().map(|v| v.len()).unwrap_or(0);
        check(&format!("{label}: 300 long xattr names listed (>60 KB list)"), ok_all && got == 301, (ok_all, got, names.as_ref().err()));
    }
}

async fn node_checks(w: &Path) {
    let old = unsafe { libc::umask(0o022) };
    let p = w.join("fifo1");
    let _ = std::fs::remove_file(&p);
    let r = fs::mkfifo(&p, 0o666).await;
    let m = std::fs::symlink_metadata(&p);
    check("fs::mkfifo mode before umask 022", r.is_ok() && matches!(&m, Ok(m) if m.mode() == (libc::S_IFIFO | 0o644)), (r, m.map(|m| format!("{:o}", m.mode()))));
    let r = fs::mkfifo(&p, 0o600).await;
    check("fs::mkfifo existing -> AlreadyExists", matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists), r);
    unsafe { libc::umask(0) };
    for (name, kind, maj, min) in [("chr", libc::S_IFCHR, 1u32, 3u32), ("blk", libc::S_IFBLK, 7, 0), ("chr_big", libc::S_IFCHR, 4095, 1048575)] {
        let p = w.join(name);
        let _ = std::fs::remove_file(&p);
        let dev = libc::makedev(maj, min);
        let r = fs::mknod(&p, kind | 0o640, dev).await;
        let sm = std::fs::symlink_metadata(&p);
        let cm = fs::symlink_metadata(&p).await;
        let ok = r.is_ok() && matches!(&sm, Ok(m) if m.rdev() == dev && m.mode() == kind | 0o640) && matches!(&cm, Ok(m) if m.rdev() == dev);
        check(&format!("fs::mknod {name} {maj}:{min} + Metadata::rdev == st_rdev"), ok, (r, sm.map(|m| (m.rdev(), format!("{:o}", m.mode()))), cm.map(|m| m.rdev()), dev));
    }
    // Linux dev_t holds 12-bit majors: a bigger one is the kernel's EINVAL, not a crash
    let r = fs::mknod(w.join("chr_huge"), libc::S_IFCHR | 0o600, libc::makedev(300000, 70000)).await;
    check("fs::mknod major beyond 12 bits -> InvalidInput", matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::InvalidInput), &r);
    // the doc says dev()/rdev() are "major << 32 | minor": they are glibc makedev() encoding (== st_rdev)
    println!("INFO makedev(1,3) = {} ; 1<<32|3 = {}", libc::makedev(1, 3), (1u64 << 32) | 3);
    let p = w.join("sock");
    let _ = std::fs::remove_file(&p);
    let r = fs::mknod(&p, libc::S_IFSOCK | 0o755, 0).await;
    let sm = std::fs::symlink_metadata(&p);
    check("fs::mknod socket", r.is_ok() && matches!(&sm, Ok(m) if m.mode() == libc::S_IFSOCK | 0o755), (r, sm.map(|m| format!("{:o}", m.mode()))));
    let p = w.join("fifo2");
    let _ = std::fs::remove_file(&p);
    let r = fs::mknod(&p, libc::S_IFIFO | 0o1777, 0).await;
    let sm = std::fs::symlink_metadata(&p);
    check("fs::mknod FIFO with sticky bit", r.is_ok() && matches!(&sm, Ok(m) if m.mode() == libc::S_IFIFO | 0o1777), (r, sm.map(|m| format!("{:o}", m.mode()))));
    let p = w.join("reg_via_mknod");
    let _ = std::fs::remove_file(&p);
    let r = fs::mknod(&p, libc::S_IFREG | 0o600, 0).await;
    println!("INFO fs::mknod S_IFREG -> {:?}", r);
    let p = w.join("mode0");
    let _ = std::fs::remove_file(&p);
    let r = fs::mknod(&p, 0o600, 0).await;
    println!("INFO fs::mknod type 0 -> {:?} {:?}", r, std::fs::symlink_metadata(&p).map(|m| format!("{:o}", m.mode())));
    // Metadata::rdev of a regular file is 0; dev matches st_dev
    let cm = fs::metadata(w.join("times_file")).await.unwrap();
    let sm = std::fs::metadata(w.join("times_file")).unwrap();
    check("Metadata::rdev 0 for regular file", cm.rdev() == 0, cm.rdev());
    check("Metadata::dev == st_dev", cm.dev() == sm.dev(), (cm.dev(), sm.dev()));
    let cm = fs::metadata("/dev/null").await.unwrap();
    check("Metadata::rdev of /dev/null == makedev(1,3)", cm.rdev() == libc::makedev(1, 3), cm.rdev());
    unsafe { libc::umask(old) };
}

async fn seek_checks(w: &Path) {
    // holes at start, middle, end on ext4 (4 KiB blocks)
    let p = w.join("sparse");
    let _ = std::fs::remove_file(&p);
    let file = File::options().read(true).write(true).create(true).open(&p).await.unwrap();
    let blk = 1u64 << 20; // 1 MiB granularity to be safe
    let (r, _) = file.write_all_at(vec![1u8; 4096], blk).await; r.unwrap();
    let (r, _) = file.write_all_at(vec![2u8; 4096], 3 * blk).await; r.unwrap();
    file.set_len(5 * blk).await.unwrap();
    let a = file.seek_data(0).await;
    let b = file.seek_hole(blk).await;
    let c = file.seek_data(blk + 4096).await;
    let d = file.seek_hole(3 * blk).await;
    let e = file.seek_data(3 * blk + 4096).await;
    let h0 = file.seek_hole(0).await;
    let end = file.seek_hole(5 * blk).await;
    let past = file.seek_hole(5 * blk + 1).await;
    let pastd = file.seek_data(10 * blk).await;
    check("seek_data skips leading hole", matches!(a, Ok(Some(x)) if x == blk), &a);
    check("seek_hole after first data", matches!(b, Ok(Some(x)) if x == blk + 4096), &b);
    check("seek_data finds middle data", matches!(c, Ok(Some(x)) if x == 3 * blk), &c);
    check("seek_hole after second data", matches!(d, Ok(Some(x)) if x == 3 * blk + 4096), &d);
    check("seek_data in trailing hole -> None", matches!(e, Ok(None)), &e);
    check("seek_hole(0) at leading hole -> Some(0)", matches!(h0, Ok(Some(0))), &h0);
    println!("INFO seek_hole(len) -> {:?}", end);
    check("seek_hole past end -> None", matches!(past, Ok(None)), &past);
    check("seek_data past end -> None", matches!(pastd, Ok(None)), &pastd);
    let big = file.seek_data(u64::MAX).await;
    check("seek_data(u64::MAX) -> error InvalidInput or None, no panic", matches!(&big, Ok(None)) || matches!(&big, Err(e) if e.kind() == std::io::ErrorKind::InvalidInput), &big);
    // seek_data/hole must not move the position? (documented? no) - check reading at current pos still from 0
    file.close().await.unwrap();
    let z = w.join("zero_len");
    std::fs::write(&z, b"").unwrap();
    let zf = File::open(&z).await.unwrap();
    let a = zf.seek_data(0).await;
    let b = zf.seek_hole(0).await;
    check("zero-length: seek_data(0) None", matches!(a, Ok(None)), &a);
    println!("INFO zero-length: seek_hole(0) -> {:?} (doc: None if from is *past* the end; the end counts as a hole => Some(0) expected by the doc)", b);
    zf.close().await.unwrap();
    // on a pipe
    let (rfd, wfd) = { let mut fds = [0; 2]; unsafe { libc::pipe(fds.as_mut_ptr()) }; (fds[0], fds[1]) };
    let _ = wfd;
    let pf = File::open(format!("/proc/self/fd/{rfd}")).await;
    if let Ok(pf) = pf {
        let r = pf.seek_data(0).await;
        check("seek_data on a pipe -> error (ESPIPE), no hang", r.is_err(), &r);
    }
}

async fn reflink_checks(w: &Path, xfs: Option<&Path>, tmpfs: Option<&Path>) {
    let s = w.join("rl_src");
    std::fs::write(&s, vec![7u8; 200_000]).unwrap();
    let src = File::open(&s).await.unwrap();
    let dst = File::create(w.join("rl_dst")).await.unwrap();
    let r = dst.reflink_from(&src).await;
    println!("INFO ext4 reflink_from -> {:?} kind {:?}", r, r.as_ref().err().map(|e| e.kind()));
    check("reflink_from on ext4 -> Unsupported", matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::Unsupported), &r);
    dst.close().await.unwrap();
    if let Some(x) = xfs {
        let xs = x.join("rl_src");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&xs, &data).unwrap();
        let xsrc = File::open(&xs).await.unwrap();
        let xd = x.join("rl_dst");
        let xdst = File::create(&xd).await.unwrap();
        let r = xdst.reflink_from(&xsrc).await;
        xdst.close().await.unwrap();
        let same = std::fs::read(&xd).map(|d| d == data).unwrap_or(false);
        let (_, ff) = sh(&format!("filefrag -v '{}'", xd.display()));
        check("XFS reflink_from: same bytes, extents shared", r.is_ok() && same && ff.contains("shared"), (r, same, ff));
        // into a bigger, non-empty destination: "makes this file a copy of src"
        let xd2 = x.join("rl_dst_big");
        std::fs::write(&xd2, vec![9u8; 5_000_000]).unwrap();
        let d2 = File::options().write(true).open(&xd2).await.unwrap();
        let r = d2.reflink_from(&xsrc).await;
        d2.close().await.unwrap();
        let got = std::fs::read(&xd2).unwrap();
        println!("INFO XFS reflink_from (unaligned 3,000,000-byte src) into bigger non-empty file: {:?}, dst len {}", r, got.len());
        check("XFS reflink_from into bigger file: error or a copy of src (never a mix)", r.is_err() && got == vec![9u8; 5_000_000] || r.is_ok() && got == data, (&r, got.len()));
        // block-aligned source into a bigger destination: the kernel leaves the tail
        let al = x.join("rl_src_aligned");
        std::fs::write(&al, vec![3u8; 1 << 22]).unwrap();
        let alf = File::open(&al).await.unwrap();
        let xd5 = x.join("rl_dst_big2");
        std::fs::write(&xd5, vec![9u8; 5_000_000]).unwrap();
        let d5 = File::options().write(true).open(&xd5).await.unwrap();
        let r = d5.reflink_from(&alf).await;
        d5.close().await.unwrap();
        alf.close().await.unwrap();
        let got = std::fs::read(&xd5).unwrap();
        // As documented since: the kernel replaces only the range src covers;
        // a longer file keeps its tail.
        let mut want = vec![3u8; 1 << 22];
        want.extend(vec![9u8; 5_000_000 - (1 << 22)]);
        check("XFS reflink_from (aligned 4 MiB src) into 5 MB file: src's bytes, then the file's tail (documented)", r.is_ok() && got == want, (&r, got.len()));
        // dst opened read-only
        let d3p = x.join("rl_dst_ro");
        std::fs::write(&d3p, b"").unwrap();
        let d3 = File::open(&d3p).await.unwrap();
        let r = d3.reflink_from(&xsrc).await;
        check("reflink_from into read-only fd -> error (EBADF)", r.is_err(), &r);
        d3.close().await.unwrap();
        // EXDEV across fs
        let e = File::create(w.join("rl_cross")).await.unwrap();
        let r = e.reflink_from(&xsrc).await;
        check("reflink_from across file systems -> CrossesDevices (EXDEV)", matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EXDEV)), &r);
        e.close().await.unwrap();
        // copy_file_range on XFS shares blocks
        let xd4 = x.join("cfr_dst");
        let d4 = File::create(&xd4).await.unwrap();
        let r = fs::copy_file_range(&xsrc, 0, &d4, 0, u64::MAX).await;
        d4.close().await.unwrap();
        let (_, ff) = sh(&format!("filefrag -v '{}'", xd4.display()));
        check("XFS copy_file_range copies all (len u64::MAX) and shares", matches!(r, Ok(n) if n == data.len() as u64) && std::fs::read(&xd4).unwrap() == data, (&r, ff.contains("shared")));
        println!("INFO XFS copy_file_range shared extents: {}", ff.contains("shared"));
        xsrc.close().await.unwrap();
    }
    if let Some(t) = tmpfs {
        let e = File::create(t.join("rl_t")).await.unwrap();
        let r = e.reflink_from(&src).await;
        println!("INFO reflink_from ext4->tmpfs -> {:?}", r);
        e.close().await.unwrap();
    }
    src.close().await.unwrap();
}

fn pos(f: &File) -> i64 { unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_CUR) } }

async fn cfr_checks(w: &Path, tmpfs: Option<&Path>) {
    let s = w.join("cfr_src");
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(&s, &data).unwrap();
    let src = File::open(&s).await.unwrap();
    let dp = w.join("cfr_dst");
    let dst = File::create(&dp).await.unwrap();
    let r = fs::copy_file_range(&src, 10, &dst, 5, 2_000_000).await;
    let got = std::fs::read(&dp).unwrap();
    let ok = matches!(r, Ok(n) if n == data.len() as u64 - 10) && got.len() == data.len() - 5 && got[..5] == [0; 5] && got[5..] == data[10..];
    check("copy_file_range offsets + stops at source end", ok, (&r, got.len()));
    check("copy_file_range moves neither position", pos(&src) == 0 && pos(&dst) == 0, (pos(&src), pos(&dst)));
    let r = fs::copy_file_range(&src, data.len() as u64 + 100, &dst, 0, 10).await;
    check("copy_file_range from past the end -> Ok(0)", matches!(r, Ok(0)), &r);
    let r = fs::copy_file_range(&src, 0, &dst, 0, 0).await;
    check("copy_file_range len 0 -> Ok(0)", matches!(r, Ok(0)), &r);
    let r = fs::copy_file_range(&src, u64::MAX - 5, &dst, 0, 10).await;
    check("copy_file_range src_pos > i64::MAX -> error, no panic", r.is_err(), &r);
    dst.close().await.unwrap();
    // O_APPEND dst -> EINVAL
    let ap = File::options().append(true).open(&dp).await.unwrap();
    let r = fs::copy_file_range(&src, 0, &ap, 0, 10).await;
    println!("INFO copy_file_range to O_APPEND -> {:?} (doc says EINVAL)", r);
    check("copy_file_range to O_APPEND -> an error (doc: EINVAL)", r.is_err(), &r);
    ap.close().await.unwrap();
    // same file overlapping -> EINVAL
    let rw = File::options().read(true).write(true).open(&dp).await.unwrap();
    let r = fs::copy_file_range(&rw, 0, &rw, 10, 100).await;
    check("copy_file_range same file overlapping -> EINVAL", matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EINVAL)), &r);
    rw.close().await.unwrap();
    // src is write-only -> EBADF
    let wo = File::options().write(true).open(&dp).await.unwrap();
    let d2 = File::create(w.join("cfr_d2")).await.unwrap();
    let r = fs::copy_file_range(&wo, 0, &d2, 0, 10).await;
    check("copy_file_range from write-only fd -> error", r.is_err(), &r);
    wo.close().await.unwrap();
    if let Some(t) = tmpfs {
        let tp = t.join("cfr_cross");
        let td = File::create(&tp).await.unwrap();
        let r = fs::copy_file_range(&src, 0, &td, 0, u64::MAX).await;
        td.close().await.unwrap();
        println!("INFO copy_file_range ext4->tmpfs: {:?}", r);
        check("copy_file_range across fs: Ok with right bytes or EXDEV", match &r { Ok(n) => *n == data.len() as u64 && std::fs::read(&tp).unwrap() == data, Err(e) => e.raw_os_error() == Some(libc::EXDEV) }, &r);
    }
    d2.close().await.unwrap();
    src.close().await.unwrap();

    // Dropping the future: big copy, dropped after 30 ms; close at once; copy must stop.
    let bp = w.join("cfr_big_src");
    if !bp.exists() {
        sh(&format!("dd if=/dev/urandom of='{}' bs=1M count=768 status=none", bp.display()));
    }
    let bs = File::open(&bp).await.unwrap();
    let bdp = w.join("cfr_big_dst");
    let bd = File::create(&bdp).await.unwrap();
    let start = Instant::now();
    let r = curing::time::timeout(Duration::from_millis(30), fs::copy_file_range(&bs, 0, &bd, 0, u64::MAX)).await;
    let t_drop = start.elapsed();
    let c1 = bs.close().await;
    let c2 = bd.close().await;
    let t_close = start.elapsed();
    let s1 = std::fs::metadata(&bdp).unwrap().len();
    std::thread::sleep(Duration::from_millis(1500));
    let s2 = std::fs::metadata(&bdp).unwrap().len();
    std::thread::sleep(Duration::from_millis(1500));
    let s3 = std::fs::metadata(&bdp).unwrap().len();
    println!("INFO dropped copy_file_range: timeout={} drop at {:?}, closes done at {:?}, dst len {} then {} then {} (of 805306368)", r.is_err(), t_drop, t_close, s1, s2, s3);
    check("copy_file_range dropped: future returns at once, closes OK", r.is_err() && t_drop < Duration::from_millis(500) && c1.is_ok() && c2.is_ok() && t_close < Duration::from_millis(1000), (t_drop, t_close, c1, c2));
    check("copy_file_range dropped: copy stops after the chunk in flight (dst stops growing, not full)", s2 == s3 && s3 < 805306368, (s1, s2, s3));
    // and the runtime still works afterwards: another copy
    let bs = File::open(&bp).await.unwrap();
    let bd = File::create(w.join("cfr_small_after")).await.unwrap();
    let r = fs::copy_file_range(&bs, 0, &bd, 0, 1 << 20).await;
    check("copy_file_range after a dropped one", matches!(r, Ok(n) if n == 1 << 20), &r);
    bs.close().await.unwrap();
    bd.close().await.unwrap();
    let _ = std::fs::remove_file(&bdp);
}

async fn readdir_checks(w: &Path) {
    let d = w.join("rd");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    for i in 0..20000 {
        std::fs::write(d.join(format!("f{i}")), if i % 7 == 0 { &b"abc"[..] } else { &b""[..] }).unwrap();
    }
    std::os::unix::fs::symlink("f1", d.join("lnk")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", d.join("dangle")).unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join(OsStr::from_bytes(b"odd\n\xfe name")), b"zz").unwrap();
    let start = Instant::now();
    let mut rd = fs::read_dir_with_metadata(&d).await.unwrap();
    let (mut n, mut bad) = (0, vec![]);
    while let Some(e) = rd.next_entry().await.unwrap() {
        n += 1;
        let m = e.metadata().await.unwrap();
        let s = std::fs::symlink_metadata(e.path()).unwrap();
        if m.ino() != s.ino() || m.mode() != s.mode() || m.len() != s.len() || m.nlink() as u64 != s.nlink() || m.ino() != e.ino() {
            bad.push(e.path());
        }
        if e.file_name() == "lnk" && !m.is_symlink() { bad.push(e.path()); }
    }
    println!("INFO read_dir_with_metadata 20004 entries in {:?}", start.elapsed());
    check("read_dir_with_metadata: all entries, metadata == lstat, symlinks not followed", n == 20004 && bad.is_empty(), (n, &bad[..bad.len().min(5)]));
    // vanishing entries
    let mut rd = fs::read_dir_with_metadata(&d).await.unwrap();
    let first = rd.next_entry().await.unwrap().unwrap();
    let _ = first;
    for i in 0..20000 { let _ = std::fs::remove_file(d.join(format!("f{i}"))); }
    let (mut ok, mut nf, mut other) = (0, 0, vec![]);
    while let Some(e) = rd.next_entry().await.unwrap() {
        match e.metadata().await {
            Ok(_) => ok += 1,
            Err(er) if er.kind() == std::io::ErrorKind::NotFound => nf += 1,
            Err(er) => other.push(er),
        }
    }
    println!("INFO vanish: {ok} ok, {nf} NotFound");
    check("read_dir_with_metadata: vanished entries give NotFound, nothing else", other.is_empty(), &other);
    // dropping the stream mid-way; fd count afterwards
    let fds_before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    for _ in 0..50 {
        let mut rd = fs::read_dir_with_metadata("/usr/lib").await.unwrap();
        let _ = rd.next_entry().await;
        drop(rd);
    }
    let fds_after = std::fs::read_dir("/proc/self/fd").unwrap().count();
    check("read_dir_with_metadata dropped mid-way leaks no fd", fds_after <= fds_before, (fds_before, fds_after));
    let r = fs::read_dir_with_metadata(w.join("times_file")).await;
    check("read_dir_with_metadata on a file -> error", r.is_err(), r.err());
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let w = args.first().cloned().expect("usage: tester WORKDIR [XFS_DIR] [TMPFS_DIR]");
    let xfs = args.get(1).filter(|p| !p.as_os_str().is_empty() && p.as_os_str() != "-").cloned();
    let tmpfs = args.get(2).cloned();
    std::fs::create_dir_all(&w).unwrap();
    let rt = curing::Runtime::new().unwrap();
    println!("INFO driver {:?}", rt.driver_kind());
    rt.block_on(async {
        times_checks(&w).await;
        owner_checks(&w).await;
        xattr_checks(&w, tmpfs.as_deref(), xfs.as_deref()).await;
        node_checks(&w).await;
        seek_checks(&w).await;
        reflink_checks(&w, xfs.as_deref(), tmpfs.as_deref()).await;
        cfr_checks(&w, tmpfs.as_deref()).await;
        readdir_checks(&w).await;
    });
    let s = rt.stats();
    println!("INFO stats leaked={} ops_in_flight={}", s.leaked, s.ops_in_flight);
    drop(rt);
    let f = FAILS.with(|f| f.get());
    println!("DONE {f} failed");
    std::process::exit(if f > 0 { 1 } else { 0 });
}
