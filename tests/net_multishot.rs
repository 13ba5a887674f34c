//! Multishot accept: a burst of 1,000 connects through one SQE, a dropped
//! stream's late connections closed (not leaked), `EMFILE` backing off
//! without spinning the CPU, a non-listening socket ending the stream, and
//! Unix listeners. docs/reliability.md, rows 6, 21, 27.

mod common;

use curing::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use curing::time::{sleep, timeout};
use futures_util::StreamExt;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn burst_of_1000_connects_through_one_multishot_accept() {
    common::run(LIMIT, || async {
        const N: usize = 1000;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = listener.incoming();
        let clients = curing::spawn(async move {
            let mut tasks = Vec::new();
            for i in 0..N {
                tasks.push(curing::spawn(async move {
                    let s = TcpStream::connect(addr).await.expect("connect");
                    let (res, _) = s.write_all((i as u32).to_le_bytes().to_vec()).await;
                    res.expect("write");
                    s
                }));
            }
            let mut streams = Vec::new();
            for t in tasks {
                streams.push(t.await.unwrap());
            }
            streams
        });
        let submitted_before = curing::runtime::stats().ops_submitted;
        let mut seen = vec![false; N];
        let mut accepted = Vec::new();
        while accepted.len() < N {
            let s = incoming
                .next()
                .await
                .expect("stream goes on")
                .expect("accept");
            let (res, buf) = s.read_exact(vec![0u8; 4]).await;
            res.unwrap();
            let i = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
            assert!(!seen[i], "connection {i} twice");
            seen[i] = true;
            accepted.push(s);
        }
        assert!(incoming.is_multishot());
        let streams = clients.await.unwrap();
        // One SQE accepted all of them (plus the clients' own ops): far
        // fewer accept submissions than connections.
        let stats = curing::runtime::stats();
        let delta = stats.ops_submitted - submitted_before;
        println!("ops submitted for {N} connections (clients included): {delta}");
        // Each client: socket, connect, write; each server side: a read.
        // Single accepts would add N more.
        assert!(
            delta <= 4 * N as u64 + 10,
            "{delta} ops: not one multishot accept"
        );
        drop(incoming);
        drop((streams, accepted));
        listener.close().await.unwrap();
    });
}

/// Connections that arrive while (or after) the stream is dropped are
/// closed by the runtime: the peers see end of stream, no fd leaks.
#[test]
fn dropped_incoming_closes_late_connections() {
    common::run(LIMIT, || async {
        for round in 0..20 {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut incoming = listener.incoming();
            // Arm it, then let connections race with the drop.
            let r = timeout(Duration::from_micros(100), incoming.next()).await;
            assert!(r.is_err(), "round {round}: nothing connected yet");
            let peers: Vec<_> = (0..5)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            if round % 2 == 0 {
                sleep(Duration::from_millis(2)).await;
            }
            drop(incoming);
            listener.close().await.unwrap();
            for mut p in peers {
                p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut b = [0u8; 1];
                // Accepted and closed by the runtime (EOF), or still in the
                // backlog when the listener closed (reset). Never a hang.
                match p.read(&mut b) {
                    Ok(0) => {}
                    Ok(_) => panic!("unexpected data"),
                    Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
                }
            }
        }
        let stats = curing::runtime::stats();
        assert_eq!(stats.efault_cqes, 0);
    });
}

/// The lowest free descriptor number: a soft `RLIMIT_NOFILE` equal to it
/// makes every new descriptor fail with EMFILE.
fn lowest_free_fd() -> u64 {
    // SAFETY: F_GETFD on any number only reads the fd table.
    (0..)
        .find(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1)
        .unwrap() as u64
}

