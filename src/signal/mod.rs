//! Unix signals as async values: [`ctrl_c`] and [`Signals`], a stream of
//! chosen signals, read from a `signalfd` through io_uring.
//!
//! A signalfd only receives a signal that no thread handles first, so the
//! signals must be blocked in **every** thread of the process. Creating a
//! [`Signals`] blocks them in the calling thread; threads started later
//! inherit that mask, and curing's own threads (blocking pool, thread-per-core
//! workers, reaper) block all such signals anyway. Threads the program
//! started *before* must block them too (or ask for them early in `main`),
//! or a signal may take its default action there (for `SIGINT`: exit).
//!
//! Each signal is received once, by one [`Signals`] that asked for it
//! (signals of one kind that arrive together may merge into one, as in the
//! kernel). The signals stay blocked after the `Signals` is dropped.
//!
//! ```no_run
//! use curing::signal::{Signals, SIGINT, SIGTERM};
//! curing::run(async {
//!     let mut signals = Signals::new(&[SIGINT, SIGTERM]).unwrap();
//!     let sig = signals.recv().await.unwrap();
//!     println!("stopping on signal {sig}");
//! });
//! ```

use crate::fd::SharedFd;
use crate::op;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use libc::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

/// Bytes of one `struct signalfd_siginfo`.
const INFO_LEN: usize = std::mem::size_of::<libc::signalfd_siginfo>();

/// A stream of the signals it was created for; see the [module docs](self).
///
/// ```no_run
/// use curing::signal::{Signals, SIGHUP};
/// use futures_util::StreamExt;
/// curing::run(async {
///     let mut hups = Signals::new(&[SIGHUP]).unwrap();
///     while let Some(Ok(_)) = hups.next().await {
///         println!("reloading configuration");
///     }
/// });
/// ```
pub struct Signals {
    /// The signalfd.
    fd: SharedFd,
    /// The read in progress when polled as a `Stream`.
    pending: Option<Pin<Box<dyn Future<Output = io::Result<i32>>>>>,
}

impl Signals {
    /// Starts receiving `signals` (e.g. `[SIGINT, SIGTERM]`): blocks them in
    /// this thread and opens a signalfd for them.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a signal number the kernel does not know, or one
    /// that cannot be caught (`SIGKILL`, `SIGSTOP`).
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        if signals
            .iter()
            .any(|&s| s == libc::SIGKILL || s == libc::SIGSTOP)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "SIGKILL and SIGSTOP cannot be caught",
            ));
        }
        let set = crate::sys::thread::sigset(signals)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        crate::sys::thread::block_signals(&set)?;
        let fd = crate::sys::thread::signalfd(&set)?;
        Ok(Signals {
            fd: SharedFd::new(fd),
            pending: None,
        })
    }

    /// Waits for the next signal and returns its number. Dropping the future
    /// loses no signal: one the kernel had already handed over is returned
    /// by the next call.
    pub async fn recv(&mut self) -> io::Result<i32> {
        if let Some(pending) = self.pending.take() {
            return pending.await;
        }
        read_one(self.fd.clone()).await
    }
}

/// Reads one `signalfd_siginfo` and returns its signal number.
async fn read_one(fd: SharedFd) -> io::Result<i32> {
    let (res, buf) = fd
        .stream_read(Vec::with_capacity(INFO_LEN), op::StreamRead::new)
        .await;
    let n = res?;
    if n < INFO_LEN {
        return Err(io::Error::other("short read from a signalfd"));
    }
    // `ssi_signo` is the first field (a u32).
    Ok(u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as i32)
}

impl futures_core::Stream for Signals {
    type Item = io::Result<i32>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let fd = self.fd.clone();
        let pending = self.pending.get_or_insert_with(|| Box::pin(read_one(fd)));
        let out = std::task::ready!(pending.as_mut().poll(cx));
        self.pending = None;
        Poll::Ready(Some(out))
    }
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("fd", &self.fd.raw())
            .finish()
    }
}

/// Waits for `SIGINT` (Ctrl-C). See the [module docs](self) for the rule on
/// threads.
///
/// ```no_run
/// curing::run(async {
///     curing::signal::ctrl_c().await.unwrap();
///     println!("bye");
/// });
/// ```
///
/// `SIGINT` is blocked (in this thread) when `ctrl_c` is called, not when
/// the future is first polled, so threads started after the call inherit
/// the mask.
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> {
    let signals = Signals::new(&[libc::SIGINT]);
    async move { signals?.recv().await.map(drop) }
}
