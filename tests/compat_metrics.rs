//! Runtime metrics (`Runtime::stats`, `curing::runtime::stats`): ops
//! submitted/completed/cancelled and in flight, SQ-full events, tasks alive,
//! polls and park time.

mod common;

use curing::net::UnixStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn tasks_alive_and_polls() {
    common::run(T, || async {
        let before = curing::runtime::stats();
        assert_eq!(before.tasks_alive, 0);
        let handles: Vec<_> = (0..10)
            .map(|_| {
                curing::spawn(async {
                    for _ in 0..3 {
                        curing::yield_now().await;
                    }
                })
            })
            .collect();
        assert_eq!(curing::runtime::stats().tasks_alive, 10);
        for h in handles {
            h.await.unwrap();
        }
        let after = curing::runtime::stats();
        assert_eq!(after.tasks_alive, 0);
        // Each task: a first poll plus one per yield.
        assert!(after.polls - before.polls >= 40, "{after:?}");
    });
}

#[test]
fn park_time_counts_sleeping_in_the_kernel() {
    common::run(T, || async {
        let before = curing::runtime::stats();
        curing::time::sleep(Duration::from_millis(60)).await;
        let after = curing::runtime::stats();
        assert!(after.parks > before.parks);
        let parked = after.park_time - before.park_time;
        assert!(
            parked >= Duration::from_millis(50) && parked < Duration::from_secs(2),
            "{parked:?}"
        );
    });
}

#[test]
fn ops_submitted_completed_cancelled_in_flight() {
    common::run(T, || async {
        let before = curing::runtime::stats();
        let (a, _b) = UnixStream::pair().unwrap();
        let read = curing::time::timeout(Duration::from_millis(10), a.read(vec![0u8; 16])).await;
        assert!(read.is_err());
        let after = curing::runtime::stats();
        assert_eq!(after.ops_submitted - before.ops_submitted, 1);
        assert_eq!(after.ops_cancelled - before.ops_cancelled, 1);
        curing::runtime::nop().await.unwrap();
        // The cancelled read is completed by now (its CQE came with the
        // cancel's), and the nop too.
        let end = curing::runtime::stats();
        assert_eq!(end.ops_submitted - before.ops_submitted, 2);
        assert_eq!(end.ops_completed - before.ops_completed, 2, "{end:?}");
        assert_eq!(end.ops_in_flight, after.ops_in_flight - 1, "{end:?}");
    });
}

#[test]
fn sq_full_events_are_counted() {
    let rt = curing::Runtime::builder().entries(4).build().unwrap();
    rt.block_on(async {
        let nops: Vec<_> = (0..64)
            .map(|_| curing::spawn(curing::runtime::nop()))
            .collect();
        for n in nops {
            n.await.unwrap().unwrap();
        }
    });
    let stats = rt.stats();
    assert!(stats.sq_full > 0, "{stats:?}");
    assert_eq!(stats.ops_completed, 64);
    assert_eq!(
        stats.cq_overflows, 0,
        "in-flight ops are capped at the CQ size"
    );
    assert_eq!(stats.tasks_alive, 0);
}