fn set_nofile_soft(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live local the kernel fills / reads.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur;
        lim.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

/// CPU time this thread used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live local the kernel fills.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Out of descriptors: accept reports EMFILE, backs off (little CPU), and
/// once descriptors are free again takes every queued connection.
#[test]
fn emfile_backs_off_reports_and_recovers() {
    common::run(LIMIT, || async {
        const N: usize = 8;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = listener.incoming();
        // Client sockets made before the limit drops (connect needs no new fd).
        let clients: Vec<std::net::TcpStream> = Vec::new();
        let raw: Vec<i32> = (0..N)
            .map(|_| {
                // SAFETY: plain socket(2); the fd is owned below.
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) }
            })
            .collect();
        let old = set_nofile_soft(lowest_free_fd());
        let restore = scopeguard(old);
        let sin = sockaddr_in(addr);
        for &fd in &raw {
            // SAFETY: `sin` is a live sockaddr_in of the size passed.
            let r = unsafe {
                libc::connect(
                    fd,
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of_val(&sin) as u32,
                )
            };
            assert_eq!(r, 0, "connect: {}", io::Error::last_os_error());
        }
        let wall = Instant::now();
        let cpu = thread_cpu();
        let mut emfiles = 0;
        while wall.elapsed() < Duration::from_millis(400) {
            match timeout(Duration::from_millis(400), incoming.next()).await {
                Ok(Some(Err(e))) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                    emfiles += 1;
                }
                Ok(other) => panic!(
                    "expected EMFILE, got {:?}",
                    other.map(|r| r.map(|s| s.as_raw_fd()))
                ),
                Err(_) => {}
            }
        }
        let cpu_used = thread_cpu() - cpu;
        let wall_used = wall.elapsed();
        // Backing off 5, 10, 20, ... ms: a handful of attempts, not a spin.
        assert!(emfiles >= 2, "EMFILE reported {emfiles} times");
        assert!(
            emfiles < 20,
            "EMFILE retried {emfiles} times in {wall_used:?}: spinning"
        );
        assert!(
            cpu_used < wall_used / 4,
            "CPU {cpu_used:?} in {wall_used:?} while out of descriptors"
        );
        assert_eq!(incoming.resource_errors(), emfiles);
        drop(restore);
        // Descriptors free again: every queued connection is accepted.
        let mut got = Vec::new();
        while got.len() < N {
            let s = timeout(Duration::from_secs(5), incoming.next())
                .await
                .expect("accepted after the limit is restored")
                .unwrap()
                .unwrap();
            got.push(s);
        }
        for fd in raw {
            // SAFETY: our own fds from socket(2) above, closed once.
            unsafe { libc::close(fd) };
        }
        drop((clients, got, incoming));
        println!("EMFILE: {emfiles} reports, CPU {cpu_used:?} in {wall_used:?}");
    });
}

struct Restore(u64);
fn scopeguard(old: u64) -> Restore {
    Restore(old)
}
impl Drop for Restore {
    fn drop(&mut self) {
        set_nofile_soft(self.0);
    }
}

fn sockaddr_in(addr: std::net::SocketAddr) -> libc::sockaddr_in {
    let std::net::SocketAddr::V4(a) = addr else {
        panic!("v4 only")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

#[test]
fn not_listening_ends_the_stream() {
    common::run(LIMIT, || async {
        let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // A TCP socket that never listened.
        // SAFETY: plain socket(2); ownership goes to the listener below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0);
        // SAFETY: `fd` is fresh and owned by nothing else.
        let l = unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let mut incoming = l.incoming();
        let e = incoming.next().await.unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        assert!(incoming.next().await.is_none());
        drop(std_sock);
    });
}

#[test]
fn unix_incoming_as_a_stream() {
    common::run(LIMIT, || async {
        let name = format!("curing-inc-{}", std::process::id());
        let addr = curing::net::UnixSocketAddr::from_abstract_name(name).unwrap();
        let listener = UnixListener::bind(&addr).unwrap();
        let a2 = addr.clone();
        let clients = curing::spawn(async move {
            let mut v = Vec::new();
            for _ in 0..10 {
                v.push(UnixStream::connect(&a2).await.unwrap());
            }
            v
        });
        let got: Vec<_> = listener.incoming().take(10).collect().await;
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|r| r.is_ok()));
        drop(clients.await.unwrap());
    });
}

/// A runtime dropped with a multishot accept armed in a task: cancelled,
/// nothing leaked (common::run checks leaked ops and fds).
#[test]
fn runtime_drop_with_armed_incoming() {
    common::run(LIMIT, || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _task = curing::spawn(async move {
            let mut incoming = listener.incoming();
            while incoming.next().await.is_some() {}
        });
        sleep(Duration::from_millis(5)).await;
    });
}
