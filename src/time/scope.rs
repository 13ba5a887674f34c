//! Cancel scopes with deadlines: [`CancelScope`] (trio's name), run with
//! [`CancelScope::fail`] (the deadline is an error, trio's `fail_after`) or
//! [`CancelScope::ignore`] (the deadline just ends the block, trio's
//! `move_on_after`).
//!
//! A scope runs a future until it finishes or the deadline passes; then the
//! future is dropped, which cancels whatever it was waiting on (an op goes
//! through the op lifecycle: nothing freed early, nothing leaked).
//! [`timeout`](super::timeout) and [`timeout_at`](super::timeout_at) are
//! this same scope under tokio's names.
//!
//! ## Nesting
//!
//! Scopes nest by construction: an outer scope drops its whole inner future,
//! inner scopes included, when its own deadline passes, so an inner scope
//! can never extend an outer deadline. When both have expired by the time
//! the inner one notices, the inner scope steps aside and the *outer* scope
//! reports: the code between them (which might have handled the inner
//! timeout and carried on) does not run. The deadline in force is kept in a
//! thread-local while a scope polls its future.

use super::{far_add, sleep_until, Elapsed};
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

thread_local! {
    /// The earliest deadline of the scopes being polled on this thread.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Puts back the enclosing deadline when a scope's poll of its future ends
/// (also by a panic).
struct Restore(Option<Instant>);

impl Drop for Restore {
    fn drop(&mut self) {
        DEADLINE.set(self.0);
    }
}

/// A deadline around a block of async code (trio's `CancelScope`): built
/// with [`after`](CancelScope::after) or [`at`](CancelScope::at), then run
/// with [`fail`](CancelScope::fail) (`Err(Elapsed)` at the deadline) or
/// [`ignore`](CancelScope::ignore) (`None` at the deadline).
///
/// When the deadline passes, the future is dropped at the await it was
/// stuck in, which cancels its op through the op lifecycle: its buffers stay
/// alive until the kernel is done, and bytes a stream read received anyway
/// are kept for the stream's next read. A result that is ready wins over a
/// deadline that has passed, and the deadline check spends no cooperative
/// budget, so a future that is always ready inside is still cut off on time.
///
/// `CancelScope::after(d).fail(f)` is [`timeout(d, f)`](super::timeout) and
/// `CancelScope::at(t).fail(f)` is [`timeout_at(t, f)`](super::timeout_at):
/// the same scope, with the same nesting rules; `ignore` is the form with
/// no error to handle.
///
/// ```
/// use curing::time::{sleep, CancelScope};
/// use std::time::Duration;
/// curing::run(async {
///     // The deadline is an error...
///     let slow = CancelScope::after(Duration::from_millis(5)).fail(sleep(Duration::from_secs(10)));
///     assert!(slow.await.is_err());
///     // ...or just the end of the block.
///     let quick = CancelScope::after(Duration::from_secs(5)).ignore(async { 1 });
///     assert_eq!(quick.await, Some(1));
///     let cut = CancelScope::after(Duration::from_millis(5)).ignore(sleep(Duration::from_secs(10)));
///     assert_eq!(cut.await, None);
/// });
/// ```
///
/// ## When `after` starts counting
///
/// A duration counts from the first poll of the future `fail` or `ignore`
/// returns (as with [`timeout`](super::timeout)), not from `after`: a scope
/// built ahead of time gives its block the whole duration. Use
/// [`at`](CancelScope::at) for a deadline fixed in advance, e.g. one shared
/// by several steps.
///
/// ## Nesting
///
/// Scopes nest by construction: an outer scope drops its whole inner
/// future, inner scopes included, when its own deadline passes, so an inner
/// scope can never extend an outer deadline. When both have expired by the
/// time the inner one notices, the inner scope steps aside and the *outer*
/// scope reports: the code between them (which might have handled the inner
/// timeout and carried on) does not run.
///
/// ```
/// use curing::time::{sleep, CancelScope};
/// use std::time::Duration;
/// curing::run(async {
///     let outer = CancelScope::after(Duration::from_millis(20)).fail(async {
///         // A generous inner scope does not buy more time.
///         CancelScope::after(Duration::from_secs(10))
///             .fail(sleep(Duration::from_secs(60)))
///             .await
///     });
///     assert!(outer.await.is_err()); // the outer scope's Elapsed, at 20 ms
/// });
/// ```
///
/// ## Cleanup
///
/// When time runs out the future is dropped at the await it was stuck in:
/// its destructors run, but no more async code. Put the work that may be
/// cut off inside the scope and the async cleanup after it, where it always
/// runs:
///
/// ```
/// use curing::net::{TcpListener, TcpStream};
/// use curing::time::CancelScope;
/// use std::time::Duration;
///
/// async fn ask(stream: &TcpStream) -> std::io::Result<usize> {
///     let (n, _buf) = stream.read(vec![0u8; 64]).await;
///     n
/// }
///
/// curing::run(async {
///     let server = TcpListener::bind("127.0.0.1:0")?;
///     let stream = TcpStream::connect(server.local_addr()?).await?;
///     let (_silent_peer, _) = server.accept().await?;
///     // The read is cut off after 20 ms...
///     let reply = CancelScope::after(Duration::from_millis(20)).fail(ask(&stream)).await;
///     assert!(reply.is_err());
///     // ...and the stream is still ours to close properly (bounded too).
///     CancelScope::after(Duration::from_secs(1))
///         .ignore(stream.close())
///         .await
///         .transpose()?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// A task cancelled by its [`TaskGroup`](crate::task::TaskGroup) or by
/// [`JoinHandle::abort`](crate::JoinHandle::abort) is dropped the same way.
/// To give it a chance to clean up, let it own a scope: the child runs
/// `CancelScope::after(d).fail(work(&res))` and closes `res` afterwards, and
/// the group's deadline is set a little later than the child's. A
/// destructor that must do async work can also `curing::spawn` it as a
/// detached task, at the price of that task outliving the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a CancelScope does nothing until `fail` or `ignore` runs a future in it"]
pub struct CancelScope {
    /// When the scope's time runs out.
    deadline: Deadline,
}

/// A [`CancelScope`]'s deadline, as it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deadline {
    /// This long after the scope's first poll.
    After(Duration),
    /// At this instant.
    At(Instant),
}

