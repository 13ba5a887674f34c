//! File I/O: random 4 KiB reads at a queue depth, and sequential 1 MiB reads
//! and writes, one JSON line per run. `fio` runs on the same file from
//! `ci/bench.sh`.
//!
//! ```text
//! curing-compare file <impl> --path P --mode rand|seqread|seqwrite
//!                     [--qd N] [--secs T] [--bs BYTES] [--size BYTES] [--direct]
//! ```
//!
//! Implementations:
//! - `curing`: `File::read_at` / `write_at` with a `Vec` per task (with
//!   `--direct`: `read_direct_at` with an `AlignedBuf`); `qd` tasks each
//!   with one read in flight.
//! - `curing-fixed`: `File::read_fixed_at` / `write_fixed_at` with buffers
//!   of a `FixedBufPool` (registered with the ring).
//! - `tokio`: `tokio::fs::File` (a blocking thread pool underneath): per
//!   task its own `File`, `seek` then `read_exact` (page cache only).
//! - `raw`: the io-uring crate by hand, `qd` registered buffers,
//!   `READ_FIXED` / `WRITE_FIXED`, every completion re-armed at once.
//!
//! `rand`: `qd` reads in flight at uniformly random `bs`-aligned offsets for
//! `secs` seconds. `seqread`: `bs` reads from offset 0 up, wrapping at the
//! end, for `secs` seconds (queue depth 1). `seqwrite`: writes `size` bytes
//! in `bs` chunks to a fresh file, then `fsync`; the time includes the sync.

use crate::loadgen::{clock_ticks_per_sec, machine_ticks, self_cpu};
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Job {
    path: String,
    mode: String,
    qd: usize,
    secs: f64,
    bs: usize,
    size: u64,
    direct: bool,
}

/// xorshift64*: cheap, and the same stream for every implementation.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A random `bs`-aligned offset of a whole block in a file of `size`.
    fn offset(&mut self, size: u64, bs: usize) -> u64 {
        (self.next() % (size / bs as u64)) * bs as u64
    }
}

/// Whether a worker that did `n` ops should stop (checks the clock every 16).
fn over(n: u64, deadline: Instant) -> bool {
    n.is_multiple_of(16) && Instant::now() >= deadline
}

fn err(m: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m)
}

fn check(n: io::Result<usize>, bs: usize) {
    match n {
        Ok(n) if n == bs => {}
        other => panic!("short or failed I/O: {other:?} (wanted {bs} bytes)"),
    }
}

pub fn run(imp: &str, args: &[String]) -> io::Result<()> {
    let mut job = Job {
        path: String::new(),
        mode: "rand".into(),
        qd: 1,
        secs: 2.0,
        bs: 4096,
        size: 0,
        direct: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--direct" {
            job.direct = true;
            continue;
        }
        let v = it
            .next()
            .ok_or_else(|| err(format!("{flag} needs a value")))?;
        let e = |x: std::num::ParseIntError| err(format!("{flag}: {x}"));
        match flag.as_str() {
            "--path" => job.path = v.clone(),
            "--mode" => job.mode = v.clone(),
            "--qd" => job.qd = v.parse().map_err(e)?,
            "--secs" => job.secs = v.parse().map_err(|x| err(format!("{flag}: {x}")))?,
            "--bs" => job.bs = v.parse().map_err(e)?,
            "--size" => job.size = v.parse().map_err(e)?,
            f => return Err(err(format!("unknown file flag {f}"))),
        }
    }
    if job.mode != "seqwrite" {
        job.size = std::fs::metadata(&job.path)?.len();
    }
    if job.path.is_empty() || job.size < job.bs as u64 || job.qd == 0 {
        return Err(err(
            "need --path of a file at least --bs long, --qd > 0".into()
        ));
    }
    let busy0 = machine_ticks()?[0];
    let cpu0 = self_cpu();
    let start = Instant::now();
    let (ops, wall) = match imp {
        "curing" | "curing-fixed" => curing(&job, imp == "curing-fixed")?,
        "tokio" => tokio(&job)?,
        "raw" => raw(&job)?,
        _ => return Err(err(format!("file: no implementation {imp}"))),
    };
    let secs = start.elapsed().as_secs_f64();
    let cpu = (self_cpu() - cpu0).as_secs_f64();
    let busy = (machine_ticks()?[0] - busy0) as f64 / clock_ticks_per_sec() as f64;
    let w = wall.as_secs_f64();
    let workload = match job.mode.as_str() {
        "rand" => format!(
            "rand {} KiB QD{} {}",
            job.bs / 1024,
            job.qd,
            if job.direct { "O_DIRECT" } else { "page cache" }
        ),
        m => format!("{m} {} KiB", job.bs / 1024),
    };
    println!(
        "{{\"bench\":\"file\",\"workload\":\"{workload}\",\"label\":\"{imp}\",\"ops\":{ops},\"secs\":{w:.3},\
\"iops\":{:.1},\"mb_per_s\":{:.1},\"cpu_us_per_op\":{:.3},\"foreign_cpu_pct\":{:.1}}}",
        ops as f64 / w,
        ops as f64 * job.bs as f64 / w / 1e6,
        cpu * 1e6 / ops as f64,
        (busy - cpu).max(0.0) * 100.0 / secs,
    );
    Ok(())
}

