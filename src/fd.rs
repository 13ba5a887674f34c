//! `SharedFd`: a descriptor kept open while any op on it is in flight.
//!
//! Every op on a file or socket holds a clone, so the fd number cannot be
//! closed (and reused by another `open`) while the kernel may still act on it:
//! closing does not cancel an op, and a queued SQE acts on whatever file has
//! the number when it is submitted. An abandoned op keeps its clone until its
//! CQE. The last clone to
//! go closes the fd; [`SharedFd::close`] waits for the other clones to go
//! first, then closes through io_uring and reports the kernel's answer.
//!
//! ## Cancelled stream reads lose nothing
//!
//! A read whose future is dropped may still complete (the cancel came too
//! late): with data, with end of stream, or with an error such as a reset.
//! Stream reads hold a [`ReadTicket`]; a late completion puts its whole
//! outcome in the fd's [`Stash`] (the bytes, then the end of stream or the
//! error), and the next reads return the stash, in that order, before
//! asking the kernel again. A new read also waits until every earlier read
//! on the fd has resolved, so stashed bytes are never overtaken by newer
//! ones.
//!
//! A read that continues an earlier one (`read_exact` after a short read)
//! passes the bytes it already holds as a *prefix* at the front of its
//! buffer: if it is dropped, the prefix goes back to the stash ahead of
//! anything the cut-off read received, so a cancelled `read_exact` loses
//! nothing either.
//!
//! [`FileRef`] names the file of an op that takes a plain fd or a slot of
//! the ring's registered file table (a `FileSlot`, kept registered by the
//! op as a `SharedFd` is kept open).

use crate::buf::{self, BufResult, IoBuf, IoBufMut};
use crate::driver::{submit, FileSlot};

use crate::sys::msg::RecvMeta;
use io_uring::types;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};

