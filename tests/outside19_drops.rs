//! Outside tester's tests (issue 19): futures dropped after a few polls
//! (send_zc, connect by name, pooled receives, incoming) leak no descriptor.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
#[allow(unused_imports)]
use outside19_common::*;
use std::future::Future;
use std::time::Duration;

async fn poll_k<F: Future>(f: F, k: usize) {
    let mut f = Box::pin(f);
    for _ in 0..k {
        if futures_util::future::poll_immediate(&mut f).await.is_some() {
            return;
        }
        curing::yield_now().await;
    }
}

#[test]
fn drop_send_zc_connect_by_name_recv_pooled_incoming() {
    let _guard = guard();
    let before = fd_count();
    let rt = curing::Runtime::new().unwrap();
    rt.block_on(async {
        let l = curing::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let acc = curing::spawn(async move {
            let mut v = Vec::new();
            let mut inc = l.incoming();
            while let Ok(Some(Ok(s))) =
                curing::time::timeout(Duration::from_millis(300), inc.next()).await
            {
                v.push(s);
            }
            v.len()
        });
        let pool = curing::buf::BufPool::new(8, 4096).unwrap();
        for k in 0..60usize {
            poll_k(curing::net::TcpStream::connect(("localhost", port)), k % 4).await;
            let c = curing::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            c.set_send_buffer_size(4096).unwrap();
            poll_k(c.send_zc(vec![7u8; 1 << 20]), k % 3 + 1).await;
            poll_k(c.send_zc_all(vec![7u8; 1 << 20]), k % 3 + 1).await;
            let (a, b) = curing::net::UnixStream::pair().unwrap();
            let (r, _) = a.write_all(vec![1u8; 10000]).await;
            r.unwrap();
            {
                let mut rx = b.recv_pooled(&pool);
                poll_k(rx.next(), k % 3).await;
                drop(rx);
            }
            drop(c);
        }
        let n = acc.await.unwrap();
        eprintln!("accepted {n}");
        curing::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.available(), pool.count());
    });
    let st = rt.stats();
    eprintln!("{st:?}");
    assert_eq!(st.efault_cqes, 0);
    drop(rt);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(fd_count(), before);
}
