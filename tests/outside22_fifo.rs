//! Outside test (issue 22): an open of a FIFO that never gets a writer,
//! cut off by a timeout, then the runtime dropped: bounded, on both drivers,
//! and a later open of the same FIFO with a writer works.

use std::time::{Duration, Instant};

use curing::fs::File;
use curing::runtime::DriverKind;
use curing::time::timeout;

#[test]
fn dropped_fifo_open_then_runtime_drop_is_bounded() {
    for kind in [DriverKind::IoUring, DriverKind::Epoll] {
        let rt = match curing::Runtime::builder().driver(kind).build() {
            Ok(rt) => rt,
            Err(e) if kind == DriverKind::IoUring => {
                eprintln!("no io_uring: {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let path =
            std::env::temp_dir().join(format!("outside22_fifo_{kind:?}_{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let p = path.clone();
        rt.block_on(async move {
            curing::fs::mkfifo(&p, 0o600).await.unwrap();
            let r = timeout(Duration::from_millis(20), File::open(&p)).await;
            if let Ok(ref res) = r {
                eprintln!("{kind:?}: FIFO open with no writer finished at once: {res:?}");
            }
            // The runtime keeps working meanwhile.
            curing::time::sleep(Duration::from_millis(5)).await;
            // A second open, this time with a writer.
            let p2 = p.clone();
            let w = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(p2)
                    .map(|mut f| {
                        std::io::Write::write_all(&mut f, b"through the fifo").unwrap();
                    })
            });
            let f = timeout(Duration::from_secs(5), File::open(&p))
                .await
                .expect("second FIFO open never finished")
                .unwrap();
            w.join().unwrap().unwrap();
            let (res, buf) = f.read(vec![0u8; 64]).await;
            let n = res.unwrap();
            // The first (dropped) open may have been the one the writer met;
            // either way the bytes must come out of this one.
            assert_eq!(&buf[..n], b"through the fifo", "{kind:?}");
        });
        let t = Instant::now();
        drop(rt);
        let took = t.elapsed();
        std::fs::remove_file(&path).unwrap();
        assert!(
            took < Duration::from_secs(3),
            "{kind:?}: runtime drop took {took:?}"
        );
        eprintln!("{kind:?}: runtime drop took {took:?}");
    }
}

/// `File::open` of a FIFO waits for a writer, as `open(2)` (and std) do,
/// so the first read gets the writer's bytes, on both drivers alike.
#[test]
fn fifo_open_waits_for_writer_then_reads_its_bytes() {
    let mut outcomes = Vec::new();
    for kind in [DriverKind::IoUring, DriverKind::Epoll] {
        let rt = match curing::Runtime::builder().driver(kind).build() {
            Ok(rt) => rt,
            Err(e) if kind == DriverKind::IoUring => {
                eprintln!("no io_uring: {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let path =
            std::env::temp_dir().join(format!("outside22_fifo2_{kind:?}_{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let p = path.clone();
        let got = rt.block_on(async move {
            curing::fs::mkfifo(&p, 0o600).await.unwrap();
            let p2 = p.clone();
            let w = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                let mut f = std::fs::OpenOptions::new().write(true).open(p2).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                std::io::Write::write_all(&mut f, b"hello fifo").unwrap();
            });
            let f = File::open(&p).await.unwrap();
            let (res, buf) = f.read(vec![0u8; 64]).await;
            let n = res.unwrap();
            w.join().unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        std::fs::remove_file(&path).unwrap();
        outcomes.push(format!("{kind:?}: first read {got:?}"));
    }
    assert!(
        outcomes.iter().all(|o| o.ends_with("\"hello fifo\"")),
        "FIFO open/read differs from open(2) semantics: {outcomes:?}"
    );
}
