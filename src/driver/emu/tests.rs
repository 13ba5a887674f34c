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
