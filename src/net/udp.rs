//! `UdpSocket`: datagrams through the ring (`SENDMSG`/`RECVMSG` for
//! addressed datagrams, `SEND` for connected ones).

use super::opts::BindOptions;
use super::resolve::{self, ToSocketAddrs};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::{self, send_msg::SendMsg};
use crate::sys::addr::{self, SockAddr};
use crate::sys::{self, sockopt};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};

/// A UDP socket.
///
/// ```no_run
/// use curing::buf::IoBuf;
/// use curing::net::UdpSocket;
///
/// # fn main() -> std::io::Result<()> {
/// curing::run(async {
///     let socket = UdpSocket::bind("127.0.0.1:0")?;
///     let (res, buf) = socket.recv_from(vec![0u8; 1500]).await;
///     let (n, peer) = res?;
///     let (res, _) = socket.send_to(buf.slice(..n), peer).await; // echo it
///     res?;
///     Ok(())
/// })
/// # }
/// ```
///
/// ## Datagrams and cancellation
///
/// Each receive takes exactly one datagram. A datagram that a receive whose
/// future was dropped took anyway is kept and returned by the next
/// receive, in order (see the crate docs' cancellation table).
///
/// ## Truncation
///
/// A datagram larger than the buffer is an error (`InvalidData`, saying
/// both sizes), never silently shortened: the buffer holds its first bytes.
///
/// A socket belongs to the thread whose runtime it uses (it is not `Send`):
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<curing::net::UdpSocket>();
/// ```
pub struct UdpSocket {
    /// The socket; each op in flight on it holds a clone.
    fd: SharedFd,
}

