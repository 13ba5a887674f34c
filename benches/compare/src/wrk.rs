//! Runs `wrk` against an HTTP server and reports it as one JSON line, with
//! the server's CPU time per request (from `/proc/<pid>/stat` around the
//! run), wrk's own CPU use (`RUSAGE_CHILDREN`) and the CPU other processes
//! took meanwhile (to flag disturbed runs).
//!
//! ```text
//! curing-compare wrk --url URL --conns N --duration SECS [--threads T]
//!                    [--server-pid PID] [--label NAME]
//! ```
//! Run it pinned (`taskset -c 1`): wrk inherits the affinity.

use crate::loadgen::{clock_ticks_per_sec, machine_ticks, proc_cpu_ticks};
use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

fn children_cpu() -> Duration {
    // SAFETY: `ru` is a valid out-pointer for getrusage.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A wrk duration ("123.45us", "1.20ms", "2.00s") in µs.
fn micros(s: &str) -> Option<f64> {
    let (num, mul) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * mul)
}

pub fn run(args: &[String]) -> io::Result<()> {
    let mut url = String::new();
    let (mut conns, mut secs, mut threads) = (64u32, 5u32, 1u32);
    let mut pid: Option<u32> = None;
    let mut label = String::from("?");
    let mut it = args.iter();
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    while let Some(flag) = it.next() {
        let val = it
            .next()
            .ok_or_else(|| bad(format!("{flag} needs a value")))?;
        let num = || val.parse::<u32>().map_err(|e| bad(format!("{flag}: {e}")));
        match flag.as_str() {
            "--url" => url = val.clone(),
            "--conns" => conns = num()?,
            "--duration" => secs = num()?,
            "--threads" => threads = num()?,
            "--server-pid" => pid = Some(num()?),
            "--label" => label = val.clone(),
            f => return Err(bad(format!("unknown wrk flag {f}"))),
        }
    }
    // wrk connects on its own schedule: wait until the server listens.
    let hostport = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let give_up = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&hostport).is_err() {
        if Instant::now() > give_up {
            return Err(io::Error::other(format!("server at {hostport} not up")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let t0 = Instant::now();
    let busy0 = machine_ticks()?[0];
    let srv0 = pid.map(proc_cpu_ticks).transpose()?;
    let kids0 = children_cpu();
    let out = Command::new("wrk")
        .args([
            format!("-t{threads}"),
            format!("-c{conns}"),
            format!("-d{secs}s"),
            "--latency".into(),
            url.clone(),
        ])
        .output()?;
    let srv1 = pid.map(proc_cpu_ticks).transpose()?;
    let busy1 = machine_ticks()?[0];
    let wall = t0.elapsed().as_secs_f64();
    let wrk_cpu = (children_cpu() - kids0).as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )));
    }

    // "  123456 requests in 2.00s, 12.34MB read", "Requests/sec: 61728.00",
    // "     99%    1.23ms", "  Socket errors: connect 0, read 1, write 0, timeout 0",
    // "  Non-2xx or 3xx responses: 5".
    let (mut requests, mut rps, mut errors) = (0u64, 0f64, 0u64);
    let mut pct = std::collections::HashMap::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            [n, "requests", "in", ..] => requests = n.parse().unwrap_or(0),
            ["Requests/sec:", x] => rps = x.parse().unwrap_or(0.0),
            [p, v] if p.ends_with('%') => {
                if let Some(us) = micros(v) {
                    pct.insert(p.trim_end_matches('%').to_string(), us);
                }
            }
            ["Socket", "errors:", rest @ ..] => {
                errors += rest
                    .iter()
                    .filter_map(|x| x.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse().unwrap_or(0),
            _ => {}
        }
    }
    if requests == 0 {
        return Err(io::Error::other(format!("wrk made no requests:\n{text}")));
    }
    let tick = 1.0 / clock_ticks_per_sec() as f64;
    let srv_cpu = match (srv0, srv1) {
        (Some(a), Some(b)) => Some((b - a) as f64 * tick),
        _ => None,
    };
    let busy = (busy1 - busy0) as f64 * tick;
    let foreign = (busy - srv_cpu.unwrap_or(0.0) - wrk_cpu).max(0.0) * 100.0 / wall;
    let opt = |x: Option<f64>, scale: f64| x.map_or("null".into(), |v| format!("{:.3}", v * scale));
    println!(
        "{{\"bench\":\"http\",\"label\":\"{label}\",\"conns\":{conns},\"requests\":{requests},\"req_per_s\":{rps:.1},\
\"p50_us\":{},\"p99_us\":{},\"server_cpu_us_per_req\":{},\"server_cpu_pct\":{},\"client_cpu_pct\":{:.1},\
\"foreign_cpu_pct\":{foreign:.1},\"errors\":{errors}}}",
        opt(pct.get("50").copied(), 1.0),
        opt(pct.get("99").copied(), 1.0),
        opt(srv_cpu.map(|c| c / requests as f64), 1e6),
        opt(srv_cpu.map(|c| c / wall), 100.0),
        wrk_cpu * 100.0 / wall,
    );
    Ok(())
}
