//! Fault tests that have no better home: rows 2, 7, 9, 10, 14, 19 and 26
//! of docs/reliability.md, and `EBADR` (docs/reliability.md, rule 6).
//!
//! docs/reliability.md is the map: for every row of the fault plan it names
//! the tests that cover it, here and in the other test files, and says
//! which parts no test covers. All of them run under the harness oracles of
//! `tests/common` (`common::run`): a hard timeout, the fd count back to
//! baseline, the ring's fdinfo clean after shutdown (`SqHead == SqTail`,
//! empty `PollList` and `CqOverflowList`), no op leaked, no `-EFAULT`
//! completion, and for data paths a byte-exact hash.

mod common;

use common::GuardBuf;
use curing::fs::File;
use curing::net::{TcpListener, TcpStream};
use curing::runtime::{nop, stats};
use curing::time::{sleep, timeout};
use curing::Runtime;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Opcode numbers (`IORING_OP_*`, stable kernel ABI).
const OP_NOP: u8 = 0;
const OP_OPENAT: u8 = 18;
const OP_RECV: u8 = 27;
const OP_SHUTDOWN: u8 = 34;
const OP_SOCKET: u8 = 45;
const OP_SEND_ZC: u8 = 47;
const OP_WAITID: u8 = 50;
const OP_FTRUNCATE: u8 = 55;

/// Polls `fut` exactly once with the current task's waker.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("faults-{name}"))
}

// ---- docs/reliability.md, row 2: missing opcode ----------------------------

/// An op whose opcode the kernel lacks runs from its own fallback in the
/// driver: at once (NOP), or on the blocking pool (OPENAT). An op whose
/// fallback needs readiness (a receive) is refused with `Unsupported`,
/// naming the opcode, and the rest still works.
#[test]
fn a_disabled_opcode_falls_back_in_the_driver_or_is_unsupported() {
    let path = tmp("openat");
    std::fs::write(&path, b"x").unwrap();
    common::run_with(
        || {
            Runtime::builder()
                .disable_opcode(OP_NOP)
                .disable_opcode(OP_OPENAT)
                .disable_opcode(OP_RECV)
        },
        T,
        move || async move {
            for _ in 0..3 {
                nop().await.unwrap();
            }
            let before = stats().ops_submitted;
            let f = File::open(&path).await.unwrap();
            assert_eq!(stats().ops_submitted, before + 1, "one op, on the pool");
            let (res, buf) = f.read_at(vec![0u8; 8], 0).await;
            assert_eq!(&buf[..res.unwrap()], b"x");
            // Dropped while the pool runs it: the op waits in the driver for
            // the job, and the file it opened anyway is closed.
            let fds = common::fd_count();
            for _ in 0..20 {
                let mut open = Box::pin(File::open(&path));
                let _ = poll_once(&mut open).await;
            }
            // (Polled: other tests of this binary may hold descriptors for
            // a moment; a leak stays.)
            for _ in 0..200 {
                if stats().ops_in_flight == 0 && common::fd_count() <= fds {
                    break;
                }
                sleep(Duration::from_millis(10)).await;
            }
            assert!(
                common::fd_count() <= fds,
                "files opened by dropped fallbacks were closed"
            );
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = curing::spawn(async move { TcpStream::connect(addr).await.unwrap() });
            let (server, _) = listener.accept().await.unwrap();
            let _client = client.await.unwrap();
            let (res, _) = server.read(vec![0u8; 8]).await;
            let err = res.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
            assert!(err.to_string().contains("IORING_OP_RECV"), "{err}");
            // Everything else still goes through the ring.
            let (r, w) = common::pipe();
            let (r, w) = (File::from(r), File::from(w));
            w.write_all(b"still works".to_vec()).await.0.unwrap();
            let (res, buf) = r.read(vec![0u8; 32]).await;
            assert_eq!(&buf[..res.unwrap()], b"still works");
            drop(f);
        },
    );
}

