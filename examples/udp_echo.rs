//! A UDP echo server: every datagram goes back to its sender.
//!
//! ```text
//! cargo run --release --example udp_echo -- [ADDR]   # default 127.0.0.1:7879
//! python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"hello", ("127.0.0.1", 7879)); print(s.recv(64))'
//! ```
//!
//! (A client that reads the reply before it exits: some `nc` builds, ncat
//! among them, quit at the end of their input first.)
//!
//! One `recv_from` and one `send_to` per datagram, each an io_uring op
//! (`RECVMSG`/`SENDMSG`); the buffer goes in and comes back with the result.

use curing::buf::IoBuf;
use curing::net::UdpSocket;
use std::io;

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7879".into());
    curing::run(async move {
        let socket = UdpSocket::bind(addr.as_str())?;
        eprintln!("udp_echo: listening on {}", socket.local_addr()?);
        let mut buf = vec![0u8; 65536];
        loop {
            let (res, b) = socket.recv_from(buf).await;
            let (n, peer) = match res {
                Ok(r) => r,
                Err(e) => {
                    // A truncated datagram (over 64 KiB cannot happen for
                    // UDP/IPv4) or an ICMP error from an earlier send: keep
                    // serving.
                    eprintln!("udp_echo: {e}");
                    buf = b;
                    continue;
                }
            };
            let (res, b) = socket.send_to(b.slice(..n), peer).await;
            buf = b.into_inner();
            if let Err(e) = res {
                eprintln!("udp_echo: send to {peer}: {e}");
            }
        }
    })
}
