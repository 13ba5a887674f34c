//! Receiving into a shared pool of buffers: [`BufPool`] (a provided-buffer
//! ring) and [`PooledRecv`] (a multishot receive on one stream).
//!
//! With a plain `read`, every connection waiting for data lends the kernel
//! a buffer of its own: 10,000 idle connections with 4 KiB buffers pin
//! 40 MiB that hold nothing. With a pool, the kernel picks a buffer only
//! when data arrives; an idle connection holds none. A [`PooledBuf`] goes
//! back to the pool when dropped.
//!
//! ```no_run
//! use curing::net::{BufPool, TcpListener};
//!
//! # fn main() -> std::io::Result<()> {
//! curing::run(async {
//!     let pool = BufPool::new(256, 4096)?;
//!     let listener = TcpListener::bind("127.0.0.1:7878")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         let pool = pool.clone();
//!         curing::spawn(async move {
//!             let mut rx = stream.recv_pooled(&pool);
//!             while let Some(Ok(buf)) = rx.next().await {
//!                 // `buf` derefs to the received bytes and is written as it
//!                 // is; dropping it (here, the one the write gives back)
//!                 // returns it to the pool.
//!                 let (res, _) = stream.write_all(buf).await;
//!                 if res.is_err() { break }
//!             }
//!         });
//!     }
//! })
//! # }
//! ```
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
//! Without multishot receive and buffer rings (before Linux 6.0, detected
//! by probing `IORING_OP_SEND_ZC`, which came in the same release), or if
//! registering the ring fails, a pool hands out plain heap buffers and each
//! `next()` is an ordinary receive.

use crate::driver::op::Submit;
use crate::driver::{submit, Multishot, RingShared};
use crate::fd::SharedFd;
use crate::op::recv_multi::RecvMulti;
use futures_core::Stream;
use std::future::{poll_fn, Future};
use std::io;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

/// A pool of equal receive buffers shared by many connections (a
/// provided-buffer ring, `IORING_REGISTER_PBUF_RING`). Cloning is cheap
/// (the clones share the pool).
///
/// With a plain `read`, every connection waiting for data lends the kernel
/// a buffer of its own. With a pool, the kernel picks a buffer only when
/// data arrives; an idle connection holds none. A [`PooledBuf`] goes back
/// to the pool when dropped.
///
/// **Exhaustion**: when every buffer is out, the kernel ends a receive
/// with `ENOBUFS`; [`PooledRecv`] then waits (in line, first come first
/// served) until a buffer comes back and re-arms. It is never an error for
/// the connection.
///
/// **Fallback**: without multishot receive and buffer rings (before Linux
/// 6.0, detected by probing `IORING_OP_SEND_ZC`, which came in the same
/// release), or if registering the ring fails, a pool hands out plain heap
/// buffers and each `next()` is an ordinary receive ([`is_ring`](BufPool::is_ring)
/// tells which).
///
/// Not `Send`: a pool belongs to its runtime's thread.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<curing::net::BufPool>();
/// ```
#[derive(Clone)]
pub struct BufPool {
    /// The registered ring, or `None` in fallback mode.
    ring: Option<Rc<RingShared>>,
    /// Bytes per buffer (also the fallback's receive size).
    buf_size: usize,
    /// Number of buffers.
    count: usize,
}

impl BufPool {
    /// A pool of `count` buffers (a power of two, at most 32768) of
    /// `buf_size` bytes, registered with the current runtime's ring. The
    /// memory is mapped lazily: untouched buffers cost no resident memory.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a count that is not a power of two or a zero
    /// size. A kernel without buffer rings is not an error (see Fallback).
    ///
    /// # Panics
    ///
    /// Outside a curing runtime.
    pub fn new(count: u16, buf_size: usize) -> io::Result<BufPool> {
        if !count.is_power_of_two()
            || count > 32768
            || buf_size == 0
            || buf_size > u32::MAX as usize
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer pool needs a power-of-two count (at most 32768) of non-empty buffers",
            ));
        }
        let ctx = crate::driver::current();
        let ring = if ctx.features.buf_ring {
            ctx.driver
                .borrow_mut()
                .register_buf_ring(count, buf_size)
                .ok()
        } else {
            None
        };
        Ok(BufPool {
            ring,
            buf_size,
            count: usize::from(count),
        })
    }

    /// Bytes per buffer.
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Number of buffers.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Buffers the kernel can fill right now (all of them in fallback
    /// mode).
    pub fn available(&self) -> usize {
        self.ring.as_ref().map_or(self.count, |r| r.available())
    }

    /// Whether the pool is a registered buffer ring (`false`: fallback).
    pub fn is_ring(&self) -> bool {
        self.ring.is_some()
    }
}

impl std::fmt::Debug for BufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufPool")
            .field("count", &self.count)
            .field("buf_size", &self.buf_size)
            .field("available", &self.available())
            .field("ring", &self.is_ring())
            .finish()
    }
}

/// Received bytes in a pool buffer; derefs to `[u8]`. Dropping it returns
/// the buffer to its pool (safe at any time, even after the runtime is
/// gone).
///
/// It is an [`IoBuf`](crate::buf::IoBuf): it can be written as it is, with
/// no copy (an echo or a proxy forwards what it received), and goes back
/// to the pool when the write gives it back and it is dropped.
pub struct PooledBuf {
    inner: Inner,
}

enum Inner {
    /// Buffer `bid` of a ring, `len` bytes filled.
    Ring {
        ring: Rc<RingShared>,
        bid: u16,
        len: usize,
    },
    /// Fallback mode: a heap buffer.
    Heap(Vec<u8>),
}

impl Deref for PooledBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            Inner::Ring { ring, bid, len } => ring.data(*bid, *len),
            Inner::Heap(v) => v,
        }
    }
}

// SAFETY: the bytes `deref` shows live in the pool's mapping (kept mapped by
// the `Rc<RingShared>` this holds, and never moved) or in a heap `Vec` that is
// never resized; the kernel does not write a ring buffer again until `Drop`
// recycles it, so a write op may read it for as long as it owns `self`.
unsafe impl crate::buf::IoBuf for PooledBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Inner::Ring { ring, bid, .. } = &self.inner {
            ring.recycle(*bid);
        }
    }
}

impl std::fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PooledBuf({} bytes)", self.len())
    }
}

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
        let mode = match &pool.ring {
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
                    let ring = self.pool.ring.as_ref().expect("starved only with a ring");
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
                    let ring = self.pool.ring.as_ref().expect("multishot only with a ring");
                    // (The driver counted the buffer as taken when it reaped
                    // the CQE.)
                    let buf = c.buffer_id().map(|bid| (bid, ring.clone()));
                    match (c.result, buf) {
                        (Ok(n), Some((bid, ring))) if n > 0 => {
                            let inner = Inner::Ring {
                                ring,
                                bid,
                                len: n as usize,
                            };
                            return Poll::Ready(Some(Ok(PooledBuf { inner })));
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
                    let size = self.pool.buf_size;
                    let fut = pending.get_or_insert_with(|| plain_recv(fd, size));
                    let (res, buf) = ready!(Pin::new(fut).poll(cx));
                    *pending = None;
                    match res {
                        Ok(0) => self.ended = true,
                        Ok(_) => {
                            return Poll::Ready(Some(Ok(PooledBuf {
                                inner: Inner::Heap(buf),
                            })))
                        }
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
        if let Some(ring) = &self.pool.ring {
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
