//! Registered resources, measured: 4 KiB random reads at queue depth 32 on
//! a 1 GiB file in the page cache, with plain `read_at`, with a fixed
//! buffer (`READ_FIXED`), with a fixed file (`IOSQE_FIXED_FILE`), and with
//! both. Runs are interleaved (each round runs every mode once); the
//! median of the rounds is reported.
//!
//! ```text
//! cargo run --release --example fixed_bench [-- READS_PER_RUN [ROUNDS [BLOCK_BYTES]]]
//! ```
//!
//! The file is `/var/tmp/curing-fixed-bench.dat` (not `/tmp`, often a
//! tmpfs); it is made on the first run and kept (delete it afterwards).

use curing::buf::FixedBufPool;
use curing::fs::{File, FixedFile};
use std::io::{Read as _, Write as _};
use std::rc::Rc;
use std::time::{Duration, Instant};

const PATH: &str = "/var/tmp/curing-fixed-bench.dat";
const FILE_SIZE: u64 = 1 << 30;
const DEPTH: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Plain,
    FixedBuf,
    FixedFile,
    Both,
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let reads: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let block: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(4096);
    prepare()?;
    let modes = [Mode::Plain, Mode::FixedBuf, Mode::FixedFile, Mode::Both];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let rt = curing::Runtime::new().expect("runtime");
    println!("{reads} random {block}-byte reads per run, QD{DEPTH}, {PATH} (1 GiB, page cache)");
    for round in 0..rounds {
        for (i, &mode) in modes.iter().enumerate() {
            let t = rt.block_on(run(mode, reads, block, round as u64))?;
            let kiops = reads as f64 / t.as_secs_f64() / 1000.0;
            println!("round {round} {mode:?}: {kiops:8.1} k reads/s");
            results[i].push(kiops);
        }
    }
    let base = median(&mut results[0]);
    println!("\nmedian of {rounds} runs:");
    for (i, mode) in modes.iter().enumerate() {
        let m = median(&mut results[i]);
        println!(
            "  {:<10} {m:8.1} k reads/s  ({:+.1}% vs plain)",
            format!("{mode:?}"),
            (m / base - 1.0) * 100.0
        );
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Makes the file if needed and reads it once so it is in the page cache.
fn prepare() -> std::io::Result<()> {
    let ok = std::fs::metadata(PATH).is_ok_and(|m| m.len() == FILE_SIZE);
    if !ok {
        let mut f = std::fs::File::create(PATH)?;
        let mut chunk = vec![0u8; 1 << 20];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..FILE_SIZE >> 20 {
            for b in chunk.chunks_mut(8) {
                x = xorshift(x);
                b.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&chunk)?;
        }
        f.sync_all()?;
    }
    let mut f = std::fs::File::open(PATH)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// `reads` reads by `DEPTH` tasks; the time they took.
async fn run(mode: Mode, reads: usize, block: usize, seed: u64) -> std::io::Result<Duration> {
    let file = Rc::new(File::open(PATH).await?);
    let fixed: Option<Rc<FixedFile>> = match mode {
        Mode::FixedFile | Mode::Both => Some(Rc::new(file.register()?)),
        _ => None,
    };
    let pool = FixedBufPool::new(DEPTH, block)?;
    let blocks = FILE_SIZE / block as u64;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..DEPTH {
        let (file, fixed, pool) = (file.clone(), fixed.clone(), pool.clone());
        tasks.push(curing::spawn(async move {
            let mut x = xorshift(seed * 1000 + t as u64 + 1);
            let mut vec = Vec::with_capacity(block);
            let mut fbuf = pool.try_acquire().expect("one buffer per task");
            for _ in 0..reads / DEPTH {
                x = xorshift(x);
                let pos = (x % blocks) * block as u64;
                let n = match (mode, &fixed) {
                    (Mode::Plain, _) => {
                        let (res, b) = file.read_at(vec, pos).await;
                        vec = b;
                        res
                    }
                    (Mode::FixedBuf, _) => {
                        let (res, b) = file.read_fixed_at(fbuf, pos).await;
                        fbuf = b;
                        res
                    }
                    (Mode::FixedFile, Some(f)) => {
                        let (res, b) = f.read_at(vec, pos).await;
                        vec = b;
                        res
                    }
                    (Mode::Both, Some(f)) => {
                        let (res, b) = f.read_fixed_at(fbuf, pos).await;
                        fbuf = b;
                        res
                    }
                    _ => unreachable!("fixed modes register the file"),
                };
                assert_eq!(n.expect("read"), block);
            }
        }));
    }
    for t in tasks {
        t.await.expect("reader task");
    }
    Ok(start.elapsed())
}
