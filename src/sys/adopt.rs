//! `FromRawFd` for the socket types. Its method is `unsafe` by its
//! signature (std's trait), so the impls live here, with the rest of the
//! crate's `unsafe`; each forwards to the type's `From<OwnedFd>`.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

macro_rules! from_raw_fd {
    ($($t:ty),* $(,)?) => {$(
        impl FromRawFd for $t {
            /// Takes `fd` as with `From<OwnedFd>`.
            ///
            /// # Safety
            ///
            /// `fd` must be an open socket of the right kind that nothing
            /// else owns (as for `OwnedFd::from_raw_fd`).
            unsafe fn from_raw_fd(fd: RawFd) -> $t {
                // SAFETY: forwarded from this function's contract.
                <$t>::from(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        }
    )*};
}

from_raw_fd!(
    crate::net::TcpListener,
    crate::net::TcpStream,
    crate::net::UdpSocket,
    crate::net::UnixDatagram,
    crate::net::UnixListener,
    crate::net::UnixStream,
);
