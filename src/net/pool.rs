//! [`PooledRecv`]: a stream's receives into a shared [`BufPool`] (a
//! provided-buffer ring), through one multishot receive.
//!
//! ## Exhaustion
//!
//! When every buffer is out (held by users or queued), the kernel ends the
//! receive with `ENOBUFS`. That is not an error for the connection:
//! `PooledRecv` waits until a buffer comes back and re-arms. Data meanwhile
//! waits in the socket's kernel buffer (and TCP flow control slows the
//! peer).
//!
//! ## Fallback
//!
//! Without multishot receive and buffer rings (before Linux 6.0), or if
//! registering the ring fails, a pool hands out plain heap buffers and each
//! `next()` is an ordinary receive.

use crate::buf::{BufPool, PooledBuf};
use crate::driver::op::Submit;
use crate::driver::{submit, Multishot};
use crate::fd::SharedFd;
use crate::op::recv_multi::RecvMulti;
use futures_core::Stream;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// A stream's received data as a sequence of [`PooledBuf`]s, through one
/// multishot receive; made by `recv_pooled` on
/// [`TcpStream`](super::TcpStream::recv_pooled) and
/// [`UnixStream`](super::UnixStream::recv_pooled). `next()` gives `None`
/// at end of stream.
///
/// Cancel-safe: dropping a `next()` future loses nothing (data queues for
/// the next call). Dropping the `PooledRecv` itself cancels the receive
/// and discards data it received but had not yielded, so use one per
/// connection, for the connection's life, and do not mix it with `read`.
pub struct PooledRecv {
    /// The socket.
    fd: SharedFd,
    /// The pool buffers come from.
    pool: BufPool,
    /// The receive in flight.
    mode: RecvMode,
    /// End of stream or a fatal error was yielded.
    ended: bool,
    /// Times the pool ran dry and the receive was re-armed.
    rearms: u64,
    /// Our place in the pool's queue of starved receivers.
    registration: Option<u64>,
}

enum RecvMode {
    /// A multishot receive on the pool's ring.
    Multi(Multishot<RecvMulti>),
    /// Fallback: one plain receive at a time into a heap buffer.
    Plain(Option<Submit<crate::op::Read<Vec<u8>>>>),
    /// Waiting for the pool to have a buffer again after `ENOBUFS`.
    Starved(Multishot<RecvMulti>),
}

impl PooledRecv {
    pub(crate) fn new(fd: SharedFd, pool: &BufPool) -> PooledRecv {
        let mode = match pool.ring() {
            Some(ring) => RecvMode::Multi(Multishot::new(RecvMulti::new(fd.clone(), ring.clone()))),
            None => RecvMode::Plain(None),
        };
        PooledRecv {
            fd,
            pool: pool.clone(),
            mode,
            ended: false,
            rearms: 0,
            registration: None,
        }
    }

    /// The next chunk of data; `None` at end of stream (or after an error
    /// was returned).
    pub async fn next(&mut self) -> Option<io::Result<PooledBuf>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// How many times the pool ran dry (`ENOBUFS`) and the receive waited
    /// for a buffer and re-armed.
    pub fn rearms(&self) -> u64 {
        self.rearms
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<PooledBuf>>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match &mut self.mode {
                RecvMode::Starved(_) => {
                    let ring = self.pool.ring().expect("starved only with a ring");
                    if !ring.wait_available(cx.waker(), &mut self.registration) {
                        return Poll::Pending;
                    }
                    let RecvMode::Starved(m) =
                        std::mem::replace(&mut self.mode, RecvMode::Plain(None))
                    else {
                        unreachable!("matched Starved above")
                    };
                    self.mode = RecvMode::Multi(m);
                }
                RecvMode::Multi(m) => {
                    let c = ready!(m.poll_next(cx));
                    let ring = self.pool.ring().expect("multishot only with a ring");
                    // (The driver counted the buffer as taken when it reaped
                    // the CQE.)
                    let buf = c.buffer_id().map(|bid| (bid, ring.clone()));
                    match (c.result, buf) {
                        (Ok(n), Some((bid, ring))) if n > 0 => {
                            let buf = PooledBuf::from_ring(ring, bid, n as usize);
                            return Poll::Ready(Some(Ok(buf)));
                        }
                        (Ok(_), buf) => {
                            // End of stream (an empty buffer, if any, goes back).
                            if let Some((bid, ring)) = buf {
                                ring.recycle(bid);
                            }
                            self.ended = true;
                        }
                        (Err(e), _) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            self.rearms += 1;
                            let RecvMode::Multi(m) =
                                std::mem::replace(&mut self.mode, RecvMode::Plain(None))
                            else {
                                unreachable!("matched Multi above")
                            };
                            self.mode = RecvMode::Starved(m);
                        }
                        (Err(e), _) => {
                            self.ended = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
                RecvMode::Plain(pending) => {
                    let fd = &self.fd;
                    let size = self.pool.buf_size();
                    let fut = pending.get_or_insert_with(|| plain_recv(fd, size));
                    let (res, buf) = ready!(Pin::new(fut).poll(cx));
                    *pending = None;
                    match res {
                        Ok(0) => self.ended = true,
                        Ok(_) => return Poll::Ready(Some(Ok(PooledBuf::from_heap(buf)))),
                        Err(e) => {
                            self.ended = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
            }
        }
    }
}

/// The fallback's receive: a read at the socket's "current position" (no
/// stash ticket: `PooledRecv` owns the op, and a dropped `next()` leaves
/// it in `pending` for the next call).
fn plain_recv(fd: &SharedFd, size: usize) -> Submit<crate::op::Read<Vec<u8>>> {
    submit(crate::op::Read::current(
        fd.clone(),
        Vec::with_capacity(size),
    ))
}

impl Drop for PooledRecv {
    fn drop(&mut self) {
        if let Some(ring) = self.pool.ring() {
            ring.cancel_wait(&mut self.registration);
            // A buffer we were woken for but never used is someone else's.
            ring.kick();
        }
    }
}

impl Stream for PooledRecv {
    type Item = io::Result<PooledBuf>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl std::fmt::Debug for PooledRecv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledRecv")
            .field("fd", &self.fd)
            .field("pool", &self.pool)
            .field("ended", &self.ended)
            .finish()
    }
}
