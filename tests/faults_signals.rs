//! EINTR (docs/reliability.md, row 15): a `SIGALRM` every millisecond, aimed at the
//! runtime's own thread, while it runs a workload of pipes, sockets, files,
//! timers and cross-thread wakes. `io_uring_enter` then returns `EINTR` (or
//! returns early with no completion) again and again; nothing may fail
//! spuriously and no wake-up may be lost.
//!
//! In its own test binary: the signal handler is process-wide.

mod common;

use curing::fs::File;
use curing::net::{TcpListener, TcpStream};
use curing::time::{sleep, timeout};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static SIGNALS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_alarm(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

/// A POSIX timer that sends `SIGALRM` to this thread every `period`;
/// deleted on drop.
struct Alarm(libc::timer_t);

impl Alarm {
    fn every(period: Duration) -> Alarm {
        // SAFETY: sigaction with a zeroed struct plus a handler that only
        // touches an atomic; no SA_RESTART, so blocking calls see EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()), 0);
        }
        // SAFETY: a zeroed sigevent filled in for SIGEV_THREAD_ID, and a
        // timer id the kernel writes; both live across the calls.
        unsafe {
            let mut sev: libc::sigevent = std::mem::zeroed();
            sev.sigev_notify = libc::SIGEV_THREAD_ID;
            sev.sigev_signo = libc::SIGALRM;
            sev.sigev_notify_thread_id = libc::gettid();
            let mut id: libc::timer_t = std::mem::zeroed();
            assert_eq!(
                libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut id),
                0
            );
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: period.as_nanos() as libc::c_long,
            };
            let spec = libc::itimerspec {
                it_interval: ts,
                it_value: ts,
            };
            assert_eq!(libc::timer_settime(id, 0, &spec, std::ptr::null_mut()), 0);
            Alarm(id)
        }
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        // SAFETY: deletes the timer created in `every`.
        unsafe { libc::timer_delete(self.0) };
    }
}

#[test]
fn sigalrm_every_millisecond_during_a_workload() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("faults-eintr-{}", std::process::id()));
    common::run(Duration::from_secs(30), move || async move {
        let alarm = Alarm::every(Duration::from_millis(1));
        let start = Instant::now();
        let before = curing::runtime::stats();

        // Pipe ping-pong: many short parks.
        let (r, w) = common::pipe();
        let (r, w) = (File::from(r), File::from(w));
        let writer = curing::spawn(async move {
            for i in 0..500u32 {
                w.write_all(i.to_le_bytes().to_vec()).await.0.unwrap();
                if i % 50 == 0 {
                    sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let mut next = 0u32;
        let mut pending = Vec::new();
        while next < 500 {
            let (res, buf) = r.read(vec![0u8; 64]).await;
            pending.extend_from_slice(&buf[..res.expect("no spurious pipe error")]);
            while pending.len() >= 4 {
                let v = u32::from_le_bytes(pending[..4].try_into().unwrap());
                assert_eq!(v, next, "byte-exact, in order");
                pending.drain(..4);
                next += 1;
            }
        }
        writer.await.unwrap();

        // TCP echo of 4 MiB, hashed.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = curing::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let (res, b) = s.read(buf).await;
                let n = res.expect("no spurious read error");
                if n == 0 {
                    return;
                }
                let (res, b) = s.write_all(curing::buf::IoBuf::slice(b, ..n)).await;
                res.expect("no spurious write error");
                buf = b.into_inner();
            }
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let data = common::pattern(15, 4 << 20);
        let want = common::hash(&data);
        let client = std::rc::Rc::new(client);
        let c = client.clone();
        let sender = curing::spawn(async move {
            c.write_all(data).await.0.unwrap();
            c.shutdown(std::net::Shutdown::Write).await.unwrap();
        });
        let mut got = common::Hash::new();
        let mut buf = vec![0u8; 50_000];
        loop {
            let (res, b) = client.read(buf).await;
            let n = res.expect("no spurious read error");
            if n == 0 {
                break;
            }
            got.update(&b[..n]);
            buf = b;
        }
        sender.await.unwrap();
        server.await.unwrap();
        assert_eq!(got.finish(), want, "echo byte-exact under signals");

        // A file written and read back.
        let f = curing::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        let data = common::pattern(16, 1 << 20);
        f.write_all_at(data.clone(), 0).await.0.unwrap();
        f.sync_all().await.unwrap();
        let (res, back) = f.read_exact_at(vec![0u8; 1 << 20], 0).await;
        res.unwrap();
        assert_eq!(common::hash(&back), common::hash(&data));
        drop(f);
        std::fs::remove_file(&path).unwrap();

        // Timers: never early, none lost.
        for i in 0..100u64 {
            let d = Duration::from_micros(200 + i * 37);
            let t0 = Instant::now();
            timeout(Duration::from_secs(2), sleep(d))
                .await
                .expect("a sleep's wake-up was lost");
            assert!(t0.elapsed() >= d, "woke early");
        }

        // Wakes from another thread while the runtime is parked.
        for _ in 0..50 {
            let (tx, rx) = curing::sync::thread::oneshot::channel::<u32>();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1));
                let _ = tx.send(7);
            });
            let v = timeout(Duration::from_secs(2), rx)
                .await
                .expect("a cross-thread wake was lost");
            assert_eq!(v.unwrap(), 7);
        }
        drop(alarm);
        let signals = SIGNALS.load(Ordering::Relaxed);
        let after = curing::runtime::stats();
        println!(
            "EINTR: {signals} SIGALRMs in {:?}; {} io_uring_enter calls",
            start.elapsed(),
            after.enter_calls - before.enter_calls
        );
        assert!(signals >= 50, "the signals did come: {signals}");
    });
}
