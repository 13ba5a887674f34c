//! Outside tester's tests (issue 19): opening a FIFO without a writer:
//! cancellable, and the runtime shuts down in bounded time.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
#[allow(unused_imports)]
use outside19_common::*;
use std::time::{Duration, Instant};

#[test]
fn open_fifo_without_writer_cancel_and_shutdown_bounded() {
    let _guard = guard();
    let p = format!("{}/o19fifo-{}", tmp_dir(), std::process::id());
    let _ = std::fs::remove_file(&p);
    let c = std::ffi::CString::new(p.clone()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let rt = curing::Runtime::new().unwrap();
    eprintln!("driver {:?}", rt.driver_kind());
    let p2 = p.clone();
    let r = rt.block_on(async move {
        let s = Instant::now();
        let r = curing::time::timeout(Duration::from_millis(50), curing::fs::File::open(&p2)).await;
        eprintln!(
            "timeout on blocked open: is_err={} after {:?}",
            r.is_err(),
            s.elapsed()
        );
        // the runtime keeps working
        let m = curing::time::timeout(Duration::from_secs(2), curing::fs::metadata("/")).await;
        eprintln!("metadata after: ok={}", m.is_ok());
        assert!(
            m.is_ok(),
            "the runtime stopped working after a cut-off FIFO open"
        );
        r.is_err()
    });
    // io_uring: open of a FIFO without writer returns at once (r == false); epoll: blocks like open(2)
    eprintln!("open blocked: {r}");
    let s = Instant::now();
    let st = rt.stats();
    drop(rt);
    let el = s.elapsed();
    eprintln!(
        "runtime drop took {el:?}; stats before drop leaked={} in_flight={}",
        st.leaked, st.ops_in_flight
    );
    assert!(el < Duration::from_secs(3), "shutdown not bounded: {el:?}");
    // unblock any stuck open by opening the writer side
    let _w = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags_nonblock(&p);
    // a new runtime works
    let rt = curing::Runtime::new().unwrap();
    rt.block_on(async { curing::fs::metadata("/").await.unwrap() });
    let _ = std::fs::remove_file(&p);
}

trait NB {
    fn custom_flags_nonblock(&mut self, p: &str) -> Option<std::fs::File>;
}
impl NB for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self, p: &str) -> Option<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK).open(p).ok()
    }
}