/// A reference-counted fd; see the module docs.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    /// The descriptor's number, for SQEs.
    fd: RawFd,
    /// The descriptor itself, closed when the last clone goes: no op is in
    /// flight on it then (each holds a clone), so closing is safe, and
    /// close(2) of an idle fd does not block. `None` once
    /// [`SharedFd::close`] took it to close it through the ring.
    owned: Option<OwnedFd>,
    /// Waker of a `close` waiting for the other clones to go.
    closer: RefCell<Option<Waker>>,
    /// What reads abandoned by their futures received anyway.
    stash: RefCell<Stash>,
    /// Stream reads in flight on this fd (each holds a `ReadTicket`).
    reads_in_flight: Cell<usize>,
    /// New reads waiting for `reads_in_flight` to reach zero, by waiter id
    /// (a waiter that is dropped takes its entry out).
    read_waiters: RefCell<Vec<(u64, Waker)>>,
    /// The id of the next read waiter.
    next_waiter: Cell<u64>,
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
        SharedFd {
            inner: Rc::new(Inner {
                fd: fd.as_raw_fd(),
                owned: Some(fd),
                closer: RefCell::new(None),
                stash: RefCell::new(Stash::default()),
                reads_in_flight: Cell::new(0),
                read_waiters: RefCell::new(Vec::new()),
                next_waiter: Cell::new(0),
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
    /// more), then gives the fd out, to be closed through the ring (see
    /// `op::close`).
    pub(crate) async fn into_last(mut self) -> OwnedFd {
        poll_fn(|cx| {
            if Rc::strong_count(&self.inner) == 1 {
                return Poll::Ready(());
            }
            let old = self.inner.closer.replace(Some(cx.waker().clone()));
            drop(old);
            Poll::Pending
        })
        .await;
        let inner = Rc::get_mut(&mut self.inner).expect("the last clone (no weak ones are made)");
        inner
            .owned
            .take()
            .expect("only into_last takes the fd, and it consumes a clone")
    }

    /// Puts `bytes` (read from this stream and not consumed) back in front
    /// of the stash, so the next stream read returns them first.
    pub(crate) fn unread(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            let mut stash = self.inner.stash.borrow_mut();
            stash.bytes.splice(0..0, bytes.iter().copied());
        }
    }

    /// Reads from a stream fd (socket, pipe) into `buf`: stashed bytes
    /// first, otherwise one `op` built by `make_op` with a ticket.
    pub(crate) async fn stream_read<B, O>(
        &self,
        buf: B,
        make_op: impl FnOnce(B, ReadTicket) -> O,
    ) -> BufResult<usize, B>
    where
        B: IoBufMut,
        O: crate::driver::Op<Output = BufResult<usize, B>>,
    {
        self.stream_read_after(buf, 0, make_op).await
    }

    /// The common case of a stream read, decided without a future: when no
    /// earlier read on the fd is in flight and nothing is stashed, the op of
    /// a read into `buf` from its start (holding its ticket), ready to
    /// submit; otherwise `buf` back, for
    /// [`stream_read_after`](SharedFd::stream_read_after). The two give the
    /// same answer in this case: that path, too, builds the op at once.
    #[inline]
    pub(crate) fn plain_read_op<B, O>(
        &self,
        buf: B,
        make_op: impl FnOnce(B, ReadTicket) -> O,
    ) -> Result<O, B> {
        if self.inner.reads_in_flight.get() != 0 || self.inner.stash.borrow().is_ready() {
            return Err(buf);
        }
        Ok(make_op(buf, ReadTicket::new(self.clone(), 0)))
    }

    /// Like [`stream_read`](SharedFd::stream_read), into `buf` from offset
    /// `prefix` on: the first `prefix` bytes of `buf` are bytes the caller
    /// read before (initialised), which go back to the stash, in front, if
    /// this read is dropped. Returns how many bytes this read added.
    pub(crate) async fn stream_read_after<B, O>(
        &self,
        buf: B,
        prefix: usize,
        make_op: impl FnOnce(B, ReadTicket) -> O,
    ) -> BufResult<usize, B>
    where
        B: IoBufMut,
        O: crate::driver::Op<Output = BufResult<usize, B>>,
    {
        debug_assert!(prefix <= buf.bytes_init() && prefix <= buf.bytes_total());
        // A buffer with no room asks the kernel (which answers 0 at once)
        // and leaves the stash to reads that can take from it.
        let room = buf.bytes_total() > prefix;
        let mut held = Held {
            fd: self,
            buf: Some(buf),
            prefix,
        };
        // Checked here first: a read with none before it in flight (the
        // common case) then builds no waiting future at all.
        if self.inner.reads_in_flight.get() != 0 {
            self.reads_idle().await;
        }
        if room && self.inner.stash.borrow().is_ready() {
            // Ready without the kernel: spends the task's budget.
            crate::coop::proceed().await;
            let mut buf = held.take();
            let mut stash = self.inner.stash.borrow_mut();
            if !stash.bytes.is_empty() {
                let n = buf::fill_from_at(&mut buf, prefix, &stash.bytes);
                stash.bytes.drain(..n);
                return (Ok(n), buf);
            }
            if let Some(end) = stash.end.take() {
                return (end.into_result(), buf);
            }
            drop(stash);
            held.buf = Some(buf);
        }
        let ticket = ReadTicket::new(self.clone(), prefix);
        submit(make_op(held.take(), ticket)).await
    }

    /// Like [`stream_read`](SharedFd::stream_read), giving up when
    /// `deadline` resolves first: then the op is cancelled and awaited, so
    /// the buffer comes back with `TimedOut` (or with the bytes the op got
    /// before the cancel reached it). Waiting behind an earlier read also
    /// ends at the deadline. `buf` must have room (`bytes_total() > 0`).
    pub(crate) async fn stream_read_deadline<B, O>(
        &self,
        buf: B,
        make_op: impl FnOnce(B, ReadTicket) -> O,
        deadline: impl std::future::Future<Output = ()>,
    ) -> BufResult<usize, B>
    where
        B: IoBufMut,
        O: crate::driver::Op<Output = BufResult<usize, B>>,
    {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "read deadline passed");
        let mut deadline = std::pin::pin!(deadline);
        let mut held = Held {
            fd: self,
            buf: Some(buf),
            prefix: 0,
        };
        let idle = self.reads_idle();
        let mut idle = std::pin::pin!(idle);
        let late = poll_fn(|cx| {
            if idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            deadline.as_mut().poll(cx).map(|()| true)
        })
        .await;
        if late {
            return (Err(timed_out()), held.take());
        }
        if self.inner.stash.borrow().is_ready() {
            crate::coop::proceed().await;
            let mut buf = held.take();
            let mut stash = self.inner.stash.borrow_mut();
            if !stash.bytes.is_empty() {
                let n = buf::fill_from_at(&mut buf, 0, &stash.bytes);
                stash.bytes.drain(..n);
                return (Ok(n), buf);
            }
            if let Some(end) = stash.end.take() {
                return (end.into_result(), buf);
            }
            drop(stash);
            held.buf = Some(buf);
        }
        let ticket = ReadTicket::new(self.clone(), 0);
        let mut op = submit(make_op(held.take(), ticket));
        let mut cancelled = false;
        let (res, buf) = poll_fn(|cx| {
            if let Poll::Ready(out) = std::pin::Pin::new(&mut op).poll(cx) {
                return Poll::Ready(out);
            }
            if !cancelled && deadline.as_mut().poll(cx).is_ready() {
                cancelled = true;
                if let Some(out) = op.cancel() {
                    return Poll::Ready(out);
                }
            }
            Poll::Pending
        })
        .await;
        match res {
            Err(e) if cancelled && e.raw_os_error() == Some(libc::ECANCELED) => {
                (Err(timed_out()), buf)
            }
            res => (res, buf),
        }
    }

    /// Reads until `buf` is full (`bytes_total` bytes from its start), one
    /// [`stream_read_after`](SharedFd::stream_read_after) at a time, so a
    /// dropped call gives the bytes it had read back to the stream.
    pub(crate) async fn stream_read_exact<B, O>(
        &self,
        buf: B,
        make_op: impl Fn(B, ReadTicket) -> O,
    ) -> BufResult<(), B>
    where
        B: IoBufMut,
        O: crate::driver::Op<Output = BufResult<usize, B>>,
    {
        let total = buf.bytes_total();
        let mut filled = 0;
        let mut buf = buf;
        while filled < total {
            let (res, b) = self.stream_read_after(buf, filled, &make_op).await;
            buf = b;
            match res {
                Ok(0) => return (Err(buf::unexpected_eof(filled, total)), buf),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Reads to end of stream, appending to `out`; returns how many bytes
    /// were appended, with `out` (holding what was read, also on error).
    /// What this call read is its prefix on every read, so a dropped call
    /// gives it back to the stream.
    pub(crate) async fn stream_read_to_end<O>(
        &self,
        mut out: Vec<u8>,
        make_op: impl Fn(Vec<u8>, ReadTicket) -> O,
    ) -> BufResult<usize, Vec<u8>>
    where
        O: crate::driver::Op<Output = BufResult<usize, Vec<u8>>>,
    {
        // The caller's own bytes in `out` are not the stream's: read into a
        // vector of our own unless `out` is empty.
        let start = out.len();
        let mut got = if start == 0 {
            std::mem::take(&mut out)
        } else {
            Vec::new()
        };
        let res = loop {
            if got.capacity() - got.len() < 4096 {
                got.reserve(got.capacity().max(8192));
            }
            let prefix = got.len();
            let (res, b) = self.stream_read_after(got, prefix, &make_op).await;
            got = b;
            match res {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let n = got.len();
        if start == 0 {
            out = got;
        } else {
            out.extend_from_slice(&got);
        }
        (res.map(|()| n), out)
    }

    /// Waits until no earlier stream read on this fd is in flight. A waiter
    /// dropped before then takes its waker out of the list.
    async fn reads_idle(&self) {
        struct Waiting<'a> {
            inner: &'a Inner,
            id: Option<u64>,
        }
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if let Some(id) = self.id {
                    let mut waiters = self.inner.read_waiters.borrow_mut();
                    if let Some(i) = waiters.iter().position(|(w, _)| *w == id) {
                        let (_, waker) = waiters.swap_remove(i);
                        drop(waiters);
                        drop(waker);
                    }
                }
            }
        }
        if self.inner.reads_in_flight.get() == 0 {
            return;
        }
        let mut waiting = Waiting {
            inner: &self.inner,
            id: None,
        };
        poll_fn(|cx| {
            let inner = waiting.inner;
            if inner.reads_in_flight.get() == 0 {
                return Poll::Ready(());
            }
            let mut waiters = inner.read_waiters.borrow_mut();
            let mine = waiting
                .id
                .and_then(|id| waiters.iter_mut().find(|(w, _)| *w == id));
            let old = match mine {
                Some((_, waker)) => Some(std::mem::replace(waker, cx.waker().clone())),
                None => {
                    // Not registered yet, or woken and taken out since.
                    let id = inner.next_waiter.get();
                    inner.next_waiter.set(id + 1);
                    waiters.push((id, cx.waker().clone()));
                    waiting.id = Some(id);
                    None
                }
            };
            drop(waiters);
            drop(old);
            Poll::Pending
        })
        .await
    }

    /// A datagram receive's turn: waits until no earlier receive on this fd
    /// is in flight, then takes the oldest datagram (or error) a cut-off
    /// receive left, spending budget, or, when there is none, gives the
    /// ticket for a new receive.
    pub(crate) async fn datagram_turn(&self) -> Result<LateDatagram, ReadTicket> {
        loop {
            self.reads_idle().await;
            if self.inner.stash.borrow().datagrams.is_empty() {
                return Err(ReadTicket::new(self.clone(), 0));
            }
            // Ready without the kernel: spends the task's budget.
            crate::coop::proceed().await;
            if let Some(late) = self.inner.stash.borrow_mut().datagrams.pop_front() {
                return Ok(late);
            }
        }
    }

    /// Stream-read waiters registered now (for tests).
    #[cfg(test)]
    pub(crate) fn read_waiters(&self) -> usize {
        self.inner.read_waiters.borrow().len()
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
}

/// What abandoned stream reads received, for the next reads: bytes, then
/// the end of stream or the error that came after them.
#[derive(Default)]
pub(crate) struct Stash {
    /// Bytes not yet handed to a read, in stream order.
    bytes: Vec<u8>,
    /// What a cut-off read met after `bytes`: handed to the read after the
    /// bytes are gone, once.
    end: Option<End>,
    /// On a datagram socket: what cut-off receives got, oldest first, each
    /// for one later receive.
    datagrams: VecDeque<LateDatagram>,
}

/// A datagram (its bytes, as many as the cut-off receive's buffer held, and
/// what the kernel said of it) or the error a cut-off receive got.
pub(crate) type LateDatagram = io::Result<(Vec<u8>, RecvMeta)>;

impl Stash {
    /// Whether a read can be served from the stash.
    fn is_ready(&self) -> bool {
        !self.bytes.is_empty() || self.end.is_some()
    }
}

/// How a cut-off stream read ended, other than with bytes.
enum End {
    /// End of stream (`Ok(0)`).
    Eof,
    /// An error the kernel reported (a reset connection, ...).
    Error(io::Error),
}

impl End {
    fn into_result(self) -> io::Result<usize> {
        match self {
            End::Eof => Ok(0),
            End::Error(e) => Err(e),
        }
    }
}

/// A buffer that a stream read holds before its op owns it: if the read is
/// dropped then, the caller's prefix goes back to the front of the stash.
struct Held<'a, B: IoBuf> {
    fd: &'a SharedFd,
    buf: Option<B>,
    prefix: usize,
}

impl<B: IoBuf> Held<'_, B> {
    fn take(&mut self) -> B {
        self.buf.take().expect("buffer held until taken once")
    }
}

impl<B: IoBuf> Drop for Held<'_, B> {
    fn drop(&mut self) {
        if let Some(buf) = &self.buf {
            self.fd.inner.give_back(buf, self.prefix);
        }
    }
}

