//! Socket addresses in the kernel's layout (`sockaddr_in`, `sockaddr_in6`
//! inside a `sockaddr_storage`), converted to and from `std::net::SocketAddr`.
//!
//! Ops keep a [`SockAddr`] in a `Box` while in flight: the kernel reads a
//! connect's address, and writes an accept's peer address and its length,
//! possibly after the future that started the op is gone.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A socket address as the kernel reads and writes it.
pub(crate) struct SockAddr {
    /// Room for any address family; holds a `sockaddr_in` or `sockaddr_in6`.
    pub(crate) storage: libc::sockaddr_storage,
    /// How many bytes of `storage` are the address. For accept, the kernel
    /// reads the room available and writes back the real length.
    pub(crate) len: libc::socklen_t,
}

impl SockAddr {
    /// An empty address with all of `storage` as room, for the kernel to fill.
    pub(crate) fn empty() -> SockAddr {
        SockAddr {
            storage: zeroed_storage(),
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// The kernel layout of `addr`.
    pub(crate) fn from_std(addr: &SocketAddr) -> SockAddr {
        let mut storage = zeroed_storage();
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: `sockaddr_storage` is larger than `sockaddr_in` and
                // aligned for any address type, so the write is in bounds and
                // aligned.
                unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sin) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for `sockaddr_in6`.
                unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sin6) };
                size_of::<libc::sockaddr_in6>()
            }
        };
        SockAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    /// The address as a `SocketAddr`; an error for families other than
    /// IPv4 and IPv6, or a length too short for the family.
    pub(crate) fn to_std(&self) -> io::Result<SocketAddr> {
        to_std(&self.storage, self.len)
    }

    /// The address family (`AF_INET` or `AF_INET6`), for creating a socket.
    pub(crate) fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// A pointer for the kernel to read the address from.
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        std::ptr::addr_of!(self.storage).cast()
    }

    /// A pointer for the kernel to write an address into.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        std::ptr::addr_of_mut!(self.storage).cast()
    }
}

/// Converts the first `len` bytes of `storage` to a `SocketAddr`.
pub(crate) fn to_std(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a `sockaddr_in`, the
            // length covers it, and `sockaddr_storage` is aligned for it.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read(std::ptr::from_ref(storage).cast()) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for `sockaddr_in6`.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read(std::ptr::from_ref(storage).cast()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Ok(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id).into())
        }
        family => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not an IPv4 or IPv6 socket address (family {family}, {len} bytes)"),
        )),
    }
}

/// What a Unix-domain socket address names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnixName<'a> {
    /// No name (an unbound socket, or an accepted connection's peer).
    Unnamed,
    /// A filesystem path (without the terminating nul).
    Path(&'a [u8]),
    /// A name in the abstract namespace (Linux), without the leading nul.
    Abstract(&'a [u8]),
}

/// Where `sun_path` starts in a `sockaddr_un`.
const SUN_PATH_OFFSET: usize = std::mem::offset_of!(libc::sockaddr_un, sun_path);
/// Room in `sun_path`.
const SUN_PATH_LEN: usize = 108;

impl SockAddr {
    /// The kernel layout of a Unix-domain address. Paths must fit in 107
    /// bytes (plus the nul) and contain no nul; abstract names in 107 bytes.
    pub(crate) fn from_unix(name: UnixName<'_>) -> io::Result<SockAddr> {
        let mut sun = libc::sockaddr_un {
            sun_family: libc::AF_UNIX as libc::sa_family_t,
            sun_path: [0; SUN_PATH_LEN],
        };
        let too_long = |n: usize| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Unix socket address of {n} bytes is longer than 107"),
            )
        };
        let used = match name {
            UnixName::Unnamed => 0,
            UnixName::Path(p) => {
                if p.contains(&0) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "Unix socket path contains a nul byte",
                    ));
                }
                if p.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "empty Unix socket path",
                    ));
                }
                if p.len() >= SUN_PATH_LEN {
                    return Err(too_long(p.len()));
                }
                for (d, s) in sun.sun_path.iter_mut().zip(p) {
                    *d = *s as libc::c_char;
                }
                p.len() + 1
            }
            UnixName::Abstract(n) => {
                if n.len() >= SUN_PATH_LEN {
                    return Err(too_long(n.len()));
                }
                for (d, s) in sun.sun_path[1..].iter_mut().zip(n) {
                    *d = *s as libc::c_char;
                }
                n.len() + 1
            }
        };
        let mut storage = zeroed_storage();
        // SAFETY: `sockaddr_storage` is larger than `sockaddr_un` and aligned
        // for any address type, so the write is in bounds and aligned.
        unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sun) };
        Ok(SockAddr {
            storage,
            len: (SUN_PATH_OFFSET + used) as libc::socklen_t,
        })
    }
}

