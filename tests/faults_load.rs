//! Load faults (docs/reliability.md, rows 24 and 25), short variants for the normal
//! test run; `ci/stress.sh` runs the long ones through the same tests with
//! larger numbers from the environment:
//!
//! - `CURING_SLOWLORIS_CLIENTS` (200), `CURING_SLOWLORIS_INTERVAL_MS` (100),
//!   `CURING_SLOWLORIS_TIMEOUT_MS` (500);
//! - `CURING_CONNS` (2000), `CURING_CONN_SECS` (2).
//!
//! Both ends live in this process, so the tests raise `RLIMIT_NOFILE` to
//! its hard limit (this binary only).

mod common;

use curing::buf::IoBuf;
use curing::net::{TcpListener, TcpStream};
use curing::time::{sleep, timeout};
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, and the hard limit
/// to `need` where allowed (root outside a container); returns the soft
/// limit now in force.
fn raise_nofile(need: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live local the kernel fills / reads.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let max = lim.rlim_max.max(need);
        let want = libc::rlimit {
            rlim_cur: max,
            rlim_max: max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
            lim = want;
        } else {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

/// Descriptors a test needs besides its connections (stdio, the ring, the
/// eventfd, the listener, the harness's own listing).
const SPARE_FDS: u64 = 64;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

// ---- docs/reliability.md, row 24: slowloris --------------------------------

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// Serves one connection: the whole header within `limit`, or closed.
async fn serve_header(stream: TcpStream, limit: Duration, timed_out: Rc<Cell<u64>>) {
    let read_header = async {
        let mut header = Vec::new();
        let mut buf = vec![0u8; 1024];
        while !header.windows(4).any(|w| w == b"\r\n\r\n") {
            let (res, b) = stream.read(buf).await;
            match res {
                Ok(0) | Err(_) => return false,
                Ok(n) => header.extend_from_slice(&b[..n]),
            }
            buf = b;
            if header.len() > 8192 {
                return false;
            }
        }
        true
    };
    match timeout(limit, read_header).await {
        Ok(true) => {
            let _ = stream.write_all(RESPONSE).await;
            let _ = stream.close().await;
        }
        Ok(false) => {}
        Err(_) => {
            timed_out.set(timed_out.get() + 1);
            // Dropping the stream closes it; its read was cancelled.
        }
    }
}

/// Sends one byte per `interval` until the server closes; returns how
/// long the connection lived.
async fn slow_client(addr: SocketAddr, interval: Duration) -> Duration {
    let start = Instant::now();
    let stream = Rc::new(TcpStream::connect(addr).await.unwrap());
    let s = stream.clone();
    let dribble = curing::spawn(async move {
        for &b in b"GET / HTTP/1.1\r\nX-Slow: ".iter().cycle() {
            if s.write_all(vec![b]).await.0.is_err() {
                return;
            }
            sleep(interval).await;
        }
    });
    let (res, _) = stream.read(vec![0u8; 64]).await;
    assert!(matches!(res, Ok(0)) || res.is_err(), "{res:?}");
    dribble.abort();
    let _ = dribble.await;
    start.elapsed()
}

async fn good_client(addr: SocketAddr) -> Vec<u8> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (res, _) = stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .await;
    res.unwrap();
    let mut got = Vec::new();
    loop {
        let (res, buf) = stream.read(vec![0u8; 256]).await;
        match res.unwrap() {
            0 => return got,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn slowloris_clients_time_out_and_good_clients_are_served() {
    let clients = env_or("CURING_SLOWLORIS_CLIENTS", 200);
    let interval = Duration::from_millis(env_or("CURING_SLOWLORIS_INTERVAL_MS", 100));
    let limit = Duration::from_millis(env_or("CURING_SLOWLORIS_TIMEOUT_MS", 500));
    let limit_fds = raise_nofile(2 * clients + SPARE_FDS);
    assert!(
        limit_fds >= 2 * clients + SPARE_FDS,
        "RLIMIT_NOFILE {limit_fds} is too low for {clients} clients"
    );
    println!("slowloris: {clients} clients, 1 byte per {interval:?}, header timeout {limit:?}");
    common::run(limit * 4 + Duration::from_secs(30), move || async move {
        let rss_before = rss_kib();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let timed_out = Rc::new(Cell::new(0u64));
        let t = timed_out.clone();
        let server = curing::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                curing::spawn(serve_header(stream, limit, t.clone()));
            }
        });
        let slow: Vec<_> = (0..clients)
            .map(|_| curing::spawn(slow_client(addr, interval)))
            .collect();
        // Good clients keep being served while the slow ones hang on.
        sleep(limit / 4).await;
        let mut rss_peak = rss_kib();
        for _ in 0..20 {
            let got = timeout(limit, good_client(addr))
                .await
                .expect("a good client is served promptly");
            assert_eq!(got, RESPONSE);
            rss_peak = rss_peak.max(rss_kib());
        }
        let mut lifetimes = Vec::new();
        for c in slow {
            lifetimes.push(c.await.unwrap());
        }
        server.abort();
        let _ = server.await;
        lifetimes.sort();
        let (min, max) = (lifetimes[0], lifetimes[lifetimes.len() - 1]);
        println!(
            "slowloris: {} timed out; slow connections lived {min:?}..{max:?}; \
             RSS {rss_before} -> peak {rss_peak} KiB",
            timed_out.get()
        );
        assert_eq!(timed_out.get(), clients, "every slow client timed out");
        assert!(min >= limit, "closed before the header timeout: {min:?}");
        assert!(
            max < limit + Duration::from_secs(2),
            "a slow client outlived its timeout: {max:?}"
        );
        let growth = rss_peak.saturating_sub(rss_before);
        assert!(
            growth < 64 * 1024 + clients * 64,
            "memory grew {growth} KiB for {clients} slow clients"
        );
    });
}

// ---- docs/reliability.md, row 25: many concurrent connections --------------

async fn echo(stream: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
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
}

/// Round trips of varying sizes until `deadline`; every echo byte-exact.
async fn echo_client(stream: TcpStream, id: u64, deadline: Instant) -> (u64, u64) {
    let (mut trips, mut bytes) = (0u64, 0u64);
    let mut first = true;
    while first || Instant::now() < deadline {
        first = false;
        let len = 1 + ((id * 7919 + trips * 104_729) % 4000) as usize;
        let msg = common::pattern(id << 20 | trips, len);
        let want = common::hash(&msg);
        let (res, _) = stream.write_all(msg).await;
        res.unwrap();
        let mut got = common::Hash::new();
        let mut buf = vec![0u8; 4096];
        while got.finish().1 < len as u64 {
            let (res, b) = stream.read(buf).await;
            let n = res.unwrap();
            assert!(n > 0, "unexpected EOF");
            got.update(&b[..n]);
            buf = b;
        }
        assert_eq!(got.finish(), want, "echo of client {id} differs");
        trips += 1;
        bytes += len as u64;
    }
    let _ = stream.close().await;
    (trips, bytes)
}

#[test]
fn thousands_of_concurrent_echo_connections() {
    let asked = env_or("CURING_CONNS", 2000);
    let secs = env_or("CURING_CONN_SECS", 2);
    // Both ends are in this process: two descriptors per connection.
    let limit_fds = raise_nofile(2 * asked + SPARE_FDS);
    let conns = asked.min(limit_fds.saturating_sub(SPARE_FDS) / 2);
    if conns < asked {
        println!(
            "connections: CAPPED from {asked} to {conns} by RLIMIT_NOFILE {limit_fds} \
             (raise the hard limit to {} for the full number)",
            2 * asked + SPARE_FDS
        );
    }
    assert!(
        conns >= asked.min(1000),
        "RLIMIT_NOFILE {limit_fds} is far too low"
    );
    println!("connections: {conns} echo clients for {secs} s");
    let s = common::run_with(
        curing::Runtime::builder,
        Duration::from_secs(secs + 60),
        move || async move {
            let rss_before = rss_kib();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = curing::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    curing::spawn(echo(stream));
                }
            });
            // Connect in batches (the listen backlog is 1024).
            let mut streams = Vec::new();
            for batch in 0..conns.div_ceil(250) {
                let n = 250.min(conns - batch * 250);
                let connecting: Vec<_> = (0..n)
                    .map(|_| curing::spawn(TcpStream::connect(addr)))
                    .collect();
                for c in connecting {
                    streams.push(c.await.unwrap().unwrap());
                }
            }
            let connected = Instant::now();
            let deadline = connected + Duration::from_secs(secs);
            let max_in_flight = Rc::new(Cell::new(0usize));
            let m = max_in_flight.clone();
            let sampler = curing::spawn(async move {
                loop {
                    m.set(m.get().max(curing::runtime::stats().ops_in_flight));
                    sleep(Duration::from_millis(10)).await;
                }
            });
            let clients: Vec<_> = streams
                .into_iter()
                .enumerate()
                .map(|(i, s)| curing::spawn(echo_client(s, i as u64, deadline)))
                .collect();
            let (mut trips, mut bytes) = (0, 0);
            let mut rss_peak = rss_kib();
            for c in clients {
                let (t, b) = c.await.unwrap();
                trips += t;
                bytes += b;
                rss_peak = rss_peak.max(rss_kib());
            }
            sampler.abort();
            server.abort();
            let _ = (sampler.await, server.await);
            sleep(Duration::from_millis(50)).await; // handlers see EOF
            let elapsed = connected.elapsed().as_secs_f64();
            println!(
                "connections: {conns} clients, {trips} round trips, {} MiB echoed \
                 byte-exact in {elapsed:.1} s; max ops in flight {}; RSS {rss_before} -> \
                 peak {rss_peak} KiB",
                bytes >> 20,
                max_in_flight.get()
            );
            assert!(trips >= conns, "every client did a round trip");
            assert!(
                max_in_flight.get() <= 16384 + 8,
                "in flight above the cap: {}",
                max_in_flight.get()
            );
            let growth = rss_peak.saturating_sub(rss_before);
            assert!(
                growth < 256 * 1024 + conns * 128,
                "memory grew {growth} KiB for {conns} connections"
            );
        },
    );
    assert_eq!(s.stale_cqes, 0, "{s:?}");
}
