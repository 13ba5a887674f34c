//! A shared pool of receive buffers: [`BufPool`] (a provided-buffer ring)
//! and the [`PooledBuf`]s it hands out.
//!
//! With a plain `read`, every connection waiting for data lends the kernel
//! a buffer of its own: 10,000 idle connections with 4 KiB buffers pin
//! 40 MiB that hold nothing. With a pool, the kernel picks a buffer only
//! when data arrives; an idle connection holds none. A [`PooledBuf`] goes
//! back to the pool when dropped. A stream receives into a pool through
//! [`PooledRecv`](crate::net::PooledRecv), made by `recv_pooled` on
//! [`TcpStream`](crate::net::TcpStream::recv_pooled) and
//! [`UnixStream`](crate::net::UnixStream::recv_pooled).
//!
//! ```no_run
//! use curing::buf::BufPool;
//! use curing::net::TcpListener;
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

use super::IoBuf;
use crate::driver::RingShared;
use std::io;
use std::ops::Deref;
use std::rc::Rc;

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
/// with `ENOBUFS`; [`PooledRecv`](crate::net::PooledRecv) then waits (in
/// line, first come first served) until a buffer comes back and re-arms.
/// It is never an error for the connection. Data meanwhile waits in the
/// socket's kernel buffer (and TCP flow control slows the peer).
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
/// assert_send::<curing::buf::BufPool>();
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
        let ring = crate::driver::current().register_buf_ring(count, buf_size);
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

    /// The registered ring, or `None` in fallback mode.
    pub(crate) fn ring(&self) -> Option<&Rc<RingShared>> {
        self.ring.as_ref()
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
/// It is an [`IoBuf`]: it can be written as it is, with no copy (an echo
/// or a proxy forwards what it received), and goes back to the pool when
/// the write gives it back and it is dropped.
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

impl PooledBuf {
    /// Buffer `bid` of `ring`, into which the kernel received `len` bytes
    /// (the driver counted it as taken when it reaped the CQE).
    pub(crate) fn from_ring(ring: Rc<RingShared>, bid: u16, len: usize) -> PooledBuf {
        PooledBuf {
            inner: Inner::Ring { ring, bid, len },
        }
    }

    /// A fallback-mode buffer: the bytes an ordinary receive got.
    pub(crate) fn from_heap(data: Vec<u8>) -> PooledBuf {
        PooledBuf {
            inner: Inner::Heap(data),
        }
    }
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
unsafe impl IoBuf for PooledBuf {
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
