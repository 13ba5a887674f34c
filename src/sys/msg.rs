//! An owned `msghdr` for `IORING_OP_SENDMSG` / `IORING_OP_RECVMSG`: the
//! header, its one `iovec`, the peer address and the control buffer
//! (`SCM_RIGHTS` descriptors) in one heap allocation, so every pointer the
//! kernel follows stays put while the op is in flight, even after its
//! future is dropped.

use super::addr::SockAddr;
use std::mem::size_of;
use std::os::fd::{OwnedFd, RawFd};

/// Everything a `sendmsg`/`recvmsg` points at. Always boxed (see
/// [`MsgHdr::new`]): `hdr` points into the same allocation.
pub(crate) struct MsgHdr {
    /// The header the SQE points at.
    hdr: libc::msghdr,
    /// The one data segment: the op's buffer.
    iov: libc::iovec,
    /// Destination (send) or source (receive) address.
    pub(crate) name: SockAddr,
    /// Control messages; `u64`s so `cmsghdr`s inside are aligned.
    control: Vec<u64>,
}

/// Bytes a control message with `n` bytes of data occupies.
fn cmsg_space(n: usize) -> usize {
    // SAFETY: CMSG_SPACE is pure arithmetic.
    unsafe { libc::CMSG_SPACE(n as u32) as usize }
}

/// The header length of a control message with `n` bytes of data.
fn cmsg_len(n: usize) -> usize {
    // SAFETY: CMSG_LEN is pure arithmetic.
    unsafe { libc::CMSG_LEN(n as u32) as usize }
}

impl MsgHdr {
    /// A header for `len` bytes at `data`, with `name` (send: the
    /// destination; receive: `SockAddr::empty()`, room for the source) and room
    /// for `max_fds` descriptors of control data.
    ///
    /// `data` must be the stable pointer of a buffer that the op owns.
    pub(crate) fn new(
        data: *mut u8,
        len: usize,
        name: Option<SockAddr>,
        max_fds: usize,
    ) -> Box<MsgHdr> {
        let control_bytes = if max_fds == 0 {
            0
        } else {
            cmsg_space(max_fds * size_of::<RawFd>())
        };
        let has_name = name.is_some();
        let mut m = Box::new(MsgHdr {
            // SAFETY: `msghdr` is a plain C struct; all-zero is valid (null
            // pointers, zero lengths).
            hdr: unsafe { std::mem::zeroed() },
            iov: libc::iovec {
                iov_base: data.cast(),
                // Capped as every read and write is (see `buf::MAX_RW`).
                iov_len: len.min(super::MAX_RW),
            },
            name: name.unwrap_or_else(SockAddr::empty),
            control: vec![0u64; control_bytes.div_ceil(8)],
        });
        m.hdr.msg_iov = std::ptr::addr_of_mut!(m.iov);
        m.hdr.msg_iovlen = 1;
        if has_name {
            m.hdr.msg_name = m.name.as_mut_ptr().cast();
            m.hdr.msg_namelen = m.name.len;
        }
        if control_bytes > 0 {
            m.hdr.msg_control = m.control.as_mut_ptr().cast();
            m.hdr.msg_controllen = control_bytes;
        }
        m
    }

    /// Writes one `SCM_RIGHTS` message carrying `fds` into the control
    /// buffer (which `new` sized for at least `fds.len()`).
    pub(crate) fn set_fds(&mut self, fds: &[OwnedFd]) {
        use std::os::fd::AsRawFd;
        if fds.is_empty() {
            self.hdr.msg_control = std::ptr::null_mut();
            self.hdr.msg_controllen = 0;
            return;
        }
        let data_len = fds.len() * size_of::<RawFd>();
        assert!(cmsg_space(data_len) <= self.control.len() * 8);
        let base = self.control.as_mut_ptr().cast::<u8>();
        let header = libc::cmsghdr {
            cmsg_len: cmsg_len(data_len),
            cmsg_level: libc::SOL_SOCKET,
            cmsg_type: libc::SCM_RIGHTS,
        };
        // SAFETY: the control buffer is 8-aligned (u64s) and holds at least
        // CMSG_SPACE(data_len) bytes (asserted), room for the header and
        // the fds that follow it at CMSG_LEN(0).
        unsafe {
            std::ptr::write(base.cast::<libc::cmsghdr>(), header);
            let data = base.add(cmsg_len(0)).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned(data.add(i), fd.as_raw_fd());
            }
        }
        self.hdr.msg_controllen = cmsg_space(data_len);
    }

    /// The header, for the SQE.
    pub(crate) fn as_ptr(&mut self) -> *mut libc::msghdr {
        std::ptr::addr_of_mut!(self.hdr)
    }

    /// The source address's length as the kernel wrote it back.
    pub(crate) fn name_len(&self) -> libc::socklen_t {
        self.hdr.msg_namelen
    }

    /// Takes ownership of the descriptors that `SCM_RIGHTS` messages in the
    /// control buffer carry (after a receive). Each is closed on drop if the
    /// caller does not keep it.
    pub(crate) fn take_fds(&mut self) -> Vec<OwnedFd> {
        let mut fds = Vec::new();
        let cap = (self.control.len() * 8).min(self.hdr.msg_controllen);
        let base = self.control.as_mut_ptr().cast::<u8>();
        let header = size_of::<libc::cmsghdr>();
        let mut off = 0;
        while off + header <= cap {
            // SAFETY: `off + header <= cap` bytes of the 8-aligned control
            // buffer, and `off` is a multiple of 8 (CMSG_SPACE rounds up).
            let h: libc::cmsghdr = unsafe { std::ptr::read(base.add(off).cast()) };
            if h.cmsg_len < cmsg_len(0) || off + h.cmsg_len > cap {
                break;
            }
            if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_RIGHTS {
                let n = (h.cmsg_len - cmsg_len(0)) / size_of::<RawFd>();
                for i in 0..n {
                    // SAFETY: within this message's `cmsg_len`, checked to
                    // lie inside the buffer above.
                    let fd: RawFd = unsafe {
                        std::ptr::read_unaligned(base.add(off + cmsg_len(0)).cast::<RawFd>().add(i))
                    };
                    if fd >= 0 {
                        fds.push(super::owned(fd));
                    }
                }
            }
            // Zero what was taken so a second call finds nothing to own.
            // SAFETY: the bytes of this message, inside the buffer.
            unsafe { std::ptr::write_bytes(base.add(off), 0, h.cmsg_len) };
            off += cmsg_space(h.cmsg_len - cmsg_len(0));
        }
        fds
    }
}

/// What a `recvmsg` received besides the bytes.
pub(crate) struct RecvMeta {
    /// Bytes stored in the buffer.
    pub(crate) len: usize,
    /// The datagram's real length (`MSG_TRUNC` asked the kernel for it):
    /// larger than `len` when it did not fit.
    pub(crate) full_len: usize,
    /// The source address.
    pub(crate) from: super::addr::SockAddr,
    /// Descriptors that came with the bytes; closed if dropped.
    pub(crate) fds: Vec<std::os::fd::OwnedFd>,
}
