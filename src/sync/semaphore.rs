//! [`Semaphore`]: a FIFO-fair counting semaphore for tasks on one thread.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A counting semaphore for the tasks of one thread: at most `n` holders at a
/// time.
///
/// Waiters are served in the order they started waiting (FIFO): a large
/// request at the head is not overtaken by small ones behind it, and
/// `try_acquire` fails while anyone is waiting. Cloning gives another handle
/// to the same semaphore.
///
/// ## Cancellation
///
/// Dropping an [`acquire`](Semaphore::acquire) future loses nothing: permits
/// already set aside for it go back and on to the next waiter, and a wakeup
/// it had received passes to the next waiter too.
///
/// ```
/// use curing::sync::Semaphore;
/// curing::run(async {
///     let sem = Semaphore::new(2);
///     let a = sem.acquire().await.unwrap();
///     let _b = sem.acquire().await.unwrap();
///     assert!(sem.try_acquire().is_err());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
#[derive(Clone)]
pub struct Semaphore {
    /// Shared by the handles, the acquire futures and the permits.
    state: Rc<RefCell<State>>,
}

/// The semaphore's counters and its queue.
struct State {
    /// Permits nobody holds or has been promised.
    permits: usize,
    /// Set by [`Semaphore::close`]: acquires fail from then on.
    closed: bool,
    /// Waiters by arrival number: the first entry is the head of the queue.
    waiters: BTreeMap<u64, Rc<Waiter>>,
    /// Arrival number of the next waiter.
    next_id: u64,
}

/// One queued acquire, shared with its future.
struct Waiter {
    /// Permits it asked for.
    needed: usize,
    /// Permits set aside for it so far (the head may get them piecemeal).
    assigned: Cell<usize>,
    /// Whether it left the queue: granted in full, or closed out.
    outcome: Cell<Outcome>,
    /// The task to wake when it is granted or the semaphore closes.
    waker: RefCell<Option<Waker>>,
}

/// Where a waiter stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// In the queue.
    Waiting,
    /// Out of the queue with all its permits.
    Granted,
    /// Out of the queue because the semaphore closed.
    Closed,
}

/// [`Semaphore::acquire`] failed: the semaphore was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("semaphore closed")]
pub struct AcquireError(());

