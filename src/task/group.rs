//! [`TaskGroup`]: a nursery that owns its children.

use super::GroupError;
use crate::executor::{JoinHandle, TaskId};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// When a group stops its other children early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    /// On the first failure (error, panic), cancel the rest.
    FailFast,
    /// Never: every child runs to its end.
    WaitAll,
    /// On the first child to finish, whatever its outcome, cancel the rest.
    FirstCompleted,
}

/// One child's outcome.
type Outcome<T, E> = Result<T, GroupError<E>>;

/// An outcome handed out: the child's id, spawn index and outcome.
type Finished<T, E> = (TaskId, usize, Outcome<T, E>);

/// What the children report to: filled by the children, emptied by the group.
struct Shared<T, E> {
    /// Children's outcomes (by spawn index) in the order they finished.
    done: VecDeque<(usize, Outcome<T, E>)>,
    /// The task awaiting the group.
    waker: Option<Waker>,
    /// Whether the group is [`reaping`](TaskGroup::reaping): a finished
    /// child's outcome is dropped instead of put in `done`.
    reaping: bool,
    /// A reaping group's running children by spawn index: each removes
    /// itself (its handle) when it ends, so finished children take no room.
    live: HashMap<usize, JoinHandle<()>>,
}

/// Delivers a child's outcome when dropped: at the end of the child task, or
/// as `Cancelled` when the task is dropped before it finished.
struct Report<T, E> {
    /// The group's mailbox.
    shared: Rc<RefCell<Shared<T, E>>>,
    /// The child's spawn index.
    index: usize,
    /// The outcome, once the child finished.
    outcome: Option<Outcome<T, E>>,
}

impl<T, E> Drop for Report<T, E> {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or(Err(GroupError::Cancelled));
        let (waker, reaped) = {
            let Ok(mut shared) = self.shared.try_borrow_mut() else {
                return; // unreachable: the group never holds it across a call out
            };
            if shared.reaping {
                // Free the slot now; wake a waiter (`next`, `shutdown`) only
                // when the last child is gone.
                let handle = shared.live.remove(&self.index);
                let waker = if shared.live.is_empty() {
                    shared.waker.take()
                } else {
                    None
                };
                (waker, Some((handle, outcome)))
            } else {
                shared.done.push_back((self.index, outcome));
                (shared.waker.take(), None)
            }
        };
        // The outcome (user values) and handle drop outside the borrow.
        drop(reaped);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A child as the group keeps it.
struct Child {
    /// For cancelling; `None` once its outcome was handed out.
    handle: Option<JoinHandle<()>>,
    /// Whether the group cancelled it (its `Cancelled` is then not a failure).
    aborted: bool,
}

/// A nursery: tasks spawned into it are its children, and nothing spawned in
/// it outlives it (trio's nursery, curio's `TaskGroup`, tokio's `JoinSet`).
///
/// Children return `Result<T, E>`. Awaiting the group joins them:
/// [`join`](TaskGroup::join) gives their values in spawn order,
/// [`results`](TaskGroup::results) every outcome in spawn order, and
/// [`next`](TaskGroup::next) one outcome at a time in the order they finish.
///
/// A *policy*, chosen when the group is made, says when the group stops its
/// other children early:
///
/// | constructor | stops the others when | `join()` gives |
/// |---|---|---|
/// | [`new`](TaskGroup::new) (default) | a child fails (error or panic) | all values, or that first failure |
/// | [`wait_all`](TaskGroup::wait_all) | never | all values, or the first failure once all finished |
/// | [`first_completed`](TaskGroup::first_completed) | any child finishes | the winner's value (or its failure) |
/// | [`reaping`](TaskGroup::reaping) (for servers) | never | no values: each outcome is dropped when its child ends |
///
/// Stopping a child means aborting its task: its future is dropped at its
/// current await, and its in-flight I/O is cancelled through the op
/// lifecycle (buffers kept until the kernel lets go; nothing leaks).
/// Dropping the group (or a `join` future, in a timeout say) stops every
/// child that is still running, and through their own groups, their
/// children.
///
/// A child's panic is caught and becomes [`GroupError::Panicked`].
///
/// `spawn` takes `&mut self`: the group's owner spawns, its children do not
/// (to let a child start siblings, give it an [`mpsc`](crate::sync::mpsc)
/// sender the owner reads futures from, or a group of its own).
///
/// ```
/// use curing::task::TaskGroup;
/// use std::time::Duration;
/// curing::run(async {
///     let mut group = TaskGroup::new();
///     for ms in [30, 10, 20] {
///         group.spawn(async move {
///             curing::time::sleep(Duration::from_millis(ms)).await;
///             Ok::<_, std::io::Error>(ms)
///         });
///     }
///     assert_eq!(group.join().await.unwrap(), [30, 10, 20]);
/// });
/// ```
///
/// Children are spawned on the current runtime, so a group is used inside
/// [`curing::run`](crate::run).
pub struct TaskGroup<T, E = Infallible> {
    /// When to stop the others early.
    policy: Policy,
    /// Children by spawn index (empty in a reaping group: its children are
    /// in `shared.live`).
    children: Vec<Child>,
    /// Children spawned so far: the next spawn index.
    spawned: usize,
    /// Children whose outcome was not handed out yet.
    pending: usize,
    /// Set when the policy stopped the group: later spawns are cancelled at
    /// once.
    stopping: bool,
    /// The children's mailbox.
    shared: Rc<RefCell<Shared<T, E>>>,
}

impl<T: 'static, E: 'static> Default for TaskGroup<T, E> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<T: 'static, E: 'static> TaskGroup<T, E> {
    /// A group that, on the first failing child (an `Err` or a panic),
    /// cancels the rest; `join` then returns that failure.
    pub fn new() -> TaskGroup<T, E> {
        TaskGroup::with_policy(Policy::FailFast)
    }