impl CancelScope {
    /// A scope whose time runs out `duration` after the first poll of the
    /// future [`fail`](CancelScope::fail) or [`ignore`](CancelScope::ignore)
    /// returns. A huge duration (up to `Duration::MAX`) means about a
    /// century.
    pub fn after(duration: Duration) -> CancelScope {
        CancelScope {
            deadline: Deadline::After(duration),
        }
    }

    /// A scope whose time runs out at `deadline`. Even with a deadline
    /// already past, a future that is ready at its first poll returns its
    /// result.
    pub fn at(deadline: Instant) -> CancelScope {
        CancelScope {
            deadline: Deadline::At(deadline),
        }
    }

    /// Runs `future` in the scope: its output, or `Err(Elapsed)` if the
    /// time ran out first (trio's `fail_after`). `Elapsed` converts into an
    /// `io::Error` of kind `TimedOut`, so `?` works in I/O code.
    pub async fn fail<F: Future>(self, future: F) -> Result<F::Output, Elapsed> {
        let deadline = match self.deadline {
            Deadline::After(duration) => far_add(Instant::now(), duration),
            Deadline::At(instant) => instant,
        };
        run(deadline, future).await
    }

    /// Runs `future` in the scope: its output, or `None` if the time ran
    /// out first (trio's `move_on_after`).
    pub async fn ignore<F: Future>(self, future: F) -> Option<F::Output> {
        self.fail(future).await.ok()
    }
}

/// A cancel scope: `future` until `deadline`.
pub(super) async fn run<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut sleep = pin!(sleep_until(deadline));
    poll_fn(|cx| {
        let outer = DEADLINE.get();
        let polled = {
            let _restore = Restore(outer);
            DEADLINE.set(Some(outer.map_or(deadline, |o| o.min(deadline))));
            future.as_mut().poll(cx)
        };
        // A result that is ready wins over the deadline.
        if let Poll::Ready(out) = polled {
            return Poll::Ready(Ok(out));
        }
        // The deadline check spends no budget: the future may just have
        // spent all of it, and a passed deadline must still be reported.
        if sleep.as_mut().get_mut().poll_due(cx).is_pending() {
            return Poll::Pending;
        }
        if outer.is_some_and(|o| o <= Instant::now()) {
            // The enclosing scope has expired too: it checks its own timer
            // right after this poll returns, and reports.
            return Poll::Pending;
        }
        Poll::Ready(Err(Elapsed(())))
    })
    .await
}
