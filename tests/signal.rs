//! Signals through a signalfd read by the ring: delivered while the runtime
//! is parked, queued before anyone waits, not lost by a dropped wait.
//!
//! A signalfd only sees signals blocked in every thread, and the test
//! harness's own threads do not block them; so each test runs in a forked
//! child (single-threaded, so the mask is complete), which exits 0 on
//! success. The parent waits for it with a timeout.

use curing::signal::{Signals, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// Runs `body` in a forked child on a fresh runtime; fails if the child
/// fails, or hangs past 10 s.
fn in_child(body: fn()) {
    // SAFETY: the child runs only `body` (a new runtime, no state shared
    // with the parent's threads) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(body).is_ok();
        // SAFETY: ends the child without running the parent's atexit work.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut status = 0;
        // SAFETY: `status` is a live local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child failed (status {status:#x}); see its output above"
            );
            return;
        }
        if Instant::now() > deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("child timed out: a signal was not delivered");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `sig` to the whole process (not a thread) after `delay`.
fn send_later(sig: i32, delay: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        // SAFETY: kill takes no pointers.
        unsafe { libc::kill(libc::getpid(), sig) };
    })
}

#[test]
fn signals_arrive_while_the_runtime_is_parked() {
    in_child(|| {
        curing::run(async {
            let mut signals = Signals::new(&[SIGUSR1, SIGUSR2]).unwrap();
            // The runtime has nothing else to do: it is parked in
            // io_uring_enter when the signals come.
            let t = send_later(SIGUSR1, Duration::from_millis(50));
            assert_eq!(signals.recv().await.unwrap(), SIGUSR1);
            t.join().unwrap();
            let t = send_later(SIGUSR2, Duration::from_millis(50));
            assert_eq!(signals.next().await.unwrap().unwrap(), SIGUSR2);
            t.join().unwrap();
        });
    });
}

#[test]
fn a_signal_sent_before_the_wait_is_kept() {
    in_child(|| {
        curing::run(async {
            let mut signals = Signals::new(&[SIGTERM]).unwrap();
            // SAFETY: kill takes no pointers.
            unsafe { libc::kill(libc::getpid(), SIGTERM) };
            curing::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(signals.recv().await.unwrap(), SIGTERM);
        });
    });
}

#[test]
fn ctrl_c_resolves_on_sigint() {
    in_child(|| {
        curing::run(async {
            // ctrl_c() blocks SIGINT when called, so the thread started
            // after it inherits the mask.
            let wait = curing::signal::ctrl_c();
            let t = send_later(SIGINT, Duration::from_millis(50));
            wait.await.unwrap();
            t.join().unwrap();
        });
    });
}

#[test]
fn a_dropped_wait_loses_no_signal() {
    in_child(|| {
        curing::run(async {
            let mut signals = Signals::new(&[SIGUSR1]).unwrap();
            for _ in 0..20 {
                let r = curing::time::timeout(Duration::from_millis(1), signals.recv()).await;
                assert!(r.is_err());
            }
            let t = send_later(SIGUSR1, Duration::from_millis(10));
            t.join().unwrap();
            assert_eq!(signals.recv().await.unwrap(), SIGUSR1);
            // Other tasks keep running while a signal wait is pending.
            let ticks = curing::spawn(async {
                for _ in 0..5 {
                    curing::time::sleep(Duration::from_millis(2)).await;
                }
            });
            ticks.await.unwrap();
        });
    });
}

#[test]
fn uncatchable_signals_are_refused() {
    let err = Signals::new(&[libc::SIGKILL]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Signals::new(&[1000]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
