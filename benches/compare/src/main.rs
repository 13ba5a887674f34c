//! `curing-compare`: curing side by side with its peers. See README.md.
//!
//! ```text
//! curing-compare serve <curing|curing-8k|curing-pooled|tokio|monoio|glommio|compio|raw> <addr>
//!                     [--threads N]   (N server threads, default 1; not raw)
//! curing-compare loadgen --addr A --conns N --size S --duration T --warmup W
//!                        [--server-pid PID] [--label NAME] [--table]
//! curing-compare nop    <curing|raw>   [ops]      (default 6_400_000)
//! curing-compare spawn  <curing|tokio> [tasks]    (default 1_000_000)
//! curing-compare sleeps <curing|tokio> [tasks]    (default 100_000)
//! curing-compare http   <tokio|monoio|glommio|compio|raw> <addr> [--threads N]
//! curing-compare wrk    --url URL --conns N --duration SECS [--server-pid PID] [--label NAME]
//! curing-compare file   <curing|curing-fixed|tokio|raw> --path P --mode rand|seqread|seqwrite
//!                       [--qd N] [--secs T] [--bs BYTES] [--size BYTES] [--direct]
//! curing-compare idle   <curing|curing-pooled|tokio|monoio|glommio|compio> [conns]
//! ```

mod file;
mod hist;
mod http;
mod idle;
mod loadgen;
mod micro;
mod raw;
mod servers;
mod wrk;

use std::process::ExitCode;

/// Every echo server this binary has, in table order.
const RUNTIMES: &[&str] = &[
    "curing",
    "curing-8k",
    "curing-pooled",
    "tokio",
    "monoio",
    "glommio",
    "compio",
    "raw",
];

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  curing-compare serve <{}> <addr> [--threads N (raw: 1 only)]\n  curing-compare loadgen --addr A --conns N --size S --duration SECS --warmup SECS [--server-pid PID] [--label NAME] [--table]\n  curing-compare nop <curing|raw> [ops]\n  curing-compare spawn <curing|tokio> [tasks]\n  curing-compare sleeps <curing|tokio> [tasks]\n  curing-compare http <tokio|monoio|glommio|compio|raw> <addr> [--threads N (raw: 1 only)]\n  curing-compare wrk --url URL --conns N --duration SECS [--server-pid PID] [--label NAME]\n  curing-compare file <curing|curing-fixed|tokio|raw> --path P --mode rand|seqread|seqwrite [--qd N] [--secs T] [--bs B] [--size B] [--direct]\n  curing-compare idle <curing|curing-pooled|tokio|monoio|glommio|compio> [conns]",
        RUNTIMES.join("|")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().cloned() else {
        return usage();
    };
    // Servers: `--threads N` anywhere after the command (see servers.rs).
    let mut threads = 1;
    if cmd == "serve" || cmd == "http" {
        if let Some(i) = args.iter().position(|a| a == "--threads") {
            match args.get(i + 1).and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => threads = n,
                _ => return usage(),
            }
            args.drain(i..i + 2);
        }
    }
    let arg = |i: usize| args.get(i).map(String::as_str);
    let count = |i: usize, default: u64| {
        arg(i)
            .map(|s| s.replace('_', "").parse().unwrap_or(default))
            .unwrap_or(default)
    };
    let res = match (cmd.as_str(), arg(1)) {
        ("serve", Some(rt)) => {
            let Some(addr) = arg(2) else { return usage() };
            match rt {
                "curing" => servers::curing(addr, threads),
                "curing-8k" => servers::curing_8k(addr, threads),
                "curing-pooled" => servers::curing_pooled(addr, threads),
                "tokio" => servers::tokio(addr, threads),
                "monoio" => servers::monoio(addr, threads),
                "glommio" => servers::glommio(addr, threads),
                "compio" => servers::compio(addr, threads),
                "raw" if threads == 1 => raw::serve(addr),
                _ => return usage(),
            }
        }
        ("loadgen", _) => {
            let table = args.iter().any(|a| a == "--table");
            let rest: Vec<String> = args[1..]
                .iter()
                .filter(|a| *a != "--table")
                .cloned()
                .collect();
            let cfg = match loadgen::Config::from_args(&rest) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("loadgen: {e}");
                    return usage();
                }
            };
            match loadgen::run(&cfg) {
                Ok(report) => {
                    // JSON on stdout (one line) for scripts; the table row on
                    // stderr for people (or on stdout with --table).
                    println!("{}", report.json(&cfg));
                    if table {
                        println!("{}\n{}", loadgen::Report::header(), report.row(&cfg));
                    } else {
                        eprintln!("{}\n{}", loadgen::Report::header(), report.row(&cfg));
                    }
                    if report.errors > 0 {
                        eprintln!("loadgen: {} connections failed", report.errors);
                        return ExitCode::FAILURE;
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        ("nop", Some(rt)) => micro::nop(rt, count(2, 6_400_000)),
        ("spawn", Some(rt)) => micro::spawn(rt, count(2, 1_000_000)),
        ("sleeps", Some(rt)) => micro::sleeps(rt, count(2, 100_000)),
        ("http", Some(rt)) => {
            let Some(addr) = arg(2) else { return usage() };
            match rt {
                "tokio" => http::tokio(addr, threads),
                "monoio" => http::monoio(addr, threads),
                "glommio" => http::glommio(addr, threads),
                "compio" => http::compio(addr, threads),
                "raw" if threads == 1 => http::raw(addr),
                _ => return usage(),
            }
        }
        ("wrk", _) => wrk::run(&args[1..]),
        ("file", Some(imp)) => file::run(imp, &args[2..]),
        ("idle", Some(rt)) => idle::run(rt, count(2, 10_000) as usize),
        ("idle-client", Some(addr)) => idle::client(addr, count(2, 10_000) as usize),
        _ => return usage(),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("curing-compare {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}
