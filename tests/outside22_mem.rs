//! Outside test (issue 22): dropped reads and write_alls holding big
//! buffers do not pile up memory: each buffer is freed once the kernel lets
//! go of it. One test in its own binary, so the RSS it reads is its own.

use std::time::Duration;

use curing::net::UnixStream;
use curing::runtime::DriverKind;
use curing::time::timeout;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn dropped_big_buffers_are_freed() {
    for kind in [DriverKind::IoUring, DriverKind::Epoll] {
        let rt = match curing::Runtime::builder().driver(kind).build() {
            Ok(rt) => rt,
            Err(e) if kind == DriverKind::IoUring => {
                eprintln!("no io_uring: {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let before = rss_kib();
        rt.block_on(async {
            // One stream whose peer never reads, one whose peer never writes.
            let (a, _a_peer) = UnixStream::pair().unwrap();
            let (b, _b_peer) = UnixStream::pair().unwrap();
            for i in 0..400u32 {
                // 4 MiB each, every page touched.
                let w = vec![(i % 200) as u8 + 1; 4 << 20];
                let _ = timeout(Duration::from_micros(50), a.write_all(w)).await;
                let r = vec![1u8; 4 << 20];
                let _ = timeout(Duration::from_micros(50), b.read(r)).await;
                drop(b.read(vec![1u8; 4 << 20])); // never polled
            }
            curing::time::sleep(Duration::from_millis(100)).await;
        });
        let grew = rss_kib().saturating_sub(before);
        // 400 x 12 MiB went through; a leak of even a tenth would show.
        assert!(
            grew < 256 * 1024,
            "{kind:?}: RSS grew by {grew} KiB after dropping 400 x 3 big-buffer futures"
        );
        drop(rt);
    }
}
