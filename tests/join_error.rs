//! `JoinError` is `Send + Sync` (as tokio's), so it becomes an
//! `io::Error` with `io::Error::other` and crosses threads; its panic
//! payload still comes back whole.

mod common;

use curing::JoinError;
use std::io;
use std::time::Duration;

/// Compile-time check: a `JoinError` may be sent and shared across threads,
/// and is a `std::error::Error` that `io::Error::other` accepts.
const _: () = {
    const fn send_sync_error<T: Send + Sync + std::error::Error + 'static>() {}
    send_sync_error::<JoinError>();
};

#[test]
fn io_error_other_keeps_the_join_error() {
    common::run(Duration::from_secs(20), || async {
        let n = std::hint::black_box(7);
        let err = curing::spawn(async move { panic!("boom {n}") })
            .await
            .unwrap_err();
        let io: io::Error = io::Error::other(err);
        assert_eq!(io.kind(), io::ErrorKind::Other);
        assert!(io.to_string().contains("boom 7"), "{io}");
        // The JoinError is the source, not a copy of its message.
        let inner = io.into_inner().unwrap().downcast::<JoinError>().unwrap();
        assert!(inner.is_panic());
        let payload = inner.into_panic();
        assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom 7");

        // `?` in an io::Result function works too (From<JoinError>).
        async fn cancelled() -> io::Result<()> {
            let task = curing::spawn(std::future::pending::<()>());
            task.abort();
            task.await?;
            Ok(())
        }
        let io = cancelled().await.unwrap_err();
        let inner = io.get_ref().unwrap().downcast_ref::<JoinError>().unwrap();
        assert!(inner.is_cancelled());
        assert_eq!(io.to_string(), "task was cancelled");
    });
}

#[test]
fn try_into_panic_gives_a_cancelled_error_back() {
    common::run(Duration::from_secs(20), || async {
        let task = curing::spawn(std::future::pending::<()>());
        task.abort();
        let err = task.await.unwrap_err();
        let err = err.try_into_panic().unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic());
        assert_eq!(format!("{err:?}"), "JoinError::Cancelled");

        let err = curing::spawn(async { std::panic::panic_any(42u32) })
            .await
            .unwrap_err();
        assert_eq!(
            format!("{err:?}"),
            "JoinError::Panicked(\"<non-string panic payload>\")"
        );
        let payload = err.try_into_panic().unwrap();
        assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    });
}

#[test]
fn a_join_error_crosses_threads_and_is_shared() {
    common::run(Duration::from_secs(20), || async {
        let err = curing::spawn(async { panic!("shared") }).await.unwrap_err();
        let err = std::sync::Arc::new(err);
        let other = err.clone();
        let msg = std::thread::spawn(move || other.to_string())
            .join()
            .unwrap();
        assert_eq!(msg, "task panicked: shared");
        assert!(err.is_panic());
    });
}
