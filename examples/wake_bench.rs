//! Cross-thread wake-ups: latency (ping-pong round trips, two wakes each)
//! and throughput (one-way messages), between two runtimes with
//! `IORING_OP_MSG_RING`, between two runtimes with the eventfd, and between
//! a plain thread and a runtime (eventfd one way, thread unpark the other).
//!
//! ```text
//! cargo run --release --example wake_bench [-- ROUNDS]
//! ```

use curing::runtime::Handle;
use curing::sync::thread::{mpsc, oneshot};
use curing::Runtime;
use std::time::{Duration, Instant};

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    println!("{rounds} round trips / {} messages per case", rounds * 4);
    for (name, msg_ring) in [
        ("runtime<->runtime MSG_RING", true),
        ("runtime<->runtime eventfd ", false),
    ] {
        let (lat, thr, sent) = between_runtimes(rounds, msg_ring);
        report(name, lat, thr, rounds, sent);
    }
    let (lat, thr) = thread_and_runtime(rounds);
    report("thread  <->runtime eventfd ", lat, thr, rounds, 0);
}

fn report(name: &str, lat: Duration, thr: Duration, rounds: u32, msg_wakes: u64) {
    let rtt = lat.as_nanos() as f64 / rounds as f64 / 1000.0;
    let mps = (rounds * 4) as f64 / thr.as_secs_f64() / 1e6;
    println!("{name}: round trip {rtt:6.2} us ({:5.2} us/wake), one-way {mps:5.2} M msgs/s, MSG_RING sends {msg_wakes}", rtt / 2.0);
}

/// A runtime on its own thread; its handle, a stopper, and its stats at the end.
fn spawn_runtime(msg_ring: bool) -> (Handle, oneshot::Sender<()>, std::thread::JoinHandle<u64>) {
    let (htx, hrx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let t = std::thread::spawn(move || {
        let rt = Runtime::builder().msg_ring(msg_ring).build().unwrap();
        htx.send(rt.handle()).unwrap();
        rt.block_on(stop_rx).ok();
        rt.stats().msg_wakes_sent
    });
    (hrx.recv().unwrap(), stop_tx, t)
}

fn between_runtimes(rounds: u32, msg_ring: bool) -> (Duration, Duration, u64) {
    let (other, stop, t) = spawn_runtime(msg_ring);
    let rt = Runtime::builder().msg_ring(msg_ring).build().unwrap();
    let (lat, thr) = rt.block_on(async move {
        // Latency: ping-pong over two bounded channels.
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let (back_tx, mut back_rx) = mpsc::channel::<u32>(1);
        let echo = other.spawn(async move {
            while let Some(v) = rx.recv().await {
                back_tx.send(v).await.unwrap();
            }
        });
        let start = Instant::now();
        for i in 0..rounds {
            tx.send(i).await.unwrap();
            back_rx.recv().await.unwrap();
        }
        let lat = start.elapsed();
        drop(tx);
        echo.await.unwrap();
        // Throughput: one way, bounded so the receiver keeps waking.
        let (tx, mut rx) = mpsc::channel::<u32>(256);
        let sink = other.spawn(async move {
            let mut n = 0u32;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        let start = Instant::now();
        for i in 0..rounds * 4 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        assert_eq!(sink.await.unwrap(), rounds * 4);
        (lat, start.elapsed())
    });
    let sent = rt.stats().msg_wakes_sent;
    stop.send(()).unwrap();
    let other_sent = t.join().unwrap();
    (lat, thr, sent + other_sent)
}

fn thread_and_runtime(rounds: u32) -> (Duration, Duration) {
    let rt = Runtime::new().unwrap();
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        let (back_tx, mut back_rx) = mpsc::channel::<u32>(1);
        let echo = std::thread::spawn(move || {
            while let Some(v) = rx.blocking_recv() {
                back_tx.blocking_send(v).unwrap();
            }
        });
        let start = Instant::now();
        for i in 0..rounds {
            tx.send(i).await.unwrap();
            back_rx.recv().await.unwrap();
        }
        let lat = start.elapsed();
        drop(tx);
        curing::spawn_blocking(move || echo.join().unwrap())
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::channel::<u32>(256);
        let producer = std::thread::spawn(move || {
            for i in 0..rounds * 4 {
                tx.blocking_send(i).unwrap();
            }
        });
        let start = Instant::now();
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        assert_eq!(n, rounds * 4);
        let thr = start.elapsed();
        curing::spawn_blocking(move || producer.join().unwrap())
            .await
            .unwrap();
        (lat, thr)
    })
}
