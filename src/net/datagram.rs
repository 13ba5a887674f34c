//! What UDP and Unix datagram sockets share: receiving one whole datagram.

use crate::buf::{self, BufResult, IoBufMut};
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::recv_msg::{DatagramRecv, RecvMeta};
use std::io;

/// Receives one datagram into `buf` (with the sender's address in the
/// result). A datagram larger than the buffer is an `InvalidData` error; its
/// first bytes are in the buffer that comes back.
///
/// Cancel-safe: a datagram that a dropped receive got anyway is returned by
/// the next receive on the socket (as many bytes of it as the dropped
/// receive's buffer held, with the datagram's real length).
pub(crate) async fn recv<B: IoBufMut>(fd: &SharedFd, mut buf: B) -> BufResult<RecvMeta, B> {
    let (res, buf) = match fd.datagram_turn().await {
        Err(ticket) => submit(DatagramRecv::new(buf, ticket)).await,
        Ok(Err(e)) => (Err(e), buf),
        Ok(Ok((bytes, mut meta))) => {
            meta.len = buf::fill_from_at(&mut buf, 0, &bytes);
            (Ok(meta), buf)
        }
    };
    let res = res.and_then(|meta| {
        if meta.full_len > meta.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "datagram of {} bytes truncated to the buffer's {}",
                    meta.full_len, meta.len
                ),
            ));
        }
        Ok(meta)
    });
    (res, buf)
}
