//! A model of `task::as_completed`: its per-future wakers merge wakes with a
//! `queued` flag, as the executor's tasks do with `scheduled`.

use super::{model, set_then_wake, wait_for_flag, FirstWaker, Wakeups};
use crate::sync_prims::{Arc, AtomicBool};
use crate::task::as_completed;
use futures_core::Stream;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

/// The task awaiting the stream: its wake posts a wake-up to park on.
struct Parent(Wakeups);

impl Wake for Parent {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.post();
    }
}

/// A future in the stream keeps the waker of its first poll and queues
/// itself then (a yield); another thread then sets a flag (`Release`) and
/// wakes it, often while it is still queued (the wake is merged). The poll
/// that follows must see the flag (`Acquire`), else the stream stays
/// pending with nothing left to wake it (a loom deadlock).
///
/// Caught: the poll clearing `queued` with a store (the code before this
/// model): a deadlock.
#[test]
fn loom_as_completed_merged_wake_happens_before_the_next_poll() {
    model(None, || {
        let flag = Arc::new(AtomicBool::new(false));
        let first = FirstWaker::default();
        let future = wait_for_flag(flag.clone(), first.clone());
        let mut stream = as_completed([future]);
        let wakeups = Wakeups::new();
        let parent = Waker::from(std::sync::Arc::new(Parent(wakeups.clone())));
        let mut cx = Context::from_waker(&parent);
        let mut other = None;
        let out = loop {
            if let Poll::Ready(out) = Pin::new(&mut stream).poll_next(&mut cx) {
                break out;
            }
            if let Some(waker) = first.lock().unwrap().take() {
                other = Some(set_then_wake(flag.clone(), waker));
            }
            wakeups.park();
        };
        assert_eq!(out, Some(()));
        other.expect("spawned").join().unwrap();
    });
}
