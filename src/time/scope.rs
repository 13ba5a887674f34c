//! Cancel scopes with deadlines: [`timeout_after`], [`ignore_after`],
//! [`ignore_at`] (curio's names; trio's `fail_after` / `move_on_after`).
//!
//! A scope runs a future until it finishes or the deadline passes; then the
//! future is dropped, which cancels whatever it was waiting on (an op goes
//! through the op lifecycle: nothing freed early, nothing leaked).
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

/// Runs `future` for at most `duration`; `Err(Elapsed)` if the time ran out
/// (curio's `timeout_after`, trio's `fail_after`). Like
/// [`timeout`](super::timeout), with the nesting rules below.
///
/// ```
/// use curing::time::{sleep, timeout_after};
/// use std::time::Duration;
/// curing::run(async {
///     let slow = timeout_after(Duration::from_millis(5), sleep(Duration::from_secs(10)));
///     assert!(slow.await.is_err());
/// });
/// ```
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
/// use curing::time::{sleep, timeout_after};
/// use std::time::Duration;
/// curing::run(async {
///     let outer = timeout_after(Duration::from_millis(20), async {
///         // A generous inner scope does not buy more time.
///         timeout_after(Duration::from_secs(10), sleep(Duration::from_secs(60))).await
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
/// use curing::time::{ignore_after, timeout_after};
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
///     let reply = timeout_after(Duration::from_millis(20), ask(&stream)).await;
///     assert!(reply.is_err());
///     // ...and the stream is still ours to close properly (bounded too).
///     ignore_after(Duration::from_secs(1), stream.close()).await.transpose()?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// A task cancelled by its [`TaskGroup`](crate::task::TaskGroup) or by
/// [`JoinHandle::abort`](crate::JoinHandle::abort) is dropped the same way.
/// To give it a chance to clean up, let it own a scope: the child runs
/// `timeout_after(d, work(&res))` and closes `res` afterwards, and the
/// group's deadline is set a little later than the child's. A destructor
/// that must do async work can also `curing::spawn` it as a detached task,
/// at the price of that task outliving the group.
pub async fn timeout_after<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    scope(far_add(Instant::now(), duration), future).await
}

/// Runs `future` for at most `duration`; `None` if the time ran out
/// (curio's `ignore_after`, trio's `move_on_after`).
///
/// ```
/// use curing::time::{ignore_after, sleep};
/// use std::time::Duration;
/// curing::run(async {
///     assert_eq!(ignore_after(Duration::from_secs(5), async { 1 }).await, Some(1));
///     let cut = ignore_after(Duration::from_millis(5), sleep(Duration::from_secs(10)));
///     assert_eq!(cut.await, None);
/// });
/// ```
pub async fn ignore_after<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    scope(far_add(Instant::now(), duration), future).await.ok()
}

/// Like [`ignore_after`], with a deadline.
pub async fn ignore_at<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    scope(deadline, future).await.ok()
}

/// A cancel scope: `future` until `deadline`.
pub(super) async fn scope<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
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
