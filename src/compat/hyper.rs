//! hyper 1.x on curing (feature `hyper`): [`Compat`] implements
//! `hyper::rt::Read` and `hyper::rt::Write`, [`CuringExecutor`] spawns
//! hyper's background futures as curing tasks, and [`CuringTimer`] gives
//! hyper curing's timers (for header-read and keep-alive timeouts).
//!
//! ```no_run
//! use curing::compat::{hyper::{CuringTimer}, Compat};
//! use curing::net::TcpListener;
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! # use http_body_util::Full;
//! # use hyper::body::Bytes;
//!
//! # fn main() -> std::io::Result<()> {
//! curing::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:3000")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         curing::spawn(async move {
//!             let service = service_fn(|_req| async {
//!                 Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hi\n"))))
//!             });
//!             let _ = http1::Builder::new()
//!                 .timer(CuringTimer)
//!                 .serve_connection(Compat::new(stream), service)
//!                 .await;
//!         });
//!     }
//! })
//! # }
//! ```
//!
//! hyper's HTTP/1 server and client run on one thread like everything in
//! curing: none of their futures need to be `Send`. (HTTP/2 is not wired
//! up: it needs hyper's `http2` feature and the `h2` crate.)

use super::{Compat, OwnedRead, OwnedWrite};
use hyper::rt::ReadBufCursor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

impl<S: OwnedRead> hyper::rt::Read for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let this = self.get_mut();
        let avail = ready!(this.poll_fill(cx))?;
        let n = avail.len().min(buf.remaining());
        buf.put_slice(&avail[..n]);
        this.consume_buf(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: OwnedWrite> hyper::rt::Write for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_from(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_buf(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_write(cx)
    }
}

/// hyper's executor on curing: [`spawn`](crate::spawn)s each future as a
/// detached task on the current thread's runtime (no `Send` needed).
///
/// # Panics
///
/// `execute` outside a curing runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct CuringExecutor;

impl<F: Future + 'static> hyper::rt::Executor<F> for CuringExecutor {
    fn execute(&self, fut: F) {
        drop(crate::spawn(fut));
    }
}

/// hyper's timer on curing: sleeps on the current thread's runtime timers.
///
/// hyper wants its sleeps `Send + Sync`; curing's are tied to their thread.
/// So a [`CuringSleep`] holds only its deadline and a ticket; the curing
/// sleep it stands for lives in a table of the thread that first polled
/// it. Polled or dropped on another thread, it registers anew there (the
/// old entry stays until that thread's runtime fires it): curing never
/// moves a connection between threads, so this does not happen in
/// practice.
#[derive(Clone, Copy, Debug, Default)]
pub struct CuringTimer;

impl hyper::rt::Timer for CuringTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CuringSleep::until(
            Instant::now()
                .checked_add(duration)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86400)),
        ))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CuringSleep::until(deadline))
    }
}

thread_local! {
    /// The curing sleeps behind this thread's `CuringSleep`s, by ticket.
    static SLEEPS: RefCell<HashMap<u64, crate::time::Sleep>> = RefCell::new(HashMap::new());
    /// The next ticket.
    static NEXT_TICKET: Cell<u64> = const { Cell::new(0) };
}

/// The `Send + Sync` sleep [`CuringTimer`] gives hyper; see there.
#[derive(Debug)]
pub struct CuringSleep {
    deadline: Instant,
    /// The thread and ticket of the registered curing sleep, once polled.
    registered: Option<(ThreadId, u64)>,
}

impl CuringSleep {
    /// A sleep until `deadline`.
    pub fn until(deadline: Instant) -> CuringSleep {
        CuringSleep {
            deadline,
            registered: None,
        }
    }

    /// Removes this thread's table entry, if it is ours.
    fn unregister(&mut self) {
        if let Some((thread, ticket)) = self.registered.take() {
            if thread == std::thread::current().id() {
                let sleep = SLEEPS
                    .try_with(|s| s.borrow_mut().remove(&ticket))
                    .ok()
                    .flatten();
                drop(sleep);
            }
        }
    }
}

impl Future for CuringSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let here = std::thread::current().id();
        if matches!(this.registered, Some((thread, _)) if thread != here) {
            this.registered = None;
        }
        let ticket = match this.registered {
            Some((_, ticket)) => ticket,
            None => {
                if Instant::now() >= this.deadline {
                    return Poll::Ready(());
                }
                let ticket = NEXT_TICKET.with(|n| n.replace(n.get() + 1));
                SLEEPS.with(|s| {
                    s.borrow_mut()
                        .insert(ticket, crate::time::sleep_until(this.deadline))
                });
                this.registered = Some((here, ticket));
                ticket
            }
        };
        // Taken out while polled, so the table is not borrowed meanwhile.
        let mut sleep = SLEEPS
            .with(|s| s.borrow_mut().remove(&ticket))
            .expect("a registered sleep is in its thread's table");
        if Pin::new(&mut sleep).poll(cx).is_ready() {
            this.registered = None;
            return Poll::Ready(());
        }
        SLEEPS.with(|s| s.borrow_mut().insert(ticket, sleep));
        Poll::Pending
    }
}

impl Drop for CuringSleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl hyper::rt::Sleep for CuringSleep {}
