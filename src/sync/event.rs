//! [`Event`]: a one-shot flag that tasks can wait for.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A flag that starts unset and, once [`set`](Event::set), stays set and
/// releases every waiter (trio's `Event`). Cloning gives another handle to
/// the same event.
///
/// To signal again, make a new `Event`: a flag that can be cleared invites
/// races where a waiter misses the moment it was set.
///
/// ## Cancellation
///
/// Dropping a [`wait`](Event::wait) future removes its waker; others are not
/// affected.
///
/// ```
/// use curing::sync::Event;
/// curing::run(async {
///     let ready = Event::new();
///     let waiter = curing::spawn({
///         let ready = ready.clone();
///         async move { ready.wait().await; "released" }
///     });
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "released");
/// });
/// ```
#[derive(Clone, Default)]
pub struct Event {
    /// Shared by the handles.
    state: Rc<State>,
}

/// The flag and its waiters.
#[derive(Default)]
struct State {
    /// Whether `set` was called.
    set: Cell<bool>,
    /// Wakers of pending waits by arrival number (removable on drop).
    waiters: RefCell<BTreeMap<u64, Waker>>,
    /// Arrival number of the next wait.
    next_id: Cell<u64>,
}

impl Event {
    /// An unset event.
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the event and wakes every waiter. Setting it again does nothing.
    pub fn set(&self) {
        if self.state.set.replace(true) {
            return;
        }
        let waiters = std::mem::take(&mut *self.state.waiters.borrow_mut());
        for w in waiters.into_values() {
            w.wake();
        }
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> bool {
        self.state.set.get()
    }

    /// Waits until the event is set (at once if it is).
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            id: None,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

/// The future of [`Event::wait`].
#[must_use = "a Wait does nothing unless awaited"]
pub struct Wait<'a> {
    /// The event waited for.
    event: &'a Event,
    /// Our entry in the waiter map, once registered.
    id: Option<u64>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let state = &self.event.state;
        if state.set.get() {
            std::task::ready!(crate::coop::poll_proceed(cx));
            self.id = None;
            return Poll::Ready(());
        }
        let mut waiters = state.waiters.borrow_mut();
        match self.id {
            Some(id) => {
                if let Some(w) = waiters.get_mut(&id) {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                }
            }
            None => {
                let id = state.next_id.get();
                state.next_id.set(id + 1);
                waiters.insert(id, cx.waker().clone());
                drop(waiters);
                self.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let waker = self.event.state.waiters.borrow_mut().remove(&id);
            drop(waker);
        }
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("event", self.event).finish()
    }
}
