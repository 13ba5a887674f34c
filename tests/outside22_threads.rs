//! Outside test (issue 22): cut-off reads on a thread-per-core runtime
//! (`Builder::threads(2)`), each thread reading what the other thread
//! writes over TCP, on both drivers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use curing::net::{TcpListener, TcpStream};
use curing::runtime::DriverKind;
use curing::time::timeout;

mod outside22_common;
use outside22_common::{pattern, poll_once, Rng};

const LEN: usize = 2 << 20;

#[test]
fn thread_per_core_cross_thread_read_storm() {
    for kind in [DriverKind::IoUring, DriverKind::Epoll] {
        let threads = match curing::Runtime::builder()
            .driver(kind)
            .threads(2)
            .build_threads()
        {
            Ok(t) => t,
            Err(e) if kind == DriverKind::IoUring => {
                eprintln!("no io_uring: {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let l0 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let l1 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addrs = [l0.local_addr().unwrap(), l1.local_addr().unwrap()];
        let listeners = Arc::new(Mutex::new(vec![Some(l0), Some(l1)]));
        let results = threads.block_on_each(move |i| {
            let std_l = listeners.lock().unwrap()[i].take().unwrap();
            async move {
                let l = TcpListener::from_std(std_l);
                let peer = addrs[1 - i];
                let writer = curing::spawn(async move {
                    let s = TcpStream::connect(peer).await.unwrap();
                    let data = pattern(LEN, 100 + i as u64);
                    let mut rng = Rng(7 + i as u64);
                    let mut off = 0;
                    while off < data.len() {
                        let n = (1 + rng.below(60_000) as usize).min(data.len() - off);
                        s.write_all(data[off..off + n].to_vec()).await.0.unwrap();
                        off += n;
                    }
                    s.close().await.unwrap();
                });
                let (s, _) = l.accept().await.unwrap();
                let mut rng = Rng(1000 + i as u64);
                let mut got = Vec::new();
                loop {
                    let size = 1 + rng.below(50_000) as usize;
                    let out = match rng.below(3) {
                        0 => {
                            let mut f = Box::pin(s.read(vec![0u8; size]));
                            poll_once(&mut f).await
                        }
                        1 => timeout(
                            Duration::from_micros(rng.below(200)),
                            s.read(vec![0u8; size]),
                        )
                        .await
                        .ok(),
                        _ => Some(s.read(vec![0u8; size]).await),
                    };
                    if let Some((res, buf)) = out {
                        let n = res.unwrap();
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                }
                writer.await.unwrap();
                got == pattern(LEN, 100 + (1 - i) as u64)
            }
        });
        assert_eq!(
            results,
            vec![true, true],
            "{kind:?}: a thread's bytes differ"
        );
    }
}
