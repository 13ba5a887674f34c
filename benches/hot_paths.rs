//! Micro-benchmarks of curing's hot paths, with divan:
//!
//! - `op`: an op's submit → `io_uring_enter` → completion → wake, with
//!   `IORING_OP_NOP` (alone, and 32 at once: one `io_uring_enter` for all);
//! - `task`: spawn + join of a tiny task, and a task waking itself
//!   (`yield_now`: wake → run queue → poll);
//! - `timer`: a sleep's insert + cancel (polled once, then dropped), and
//!   insert + expire of 256 sleeps due together.
//!
//! ```text
//! cargo bench --bench hot_paths                 # measure
//! cargo test --bench hot_paths                  # each once (what `cargo test --all-targets` does)
//! ```
//!
//! Every benchmark runs on one runtime built up front; the side-by-side
//! numbers against other runtimes are in `benches/compare` (`ci/bench.sh`).

use divan::counter::ItemsCount;
use divan::Bencher;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

fn main() {
    divan::main();
}

fn runtime() -> curing::Runtime {
    curing::Runtime::new().expect("curing runtime")
}

/// Polls every future until all are done (no allocation per poll; the
/// whole set is polled on each wake, fine for 32-256 futures).
struct JoinAll<F: Future> {
    futs: Vec<Option<Pin<Box<F>>>>,
    left: usize,
}

fn join_all<F: Future>(futs: impl IntoIterator<Item = F>) -> JoinAll<F> {
    let futs: Vec<_> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let left = futs.len();
    JoinAll { futs, left }
}

impl<F: Future> Future for JoinAll<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        for slot in this.futs.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                    this.left -= 1;
                }
            }
        }
        if this.left == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

mod op {
    use super::*;

    /// One NOP: submit, enter, reap, wake, poll.
    #[divan::bench]
    fn nop(b: Bencher) {
        let rt = runtime();
        b.bench_local(|| rt.block_on(curing::runtime::nop()).unwrap());
    }

    /// 32 NOPs in flight at once: one `io_uring_enter` submits them all.
    #[divan::bench]
    fn nop_batch_32(b: Bencher) {
        let rt = runtime();
        b.counter(ItemsCount::new(32usize)).bench_local(|| {
            rt.block_on(join_all((0..32).map(|_| async {
                curing::runtime::nop().await.unwrap();
            })))
        });
    }
}

mod task {
    use super::*;

    /// Spawn a task that returns at once, and join it.
    #[divan::bench]
    fn spawn_join(b: Bencher) {
        let rt = runtime();
        b.bench_local(|| rt.block_on(async { curing::spawn(async { 1u32 }).await.unwrap() }));
    }

    /// 100 self-wakes of one spawned task: wake → run queue → poll.
    #[divan::bench]
    fn wake_yield_100(b: Bencher) {
        let rt = runtime();
        b.counter(ItemsCount::new(100usize)).bench_local(|| {
            rt.block_on(async {
                curing::spawn(async {
                    for _ in 0..100 {
                        curing::yield_now().await;
                    }
                })
                .await
                .unwrap()
            })
        });
    }
}

mod timer {
    use super::*;

    /// A sleep registered (polled once) and cancelled (dropped) before it
    /// fires: the timer map's insert + remove.
    #[divan::bench]
    fn insert_cancel(b: Bencher) {
        let rt = runtime();
        b.bench_local(|| {
            rt.block_on(async {
                let mut sleep = std::pin::pin!(curing::time::sleep(Duration::from_secs(60)));
                std::future::poll_fn(|cx| {
                    assert!(sleep.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await
            })
        });
    }

    /// 256 sleeps due at the same instant (20 µs ahead): insert, expire,
    /// wake. The time includes waiting for that deadline, so the cost per
    /// timer is about (time − 20 µs) / 256.
    #[divan::bench]
    fn insert_expire_256(b: Bencher) {
        let rt = runtime();
        b.counter(ItemsCount::new(256usize)).bench_local(|| {
            rt.block_on(async {
                let at = Instant::now() + Duration::from_micros(20);
                join_all((0..256).map(|_| curing::time::sleep_until(at))).await
            })
        });
    }
}