impl UdpSocket {
    /// A socket bound to `addr` (close-on-exec), trying each address it
    /// resolves to until one works. Port 0 picks a free port.
    ///
    /// Synchronous: a host name is resolved on this thread (see the
    /// [module docs](super#name-resolution)).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::bind_with(addr, &BindOptions::new())
    }

    /// [`bind`](UdpSocket::bind) with options set before binding
    /// (`SO_REUSEADDR`, `SO_REUSEPORT`, `IPV6_V6ONLY`, buffer sizes).
    pub fn bind_with(addr: impl ToSocketAddrs, opts: &BindOptions) -> io::Result<UdpSocket> {
        let mut last = None;
        for a in resolve::resolve_blocking(&addr)? {
            match bind_one(&a, opts) {
                Ok(fd) => return Ok(UdpSocket::from_shared(SharedFd::new(fd))),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there and
    /// [`recv`](UdpSocket::recv) takes datagrams only from it. A host name
    /// is resolved on the blocking pool; the first address is used.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let a = resolve::resolve(&addr).await?[0];
        let raw = SockAddr::from_std(&a);
        sockopt::connect(self.fd.as_fd(), &raw.storage, raw.len)
    }

    /// Sends the initialised bytes of `buf` as one datagram to `addr` (the
    /// first address it resolves to; host names on the blocking pool).
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: impl ToSocketAddrs) -> BufResult<usize, B> {
        let a = match resolve::resolve(&addr).await {
            Ok(addrs) => addrs[0],
            Err(e) => return (Err(e), buf),
        };
        let to = SockAddr::from_std(&a);
        submit(SendMsg::new(self.fd.clone(), buf, Some(to), Vec::new())).await
    }

    /// Receives one datagram into `buf` (from its start, up to its
    /// capacity) and returns its length and sender.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the datagram did not fit (see the type's docs);
    /// what the kernel says otherwise (e.g. `ConnectionRefused` after an
    /// ICMP port-unreachable on a connected socket).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (res, buf) = super::datagram::recv(&self.fd, buf).await;
        (
            res.and_then(|meta| Ok((meta.len, meta.from.to_std()?))),
            buf,
        )
    }

    /// Sends one datagram to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        submit(op::Send::new(self.fd.clone(), buf)).await
    }

    /// Receives one datagram from the connected peer; see
    /// [`recv_from`](UdpSocket::recv_from) for truncation.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        let (res, buf) = super::datagram::recv(&self.fd, buf).await;
        (res.map(|meta| meta.len), buf)
    }

    /// The address this socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Local)?;
        addr::to_std(&storage, len)
    }

    /// The connected peer's address (`NotConnected` if none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let (storage, len) = sys::sockname(self.fd.as_fd(), sys::SockEnd::Peer)?;
        addr::to_std(&storage, len)
    }

    /// Closes the socket through the ring and reports the kernel's answer,
    /// after any op still in flight on it has finished.
    pub async fn close(self) -> io::Result<()> {
        crate::op::close(self.fd).await
    }

    /// Sets `SO_BROADCAST`: allow sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_BROADCAST, on)
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        sockopt::get_bool(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_BROADCAST)
    }

    /// Joins the IPv4 multicast group `group` on the interface with
    /// address `interface` (`0.0.0.0`: the kernel picks).
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        sockopt::set(
            self.fd.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_ADD_MEMBERSHIP,
            mreq_v4(group, interface),
        )
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](UdpSocket::join_multicast_v4).
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        sockopt::set(
            self.fd.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_DROP_MEMBERSHIP,
            mreq_v4(group, interface),
        )
    }

    /// Joins the IPv6 multicast group `group` on interface index
    /// `interface` (0: the kernel picks).
    pub fn join_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        sockopt::set(
            self.fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_ADD_MEMBERSHIP,
            mreq_v6(group, interface),
        )
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        sockopt::set(
            self.fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_DROP_MEMBERSHIP,
            mreq_v6(group, interface),
        )
    }

    /// Sets `IP_MULTICAST_LOOP`: whether this host receives its own IPv4
    /// multicast datagrams.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(
            self.fd.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_LOOP,
            on,
        )
    }

    /// Whether `IP_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        sockopt::get_bool(self.fd.as_fd(), libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP)
    }

    /// Sets `IP_MULTICAST_TTL` for outgoing IPv4 multicast datagrams.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        let ttl = super::opts::clamp(ttl as usize);
        sockopt::set(
            self.fd.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
            ttl,
        )
    }

    /// The `IP_MULTICAST_TTL` setting.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        sockopt::get::<libc::c_int>(self.fd.as_fd(), libc::IPPROTO_IP, libc::IP_MULTICAST_TTL)
            .map(|n| n as u32)
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(
            self.fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
            on,
        )
    }

    /// Whether `IPV6_MULTICAST_LOOP` is set.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        sockopt::get_bool(
            self.fd.as_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
        )
    }

    fn from_shared(fd: SharedFd) -> UdpSocket {
        UdpSocket { fd }
    }
}

fn mreq_v4(group: Ipv4Addr, interface: Ipv4Addr) -> libc::ip_mreqn {
    libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from_ne_bytes(group.octets()),
        },
        imr_address: libc::in_addr {
            s_addr: u32::from_ne_bytes(interface.octets()),
        },
        imr_ifindex: 0,
    }
}

fn mreq_v6(group: Ipv6Addr, interface: u32) -> libc::ipv6_mreq {
    libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr {
            s6_addr: group.octets(),
        },
        ipv6mr_interface: interface,
    }
}

/// socket, options and bind for one address.
fn bind_one(addr: &SocketAddr, opts: &BindOptions) -> io::Result<OwnedFd> {
    let raw = SockAddr::from_std(addr);
    let fd = sys::socket(raw.family(), libc::SOCK_DGRAM | libc::SOCK_CLOEXEC)?;
    opts.apply(fd.as_fd(), raw.family(), false)?;
    sys::bind(fd.as_fd(), &raw.storage, raw.len)?;
    Ok(fd)
}

super::opts::fd_conversions!(UdpSocket, std::net::UdpSocket);
super::opts::common_sockopts!(UdpSocket);
super::opts::ip_sockopts!(UdpSocket);

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        d.field("fd", &self.fd.raw());
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        d.finish()
    }
}
