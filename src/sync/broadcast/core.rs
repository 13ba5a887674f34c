//! The state both broadcast flavours share, without the sharing: the local
//! flavour keeps it in an `Rc<RefCell<_>>`, the thread-safe one in an
//! `Arc<Mutex<_>>`. Methods hand back wakers to wake and values to drop, so
//! callers do both after releasing the borrow or lock.

use super::error::{SendError, TryRecvError};
use std::collections::{BTreeMap, VecDeque};
use std::task::Waker;

/// A value sent, with how many receivers have still to see it.
struct Slot<T> {
    /// The value; taken by the last receiver to see it (moved, not cloned).
    value: Option<T>,
    /// Receivers that were subscribed when it was sent and have not yet
    /// received it (or dropped). At 0 the slot is empty.
    rem: usize,
}

/// The ring of values, the counts of ends, and the waiting receivers.
pub(crate) struct Core<T> {
    /// The values kept, oldest first; at most `capacity`.
    slots: VecDeque<Slot<T>>,
    /// Sequence number of `slots[0]`.
    head: u64,
    /// Most values kept: sending into a full ring drops the oldest.
    capacity: usize,
    /// Live senders; at 0 receivers see `Closed` once caught up.
    senders: usize,
    /// Live receivers; at 0 sends fail.
    receivers: usize,
    /// Wakers of pending receives by waiter id (removable on drop).
    waiters: BTreeMap<u64, Waker>,
    /// Id for the next waiting receive.
    next_waiter: u64,
}

/// Wakers to wake once the lock is released.
pub(crate) type Wakers = Vec<Waker>;

impl<T> Core<T> {
    /// A channel with one sender and one receiver (at sequence 0).
    pub(crate) fn new(capacity: usize) -> Core<T> {
        assert!(
            capacity > 0,
            "curing: broadcast channel capacity must be > 0"
        );
        Core {
            slots: VecDeque::with_capacity(capacity.min(1024)),
            head: 0,
            capacity,
            senders: 1,
            receivers: 1,
            waiters: BTreeMap::new(),
            next_waiter: 0,
        }
    }

    /// Sequence number the next value gets.
    fn tail(&self) -> u64 {
        self.head + self.slots.len() as u64
    }

    /// Sends `value` to every receiver: gives the number of receivers, the
    /// wakers of the waiting receives, and the value pushed out of a full
    /// ring (to drop outside the lock).
    #[allow(clippy::type_complexity)]
    pub(crate) fn send(&mut self, value: T) -> Result<(usize, Wakers, Option<T>), SendError<T>> {
        if self.receivers == 0 {
            return Err(SendError(value));
        }
        let evicted = if self.slots.len() == self.capacity {
            self.head += 1;
            self.slots.pop_front().and_then(|s| s.value)
        } else {
            None
        };
        self.slots.push_back(Slot {
            value: Some(value),
            rem: self.receivers,
        });
        let wakers = std::mem::take(&mut self.waiters).into_values().collect();
        Ok((self.receivers, wakers, evicted))
    }

    /// A new receiver: it sees values sent from now on.
    pub(crate) fn subscribe(&mut self) -> u64 {
        self.receivers += 1;
        self.tail()
    }

    /// Another sender.
    pub(crate) fn add_sender(&mut self) {
        self.senders += 1;
    }

    /// A sender is gone; the last one wakes every waiting receive.
    pub(crate) fn drop_sender(&mut self) -> Wakers {
        self.senders -= 1;
        if self.senders == 0 {
            std::mem::take(&mut self.waiters).into_values().collect()
        } else {
            Vec::new()
        }
    }

    /// The receiver at `pos` is gone: it no longer holds the values it had
    /// yet to see. Gives those that nobody needs now, to drop outside.
    pub(crate) fn drop_receiver(&mut self, pos: u64) -> Vec<T> {
        self.receivers -= 1;
        let from = pos.max(self.head) - self.head;
        let mut freed = Vec::new();
        for slot in self.slots.iter_mut().skip(from as usize) {
            slot.rem -= 1;
            if slot.rem == 0 {
                freed.extend(slot.value.take());
            }
        }
        self.trim();
        freed
    }

    /// Drops empty slots at the front (every receiver has seen them).
    fn trim(&mut self) {
        while self.slots.front().is_some_and(|s| s.rem == 0) {
            self.slots.pop_front();
            self.head += 1;
        }
    }

    /// Whether a receive at `pos` is ready now (a value, a lag, or the end).
    pub(crate) fn ready(&self, pos: u64) -> bool {
        pos < self.tail() || self.senders == 0
    }

    /// Values sent that the receiver at `pos` has not received.
    pub(crate) fn len(&self, pos: u64) -> usize {
        (self.tail() - pos) as usize
    }

    /// Receivers alive.
    pub(crate) fn receiver_count(&self) -> usize {
        self.receivers
    }

    /// Whether every sender is gone.
    pub(crate) fn senders_gone(&self) -> bool {
        self.senders == 0
    }

    /// Receives for the receiver at `*pos`, advancing it.
    pub(crate) fn try_recv(&mut self, pos: &mut u64) -> Result<T, TryRecvError>
    where
        T: Clone,
    {
        if *pos < self.head {
            let missed = self.head - *pos;
            *pos = self.head;
            return Err(TryRecvError::Lagged(missed));
        }
        if *pos < self.tail() {
            let slot = &mut self.slots[(*pos - self.head) as usize];
            // Clone before counting the receive: a clone that panics leaves
            // the slot and the receiver as they were.
            let value = if slot.rem == 1 {
                slot.value.take()
            } else {
                slot.value.clone()
            };
            slot.rem -= 1;
            *pos += 1;
            self.trim();
            return Ok(value.expect("curing: a broadcast slot a receiver needs holds its value"));
        }
        if self.senders == 0 {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Registers (or refreshes) the waker of the receive `waiter`. Gives a
    /// replaced waker, to drop outside the lock.
    pub(crate) fn register(&mut self, waiter: &mut Option<u64>, waker: &Waker) -> Option<Waker> {
        match *waiter {
            Some(id) => match self.waiters.get_mut(&id) {
                Some(w) if w.will_wake(waker) => None,
                Some(w) => Some(std::mem::replace(w, waker.clone())),
                None => {
                    // Woken, but nothing for us after all: wait again.
                    self.waiters.insert(id, waker.clone());
                    None
                }
            },
            None => {
                let id = self.next_waiter;
                self.next_waiter += 1;
                self.waiters.insert(id, waker.clone());
                *waiter = Some(id);
                None
            }
        }
    }

    /// Removes the waker of the receive `waiter`, if registered; gives it
    /// back to drop outside the lock.
    pub(crate) fn unregister(&mut self, waiter: &mut Option<u64>) -> Option<Waker> {
        waiter.take().and_then(|id| self.waiters.remove(&id))
    }

    /// Waiting receives (for `Debug`).
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }
}

/// Wakes every waker of `wakers`.
pub(crate) fn wake_all(wakers: Wakers) {
    for w in wakers {
        w.wake();
    }
}