#[test]
fn every_fallback_works_when_its_opcode_is_missing() {
    let path = tmp("ftruncate");
    let s = common::run_with(
        || {
            Runtime::builder()
                .disable_opcode(OP_SOCKET) // multishot accept -> single accepts; socket -> libc
                .disable_opcode(OP_SEND_ZC) // send_zc -> send; pooled recv -> plain reads
                .disable_opcode(OP_FTRUNCATE) // set_len -> ftruncate(2)
                .disable_opcode(OP_SHUTDOWN) // shutdown -> shutdown(2)
                .disable_opcode(OP_WAITID) // child wait -> pidfd poll
        },
        T,
        move || async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut incoming = listener.incoming();
            let client = curing::spawn(async move {
                let s = TcpStream::connect(addr).await.unwrap();
                let data = common::pattern(7, 300_000);
                let (res, _) = s.send_zc_all(data.clone()).await;
                res.unwrap();
                s.shutdown(std::net::Shutdown::Write).await.unwrap();
                common::hash(&data)
            });
            let server = incoming.next().await.unwrap().unwrap();
            assert!(!incoming.is_multishot(), "no SOCKET opcode: single accepts");
            let pool = curing::buf::BufPool::new(8, 4096).unwrap();
            assert!(!pool.is_ring(), "no SEND_ZC (6.0): no buffer ring");
            let mut rx = server.recv_pooled(&pool);
            let mut got = common::Hash::new();
            while let Some(buf) = rx.next().await {
                got.update(&buf.unwrap());
            }
            assert_eq!(got.finish(), client.await.unwrap(), "byte-exact");

            let f = File::create(&path).await.unwrap();
            f.set_len(12345).await.unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 12345);
            drop(f);

            let status = curing::process::Command::new("true")
                .status()
                .await
                .unwrap();
            assert!(status.success());
        },
    );
    assert_eq!(s.ops_submitted, s.ops_completed, "{s:?}");
}

// ---- docs/reliability.md, row 7: completed but never re-polled -------------

/// Polls its future once, then never again (even when woken); dropping it
/// drops the future with whatever its op completed with.
struct PollOnce<F> {
    fut: Pin<Box<F>>,
    polled: bool,
}

impl<F: Future> Future for PollOnce<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.polled {
            self.polled = true;
            assert!(self.fut.as_mut().poll(cx).is_pending());
        }
        Poll::Pending
    }
}

fn poll_once_then_never<F: Future>(fut: F) -> PollOnce<F> {
    PollOnce {
        fut: Box::pin(fut),
        polled: false,
    }
}

#[test]
fn completed_but_never_repolled_releases_what_the_cqe_carried() {
    let path = tmp("never-repolled");
    std::fs::write(&path, b"contents").unwrap();
    common::run(T, move || async move {
        let fds = common::fd_count();
        let late = stats().late_completions;
        // An open whose CQE (a new fd) is reaped but never taken.
        let mut open = poll_once_then_never(File::open(path.clone()));
        let _ = poll_once(&mut open).await;
        sleep(Duration::from_millis(5)).await;
        assert_eq!(common::fd_count(), fds + 1, "the kernel opened the file");
        drop(open);
        assert_eq!(common::fd_count(), fds, "the opened fd was closed");

        // An accept whose connection is reaped but never taken.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fds = common::fd_count();
        let mut accept = poll_once_then_never(listener.accept());
        let _ = poll_once(&mut accept).await;
        let peer = TcpStream::connect(addr).await.unwrap();
        sleep(Duration::from_millis(5)).await;
        drop(accept);
        let (res, _) = timeout(Duration::from_secs(2), peer.read(vec![0u8; 8]))
            .await
            .expect("the peer sees the connection closed");
        assert!(matches!(res, Ok(0)) || res.is_err(), "{res:?}");
        drop(peer);
        assert_eq!(common::fd_count(), fds, "the accepted fd was closed");
        assert_eq!(stats().late_completions - late, 2);

        // One more left inside a task that is still pending at shutdown: the
        // runtime must neither hang nor leak it (the harness checks).
        let (r, w) = common::pipe();
        let r = File::from(r);
        curing::spawn(async move {
            poll_once_then_never(r.read(GuardBuf::new(64))).await;
        });
        std::io::Write::write_all(&mut std::fs::File::from(w), b"data").unwrap();
        sleep(Duration::from_millis(5)).await;
    });
}

