//! Fixed buffers and fixed files: happy paths, errors that give the buffer
//! back, cancellation (the buffer returns to its pool only after the CQE),
//! buffers and files from another runtime, pool exhaustion, and the
//! registered tables seen from the kernel's side
//! (`/proc/self/fdinfo/<ring>`: `UserFiles`, `UserBufs`).

mod common;

use curing::buf::FixedBufPool;
use curing::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("curing-fixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are new and ours.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Entries of the ring's registered tables, as the kernel lists them:
/// (files, buffers) that are not empty. Tests hold `FD_LOCK` (through
/// `common::run`), so this thread's ring is the only one.
fn registered() -> (Vec<String>, Vec<String>) {
    let ring = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("io_uring"))
        })
        .expect("a ring fd");
    let info = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        ring.file_name().to_string_lossy()
    ))
    .unwrap();
    let (mut files, mut bufs, mut section) = (vec![], vec![], "");
    for line in info.lines() {
        if line.starts_with("UserFiles:") || line.starts_with("UserBufs:") {
            section = if line.starts_with("UserFiles") {
                "f"
            } else {
                "b"
            };
        } else if !line.starts_with(' ') {
            section = "";
        } else if !line.contains("<none>") {
            let entry = line.trim().to_string();
            match section {
                "f" => files.push(entry),
                "b" => bufs.push(entry),
                _ => {}
            }
        }
    }
    (files, bufs)
}

#[test]
fn write_and_read_back_through_fixed_buffers_and_fixed_file() {
    let path = tmp("happy");
    common::run(T, move || async move {
        let pool = FixedBufPool::new(4, 4096).unwrap();
        assert_eq!(
            (pool.count(), pool.buf_size(), pool.available()),
            (4, 4096, 4)
        );
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        let mut buf = pool.acquire().await;
        assert!(buf.is_empty());
        buf.extend_from_slice(&[7u8; 4096]);
        let (res, buf) = file.write_fixed_at(buf, 0).await;
        assert_eq!(res.unwrap(), 4096);
        drop(buf);

        let fixed = file.register().unwrap();
        let mut buf = pool.try_acquire().unwrap();
        buf.extend_from_slice(b"fixed file, fixed buffer");
        let (res, mut buf) = fixed.write_fixed_at(buf, 4096).await;
        assert_eq!(res.unwrap(), 24);
        buf.clear();
        let (res, buf) = fixed.read_fixed_at(buf, 4090).await;
        assert_eq!(res.unwrap(), 30);
        assert_eq!(
            &buf[..],
            b"\x07\x07\x07\x07\x07\x07fixed file, fixed buffer"
        );

        // A fixed file with plain buffers, a fixed buffer with a plain op.
        let (res, v) = fixed.read_at(Vec::with_capacity(10), 4096).await;
        assert_eq!((res.unwrap(), &v[..]), (10, &b"fixed file"[..]));
        let (res, _) = fixed.write_at(&b"FIXED"[..], 4096).await;
        assert_eq!(res.unwrap(), 5);
        let (res, buf) = file.read_at(buf, 4096).await;
        assert_eq!(res.unwrap(), 24);
        assert_eq!(&buf[..24], b"FIXED file, fixed buffer");

        drop(buf);
        assert_eq!(pool.available(), 4);
        file.close().await.unwrap();
    });
}

