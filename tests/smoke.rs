use std::time::{Duration, Instant};
#[test]
fn smoke() {
    let rt = curing::Runtime::new().unwrap();
    println!("{:?}", rt.setup_flags());
    rt.block_on(async {
        curing::runtime::nop().await.unwrap();
        let h = curing::spawn(async {
            curing::runtime::nop().await.unwrap();
            5
        });
        assert_eq!(h.await.unwrap(), 5);
        let t = Instant::now();
        curing::time::sleep(Duration::from_millis(20)).await;
        let e = t.elapsed();
        println!("slept {e:?}");
        assert!(e >= Duration::from_millis(20) && e < Duration::from_millis(40));
        let hs: Vec<_> = (0..1000)
            .map(|i| {
                curing::spawn(async move {
                    curing::runtime::nop().await.unwrap();
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, 999 * 1000 / 2);
        // foreign wake
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let th = std::thread::spawn(move || {
            let w = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(5));
            w.wake();
        });
        let mut sent = false;
        std::future::poll_fn(|cx| {
            if sent {
                std::task::Poll::Ready(())
            } else {
                sent = true;
                tx.send(cx.waker().clone()).unwrap();
                std::task::Poll::Pending
            }
        })
        .await;
        th.join().unwrap();
        let p = curing::spawn(async { panic!("boom") });
        assert!(p.await.unwrap_err().is_panic());
        let n = Instant::now();
        let hs: Vec<_> = (0..100_000)
            .map(|_| curing::spawn(curing::time::sleep(Duration::from_millis(10))))
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        println!("100k sleeps {:?}", n.elapsed());
    });
    println!("{:?}", rt.stats());
}
