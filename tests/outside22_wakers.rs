//! Outside tests (issue 22): the hand-written read/write_all futures keep
//! the waker of their latest poll. A future first polled with one waker
//! (a no-op one, or another task's) and then awaited elsewhere must wake
//! its new owner when its op completes, on both drivers.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use curing::net::UnixStream;
use curing::time::sleep;

mod outside22_common;
use outside22_common::on_both;

fn noop_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

fn poll_with_noop<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    let w = noop_waker();
    let mut cx = Context::from_waker(&w);
    f.poll(&mut cx)
}

/// Awaits `f`, failing if it takes `limit` (the op completed but nobody
/// was woken shows as a wait until some unrelated wake-up).
async fn await_quickly<F: Future>(f: F, limit: Duration, what: &str) -> F::Output {
    // A watchdog task wakes the runtime now and then, so a lost wake-up
    // shows as slowness, not a hang.
    let t = Instant::now();
    let out = f.await;
    let took = t.elapsed();
    assert!(
        took < limit,
        "{what}: took {took:?}: the completion did not wake the new owner"
    );
    out
}

#[test]
fn read_first_polled_with_noop_waker_wakes_awaiting_task() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let mut f = Box::pin(b.read(vec![0u8; 16]));
        assert!(poll_with_noop(f.as_mut()).is_pending());
        let writer = curing::spawn(async move {
            sleep(Duration::from_millis(20)).await;
            a.write_all(b"wake".to_vec()).await.0.unwrap();
            a
        });
        // Something else wakes the runtime late, so a lost wake is slow.
        let _late = curing::spawn(sleep(Duration::from_secs(3)));
        let (res, buf) = await_quickly(f, Duration::from_secs(1), &format!("{kind:?} read")).await;
        assert_eq!(&buf[..res.unwrap()], b"wake");
        drop(writer.await.unwrap());
    });
}

#[test]
fn read_moved_to_another_task_wakes_it() {
    on_both(|kind| async move {
        let (a, b) = UnixStream::pair().unwrap();
        let b: &'static UnixStream = Box::leak(Box::new(b));
        let mut f = Box::pin(b.read(vec![0u8; 16]));
        // First poll in this task...
        let first = std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx).is_pending())).await;
        assert!(first);
        // ...then the future moves to another task, which awaits it.
        let t = curing::spawn(async move {
            let t0 = Instant::now();
            let (res, buf) = f.await;
            (buf[..res.unwrap()].to_vec(), t0.elapsed())
        });
        sleep(Duration::from_millis(20)).await;
        a.write_all(b"moved".to_vec()).await.0.unwrap();
        let _late = curing::spawn(sleep(Duration::from_secs(3)));
        let (got, took) = t.await.unwrap();
        assert_eq!(got, b"moved", "{kind:?}");
        assert!(
            took < Duration::from_secs(1),
            "{kind:?}: moved read took {took:?}"
        );
    });
}

#[test]
fn write_all_moved_mid_way_wakes_new_task() {
    on_both(|kind| async move {
        // A Unix socket: a TCP pair with tiny buffers is slowed by delayed
        // ACKs, which would hide (or fake) a lost wake-up.
        let (s, c) = UnixStream::pair().unwrap();
        s.set_send_buffer_size(8 * 1024).unwrap();
        let s: &'static UnixStream = Box::leak(Box::new(s));
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut f = Box::pin(s.write_all(data.clone()));
        // Polled with a no-op waker until it is stuck on a full socket.
        assert!(poll_with_noop(f.as_mut()).is_pending());
        sleep(Duration::from_millis(5)).await;
        assert!(poll_with_noop(f.as_mut()).is_pending());
        let t = curing::spawn(async move {
            let t0 = Instant::now();
            f.await.0.unwrap();
            t0.elapsed()
        });
        let c = Rc::new(c);
        // Drain slowly enough that the write_all needs many wake-ups.
        let mut got = Vec::new();
        while got.len() < data.len() {
            let (res, buf) = c.read(vec![0u8; 256 * 1024]).await;
            let n = res.unwrap();
            assert!(n > 0, "{kind:?}: early end");
            got.extend_from_slice(&buf[..n]);
        }
        let _late = curing::spawn(sleep(Duration::from_secs(5)));
        let took = t.await.unwrap();
        assert!(got == data, "{kind:?}: bytes differ");
        assert!(
            took < Duration::from_secs(2),
            "{kind:?}: write_all took {took:?}"
        );
    });
}

/// TCP with tiny socket buffers: a write_all first polled with a no-op
/// waker, then awaited by another task, finishes about as fast as one
/// awaited normally (the control), whatever TCP's own pacing is.
#[test]
fn tcp_write_all_moved_vs_control() {
    on_both(|kind| async move {
        let mut times = Vec::new();
        for moved in [false, true] {
            let l = curing::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let c =
                curing::spawn(async move { curing::net::TcpStream::connect(addr).await.unwrap() });
            let (s, _) = l.accept().await.unwrap();
            let c = c.await.unwrap();
            s.set_send_buffer_size(8 * 1024).unwrap();
            c.set_recv_buffer_size(8 * 1024).unwrap();
            let s: &'static curing::net::TcpStream = Box::leak(Box::new(s));
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let mut f = Box::pin(s.write_all(data.clone()));
            if moved {
                assert!(poll_with_noop(f.as_mut()).is_pending());
                sleep(Duration::from_millis(5)).await;
                let _ = poll_with_noop(f.as_mut());
            }
            let t0 = Instant::now();
            let t = curing::spawn(async move {
                f.await.0.unwrap();
            });
            let mut got = Vec::new();
            while got.len() < data.len() {
                let (res, buf) = c.read(vec![0u8; 256 * 1024]).await;
                let n = res.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            t.await.unwrap();
            assert!(got == data, "{kind:?}");
            times.push(t0.elapsed());
        }
        eprintln!("{kind:?}: control {:?}, moved {:?}", times[0], times[1]);
        assert!(
            times[1] < times[0] * 3 + Duration::from_millis(500),
            "{kind:?}: moved write_all {:?} vs control {:?}",
            times[1],
            times[0]
        );
    });
}
