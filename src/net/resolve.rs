//! Name resolution: io_uring has no DNS, so host names are resolved by the
//! system resolver (`getaddrinfo`, through `std`) on a short-lived helper
//! thread, while the runtime keeps running. Addresses and IP literals are
//! used as they are, with no thread and no lookup.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// What can name socket addresses for curing's connect, bind and send_to:
/// `SocketAddr`s, `(ip, port)`, `"host:port"`, `("host", port)`, slices of
/// addresses. Like `std::net::ToSocketAddrs`, but a host name is looked up
/// without blocking the runtime's thread where the call is async (see the
/// [module docs](super#name-resolution)).
///
/// This trait is sealed: curing implements it for the types above.
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    use super::Lookup;

    /// The resolution step, hidden from users.
    pub trait Sealed {
        /// The addresses, or the host to look up.
        fn lookup(&self) -> Lookup;
    }
}

/// What a [`ToSocketAddrs`] value needs before it is addresses.
#[doc(hidden)]
pub enum Lookup {
    /// Already addresses.
    Ready(Vec<SocketAddr>),
    /// A `"host:port"` string for the system resolver.
    Host(String),
}

macro_rules! ready_impl {
    ($($t:ty => |$v:ident| $e:expr;)*) => {$(
        impl ToSocketAddrs for $t {}
        impl sealed::Sealed for $t {
            fn lookup(&self) -> Lookup {
                let $v = self;
                Lookup::Ready($e)
            }
        }
    )*};
}

ready_impl! {
    SocketAddr => |a| vec![*a];
    SocketAddrV4 => |a| vec![SocketAddr::V4(*a)];
    SocketAddrV6 => |a| vec![SocketAddr::V6(*a)];
    (IpAddr, u16) => |a| vec![SocketAddr::new(a.0, a.1)];
    (Ipv4Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V4(a.0), a.1)];
    (Ipv6Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V6(a.0), a.1)];
    [SocketAddr] => |a| a.to_vec();
    Vec<SocketAddr> => |a| a.clone();
}

impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {}
impl<const N: usize> sealed::Sealed for [SocketAddr; N] {
    fn lookup(&self) -> Lookup {
        Lookup::Ready(self.to_vec())
    }
}

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn lookup(&self) -> Lookup {
        match self.parse::<SocketAddr>() {
            Ok(a) => Lookup::Ready(vec![a]),
            Err(_) => Lookup::Host(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn lookup(&self) -> Lookup {
        self.as_str().lookup()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn lookup(&self) -> Lookup {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Lookup::Ready(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Lookup::Host(format!("{}:{}", self.0, self.1)),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn lookup(&self) -> Lookup {
        (self.0.as_str(), self.1).lookup()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn lookup(&self) -> Lookup {
        (**self).lookup()
    }
}

/// Resolves `addr`, looking host names up on the blocking pool; never
/// empty.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let addrs = match sealed::Sealed::lookup(addr) {
        Lookup::Ready(addrs) => addrs,
        Lookup::Host(host) => lookup_on_pool(host).await?,
    };
    non_empty(addrs)
}

/// Resolves `addr` on the calling thread (for synchronous calls like
/// `bind`, documented as blocking for host names); never empty.
pub(crate) fn resolve_blocking<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let addrs = match sealed::Sealed::lookup(addr) {
        Lookup::Ready(addrs) => addrs,
        Lookup::Host(host) => std::net::ToSocketAddrs::to_socket_addrs(&host)?.collect(),
    };
    non_empty(addrs)
}

fn non_empty(addrs: Vec<SocketAddr>) -> io::Result<Vec<SocketAddr>> {
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        ));
    }
    Ok(addrs)
}

/// `getaddrinfo` on the runtime's blocking pool (the `spawn_blocking`
/// threads); the task sleeps until it answers. Dropping the future lets
/// the lookup finish and discards its answer.
async fn lookup_on_pool(host: String) -> io::Result<Vec<SocketAddr>> {
    let lookup = crate::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&host).map(Iterator::collect)
    });
    lookup.await.map_err(io::Error::other)?
}
