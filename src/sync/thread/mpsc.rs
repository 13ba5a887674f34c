//! A thread-safe multi-producer, single-consumer channel, bounded
//! ([`channel`]) or unbounded ([`unbounded_channel`]).
//!
//! Both ends are `Send`: senders and the receiver can each be a task on any
//! curing runtime (`send().await`, `recv().await`) or a plain thread
//! ([`Sender::blocking_send`], [`Receiver::blocking_recv`]). A wake crosses
//! threads through the receiving runtime's wake-up path (see
//! [`crate::runtime::Handle`]); nothing polls.
//!
//! ```
//! use curing::sync::thread::mpsc;
//! let (tx, mut rx) = mpsc::channel(16);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..100 {
//!         tx.blocking_send(i).unwrap();
//!     }
//! });
//! let sum = curing::run(async move {
//!     let mut sum = 0;
//!     while let Some(i) = rx.recv().await {
//!         sum += i;
//!     }
//!     sum
//! });
//! producer.join().unwrap();
//! assert_eq!(sum, 4950);
//! ```
//!
//! ## Cancellation
//!
//! A dropped `recv()` took nothing (a message leaves the queue only in the
//! poll that returns it). A dropped `send()` did not send; room handed to it
//! passes to the next waiting sender.

pub use crate::sync::mpsc::{SendError, TryRecvError, TrySendError};

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A channel holding at most `capacity` messages.
///
/// # Panics
///
/// If `capacity` is 0.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "curing: mpsc channel capacity must be > 0");
    open(capacity)
}

/// A channel without a bound: sends never wait.
pub fn unbounded_channel<T>() -> (Sender<T>, Receiver<T>) {
    open(usize::MAX)
}

fn open<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Mutex::new(Chan {
        queue: VecDeque::new(),
        capacity,
        senders: 1,
        rx_alive: true,
        rx_waker: None,
        send_waiters: VecDeque::new(),
        next_waiter: 0,
    }));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The channel, under one lock.
struct Chan<T> {
    /// Messages sent and not yet received.
    queue: VecDeque<T>,
    /// Most messages `queue` may hold (`usize::MAX`: unbounded).
    capacity: usize,
    /// Live senders; at 0 the receiver sees the end once the queue is empty.
    senders: usize,
    /// False once the receiver is dropped or closed: sends fail.
    rx_alive: bool,
    /// The receiving task, woken by a send or the last sender's drop.
    rx_waker: Option<Waker>,
    /// Senders waiting for room, in arrival order, by waiter id.
    send_waiters: VecDeque<(u64, Waker)>,
    /// Id for the next waiting sender.
    next_waiter: u64,
}

impl<T> Chan<T> {
    fn has_room(&self) -> bool {
        self.queue.len() < self.capacity
    }
}

fn lock<T>(m: &Mutex<Chan<T>>) -> MutexGuard<'_, Chan<T>> {
    // Every update under the lock leaves the channel consistent, so a panic
    // elsewhere (poisoning) does not make it unusable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending end; clone it for more producers.
pub struct Sender<T> {
    /// The channel.
    chan: Arc<Mutex<Chan<T>>>,
}

impl<T> Sender<T> {
    /// Sends without waiting: `Full` if a bounded channel has no room,
    /// `Closed` if the receiver is gone.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut chan = lock(&self.chan);
        if !chan.rx_alive {
            return Err(TrySendError::Closed(value));
        }
        if !chan.has_room() {
            return Err(TrySendError::Full(value));
        }
        chan.queue.push_back(value);
        let waker = chan.rx_waker.take();
        drop(chan);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Sends, waiting for room in a bounded channel. Gives the message back
    /// if the receiver is gone.
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            sender: self,
            value: Some(value),
            waiter: None,
        }
    }

    /// Sends from a plain thread, parking it while the channel is full.
    ///
    /// # Panics
    ///
    /// On a thread running a curing runtime (use `send().await` there).
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        crate::blocking::wait("mpsc::Sender::blocking_send", self.send(value))
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        !lock(&self.chan).rx_alive
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        lock(&self.chan).senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut chan = lock(&self.chan);
        chan.senders -= 1;
        let waker = if chan.senders == 0 {
            chan.rx_waker.take()
        } else {
            None
        };
        drop(chan);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Whether senders queued before `waiter` (ours, if we queued) wait for
