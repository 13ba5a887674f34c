//! `UnixSocketAddr`: a filesystem path, an abstract name, or nothing.

use crate::sys::addr::{SockAddr, UnixName};
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The address of a Unix-domain socket.
///
/// ```
/// use curing::net::UnixSocketAddr;
///
/// let a = UnixSocketAddr::from_pathname("/run/app.sock").unwrap();
/// assert_eq!(a.as_pathname(), Some(std::path::Path::new("/run/app.sock")));
/// let b = UnixSocketAddr::from_abstract_name(b"app").unwrap();
/// assert_eq!(b.as_abstract_name(), Some(&b"app"[..]));
/// assert!(UnixSocketAddr::from_pathname("/no\0nul").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnixSocketAddr {
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Kind {
    Unnamed,
    Path(PathBuf),
    Abstract(Vec<u8>),
}

impl UnixSocketAddr {
    /// A filesystem address (at most 107 bytes, no nul).
    pub fn from_pathname(path: impl AsRef<Path>) -> io::Result<UnixSocketAddr> {
        let path = path.as_ref();
        SockAddr::from_unix(UnixName::Path(path.as_os_str().as_bytes()))?;
        Ok(UnixSocketAddr {
            kind: Kind::Path(path.to_owned()),
        })
    }

    /// An address in Linux's abstract namespace: no file, gone when the
    /// socket closes (at most 107 bytes; any bytes, nul included).
    pub fn from_abstract_name(name: impl AsRef<[u8]>) -> io::Result<UnixSocketAddr> {
        let name = name.as_ref();
        SockAddr::from_unix(UnixName::Abstract(name))?;
        Ok(UnixSocketAddr {
            kind: Kind::Abstract(name.to_vec()),
        })
    }

    /// The path, for a filesystem address.
    pub fn as_pathname(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Path(p) => Some(p),
            _ => None,
        }
    }

    /// The name, for an abstract address.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Abstract(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the address is empty (an unbound socket, or usually the
    /// peer of an accepted connection).
    pub fn is_unnamed(&self) -> bool {
        matches!(self.kind, Kind::Unnamed)
    }

    /// The kernel layout.
    pub(crate) fn to_raw(&self) -> io::Result<SockAddr> {
        SockAddr::from_unix(match &self.kind {
            Kind::Unnamed => UnixName::Unnamed,
            Kind::Path(p) => UnixName::Path(p.as_os_str().as_bytes()),
            Kind::Abstract(n) => UnixName::Abstract(n),
        })
    }

    /// From the kernel layout.
    pub(crate) fn from_raw(
        storage: &libc::sockaddr_storage,
        len: libc::socklen_t,
    ) -> io::Result<Self> {
        let kind = match crate::sys::addr::unix_name(storage, len)? {
            UnixName::Unnamed => Kind::Unnamed,
            UnixName::Path(p) => Kind::Path(PathBuf::from(OsStr::from_bytes(p))),
            UnixName::Abstract(n) => Kind::Abstract(n.to_vec()),
        };
        Ok(UnixSocketAddr { kind })
    }
}

impl fmt::Debug for UnixSocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Unnamed => f.write_str("(unnamed)"),
            Kind::Path(p) => write!(f, "{p:?} (pathname)"),
            Kind::Abstract(n) => write!(f, "\"{}\" (abstract)", n.escape_ascii()),
        }
    }
}

/// Anything naming a Unix socket: a path (`&str`, `&Path`, `PathBuf`, ...)
/// or a [`UnixSocketAddr`] (for abstract names).
pub trait ToUnixAddr {
    /// The address.
    fn to_unix_addr(&self) -> io::Result<UnixSocketAddr>;
}

impl ToUnixAddr for UnixSocketAddr {
    fn to_unix_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(self.clone())
    }
}

impl ToUnixAddr for &UnixSocketAddr {
    fn to_unix_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok((*self).clone())
    }
}

macro_rules! path_impl {
    ($($t:ty),*) => {$(
        impl ToUnixAddr for $t {
            fn to_unix_addr(&self) -> io::Result<UnixSocketAddr> {
                UnixSocketAddr::from_pathname(self)
            }
        }
    )*};
}

path_impl!(&str, String, &String, &Path, PathBuf, &PathBuf, &OsStr);