impl Inner {
    /// Puts the first `prefix` bytes of `buf`, which a cut-off read had
    /// already taken from the stream, back in front of the stash.
    fn give_back<B: IoBuf>(&self, buf: &B, prefix: usize) {
        if prefix > 0 {
            let prefix = buf::init_bytes(buf, prefix);
            let mut stash = self.stash.borrow_mut();
            stash.bytes.splice(0..0, prefix.iter().copied());
        }
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
    /// Bytes at the front of the read's buffer that an earlier read of the
    /// same caller got; the read writes after them.
    prefix: usize,
}

impl ReadTicket {
    fn new(fd: SharedFd, prefix: usize) -> ReadTicket {
        fd.inner
            .reads_in_flight
            .set(fd.inner.reads_in_flight.get() + 1);
        ReadTicket { fd, prefix }
    }

    /// The fd the read is on.
    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// Where in its buffer the read writes: after the caller's prefix.
    pub(crate) fn prefix(&self) -> usize {
        self.prefix
    }

    /// A read that never reached the kernel (its op was dropped before it
    /// was pushed): the caller's prefix goes back to the front of the stash.
    pub(crate) fn unread<B: IoBuf>(self, buf: &B) {
        self.fd.inner.give_back(buf, self.prefix);
    }

    /// A late completion's outcome, kept for the next reads: `buf` holds
    /// the caller's prefix then what the kernel wrote, `result` is the
    /// completion's, and `asked` the bytes the read asked for. A cancel
    /// that won (`ECANCELED`) received nothing; end of stream counts only
    /// for a read that asked for bytes.
    pub(crate) fn settle<B: IoBuf>(self, buf: &B, result: &io::Result<u32>, asked: usize) {
        let mut stash = self.fd.inner.stash.borrow_mut();
        let got = *result.as_ref().unwrap_or(&0) as usize;
        let bytes = buf::init_bytes(buf, self.prefix + got);
        stash.bytes.extend_from_slice(bytes);
        let end = match result {
            Ok(0) if asked > 0 => Some(End::Eof),
            Ok(_) => None,
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => None,
            Err(e) => Some(End::Error(clone_error(e))),
        };
        if stash.end.is_none() {
            stash.end = end;
        }
    }
}

impl ReadTicket {
    /// A cut-off datagram receive's outcome, for a later receive. A cancel
    /// that won (`ECANCELED`) received nothing.
    pub(crate) fn settle_datagram(self, late: LateDatagram) {
        if let Err(e) = &late {
            if e.raw_os_error() == Some(libc::ECANCELED) {
                return;
            }
        }
        self.fd.inner.stash.borrow_mut().datagrams.push_back(late);
    }
}

/// A copy of a kernel error (`io::Error` is not `Clone`).
fn clone_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl Drop for ReadTicket {
    fn drop(&mut self) {
        let inner = &self.fd.inner;
        inner.reads_in_flight.set(inner.reads_in_flight.get() - 1);
        if inner.reads_in_flight.get() == 0 && !inner.read_waiters.borrow().is_empty() {
            let waiters = std::mem::take(&mut *inner.read_waiters.borrow_mut());
            for (_, w) in waiters {
                w.wake();
            }
        }
    }
}

impl SharedFd {
    /// Borrows the fd as a `BorrowedFd` for the lifetime of `&self`.
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        let fd = self.inner.owned.as_ref();
        // Only `close` takes it, consuming the last clone: never `self`.
        fd.expect("open while a clone lives").as_fd()
    }
}

