//! The load generator, on curing: N connections on one curing runtime (one
//! thread), each a task doing TCP ping-pong: write S bytes, read exactly S
//! bytes back, record the round trip's latency, repeat. After a warmup, round
//! trips that start and finish inside the measured window are counted and
//! their latencies go into a log-linear histogram.
//!
//! With `--server-pid`, the server's CPU time (utime + stime from
//! `/proc/<pid>/stat`) is read at the exact start and end of the measured
//! window, so the report can give server CPU per round trip. The load
//! generator's own CPU time over the window is reported too: at ~100% it is
//! the bottleneck, and the server's CPU per round trip is the fair measure.

use crate::hist::Histogram;
use curing::net::TcpStream;
use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub struct Config {
    pub addr: String,
    pub conns: usize,
    pub size: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub server_pid: Option<u32>,
    /// Free text copied into the JSON (e.g. the server's runtime name).
    pub label: String,
}

impl Config {
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut cfg = Config {
            addr: "127.0.0.1:7878".into(),
            conns: 64,
            size: 64,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            server_pid: None,
            label: String::new(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut val = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            let secs = |s: String| {
                s.parse::<f64>()
                    .map(Duration::from_secs_f64)
                    .map_err(|e| format!("{e}"))
            };
            match flag.as_str() {
                "--addr" | "-a" => cfg.addr = val()?,
                "--conns" | "-c" => cfg.conns = val()?.parse().map_err(|e| format!("{e}"))?,
                "--size" | "-s" => cfg.size = val()?.parse().map_err(|e| format!("{e}"))?,
                "--duration" | "-d" => cfg.duration = secs(val()?)?,
                "--warmup" | "-w" => cfg.warmup = secs(val()?)?,
                "--server-pid" => {
                    cfg.server_pid = Some(val()?.parse().map_err(|e| format!("{e}"))?)
                }
                "--label" => cfg.label = val()?,
                other => return Err(format!("unknown loadgen flag {other}")),
            }
        }
        if cfg.conns == 0 || cfg.size == 0 {
            return Err("--conns and --size must be > 0".into());
        }
        Ok(cfg)
    }
}

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat` fields 14
/// and 15; counted after the `)` that ends the command name). For a process
/// these are the whole thread group's (every thread, exited ones included),
/// so a multi-threaded server is counted in full.
pub fn proc_cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = &stat[stat
        .rfind(')')
        .ok_or_else(|| io::Error::other("bad stat"))?
        + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field 14 is f[11], 15 is f[12].
    let parse = |s: &str| s.parse::<u64>().map_err(io::Error::other);
    Ok(parse(f[11])? + parse(f[12])?)
}

/// Machine-wide CPU ticks from the `cpu` line of `/proc/stat`: (busy = all
/// but idle and iowait, irq + softirq, steal).
pub fn machine_ticks() -> io::Result<[u64; 3]> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .next()
        .ok_or_else(|| io::Error::other("empty /proc/stat"))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Ok([busy, at(5) + at(6), at(7)])
}

pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as u64
}

/// CPU time this process used (user + system), from getrusage.
pub fn self_cpu() -> Duration {
    // SAFETY: `ru` is a valid out-pointer for getrusage.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Connects, retrying `ConnectionRefused` for up to 5 s while the server starts.
async fn connect(addr: &str) -> io::Result<TcpStream> {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < give_up => {
                curing::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

/// One connection's ping-pong loop; returns its histogram of round trips
/// inside `[from, to)`.
async fn ping_pong(
    stream: TcpStream,
    size: usize,
    from: Instant,
    to: Instant,
) -> io::Result<Histogram> {
    let mut hist = Histogram::default();
    let mut out: Box<[u8]> = (0..size).map(|i| i as u8).collect();
    let mut back: Box<[u8]> = vec![0u8; size].into_boxed_slice();
    loop {
        let start = Instant::now();
        let (res, b) = stream.write_all(out).await;
        out = b;
        res?;
        let (res, b) = stream.read_exact(back).await;
        back = b;
        res?;
        let end = Instant::now();
        // Round-trip length is checked by read_exact; spot-check content.
        if back[size - 1] != out[size - 1] {
            return Err(io::Error::other("echoed bytes differ"));
        }
        if start >= from && end < to {
            hist.record((end - start).as_nanos() as u64);
        }
        if end >= to {
            break;
        }
    }
    // Best effort; the window is over.
    let _ = stream.close().await;
    Ok(hist)
}

pub struct Report {
    pub hist: Histogram,
    pub window: Duration,
    pub server_cpu: Option<Duration>,
    pub client_cpu: Duration,
    /// Machine-wide CPU over the window: busy (not idle or iowait), interrupt
    /// time (irq+softirq), steal.
    pub machine: Option<[Duration; 3]>,
    pub errors: usize,
}

pub fn run(cfg: &Config) -> io::Result<Report> {
    curing::run(async {
        // Connect all first, then start everyone together.
        let mut streams = Vec::with_capacity(cfg.conns);
        for _ in 0..cfg.conns {
            let s = connect(&cfg.addr).await?;
            streams.push(s);
        }
        let t0 = Instant::now();
        let from = t0 + cfg.warmup;
        let to = from + cfg.duration;

        // Sampler: CPU of the server and of ourselves at the window's edges.
        let pid = cfg.server_pid;
        let sampled = Rc::new(Cell::new((None, Duration::ZERO, None)));
        let sampler = {
            let sampled = sampled.clone();
            curing::spawn(async move {
                curing::time::sleep_until(from).await;
                let s0 = pid.map(proc_cpu_ticks).transpose().ok().flatten();
                let c0 = self_cpu();
                let m0 = machine_ticks().ok();
                curing::time::sleep_until(to).await;
                let s1 = pid.map(proc_cpu_ticks).transpose().ok().flatten();
                let c1 = self_cpu();
                let m1 = machine_ticks().ok();
                let hz = clock_ticks_per_sec() as f64;
                let machine = match (m0, m1) {
                    (Some(a), Some(b)) => {
                        Some([0, 1, 2].map(|i| Duration::from_secs_f64((b[i] - a[i]) as f64 / hz)))
                    }
                    _ => None,
                };
                let server = match (s0, s1) {
                    (Some(a), Some(b)) => Some(Duration::from_secs_f64(
                        (b - a) as f64 / clock_ticks_per_sec() as f64,
                    )),
                    _ => None,
                };
                sampled.set((server, c1 - c0, machine));
            })
        };

        let size = cfg.size;
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|s| curing::spawn(ping_pong(s, size, from, to)))
            .collect();
        let mut hist = Histogram::default();
        let mut errors = 0;
        for t in tasks {
            match t.await {
                Ok(Ok(h)) => hist.merge(&h),
                Ok(Err(e)) => {
                    if errors == 0 {
                        eprintln!("loadgen: connection error: {e}");
                    }
                    errors += 1;
                }
                Err(e) => return Err(io::Error::other(format!("task failed: {e:?}"))),
            }
        }
        let _ = sampler.await;
        let (server_cpu, client_cpu, machine) = sampled.get();
        Ok(Report {
            hist,
            window: cfg.duration,
            server_cpu,
            client_cpu,
            machine,
            errors,
        })
    })
}

impl Report {
    pub fn rtt_per_sec(&self) -> f64 {
        self.hist.count() as f64 / self.window.as_secs_f64()
    }

    /// One JSON object on one line (no serde: flat numbers and strings).
    pub fn json(&self, cfg: &Config) -> String {
        let rts = self.rtt_per_sec();
        let n = self.hist.count().max(1) as f64;
        let secs = self.window.as_secs_f64();
        let (server_cpu_us_per_rt, server_cpu_pct) = match self.server_cpu {
            Some(c) => (
                format!("{:.3}", c.as_secs_f64() * 1e6 / n),
                format!("{:.1}", c.as_secs_f64() * 100.0 / secs),
            ),
            None => ("null".into(), "null".into()),
        };
        // CPU that neither the server nor we used: other processes on the
        // machine (a build, say) competing with the benchmark.
        let pct = |d: Duration| d.as_secs_f64() * 100.0 / secs;
        let (foreign, irq, steal) = match self.machine {
            Some([busy, irq, steal]) => {
                // The processes' times already include the softirq work done
                // in their context, so what is left of `busy` is someone else.
                let ours = self.server_cpu.unwrap_or_default() + self.client_cpu;
                let foreign = (busy.as_secs_f64() - ours.as_secs_f64()).max(0.0) * 100.0 / secs;
                (
                    format!("{foreign:.1}"),
                    format!("{:.1}", pct(irq)),
                    format!("{:.1}", pct(steal)),
                )
            }
            None => ("null".into(), "null".into(), "null".into()),
        };
        format!(
            concat!(
                "{{\"bench\":\"echo\",\"label\":\"{}\",\"addr\":\"{}\",\"conns\":{},\"size\":{},",
                "\"duration_s\":{:.3},\"round_trips\":{},\"rt_per_s\":{:.1},\"bytes_per_s\":{:.1},",
                "\"lat_mean_us\":{:.2},\"p50_us\":{:.2},\"p99_us\":{:.2},\"p999_us\":{:.2},\"max_us\":{:.2},",
                "\"server_cpu_us_per_rt\":{},\"server_cpu_pct\":{},\"client_cpu_pct\":{:.1},",
                "\"foreign_cpu_pct\":{},\"irq_cpu_pct\":{},\"steal_pct\":{},\"errors\":{}}}"
            ),
            cfg.label,
            cfg.addr,
            cfg.conns,
            cfg.size,
            secs,
            self.hist.count(),
            rts,
            // Bytes each way: S out and S back per round trip.
            rts * 2.0 * cfg.size as f64,
            self.hist.mean() / 1e3,
            self.hist.quantile(0.5) as f64 / 1e3,
            self.hist.quantile(0.99) as f64 / 1e3,
            self.hist.quantile(0.999) as f64 / 1e3,
            self.hist.max() as f64 / 1e3,
            server_cpu_us_per_rt,
            server_cpu_pct,
            self.client_cpu.as_secs_f64() * 100.0 / secs,
            foreign,
            irq,
            steal,
            self.errors,
        )
    }

    /// A human-readable table row (with `header()` above it).
    pub fn row(&self, cfg: &Config) -> String {
        let n = self.hist.count().max(1) as f64;
        let cpu = self
            .server_cpu
            .map(|c| format!("{:.2}", c.as_secs_f64() * 1e6 / n))
            .unwrap_or_else(|| "-".into());
        format!(
            "{:<8} {:>6} {:>6} {:>12.0} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>10} {:>7.0}%",
            if cfg.label.is_empty() {
                "-"
            } else {
                &cfg.label
            },
            cfg.conns,
            cfg.size,
            self.rtt_per_sec(),
            self.rtt_per_sec() * 2.0 * cfg.size as f64 / 1e6,
            self.hist.quantile(0.5) as f64 / 1e3,
            self.hist.quantile(0.99) as f64 / 1e3,
            self.hist.quantile(0.999) as f64 / 1e3,
            cpu,
            self.client_cpu.as_secs_f64() * 100.0 / self.window.as_secs_f64(),
        )
    }

    pub fn header() -> String {
        format!(
            "{:<8} {:>6} {:>6} {:>12} {:>10} {:>9} {:>9} {:>9} {:>10} {:>8}",
            "label",
            "conns",
            "size",
            "rt/s",
            "MB/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "srv µs/rt",
            "gen cpu"
        )
    }
}
