//! Idle connections: resident memory per connection with N open, each with
//! a read pending, as each runtime's echo server would hold them.
//!
//! ```text
//! curing-compare idle <curing|curing-pooled|tokio|monoio|glommio|compio> [conns]
//! ```
//!
//! The server (this process) binds, reads its RSS, starts the clients in a
//! child process (`idle-client`: N blocking connects, then waits for stdin to
//! close), accepts N connections spawning a reader task for each, lets them
//! park their reads for 300 ms, and reads its RSS again. One JSON line.

use std::io::{self, BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUF: usize = 4096;
const SETTLE: Duration = Duration::from_millis(300);

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

pub fn raise_nofile() {
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

/// Connections the client opens before it waits for the server to accept
/// them: more than the listen backlog at once (128 for tokio and compio,
/// as std's) and the kernel drops SYNs, which the client retries only after
/// a second.
const CHUNK: usize = 64;

/// The client side: `n` connections in chunks of `CHUNK` (a line on stdin
/// from the server between chunks), held until stdin closes.
pub fn client(addr: &str, n: usize) -> io::Result<()> {
    raise_nofile();
    let mut held = Vec::with_capacity(n);
    let mut stdin = io::stdin().lock();
    for i in 0..n {
        if i > 0 && i.is_multiple_of(CHUNK) {
            stdin.read_line(&mut String::new())?;
        }
        held.push(std::net::TcpStream::connect(addr)?);
    }
    let _ = stdin.read_line(&mut String::new());
    Ok(())
}

/// The client process, on the other core when the server is pinned.
struct Client(Child);

impl Client {
    fn spawn(addr: &str, n: usize) -> io::Result<Client> {
        let mut cmd = Command::new(std::env::current_exe()?);
        if let Some(core) = other_core() {
            cmd = Command::new("taskset");
            cmd.args(["-c", &core.to_string()])
                .arg(std::env::current_exe()?);
        }
        cmd.args(["idle-client", addr, &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map(Client)
    }

    /// The server accepted connection number `i` (from 1): lets the client
    /// go on at the end of each chunk.
    fn accepted(&mut self, i: usize) {
        if i.is_multiple_of(CHUNK) {
            let stdin = self.0.stdin.as_mut().expect("piped");
            let _ = stdin.write_all(b"\n").and_then(|()| stdin.flush());
        }
    }

    fn finish(mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// If this process is pinned to one core, another core for the client.
fn other_core() -> Option<usize> {
    // SAFETY: `set` is a valid out-pointer of the size passed.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return None;
        }
        set
    };
    let cores = std::thread::available_parallelism().ok()?.get();
    // SAFETY: CPU_ISSET reads the set in bounds for i < CPU_SETSIZE.
    let mine: Vec<usize> = (0..cores.min(1024))
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect();
    if mine.len() != 1 {
        return None;
    }
    let all = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    // "0-1" or "0,2-3": the first online core that is not ours.
    all.trim()
        .split(',')
        .flat_map(|r| {
            let mut ends = r.split('-').filter_map(|x| x.parse::<usize>().ok());
            let a = ends.next().unwrap_or(0);
            a..=ends.next().unwrap_or(a)
        })
        .find(|&c| c != mine[0])
}

/// What a runtime's run measured: RSS before and after (KiB), accept time.
type Measured = (u64, u64, Duration);

pub fn run(label: &str, n: usize) -> io::Result<()> {
    raise_nofile();
    // A free port (bound and released; the runtime binds it again).
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .to_string();
    let (before, after, took) = match label {
        "curing" => curing(&addr, n, false)?,
        "curing-pooled" => curing(&addr, n, true)?,
        "tokio" => tokio(&addr, n)?,
        "monoio" => monoio(&addr, n)?,
        "glommio" => glommio(&addr, n)?,
        "compio" => compio(&addr, n)?,
        other => return Err(io::Error::other(format!("idle: no runtime {other}"))),
    };
    println!(
        "{{\"bench\":\"idle\",\"label\":\"{label}\",\"conns\":{n},\"rss_before_kb\":{before},\"rss_after_kb\":{after},\
\"bytes_per_conn\":{:.0},\"accept_ms\":{:.0}}}",
        (after.saturating_sub(before) * 1024) as f64 / n as f64,
        took.as_secs_f64() * 1e3
    );
    Ok(())
}

fn curing(addr: &str, n: usize, pooled: bool) -> io::Result<Measured> {
    use curing::buf::BufPool;
    use curing::net::TcpListener;
    curing::run(async move {
        let listener = TcpListener::bind(addr)?;
        let pool = if pooled {
            Some(BufPool::new(1024, BUF)?)
        } else {
            None
        };
        let before = rss_kb();
        let mut client = Client::spawn(addr, n)?;
        let t = Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for i in 1..=n {
            let (stream, _) = listener.accept().await?;
            client.accepted(i);
            let pool = pool.clone();
            tasks.push(curing::spawn(async move {
                match pool {
                    Some(pool) => {
                        let mut rx = stream.recv_pooled(&pool);
                        while let Some(Ok(_)) = rx.next().await {}
                    }
                    None => drop(stream.read(vec![0u8; BUF]).await),
                }
            }));
        }
        let took = t.elapsed();
        curing::time::sleep(SETTLE).await;
        let after = rss_kb();
        client.finish();
        Ok((before, after, took))
    })
}

fn tokio(addr: &str, n: usize) -> io::Result<Measured> {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let before = rss_kb();
        let mut client = Client::spawn(addr, n)?;
        let t = Instant::now();
        for i in 1..=n {
            let (mut s, _) = listener.accept().await?;
            client.accepted(i);
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                let _ = s.read(&mut buf).await;
            });
        }
        let took = t.elapsed();
        tokio::time::sleep(SETTLE).await;
        let after = rss_kb();
        client.finish();
        Ok((before, after, took))
    })
}

