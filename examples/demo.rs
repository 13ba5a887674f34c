//! The main job: an echo server and a file workload on one thread, driven by
//! client tasks for a few seconds, then a report of what happened.
//!
//! ```text
//! cargo run --release --example demo -- [SECONDS]    # default 3
//! ```
//!
//! Everything runs on one curing runtime on one thread: the server accepts
//! and echoes, 32 clients do ping-pong round trips and check every byte that
//! comes back, and a file task writes a 64 MiB file and then reads it back at
//! random 4 KiB offsets with 32 reads in flight, checking the contents.

use curing::buf::IoBuf;
use curing::fs::{File, OpenOptions};
use curing::net::{TcpListener, TcpStream};
use curing::task::TaskGroup;
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const MESSAGE: usize = 64;
const FILE_SIZE: u64 = 64 << 20;
const CHUNK: usize = 1 << 20;
const BLOCK: usize = 4096;
const QUEUE_DEPTH: usize = 32;

fn main() -> io::Result<()> {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let run_for = Duration::from_secs_f64(secs);
    let rt = curing::Runtime::new().map_err(io::Error::other)?;
    match rt.driver_kind() {
        curing::runtime::DriverKind::Epoll => println!(
            "curing demo: one thread, the epoll driver (io_uring emulated on epoll and a \
             thread pool)"
        ),
        kind => {
            println!(
                "curing demo: one thread, driver {kind:?} (CURING_DRIVER=epoll for the fallback)"
            );
            println!("io_uring setup: {}", describe(rt.setup_flags()));
        }
    }
    let report = rt.block_on(demo(run_for))?;
    let stats = rt.stats();
    report.print();
    // Submitted but not completed = still in the kernel + completed by the
    // kernel but not yet taken by their task (see `curing::stats::Stats`).
    let pending = stats.ops_submitted - stats.ops_completed;
    let not_taken = pending.saturating_sub(stats.ops_in_flight as u64);
    println!(
        "ring: {} ops submitted, {} completed; the {pending} between = {} in flight in the kernel \
         + {not_taken} completed, not yet taken by their task",
        stats.ops_submitted, stats.ops_completed, stats.ops_in_flight,
    );
    println!(
        "      {} enter calls (io_uring_enter or epoll_wait): {:.1} ops per call",
        stats.enter_calls,
        stats.ops_submitted as f64 / stats.enter_calls.max(1) as f64
    );
    if report.mismatches > 0 {
        return Err(io::Error::other(format!(
            "{} data mismatches",
            report.mismatches
        )));
    }
    Ok(())
}

/// The ring's setup flags in words: which were granted and what each does.
fn describe(flags: curing::stats::SetupFlags) -> String {
    let mut parts = Vec::new();
    if flags.defer_taskrun {
        parts.push(
            "SINGLE_ISSUER|DEFER_TASKRUN (completions are processed only when this thread \
             enters the kernel: no interrupts of the running thread)",
        );
    } else if flags.coop_taskrun {
        parts.push(
            "COOP_TASKRUN|TASKRUN_FLAG (completion work waits for the next kernel entry \
             instead of interrupting the thread; DEFER_TASKRUN needs 6.1+)",
        );
    } else {
        parts.push("no task-run flags (kernel older than 5.19: completions may interrupt)");
    }
    if flags.submit_all {
        parts.push("SUBMIT_ALL (one bad request does not stop the rest of its batch)");
    }
    if flags.no_sqarray {
        parts.push("NO_SQARRAY (requests are read in ring order, without the index array)");
    }
    parts.join(", ")
}

/// What the demo measured.
struct Report {
    round_trips: u64,
    net_secs: f64,
    written: u64,
    write_secs: f64,
    read: u64,
    read_secs: f64,
    mismatches: u64,
}

impl Report {
    fn print(&self) {
        println!(
            "echo:  {} clients x {} B messages: {} round trips in {:.2} s = {:.0} round trips/s",
            CLIENTS,
            MESSAGE,
            self.round_trips,
            self.net_secs,
            self.round_trips as f64 / self.net_secs
        );
        println!(
            "file:  wrote {} MiB in {:.2} s = {:.0} MB/s; random {} KiB reads (QD {}): {} MiB in {:.2} s = {:.0} MB/s",
            self.written >> 20,
            self.write_secs,
            self.written as f64 / self.write_secs / 1e6,
            BLOCK / 1024,
            QUEUE_DEPTH,
            self.read >> 20,
            self.read_secs,
            self.read as f64 / self.read_secs / 1e6
        );
        println!("check: {} mismatched bytes or blocks", self.mismatches);
    }
}