/// The Unix-domain name in the first `len` bytes of `storage`.
pub(crate) fn unix_name(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<UnixName<'_>> {
    // An unnamed sender's address comes back with length 0 (no family).
    if len as usize <= SUN_PATH_OFFSET {
        return Ok(UnixName::Unnamed);
    }
    if libc::c_int::from(storage.ss_family) != libc::AF_UNIX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a Unix socket address (family {})", storage.ss_family),
        ));
    }
    let len = (len as usize).min(SUN_PATH_OFFSET + SUN_PATH_LEN);
    // SAFETY: `sockaddr_storage` is at least as large as `sockaddr_un`
    // (the family says it holds one), so these bytes are in bounds and
    // initialised (the storage is a plain, fully initialised struct).
    let path: &[u8] = unsafe {
        std::slice::from_raw_parts(
            std::ptr::from_ref(storage)
                .cast::<u8>()
                .add(SUN_PATH_OFFSET),
            len - SUN_PATH_OFFSET,
        )
    };
    if path[0] == 0 {
        return Ok(UnixName::Abstract(&path[1..]));
    }
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    Ok(UnixName::Path(&path[..end]))
}

/// An all-zero `sockaddr_storage` (family `AF_UNSPEC`).
fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: `sockaddr_storage` is a plain C struct of integers, for which
    // all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for s in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:443",
            "[fe80::1%3]:9",
            "[2001:db8::42]:1",
        ] {
            let addr: SocketAddr = s.parse().unwrap();
            let raw = SockAddr::from_std(&addr);
            assert_eq!(raw.to_std().unwrap(), addr, "{s}");
        }
        let v6 = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 7, 0x12345, 4);
        let raw = SockAddr::from_std(&v6.into());
        assert_eq!(raw.family(), libc::AF_INET6);
        assert_eq!(raw.to_std().unwrap(), SocketAddr::V6(v6));
    }

    #[test]
    fn unix_names_round_trip() {
        for name in [
            UnixName::Unnamed,
            UnixName::Path(b"/tmp/sock"),
            UnixName::Abstract(b"curing\0x"),
            UnixName::Abstract(b""),
        ] {
            let raw = SockAddr::from_unix(name).unwrap();
            assert_eq!(raw.family(), libc::AF_UNIX);
            assert_eq!(unix_name(&raw.storage, raw.len).unwrap(), name);
        }
        assert!(SockAddr::from_unix(UnixName::Path(&[b'a'; 108])).is_err());
        assert!(SockAddr::from_unix(UnixName::Path(&[b'a'; 107])).is_ok());
        assert!(SockAddr::from_unix(UnixName::Path(b"a\0b")).is_err());
        let v4 = SockAddr::from_std(&"1.2.3.4:5".parse().unwrap());
        assert!(unix_name(&v4.storage, v4.len).is_err());
    }

    #[test]
    fn rejects_unknown_family_and_short_length() {
        let empty = SockAddr::empty();
        assert!(empty.to_std().is_err());
        let raw = SockAddr::from_std(&"1.2.3.4:5".parse().unwrap());
        assert!(to_std(&raw.storage, 4).is_err());
    }
}
