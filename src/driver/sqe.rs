//! Reading an `io_uring::squeue::Entry` back: the kernel's `io_uring_sqe`
//! layout, mirrored field by field, and the one place that reinterprets an
//! entry's bytes (used by the epoll driver, which runs SQEs itself, and by
//! the model test's simulated ring).

use io_uring::squeue::Entry;

/// The kernel's `struct io_uring_sqe` (64 bytes), with each union reduced
/// to the integer the emulator reads (see `include/uapi/linux/io_uring.h`).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawSqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    /// `off` / `addr2`.
    off: u64,
    /// `addr` / `splice_off_in`.
    addr: u64,
    len: u32,
    /// `rw_flags`, `msg_flags`, `open_flags`, `accept_flags`, ...: the
    /// per-opcode flags word.
    op_flags: u32,
    user_data: u64,
    /// `buf_index` / `buf_group`.
    buf_index: u16,
    personality: u16,
    /// `splice_fd_in` / `file_index` / `addr_len` (low 16 bits).
    file_index: u32,
    addr3: u64,
    pad: u64,
}

const _: () = assert!(std::mem::size_of::<RawSqe>() == 64);
const _: () = assert!(std::mem::size_of::<Entry>() == 64);

/// A decoded SQE: plain integers, so it can travel to a pool thread. The
/// addresses in it are valid until the op's CQE is posted (the driver's
/// contract), never after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sqe {
    pub(crate) opcode: u8,
    /// `IOSQE_*` flags.
    pub(crate) flags: u8,
    pub(crate) ioprio: u16,
    pub(crate) fd: i32,
    pub(crate) off: u64,
    pub(crate) addr: u64,
    pub(crate) len: u32,
    pub(crate) op_flags: u32,
    pub(crate) user_data: u64,
    pub(crate) buf_index: u16,
    pub(crate) file_index: u32,
}

impl Sqe {
    /// Decodes `entry`.
    pub(crate) fn read(entry: &Entry) -> Sqe {
        // `Entry` wraps the kernel's 64-byte `io_uring_sqe` (`#[repr(C)]`,
        // sizes asserted above), whose layout `RawSqe` mirrors.
        // SAFETY: 64 readable bytes, any bytes are a valid all-integer
        // `RawSqe`, and `read_unaligned` assumes no alignment.
        let raw: RawSqe = unsafe { std::ptr::read_unaligned((entry as *const Entry).cast()) };
        let _ = (raw.personality, raw.addr3, raw.pad);
        Sqe {
            opcode: raw.opcode,
            flags: raw.flags,
            ioprio: raw.ioprio,
            fd: raw.fd,
            off: raw.off,
            addr: raw.addr,
            len: raw.len,
            op_flags: raw.op_flags,
            user_data: raw.user_data,
            buf_index: raw.buf_index,
            file_index: raw.file_index,
        }
    }

    /// Whether `IOSQE_FIXED_FILE` is set: `fd` is a file-table slot.
    pub(crate) fn fixed_file(&self) -> bool {
        self.flags & (1 << 0) != 0
    }

    /// Whether `IOSQE_BUFFER_SELECT` is set: take a provided buffer from
    /// group `buf_index`.
    pub(crate) fn buffer_select(&self) -> bool {
        self.flags & (1 << 5) != 0
    }

    /// The file offset: `-1` (all ones) means the file position.
    pub(crate) fn offset(&self) -> i64 {
        self.off as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::{opcode, types};
    use std::mem::offset_of;

    #[test]
    fn layout_matches_the_kernel() {
        assert_eq!(offset_of!(RawSqe, opcode), 0);
        assert_eq!(offset_of!(RawSqe, flags), 1);
        assert_eq!(offset_of!(RawSqe, ioprio), 2);
        assert_eq!(offset_of!(RawSqe, fd), 4);
        assert_eq!(offset_of!(RawSqe, off), 8);
        assert_eq!(offset_of!(RawSqe, addr), 16);
        assert_eq!(offset_of!(RawSqe, len), 24);
        assert_eq!(offset_of!(RawSqe, op_flags), 28);
        assert_eq!(offset_of!(RawSqe, user_data), 32);
        assert_eq!(offset_of!(RawSqe, buf_index), 40);
        assert_eq!(offset_of!(RawSqe, personality), 42);
        assert_eq!(offset_of!(RawSqe, file_index), 44);
        assert_eq!(offset_of!(RawSqe, addr3), 48);
    }

    #[test]
    fn decodes_what_the_builders_write() {
        let e = opcode::Read::new(types::Fd(7), 0x1000 as *mut u8, 99)
            .offset(12345)
            .build()
            .user_data(0xdead_beef);
        let s = Sqe::read(&e);
        assert_eq!(s.opcode, opcode::Read::CODE);
        assert_eq!((s.fd, s.addr, s.len, s.off), (7, 0x1000, 99, 12345));
        assert_eq!(s.user_data, 0xdead_beef);
        assert!(!s.fixed_file());

        let e = opcode::ReadFixed::new(types::Fixed(3), 0x2000 as *mut u8, 5, 9).build();
        let s = Sqe::read(&e);
        assert!(s.fixed_file());
        assert_eq!((s.fd, s.buf_index), (3, 9));

        let e = opcode::RecvMulti::new(types::Fd(4), 17).build();
        let s = Sqe::read(&e);
        assert!(s.buffer_select());
        assert_eq!(s.buf_index, 17);
        assert_eq!(s.ioprio, crate::driver::emu::RECV_MULTISHOT);

        let e = opcode::Splice::new(types::Fd(5), -1, types::Fd(6), 40, 1000)
            .flags(libc::SPLICE_F_MOVE)
            .build();
        let s = Sqe::read(&e);
        assert_eq!((s.file_index as i32, s.addr as i64, s.fd), (5, -1, 6));
        assert_eq!((s.off, s.len, s.op_flags), (40, 1000, libc::SPLICE_F_MOVE));

        let e = opcode::WaitId::new(libc::P_PIDFD, 8, libc::WEXITED)
            .infop(0x3000 as *const libc::siginfo_t)
            .build();
        let s = Sqe::read(&e);
        assert_eq!(
            (s.fd, s.len, s.file_index, s.off),
            (8, libc::P_PIDFD, libc::WEXITED as u32, 0x3000)
        );

        let e = opcode::AsyncCancel::new(42).build();
        assert_eq!(Sqe::read(&e).addr, 42);
    }
}