    /// A group whose children all run to their end, whatever the others do
    /// (asyncio's `gather(..., return_exceptions=True)` with
    /// [`results`](TaskGroup::results)).
    pub fn wait_all() -> TaskGroup<T, E> {
        TaskGroup::with_policy(Policy::WaitAll)
    }

    /// A group that stops at the first child to finish, with a value or a
    /// failure, and cancels the rest: a race. `group.next().await` gives the
    /// winner.
    ///
    /// ```
    /// use curing::task::TaskGroup;
    /// use curing::time::sleep;
    /// use std::time::Duration;
    /// curing::run(async {
    ///     let mut race = TaskGroup::<&str>::first_completed();
    ///     race.spawn(async { sleep(Duration::from_secs(10)).await; Ok("slow") });
    ///     race.spawn(async { sleep(Duration::from_millis(1)).await; Ok("fast") });
    ///     assert_eq!(race.next().await.unwrap().unwrap(), "fast");
    /// });
    /// ```
    pub fn first_completed() -> TaskGroup<T, E> {
        TaskGroup::with_policy(Policy::FirstCompleted)
    }

    /// A group for servers: children run to their end independently (as
    /// with [`wait_all`](TaskGroup::wait_all)), and each child's slot and
    /// outcome are freed the moment it finishes, whether or not anyone
    /// awaits the group. An accept loop can spawn one child per connection
    /// for ever: the group holds only the children still running, and
    /// [`len`](TaskGroup::len) counts them.
    ///
    /// What that changes, compared with the other groups:
    ///
    /// - Outcomes are not kept: a child's value or error is dropped when it
    ///   ends. Handle errors inside the child (log them there), as with a
    ///   detached `tokio::spawn`. A panic is caught so it does not take the
    ///   thread down, printed by the panic hook as any panic is, and
    ///   otherwise dropped too.
    /// - [`next`](TaskGroup::next) gives no outcomes: it waits until no
    ///   child is running, then gives `None` (a drain, for a graceful stop).
    ///   [`join`](TaskGroup::join) gives `Ok` with no values and
    ///   [`results`](TaskGroup::results) an empty `Vec`, once every child
    ///   ended.
    /// - [`shutdown`](TaskGroup::shutdown) (or dropping the group) cancels
    ///   the running children: their futures drop at their current await,
    ///   closing their sockets.
    ///
    /// ```
    /// use curing::net::{TcpListener, TcpStream};
    /// use curing::task::TaskGroup;
    /// use std::io;
    ///
    /// async fn handle(stream: TcpStream) -> io::Result<()> {
    ///     let (res, _buf) = stream.write_all(b"hello\n".to_vec()).await;
    ///     res
    /// }
    ///
    /// curing::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     curing::spawn(async move {
    ///         for _ in 0..3 {
    ///             let stream = TcpStream::connect(addr).await.unwrap();
    ///             let (res, buf) = stream.read(vec![0; 16]).await;
    ///             assert_eq!(&buf[..res.unwrap()], b"hello\n");
    ///         }
    ///     });
    ///     let mut connections = TaskGroup::reaping();
    ///     for _ in 0..3 {
    ///         let (stream, peer) = listener.accept().await?;
    ///         connections.spawn(async move {
    ///             if let Err(e) = handle(stream).await {
    ///                 eprintln!("{peer}: {e}"); // the group drops outcomes
    ///             }
    ///             Ok::<_, io::Error>(())
    ///         });
    ///         // Finished connections are already gone from the group.
    ///         assert!(connections.len() <= 1);
    ///     }
    ///     // Stop: cancel what still runs and wait until it has ended.
    ///     connections.shutdown().await;
    ///     assert!(connections.is_empty());
    ///     io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn reaping() -> TaskGroup<T, E> {
        let group = TaskGroup::with_policy(Policy::WaitAll);
        group.shared.borrow_mut().reaping = true;
        group
    }