/// Why [`Semaphore::try_acquire`] gave no permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryAcquireError {
    /// Not enough permits now (or others are waiting first).
    #[error("no permits available")]
    NoPermits,
    /// The semaphore was closed.
    #[error("semaphore closed")]
    Closed,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Rc::new(RefCell::new(State {
                permits,
                closed: false,
                waiters: BTreeMap::new(),
                next_id: 0,
            })),
        }
    }

    /// Waits for one permit. Fails only if the semaphore is closed.
    pub fn acquire(&self) -> Acquire {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once, in FIFO order with other waiters.
    pub fn acquire_many(&self, n: usize) -> Acquire {
        Acquire {
            sem: self.clone(),
            needed: n,
            waiter: None,
        }
    }

    /// Takes one permit if one is free and nobody is waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is waiting.
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit, TryAcquireError> {
        let mut state = self.state.borrow_mut();
        if state.closed {
            return Err(TryAcquireError::Closed);
        }
        if !state.waiters.is_empty() || state.permits < n {
            return Err(TryAcquireError::NoPermits);
        }
        state.permits -= n;
        drop(state);
        Ok(self.permit(n))
    }

    /// Adds `n` permits; waiters at the head of the queue get them first.
    ///
    /// # Panics
    ///
    /// If the count would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        release(&self.state, n);
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Closes the semaphore: waiting and later acquires fail with
    /// [`AcquireError`]. Permits already held stay valid.
    pub fn close(&self) {
        let drained = {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            std::mem::take(&mut state.waiters)
        };
        for waiter in drained.into_values() {
            waiter.outcome.set(Outcome::Closed);
            let waker = waiter.waker.borrow_mut().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Whether [`close`](Semaphore::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    fn permit(&self, permits: usize) -> SemaphorePermit {
        SemaphorePermit {
            sem: self.clone(),
            permits,
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("waiters", &state.waiters.len())
            .field("closed", &state.closed)
            .finish()
    }
}

/// Returns `n` permits and hands free permits to the head of the queue, in
/// order, waking each waiter that got all it asked for.
fn release(state: &RefCell<State>, n: usize) {
    let mut granted = Vec::new();
    {
        let mut guard = state.borrow_mut();
        let state = &mut *guard;
        state.permits = state
            .permits
            .checked_add(n)
            .expect("curing: semaphore permit count overflowed usize");
        while let Some(head) = state.waiters.first_entry() {
            let waiter = head.get();
            let take = state.permits.min(waiter.needed - waiter.assigned.get());
            waiter.assigned.set(waiter.assigned.get() + take);
            state.permits -= take;
            if waiter.assigned.get() < waiter.needed {
                break; // the head keeps what it got and waits for more
            }
            let waiter = head.remove();
            waiter.outcome.set(Outcome::Granted);
            granted.push(waiter);
        }
    }
    for waiter in granted {
        let waker = waiter.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "an Acquire does nothing unless awaited"]
pub struct Acquire {
    /// The semaphore.
    sem: Semaphore,
    /// Permits asked for.
    needed: usize,
    /// Our queue entry (arrival number and shared record), once queued.
    waiter: Option<(u64, Rc<Waiter>)>,
}

impl Future for Acquire {
    type Output = Result<SemaphorePermit, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some((_, waiter)) = &this.waiter {
            if waiter.outcome.get() != Outcome::Waiting {
                // Granted (or closed out) since the last poll: spends the
                // task's budget too. On `Pending` the permits stay set aside
                // for us (or go back, if we are dropped).
                std::task::ready!(crate::coop::poll_proceed(cx));
            }
            return match waiter.outcome.get() {
                Outcome::Granted => {
                    this.waiter = None;
                    Poll::Ready(Ok(this.sem.permit(this.needed)))
                }
                Outcome::Closed => {
                    this.waiter = None;
                    Poll::Ready(Err(AcquireError(())))
                }
                Outcome::Waiting => {
                    let mut slot = waiter.waker.borrow_mut();
                    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *slot = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            };
        }
        // A permit free at once spends the task's budget.
        std::task::ready!(crate::coop::poll_proceed(cx));
        match this.sem.try_acquire_many(this.needed) {
            Ok(permit) => return Poll::Ready(Ok(permit)),
            Err(TryAcquireError::Closed) => return Poll::Ready(Err(AcquireError(()))),
            Err(TryAcquireError::NoPermits) => {}
        }
        let waiter = Rc::new(Waiter {
            needed: this.needed,
            assigned: Cell::new(0),
            outcome: Cell::new(Outcome::Waiting),
            waker: RefCell::new(Some(cx.waker().clone())),
        });
        {
            let mut state = this.sem.state.borrow_mut();
            let id = state.next_id;
            state.next_id += 1;
            state.waiters.insert(id, waiter.clone());
            this.waiter = Some((id, waiter));
        }
        // Free permits (fewer than asked) go to the head, which may be us.
        release(&this.sem.state, 0);
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some((id, waiter)) = self.waiter.take() else {
            return;
        };
        let give_back = match waiter.outcome.get() {
            Outcome::Waiting => {
                self.sem.state.borrow_mut().waiters.remove(&id);
                waiter.assigned.get()
            }
            // Granted but never collected: the permits are ours to return.
            Outcome::Granted => waiter.needed,
            Outcome::Closed => 0,
        };
        // Also with nothing to give back: if we were the head, the waiters
        // behind us may be served by the free permits now.
        release(&self.sem.state, give_back);
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("needed", &self.needed)
            .field("queued", &self.waiter.is_some())
            .finish()
    }
}

/// Permits held; given back to the semaphore on drop.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit {
    /// Where the permits go back to.
    sem: Semaphore,
    /// How many this guard holds.
    permits: usize,
}

impl SemaphorePermit {
    /// Number of permits held.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits out of the semaphore for good (its capacity
    /// shrinks); [`Semaphore::add_permits`] can give them back.
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            release(&self.sem.state, self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}
