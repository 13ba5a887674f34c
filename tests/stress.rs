//! Randomized cancellation under load (docs/reliability.md, rows 4 and 26, short
//! variant): hundreds of echo clients; a killer task aborts random clients
//! at random moments; every client reads through `timeout`s of random tiny
//! lengths, so reads are dropped mid-flight all the time. Every completed
//! round trip must be byte-exact (a dropped read loses no bytes: the stash
//! hands them to the next read), and at the end no fd, slot or op is left.

mod common;

use curing::buf::IoBuf;
use curing::net::{TcpListener, TcpStream};
use curing::time::{sleep, timeout};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Small deterministic RNG (xorshift64*), seeded per test run.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Default)]
struct Tally {
    round_trips: Cell<u64>,
    mismatches: Cell<u64>,
    timeouts: Cell<u64>,
    aborted: Cell<u64>,
    errors: RefCell<Vec<String>>,
}

fn seconds() -> f64 {
    std::env::var("CURING_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0)
}

#[test]
fn echo_under_random_cancellation() {
    let seed = std::env::var("CURING_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_u64);
    println!(
        "seed {seed} (set CURING_STRESS_SEED to replay), {} s",
        seconds()
    );
    common::run(Duration::from_secs(120), move || async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = curing::spawn(serve(listener));
        let tally = Rc::new(Tally::default());
        let deadline = Instant::now() + Duration::from_secs_f64(seconds());
        let mut rng = Rng(seed | 1);
        let mut clients = Vec::new();
        for i in 0..200u64 {
            let r = Rng(rng.next() | 1);
            clients.push(curing::spawn(client(addr, r, deadline, tally.clone(), i)));
        }
        // The killer: abort a random client now and then, start a new one.
        while Instant::now() < deadline {
            sleep(Duration::from_micros(rng.below(2000))).await;
            let victim = rng.below(clients.len() as u64) as usize;
            clients[victim].abort();
            tally.aborted.set(tally.aborted.get() + 1);
            let r = Rng(rng.next() | 1);
            let fresh = curing::spawn(client(addr, r, deadline, tally.clone(), victim as u64));
            let old = std::mem::replace(&mut clients[victim], fresh);
            let _ = old.await; // finished or cancelled, both fine
        }
        for c in clients {
            let _ = c.await;
        }
        server.abort();
        let _ = server.await;
        // Let connection handlers see their EOFs and finish.
        sleep(Duration::from_millis(50)).await;
        println!(
            "round trips {}, read timeouts {}, aborts {}, mismatches {}",
            tally.round_trips.get(),
            tally.timeouts.get(),
            tally.aborted.get(),
            tally.mismatches.get()
        );
        let errors = tally.errors.borrow();
        assert!(
            errors.is_empty(),
            "client errors: {:?}",
            &errors[..errors.len().min(5)]
        );
        assert_eq!(
            tally.mismatches.get(),
            0,
            "echoed data differed from what was sent"
        );
        assert!(
            tally.round_trips.get() > 1000,
            "too little work done to mean anything"
        );
        assert!(
            tally.timeouts.get() > 100,
            "the timeouts never cancelled a read"
        );
        let stats = curing::runtime::stats();
        assert_eq!(stats.stale_cqes, 0, "{stats:?}");
    });
}

async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        curing::spawn(async move {
            let mut buf = vec![0u8; 8192];
            loop {
                let (res, b) = stream.read(buf).await;
                let n = match res {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let (res, s) = stream.write_all(b.slice(..n)).await;
                buf = s.into_inner();
                if res.is_err() {
                    return;
                }
            }
        });
    }
}

/// Connects, then does round trips of random sizes until the deadline. Each
/// echo is collected by reads under random tiny timeouts: a read that times
/// out is dropped in flight, and whatever it received must show up in a
/// later read.
async fn client(addr: SocketAddr, mut rng: Rng, deadline: Instant, tally: Rc<Tally>, id: u64) {
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return tally.errors.borrow_mut().push(format!("connect: {e}")),
    };
    let mut n = 0u64;
    while Instant::now() < deadline {
        let len = 1 + rng.below(16 * 1024) as usize;
        let msg: Vec<u8> = (0..len)
            .map(|i| (id as u8) ^ (n as u8) ^ (i as u8).wrapping_mul(31))
            .collect();
        let (res, msg) = stream.write_all(msg).await;
        if let Err(e) = res {
            return tally.errors.borrow_mut().push(format!("write: {e}"));
        }
        let mut got = Vec::with_capacity(len);
        let mut buf = Vec::with_capacity(4096);
        while got.len() < len {
            let wait = Duration::from_micros(rng.below(300));
            match timeout(wait, stream.read(buf)).await {
                Err(_elapsed) => {
                    tally.timeouts.set(tally.timeouts.get() + 1);
                    buf = Vec::with_capacity(4096); // the old one went with the dropped read
                }
                Ok((Ok(0), _)) => return tally.errors.borrow_mut().push("unexpected EOF".into()),
                Ok((Ok(k), b)) => {
                    got.extend_from_slice(&b[..k]);
                    buf = b;
                    buf.clear();
                }
                Ok((Err(e), _)) => return tally.errors.borrow_mut().push(format!("read: {e}")),
            }
        }
        if got != msg {
            tally.mismatches.set(tally.mismatches.get() + 1);
        }
        tally.round_trips.set(tally.round_trips.get() + 1);
        n += 1;
    }
    let _ = stream.close().await;
}
