//! Ops describe their fallbacks from their own fields: the emulator runs
//! exactly the buffer, length, offset and fd the op owns.

use crate::driver::Op;
use crate::fd::SharedFd;
use crate::sys::syscall::{Fallback, Fd, Run, Syscall};
use std::os::fd::{AsRawFd, OwnedFd};

fn dev_null() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

#[test]
fn a_read_names_its_own_buffer_length_and_offset() {
    crate::run(async {
        let fd = dev_null();
        let raw = fd.as_raw_fd();
        let mut buf = Vec::<u8>::with_capacity(100);
        let ptr = buf.as_mut_ptr();
        let mut op = crate::op::Read::at(SharedFd::new(fd), buf, 4096);
        let f = Op::fallback(&mut op);
        assert_eq!(f.run, Run::ByFileType);
        assert_eq!(
            f.call,
            Syscall::Read {
                fd: Fd::Raw(raw),
                buf: ptr,
                len: 100,
                offset: 4096,
                registered: None,
            }
        );
    });
}

#[test]
fn a_writev_names_its_own_iovecs_and_an_fsync_runs_on_the_pool() {
    crate::run(async {
        let bufs = vec![b"ab".to_vec(), b"cde".to_vec()];
        let ptrs: Vec<*const u8> = bufs.iter().map(|b| b.as_ptr()).collect();
        let mut op = crate::op::writev::Writev::new(SharedFd::new(dev_null()), bufs, 7);
        let Fallback {
            call: Syscall::Writev { iov, n, offset, .. },
            run: Run::ByFileType,
        } = Op::fallback(&mut op)
        else {
            panic!("a writev's fallback is a Writev by file type");
        };
        assert_eq!((n, offset), (2, 7));
        // SAFETY: `iov` is the op's own array of `n` entries, alive with
        // `op` and not written while these reads run.
        let iovs = unsafe { std::slice::from_raw_parts(iov, n as usize) };
        let named: Vec<(*const u8, usize)> = iovs
            .iter()
            .map(|v| (v.iov_base as *const u8, v.iov_len))
            .collect();
        assert_eq!(named, [(ptrs[0], 2), (ptrs[1], 3)]);

        let fd = dev_null();
        let raw = fd.as_raw_fd();
        let mut op = crate::op::fsync::Fsync::new(SharedFd::new(fd), true);
        assert_eq!(
            Op::fallback(&mut op),
            Fallback::blocking(Syscall::Fsync {
                fd: raw,
                datasync: true
            })
        );
    });
}

/// A pipe's `(read, write)` ends.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new fds into the live local array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (crate::sys::owned(fds[0]), crate::sys::owned(fds[1]))
}

fn read_into(fd: &OwnedFd, buf: &mut [u8; 4]) -> Syscall {
    Syscall::Read {
        fd: Fd::Raw(fd.as_raw_fd()),
        buf: buf.as_mut_ptr(),
        len: 4,
        offset: u64::MAX,
        registered: None,
    }
}

/// Runs the queued requests and returns what was posted so far, sorted.
fn turn(emu: &mut super::Emu, want: usize) -> Vec<(u64, i32, u32)> {
    let _ = emu.enter(want, Some(std::time::Duration::from_secs(5)));
    let mut out = Vec::new();
    emu.drain(&mut out);
    out.sort_unstable();
    out
}

#[test]
fn cancel_finds_parked_queued_and_running_ops_where_they_are() {
    use crate::blocking::pool::{Pool, DEFAULT_IO_CAP};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let pool = Arc::new(Pool::new(4, Duration::from_secs(1)));
    let mut emu = super::Emu::new(8, 16, pool.clone()).unwrap();
    // One pool job at a time: the second waits in the queue.
    let mut max = [1, 0];
    emu.register_iowq_max_workers(&mut max);
    assert_eq!(max, [DEFAULT_IO_CAP as u32, 0]);

    let (file_r, file_w) = pipe();
    let (sock_r, _sock_w) = pipe();
    let (mut a, mut b, mut c) = ([0u8; 4], [0u8; 4], [0u8; 4]);
    let push = |emu: &mut super::Emu, ud, f| assert!(emu.push(ud, f).is_ok());
    // Blocks a pool thread on the empty pipe.
    push(&mut emu, 1, Fallback::blocking(read_into(&file_r, &mut a)));
    push(&mut emu, 2, Fallback::blocking(read_into(&file_r, &mut b)));
    // Parked on epoll.
    push(&mut emu, 3, Fallback::readiness(read_into(&sock_r, &mut c)));
    assert_eq!(turn(&mut emu, 0), []);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.stats().queued != 1 {
        assert!(Instant::now() < deadline, "{:?}", pool.stats());
        std::thread::sleep(Duration::from_millis(1));
    }

    let cancel = |target| Fallback::inline(Syscall::AsyncCancel { target });
    push(&mut emu, 10, cancel(2));
    push(&mut emu, 11, cancel(1));
    push(&mut emu, 12, cancel(3));
    push(&mut emu, 13, cancel(99));
    let ecanceled = -libc::ECANCELED;
    assert_eq!(
        turn(&mut emu, 0),
        [
            (2, ecanceled, 0),
            (3, ecanceled, 0),
            (10, 0, 0),
            (11, -libc::EALREADY, 0),
            (12, 0, 0),
            (13, -libc::ENOENT, 0),
        ]
    );

    // The running read completes by itself, into its own buffer only.
    // SAFETY: writes 4 bytes from a static string to the pipe.
    let wrote = unsafe { libc::write(file_w.as_raw_fd(), b"done".as_ptr().cast(), 4) };
    assert_eq!(wrote, 4);
    assert_eq!(turn(&mut emu, 1), [(1, 4, 0)]);
    assert_eq!((&a, &b, &c), (b"done", &[0; 4], &[0; 4]));
    drop(emu);
    pool.close();
}