fn monoio(addr: &str, n: usize) -> io::Result<Measured> {
    use monoio::io::AsyncReadRent;
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::bind(addr)?;
        let before = rss_kb();
        let mut client = Client::spawn(addr, n)?;
        let t = Instant::now();
        for i in 1..=n {
            let (mut s, _) = listener.accept().await?;
            client.accepted(i);
            monoio::spawn(async move {
                let _ = s.read(Vec::with_capacity(BUF)).await;
            });
        }
        let took = t.elapsed();
        monoio::time::sleep(SETTLE).await;
        let after = rss_kb();
        client.finish();
        Ok((before, after, took))
    })
}

fn compio(addr: &str, n: usize) -> io::Result<Measured> {
    use compio::io::AsyncRead;
    let rt = compio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = compio::net::TcpListener::bind(addr).await?;
        let before = rss_kb();
        let mut client = Client::spawn(addr, n)?;
        let t = Instant::now();
        for i in 1..=n {
            let (mut s, _) = listener.accept().await?;
            client.accepted(i);
            compio::runtime::spawn(async move {
                let _ = s.read(Vec::with_capacity(BUF)).await;
            })
            .detach();
        }
        let took = t.elapsed();
        compio::runtime::time::sleep(SETTLE).await;
        let after = rss_kb();
        client.finish();
        Ok((before, after, took))
    })
}

fn glommio(addr: &str, n: usize) -> io::Result<Measured> {
    use futures_lite::AsyncReadExt;
    use glommio::{net::TcpListener, spawn_local, LocalExecutorBuilder};
    let addr = addr.to_string();
    let handle = LocalExecutorBuilder::default()
        .spawn(move || async move {
            let listener = TcpListener::bind(addr.as_str()).map_err(io::Error::from)?;
            let before = rss_kb();
            let mut client = Client::spawn(&addr, n)?;
            let t = Instant::now();
            for i in 1..=n {
                let mut s = listener.accept().await.map_err(io::Error::from)?;
                client.accepted(i);
                spawn_local(async move {
                    let mut buf = vec![0u8; BUF];
                    let _ = s.read(&mut buf).await;
                })
                .detach();
            }
            let took = t.elapsed();
            glommio::timer::sleep(SETTLE).await;
            let after = rss_kb();
            client.finish();
            Ok::<Measured, io::Error>((before, after, took))
        })
        .map_err(io::Error::from)?;
    handle.join().map_err(io::Error::from)?
}
