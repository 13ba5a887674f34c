//! Helpers shared by the outside22_* tests (outside tests of issue 22).
#![allow(dead_code)]

use curing::net::{TcpListener, TcpStream};
use curing::runtime::DriverKind;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Runs `make()` on a fresh runtime of each driver.
pub fn on_both<F, Fut>(make: F)
where
    F: Fn(DriverKind) -> Fut,
    Fut: Future<Output = ()>,
{
    for kind in [DriverKind::IoUring, DriverKind::Epoll] {
        let rt = match curing::Runtime::builder().driver(kind).build() {
            Ok(rt) => rt,
            Err(e) if kind == DriverKind::IoUring => {
                eprintln!("io_uring unavailable here, skipping it: {e}");
                continue;
            }
            Err(e) => panic!("epoll runtime: {e}"),
        };
        rt.block_on(make(kind));
    }
}

/// xorshift64*: a seeded generator, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `OUTSIDE22_SEED` shifts every seed, to run the storms with other draws.
pub fn seed(base: u64) -> u64 {
    let extra: u64 = std::env::var("OUTSIDE22_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    base.wrapping_add(extra.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..len).map(|_| r.next() as u8).collect()
}

/// Polls `fut` exactly once; `Some` if it was ready.
pub async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut *fut).poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let c = curing::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (s, _) = l.accept().await.unwrap();
    (c.await.unwrap(), s)
}

/// Writes `data` in pieces of 1 to `max` bytes (sizes drawn from `rng`),
/// each with one `write_all`; panics on an error.
pub async fn write_in_pieces<F, Fut>(data: &[u8], mut rng: Rng, max: u64, mut write_all: F)
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = curing::buf::BufResult<(), Vec<u8>>>,
{
    let mut off = 0;
    while off < data.len() {
        let n = (1 + rng.below(max) as usize).min(data.len() - off);
        write_all(data[off..off + n].to_vec()).await.0.unwrap();
        off += n;
    }
}