// ---- docs/reliability.md, row 9: panics ------------------------------------

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("panic in Drop (on purpose)");
        }
    }
}

#[test]
fn panics_in_tasks_and_in_drop_leave_the_runtime_working() {
    common::run(T, || async {
        let ticks = Rc::new(Cell::new(0u32));
        let t = ticks.clone();
        let ticker = curing::spawn(async move {
            for _ in 0..20 {
                sleep(Duration::from_millis(1)).await;
                t.set(t.get() + 1);
            }
        });
        // Panics right after starting a write (to a full pipe: it stays in
        // flight) and a read (on an empty pipe).
        let (r, w) = common::pipe();
        let (r, w) = (Rc::new(File::from(r)), Rc::new(File::from(w)));
        let (r2, w2) = (r.clone(), w.clone());
        let writer = curing::spawn(async move {
            let mut write = Box::pin(w2.write_all(vec![7u8; 1 << 20]));
            let mut read = Box::pin(r2.read(GuardBuf::new(4096)));
            assert!(poll_once(&mut write).await.is_pending());
            sleep(Duration::from_millis(2)).await;
            let _ = poll_once(&mut read).await; // in flight, or done at once
            panic!("task panics holding two ops (on purpose)");
        });
        assert!(writer.await.unwrap_err().is_panic());
        // A task whose state panics in Drop when it finishes, holding an op.
        // (On a pipe of their own that stays empty, so the reads pend.)
        let (er, _ew) = common::pipe();
        let er = Rc::new(File::from(er));
        let r3 = er.clone();
        let finishing = curing::spawn(async move {
            let _bomb = PanicOnDrop;
            let mut read = Box::pin(r3.read(GuardBuf::new(64)));
            let _ = poll_once(&mut read).await;
            sleep(Duration::from_millis(1)).await;
        });
        // The state is dropped inside the task's last poll: the task
        // reports the panic instead of its value.
        assert!(finishing.await.unwrap_err().is_panic());
        // ... and one that is aborted while holding it.
        let r4 = er.clone();
        let aborted = curing::spawn(async move {
            let _bomb = PanicOnDrop;
            r4.read(GuardBuf::new(64)).await
        });
        sleep(Duration::from_millis(2)).await;
        aborted.abort();
        assert!(aborted.await.unwrap_err().is_cancelled());
        ticker.await.unwrap();
        assert_eq!(ticks.get(), 20, "the other task kept running");
        // Every op of the dead tasks was reaped; the pipe still works.
        let drain = curing::spawn({
            let r = r.clone();
            async move {
                let mut n = 0;
                while n < 1 << 20 {
                    let (res, _) = r.read(vec![0u8; 65536]).await;
                    n += res.unwrap();
                }
                n
            }
        });
        let _ = timeout(Duration::from_millis(50), drain).await;
        nop().await.unwrap();
    });
}

// ---- docs/reliability.md, row 10: reentrancy -------------------------------

/// An op's future, type-erased.
type BoxedOp = Pin<Box<dyn Future<Output = io::Result<()>>>>;

thread_local! {
    /// An op future that a waker drops from inside `wake`.
    static VICTIM: RefCell<Option<BoxedOp>> =
        const { RefCell::new(None) };
}

/// Wraps a task's waker; when woken, drops the op in `VICTIM` first.
struct DroppingWaker(Waker);

impl Wake for DroppingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // Runs during the runtime's dispatch, on the runtime thread.
        let victim = VICTIM.with(|v| v.borrow_mut().take());
        drop(victim);
        self.0.wake_by_ref();
    }
}