    fn with_policy(policy: Policy) -> TaskGroup<T, E> {
        TaskGroup {
            policy,
            children: Vec::new(),
            spawned: 0,
            pending: 0,
            stopping: false,
            shared: Rc::new(RefCell::new(Shared {
                done: VecDeque::new(),
                waker: None,
                reaping: false,
                live: HashMap::new(),
            })),
        }
    }

    /// Spawns `future` as a child task; returns its id. If the group's
    /// policy already stopped it, the child is cancelled at once.
    ///
    /// # Panics
    ///
    /// Outside a curing runtime.
    pub fn spawn<F>(&mut self, future: F) -> TaskId
    where
        F: Future<Output = Result<T, E>> + 'static,
    {
        let index = self.spawned;
        self.spawned += 1;
        let report = Report {
            shared: self.shared.clone(),
            index,
            outcome: None,
        };
        let handle = crate::spawn(async move {
            let mut report = report;
            let mut future = pin!(future);
            let outcome =
                poll_fn(
                    |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                        Ok(Poll::Pending) => Poll::Pending,
                        Ok(Poll::Ready(Ok(v))) => Poll::Ready(Ok(v)),
                        Ok(Poll::Ready(Err(e))) => Poll::Ready(Err(GroupError::Failed(e))),
                        Err(panic) => Poll::Ready(Err(GroupError::Panicked(panic))),
                    },
                )
                .await;
            report.outcome = Some(outcome);
            // `future` is dropped before `report`: the child's resources go
            // before the group hears that it finished.
        });
        let id = handle.id();
        if self.is_reaping() {
            // The child has not run yet (spawn only queues it), so it is in
            // `live` before it can end and remove itself.
            self.shared.borrow_mut().live.insert(index, handle);
            return id;
        }
        self.children.push(Child {
            handle: Some(handle),
            aborted: false,
        });
        self.pending += 1;
        if self.stopping {
            self.abort_child(self.children.len() - 1);
        }
        id
    }

    /// Cancels every running child; each reports
    /// [`GroupError::Cancelled`] (through [`next`](TaskGroup::next) and
    /// [`results`](TaskGroup::results); [`join`](TaskGroup::join) leaves
    /// them out). Children spawned afterwards run normally.
    pub fn abort_all(&mut self) {
        if self.is_reaping() {
            // Out of `live` first: an abort drops the child's future now,
            // and its `Report` borrows `shared`.
            let live: Vec<_> = self.shared.borrow_mut().live.drain().collect();
            for (_, handle) in live {
                handle.abort();
            }
            return;
        }
        for i in 0..self.children.len() {
            self.abort_child(i);
        }
    }

    fn abort_child(&mut self, index: usize) {
        let child = &mut self.children[index];
        if let Some(handle) = &child.handle {
            if !handle.is_finished() {
                child.aborted = true;
                // Drops the child's future now (its Report says Cancelled).
                handle.abort();
            }
        }
    }

    /// Children whose outcome has not been handed out yet (running, or
    /// finished and waiting to be collected); in a
    /// [`reaping`](TaskGroup::reaping) group, the children still running.
    pub fn len(&self) -> usize {
        let shared = self.shared.borrow();
        if shared.reaping {
            shared.live.len()
        } else {
            self.pending
        }
    }

    /// Whether every child's outcome was handed out (in a reaping group:
    /// whether no child is running).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the group: cancels every running child, then waits until each
    /// has ended (its future dropped, so its sockets and files are closed
    /// and its in-flight ops cancelled). Outcomes not handed out yet are
    /// dropped. The group stays usable: children spawned afterwards run
    /// normally.
    ///
    /// Dropping the group cancels the children the same way, without the
    /// wait; `shutdown().await` is the explicit form for a server's stop
    /// path. See [`reaping`](TaskGroup::reaping) for the server pattern.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while poll_fn(|cx| self.poll_next_indexed(cx)).await.is_some() {}
    }

    /// The next child to finish: its outcome, or `None` once every child's
    /// outcome was handed out. Cancel-safe: dropping the future loses no
    /// outcome.
    ///
    /// An outcome already there (or the `None`) is ready at once and spends
    /// one unit of the task's cooperative budget, as do the outcomes
    /// [`join`](TaskGroup::join) and [`results`](TaskGroup::results)
    /// collect: draining many finished children still lets timers and
    /// other tasks run.
    pub async fn next(&mut self) -> Option<Outcome<T, E>> {
        self.next_with_id().await.map(|(_, outcome)| outcome)
    }

    /// Like [`next`](TaskGroup::next), with the child's id (as
    /// [`spawn`](TaskGroup::spawn) returned it).
    pub async fn next_with_id(&mut self) -> Option<(TaskId, Outcome<T, E>)> {
        poll_fn(|cx| self.poll_next_indexed(cx))
            .await
            .map(|(id, _, outcome)| (id, outcome))
    }

    /// Waits for every child; their values in spawn order.
    ///
    /// - Default policy: the first failure cancels the rest and is returned.
    /// - `wait_all`: the first failure is returned once all have finished.
    /// - `first_completed`: the first child to finish decides; the values are
    ///   the winner's (plus those of any child that finished in the same
    ///   instant, before it could be stopped).
    ///
    /// Children the group cancelled (by its policy or `abort_all`) are left
    /// out, as are outcomes already taken with `next`.
    ///
    /// Each outcome collected spends budget, as with `next`, and the values
    /// are put in order as they come, so no poll does work for the whole
    /// group at once except freeing it at the end.
    pub async fn join(mut self) -> Result<Vec<T>, GroupError<E>> {
        let mut values = InOrder::default();
        let mut failure = None;
        while let Some((_, index, outcome)) = poll_fn(|cx| self.poll_next_indexed(cx)).await {
            let value = match outcome {
                Ok(v) => Some(v),
                Err(GroupError::Cancelled) if self.children[index].aborted => None,
                Err(e) => {
                    failure.get_or_insert(e);
                    None
                }
            };
            values.put(index, value, &self.children);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(values.out),
        }
    }

    /// Waits for every child; every outcome in spawn order (children whose
    /// outcome `next` already took are left out). Budget as for
    /// [`join`](TaskGroup::join).
    pub async fn results(mut self) -> Vec<Outcome<T, E>> {
        let mut outcomes = InOrder::default();
        while let Some((_, index, outcome)) = poll_fn(|cx| self.poll_next_indexed(cx)).await {
            outcomes.put(index, Some(outcome), &self.children);
        }
        outcomes.out
    }

    /// The core of `next`, `join` and `results`: hands out the next outcome
    /// and applies the policy to it.
    fn poll_next_indexed(&mut self, cx: &mut Context<'_>) -> Poll<Option<Finished<T, E>>> {
        if self.is_reaping() {
            return self.poll_reaped(cx);
        }
        if self.pending == 0 || !self.shared.borrow().done.is_empty() {
            // An outcome (or the end) ready at once spends the task's budget,
            // before it is taken: a `Pending` here loses nothing.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        let next = {
            let mut shared = self.shared.borrow_mut();
            let next = shared.done.pop_front();
            if next.is_none() && self.pending > 0 {
                let fresh = !shared
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()));
                if fresh {
                    shared.waker = Some(cx.waker().clone());
                }
            }
            next
        };
        let Some((index, outcome)) = next else {
            return if self.pending == 0 {
                Poll::Ready(None)
            } else {
                Poll::Pending
            };
        };
        self.pending -= 1;
        let id = self.children[index]
            .handle
            .take()
            .map(|h| h.id())
            .expect("curing: a group child reports once");
        let stop = match self.policy {
            Policy::FailFast => outcome.is_err() && !self.children[index].aborted,
            Policy::WaitAll => false,
            Policy::FirstCompleted => true,
        };
        if stop && !self.stopping {
            self.stopping = true;
            self.abort_all();
        }
        Poll::Ready(Some((id, index, outcome)))
    }
}

