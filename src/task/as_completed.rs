//! [`as_completed`]: outputs of many futures, in the order they finish.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future, IntoFuture};
use std::pin::Pin;
// The waker's `Arc<SlotWaker>` is std's (what `Waker::from` takes); its flag
// and the queue are loom's in the loom models.
use crate::sync_prims::{AtomicBool, Mutex, MutexGuard, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Runs `futures` concurrently and yields each output as it finishes
/// (asyncio's `as_completed`, as an async stream).
///
/// Pass futures (they run inside the stream, while it is awaited, like
/// `futures::stream::FuturesUnordered`), or [`JoinHandle`](crate::JoinHandle)s
/// of spawned tasks (they run in the background; the stream yields each
/// `Result<T, JoinError>`). A panic in a passed future reaches the task
/// awaiting the stream, as it would with a plain `.await`.
///
/// The result is a `futures_core::Stream`, and has its own
/// [`next`](AsCompleted::next), so no extra crate is needed:
///
/// ```
/// use curing::task::as_completed;
/// use curing::time::sleep;
/// use std::time::Duration;
/// curing::run(async {
///     let naps = [30, 10, 20].map(|ms| async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     });
///     let mut done = as_completed(naps);
///     let mut order = Vec::new();
///     while let Some(ms) = done.next().await {
///         order.push(ms);
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
///
/// A call of `next` that has woken futures to poll (or that gives the
/// final `None`) spends one unit of the task's cooperative budget first, so
/// a stream of futures that finish at once still lets timers and other
/// tasks run.
///
/// Dropping the stream drops the futures not yet finished (for join
/// handles: detaches their tasks; use a [`TaskGroup`](super::TaskGroup) to
/// cancel them instead).
pub fn as_completed<I>(futures: I) -> AsCompleted<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let ready = Arc::new(Ready::default());
    let mut stream = AsCompleted {
        slots: Vec::new(),
        ready,
        remaining: 0,
    };
    for f in futures {
        stream.push(f.into_future());
    }
    stream
}

/// The stream of [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F> {
    /// The futures by index, with their wakers; `None` once finished.
    slots: Vec<Option<Slot<F>>>,
    /// Indexes of the futures woken since they were last polled.
    ready: Arc<Ready>,
    /// Futures not finished yet.
    remaining: usize,
}

/// One future of the stream.
struct Slot<F> {
    /// The future, boxed so it stays put while the slot vector grows.
    future: Pin<Box<F>>,
    /// Its waker's state, to clear `queued` before a poll.
    state: Arc<SlotWaker>,
    /// Its waker (the same allocation as `state`).
    waker: Waker,
}

/// The wake queue the futures' wakers push to. Wakers may be called from
/// any thread, hence the mutexes (uncontended on the runtime's thread).
#[derive(Default)]
struct Ready {
    /// Woken indexes, in wake order.
    queue: Mutex<VecDeque<usize>>,
    /// The task awaiting the stream.
    parent: Mutex<Option<Waker>>,
}

/// The waker of one future in the stream.
struct SlotWaker {
    /// Which future.
    index: usize,
    /// True while `index` is in the queue: one entry per wake.
    queued: AtomicBool,
    /// The queue.
    ready: Arc<Ready>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.ready.queue).push_back(self.index);
        let parent = lock(&self.ready.parent).take();
        if let Some(w) = parent {
            w.wake();
        }
    }
}

/// Locks a mutex, ignoring poisoning (the data stays consistent: a push or
/// a take).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<F: Future> AsCompleted<F> {
    /// Adds one more future to the stream.
    pub fn push(&mut self, future: F) {
        let index = self.slots.len();
        let waker = Arc::new(SlotWaker {
            index,
            queued: AtomicBool::new(true),
            ready: self.ready.clone(),
        });
        self.slots.push(Some(Slot {
            future: Box::pin(future),
            waker: Waker::from(waker.clone()),
            state: waker,
        }));
        lock(&self.ready.queue).push_back(index);
        self.remaining += 1;
    }

    /// The next output to be ready; `None` when all futures finished.
    pub async fn next(&mut self) -> Option<F::Output> {
        poll_fn(|cx| self.poll_next_output(cx)).await
    }

    /// Futures not finished yet.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether every future finished.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// Polls the woken futures, in wake order, until one finishes. Polls at
    /// most one round of them per call, so a future that wakes itself in a
    /// loop cannot hold the task.
    fn poll_next_output(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if self.remaining == 0 {
            // The end, ready at once: spends the task's budget.
            std::task::ready!(crate::coop::poll_proceed(cx));
            return Poll::Ready(None);
        }
        {
            let mut parent = lock(&self.ready.parent);
            if !parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        let round = lock(&self.ready.queue).len();
        if round > 0 {
            // A woken future may give its output at once: spend the task's
            // budget before polling any (an output, once taken, could not be
            // put back), so a stream of futures that finish at once still
            // yields. On `Pending` the woken stay queued.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        for _ in 0..round {
            let Some(index) = lock(&self.ready.queue).pop_front() else {
                break;
            };
            let Some(slot) = &mut self.slots[index] else {
                continue;
            };
            // A swap, not a store: it reads the latest wake's write, so a
            // wake merged into this queued poll (its swap found `true`)
            // happens before the poll (loom model in
            // src/loom_tests/as_completed.rs).
            slot.state.queued.swap(false, Ordering::AcqRel);
            let mut slot_cx = Context::from_waker(&slot.waker);
            if let Poll::Ready(out) = slot.future.as_mut().poll(&mut slot_cx) {
                self.slots[index] = None;
                self.remaining -= 1;
                return Poll::Ready(Some(out));
            }
        }
        if !lock(&self.ready.queue).is_empty() {
            cx.waker().wake_by_ref(); // more woken than one round: come back
        }
        Poll::Pending
    }
}

impl<F: Future> futures_core::Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.poll_next_output(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<F> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish()
    }
}
