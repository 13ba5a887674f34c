//! The cooperative budget: a task whose awaits keep being ready at once
//! still lets timers and other tasks run, with no `yield_now` in its loop.

mod common;

use curing::buf::IoBuf;
use curing::net::TcpListener;
use curing::time::sleep;
use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use common::sleeper;

/// Limit on a 10 ms sleeper's lateness: generous for a noisy 2-core CI
/// machine, far below what starvation would cause (the test's whole length).
const LATE: Duration = Duration::from_millis(40);

/// A plain thread keeps a TCP connection full, so every receive finds
/// data; `read_all` (given the accepted stream and a flag to stop at) reads
/// in a task of its own and returns the bytes it got. A 10 ms sleeper
/// beside it must stay on time.
async fn busy_reader_beside_a_sleeper<F, Fut>(read_all: F)
where
    F: FnOnce(curing::net::TcpStream, Rc<Cell<bool>>) -> Fut,
    Fut: std::future::Future<Output = u64> + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let chunk = vec![7u8; 64 * 1024];
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let (stream, _) = listener.accept().await.unwrap();
    let done = Rc::new(Cell::new(false));
    let reader = curing::spawn(read_all(stream, done.clone()));
    let worst = sleeper(30).await;
    done.set(true);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let bytes = reader.await.unwrap();
    writer.join().unwrap();
    println!("reader got {bytes} bytes; sleeper at most {worst:?} late");
    assert!(bytes > 1 << 20, "the reader was busy: {bytes} bytes");
    assert!(worst < LATE, "sleeper starved: {worst:?} late");
}

#[test]
fn busy_reader_does_not_starve_a_sleeper() {
    common::run(Duration::from_secs(30), || {
        busy_reader_beside_a_sleeper(|stream, done| async move {
            let mut buf = Vec::with_capacity(4096);
            let mut bytes = 0u64;
            while !done.get() {
                let (res, b) = stream.read(buf).await;
                bytes += res.unwrap() as u64;
                buf = b;
                buf.clear();
            }
            stream.close().await.unwrap();
            bytes
        })
    });
}

#[test]
fn always_ready_awaits_yield_on_their_own() {
    common::run(Duration::from_secs(20), || async {
        let done = Rc::new(Cell::new(false));
        // Awaits that are ready at once: a due timer and a finished task.
        let spinner = {
            let done = done.clone();
            curing::spawn(async move {
                let finished = curing::spawn(async {});
                sleep(Duration::from_millis(1)).await;
                let mut finished = Some(finished);
                let mut spins = 0u64;
                while !done.get() {
                    sleep(Duration::ZERO).await;
                    if let Some(h) = finished.take() {
                        h.await.unwrap();
                    }
                    spins += 1;
                }
                spins
            })
        };
        let worst = sleeper(20).await;
        done.set(true);
        let spins = spinner.await.unwrap();
        println!("spinner: {spins} ready awaits; sleeper at most {worst:?} late");
        assert!(spins > 1000, "the spinner ran: {spins}");
        assert!(worst < LATE, "sleeper starved: {worst:?} late");
    });
}

#[test]
fn stashed_bytes_spend_the_budget() {
    // Bytes handed to the next read from the stash are ready without the
    // kernel; a reader draining a big stash in tiny reads must still yield.
    common::run(Duration::from_secs(20), || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = curing::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let payload = vec![1u8; 256 * 1024];
        client.write_all(payload).await.0.unwrap();
        // A read into a big buffer, dropped after its completion arrived:
        // everything it got goes to the stash.
        let mut read = Box::pin(server.read(Vec::with_capacity(256 * 1024)));
        std::future::poll_fn(|cx| {
            assert!(std::future::Future::poll(read.as_mut(), cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        sleep(Duration::from_millis(5)).await;
        drop(read);
        let ticks = Rc::new(Cell::new(0u32));
        let ticker = {
            let ticks = ticks.clone();
            curing::spawn(async move {
                loop {
                    curing::yield_now().await;
                    ticks.set(ticks.get() + 1);
                }
            })
        };
        // 1-byte reads from the stash: each is ready at once.
        let mut got = 0;
        let mut buf = Vec::with_capacity(1);
        while got < 4096 {
            let (res, b) = server.read(buf.slice(0..1)).await;
            got += res.unwrap();
            buf = b.into_inner();
            buf.clear();
        }
        ticker.abort();
        assert!(
            ticks.get() >= 4096 / 128 - 1,
            "the other task ran only {} times",
            ticks.get()
        );
    });
}

#[test]
fn a_full_channel_does_not_starve_a_sleeper() {
    common::run(Duration::from_secs(20), || async {
        let (tx, mut rx) = curing::sync::mpsc::unbounded_channel();
        // Prime the channel: the consumer always finds a message.
        tx.send(0u64).unwrap();
        let sem = curing::sync::Semaphore::new(1);
        let done = Rc::new(Cell::new(false));
        let consumer = {
            let done = done.clone();
            curing::spawn(async move {
                let mut n = 0u64;
                while !done.get() {
                    // Both ready at once, every time.
                    let _permit = sem.acquire().await.unwrap();
                    let v: u64 = rx.recv().await.unwrap();
                    tx.send(v + 1).unwrap();
                    n += 1;
                }
                n
            })
        };
        let worst = sleeper(20).await;
        done.set(true);
        let n = consumer.await.unwrap();
        println!("consumer: {n} messages; sleeper at most {worst:?} late");
        assert!(n > 1000, "the consumer ran: {n}");
        assert!(worst < LATE, "sleeper starved: {worst:?} late");
    });
}

/// The same with a multishot receive (`recv_pooled`): completions queued
/// while the task ran are ready at once, and spend budget.
#[test]
fn busy_pooled_reader_does_not_starve_a_sleeper() {
    common::run(Duration::from_secs(30), || {
        busy_reader_beside_a_sleeper(|stream, done| async move {
            let pool = curing::buf::BufPool::new(1024, 256).unwrap();
            let mut rx = stream.recv_pooled(&pool);
            let mut bytes = 0u64;
            while !done.get() {
                let buf = rx.next().await.unwrap().unwrap();
                bytes += buf.len() as u64;
            }
            drop(rx);
            stream.close().await.unwrap();
            bytes
        })
    });
}