#[test]
fn buffer_comes_back_on_error_and_at_eof() {
    let path = tmp("errors");
    common::run(T, move || async move {
        std::fs::write(&path, b"0123456789").unwrap();
        let pool = FixedBufPool::new(2, 4096).unwrap();
        let ro = File::open(&path).await.unwrap();
        let mut buf = pool.try_acquire().unwrap();
        let index = buf.index();
        buf.extend_from_slice(b"data");
        // EBADF: writing a file opened read-only.
        let (res, buf) = ro.write_fixed_at(buf, 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!((buf.index(), &buf[..]), (index, &b"data"[..]));
        // The same through the registered file.
        let fixed = ro.register().unwrap();
        let (res, mut buf) = fixed.write_fixed_at(buf, 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        // Past the end: Ok(0), nothing initialised.
        buf.clear();
        let (res, buf) = fixed.read_fixed_at(buf, 1 << 20).await;
        assert_eq!(res.unwrap(), 0);
        assert!(buf.is_empty());
        // A short read at the end.
        let (res, buf) = ro.read_fixed_at(buf, 6).await;
        assert_eq!((res.unwrap(), &buf[..]), (4, &b"6789"[..]));
        assert_eq!(pool.available(), 1);
        drop(buf);
        assert_eq!(pool.available(), 2);
    });
}

#[test]
fn cancelled_fixed_read_returns_its_buffer_only_after_the_cqe() {
    common::run(T, || async {
        let pool = FixedBufPool::new(2, 4096).unwrap();
        let (r, w) = pipe();
        let plain = File::from(r);
        let fixed = plain.register().unwrap();
        for through_fixed_file in [false, true] {
            let buf = pool.acquire().await;
            let read = async {
                if through_fixed_file {
                    fixed.read_fixed_at(buf, 0).await
                } else {
                    plain.read_fixed_at(buf, 0).await
                }
            };
            let cancelled_before = curing::runtime::stats().ops_cancelled;
            let out = curing::time::timeout(Duration::from_millis(20), read).await;
            assert!(out.is_err(), "nothing was written: the read must time out");
            assert!(curing::runtime::stats().ops_cancelled > cancelled_before);
            // Dropped, but the kernel has not said it let go: the driver
            // still holds the buffer.
            assert_eq!(pool.available(), 1, "buffer returned before its CQE");
            curing::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(pool.available(), 2, "buffer not returned after its CQE");
        }
        // The pipe still works through the registered file.
        std::fs::File::from(w).write_all(b"after").unwrap();
        let buf = pool.acquire().await;
        let (res, buf) = fixed.read_fixed_at(buf, 0).await;
        assert_eq!((res.unwrap(), &buf[..]), (5, &b"after"[..]));
    });
}

#[test]
fn buffer_and_file_of_another_runtime_are_rejected() {
    let _guard = common::fd_lock();
    let path = tmp("foreign");
    std::fs::write(&path, b"foreign").unwrap();
    let rt1 = curing::Runtime::new().unwrap();
    let (pool, buf, fixed) = rt1.block_on(async {
        let pool = FixedBufPool::new(1, 64).unwrap();
        let buf = pool.try_acquire().unwrap();
        let fixed = File::open(&path).await.unwrap().register().unwrap();
        (pool, buf, fixed)
    });
    let rt2 = curing::Runtime::new().unwrap();
    let (buf, fixed) = rt2.block_on(async {
        let file = File::open(&path).await.unwrap();
        let (res, buf) = file.read_fixed_at(buf, 0).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        let (res, v) = fixed.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(v.is_empty());
        // A fixed buffer is still a plain buffer on any runtime.
        let (res, buf) = file.read_at(buf, 0).await;
        assert_eq!((res.unwrap(), &buf[..]), (7, &b"foreign"[..]));
        (buf, fixed)
    });
    // Back home they work.
    let buf = rt1.block_on(async {
        let (res, buf) = fixed.read_fixed_at(buf, 0).await;
        assert_eq!(res.unwrap(), 7);
        buf
    });
    drop(rt1);
    // The runtime is gone: rejected, not UB, and dropping is harmless.
    let buf = rt2.block_on(async {
        let file = File::open(&path).await.unwrap();
        let (res, buf) = file.read_fixed_at(buf, 0).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        let (res, _) = fixed.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        buf
    });
    assert_eq!(pool.available(), 0);
    drop(buf);
    assert_eq!(pool.available(), 1);
    drop((pool, fixed, rt2));
}

#[test]
fn exhausted_pool_try_acquire_is_none_and_acquire_waits_in_line() {
    common::run(T, || async {
        let pool = FixedBufPool::new(2, 512).unwrap();
        let a = pool.try_acquire().unwrap();
        let b = pool.try_acquire().unwrap();
        assert!(pool.try_acquire().is_none());
        assert_eq!(pool.available(), 0);

        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..3 {
            let (pool, order) = (pool.clone(), order.clone());
            waiters.push(curing::spawn(async move {
                let buf = pool.acquire().await;
                order.borrow_mut().push(i);
                curing::time::sleep(Duration::from_millis(5)).await;
                drop(buf);
            }));
        }
        // A waiter that gives up must not take a buffer with it.
        let gave_up = curing::time::timeout(Duration::from_millis(10), pool.acquire()).await;
        assert!(gave_up.is_err());
        assert!(order.borrow().is_empty(), "nobody may get a buffer yet");
        drop(a);
        drop(b);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(
            *order.borrow(),
            [0, 1, 2],
            "waiters served in arrival order"
        );
        assert_eq!(pool.available(), 2);
    });
}

#[test]
fn woken_waiter_dropped_passes_the_buffer_on() {
    common::run(T, || async {
        let pool = FixedBufPool::new(1, 512).unwrap();
        let held = pool.try_acquire().unwrap();
        let first = curing::spawn({
            let pool = pool.clone();
            async move { drop(pool.acquire().await) }
        });
        let second = curing::spawn({
            let pool = pool.clone();
            async move { drop(pool.acquire().await) }
        });
        curing::yield_now().await;
        // Wake the first waiter, then cancel it before it runs.
        drop(held);
        first.abort();
        let r = curing::time::timeout(Duration::from_secs(2), second).await;
        assert!(r.is_ok(), "the second waiter was stranded");
        assert_eq!(pool.available(), 1);
    });
}

#[test]
fn fixed_file_works_after_the_file_is_closed() {
    let path = tmp("closed");
    common::run(T, move || async move {
        std::fs::write(&path, b"still here").unwrap();
        let file = File::open(&path).await.unwrap();
        let fixed = file.register().unwrap();
        file.close().await.unwrap();
        let (res, v) = fixed.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!((res.unwrap(), &v[..]), (10, &b"still here"[..]));
        let pool = FixedBufPool::new(1, 64).unwrap();
        let buf = pool.try_acquire().unwrap();
        let (res, buf) = fixed.read_fixed_at(buf, 6).await;
        assert_eq!((res.unwrap(), &buf[..]), (4, &b"here"[..]));
    });
}

#[test]
fn dropping_the_last_handle_unregisters_once_no_op_is_in_flight() {
    if common::skip_on_epoll("reads the kernel's registered tables from the ring's fdinfo") {
        return;
    }
    common::run(T, || async {
        let (r, w) = pipe();
        let mut w = std::fs::File::from(w);
        let fixed = File::from(r).register().unwrap(); // the File is dropped
        let index = fixed.index();
        assert_eq!(registered().0.len(), 1);
        // The table keeps the read end open.
        w.write_all(b"x").unwrap();
        let (res, _) = fixed.read_at(Vec::with_capacity(1), 0).await;
        assert_eq!(res.unwrap(), 1);

        // A read the kernel still holds (its future dropped, its cancel
        // not yet answered) keeps the slot after the last handle goes.
        let read = fixed.read_at(Vec::with_capacity(8), 0);
        let out = curing::time::timeout(Duration::from_millis(20), read).await;
        assert!(out.is_err());
        drop(fixed);
        assert_eq!(registered().0.len(), 1, "unregistered under an op");
        curing::time::sleep(Duration::from_millis(10)).await;

        // Now nothing holds it: the slot is empty, the pipe has no reader.
        assert!(registered().0.is_empty(), "slot still registered");
        assert_eq!(w.write(b"y").unwrap_err().kind(), ErrorKind::BrokenPipe);
        // The slot is free for the next file.
        let (r2, _w2) = pipe();
        let again = File::from(r2).register().unwrap();
        assert_eq!(again.index(), index);
    });
}

#[test]
fn pool_memory_is_unregistered_when_the_pool_and_its_buffers_are_gone() {
    if common::skip_on_epoll("reads the kernel's registered tables from the ring's fdinfo") {
        return;
    }
    common::run(T, || async {
        let pool = FixedBufPool::new(4, 4096).unwrap();
        let buf = pool.try_acquire().unwrap();
        assert_eq!(registered().1.len(), 1);
        assert!(
            registered().1[0].ends_with("/16384"),
            "{:?}",
            registered().1
        );
        drop(pool);
        assert_eq!(registered().1.len(), 1, "a buffer is still out");
        drop(buf);
        assert!(registered().1.is_empty(), "memory still registered");
    });
}

#[test]
fn bad_pool_sizes_are_invalid_input() {
    common::run(T, || async {
        for (count, size) in [(0, 4096), (4, 0), (2, 1 << 30), (usize::MAX, 2)] {
            let err = FixedBufPool::new(count, size).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{count} x {size}");
        }
    });
}