impl<T, E> TaskGroup<T, E> {
    /// Whether this group is [`reaping`](TaskGroup::reaping).
    fn is_reaping(&self) -> bool {
        self.shared.borrow().reaping
    }

    /// A reaping group's `next`: `None` once no child runs, `Pending` until
    /// then (the last child to end wakes the waiter).
    fn poll_reaped(&mut self, cx: &mut Context<'_>) -> Poll<Option<Finished<T, E>>> {
        if self.shared.borrow().live.is_empty() {
            std::task::ready!(crate::coop::poll_proceed(cx));
            return Poll::Ready(None);
        }
        let mut shared = self.shared.borrow_mut();
        let fresh = !shared
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if fresh {
            shared.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Outcomes put in spawn order as they come: those that come in order go
/// straight to `out`; the others wait in `early` until the ones before them
/// came. So `join` and `results` build their `Vec` a piece per outcome
/// instead of in one step at the end.
struct InOrder<V> {
    /// In spawn order, up to (not including) spawn index `next`.
    out: Vec<V>,
    /// The first spawn index not yet placed.
    next: usize,
    /// Outcomes that came before `next` reached them (`None`: left out).
    early: BTreeMap<usize, Option<V>>,
}

impl<V> Default for InOrder<V> {
    fn default() -> Self {
        InOrder {
            out: Vec::new(),
            next: 0,
            early: BTreeMap::new(),
        }
    }
}

impl<V> InOrder<V> {
    /// Places the outcome of child `index` (`None`: leave it out). A child
    /// whose handle is gone and whose outcome is not in `early` had it
    /// taken by `next` before: it is skipped.
    fn put(&mut self, index: usize, value: Option<V>, children: &[Child]) {
        if index == self.next {
            self.out.extend(value);
            self.next += 1;
        } else {
            self.early.insert(index, value);
        }
        while self.next < children.len() {
            if let Some(value) = self.early.remove(&self.next) {
                self.out.extend(value);
            } else if children[self.next].handle.is_none() {
                // Taken by `next` before `join`/`results` started.
            } else {
                break;
            }
            self.next += 1;
        }
    }
}

impl<T: 'static, E: 'static> futures_core::Stream for TaskGroup<T, E> {
    type Item = Outcome<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_next_indexed(cx)
            .map(|next| next.map(|(_, _, outcome)| outcome))
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    fn drop(&mut self) {
        // A reaping group's children: out of `live` before the aborts,
        // which drop the children's futures (and `Report`s) now.
        let live: Vec<_> = self.shared.borrow_mut().live.drain().collect();
        for (_, handle) in live {
            handle.abort();
        }
        for child in &self.children {
            if let Some(handle) = &child.handle {
                handle.abort();
            }
        }
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("policy", &self.policy)
            .field("reaping", &self.is_reaping())
            .field("spawned", &self.spawned)
            .field("pending", &self.pending)
            .field("live", &self.shared.borrow().live.len())
            .field("stopping", &self.stopping)
            .finish()
    }
}