/// A task state whose `Drop` starts a new op and cancels one it holds.
struct StartsAndCancelsOnDrop {
    held: Option<BoxedOp>,
    started: Rc<Cell<bool>>,
}

impl Drop for StartsAndCancelsOnDrop {
    fn drop(&mut self) {
        drop(self.held.take()); // cancel the op in flight
        let mut fresh = Box::pin(nop());
        let waker = Waker::from(Arc::new(Noop));
        let _ = fresh.as_mut().poll(&mut Context::from_waker(&waker));
        self.started.set(true);
        drop(fresh); // and cancel the new one right away
        curing::spawn(async { nop().await.unwrap() });
    }
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn a_waker_that_drops_another_op_and_a_drop_that_starts_one() {
    common::run(T, || async {
        let (r, _w) = common::pipe();
        let r = Rc::new(File::from(r));
        for _ in 0..50 {
            // The victim: a pipe read that never completes, in flight.
            let r2 = r.clone();
            let mut victim: BoxedOp =
                Box::pin(async move { r2.read(GuardBuf::new(64)).await.0.map(drop) });
            assert!(poll_once(&mut victim).await.is_pending());
            VICTIM.with(|v| *v.borrow_mut() = Some(victim));
            // A nop polled with the dropping waker: its completion's wake
            // drops the victim inside the runtime's dispatch.
            let mut op = Box::pin(nop());
            std::future::poll_fn(|cx| {
                let waker = Waker::from(Arc::new(DroppingWaker(cx.waker().clone())));
                let mut cx2 = Context::from_waker(&waker);
                match op.as_mut().poll(&mut cx2) {
                    Poll::Ready(r) => Poll::Ready(r),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await
            .unwrap();
            assert!(VICTIM.with(|v| v.borrow().is_none()), "the waker ran");
        }
        // Every victim's read was cancelled and reaped: no slot is left
        // behind (an abandon refused for a busy driver would leave one).
        sleep(Duration::from_millis(2)).await;
        let s = stats();
        assert_eq!(s.ops_submitted, s.ops_completed, "{s:?}");
        // Drop of a task's state starts a new op and cancels one, when the
        // task finishes, when it is aborted, and at shutdown.
        for abort in [false, true] {
            let started = Rc::new(Cell::new(false));
            let s = started.clone();
            let r2 = r.clone();
            let task = curing::spawn(async move {
                let mut held: BoxedOp =
                    Box::pin(async move { r2.read(GuardBuf::new(64)).await.0.map(drop) });
                let _ = poll_once(&mut held).await;
                let _state = StartsAndCancelsOnDrop {
                    held: Some(held),
                    started: s,
                };
                sleep(Duration::from_millis(if abort { 1000 } else { 1 })).await;
            });
            sleep(Duration::from_millis(3)).await;
            if abort {
                task.abort();
            }
            let _ = task.await;
            assert!(started.get());
        }
        let r2 = r.clone();
        curing::spawn(async move {
            let held: BoxedOp =
                Box::pin(async move { r2.read(GuardBuf::new(64)).await.0.map(drop) });
            let _state = StartsAndCancelsOnDrop {
                held: Some(held),
                started: Rc::new(Cell::new(false)),
            };
            std::future::pending::<()>().await;
        });
        sleep(Duration::from_millis(2)).await;
        nop().await.unwrap();
    });
}

#[test]
fn many_completions_for_one_task_in_one_dispatch_poll_it_once() {
    common::run(T, || async {
        for _ in 0..20 {
            // 64 nops in flight for one task: their CQEs arrive in one reap
            // and each wakes the same task.
            let mut ops: Vec<_> = (0..64).map(|_| Some(Box::pin(nop()))).collect();
            let polls = Cell::new(0u32);
            std::future::poll_fn(|cx| {
                polls.set(polls.get() + 1);
                let mut pending = 0;
                for slot in ops.iter_mut() {
                    if let Some(op) = slot {
                        match op.as_mut().poll(cx) {
                            Poll::Ready(r) => {
                                r.unwrap();
                                *slot = None;
                            }
                            Poll::Pending => pending += 1,
                        }
                    }
                }
                if pending == 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            assert!(
                polls.get() <= 3,
                "64 wakes in one dispatch must poll the task once, not {} times",
                polls.get()
            );
        }
    });
}

// ---- docs/reliability.md, row 14: submit error after push ------------------

#[test]
fn a_failed_enter_keeps_every_op_and_submits_it_later() {
    let s = common::run_with(Runtime::builder, T, || async {
        let (r, w) = common::pipe();
        let (r, w) = (File::from(r), File::from(w));
        for (i, errno) in [libc::EAGAIN, libc::ENOMEM, libc::EBUSY]
            .into_iter()
            .cycle()
            .take(30)
            .enumerate()
        {
            // A read pushed (SQE queued), then the enter that would submit
            // it fails.
            let mut read = Box::pin(r.read(GuardBuf::new(64)));
            assert!(poll_once(&mut read).await.is_pending());
            curing::runtime::fail_next_enter(errno);
            if i % 3 == 2 {
                // Dropped while its SQE may not even be submitted yet: the
                // driver keeps the buffer until the op's own CQE.
                curing::yield_now().await;
                drop(read);
                nop().await.unwrap();
                continue;
            }
            curing::yield_now().await; // this turn's enter fails
            let msg = format!("message {i}");
            w.write_all(msg.clone().into_bytes()).await.0.unwrap();
            let (res, buf) = read.await;
            assert_eq!(buf.as_slice()[..res.unwrap()], *msg.as_bytes());
        }
        // The park path: nothing ready, the waiting enter fails.
        curing::runtime::fail_next_enter(libc::EAGAIN);
        sleep(Duration::from_millis(2)).await;
    });
    assert!(s.enter_busy >= 21, "the injected failures happened: {s:?}");
    assert_eq!(s.efault_cqes, 0);
}

/// `EBADR` (the kernel dropped completions under memory pressure;
/// docs/reliability.md, rule 6) is counted and reported, and the runtime
/// keeps serving.
#[test]
fn dropped_completions_are_counted_not_a_crash() {
    let s = common::run_with(Runtime::builder, T, || async {
        curing::runtime::fail_next_enter(libc::EBADR);
        curing::yield_now().await;
        nop().await.unwrap();
        sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(s.cq_dropped, 1, "{s:?}");
}

// ---- docs/reliability.md, row 19: close while pending, fd number reuse -----

fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD reads descriptor flags; no memory involved.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

#[test]
fn close_waits_for_a_pending_read_and_the_number_is_not_reused_early() {
    use std::os::fd::AsRawFd;
    common::run(T, || async {
        for round in 0..30 {
            let (r, w) = common::pipe();
            let r = File::from(r);
            let mut w = std::fs::File::from(w);
            let num = r.as_raw_fd();
            // A read queued (its SQE not even submitted yet), then dropped:
            // the op keeps its hold on the fd until its own CQE.
            let mut read = Box::pin(r.read(GuardBuf::new(64)));
            assert!(poll_once(&mut read).await.is_pending());
            if round % 3 == 1 {
                // Data is there before the read reaches the kernel: it
                // completes despite the cancel.
                std::io::Write::write_all(&mut w, b"old").unwrap();
            }
            drop(read);
            let mut close = if round % 3 == 2 {
                // A plain drop instead of close: the queued read still holds
                // the fd, so the number cannot be reused before the kernel
                // has seen (and finished) the read.
                drop(r);
                None
            } else {
                let mut close = Box::pin(r.close());
                assert!(
                    poll_once(&mut close).await.is_pending(),
                    "waits for the read"
                );
                // One turn of the loop: every queued SQE reaches the kernel.
                // The close is not even pushed while the read may act on
                // the fd.
                nop().await.unwrap();
                Some(close)
            };
            assert!(fd_is_open(num), "closed under a pending read");
            let (nr, nw) = common::pipe();
            assert_ne!(nr.as_raw_fd(), num);
            assert_ne!(nw.as_raw_fd(), num);
            drop((nr, nw));
            match close.take() {
                Some(close) => close.await.unwrap(),
                None => {
                    while fd_is_open(num) {
                        nop().await.unwrap();
                    }
                }
            }
            assert!(!fd_is_open(num), "closed once the read was done");
            // Now the number is free: a new pipe may well take it, and
            // nothing of the old read touches it.
            let (nr, nw) = common::pipe();
            let nr = File::from(nr);
            let mut nw = std::fs::File::from(nw);
            std::io::Write::write_all(&mut nw, b"fresh data").unwrap();
            drop(nw);
            let (res, buf) = nr.read(vec![0u8; 64]).await;
            assert_eq!(&buf[..res.unwrap()], b"fresh data", "no byte stolen");
        }
    });
}

// ---- docs/reliability.md, row 26: completion and timer expiry in the same turn ---

#[test]
fn completion_and_timer_expiry_in_one_turn_have_one_outcome() {
    common::run(T, || async {
        let (r, w) = common::pipe();
        let (r, w) = (File::from(r), File::from(w));
        let mut sent = common::Hash::new();
        let mut got = common::Hash::new();
        let (mut timeouts, mut reads) = (0, 0);
        for i in 0..200u64 {
            let msg = common::pattern(i, 1 + (i as usize * 37) % 500);
            sent.update(&msg);
            w.write_all(msg).await.0.unwrap();
            let d = [0, 1_000, 50_000, 1_000_000][i as usize % 4];
            let mut t = Box::pin(timeout(
                Duration::from_nanos(d),
                r.read(Vec::with_capacity(1024)),
            ));
            // The read goes in flight; then the deadline passes while its
            // CQE waits in the ring: the next turn fires the timer and
            // reaps the completion together.
            if let Poll::Ready(out) = poll_once(&mut t).await {
                match out {
                    Ok((res, buf)) => {
                        got.update(&buf[..res.unwrap()]);
                        reads += 1;
                    }
                    Err(_) => timeouts += 1,
                }
                continue;
            }
            std::thread::sleep(Duration::from_micros(1_100));
            match t.await {
                Ok((res, buf)) => {
                    got.update(&buf[..res.unwrap()]);
                    reads += 1;
                }
                Err(_) => timeouts += 1,
            }
            // Whatever the outcome, the bytes are either delivered or
            // handed to the next read (never lost, never twice).
            while got.finish().1 < sent.finish().1 {
                let (res, buf) = r.read(Vec::with_capacity(1024)).await;
                got.update(&buf[..res.unwrap()]);
            }
        }
        assert_eq!(got.finish(), sent.finish(), "byte-exact");
        println!("docs/reliability.md row 26: {reads} reads won, {timeouts} timeouts won");
        assert!(timeouts > 0, "some timers won");
        assert!(reads > 0, "some reads won");
    });
}

#[test]
fn hash_helper_is_chunking_independent_and_order_sensitive() {
    let data = common::pattern(1, 1000);
    let mut h = common::Hash::new();
    h.update(&data[..333]);
    h.update(&data[333..]);
    assert_eq!(h.finish(), common::hash(&data));
    let mut swapped = data.clone();
    swapped.swap(10, 11);
    assert_ne!(common::hash(&swapped), common::hash(&data));
    let info = common::RingInfo::parse(
        "SqHead:\t3\nSqTail:\t4\nPollList:\n  op=22, task_works=0\nCqOverflowList:\nNAPI:\tdisabled\n",
    );
    let (_, problems) = info.check_after_shutdown();
    assert_eq!(problems.len(), 2, "{problems:?}");
}
