//! Outside tester's tests (issue 19): the cooperative budget: loops of
//! always-ready awaits (sync primitives, channels, sockets with data queued,
//! finished join handles, reaped children, /dev/null writes) must not starve
//! timers.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
#[allow(unused_imports)]
use outside19_common::*;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Spawn `busy` (which loops while !stop), then measure how late a 5ms sleep is.
fn check<F, Fut>(name: &str, busy: F)
where
    F: FnOnce(Rc<Cell<bool>>) -> Fut,
    Fut: std::future::Future<Output = u64> + 'static,
{
    let late = curing::run(async move {
        let stop = Rc::new(Cell::new(false));
        let h = curing::spawn(busy(stop.clone()));
        curing::yield_now().await;
        let s = Instant::now();
        let r = curing::time::timeout(
            Duration::from_secs(3),
            curing::time::sleep(Duration::from_millis(5)),
        )
        .await;
        let el = s.elapsed();
        stop.set(true);
        let n = curing::time::timeout(Duration::from_secs(5), h).await;
        eprintln!(
            "{name}: 5ms sleep took {el:?} (timeout hit: {}), busy iterations {:?}",
            r.is_err(),
            n.map(|x| x.ok())
        );
        el
    });
    assert!(
        late < Duration::from_millis(500),
        "{name}: starved: sleep of 5ms took {late:?}"
    );
}

#[test]
fn semaphore_loop() {
    let _guard = guard();
    check("semaphore", |stop| async move {
        let s = curing::sync::Semaphore::new(1);
        let mut n = 0;
        while !stop.get() {
            let _p = s.acquire().await.unwrap();
            n += 1;
        }
        n
    });
}

#[test]
fn mutex_loop() {
    let _guard = guard();
    check("mutex", |stop| async move {
        let m = curing::sync::Mutex::new(0u64);
        while !stop.get() {
            *m.lock().await += 1;
        }
        let v = *m.lock().await;
        v
    });
}

#[test]
fn mpsc_loop() {
    let _guard = guard();
    check("mpsc", |stop| async move {
        let (tx, mut rx) = curing::sync::mpsc::unbounded_channel();
        let mut n = 0;
        while !stop.get() {
            tx.send(1u8).unwrap();
            rx.recv().await.unwrap();
            n += 1;
        }
        n
    });
}

#[test]
fn bounded_send_loop() {
    let _guard = guard();
    check("bounded mpsc send+recv", |stop| async move {
        let (tx, mut rx) = curing::sync::mpsc::channel(4);
        let mut n = 0;
        while !stop.get() {
            tx.send(1u8).await.unwrap();
            rx.recv().await.unwrap();
            n += 1;
        }
        n
    });
}

#[test]
fn socket_read_loop_with_data_queued() {
    let _guard = guard();
    check("unix read 1 byte at a time", |stop| async move {
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let a2 = a.clone();
        curing::spawn(async move {
            loop {
                let (r, _) = a2.write_all(vec![0u8; 1 << 16]).await;
                if r.is_err() {
                    break;
                }
            }
        });
        let mut n = 0;
        while !stop.get() {
            let (r, _) = b.read(vec![0u8; 1]).await;
            r.unwrap();
            n += 1;
        }
        n
    });
}

#[test]
fn udp_send_loop() {
    let _guard = guard();
    check("udp send_to loop", |stop| async move {
        let a = curing::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = b.local_addr().unwrap();
        let mut n = 0;
        while !stop.get() {
            let (r, _) = a.send_to(b"x".to_vec(), addr).await;
            let _ = r;
            n += 1;
        }
        n
    });
}

#[test]
fn finished_join_handles_loop() {
    let _guard = guard();
    check("join finished handles", |stop| async move {
        let mut n = 0;
        while !stop.get() {
            let h = curing::spawn(async { 1u64 });
            // busy-wait until done without awaiting timers
            n += h.await.unwrap();
        }
        n
    });
}

#[test]
fn oneshot_loop() {
    let _guard = guard();
    check("oneshot", |stop| async move {
        let mut n = 0;
        while !stop.get() {
            let (tx, rx) = curing::sync::oneshot::channel();
            tx.send(1u64).ok();
            n += rx.await.unwrap();
        }
        n
    });
}

#[test]
fn thread_channel_loop() {
    let _guard = guard();
    check("sync::thread channel", |stop| async move {
        let (tx, mut rx) = curing::sync::thread::mpsc::unbounded_channel();
        let mut n = 0u64;
        while !stop.get() {
            tx.send(1u64).await.unwrap();
            n += rx.recv().await.unwrap();
        }
        n
    });
}

#[test]
fn child_wait_reaped_loop() {
    let _guard = guard();
    check("child.wait() after reaped", |stop| async move {
        let mut c = curing::process::Command::new("true").spawn().unwrap();
        c.wait().await.unwrap();
        let mut n = 0;
        while !stop.get() {
            c.wait().await.unwrap();
            n += 1;
        }
        n
    });
}

#[test]
fn file_write_loop_devnull() {
    let _guard = guard();
    check("File::write to /dev/null", |stop| async move {
        let f = curing::fs::File::options()
            .write(true)
            .open("/dev/null")
            .await
            .unwrap();
        let mut n = 0;
        while !stop.get() {
            let (r, _) = f.write(vec![0u8; 1]).await;
            r.unwrap();
            n += 1;
        }
        n
    });
}
