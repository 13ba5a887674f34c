//! `SharedFd`: a descriptor kept open while any op on it is in flight.
//!
//! Every op on a file or socket holds a clone, so the fd number cannot be
//! closed (and reused by another `open`) while the kernel may still act on it
//! (rule 5): an abandoned op keeps its clone until its CQE. The last clone to
//! go closes the fd; [`SharedFd::close`] waits for the other clones to go
//! first, then closes through io_uring and reports the kernel's answer.
//!
//! ## Cancelled stream reads lose no bytes
//!
//! A read whose future is dropped may still complete with data (the cancel
//! came too late). Stream reads hold a [`ReadTicket`]; a late completion puts
//! its bytes in the fd's stash, and the next read returns the stash before
//! asking the kernel. A new read also waits until every earlier read on the
//! fd has resolved, so stashed bytes are never overtaken by newer ones.

use crate::buf::{self, BufResult, IoBufMut};
use crate::driver::submit;
use crate::op;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};

/// A reference-counted fd; see the module docs.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    /// The descriptor; owned (closed on drop) unless `released`.
    fd: RawFd,
    /// Set when [`SharedFd::close`] took over closing the fd.
    released: Cell<bool>,
    /// Waker of a `close` waiting for the other clones to go.
    closer: RefCell<Option<Waker>>,
    /// Bytes that reads abandoned by their futures received anyway.
    stash: RefCell<Vec<u8>>,
    /// Stream reads in flight on this fd (each holds a `ReadTicket`).
    reads_in_flight: Cell<usize>,
    /// New reads waiting for `reads_in_flight` to reach zero.
    read_waiters: RefCell<Vec<Waker>>,
    /// The last receive got less than it asked for: the socket's buffer
    /// was most likely emptied, so the next receive should wait for data
    /// before trying (see [`SharedFd::recv_drained`]).
    drained: Cell<bool>,
    /// Opened with `O_DIRECT`: ops on it go to the device, and the driver
    /// hands them to the kernel soon (see `Op::eager`).
    direct: bool,
}

impl SharedFd {
    /// Takes ownership of `fd`.
    pub(crate) fn new(fd: OwnedFd) -> SharedFd {
        SharedFd::with_direct(fd, false)
    }

    /// Takes ownership of `fd`, which was opened with `O_DIRECT` if
    /// `direct`.
    pub(crate) fn with_direct(fd: OwnedFd, direct: bool) -> SharedFd {
        use std::os::fd::IntoRawFd;
        SharedFd {
            inner: Rc::new(Inner {
                fd: fd.into_raw_fd(),
                released: Cell::new(false),
                closer: RefCell::new(None),
                stash: RefCell::new(Vec::new()),
                reads_in_flight: Cell::new(0),
                read_waiters: RefCell::new(Vec::new()),
                drained: Cell::new(false),
                direct,
            }),
        }
    }

    /// Whether the fd was opened with `O_DIRECT` (as far as curing saw:
    /// at its open, or when it was adopted).
    #[inline]
    pub(crate) fn is_direct(&self) -> bool {
        self.inner.direct
    }

    /// The fd number, for building SQEs.
    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd
    }

    /// Waits until this is the last clone (no op on the fd is in flight any
    /// more), then closes the fd through io_uring and reports the result.
    pub(crate) async fn close(self) -> io::Result<()> {
        poll_fn(|cx| {
            if Rc::strong_count(&self.inner) == 1 {
                return Poll::Ready(());
            }
            let old = self.inner.closer.replace(Some(cx.waker().clone()));
            drop(old);
            Poll::Pending
        })
        .await;
        self.inner.released.set(true);
        submit(op::Close::new(self.inner.fd)).await
    }

    /// Reads from a stream fd (socket, pipe) into `buf`: stashed bytes
    /// first, otherwise one `op` built by `make_op` with a ticket.
    pub(crate) async fn stream_read<B, O>(
        &self,
        mut buf: B,
        make_op: impl FnOnce(B, ReadTicket) -> O,
    ) -> BufResult<usize, B>
    where
        B: IoBufMut,
        O: crate::driver::Op<Output = BufResult<usize, B>>,
    {
        self.reads_idle().await;
        if buf.bytes_total() > 0 && self.stashed() > 0 {
            // Bytes ready without the kernel: spends the task's budget.
            crate::coop::proceed().await;
            let mut stash = self.inner.stash.borrow_mut();
            if !stash.is_empty() {
                let n = buf::fill_from(&mut buf, &stash);
                stash.drain(..n);
                return (Ok(n), buf);
            }
        }
        let ticket = ReadTicket::new(self.clone());
        submit(make_op(buf, ticket)).await
    }

    /// Waits until no earlier stream read on this fd is in flight.
    async fn reads_idle(&self) {
        poll_fn(|cx| {
            if self.inner.reads_in_flight.get() == 0 {
                return Poll::Ready(());
            }
            self.inner
                .read_waiters
                .borrow_mut()
                .push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Whether the last receive on this fd got less than it asked for
    /// (set by [`set_recv_drained`](SharedFd::set_recv_drained)). A stream
    /// that was just read dry almost never has data at the next receive,
    /// so that receive skips its first, failing attempt and waits for data
    /// straight away (`IORING_RECVSEND_POLL_FIRST`): in a request/response
    /// exchange that is one socket lock and one `EAGAIN` less per message.
    pub(crate) fn recv_drained(&self) -> bool {
        self.inner.drained.get()
    }

    /// Records whether a receive of `asked` bytes that got `got` emptied
    /// the socket's buffer (a short read).
    pub(crate) fn set_recv_drained(&self, got: usize, asked: usize) {
        self.inner.drained.set(got < asked);
    }

    /// Bytes currently stashed.
    pub(crate) fn stashed(&self) -> usize {
        self.inner.stash.borrow().len()
    }
}

impl Drop for SharedFd {
    fn drop(&mut self) {
        // The clone about to go leaves exactly one: the closer's.
        if Rc::strong_count(&self.inner) == 2 {
            let closer = self.inner.closer.borrow_mut().take();
            if let Some(w) = closer {
                w.wake();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.released.get() {
            // No op is in flight on it (each holds a clone): closing now is
            // safe, and synchronous close(2) of an idle fd does not block.
            drop(crate::sys::owned(self.fd));
        }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd
    }
}

impl std::fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedFd({})", self.inner.fd)
    }
}

/// Held by a stream read while it may still receive bytes; see module docs.
pub(crate) struct ReadTicket {
    fd: SharedFd,
}

impl ReadTicket {
    fn new(fd: SharedFd) -> ReadTicket {
        fd.inner
            .reads_in_flight
            .set(fd.inner.reads_in_flight.get() + 1);
        ReadTicket { fd }
    }

    /// The fd the read is on.
    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// A late completion's bytes, kept for the next read.
    pub(crate) fn stash(self, data: &[u8]) {
        self.fd.inner.stash.borrow_mut().extend_from_slice(data);
    }
}

impl Drop for ReadTicket {
    fn drop(&mut self) {
        let inner = &self.fd.inner;
        inner.reads_in_flight.set(inner.reads_in_flight.get() - 1);
        if inner.reads_in_flight.get() == 0 {
            let waiters = std::mem::take(&mut *inner.read_waiters.borrow_mut());
            for w in waiters {
                w.wake();
            }
        }
    }
}

impl SharedFd {
    /// Borrows the fd as a `BorrowedFd` for the lifetime of `&self`.
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the fd stays open while `self` (a clone of the owning Rc)
        // lives: only the last clone's drop, or `close` (which consumes a
        // clone and waits to be the last), closes it.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.inner.fd) }
    }
}
