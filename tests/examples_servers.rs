//! End to end: `examples/echo.rs` and `examples/http.rs` as a user runs
//! them, with real sockets, on both drivers: what an outside test found
//! wrong in them stays fixed (an accept loop that spun on `EMFILE`, a body
//! in `HEAD` responses, an overflowing `Content-Length`, `--threads`
//! values taken silently).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The examples' binaries (built by `cargo test`; built here if missing).
fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--quiet", "--example", "echo", "--example", "http"])
            .status()
            .unwrap();
        assert!(ok.success());
    });
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

/// A port nothing listens on (bound and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running example, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts example `name` with `args` on `driver` (`max_fds`: its
/// `RLIMIT_NOFILE`), and waits until its port answers.
fn start(name: &str, args: &[&str], driver: &str, port: u16, max_fds: Option<u64>) -> Server {
    let mut cmd = Command::new(example(name));
    cmd.args(args)
        .env("CURING_DRIVER", driver)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(n) = max_fds {
        let lim = libc::rlimit {
            rlim_cur: n,
            rlim_max: n,
        };
        // SAFETY: setrlimit is async-signal-safe, and `lim` is a plain
        // value copied into the closure.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let server = Server(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{name} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Sends `request` on a new connection and reads until the server closes
/// it (or 3 s pass).
fn exchange(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The process's user + system CPU ticks so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat(5); 3 is the first here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

const DRIVERS: [&str; 2] = ["io_uring", "epoll"];

#[test]
fn http_head_has_no_body_and_keeps_the_connection_in_step() {
    for driver in DRIVERS {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let _server = start("http", &[&addr], driver, port, None);
        let got = exchange(
            port,
            b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n";
        assert_eq!(got.matches(head).count(), 2, "{driver}: {got:?}");
        assert_eq!(
            got.matches("Hello, world!\n").count(),
            1,
            "{driver}: {got:?}"
        );
        assert!(
            got.ends_with("\r\n\r\nHello, world!\n"),
            "{driver}: {got:?}"
        );
    }
}

#[test]
fn http_refuses_huge_and_unreadable_content_lengths() {
    for driver in DRIVERS {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let _server = start("http", &[&addr], driver, port, None);
        let huge = exchange(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n",
        );
        assert!(huge.starts_with("HTTP/1.1 413 "), "{driver}: {huge:?}");
        let bad = exchange(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        );
        assert!(bad.starts_with("HTTP/1.1 400 "), "{driver}: {bad:?}");
        // A body within the limit is read and ignored.
        let post = exchange(
            port,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        );
        assert!(post.starts_with("HTTP/1.1 404 "), "{driver}: {post:?}");
    }
}

#[test]
fn bad_thread_counts_are_errors() {
    for (name, value) in [("http", "0"), ("http", "abc"), ("echo", "abc")] {
        let out = Command::new(example(name))
            .args(["127.0.0.1:1", "--threads", value])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name} --threads {value} ran");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--threads takes a number"), "{name}: {err}");
    }
}

#[test]
fn echo_threads_zero_means_one_per_cpu_and_says_how_many() {
    let port = free_port();
    let mut child = Command::new(example("echo"))
        .args([&format!("127.0.0.1:{port}"), "--threads", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Server(child);
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        line.trim(),
        format!("echo: listening on 127.0.0.1:{port} with {cpus} thread(s)")
    );
}

#[test]
fn echo_out_of_descriptors_waits_instead_of_spinning_and_recovers() {
    for driver in DRIVERS {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let server = start("echo", &[&addr], driver, port, Some(48));
        let pid = server.0.id();
        // More connections than the server has descriptors for: accept
        // fails with EMFILE while they stay open.
        let clients: Vec<TcpStream> = (0..80)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_secs(1));
        let spent = cpu_ticks(pid) - before;
        // Spinning took a whole core (about 100 ticks a second).
        assert!(
            spent < 30,
            "{driver}: {spent} ticks in 1 s while out of fds"
        );
        drop(clients);
        // Descriptors free again: it serves.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            s.write_all(b"ping").unwrap();
            let mut got = [0u8; 4];
            if s.read_exact(&mut got).is_ok() {
                assert_eq!(&got, b"ping");
                break;
            }
            assert!(Instant::now() < deadline, "{driver}: echo did not recover");
        }
    }
}
