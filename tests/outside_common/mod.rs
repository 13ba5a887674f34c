#![allow(dead_code)]
use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `f` on a fresh curing runtime (driver from CURING_DRIVER) on its own
/// thread; fails the test if it does not finish within `limit` (a busy loop
/// that never yields would otherwise hang the suite forever).
pub fn run_bounded<F, Fut>(limit: Duration, f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let th = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| curing::run(f())));
        let _ = tx.send(r.is_ok());
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
    });
    match rx.recv_timeout(limit) {
        Ok(true) => {
            th.join().unwrap();
        }
        Ok(false) => {
            // re-raise the panic message
            if let Err(p) = th.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(_) => panic!("WATCHDOG: test body did not finish within {limit:?} (hung / starved)"),
    }
}

pub fn driver() -> String {
    format!("{:?}", curing::runtime::driver_kind())
}

pub fn rss_pages() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub fn rss_kib() -> u64 {
    rss_pages() * 4
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn since(t: Instant) -> Duration {
    t.elapsed()
}

/// Slack allowed past a deadline ("within a few ms"). Env SLACK_MS overrides.
pub fn slack() -> Duration {
    let ms: u64 = std::env::var("SLACK_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    Duration::from_millis(ms)
}

/// Deterministic pseudo-random generator (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545F4914F6CDD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn pattern(i: usize) -> u8 {
    ((i as u64).wrapping_mul(2654435761) >> 13) as u8
}
pub mod busy;
