//! The channel both kinds of mpsc share: a queue, the receiver's waker,
//! a sender count, and (bounded only) a semaphore of free room.

use super::{SendError, TryRecvError};
use crate::sync::Semaphore;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// What the ends share.
pub(super) struct Chan<T> {
    /// Messages sent and not yet received.
    pub(super) queue: RefCell<VecDeque<T>>,
    /// The receiver's task, woken by a send or the last sender's drop.
    pub(super) rx_waker: RefCell<Option<Waker>>,
    /// Live senders; at 0 the receiver sees the end of the stream.
    pub(super) senders: Cell<usize>,
    /// Set when the receiver closes or is dropped: sends fail.
    pub(super) closed: Cell<bool>,
    /// Room for messages (bounded channels only): a send takes a permit and
    /// forgets it; a receive adds one back.
    pub(super) room: Option<Semaphore>,
    /// The bound, for `max_capacity`.
    pub(super) capacity: usize,
}

impl<T> Chan<T> {
    pub(super) fn open(room: Option<Semaphore>, capacity: usize) -> (Tx<T>, Rx<T>) {
        let chan = Rc::new(Chan {
            queue: RefCell::new(VecDeque::new()),
            rx_waker: RefCell::new(None),
            senders: Cell::new(1),
            closed: Cell::new(false),
            room,
            capacity,
        });
        (Tx { chan: chan.clone() }, Rx { chan })
    }

    /// Queues a message (room already taken) and wakes the receiver.
    pub(super) fn push(&self, value: T) -> Result<(), SendError<T>> {
        if self.closed.get() {
            return Err(SendError(value));
        }
        self.queue.borrow_mut().push_back(value);
        let waker = self.rx_waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

/// The sending side shared by both kinds of sender: counts senders.
pub(super) struct Tx<T> {
    /// The channel.
    pub(super) chan: Rc<Chan<T>>,
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Tx<T> {
        self.chan.senders.set(self.chan.senders.get() + 1);
        Tx {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        let left = self.chan.senders.get() - 1;
        self.chan.senders.set(left);
        if left == 0 {
            let waker = self.chan.rx_waker.borrow_mut().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// The receiving side shared by both kinds of receiver.
pub(super) struct Rx<T> {
    /// The channel.
    pub(super) chan: Rc<Chan<T>>,
}

impl<T> Rx<T> {
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let ready = !self.chan.queue.borrow().is_empty()
            || self.chan.closed.get()
            || self.chan.senders.get() == 0;
        if ready {
            // A message (or the end) ready at once spends the task's budget,
            // before anything is taken: a `Pending` here loses nothing.
            std::task::ready!(crate::coop::poll_proceed(cx));
        }
        match self.try_recv() {
            Ok(v) => Poll::Ready(Some(v)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                let mut slot = self.chan.rx_waker.borrow_mut();
                if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *slot = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    pub(super) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let value = self.chan.queue.borrow_mut().pop_front();
        match value {
            Some(v) => {
                if let Some(room) = &self.chan.room {
                    room.add_permits(1);
                }
                Ok(v)
            }
            None if self.chan.closed.get() || self.chan.senders.get() == 0 => {
                Err(TryRecvError::Disconnected)
            }
            None => Err(TryRecvError::Empty),
        }
    }

    pub(super) fn close(&mut self) {
        self.chan.closed.set(true);
        if let Some(room) = &self.chan.room {
            room.close();
        }
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        self.close();
        let unread = std::mem::take(&mut *self.chan.queue.borrow_mut());
        drop(unread);
    }
}
