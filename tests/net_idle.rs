//! 10,000 idle connections: resident memory per connection, with pooled
//! receives (a multishot receive on a shared buffer ring: no buffer per
//! connection) and, for contrast, plain reads with a 4 KiB buffer each.
//!
//! The clients live in a child process (this same test binary, running the
//! ignored `idle_client` test), because both ends in one process would
//! need 20,000 descriptors. Prints the numbers; asserts a generous bound.

use curing::buf::BufPool;
use curing::net::TcpListener;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONNS: usize = 10_000;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live local the kernel fills / reads.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// The client side (run in a child): connects `CONNS` times to the address
/// in `CURING_IDLE_ADDR`, says "ready", holds them until stdin closes.
#[test]
#[ignore = "helper: run by idle_connections_memory in a child process"]
fn idle_client() {
    let Ok(addr) = std::env::var("CURING_IDLE_ADDR") else {
        return;
    };
    raise_nofile();
    let mut held = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        held.push(std::net::TcpStream::connect(&addr).expect("client connect"));
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// Accepts `CONNS` connections, parks a receive on each, and returns the
/// RSS growth in bytes per connection.
fn measure(pooled: bool) -> f64 {
    raise_nofile();
    let rt = curing::Runtime::new().unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = BufPool::new(1024, 4096).unwrap();
        assert!(pool.is_ring());
        // Warm up allocator and runtime with a few connections first.
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "idle_client", "--ignored", "--nocapture", "--test-threads=1"])
            .env("CURING_IDLE_ADDR", addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn client process");
        let mut incoming = listener.incoming();
        let mut tasks = Vec::with_capacity(CONNS);
        let before = rss_kib();
        let start = Instant::now();
        for _ in 0..CONNS {
            let stream = incoming.next().await.unwrap().expect("accept");
            let pool = pool.clone();
            tasks.push(curing::spawn(async move {
                if pooled {
                    let mut rx = stream.recv_pooled(&pool);
                    while let Some(Ok(_buf)) = rx.next().await {}
                } else {
                    let (_res, _buf) = stream.read(Vec::with_capacity(4096)).await;
                }
            }));
        }
        // Let every task park its receive in the kernel.
        curing::time::sleep(Duration::from_millis(200)).await;
        let after = rss_kib();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 && !line.contains("ready") {
            line.clear();
        }
        let per = (after.saturating_sub(before) * 1024) as f64 / CONNS as f64;
        println!(
            "{} idle connections ({}): RSS {before} KiB -> {after} KiB, {per:.0} bytes per connection (accepted in {:?}), in flight {}",
            CONNS,
            if pooled { "recv_pooled, shared 1024 x 4 KiB ring" } else { "read, 4 KiB Vec each" },
            start.elapsed(),
            curing::runtime::stats().ops_in_flight,
        );
        drop(child.stdin.take());
        child.wait().unwrap();
        drop(tasks);
        per
    })
}

#[test]
fn idle_connections_memory() {
    let pooled = measure(true);
    let plain = measure(false);
    // Target: < 2 KiB per idle connection with the buffer ring. The bound
    // here is generous (allocator noise); the printed number is the result.
    assert!(
        pooled < 4096.0,
        "{pooled:.0} bytes per idle pooled connection"
    );
    assert!(pooled < plain, "pooled {pooled:.0} B vs plain {plain:.0} B");
}
