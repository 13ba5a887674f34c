//! Models of a plain thread blocked in `blocking::wait` (what
//! `RemoteJoinHandle::join` and `oneshot::Receiver::blocking_recv` use) on
//! the thread-safe oneshot, woken from another thread: the `woken` flag and
//! park/unpark of its `Unparker`.

use super::model;
use crate::sync::thread::oneshot;
use loom::thread;

/// The value sent from another thread is received: the wake between the
/// waiter's poll and its park is never lost (else a loom deadlock).
///
/// Caught: `Unparker` unparking before it sets `woken` (a deadlock).
#[test]
fn loom_blocking_wait_gets_a_send() {
    model(None, || {
        let (tx, rx) = oneshot::channel::<u32>();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        assert_eq!(crate::blocking::wait("model", rx), Ok(7));
        sender.join().unwrap();
    });
}

/// A sender dropped on another thread ends the wait with an error.
#[test]
fn loom_blocking_wait_sees_the_sender_go() {
    model(None, || {
        let (tx, rx) = oneshot::channel::<u32>();
        let sender = thread::spawn(move || drop(tx));
        assert!(crate::blocking::wait("model", rx).is_err());
        sender.join().unwrap();
    });
}
