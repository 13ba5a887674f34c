//! Outside tester's tests (issue 19): tiny rings: multishot receives and
//! accepts, and random cancellation, with a CQ smaller than the load.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
use curing::buf::BufPool;
use curing::net::{TcpListener, TcpStream};
#[allow(unused_imports)]
use outside19_common::*;
use std::rc::Rc;
use std::time::Duration;

fn rt() -> curing::Runtime {
    curing::Runtime::builder()
        .entries(4)
        .cq_entries(8)
        .build()
        .unwrap()
}

#[test]
fn many_pooled_receivers_on_tiny_ring() {
    let _guard = guard();
    let before = fd_count();
    let rt = rt();
    rt.block_on(async {
        let pool = BufPool::new(16, 512).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let conns = 64usize;
        let per = 20_000usize;
        let server = {
            let pool = pool.clone();
            curing::spawn(async move {
                let mut inc = l.incoming();
                let mut hs = Vec::new();
                for _ in 0..conns {
                    let s = inc.next().await.unwrap().unwrap();
                    let pool = pool.clone();
                    hs.push(curing::spawn(async move {
                        let mut rx = s.recv_pooled(&pool);
                        let mut sum = 0u64;
                        let mut n = 0usize;
                        while let Some(b) = rx.next().await {
                            let b = b.unwrap();
                            n += b.len();
                            sum += b.iter().map(|&x| x as u64).sum::<u64>();
                        }
                        (n, sum)
                    }));
                }
                let mut out = Vec::new();
                for h in hs {
                    out.push(h.await.unwrap());
                }
                out
            })
        };
        let mut cs = Vec::new();
        for i in 0..conns {
            cs.push(curing::spawn(async move {
                let c = TcpStream::connect(addr).await.unwrap();
                let data = vec![(i % 200) as u8 + 1; per];
                for ch in data.chunks(777) {
                    let (r, _) = c.write_all(ch.to_vec()).await;
                    r.unwrap();
                }
                c.shutdown(std::net::Shutdown::Write).await.unwrap();
                c
            }));
        }
        let mut keep = Vec::new();
        for c in cs {
            keep.push(c.await.unwrap());
        }
        let out = curing::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("server stuck")
            .unwrap();
        let mut ok = 0;
        for (n, sum) in out.iter() {
            if *n == per {
                ok += 1;
            }
            let _ = sum;
        }
        let total: usize = out.iter().map(|x| x.0).sum();
        eprintln!("conns ok {ok}/{conns}, total {total}");
        assert_eq!(ok, conns);
        // per-connection byte sums
        let mut sums: Vec<u64> = out.iter().map(|x| x.1).collect();
        sums.sort();
        let mut exp: Vec<u64> = (0..conns)
            .map(|i| ((i % 200) as u64 + 1) * per as u64)
            .collect();
        exp.sort();
        assert_eq!(sums, exp);
        assert_eq!(pool.available(), pool.count());
        let st = curing::runtime::stats();
        eprintln!("stats {st:?}");
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}

#[test]
fn random_cancel_on_tiny_ring() {
    let _guard = guard();
    let before = fd_count();
    let rt = rt();
    rt.block_on(async {
        let (a, b) = curing::net::UnixStream::pair().unwrap();
        let b = Rc::new(b);
        let total = 200_000usize;
        let w = curing::spawn(async move {
            let data: Vec<u8> = (0..total).map(|i| (i % 199) as u8).collect();
            for ch in data.chunks(1500) {
                let (r, _) = a.write_all(ch.to_vec()).await;
                r.unwrap();
            }
            a.shutdown(std::net::Shutdown::Write).await.unwrap();
            a
        });
        // many concurrent tasks with sleeps and timeouts to pressure the ring
        let mut noise = Vec::new();
        for i in 0..50u64 {
            noise.push(curing::spawn(async move {
                for _ in 0..20 {
                    let _ = curing::time::timeout(
                        Duration::from_micros(i * 7 % 300),
                        curing::fs::metadata("/"),
                    )
                    .await;
                }
            }));
        }
        let mut got = Vec::new();
        let mut k = 0u64;
        loop {
            k += 1;
            if let Ok((r, buf)) =
                curing::time::timeout(Duration::from_micros(k * 37 % 250), b.read(vec![0u8; 3000]))
                    .await
            {
                let n = r.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        }
        let _a = w.await.unwrap();
        for n in noise {
            n.await.unwrap();
        }
        let data: Vec<u8> = (0..total).map(|i| (i % 199) as u8).collect();
        assert_eq!(got.len(), total);
        assert!(got == data);
        let st = curing::runtime::stats();
        eprintln!("stats {st:?}");
        assert_eq!(st.stale_cqes, 0);
    });
    drop(rt);
    assert_eq!(fd_count(), before);
}
