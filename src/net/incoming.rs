//! `Incoming`: a listener's connections as an async stream, through one
//! multishot accept.
//!
//! One SQE keeps accepting until the kernel ends it (an error, a full CQ,
//! a cancel); the stream then re-arms it transparently. On kernels before
//! 5.19 (no multishot accept, detected by probing `IORING_OP_SOCKET`, which
//! came in the same release), it loops over single accepts instead.
//!
//! ## Running out of descriptors
//!
//! `EMFILE`/`ENFILE` (and `ENOBUFS`/`ENOMEM`) leave the connection queued
//! in the kernel, so accepting again at once would fail again at once: a
//! busy loop. `Incoming` reports the error as an item and then *backs off*
//! before accepting again: 5 ms, doubling up to 1 s, reset by the next
//! success. The listener stays open; the queued connections are accepted
//! once descriptors are free again.

use crate::driver::op::Submit;
use crate::driver::{submit, Multishot};
use crate::fd::SharedFd;
use crate::op::accept::Accept;
use crate::op::accept_multi::AcceptMulti;
use crate::time::{sleep, Sleep};
use futures_core::Stream;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// First pause after a resource error.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Connections of a listener, as an async [`Stream`] of
/// `io::Result<S>` (`S` is `TcpStream` or `UnixStream`). Made by
/// [`TcpListener::incoming`](super::TcpListener::incoming) and
/// [`UnixListener::incoming`](super::UnixListener::incoming).
///
/// One SQE keeps accepting until the kernel ends it (an error, a full CQ,
/// a cancel); the stream then re-arms it transparently. On kernels before
/// 5.19 (no multishot accept, detected by probing `IORING_OP_SOCKET`, which
/// came in the same release), it loops over single accepts instead.
///
/// ## Running out of descriptors
///
/// `EMFILE`/`ENFILE` (and `ENOBUFS`/`ENOMEM`) leave the connection queued
/// in the kernel, so accepting again at once would fail again at once: a
/// busy loop. `Incoming` reports the error as an item and then *backs off*
/// before accepting again: 5 ms, doubling up to 1 s, reset by the next
/// success. The listener stays open; the queued connections are accepted
/// once descriptors are free again.
///
/// Errors are items: a transient one (`ECONNABORTED`, `EMFILE`, ...) is
/// followed by more connections; after one that means the socket cannot
/// accept at all (`EINVAL`: not listening, `EBADF`, `ENOTSOCK`,
/// `Unsupported`) the stream ends. Dropping the stream cancels the accept;
/// a connection the kernel accepted anyway is closed.
pub struct Incoming<S> {
    /// The listening socket.
    fd: SharedFd,
    /// How connections are taken; chosen at first poll (the probe needs
    /// the runtime).
    mode: Option<Mode>,
    /// Wraps a new fd in the stream type.
    make: fn(OwnedFd) -> S,
    /// The pause after the last resource error; zero after a success.
    backoff: Duration,
    /// The pause in progress.
    pause: Option<Sleep>,
    /// Resource errors seen (each was reported as an item).
    resource_errors: u64,
    /// A fatal error was reported: no more items.
    ended: bool,
}

enum Mode {
    /// One multishot accept, re-armed whenever the kernel ends it.
    Multi(Multishot<AcceptMulti>),
    /// A loop of single accepts (kernels before 5.19).
    Single(Option<Submit<Accept>>),
}

impl<S> Incoming<S> {
    pub(crate) fn new(fd: SharedFd, make: fn(OwnedFd) -> S) -> Incoming<S> {
        Incoming {
            fd,
            mode: None,
            make,
            backoff: Duration::ZERO,
            pause: None,
            resource_errors: 0,
            ended: false,
        }
    }

    /// The next connection (or error); `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<io::Result<S>> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// How many times accepting failed for lack of descriptors or memory
    /// (and backed off).
    pub fn resource_errors(&self) -> u64 {
        self.resource_errors
    }

    /// Whether connections come from one multishot accept (`false`: a
    /// loop of single accepts, or not polled yet).
    pub fn is_multishot(&self) -> bool {
        matches!(self.mode, Some(Mode::Multi(_)))
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<S>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(pause) = &mut self.pause {
            ready!(Pin::new(pause).poll(cx));
            self.pause = None;
        }
        let fd = self.fd.clone();
        let mode = self.mode.get_or_insert_with(|| {
            if crate::driver::features().accept_multishot {
                Mode::Multi(Multishot::new(AcceptMulti::new(fd)))
            } else {
                Mode::Single(None)
            }
        });
        let result = match mode {
            Mode::Multi(m) => ready!(m.poll_next(cx))
                .result
                .map(|n| crate::sys::owned(n as i32)),
            Mode::Single(pending) => {
                let fut = pending.get_or_insert_with(|| submit(Accept::new(self.fd.clone())));
                let r = ready!(Pin::new(fut).poll(cx));
                *pending = None;
                r.map(|(fd, _)| fd)
            }
        };
        Poll::Ready(Some(match result {
            Ok(fd) => {
                self.backoff = Duration::ZERO;
                Ok((self.make)(fd))
            }
            Err(e) => {
                self.on_error(&e);
                Err(e)
            }
        }))
    }

    fn on_error(&mut self, e: &io::Error) {
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                self.resource_errors += 1;
                self.backoff = (self.backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                self.pause = Some(sleep(self.backoff));
            }
            Some(libc::EINVAL | libc::EBADF | libc::ENOTSOCK | libc::EOPNOTSUPP) => {
                self.ended = true
            }
            _ if e.kind() == io::ErrorKind::Unsupported => self.ended = true,
            _ => {}
        }
    }
}

impl<S> Stream for Incoming<S> {
    type Item = io::Result<S>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<S>>> {
        self.get_mut().poll_accept(cx)
    }
}

impl<S> std::fmt::Debug for Incoming<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("fd", &self.fd)
            .field("multishot", &self.is_multishot())
            .field("resource_errors", &self.resource_errors)
            .finish()
    }
}
