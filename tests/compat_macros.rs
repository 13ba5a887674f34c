//! `#[curing::test]` (and, through the examples, `#[curing::main]`): the
//! body runs on a fresh curing runtime; `Result` returns, `?`, other
//! attributes and panics work as on a plain `#[test]`.
#![cfg(feature = "macros")]

use curing::net::UnixStream;

#[curing::test]
async fn body_runs_on_a_curing_runtime() {
    curing::runtime::nop().await.unwrap();
    assert!(curing::runtime::stats().ops_completed >= 1);
    let task = curing::spawn(async { 21 * 2 });
    assert_eq!(task.await.unwrap(), 42);
}

#[curing::test]
async fn result_return_and_question_mark() -> std::io::Result<()> {
    let (a, b) = UnixStream::pair()?;
    let (res, _) = a.write_all(&b"ok"[..]).await;
    res?;
    let (res, buf) = b.read(vec![0u8; 8]).await;
    assert_eq!(&buf[..res?], b"ok");
    Ok(())
}

#[curing::test]
#[should_panic(expected = "boom inside the runtime")]
async fn panics_fail_the_test() {
    curing::runtime::nop().await.unwrap();
    panic!("boom inside the runtime");
}

#[curing::test]
async fn each_test_gets_its_own_runtime() {
    // A fresh runtime: nothing ran on it before this test's body.
    let stats = curing::runtime::stats();
    assert_eq!(stats.ops_submitted, 0, "{stats:?}");
    assert_eq!(stats.tasks_alive, 0);
}
