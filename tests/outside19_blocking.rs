//! Outside tester's tests (issue 19): the blocking pool: aborted queued
//! closures never run, file operations are not starved by closures that block
//! (the epoll driver runs them on the pool), a remote spawn wakes an idle
//! runtime, dropping the runtime drops queued closures.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
#[allow(unused_imports)]
use outside19_common::*;
use std::time::Duration;

/// Blocking pool saturated by spawn_blocking closures that wait for the async side,
/// which needs a file op to make progress.
#[test]
fn file_ops_while_blocking_pool_is_saturated() {
    let _guard = guard();
    let rt = curing::Runtime::builder()
        .max_blocking_threads(2)
        .build()
        .unwrap();
    eprintln!("driver {:?}", rt.driver_kind());
    let res = rt.block_on(async {
        let (tx, rx) = std::sync::mpsc::channel::<u8>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let mut hs = Vec::new();
        for _ in 0..2 {
            let rx = rx.clone();
            hs.push(curing::spawn_blocking(move || {
                rx.lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(3))
                    .is_ok()
            }));
        }
        curing::time::sleep(Duration::from_millis(20)).await;
        let s = std::time::Instant::now();
        let r = curing::time::timeout(Duration::from_secs(2), async {
            let f = curing::fs::File::open(SMALL_FILE).await?;
            let (r, _) = f.read_at(vec![0u8; 16], 0).await;
            r
        })
        .await;
        let el = s.elapsed();
        tx.send(1).unwrap();
        tx.send(1).unwrap();
        for h in hs {
            let _ = h.await;
        }
        (r.is_ok(), el)
    });
    eprintln!(
        "file op with saturated pool: ok={} after {:?}",
        res.0, res.1
    );
    assert!(
        res.0,
        "file op starved by spawn_blocking closures (took {:?})",
        res.1
    );
}

#[test]
fn aborted_queued_blocking_job_does_not_run() {
    let _guard = guard();
    let rt = curing::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r2 = ran.clone();
    rt.block_on(async move {
        let h1 = curing::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50)));
        let h2 =
            curing::spawn_blocking(move || r2.store(true, std::sync::atomic::Ordering::SeqCst));
        curing::yield_now().await;
        h2.abort();
        assert!(h2.await.is_err());
        h1.await.unwrap();
        curing::time::sleep(Duration::from_millis(50)).await;
    });
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "aborted queued job ran"
    );
}

#[test]
fn handle_spawn_to_idle_runtime() {
    let _guard = guard();
    let rt = curing::Runtime::new().unwrap();
    let h = rt.block_on(async { curing::runtime::Handle::current() });
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        let j = h.spawn(async { 41 + 1 });
        j.join().unwrap()
    });
    // runtime parked in a long sleep; remote spawn must wake it
    let v = rt.block_on(async {
        let s = std::time::Instant::now();
        curing::time::sleep(Duration::from_millis(300)).await;
        s.elapsed()
    });
    assert_eq!(t.join().unwrap(), 42);
    eprintln!("{v:?}");
}

#[test]
fn aborted_queued_job_timeline() {
    let _guard = guard();
    let rt = curing::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let t0 = std::time::Instant::now();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    rt.block_on(async move {
        let h1 = curing::spawn_blocking(move || {
            l1.lock()
                .unwrap()
                .push(("h1 start", t0.elapsed(), std::thread::current().id()));
            std::thread::sleep(Duration::from_millis(50));
            l1.lock()
                .unwrap()
                .push(("h1 end", t0.elapsed(), std::thread::current().id()));
        });
        let h2 = curing::spawn_blocking(move || {
            l2.lock()
                .unwrap()
                .push(("h2 run", t0.elapsed(), std::thread::current().id()));
        });
        curing::time::sleep(Duration::from_millis(10)).await;
        let pool = curing::blocking::blocking_pool();
        eprintln!("stats before abort: {pool:?}");
        assert_eq!(pool.queued, 1, "h2 waits behind h1: {pool:?}");
        h2.abort();
        eprintln!("abort at {:?}", t0.elapsed());
        let _ = h2.await;
        h1.await.unwrap();
        curing::time::sleep(Duration::from_millis(50)).await;
    });
    let log = log.lock().unwrap();
    eprintln!("{log:?}");
    assert!(
        log.iter().all(|(what, _, _)| *what != "h2 run"),
        "the aborted queued job ran: {log:?}"
    );
}

#[test]
fn file_ops_with_default_pool_and_64_blockers() {
    let _guard = guard();
    let rt = curing::Runtime::new().unwrap();
    let ok = rt.block_on(async {
        let (tx, rx) = std::sync::mpsc::channel::<u8>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let mut hs = Vec::new();
        for _ in 0..64 {
            let rx = rx.clone();
            hs.push(curing::spawn_blocking(move || {
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(3));
            }));
        }
        curing::time::sleep(Duration::from_millis(50)).await;
        let r = curing::time::timeout(Duration::from_secs(2), curing::fs::metadata("/")).await;
        for _ in 0..64 {
            let _ = tx.send(1);
        }
        for h in hs {
            let _ = h.await;
        }
        r.is_ok()
    });
    assert!(
        ok,
        "metadata() starved by 64 blocking closures on {:?}",
        rt.driver_kind()
    );
}

#[test]
fn runtime_drop_drops_queued_blocking_job() {
    let _guard = guard();
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r2 = ran.clone();
    {
        let rt = curing::Runtime::builder()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        rt.block_on(async move {
            let _h1 = curing::spawn_blocking(|| std::thread::sleep(Duration::from_millis(200)));
            let _h2 =
                curing::spawn_blocking(move || r2.store(true, std::sync::atomic::Ordering::SeqCst));
            curing::time::sleep(Duration::from_millis(10)).await;
        });
        let s = std::time::Instant::now();
        drop(rt);
        eprintln!("rt drop took {:?}", s.elapsed());
    }
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "queued job ran after runtime drop"
    );
}
