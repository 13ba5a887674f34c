//! Outside tester's tests (issue 19): registered files and read_dir, Unix
//! listeners and connect errors, writing to the stdin of a child that exited
//! (an error, not SIGPIPE).
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
#[allow(unused_imports)]
use outside19_common::*;
use std::time::{Duration, Instant};

#[test]
fn fixed_file_and_read_dir() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let ff = curing::fs::File::open(SMALL_FILE)
            .await
            .unwrap()
            .register()
            .unwrap();
        let (r, b) = ff.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(r.unwrap(), b.len());
        let ff2 = ff.clone();
        drop(ff);
        let (r, _) = ff2.read_at(vec![0u8; 4], u64::MAX).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        drop(ff2);
        std::fs::create_dir_all(tmp("o19rd")).unwrap();
        for i in 0..500 {
            std::fs::write(format!("{}/o19rd/f{i}", tmp_dir()), b"").unwrap();
        }
        let mut d = curing::fs::read_dir(tmp("o19rd")).await.unwrap();
        let mut n = 0;
        while let Some(_e) = d.next_entry().await.unwrap() {
            n += 1;
        }
        assert_eq!(n, 500);
        // drop a read_dir mid-way
        let mut d = curing::fs::read_dir(tmp("o19rd")).await.unwrap();
        let _ = d.next_entry().await.unwrap();
        drop(d);
        let e = curing::fs::read_dir("/nonexistent").await.err().unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let e = curing::fs::read_dir(SMALL_FILE).await.err().unwrap();
        eprintln!("read_dir on file: {e:?}");
        std::fs::remove_dir_all(tmp("o19rd")).unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(fd_count(), before);
}

#[test]
fn unix_listener_incoming_and_connect_errors() {
    let _guard = guard();
    let before = fd_count();
    curing::run(async {
        let p = format!("{}/o19sock-{}", tmp_dir(), std::process::id());
        let _ = std::fs::remove_file(&p);
        let l = curing::net::UnixListener::bind(&p).unwrap();
        let mut inc = l.incoming();
        let p2 = p.clone();
        let c = curing::spawn(async move {
            let s = curing::net::UnixStream::connect(&p2).await.unwrap();
            let (r, _) = s.write_all(b"u".to_vec()).await;
            r.unwrap();
            s
        });
        let s = inc.next().await.unwrap().unwrap();
        let (r, b) = s.read_exact(vec![0u8; 1]).await;
        r.unwrap();
        assert_eq!(&b, b"u");
        let _c = c.await.unwrap();
        let e = curing::net::UnixStream::connect(tmp("o19-nope-sock"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        drop(inc);
        drop(l);
        let e = curing::net::UnixStream::connect(&p).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        let _ = std::fs::remove_file(&p);
        // tcp connect refused, connect_timeout, localhost name
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = curing::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        let s = Instant::now();
        let e =
            curing::net::TcpStream::connect_timeout("10.255.255.1:80", Duration::from_millis(100))
                .await
                .map(|_| ());
        eprintln!(
            "connect_timeout (sandbox intercepts 10/8): {e:?} after {:?}",
            s.elapsed()
        );
        assert!(s.elapsed() < Duration::from_secs(2));
        let l = curing::net::TcpListener::bind("localhost:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = curing::spawn(async move {
            curing::net::TcpStream::connect(("localhost", port))
                .await
                .map(|_| ())
        });
        let (_s, _) = l.accept().await.unwrap();
        t.await.unwrap().unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(fd_count(), before);
}

#[test]
fn child_stdin_to_exited_child_is_error_not_sigpipe() {
    let _guard = guard();
    curing::run(async {
        use curing::process::{Command, Stdio};
        let mut c = Command::new("true")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.wait().await.unwrap();
        let stdin = c.stdin.take().unwrap();
        let (r, b) = stdin.write(vec![0u8; 10]).await;
        assert_eq!(b.len(), 10);
        eprintln!("write to exited child's stdin: {r:?}");
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
        let err = c.stderr.take().unwrap();
        let (r, _) = err.read_to_end(Vec::new()).await;
        assert_eq!(r.unwrap(), 0);
        let out = Command::new("sh")
            .arg("-c")
            .arg("cat; echo done >&2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let o = out.wait_with_output().await.unwrap();
        assert_eq!(o.stderr, b"done\n");
    });
}
