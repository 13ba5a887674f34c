//! Child processes: async pipes, wait through io_uring, output with large
//! stdout and stderr, kill, a child that exits before its output is read,
//! dropped waits, and dropped children (no zombie, no blocking).

mod common;

use curing::process::{Command, Stdio};
use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::task::Poll;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

/// Whether `pid` is gone (reaped): no /proc entry, or not our zombie.
fn reaped(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            // "pid (comm) S ppid ...": a zombie of ours has state Z.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let mut fields = after.split(' ');
            let state = fields.next().unwrap();
            let ppid: u32 = fields.next().unwrap().parse().unwrap();
            ppid != std::process::id() && state != "Z"
        }
    }
}

fn wait_reaped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !reaped(pid) {
        assert!(Instant::now() < deadline, "child {pid} left as a zombie");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn output_collects_stdout_stderr_and_status() {
    common::run(T, || async {
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        let status = Command::new("true").status().await.unwrap();
        assert!(status.success());
        let err = Command::new("/nonexistent/program").spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn large_stdout_and_stderr_do_not_deadlock() {
    common::run(T, || async {
        // 8 MiB on each stream, far more than a pipe holds (64 KiB): the
        // child blocks unless both are read while we wait.
        let out = Command::new("sh")
            .args([
                "-c",
                "head -c 8388608 /dev/zero; head -c 8388608 /dev/zero >&2; exit 0",
            ])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 8 << 20);
        assert_eq!(out.stderr.len(), 8 << 20);
        assert!(out.stdout.iter().all(|&b| b == 0));
    });
}

#[test]
fn stdin_and_stdout_pipes_stream_both_ways() {
    common::run(T, || async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let expect = data.clone();
        // Write while reading: cat's output pipe fills long before 4 MiB.
        let writer = curing::spawn(async move {
            let (res, _) = stdin.write_all(data).await;
            res.unwrap();
            stdin.close().await.unwrap();
        });
        let stdout = child.stdout.take().unwrap();
        let (res, got) = stdout.read_to_end(Vec::new()).await;
        assert_eq!(res.unwrap(), 4 << 20);
        assert!(got == expect, "bytes differ");
        writer.await.unwrap();
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn killed_child_reports_the_signal() {
    common::run(T, || async {
        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        let start = Instant::now();
        let status = child.kill().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(start.elapsed() < Duration::from_secs(5));
        // Killing again, and waiting again, after the reap: fine.
        child.start_kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
        assert!(reaped(child.id()));
    });
}

#[test]
fn child_exiting_before_its_output_is_read() {
    common::run(T, || async {
        let mut child = Command::new("sh")
            .args(["-c", "echo early; exit 5"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), Some(5));
        assert!(reaped(child.id()));
        let (res, out) = child.stdout.take().unwrap().read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(out, b"early\n");
    });
}

#[test]
fn dropped_wait_loses_no_status() {
    common::run(T, || async {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 0.2; exit 7"])
            .spawn()
            .unwrap();
        let timed_out = curing::time::timeout(Duration::from_millis(20), child.wait()).await;
        assert!(timed_out.is_err(), "the child cannot have exited yet");
        assert_eq!(child.wait().await.unwrap().code(), Some(7));
        // A wait dropped after the kernel reaped the child keeps the status.
        let mut child = Command::new("true").spawn().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        {
            let mut fut = std::pin::pin!(child.wait());
            let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
            assert!(
                polled.is_pending(),
                "the reap needs a trip through the ring"
            );
        }
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn dropping_a_child_neither_blocks_nor_leaves_a_zombie() {
    let _fd = common::FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (fast, slow, killed) = curing::run(async {
        // Exited before the drop.
        let fast = Command::new("true").spawn().unwrap();
        let fast_pid = fast.id();
        std::thread::sleep(Duration::from_millis(50));
        drop(fast);
        // Still running at the drop: the drop returns at once.
        let slow = Command::new("sleep").arg("0.3").spawn().unwrap();
        let slow_pid = slow.id();
        let start = Instant::now();
        drop(slow);
        assert!(start.elapsed() < Duration::from_millis(50));
        // kill_on_drop.
        let killed = Command::new("sleep")
            .arg("100")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let killed_pid = killed.id();
        drop(killed);
        (fast_pid, slow_pid, killed_pid)
    });
    for pid in [fast, slow, killed] {
        wait_reaped(pid);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while curing::process::orphans() > 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn many_children_at_once() {
    common::run(T, || async {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                curing::spawn(async move {
                    let out = Command::new("sh")
                        .args(["-c", &format!("echo {i}; exit {}", i % 4)])
                        .output()
                        .await
                        .unwrap();
                    assert_eq!(out.status.code(), Some(i % 4));
                    assert_eq!(out.stdout, format!("{i}\n").as_bytes());
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn udp_and_subprocesses_in_one_runtime() {
    use curing::net::UdpSocket;
    common::run(T, || async {
        // A UDP echo task and children running at the same time, on one ring.
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let echo = curing::spawn(async move {
            for _ in 0..50 {
                let (res, buf) = server.recv_from(vec![0u8; 64]).await;
                let (n, peer) = res.unwrap();
                server.send_to(buf[..n].to_vec(), peer).await.0.unwrap();
            }
            server.close().await.unwrap();
        });
        let children = curing::spawn(async {
            for i in 0..10 {
                let out = Command::new("sh")
                    .args(["-c", &format!("sleep 0.01; echo {i}")])
                    .output()
                    .await
                    .unwrap();
                assert_eq!(out.stdout, format!("{i}\n").as_bytes());
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(addr).await.unwrap();
        for i in 0..50u32 {
            client.send(i.to_ne_bytes().to_vec()).await.0.unwrap();
            let (res, buf) = client.recv(vec![0u8; 64]).await;
            assert_eq!(&buf[..res.unwrap()], i.to_ne_bytes());
        }
        client.close().await.unwrap();
        echo.await.unwrap();
        children.await.unwrap();
    });
}
