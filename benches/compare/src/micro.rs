//! Micro-benchmarks of runtime overhead, one runtime per process (so peak
//! RSS is the runtime's own):
//!
//! - `nop curing|raw`: NOPs in batches of 32. curing: 32 tasks each awaiting
//!   `curing::runtime::nop()` in a loop, so each turn of the runtime submits
//!   32 NOPs in one `io_uring_enter` and wakes 32 tasks. raw: push 32 NOPs,
//!   `submit_and_wait(32)`, reap, on a bare ring set up the same way.
//! - `spawn curing|tokio`: spawn 1M tiny tasks, then join them all.
//! - `sleeps curing|tokio`: 100k tasks each sleeping 1 ms at once; wall time
//!   until all are joined.

use crate::loadgen::{clock_ticks_per_sec, machine_ticks, self_cpu};
use std::time::{Duration, Instant};

/// Peak resident set size of this process, KiB.
fn max_rss_kb() -> i64 {
    // SAFETY: `ru` is a valid out-pointer for getrusage.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_maxrss
    }
}

/// Machine busy time and our own CPU time when the benchmark started, to
/// tell afterwards how much CPU other processes took meanwhile.
struct Start {
    at: Instant,
    busy: Option<u64>,
    ours: Duration,
}

fn start() -> Start {
    Start {
        at: Instant::now(),
        busy: machine_ticks().ok().map(|t| t[0]),
        ours: self_cpu(),
    }
}

fn emit(bench: &str, runtime: &str, ops: u64, wall: Duration, s: Start) {
    // CPU that other processes used while we ran, in % of one core.
    let secs = s.at.elapsed().as_secs_f64();
    let foreign = match (s.busy, machine_ticks().ok().map(|t| t[0])) {
        (Some(a), Some(b)) => {
            let busy = (b - a) as f64 / clock_ticks_per_sec() as f64;
            let ours = (self_cpu() - s.ours).as_secs_f64();
            format!("{:.1}", (busy - ours).max(0.0) * 100.0 / secs)
        }
        _ => "null".into(),
    };
    println!(
        "{{\"bench\":\"{bench}\",\"label\":\"{runtime}\",\"ops\":{ops},\"wall_ms\":{:.3},\"ns_per_op\":{:.2},\"max_rss_kb\":{},\"foreign_cpu_pct\":{foreign}}}",
        wall.as_secs_f64() * 1e3,
        wall.as_nanos() as f64 / ops as f64,
        max_rss_kb()
    );
}

const BATCH: u32 = 32;

pub fn nop(runtime: &str, ops: u64) -> std::io::Result<()> {
    let rounds = ops / BATCH as u64;
    let s = start();
    let wall = match runtime {
        "curing" => curing::run(async move {
            let batch = |rounds: u64| async move {
                let tasks: Vec<_> = (0..BATCH)
                    .map(|_| {
                        curing::spawn(async move {
                            for _ in 0..rounds {
                                curing::runtime::nop().await.unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            };
            batch(rounds / 10).await; // warmup
            let start = Instant::now();
            batch(rounds).await;
            start.elapsed()
        }),
        "raw" => {
            crate::raw::nops(BATCH, rounds / 10)?; // warmup
            crate::raw::nops(BATCH, rounds)?
        }
        other => return Err(std::io::Error::other(format!("nop: no runtime {other}"))),
    };
    emit("nop", runtime, rounds * BATCH as u64, wall, s);
    Ok(())
}

pub fn spawn(runtime: &str, n: u64) -> std::io::Result<()> {
    let s = start();
    let wall = match runtime {
        "curing" => curing::run(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n).map(|i| curing::spawn(async move { i })).collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            assert_eq!(sum, n * (n - 1) / 2);
            start.elapsed()
        }),
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread().build()?;
            rt.block_on(async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.unwrap();
                }
                assert_eq!(sum, n * (n - 1) / 2);
                start.elapsed()
            })
        }
        other => return Err(std::io::Error::other(format!("spawn: no runtime {other}"))),
    };
    emit("spawn", runtime, n, wall, s);
    Ok(())
}

pub fn sleeps(runtime: &str, n: u64) -> std::io::Result<()> {
    let d = Duration::from_millis(1);
    let s = start();
    let wall = match runtime {
        "curing" => curing::run(async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..n)
                .map(|_| curing::spawn(curing::time::sleep(d)))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            start.elapsed()
        }),
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            rt.block_on(async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..n)
                    .map(|_| tokio::spawn(tokio::time::sleep(d)))
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed()
            })
        }
        other => return Err(std::io::Error::other(format!("sleeps: no runtime {other}"))),
    };
    emit("sleeps", runtime, n, wall, s);
    Ok(())
}