/// What a curing read or write gives back: the result and the buffer.
type Io<B> = (io::Result<usize>, B);

/// A buffer type the curing workers read into and write from: each kind
/// has its own `File` methods, and each worker loop is compiled for one kind
/// (as a user's code would be), not dispatched per op. The methods hand out
/// curing's futures as they are, so the loop awaits what a user's loop
/// calling `file.read_fixed_at(buf, pos).await` would.
trait Block: Sized + 'static {
    fn read(self, file: &curing::fs::File, pos: u64) -> impl Future<Output = Io<Self>>;
    fn write(self, file: &curing::fs::File, pos: u64) -> impl Future<Output = Io<Self>>;
}

/// `impl Block for $buf` with the `File` methods of that buffer kind.
macro_rules! block {
    ($buf:ty, $read:ident, $write:ident) => {
        impl Block for $buf {
            fn read(self, file: &curing::fs::File, pos: u64) -> impl Future<Output = Io<Self>> {
                file.$read(self, pos)
            }
            fn write(self, file: &curing::fs::File, pos: u64) -> impl Future<Output = Io<Self>> {
                file.$write(self, pos)
            }
        }
    };
}

block!(Vec<u8>, read_at, write_at);
block!(curing::buf::AlignedBuf, read_direct_at, write_direct_at);
block!(curing::buf::FixedBuf, read_fixed_at, write_fixed_at);

fn curing(job: &Job, fixed: bool) -> io::Result<(u64, Duration)> {
    use curing::buf::{AlignedBuf, FixedBufPool};
    use curing::fs::OpenOptions;
    let job = job.clone();
    curing::run(async move {
        let write = job.mode == "seqwrite";
        let mut opts = OpenOptions::new();
        if write {
            opts.write(true).create(true).truncate(true);
        } else {
            opts.read(true);
        }
        let file = Rc::new(opts.direct(job.direct).open(&job.path).await?);
        let bs = job.bs;
        // One buffer per worker: `qd` workers for random reads, one else.
        let n = if job.mode == "rand" { job.qd } else { 1 };
        if fixed {
            let pool = FixedBufPool::new(job.qd, bs)?;
            let bufs = (0..n).map(|_| {
                let mut b = pool.try_acquire().expect("one buffer per worker");
                if write {
                    b.extend_from_slice(&vec![0xa5; bs]);
                }
                b
            });
            workers(&job, file, bufs.collect()).await
        } else if job.direct {
            let bufs = (0..n).map(|_| {
                let mut b = AlignedBuf::new(bs, 4096);
                if write {
                    b.set_len(bs);
                }
                b
            });
            workers(&job, file, bufs.collect()).await
        } else {
            let bufs = (0..n).map(|_| {
                if write {
                    vec![0xa5; bs]
                } else {
                    Vec::with_capacity(bs)
                }
            });
            workers(&job, file, bufs.collect()).await
        }
    })
}

