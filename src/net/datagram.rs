//! What UDP and Unix datagram sockets share: receiving one whole datagram.

use crate::buf::{BufResult, IoBufMut};
use crate::driver::submit;
use crate::fd::SharedFd;
use crate::op::recv_msg::{RecvMeta, RecvMsg};
use std::io;

/// Receives one datagram into `buf` (with the sender's address in the
/// result). A datagram larger than the buffer is an `InvalidData` error; its
/// first bytes are in the buffer that comes back.
pub(crate) async fn recv<B: IoBufMut>(fd: &SharedFd, buf: B) -> BufResult<RecvMeta, B> {
    let (res, buf) = submit(RecvMsg::new(fd.clone(), buf, 0, libc::MSG_TRUNC)).await;
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
