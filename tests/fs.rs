//! Files: round trips, errors with the buffer back, positional and
//! current-position I/O, concurrency, cancellation (no fd leaks, no lost
//! bytes), O_DIRECT. Every test runs through `common::run`, which fails on a
//! leaked fd or op.

mod common;

use common::{pipe, GuardBuf};
use curing::fs::{self, File, OpenOptions};
use curing::time::{sleep, timeout};
use std::future::Future;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A fresh path in the target directory (a real disk, unlike a tmpfs /tmp:
/// O_DIRECT works there).
fn path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let p = dir.join(format!("fs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// `read_at` and `write_at` futures hold the open file themselves, not a
/// borrow of the `File`: the handle can go before they are awaited, and the
/// ops still run on the same file.
#[test]
fn positional_ops_outlive_their_file_handle() {
    let p = path("outlive");
    common::run(T, move || async move {
        let file = File::create(&p).await.unwrap();
        let write = file.write_at(b"hello".to_vec(), 0);
        drop(file);
        let (res, _) = write.await;
        assert_eq!(res.unwrap(), 5);

        let file = File::open(&p).await.unwrap();
        let read = file.read_at(Vec::with_capacity(16), 0);
        drop(file);
        let (res, buf) = read.await;
        assert_eq!(res.unwrap(), 5);
        assert_eq!(&buf[..], b"hello");
    });
}

#[test]
fn write_then_read_back() {
    let p = path("roundtrip");
    common::run(T, move || async move {
        let file = File::create(&p).await.unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (res, back) = file.write_all_at(data.clone(), 0).await;
        res.unwrap();
        assert_eq!(back, data, "the buffer comes back unchanged");
        file.sync_all().await.unwrap();
        file.close().await.unwrap();

        let file = File::open(&p).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 100_000);
        let (res, buf) = file.read_exact_at(Vec::with_capacity(50_000), 25_000).await;
        res.unwrap();
        assert_eq!(buf[..], data[25_000..75_000]);
        let (res, buf) = file.read_at(vec![7u8; 16], 100_000).await;
        assert_eq!(res.unwrap(), 0, "read at end of file gives 0");
        assert_eq!(buf, vec![7u8; 16], "an empty read leaves the buffer alone");
        drop(file);

        assert_eq!(fs::read(&p).await.unwrap(), data);
        fs::write(&p, "short").await.unwrap();
        assert_eq!(fs::read(&p).await.unwrap(), b"short");
        std::fs::remove_file(&p).unwrap();
    });
}

#[test]
fn read_of_proc_file_with_size_zero() {
    common::run(T, || async {
        let status = fs::read("/proc/self/status").await.unwrap();
        assert!(
            status.starts_with(b"Name:"),
            "{:?}",
            String::from_utf8_lossy(&status)
        );
    });
}

#[test]
fn open_errors_are_clear() {
    let p = path("errors");
    common::run(T, move || async move {
        let e = File::open("/nonexistent/curing").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = File::open("bad\0path").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("NUL"), "{e}");
        let e = OpenOptions::new()
            .read(true)
            .truncate(true)
            .open(&p)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);

        fs::write(&p, "x").await.unwrap();
        let e = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        std::fs::remove_file(&p).unwrap();
    });
}

#[test]
fn errors_give_the_buffer_back() {
    let p = path("ebadf");
    common::run(T, move || async move {
        fs::write(&p, "read only").await.unwrap();
        let file = File::open(&p).await.unwrap();
        let (res, buf) = file.write_at(b"payload".to_vec(), 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(buf, b"payload", "write error returns the buffer intact");
        let (res, buf) = file.write_all_at(b"payload".to_vec(), 0).await;
        assert!(res.is_err());
        assert_eq!(buf, b"payload");

        let (res, buf) = file.read_exact_at(Vec::with_capacity(100), 0).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"read only", "a short read_exact keeps what it read");

        // A write-only descriptor (a pipe's write end) cannot be read.
        let (_r, w) = pipe();
        let w = File::from(w);
        let (res, buf) = w.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(buf.capacity(), 8);
        std::fs::remove_file(&p).unwrap();
    });
}

