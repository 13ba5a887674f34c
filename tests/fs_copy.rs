//! Copies (by path, file ranges, file ↔ socket and pipe, with both engines)
//! and running out of space on a small tmpfs the test mounts itself.

mod common;

use curing::fs::{self, CopyMethod, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const METHODS: [CopyMethod; 2] = [CopyMethod::Splice, CopyMethod::ReadWrite];

fn dir(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fs-copy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Bytes that differ at every position (a copy that drops or repeats a
/// chunk cannot match).
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect()
}

#[test]
fn copy_files_by_path_and_range() {
    let d = dir("files");
    common::run(T, move || async move {
        // Sizes around the chunk size, and empty.
        for (i, len) in [0usize, 1, 4096, (1 << 20) - 1, 1 << 20, (3 << 20) + 12345]
            .into_iter()
            .enumerate()
        {
            for method in METHODS {
                fs::force_copy_method(Some(method));
                let (src, dst) = (d.join(format!("s{i}")), d.join(format!("d{i}")));
                let data = pattern(len);
                std::fs::write(&src, &data).unwrap();
                std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o751)).unwrap();
                let _ = std::fs::remove_file(&dst);
                let n = fs::copy(&src, &dst).await.unwrap();
                assert_eq!(n, len as u64, "{method:?}");
                assert!(std::fs::read(&dst).unwrap() == data, "{method:?} len {len}");
                let mode = std::fs::metadata(&dst).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o751, "permissions copied");
            }
        }

        // A range, into the middle of another file, with a len past the end.
        for method in METHODS {
            fs::force_copy_method(Some(method));
            let data = pattern(3 << 20);
            std::fs::write(d.join("big"), &data).unwrap();
            let src = File::open(d.join("big")).await.unwrap();
            let dst = File::create(d.join("range")).await.unwrap();
            let n = fs::copy_range(&src, 1000, &dst, 10, 2 << 20).await.unwrap();
            assert_eq!(n, 2 << 20);
            let n = fs::copy_range(&src, (3 << 20) - 5, &dst, 0, u64::MAX)
                .await
                .unwrap();
            assert_eq!(n, 5, "stops at the end of the source");
            let got = std::fs::read(d.join("range")).unwrap();
            assert_eq!(got[..5], data[(3 << 20) - 5..]);
            assert!(got[10..] == data[1000..1000 + (2 << 20)], "{method:?}");
        }
        fs::force_copy_method(None);

        // Bad input.
        let e = fs::copy(d.join("none"), d.join("x")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = fs::copy(&d, d.join("x")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "a directory: {e}");
        let e = fs::copy(d.join("s1"), &d).await.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
        let ro = File::open(d.join("s1")).await.unwrap();
        let src = File::open(d.join("s2")).await.unwrap();
        for method in METHODS {
            fs::force_copy_method(Some(method));
            let e = fs::copy_range(&src, 0, &ro, 0, 100).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{method:?}");
        }
        fs::force_copy_method(None);
        drop((ro, src));
        std::fs::remove_dir_all(&d).unwrap();
    });
}

#[test]
fn file_to_socket_and_back() {
    let d = dir("sock");
    common::run(T, move || async move {
        let data = pattern((5 << 20) + 777);
        std::fs::write(d.join("src"), &data).unwrap();
        for method in METHODS {
            fs::force_copy_method(Some(method));
            let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
            let expect = data[100..].to_vec();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                b.read_to_end(&mut got).unwrap();
                got
            });
            let src = File::open(d.join("src")).await.unwrap();
            let n = fs::send_file(&src, 100, u64::MAX, &a).await.unwrap();
            assert_eq!(n, expect.len() as u64);
            drop(a);
            assert!(
                reader.join().unwrap() == expect,
                "{method:?}: bytes in order"
            );

            // Socket → file, until the peer closes.
            let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
            let payload = data.clone();
            let writer = std::thread::spawn(move || {
                for chunk in payload.chunks(70_000) {
                    b.write_all(chunk).unwrap();
                }
            });
            let dst = File::create(d.join("dst")).await.unwrap();
            let n = fs::recv_file(&a, &dst, 3, u64::MAX).await.unwrap();
            writer.join().unwrap();
            assert_eq!(n, data.len() as u64);
            let got = std::fs::read(d.join("dst")).unwrap();
            assert!(got[3..] == data[..], "{method:?}");
            // A limit stops early, leaving the rest in the socket.
            let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
            b.write_all(b"0123456789").unwrap();
            let n = fs::recv_file(&a, &dst, 0, 4).await.unwrap();
            assert_eq!(n, 4);
            let mut rest = [0u8; 6];
            (&a).read_exact(&mut rest).unwrap();
            assert_eq!(&rest, b"456789", "{method:?}");
        }
        fs::force_copy_method(None);
        std::fs::remove_dir_all(&d).unwrap();
    });
}

