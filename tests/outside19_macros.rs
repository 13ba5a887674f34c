//! Outside tester's tests (issue 19): `#[curing::test]` bodies and the
//! README's stats snippet.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
#[allow(unused_imports)]
use outside19_common::*;
#[curing::test]
async fn macro_test_runs_on_runtime() {
    let _guard = guard();
    curing::time::sleep(std::time::Duration::from_millis(1)).await;
    let f = curing::fs::File::open(SMALL_FILE).await.unwrap();
    f.close().await.unwrap();
}

#[curing::test]
async fn macro_test_result() -> std::io::Result<()> {
    let _guard = guard();
    let f = curing::fs::File::open(SMALL_FILE).await?;
    f.close().await
}

#[test]
fn readme_stats_snippet() {
    let _guard = guard();
    let rt = curing::Runtime::new().unwrap();
    rt.block_on(curing::time::sleep(std::time::Duration::from_millis(5)));
    let s = rt.stats();
    assert!(s.park_time >= std::time::Duration::from_millis(4));
    assert_eq!(s.tasks_alive, 0);
}