/// The file an op acts on: a plain fd or a registered slot of the ring's
/// file table, each kept (open, or registered) by the op until its CQE.
pub(crate) enum FileRef {
    /// A descriptor, kept open.
    Fd(SharedFd),
    /// A slot of the file table, kept registered.
    Fixed(Rc<FileSlot>),
}

impl FileRef {
    /// Builds an SQE with the fd, or with the slot and `IOSQE_FIXED_FILE`.
    pub(crate) fn build<E>(
        &self,
        fd: impl FnOnce(types::Fd) -> E,
        fixed: impl FnOnce(types::Fixed) -> E,
    ) -> E {
        match self {
            FileRef::Fd(f) => fd(types::Fd(f.raw())),
            FileRef::Fixed(s) => fixed(types::Fixed(s.index())),
        }
    }

    /// Whether the file was opened with `O_DIRECT`.
    #[inline]
    pub(crate) fn is_direct(&self) -> bool {
        match self {
            FileRef::Fd(f) => f.is_direct(),
            FileRef::Fixed(s) => s.is_direct(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::time::Duration;

    /// A read waiting for an earlier read takes its waker out of the list
    /// when it is dropped, and polling it again does not add a second one.
    #[test]
    fn dropped_read_waiters_leave_nothing_behind() {
        crate::run(async {
            let (a, b) = crate::sys::sockopt::socketpair(libc::SOCK_STREAM).unwrap();
            let fd = SharedFd::new(a);
            // One read parked on the idle stream.
            let parked = {
                let fd = fd.clone();
                crate::spawn(
                    async move { fd.stream_read(vec![0u8; 8], crate::op::Recv::new).await.0 },
                )
            };
            crate::yield_now().await;
            assert_eq!(fd.inner.reads_in_flight.get(), 1);
            for _ in 0..10_000 {
                let read = fd.stream_read(vec![0u8; 8], crate::op::Recv::new);
                let cut = crate::time::timeout(Duration::ZERO, read).await;
                assert!(cut.is_err());
                assert_eq!(fd.read_waiters(), 0, "a dropped waiter left its waker");
            }
            let mut read = Box::pin(fd.stream_read(vec![0u8; 8], crate::op::Recv::new));
            for _ in 0..3 {
                poll_fn(|cx| {
                    assert!(read.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            assert_eq!(fd.read_waiters(), 1, "one entry per waiting read");
            drop(read);
            assert_eq!(fd.read_waiters(), 0);
            let b = std::os::unix::net::UnixStream::from(b);
            std::io::Write::write_all(&mut &b, b"done").unwrap();
            assert_eq!(parked.await.unwrap().unwrap(), 4);
        });
    }
}