async fn demo(run_for: Duration) -> io::Result<Report> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("echo server listening on {addr}; running for {run_for:?}");
    let server = curing::spawn(serve(listener));
    let mismatches = Rc::new(Cell::new(0u64));

    let start = Instant::now();
    let deadline = start + run_for;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| curing::spawn(client(addr, deadline, i as u8, mismatches.clone())))
        .collect();
    let path = std::env::temp_dir().join(format!("curing-demo-{}.dat", std::process::id()));
    let files = curing::spawn(file_workload(path.clone(), deadline, mismatches.clone()));

    let mut round_trips = 0;
    for c in clients {
        round_trips += c.await??;
    }
    let net_secs = start.elapsed().as_secs_f64();
    let file_result = files.await?;
    let _ = std::fs::remove_file(&path);
    let (written, write_secs, read, read_secs) = file_result?;
    // Stops accepting and cancels the open connections (the server's group
    // is dropped with it); the short sleep lets the runtime reap the
    // cancelled ops' completions, so the ring line below counts a settled
    // ring.
    server.abort();
    curing::time::sleep(Duration::from_millis(1)).await;
    Ok(Report {
        round_trips,
        net_secs,
        written,
        write_secs,
        read,
        read_secs,
        mismatches: mismatches.get(),
    })
}

/// Accepts connections and echoes each on its own task, a child of a
/// reaping group (see `examples/echo.rs`): cancelled with the server.
async fn serve(listener: TcpListener) -> io::Result<()> {
    let mut connections = TaskGroup::<(), io::Error>::reaping();
    loop {
        let (stream, _) = listener.accept().await?;
        connections.spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (res, b) = stream.read(buf).await;
                let n = match res {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let (res, slice) = stream.write_all(b.slice(..n)).await;
                buf = slice.into_inner();
                if res.is_err() {
                    break;
                }
            }
            Ok(())
        });
    }
}

/// Sends numbered messages until the deadline, checking each echo.
async fn client(
    addr: SocketAddr,
    deadline: Instant,
    id: u8,
    mismatches: Rc<Cell<u64>>,
) -> io::Result<u64> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut out = vec![0u8; MESSAGE];
    let mut back = vec![0u8; MESSAGE];
    let mut n = 0u64;
    while Instant::now() < deadline {
        out.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = id ^ (n as u8).wrapping_add(i as u8));
        let (res, o) = stream.write_all(out).await;
        res?;
        out = o;
        let (res, b) = stream.read_exact(back).await;
        res?;
        back = b;
        if back != out {
            mismatches.set(mismatches.get() + 1);
        }
        n += 1;
    }
    stream.close().await?;
    Ok(n)
}

/// The byte at `offset` of the demo file.
fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(2654435761) >> 13) as u8
}

/// Writes the file sequentially (8 chunks in flight), then reads random
/// blocks with `QUEUE_DEPTH` reads in flight until the deadline.
async fn file_workload(
    path: std::path::PathBuf,
    deadline: Instant,
    mismatches: Rc<Cell<u64>>,
) -> io::Result<(u64, f64, u64, f64)> {
    let file = Rc::new(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await?,
    );
    let t = Instant::now();
    let chunks = FILE_SIZE / CHUNK as u64;
    for group in (0..chunks).collect::<Vec<_>>().chunks(8) {
        let writes: Vec<_> = group
            .iter()
            .map(|&c| {
                let file = file.clone();
                curing::spawn(async move {
                    let base = c * CHUNK as u64;
                    let buf: Vec<u8> = (0..CHUNK as u64).map(|i| pattern(base + i)).collect();
                    file.write_all_at(buf, base).await.0
                })
            })
            .collect();
        for w in writes {
            w.await??;
        }
    }
    file.sync_data().await?;
    let write_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let readers: Vec<_> = (0..QUEUE_DEPTH)
        .map(|r| {
            let file = file.clone();
            let mismatches = mismatches.clone();
            curing::spawn(random_reads(file, r as u64, deadline, mismatches))
        })
        .collect();
    let mut read = 0;
    for r in readers {
        read += r.await??;
    }
    let read_secs = t.elapsed().as_secs_f64().max(1e-9);
    Rc::try_unwrap(file)
        .map_err(|_| io::Error::other("file still shared"))?
        .close()
        .await?;
    Ok((FILE_SIZE, write_secs, read, read_secs))
}

/// One of the concurrent readers: random aligned blocks, each checked.
async fn random_reads(
    file: Rc<File>,
    seed: u64,
    deadline: Instant,
    mismatches: Rc<Cell<u64>>,
) -> io::Result<u64> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut buf = vec![0u8; BLOCK];
    let mut total = 0;
    while Instant::now() < deadline || total == 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let offset = (x % (FILE_SIZE / BLOCK as u64)) * BLOCK as u64;
        let (res, b) = file.read_exact_at(buf, offset).await;
        res?;
        if b.iter()
            .enumerate()
            .any(|(i, &v)| v != pattern(offset + i as u64))
        {
            mismatches.set(mismatches.get() + 1);
        }
        buf = b;
        total += BLOCK as u64;
    }
    Ok(total)
}