#[test]
fn append_metadata_set_len() {
    let p = path("append");
    common::run(T, move || async move {
        fs::write(&p, "one\n").await.unwrap();
        let log = OpenOptions::new().append(true).open(&p).await.unwrap();
        log.write_all("two\n").await.0.unwrap();
        log.write_all(b"three\n".to_vec()).await.0.unwrap();
        log.sync_data().await.unwrap();
        let meta = log.metadata().await.unwrap();
        assert_eq!(meta.len(), 14);
        assert!(meta.is_file() && !meta.is_dir());
        assert_eq!(meta.mode() & 0o170000, libc::S_IFREG);
        assert!(meta.modified() > std::time::SystemTime::UNIX_EPOCH);
        log.close().await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one\ntwo\nthree\n");

        let file = OpenOptions::new().write(true).open(&p).await.unwrap();
        file.set_len(3).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 3);
        file.set_len(10_000).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 10_000);
        drop(file);

        let dir = File::open(env!("CARGO_TARGET_TMPDIR")).await.unwrap();
        assert!(dir.metadata().await.unwrap().is_dir());
        std::fs::remove_file(&p).unwrap();
    });
}

#[test]
fn many_reads_in_flight_on_one_file() {
    let p = path("concurrent");
    let data: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    common::run(T, move || async move {
        std::fs::write(&p, &data).unwrap();
        let file = Rc::new(File::open(&p).await.unwrap());
        let data = Rc::new(data);
        let tasks: Vec<_> = (0..256u64)
            .map(|i| {
                let (file, data) = (file.clone(), data.clone());
                curing::spawn(async move {
                    let pos = (i * 4093) % (data.len() as u64 - 4096);
                    let (res, buf) = file.read_exact_at(vec![0u8; 4096], pos).await;
                    res.unwrap();
                    assert_eq!(
                        buf[..],
                        data[pos as usize..pos as usize + 4096],
                        "block at {pos}"
                    );
                })
            })
            .collect();
        let before = curing::runtime::stats().enter_calls;
        for t in tasks {
            t.await.unwrap();
        }
        let calls = curing::runtime::stats().enter_calls - before;
        assert!(
            calls < 256,
            "256 reads should be batched, took {calls} io_uring_enter calls"
        );
        std::fs::remove_file(&*p).unwrap();
    });
}

#[test]
fn o_direct_with_aligned_buffer() {
    let p = path("direct");
    let data: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
    common::run(T, move || async move {
        std::fs::write(&p, &data).unwrap();
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&p)
            .await;
        let file = match opened {
            Ok(f) => f,
            // Some file systems (tmpfs before 6.6) refuse O_DIRECT.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                eprintln!("O_DIRECT not supported here: {e}");
                return;
            }
            Err(e) => panic!("open O_DIRECT: {e}"),
        };
        let (res, buf) = file.read_exact_at(GuardBuf::new(16384), 8192).await;
        res.unwrap();
        assert_eq!(buf.as_slice(), &data[8192..8192 + 16384]);
        std::fs::remove_file(&p).unwrap();
    });
}

