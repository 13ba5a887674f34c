//! The driver under pressure, through the public API (docs/reliability.md, rows 3, 4,
//! 7, 8, 12, 13, 29): tiny rings, cancellation at random points, the in-flight
//! cap, shutdown with ops in the kernel, and fork.

mod common;

use curing::runtime::{nop, stats};
use curing::time::{sleep, timeout};
use curing::Runtime;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Polls `fut` exactly once with the current task's waker.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Small deterministic RNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Runs `body` on a runtime built by `builder`, on its own thread, failing
/// the test if it takes longer than `limit`; returns the final stats.
fn run_on<F, Fut>(
    limit: Duration,
    builder: fn() -> curing::Builder,
    body: F,
) -> curing::stats::Stats
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let _fd = common::fd_lock();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = builder().build().expect("runtime");
        rt.block_on(body());
        let _ = tx.send(rt.stats());
    });
    match rx.recv_timeout(limit) {
        Ok(s) => {
            thread.join().unwrap();
            s
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("hung: not done after {limit:?}"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("sender dropped without sending"),
        },
    }
}

/// A ring with 4 SQ and 8 CQ entries: at most 8 ops in flight.
fn tiny() -> curing::Builder {
    Runtime::builder().entries(4).cq_entries(8)
}

/// Asserts every op pushed was also completed and nothing was stale.
fn assert_no_loss(s: &curing::stats::Stats) {
    assert_eq!(s.ops_submitted, s.ops_completed, "ops lost: {s:?}");
    assert_eq!(s.stale_cqes, 0, "{s:?}");
    assert_eq!(s.leaked, 0, "{s:?}");
}