/// Mounts a tmpfs of `size` at `at`; `Err(reason)` where that is impossible.
fn mount_tmpfs(at: &Path, size: &str) -> Result<(), String> {
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[test]
fn enospc_on_a_small_tmpfs() {
    let d = dir("enospc");
    common::run(T, move || async move {
        if let Err(why) = mount_tmpfs(&d, "256k") {
            eprintln!("SKIPPED enospc_on_a_small_tmpfs: cannot mount a tmpfs: {why}");
            return;
        }
        let result = std::panic::AssertUnwindSafe(enospc_body(d.clone()));
        let result = futures_util::FutureExt::catch_unwind(result).await;
        let _ = std::process::Command::new("umount").arg(&d).status();
        let _ = std::fs::remove_dir(&d);
        if let Err(p) = result {
            std::panic::resume_unwind(p);
        }
    });
}

async fn enospc_body(d: PathBuf) {
    let f = File::create(d.join("big")).await.unwrap();
    let (res, buf) = f.write_all_at(vec![1u8; 1 << 20], 0).await;
    let e = res.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    assert_eq!(buf.len(), 1 << 20, "the buffer comes back");
    let written = f.metadata().await.unwrap().len();
    assert!(written > 0 && written <= 256 << 10, "{written}");

    let e = File::create(d.join("other"))
        .await
        .unwrap()
        .allocate(0, 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));

    let (res, _) = f.writev_at(vec![vec![2u8; 300 << 10]], written).await;
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ENOSPC));
    let src = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("enospc-src-{}", std::process::id()));
    std::fs::write(&src, vec![3u8; 512 << 10]).unwrap();
    let e = fs::copy(&src, d.join("copy")).await.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    std::fs::remove_file(&src).unwrap();
    let e = fs::create_dir(d.join("x")).await;
    // A directory needs no data blocks on tmpfs: it may still fit.
    drop(e);

    // Freeing space makes writes work again.
    f.close().await.unwrap();
    fs::remove_file(d.join("big")).await.unwrap();
    fs::remove_file(d.join("copy")).await.unwrap();
    let g = OpenOptions::new()
        .write(true)
        .create(true)
        .open(d.join("after"))
        .await
        .unwrap();
    g.write_all_at(vec![4u8; 100 << 10], 0).await.0.unwrap();
    g.close().await.unwrap();
}

/// Measures both copy engines (release mode, warm page cache):
/// `cargo test --release --test fs_copy -- --ignored --nocapture copy_engines`
#[test]
#[ignore]
fn copy_engines_benchmark() {
    let d = PathBuf::from("/var/tmp").join(format!("curing-copybench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let len = 512usize << 20;
    std::fs::write(d.join("src"), pattern(len)).unwrap();
    let rt = curing::Runtime::new().unwrap();
    rt.block_on(async {
        let src = File::open(d.join("src")).await.unwrap();
        for round in 0..3 {
            for method in METHODS {
                fs::force_copy_method(Some(method));
                let _ = std::fs::remove_file(d.join("dst"));
                let dst = File::create(d.join("dst")).await.unwrap();
                let t = std::time::Instant::now();
                fs::copy_range(&src, 0, &dst, 0, u64::MAX).await.unwrap();
                let file_s = t.elapsed().as_secs_f64();
                drop(dst);

                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let reader = std::thread::spawn(move || {
                    let (mut s, _) = listener.accept().unwrap();
                    std::io::copy(&mut s, &mut std::io::sink()).unwrap()
                });
                let sock = std::net::TcpStream::connect(addr).unwrap();
                let t = std::time::Instant::now();
                fs::send_file(&src, 0, u64::MAX, &sock).await.unwrap();
                drop(sock);
                assert_eq!(reader.join().unwrap(), len as u64);
                let sock_s = t.elapsed().as_secs_f64();

                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let writer = std::thread::spawn(move || {
                    let (mut s, _) = listener.accept().unwrap();
                    let chunk = vec![7u8; 1 << 20];
                    for _ in 0..len >> 20 {
                        s.write_all(&chunk).unwrap();
                    }
                });
                let sock = std::net::TcpStream::connect(addr).unwrap();
                let _ = std::fs::remove_file(d.join("dst"));
                let dst = File::create(d.join("dst")).await.unwrap();
                let t = std::time::Instant::now();
                let n = fs::recv_file(&sock, &dst, 0, u64::MAX).await.unwrap();
                let recv_s = t.elapsed().as_secs_f64();
                writer.join().unwrap();
                assert_eq!(n, len as u64);
                let mb = len as f64 / 1e6;
                println!(
                    "round {round} {method:?}: file->file {:.0} MB/s, file->tcp {:.0} MB/s, tcp->file {:.0} MB/s",
                    mb / file_s,
                    mb / sock_s,
                    mb / recv_s
                );
            }
        }
        fs::force_copy_method(None);
    });
    drop(rt);
    std::fs::remove_dir_all(&d).unwrap();
}