/// room. Room goes to earlier waiters first. A woken waiter has left the
/// list (it owns the room); one still in it waits its turn.
fn queued_ahead<T>(chan: &Chan<T>, waiter: Option<u64>) -> bool {
    let position = waiter.and_then(|id| chan.send_waiters.iter().position(|(w, _)| *w == id));
    match (waiter, position) {
        (None, _) => !chan.send_waiters.is_empty(),
        (Some(_), Some(p)) => p > 0,
        (Some(_), None) => false,
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    sender: &'a Sender<T>,
    /// The message until it is queued or given back.
    value: Option<T>,
    /// Our id in `send_waiters` while we wait for room.
    waiter: Option<u64>,
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut spent = false;
        let mut chan = lock(&this.sender.chan);
        let queued_ahead = loop {
            let ahead = queued_ahead(&chan, this.waiter);
            let ready = !chan.rx_alive || (chan.has_room() && !ahead);
            if !ready || spent {
                break ahead;
            }
            // Ready at once: spend the task's budget first, outside the lock
            // (running out wakes the task), with the message still ours.
            drop(chan);
            std::task::ready!(crate::coop::poll_proceed(cx));
            spent = true;
            // Another sender may have taken the room meanwhile: look again.
            chan = lock(&this.sender.chan);
        };
        let value = this
            .value
            .take()
            .expect("SendFuture polled after completion");
        if !chan.rx_alive {
            return Poll::Ready(Err(SendError(value)));
        }
        if chan.has_room() && !queued_ahead {
            if let Some(id) = this.waiter.take() {
                chan.send_waiters.retain(|(w, _)| *w != id);
            }
            chan.queue.push_back(value);
            let waker = chan.rx_waker.take();
            drop(chan);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        this.value = Some(value);
        let old = match this.waiter {
            Some(id) => match chan.send_waiters.iter_mut().find(|(w, _)| *w == id) {
                Some((_, w)) if w.will_wake(cx.waker()) => None,
                Some((_, w)) => Some(std::mem::replace(w, cx.waker().clone())),
                None => {
                    // Woken but the room went elsewhere: queue again, first.
                    chan.send_waiters.push_front((id, cx.waker().clone()));
                    None
                }
            },
            None => {
                let id = chan.next_waiter;
                chan.next_waiter += 1;
                chan.send_waiters.push_back((id, cx.waker().clone()));
                this.waiter = Some(id);
                None
            }
        };
        drop(chan);
        drop(old);
        Poll::Pending
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.waiter else { return };
        let mut chan = lock(&self.sender.chan);
        let before = chan.send_waiters.len();
        chan.send_waiters.retain(|(w, _)| *w != id);
        // Not in the list: we were woken for room we never used; pass it on.
        let next = if before == chan.send_waiters.len() && chan.has_room() {
            chan.send_waiters.front().map(|(_, w)| w.clone())
        } else {
            None
        };
        drop(chan);
        if let Some(w) = next {
            w.wake();
        }
    }
}

/// The receiving end.
pub struct Receiver<T> {
    /// The channel.
    chan: Arc<Mutex<Chan<T>>>,
}

impl<T> Receiver<T> {
    /// Receives the next message, waiting for one; `None` once every sender
    /// is gone (or the channel was closed) and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives on a plain thread, parking it while the queue is empty.
    ///
    /// # Panics
    ///
    /// On a thread running a curing runtime (use `recv().await` there).
    pub fn blocking_recv(&mut self) -> Option<T> {
        crate::blocking::wait("mpsc::Receiver::blocking_recv", self.recv())
    }

    /// Takes a queued message without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut chan = lock(&self.chan);
        match pop(&mut chan) {
            (Some(v), waker) => {
                drop(chan);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(v)
            }
            (None, _) if chan.senders == 0 || !chan.rx_alive => Err(TryRecvError::Disconnected),
            (None, _) => Err(TryRecvError::Empty),
        }
    }

    /// Refuses further sends; messages already queued can still be received.
    pub fn close(&mut self) {
        let waiters = {
            let mut chan = lock(&self.chan);
            chan.rx_alive = false;
            std::mem::take(&mut chan.send_waiters)
        };
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// Polls for the next message (the `Stream` method, by hand).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut chan = lock(&self.chan);
        if !chan.queue.is_empty() || chan.senders == 0 || !chan.rx_alive {
            // Ready at once: spend the task's budget first, outside the lock
            // (running out wakes the task), before a message is taken. Only
            // this receiver takes messages and the end stays the end, so it
            // is still ready after.
            drop(chan);
            std::task::ready!(crate::coop::poll_proceed(cx));
            chan = lock(&self.chan);
        }
        if let (Some(v), waker) = pop(&mut chan) {
            drop(chan);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Some(v));
        }
        if chan.senders == 0 || !chan.rx_alive {
            return Poll::Ready(None);
        }
        let old = match &chan.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => None,
            _ => chan.rx_waker.replace(cx.waker().clone()),
        };
        drop(chan);
        drop(old);
        Poll::Pending
    }
}

/// Pops a message and, if a sender waits for room, its waker (removed from
/// the list: that sender now owns the room until it uses or passes it).
fn pop<T>(chan: &mut Chan<T>) -> (Option<T>, Option<Waker>) {
    let value = chan.queue.pop_front();
    if value.is_none() {
        return (None, None);
    }
    (value, chan.send_waiters.pop_front().map(|(_, w)| w))
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (queue, waiters) = {
            let mut chan = lock(&self.chan);
            chan.rx_alive = false;
            (
                std::mem::take(&mut chan.queue),
                std::mem::take(&mut chan.send_waiters),
            )
        };
        // Messages' destructors run outside the lock.
        drop(queue);
        for (_, w) in waiters {
            w.wake();
        }
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver").finish_non_exhaustive()
    }
}