#[test]
fn tiny_ring_runs_hundreds_of_concurrent_nops_sleeps_and_timeouts() {
    let s = run_on(Duration::from_secs(10), tiny, || async {
        let max_in_flight = Rc::new(Cell::new(0usize));
        let mut handles = Vec::new();
        for i in 0..500u64 {
            let m = max_in_flight.clone();
            handles.push(curing::spawn(async move {
                for _ in 0..3 {
                    nop().await.unwrap();
                    m.set(m.get().max(stats().ops_in_flight));
                }
                i
            }));
        }
        let mut rng = Rng(42);
        for i in 0..200u64 {
            let d = Duration::from_micros(rng.below(20_000));
            handles.push(curing::spawn(async move {
                sleep(d).await;
                nop().await.unwrap();
                i
            }));
        }
        let timed_out = Rc::new(Cell::new(0));
        for i in 0..200u64 {
            let d = Duration::from_micros(rng.below(5_000));
            let t = timed_out.clone();
            handles.push(curing::spawn(async move {
                let r = timeout(d, async {
                    loop {
                        nop().await.unwrap();
                    }
                })
                .await;
                if r.is_err() {
                    t.set(t.get() + 1);
                }
                i
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(timed_out.get(), 200, "the endless loops all time out");
        // The cap is the CQ size; the runtime's own wake-up read comes on top.
        assert!(
            max_in_flight.get() <= 9,
            "{} in flight",
            max_in_flight.get()
        );
        sleep(Duration::from_millis(5)).await;
    });
    assert_no_loss(&s);
    assert!(s.backpressure > 0, "the cap was never hit: {s:?}");
    assert!(s.ops_submitted >= 1700, "{s:?}");
}

#[test]
fn a_future_dropped_while_waiting_for_a_slot_does_not_strand_the_next_waiter() {
    let s = run_on(Duration::from_secs(5), tiny, || async {
        // Fill the 8 slots and queue 92 more nops for a slot, dropping each
        // (a zero timeout): their waits for a slot are abandoned.
        for _ in 0..100 {
            let _ = timeout(Duration::ZERO, nop()).await;
        }
        // This one waits for a slot behind them; the 8 slots free up.
        let h = curing::spawn(nop());
        h.await.unwrap().unwrap();
    });
    assert_no_loss(&s);
}

#[test]
fn a_slot_freed_by_a_task_poll_wakes_the_waiter_without_another_event() {
    // One slot. `a` takes it, `b` waits for it. When `a` takes its
    // completion (in its own poll), `b` must be woken although nothing else
    // happens: no timer, no other op, and main awaits `b`, not `a`.
    let s = run_on(
        Duration::from_secs(5),
        || Runtime::builder().entries(1).cq_entries(1),
        || async {
            let a = curing::spawn(nop());
            let b = curing::spawn(nop());
            b.await.unwrap().unwrap();
            a.await.unwrap().unwrap();
        },
    );
    assert_no_loss(&s);
    assert!(s.backpressure > 0, "b never waited for a slot: {s:?}");
}

#[test]
fn waiters_for_a_slot_all_get_one_when_some_give_up() {
    let s = run_on(Duration::from_secs(5), tiny, || async {
        let mut handles = Vec::new();
        for i in 0..64u64 {
            handles.push(curing::spawn(async move {
                if i % 2 == 0 {
                    // Gives up at once on its nop, slot or not.
                    let _ = timeout(Duration::ZERO, nop()).await;
                } else {
                    nop().await.unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_no_loss(&s);
}

/// Creates `rounds` nops and, by a seeded RNG, drops each unpolled, in
/// flight, completed but not re-polled, or awaits it; then checks that every
/// op was reaped.
async fn cancel_storm(seed: u64, rounds: u64) {
    let mut rng = Rng(seed);
    let before = stats();
    let (mut dropped_unpolled, mut dropped_in_flight, mut dropped_done, mut awaited) = (0, 0, 0, 0);
    for _ in 0..rounds {
        let mut op = Box::pin(nop());
        match rng.below(4) {
            0 => dropped_unpolled += 1,
            1 => {
                let _ = poll_once(&mut op).await;
                dropped_in_flight += 1;
            }
            2 => {
                // Completed but never polled again (docs/reliability.md, row 7).
                if poll_once(&mut op).await.is_pending() {
                    for _ in 0..rng.below(3) {
                        curing::yield_now().await;
                    }
                }
                dropped_done += 1;
            }
            _ => {
                op.as_mut().await.unwrap();
                awaited += 1;
            }
        }
        drop(op);
        if rng.below(16) == 0 {
            curing::yield_now().await;
        }
    }
    sleep(Duration::from_millis(10)).await;
    let s = stats();
    assert!(dropped_unpolled > 0 && dropped_in_flight > 0 && dropped_done > 0 && awaited > 0);
    assert_eq!(
        s.ops_submitted - before.ops_submitted,
        s.ops_completed - before.ops_completed,
        "{s:?}"
    );
    assert!(s.ops_cancelled > before.ops_cancelled, "{s:?}");
    assert_eq!(s.stale_cqes, 0, "{s:?}");
    // Nothing of ours is in the kernel (its own wake-up read is not
    // counted).
    assert_eq!(s.ops_in_flight, 0, "{s:?}");
}

#[test]
fn ten_thousand_nops_cancelled_at_random_points_leave_nothing_in_flight() {
    common::run(Duration::from_secs(10), || {
        cancel_storm(0x5eed_0001, 10_000)
    });
}

#[test]
fn random_cancellation_on_a_tiny_ring() {
    let s = run_on(Duration::from_secs(10), tiny, || {
        cancel_storm(0x5eed_0002, 5_000)
    });
    assert_no_loss(&s);
}

#[test]
fn cancels_with_a_full_submission_queue_do_not_hang() {
    let s = run_on(Duration::from_secs(5), tiny, || async {
        for _ in 0..20 {
            // In one poll: push as many nops as fit, then drop them all, so
            // the cancels meet a full SQ.
            let mut ops: Vec<_> = (0..32).map(|_| Box::pin(nop())).collect();
            for op in &mut ops {
                let _ = poll_once(op).await;
            }
            drop(ops);
            nop().await.unwrap();
        }
        sleep(Duration::from_millis(5)).await;
    });
    assert_no_loss(&s);
    assert!(s.ops_cancelled > 0, "{s:?}");
}

#[test]
fn runtime_drop_with_ops_in_the_kernel_cancels_them_promptly() {
    let _fd = common::fd_lock();
    let fds_before = common::fd_table();
    let (r, w) = common::pipe();
    let w = std::fs::File::from(w);
    let r2 = r.try_clone().unwrap();
    let listener = curing::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::net::TcpStream::connect(addr).unwrap();
    let rt = Runtime::new().unwrap();
    let dropped = Rc::new(Cell::new(0));
    rt.block_on(async {
        let pipe = Rc::new(curing::fs::File::from(r));
        let (stream, _) = listener.accept().await.unwrap();
        // Reads that never complete: an empty pipe, an idle socket.
        for _ in 0..2 {
            let p = pipe.clone();
            let d = dropped.clone();
            drop(curing::spawn(async move {
                let _g = Guard(d);
                let (res, _buf) = p.read(vec![0u8; 64]).await;
                panic!("the pipe read completed: {res:?}");
            }));
        }
        let d = dropped.clone();
        drop(curing::spawn(async move {
            let _g = Guard(d);
            let (res, _buf) = stream.read(vec![0u8; 64]).await;
            panic!("the socket read completed: {res:?}");
        }));
        // An accept with no client coming.
        let d = dropped.clone();
        drop(curing::spawn(async move {
            let _g = Guard(d);
            let r = listener.accept().await;
            panic!("accept completed: {:?}", r.map(|x| x.1));
        }));
        let d = dropped.clone();
        drop(curing::spawn(async move {
            let _g = Guard(d);
            sleep(Duration::from_secs(3600)).await;
        }));
        for _ in 0..3 {
            curing::yield_now().await;
        }
        nop().await.unwrap();
        let s = stats();
        // The pipe read, the socket read and the accept (the runtime's own
        // wake-up read is not counted).
        assert!(s.ops_in_flight >= 3, "{s:?}");
    });
    let start = Instant::now();
    drop(rt);
    let took = start.elapsed();
    // Cancelled and reaped, not waited out (the bound is 1 s, then leak).
    assert!(
        took < Duration::from_millis(900),
        "runtime drop took {took:?}"
    );
    assert_eq!(dropped.get(), 5);
    // The cancelled reads consumed nothing: the pipe still carries our bytes.
    use std::io::{Read, Write};
    (&w).write_all(b"still here").unwrap();
    let mut got = [0u8; 10];
    std::fs::File::from(r2).read_exact(&mut got).unwrap();
    assert_eq!(&got, b"still here");
    drop(client);
    drop(w);
    common::assert_fds_back(&fds_before, "fds leaked");
}

/// Counts its drop.
struct Guard(Rc<Cell<usize>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn runtime_drop_with_many_nops_in_flight_on_a_tiny_ring() {
    let _fd = common::fd_lock();
    let fds_before = common::fd_table();
    let rt = tiny().build().unwrap();
    rt.block_on(async {
        for _ in 0..1000 {
            drop(curing::spawn(async {
                loop {
                    nop().await.unwrap();
                }
            }));
        }
        for _ in 0..5 {
            curing::yield_now().await;
        }
    });
    let s = rt.stats();
    assert!(s.ops_submitted > 0);
    let start = Instant::now();
    drop(rt);
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    common::assert_fds_back(&fds_before, "fds leaked");
}

// ---- fork (docs/reliability.md, row 29), in a child process -------------
// (so a crash cannot take the harness)

/// Set in the child process: which fork scenario to run.
const FORK_ENV: &str = "CURING_FORK_CHILD";

/// Re-runs `test` as a child process; returns its stdout (asserting success).
fn run_child(test: &str) -> String {
    let _fd = common::fd_lock();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(FORK_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "child hung; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

/// Forks; runs `child` in the forked process (which exits with the code it
/// returns, skipping destructors); returns the child's wait status, or
/// kills it after 5 s.
fn fork_and_wait(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `child` and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: ends the forked child without running the parent's
        // destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return status;
        }
        if Instant::now() > deadline {
            // SAFETY: kills our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("forked child hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// "exit N" or "killed by signal N".
fn describe(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else {
        format!("killed by signal {}", libc::WTERMSIG(status))
    }
}

/// Whether `f` panics with a message mentioning fork.
fn panics_about_fork(f: impl FnOnce()) -> bool {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    match r {
        Ok(()) => false,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            msg.contains("fork")
        }
    }
}

#[test]
fn forked_child_gets_a_clear_panic_and_the_parent_is_unaffected() {
    if std::env::var(FORK_ENV).is_err() {
        let out = run_child("forked_child_gets_a_clear_panic_and_the_parent_is_unaffected");
        assert!(out.contains("FORK-CHILD: exit 0"), "{out}");
        assert!(out.contains("FORK-PARENT: ok"), "{out}");
        return;
    }
    std::panic::set_hook(Box::new(|_| {}));
    let (r, w) = common::pipe();
    let w = std::fs::File::from(w);
    let rt = Runtime::new().unwrap();
    let pipe = Rc::new(curing::fs::File::from(r));
    let p = pipe.clone();
    // A read in flight across the fork.
    let reader = rt.spawn(async move {
        let (res, buf) = p.read(vec![0u8; 16]).await;
        buf[..res.unwrap()].to_vec()
    });
    rt.block_on(async {
        nop().await.unwrap();
        for _ in 0..3 {
            curing::yield_now().await;
        }
        let status = fork_and_wait(|| {
            // Every way into the runtime panics with a message about fork.
            let mut op = Box::pin(nop());
            let polled = panics_about_fork(|| {
                let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
                let mut cx = std::task::Context::from_waker(&waker);
                let _ = op.as_mut().poll(&mut cx);
            });
            std::mem::forget(op);
            if polled {
                0
            } else {
                1
            }
        });
        println!("FORK-CHILD: {}", describe(status));
        // The parent's ring is intact: its pending read and new ops work.
        nop().await.unwrap();
        use std::io::Write;
        (&w).write_all(b"to parent").unwrap();
        let got = timeout(Duration::from_secs(2), reader).await;
        assert_eq!(got.expect("read completes").unwrap(), b"to parent");
    });
    let s = rt.stats();
    assert_eq!(s.stale_cqes, 0);
    drop(rt);
    println!("FORK-PARENT: ok");
}

/// A waker that does nothing.
struct Noop;

impl std::task::Wake for Noop {
    fn wake(self: std::sync::Arc<Self>) {}
}

#[test]
fn forked_child_can_drop_the_runtime_without_crashing() {
    if std::env::var(FORK_ENV).is_err() {
        let out = run_child("forked_child_can_drop_the_runtime_without_crashing");
        assert!(out.contains("FORK-CHILD-IDLE: exit 0"), "{out}");
        assert!(out.contains("FORK-CHILD-BUSY: exit 0"), "{out}");
        assert!(out.contains("FORK-PARENT: ok"), "{out}");
        return;
    }
    std::panic::set_hook(Box::new(|_| {}));
    // A program that forks and lets its runtime go out of scope in the child
    // (say, on an error path before exec) must neither crash nor panic.
    let drop_in_child = |rt: &Runtime| {
        fork_and_wait(|| {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // SAFETY: a bitwise copy, dropped once, in the child only; the
                // parent's runtime is untouched.
                drop(unsafe { std::ptr::read(rt) })
            }))
            .is_err();
            i32::from(panicked)
        })
    };
    // Idle: no op of ours in flight (only the runtime's own wake-up read).
    let idle = Runtime::new().unwrap();
    idle.block_on(async {
        nop().await.unwrap();
        let status = drop_in_child(&idle);
        println!("FORK-CHILD-IDLE: {}", describe(status));
        nop().await.unwrap();
    });
    // Busy: a pipe read in flight.
    let (r, w) = common::pipe();
    let w = std::fs::File::from(w);
    let busy = Runtime::new().unwrap();
    let pipe = curing::fs::File::from(r);
    let reader = busy.spawn(async move {
        let (res, buf) = pipe.read(vec![0u8; 16]).await;
        buf[..res.unwrap()].to_vec()
    });
    busy.block_on(async {
        for _ in 0..3 {
            curing::yield_now().await;
        }
        let status = drop_in_child(&busy);
        println!("FORK-CHILD-BUSY: {}", describe(status));
        use std::io::Write;
        (&w).write_all(b"ok").unwrap();
        let got = timeout(Duration::from_secs(2), reader).await;
        assert_eq!(got.expect("parent read completes").unwrap(), b"ok");
    });
    println!("FORK-PARENT: ok");
}