/// Runs `job` on curing with one buffer per worker (`bufs`: `qd` of them
/// for random reads, the first for sequential runs).
async fn workers<B: Block>(
    job: &Job,
    file: Rc<curing::fs::File>,
    mut bufs: Vec<B>,
) -> io::Result<(u64, Duration)> {
    let (bs, size) = (job.bs, job.size);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(job.secs);
    let ops = match job.mode.as_str() {
        "rand" => {
            let tasks: Vec<_> = bufs
                .drain(..)
                .enumerate()
                .map(|(k, mut buf)| {
                    let file = file.clone();
                    curing::spawn(async move {
                        let (mut rng, mut n) = (Rng::new(k as u64 + 1), 0u64);
                        while !over(n, deadline) {
                            let r;
                            (r, buf) = buf.read(&file, rng.offset(size, bs)).await;
                            check(r, bs);
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut ops = 0;
            for t in tasks {
                ops += t.await.expect("worker");
            }
            ops
        }
        "seqread" => {
            let (mut buf, mut n, mut pos) = (bufs.swap_remove(0), 0u64, 0u64);
            while !over(n, deadline) {
                let r;
                (r, buf) = buf.read(&file, pos).await;
                check(r, bs);
                n += 1;
                pos = if pos + 2 * bs as u64 > size {
                    0
                } else {
                    pos + bs as u64
                };
            }
            n
        }
        "seqwrite" => {
            let (mut buf, n) = (bufs.swap_remove(0), size / bs as u64);
            for i in 0..n {
                let r;
                (r, buf) = buf.write(&file, i * bs as u64).await;
                check(r, bs);
            }
            file.sync_all().await?;
            n
        }
        m => return Err(err(format!("unknown mode {m}"))),
    };
    Ok((ops, start.elapsed()))
}

fn tokio(job: &Job) -> io::Result<(u64, Duration)> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    if job.direct {
        return Err(err("tokio::fs: no O_DIRECT".into()));
    }
    let job = job.clone();
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async move {
        let (bs, size) = (job.bs, job.size);
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(job.secs);
        let ops = match job.mode.as_str() {
            "rand" => {
                let mut tasks = Vec::new();
                for k in 0..job.qd {
                    let mut file = tokio::fs::File::open(&job.path).await?;
                    tasks.push(tokio::spawn(async move {
                        let (mut rng, mut n, mut buf) =
                            (Rng::new(k as u64 + 1), 0u64, vec![0u8; bs]);
                        while !over(n, deadline) {
                            file.seek(io::SeekFrom::Start(rng.offset(size, bs)))
                                .await
                                .unwrap();
                            file.read_exact(&mut buf).await.unwrap();
                            n += 1;
                        }
                        n
                    }));
                }
                let mut ops = 0;
                for t in tasks {
                    ops += t.await.expect("worker");
                }
                ops
            }
            "seqread" => {
                let mut file = tokio::fs::File::open(&job.path).await?;
                let (mut buf, mut n, mut pos) = (vec![0u8; bs], 0u64, 0u64);
                while !over(n, deadline) {
                    if pos + bs as u64 > size {
                        file.seek(io::SeekFrom::Start(0)).await?;
                        pos = 0;
                    }
                    file.read_exact(&mut buf).await?;
                    n += 1;
                    pos += bs as u64;
                }
                n
            }
            "seqwrite" => {
                let mut file = tokio::fs::File::create(&job.path).await?;
                let (buf, n) = (vec![0xa5u8; bs], size / bs as u64);
                for _ in 0..n {
                    file.write_all(&buf).await?;
                }
                file.sync_all().await?;
                n
            }
            m => return Err(err(format!("unknown mode {m}"))),
        };
        Ok((ops, start.elapsed()))
    })
}

/// `qd` page-aligned buffers of `bs` bytes, registered with the ring.
fn raw(job: &Job) -> io::Result<(u64, Duration)> {
    use io_uring::{opcode, types};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;

    let write = job.mode == "seqwrite";
    let (bs, size) = (job.bs, job.size);
    let qd = if job.mode == "rand" { job.qd } else { 1 };
    let mut opts = std::fs::OpenOptions::new();
    if write {
        opts.write(true).create(true).truncate(true);
    } else {
        opts.read(true);
    }
    if job.direct {
        opts.custom_flags(libc::O_DIRECT);
    }
    let file = opts.open(&job.path)?;
    let fd = types::Fd(file.as_raw_fd());
    let layout = std::alloc::Layout::from_size_align(bs * qd, 4096).map_err(io::Error::other)?;
    // SAFETY: non-zero size; freed below with the same layout.
    let mem = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!mem.is_null());
    if write {
        // SAFETY: `mem` has `bs * qd` bytes.
        unsafe { std::ptr::write_bytes(mem, 0xa5, bs * qd) };
    }
    let iovecs: Vec<libc::iovec> = (0..qd)
        .map(|i| libc::iovec {
            // SAFETY: inside the allocation.
            iov_base: unsafe { mem.add(i * bs) }.cast(),
            iov_len: bs,
        })
        .collect();
    let mut ring = crate::raw::ring((qd as u32).next_power_of_two().max(8))?;
    // SAFETY: the buffers stay allocated until after the ring is dropped.
    unsafe { ring.submitter().register_buffers(&iovecs)? };
    let sqe = |i: usize, pos: u64| {
        // SAFETY: as above.
        let p = unsafe { mem.add(i * bs) };
        if write {
            opcode::WriteFixed::new(fd, p, bs as u32, i as u16)
                .offset(pos)
                .build()
        } else {
            opcode::ReadFixed::new(fd, p, bs as u32, i as u16)
                .offset(pos)
                .build()
        }
        .user_data(i as u64)
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(job.secs);
    let mut rngs: Vec<Rng> = (0..qd).map(|k| Rng::new(k as u64 + 1)).collect();
    let mut pos = 0u64;
    let total = if write { size / bs as u64 } else { u64::MAX };
    let mut next_pos = |i: usize, rngs: &mut Vec<Rng>| {
        if job.mode == "rand" {
            rngs[i].offset(size, bs)
        } else {
            let p = pos;
            pos = if !write && pos + 2 * bs as u64 > size {
                0
            } else {
                pos + bs as u64
            };
            p
        }
    };
    let (mut issued, mut done, mut in_flight) = (0u64, 0u64, 0usize);
    for i in 0..qd {
        crate::raw::push(&mut ring, &sqe(i, next_pos(i, &mut rngs)))?;
        issued += 1;
        in_flight += 1;
    }
    let mut stop = false;
    let mut cqes = Vec::with_capacity(qd);
    while in_flight > 0 {
        ring.submit_and_wait(1)?;
        cqes.clear();
        cqes.extend(
            ring.completion()
                .map(|c| (c.user_data() as usize, c.result())),
        );
        for &(i, res) in &cqes {
            in_flight -= 1;
            check(
                usize::try_from(res).map_err(|_| io::Error::from_raw_os_error(-res)),
                bs,
            );
            done += 1;
            stop = stop || over(done, deadline) || issued >= total;
            if !stop {
                crate::raw::push(&mut ring, &sqe(i, next_pos(i, &mut rngs)))?;
                issued += 1;
                in_flight += 1;
                // Direct I/O goes to the device: hand it over in pairs, as
                // curing does (see `EAGER_GROUP` in curing's driver), not
                // after the whole batch of completions was handled.
                if job.direct && ring.submission().len() >= 2 {
                    ring.submit()?;
                }
            }
        }
    }
    if write {
        file.sync_all()?;
    }
    let wall = start.elapsed();
    drop(ring);
    // SAFETY: allocated above with `layout`; the ring that used it is gone.
    unsafe { std::alloc::dealloc(mem, layout) };
    Ok((done, wall))
}