/// Reads of an `O_DIRECT` file reach the kernel in groups of two as tasks
/// push them, rather than all at the end of the runtime's turn (slower on a
/// virtio disk: benches/compare/README.md, "Design measurements", "Direct
/// I/O in pairs"); buffered reads of
/// the same file stay batched. Holds for a file curing opened and for one
/// adopted from std.
#[test]
fn direct_reads_reach_the_kernel_in_small_groups() {
    let p = path("direct-groups");
    let data: Vec<u8> = (0..64 * 4096u32).map(|i| (i % 251) as u8).collect();
    common::run(T, move || async move {
        std::fs::write(&p, &data).unwrap();
        let direct = match OpenOptions::new().read(true).direct(true).open(&p).await {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                eprintln!("O_DIRECT not supported here: {e}");
                return;
            }
            Err(e) => panic!("open O_DIRECT: {e}"),
        };
        let adopted = {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(&p)
                .unwrap();
            File::from(f)
        };
        let buffered = File::open(&p).await.unwrap();
        let data = Rc::new(data);
        // Enter calls while 64 tasks each read one block, all pushed in
        // the same turn.
        let enters = |file: File, direct: bool| {
            let data = data.clone();
            async move {
                let file = Rc::new(file);
                let before = curing::runtime::stats().enter_calls;
                let tasks: Vec<_> = (0..64u64)
                    .map(|i| {
                        let (file, data) = (file.clone(), data.clone());
                        curing::spawn(async move {
                            let pos = i * 4096;
                            let got = if direct {
                                let buf = curing::buf::AlignedBuf::new(4096, 4096);
                                let (res, buf) = file.read_direct_at(buf, pos).await;
                                assert_eq!(res.unwrap(), 4096);
                                buf.to_vec()
                            } else {
                                let (res, buf) = file.read_at(vec![0u8; 4096], pos).await;
                                assert_eq!(res.unwrap(), 4096);
                                buf
                            };
                            assert_eq!(got[..], data[pos as usize..pos as usize + 4096]);
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                curing::runtime::stats().enter_calls - before
            }
        };
        let direct_enters = enters(direct, true).await;
        let adopted_enters = enters(adopted, true).await;
        let buffered_enters = enters(buffered, false).await;
        println!("enters for 64 reads: direct {direct_enters}, adopted {adopted_enters}, buffered {buffered_enters}");
        assert!(
            direct_enters >= 32,
            "direct: {direct_enters} enters for 64 reads"
        );
        assert!(
            adopted_enters >= 32,
            "adopted: {adopted_enters} enters for 64 reads"
        );
        assert!(
            buffered_enters < 16,
            "buffered: {buffered_enters} enters for 64 reads"
        );
        std::fs::remove_file(&p).unwrap();
    });
}

#[test]
fn pipe_read_cancelled_then_data_is_not_lost() {
    common::run(T, || async {
        let (r, w) = pipe();
        let (r, w) = (File::from(r), File::from(w));
        for round in 0..50u32 {
            // A read with nothing to read, dropped by its timeout.
            let res = timeout(Duration::from_millis(1), r.read(GuardBuf::new(64))).await;
            assert!(res.is_err(), "nothing was written yet");
            let msg = format!("message {round}");
            w.write_all(msg.clone().into_bytes()).await.0.unwrap();
            let (res, buf) = r.read(Vec::with_capacity(64)).await;
            assert_eq!(res.unwrap(), msg.len());
            assert_eq!(buf, msg.as_bytes());
        }
    });
}

#[test]
fn pipe_reads_raced_by_timeouts_lose_no_bytes() {
    common::run(T, || async {
        let (r, w) = pipe();
        let (r, w) = (File::from(r), File::from(w));
        let total = 200_000usize;
        let writer = curing::spawn(async move {
            let mut sent = 0;
            while sent < total {
                let chunk: Vec<u8> = (sent..(sent + 1000).min(total))
                    .map(|i| (i % 256) as u8)
                    .collect();
                sent += chunk.len();
                w.write_all(chunk).await.0.unwrap();
                if sent % 7000 == 0 {
                    sleep(Duration::from_micros(200)).await;
                }
            }
        });
        let mut got = Vec::new();
        let mut cancelled = 0;
        let mut i = 0u64;
        while got.len() < total {
            i += 1;
            let limit = Duration::from_micros(i * 37 % 300);
            match timeout(limit, r.read(Vec::with_capacity(1500))).await {
                Ok((res, buf)) => {
                    assert_eq!(res.unwrap(), buf.len());
                    got.extend_from_slice(&buf);
                }
                Err(_) => cancelled += 1,
            }
        }
        writer.await.unwrap();
        assert_eq!(got.len(), total);
        for (i, b) in got.iter().enumerate() {
            assert_eq!(
                *b,
                (i % 256) as u8,
                "byte {i} wrong after {cancelled} cancelled reads"
            );
        }
        assert!(cancelled > 0, "the test should cancel some reads");
    });
}

#[test]
fn dropped_opens_leak_no_descriptors() {
    let p = path("open-drop");
    // common::run checks the fd count afterwards: an open that completed
    // after its future was dropped must have been closed.
    common::run(T, move || async move {
        std::fs::write(&p, "x").unwrap();
        let mut late = 0;
        for _ in 0..500 {
            if timeout(Duration::ZERO, File::open(&p)).await.is_err() {
                late += 1;
            }
        }
        // Let the abandoned opens' completions arrive.
        sleep(Duration::from_millis(20)).await;
        assert!(late > 0, "some opens should have been dropped in flight");
        std::fs::remove_file(&p).unwrap();
    });
}

#[test]
fn read_completed_but_never_taken_goes_to_the_next_read() {
    common::run(T, || async {
        let (r, w) = pipe();
        let (r, w) = (File::from(r), File::from(w));
        let before = curing::runtime::stats().late_completions;
        for round in 0..20u32 {
            let mut read = Box::pin(r.read(Vec::with_capacity(64)));
            // Poll once: the read goes in flight.
            std::future::poll_fn(|cx| {
                assert!(read.as_mut().poll(cx).is_pending(), "nothing to read yet");
                std::task::Poll::Ready(())
            })
            .await;
            let msg = format!("round {round}");
            w.write_all(msg.clone().into_bytes()).await.0.unwrap();
            sleep(Duration::from_millis(1)).await; // the read's completion is reaped
            drop(read); // ... but never taken: its bytes must go to the stash
            let next = timeout(Duration::from_secs(2), r.read(Vec::with_capacity(64))).await;
            let (res, buf) = next.expect("the dropped read's bytes were lost");
            assert_eq!(res.unwrap(), msg.len());
            assert_eq!(buf, msg.as_bytes());
        }
        let late = curing::runtime::stats().late_completions - before;
        assert_eq!(late, 20, "every dropped read had completed");
    });
}

#[test]
fn bad_input_directory_zero_length_closed_fd() {
    let p = path("badinput");
    common::run(T, move || async move {
        // Reading a directory.
        let dir = File::open(env!("CARGO_TARGET_TMPDIR")).await.unwrap();
        let (res, buf) = dir.read_at(vec![0u8; 16], 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        assert_eq!(buf.len(), 16);
        drop(dir);

        // Zero-length buffers: nothing to do, and no error.
        fs::write(&p, "abc").await.unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .await
            .unwrap();
        assert_eq!(file.read_at(Vec::new(), 0).await.0.unwrap(), 0);
        assert_eq!(file.write_at(Vec::new(), 0).await.0.unwrap(), 0);
        file.write_all_at(Vec::new(), 0).await.0.unwrap();
        file.read_exact_at(Vec::new(), 0).await.0.unwrap();

        // A descriptor closed behind the File's back gives EBADF, not a panic.
        use std::os::fd::AsRawFd;
        let raw = file.as_raw_fd();
        // Opened first, so it cannot take the number we are about to free.
        let null = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: closes an fd this test owns; it is re-occupied below before
        // the File closes it again.
        assert_eq!(unsafe { libc::close(raw) }, 0);
        let (res, buf) = file.read_at(vec![0u8; 8], 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(buf, vec![0u8; 8]);
        let (res, buf) = file.write_at(b"xyz".to_vec(), 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(buf, b"xyz");
        assert_eq!(
            file.sync_all().await.unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        assert_eq!(
            file.metadata().await.unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        // Put an open fd back under that number so dropping the File closes
        // something real (std aborts on closing a closed OwnedFd in debug).
        // SAFETY: dup2 onto the number the File still owns; no pointers.
        assert_eq!(unsafe { libc::dup2(null.as_raw_fd(), raw) }, raw);
        drop(null);
        drop(file);
        std::fs::remove_file(&p).unwrap();
    });
}

/// The guard buffers really turn a kernel write after free into `EFAULT`,
/// which `common::run` asserts never appears in a completion.
#[test]
fn guard_buffer_makes_use_after_free_visible() {
    use curing::buf::IoBufMut;
    // Other tests briefly close fds behind the runtime's back under this lock.
    let _fds = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut buf = GuardBuf::new(4096);
    let ptr = buf.stable_mut_ptr();
    drop(buf);
    let (r, w) = pipe();
    use std::os::fd::AsRawFd;
    // SAFETY: writes from a live static buffer into the pipe.
    assert_eq!(
        unsafe { libc::write(w.as_raw_fd(), b"late".as_ptr().cast(), 4) },
        4
    );
    // SAFETY: deliberately reads into the unmapped page: the kernel must
    // refuse with EFAULT instead of writing anywhere.
    let n = unsafe { libc::read(r.as_raw_fd(), ptr.cast(), 4) };
    assert_eq!(n, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EFAULT)
    );
}

#[test]
fn dropped_reads_and_writes_free_buffers_only_after_the_kernel() {
    let p = path("guard");
    common::run(T, move || async move {
        std::fs::write(&p, vec![5u8; 1 << 20]).unwrap();
        let file = Rc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .await
                .unwrap(),
        );
        let (r, w) = pipe();
        let (r, w) = (File::from(r), File::from(w));
        for i in 0..300u64 {
            // File reads and writes dropped right after submission.
            let _ = timeout(Duration::ZERO, file.read_at(GuardBuf::new(65536), i * 4096)).await;
            let _ = timeout(Duration::ZERO, file.write_at(vec![1u8; 8192], i * 512)).await;
            // A pipe read dropped while parked, then fed.
            let _ = timeout(Duration::from_micros(50), r.read(GuardBuf::new(4096))).await;
            if i % 3 == 0 {
                w.write_all(b"ping".to_vec()).await.0.unwrap();
            }
        }
        sleep(Duration::from_millis(20)).await;
        let stats = curing::runtime::stats();
        assert_eq!(stats.efault_cqes, 0, "{stats:?}");
        std::fs::remove_file(&*p).unwrap();
    });
}
