//! Starting a runtime (docs/reliability.md, rule 9, row 1): bad ring sizes, every
//! combination of the optional setup flags, and io_uring blocked by a
//! seccomp filter, which must give a typed error whose message names the
//! cause and the fix.
//!
//! The seccomp tests re-run this test binary as a child process with
//! `CURING_STARTUP_CHILD` set: the child installs the filter (which cannot be
//! undone), tries to start a runtime and prints what it got; the parent checks
//! the text. Those children ask for io_uring explicitly
//! (`CURING_DRIVER=io_uring`), which keeps today's errors; the `auto_*`
//! tests run the same filters with the variable unset and check that the
//! runtime falls back to the epoll driver, says so once, and serves I/O.

mod common;

use curing::runtime::{nop, DriverKind};
use curing::time::sleep;
use curing::{Error, Runtime};
use std::process::Command;
use std::time::{Duration, Instant};

/// Set in a child process: which errno the seccomp filter returns.
const CHILD_ENV: &str = "CURING_STARTUP_CHILD";

/// Runs nops, a spawned task, a sleep and a foreign wake on `rt`.
fn exercise(rt: &Runtime) {
    rt.block_on(async {
        for _ in 0..10 {
            nop().await.unwrap();
        }
        let hs: Vec<_> = (0..100).map(|_| curing::spawn(nop())).collect();
        for h in hs {
            h.await.unwrap().unwrap();
        }
        let start = Instant::now();
        sleep(Duration::from_millis(5)).await;
        assert!(start.elapsed() >= Duration::from_millis(5));
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let t = std::thread::spawn(move || rx.recv().unwrap().wake());
        let mut sent = false;
        std::future::poll_fn(|cx| {
            if sent {
                return std::task::Poll::Ready(());
            }
            sent = true;
            tx.send(cx.waker().clone()).unwrap();
            std::task::Poll::Pending
        })
        .await;
        t.join().unwrap();
    });
    let s = rt.stats();
    assert_eq!(s.ops_submitted, 110, "{s:?}");
    assert_eq!(s.ops_completed, 110, "{s:?}");
}

#[test]
fn zero_entries_is_a_config_error() {
    let _fd = common::fd_lock();
    let err = Runtime::builder().entries(0).build().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("invalid runtime configuration"), "{msg}");
    assert!(msg.contains("entries"), "{msg}");
}

#[test]
fn cq_smaller_than_sq_is_a_config_error() {
    let _fd = common::fd_lock();
    let err = Runtime::builder()
        .entries(64)
        .cq_entries(8)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("cq_entries"), "{err}");
    // Setting cq_entries first and entries after raises cq to match.
    let rt = Runtime::builder()
        .cq_entries(8)
        .entries(64)
        .build()
        .unwrap();
    exercise(&rt);
}

#[test]
fn small_and_odd_ring_sizes_work() {
    let _fd = common::fd_lock();
    for (sq, cq) in [(1, 1), (1, 2), (3, 5), (4, 8), (100, 1000), (32768, 65536)] {
        let rt = Runtime::builder()
            .entries(sq)
            .cq_entries(cq)
            .build()
            .unwrap_or_else(|e| panic!("entries({sq}).cq_entries({cq}): {e}"));
        exercise(&rt);
    }
}

#[test]
fn too_many_entries_is_a_clean_error_that_names_the_setting() {
    let _fd = common::fd_lock();
    // The kernel caps the SQ at 32768 and the CQ at 65536 entries.
    let cases: [(u32, Option<u32>); 4] = [
        (32769, None),
        (u32::MAX, None),
        (64, Some(1 << 20)),
        (64, Some(u32::MAX)),
    ];
    for (sq, cq) in cases {
        let mut b = Runtime::builder().entries(sq);
        if let Some(cq) = cq {
            b = b.cq_entries(cq);
        }
        let err = b.build().expect_err("an oversized ring is refused");
        let msg = err.to_string();
        // The error must say what to change, not just "Invalid argument".
        assert!(
            msg.contains("entries"),
            "entries({sq}) cq_entries({cq:?}) gave {msg:?} ({err:?})"
        );
    }
}

#[test]
fn every_combination_of_setup_flags_runs() {
    let _fd = common::fd_lock();
    for bits in 0..8u8 {
        let (defer, coop, all) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
        let rt = Runtime::builder()
            .entries(16)
            .defer_taskrun(defer)
            .coop_taskrun(coop)
            .submit_all(all)
            .build()
            .unwrap_or_else(|e| panic!("defer {defer} coop {coop} submit_all {all}: {e}"));
        let flags = rt.setup_flags();
        // A flag is never reported that was not asked for.
        assert!(!flags.defer_taskrun || defer, "{flags:?}");
        assert!(!flags.coop_taskrun || coop, "{flags:?}");
        assert!(!flags.submit_all || all, "{flags:?}");
        exercise(&rt);
    }
}

/// (major, minor) of the running kernel.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next().unwrap().parse().unwrap();
    let minor = parts.next().unwrap().parse().unwrap();
    (major, minor)
}

#[test]
fn setup_flags_report_what_the_ring_got() {
    let _fd = common::fd_lock();
    let rt = Runtime::builder()
        .driver(DriverKind::IoUring)
        .build()
        .unwrap();
    let flags = rt.setup_flags();
    if kernel_version() >= (6, 1) {
        assert!(flags.defer_taskrun, "6.1+ has DEFER_TASKRUN: {flags:?}");
        assert!(flags.submit_all, "{flags:?}");
        // DEFER_TASKRUN replaces COOP_TASKRUN (the builder sets one or the
        // other), so the ring did not get COOP_TASKRUN.
        assert!(
            !flags.coop_taskrun,
            "coop_taskrun reported although the ring was set up with DEFER_TASKRUN: {flags:?}"
        );
        let rt = Runtime::builder()
            .driver(DriverKind::IoUring)
            .defer_taskrun(false)
            .build()
            .unwrap();
        let flags = rt.setup_flags();
        assert!(!flags.defer_taskrun && flags.coop_taskrun, "{flags:?}");
    } else {
        println!("kernel older than 6.1: flag expectations not checked");
    }
    if kernel_version() >= (6, 6) {
        assert!(flags.no_sqarray, "6.6+ has NO_SQARRAY: {flags:?}");
    }
    assert!(format!("{rt:?}").contains("flags"));
}

#[test]
fn many_runtimes_can_be_created_and_dropped() {
    let _fd = common::fd_lock();
    let before = common::fd_table();
    for _ in 0..50 {
        let rt = Runtime::builder().entries(8).build().unwrap();
        rt.block_on(async { nop().await.unwrap() });
    }
    // Several alive at once.
    let rts: Vec<_> = (0..20).map(|_| Runtime::new().unwrap()).collect();
    for rt in &rts {
        rt.block_on(async { nop().await.unwrap() });
    }
    drop(rts);
    common::assert_fds_back(&before, "ring or eventfd fds leaked");
}

#[test]
fn errors_are_std_errors_with_debug() {
    let _fd = common::fd_lock();
    let err = Runtime::builder().entries(0).build().unwrap_err();
    let dyn_err: &dyn std::error::Error = &err;
    assert!(!dyn_err.to_string().is_empty());
    assert!(format!("{err:?}").contains("Config"));
}

// ---- io_uring blocked by seccomp, in a child process ----

/// One BPF instruction (`struct sock_filter`).
#[repr(C)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// A BPF program (`struct sock_fprog`).
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;

/// Installs a seccomp filter on this thread that makes each listed syscall
/// fail with its errno and allows everything else.
fn block_syscalls(rules: &[(libc::c_long, i32)]) {
    let mut prog = vec![SockFilter {
        code: BPF_LD_W_ABS,
        jt: 0,
        jf: 0,
        k: 0, // seccomp_data.nr
    }];
    for &(nr, errno) in rules {
        prog.push(SockFilter {
            code: BPF_JMP_JEQ_K,
            jt: 0,
            jf: 1,
            k: nr as u32,
        });
        prog.push(SockFilter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | errno as u32,
        });
    }
    prog.push(SockFilter {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    });
    let fprog = SockFprog {
        len: prog.len() as u16,
        filter: prog.as_ptr(),
    };
    // SAFETY: plain prctl calls; `fprog` and `prog` outlive them and the
    // kernel copies the program.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        let r = libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const SockFprog,
        );
        assert_eq!(r, 0, "seccomp: {}", std::io::Error::last_os_error());
    }
}

/// In the child: block io_uring as `mode` says, start a runtime both ways
/// (`Runtime::new` and `curing::run`) and print what happened.
fn child_main(mode: &str) {
    let (nr, errno) = match mode {
        "eperm" => (libc::SYS_io_uring_setup, libc::EPERM),
        "enosys" => (libc::SYS_io_uring_setup, libc::ENOSYS),
        "enomem" => (libc::SYS_io_uring_setup, libc::ENOMEM),
        "einval" => (libc::SYS_io_uring_setup, libc::EINVAL),
        "eacces" => (libc::SYS_io_uring_setup, libc::EACCES),
        "register-eperm" => (libc::SYS_io_uring_register, libc::EPERM),
        "enter-eperm" => (libc::SYS_io_uring_enter, libc::EPERM),
        other => panic!("unknown child mode {other}"),
    };
    block_syscalls(&[(nr, errno)]);
    let start = Instant::now();
    match Runtime::new() {
        Ok(_) => println!("CHILD-RESULT: started"),
        Err(e) => {
            println!("CHILD-RESULT: {e}");
            println!("CHILD-DEBUG: {e:?}");
        }
    }
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(|| curing::run(async {}));
    let _ = std::panic::take_hook();
    match r {
        Ok(()) => println!("CHILD-RUN: ran"),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            println!("CHILD-RUN: panicked: {msg}");
        }
    }
    println!("CHILD-ELAPSED-MS: {}", start.elapsed().as_millis());
}

/// Re-runs `test` in a child process in `mode`, asking for io_uring
/// explicitly (`CURING_DRIVER=io_uring`: its errors, no fallback); returns
/// the child's stdout.
fn run_child(test: &str, mode: &str) -> String {
    run_child_env(test, mode, Some("io_uring")).0
}

/// [`run_child`] with `CURING_DRIVER` set to `driver` (`None`: unset);
/// returns the child's stdout and stderr.
fn run_child_env(test: &str, mode: &str, driver: Option<&str>) -> (String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode);
    match driver {
        Some(d) => cmd.env("CURING_DRIVER", d),
        None => cmd.env_remove("CURING_DRIVER"),
    };
    let out = cmd.output().expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("CHILD-RESULT:"),
        "child did not run the check\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr.into_owned())
}

/// The text after `tag` on its line in `out`.
fn line<'a>(out: &'a str, tag: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.find(tag).map(|i| &l[i + tag.len()..]))
        .unwrap_or_else(|| panic!("no {tag} line in:\n{out}"))
        .trim()
}

/// Runs the child in `mode` (or, in the child, the check itself) and returns
/// (Runtime::new's error text, its Debug, curing::run's panic text).
fn blocked(test: &str, mode: &str) -> Option<(String, String, String)> {
    if let Ok(m) = std::env::var(CHILD_ENV) {
        child_main(&m);
        return None;
    }
    // Under CURING_DRIVER=epoll the parent still checks io_uring's errors:
    // the child asks for io_uring explicitly.
    let _fd = common::fd_lock();
    let out = run_child(test, mode);
    let elapsed: u64 = line(&out, "CHILD-ELAPSED-MS:").parse().unwrap();
    assert!(
        elapsed < 2000,
        "starting up took {elapsed} ms: no hang expected"
    );
    Some((
        line(&out, "CHILD-RESULT:").to_string(),
        line(&out, "CHILD-DEBUG:").to_string(),
        line(&out, "CHILD-RUN:").to_string(),
    ))
}

#[test]
fn seccomp_eperm_names_the_policy_and_the_fix() {
    let Some((msg, debug, run)) = blocked("seccomp_eperm_names_the_policy_and_the_fix", "eperm")
    else {
        return;
    };
    assert!(debug.starts_with("PermissionDenied"), "{debug}");
    assert!(msg.starts_with("io_uring is blocked (EPERM)"), "{msg}");
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok();
    if sysctl.as_deref().map(str::trim) == Some("0") || sysctl.is_none() {
        assert!(msg.contains("most likely a seccomp filter"), "{msg}");
    }
    assert!(msg.contains("sysctl kernel.io_uring_disabled=0"), "{msg}");
    assert!(
        msg.contains("seccomp profile that permits io_uring_setup"),
        "{msg}"
    );
    assert!(
        run.starts_with("panicked: curing: cannot start the runtime: io_uring is blocked (EPERM)"),
        "{run}"
    );
}

#[test]
fn seccomp_enosys_says_the_kernel_lacks_io_uring() {
    let Some((msg, debug, run)) =
        blocked("seccomp_enosys_says_the_kernel_lacks_io_uring", "enosys")
    else {
        return;
    };
    assert_eq!(debug, "NotSupported");
    assert!(
        msg.starts_with("io_uring is not available (ENOSYS)"),
        "{msg}"
    );
    assert!(msg.contains("Linux 5.11 or newer"), "{msg}");
    assert!(msg.contains("CONFIG_IO_URING=y"), "{msg}");
    assert!(run.contains("io_uring is not available (ENOSYS)"), "{run}");
}

#[test]
fn seccomp_enomem_points_at_memlock() {
    let Some((msg, debug, run)) = blocked("seccomp_enomem_points_at_memlock", "enomem") else {
        return;
    };
    assert_eq!(debug, "LockedMemory");
    assert!(msg.contains("(ENOMEM)"), "{msg}");
    assert!(msg.contains("ulimit -l"), "{msg}");
    assert!(msg.contains("entries"), "{msg}");
    assert!(run.contains("locked memory"), "{run}");
}

#[test]
fn seccomp_einval_on_every_flag_set_is_a_setup_error() {
    let Some((msg, debug, run)) = blocked(
        "seccomp_einval_on_every_flag_set_is_a_setup_error",
        "einval",
    ) else {
        return;
    };
    // Every fallback was refused; the last error is reported.
    assert!(debug.starts_with("Setup("), "{debug}");
    assert!(msg.starts_with("io_uring setup failed"), "{msg}");
    assert!(msg.contains("os error 22"), "{msg}");
    assert!(
        msg.contains("CURING_DRIVER=epoll"),
        "the message names a fix: {msg}"
    );
    assert!(run.contains("cannot start the runtime"), "{run}");
}

#[test]
fn seccomp_other_errno_is_reported_with_the_kernel_error() {
    let Some((msg, debug, _run)) = blocked(
        "seccomp_other_errno_is_reported_with_the_kernel_error",
        "eacces",
    ) else {
        return;
    };
    assert!(debug.starts_with("Setup("), "{debug}");
    assert!(msg.contains("os error 13"), "{msg}");
}

#[test]
fn seccomp_blocking_io_uring_register_is_not_called_an_old_kernel() {
    let Some((msg, _debug, _run)) = blocked(
        "seccomp_blocking_io_uring_register_is_not_called_an_old_kernel",
        "register-eperm",
    ) else {
        return;
    };
    assert_ne!(msg, "started", "the probe needs io_uring_register");
    // A policy refusing io_uring_register (EPERM) is not an old kernel.
    assert!(!msg.contains("too old"), "misleading message: {msg}");
    assert!(msg.contains("EPERM"), "{msg}");
}

#[test]
fn seccomp_blocking_io_uring_enter_is_an_error_at_startup() {
    let Some((msg, debug, run)) = blocked(
        "seccomp_blocking_io_uring_enter_is_an_error_at_startup",
        "enter-eperm",
    ) else {
        return;
    };
    // Refused at startup with an error, not a panic at the first park.
    assert!(debug.starts_with("PermissionDenied"), "{debug}");
    assert!(msg.contains("io_uring_enter"), "{msg}");
    assert!(
        run.starts_with("panicked:") && run.contains("io_uring_enter"),
        "{run}"
    );
}

// ---- the Auto driver falls back to epoll under the same filters ----

/// In the child: block io_uring as `mode` says (after `auto-`), start a
/// runtime with the default (Auto) driver and serve real I/O on it.
fn auto_child_main(mode: &str) {
    let (nr, errno) = match mode {
        "auto-eperm" => (libc::SYS_io_uring_setup, libc::EPERM),
        "auto-enosys" => (libc::SYS_io_uring_setup, libc::ENOSYS),
        "auto-register-eperm" => (libc::SYS_io_uring_register, libc::EPERM),
        "auto-enter-eperm" => (libc::SYS_io_uring_enter, libc::EPERM),
        "auto-none" => (libc::SYS_io_uring_setup, 0),
        other => panic!("unknown child mode {other}"),
    };
    if errno != 0 {
        block_syscalls(&[(nr, errno)]);
    }
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            println!("CHILD-RESULT: error {e}");
            return;
        }
    };
    println!("CHILD-RESULT: {:?}", rt.driver_kind());
    exercise(&rt);
    // Real I/O: a TCP echo and a file round trip.
    let echoed = rt.block_on(async {
        let listener = curing::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = curing::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (n, buf) = s.read(vec![0u8; 64]).await;
            let (w, _) = s.write_all(buf[..n.unwrap()].to_vec()).await;
            w.unwrap();
        });
        let c = curing::net::TcpStream::connect(addr).await.unwrap();
        let (w, _) = c.write_all(b"over epoll".to_vec()).await;
        w.unwrap();
        let (n, buf) = c.read(vec![0u8; 64]).await;
        server.await.unwrap();
        let path = std::env::temp_dir().join(format!("curing-auto-{}", std::process::id()));
        let f = curing::fs::File::create(&path).await.unwrap();
        let (w, _) = f.write_all_at(b"file bytes".to_vec(), 0).await;
        w.unwrap();
        f.close().await.unwrap();
        let f = curing::fs::File::open(&path).await.unwrap();
        let (r, data) = f.read_at(Vec::with_capacity(32), 0).await;
        assert_eq!(&data[..r.unwrap()], b"file bytes");
        std::fs::remove_file(&path).unwrap();
        String::from_utf8(buf[..n.unwrap()].to_vec()).unwrap()
    });
    println!("CHILD-IO: {echoed}");
}

/// Runs the auto child in `mode` with `CURING_DRIVER` unset; returns
/// (result line, stderr).
fn auto(test: &str, mode: &str) -> Option<(String, String, String)> {
    if let Ok(m) = std::env::var(CHILD_ENV) {
        auto_child_main(&m);
        return None;
    }
    let _fd = common::fd_lock();
    let (out, err) = run_child_env(test, mode, None);
    let io = out
        .lines()
        .find_map(|l| l.strip_prefix("CHILD-IO: "))
        .unwrap_or("")
        .to_string();
    Some((line(&out, "CHILD-RESULT:").to_string(), io, err))
}

/// The one stderr line of a fallback, with the reason and the fix.
fn assert_fallback_logged(stderr: &str, reason: &str) {
    let lines: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("epoll fallback"))
        .collect();
    assert_eq!(lines.len(), 1, "one line, once: {stderr}");
    assert!(lines[0].contains(reason), "{}", lines[0]);
    assert!(lines[0].contains("CURING_DRIVER=epoll"), "{}", lines[0]);
}

#[test]
fn auto_falls_back_to_epoll_when_seccomp_refuses_io_uring_setup() {
    let Some((kind, io, err)) = auto(
        "auto_falls_back_to_epoll_when_seccomp_refuses_io_uring_setup",
        "auto-eperm",
    ) else {
        return;
    };
    assert_eq!(kind, "Epoll");
    assert_eq!(io, "over epoll");
    assert_fallback_logged(&err, "io_uring is blocked (EPERM)");
    assert!(
        err.contains("seccomp profile that permits"),
        "the fix: {err}"
    );
}

#[test]
fn auto_falls_back_to_epoll_without_io_uring_in_the_kernel() {
    let Some((kind, io, err)) = auto(
        "auto_falls_back_to_epoll_without_io_uring_in_the_kernel",
        "auto-enosys",
    ) else {
        return;
    };
    assert_eq!(kind, "Epoll");
    assert_eq!(io, "over epoll");
    assert_fallback_logged(&err, "(ENOSYS)");
}

#[test]
fn auto_falls_back_to_epoll_when_io_uring_register_or_enter_is_refused() {
    for mode in ["auto-register-eperm", "auto-enter-eperm"] {
        let Some((kind, io, err)) = auto(
            "auto_falls_back_to_epoll_when_io_uring_register_or_enter_is_refused",
            mode,
        ) else {
            return;
        };
        assert_eq!(kind, "Epoll", "{mode}");
        assert_eq!(io, "over epoll", "{mode}");
        assert_fallback_logged(&err, "EPERM");
    }
}

#[test]
fn auto_uses_io_uring_where_it_works_and_says_nothing() {
    let Some((kind, io, err)) = auto(
        "auto_uses_io_uring_where_it_works_and_says_nothing",
        "auto-none",
    ) else {
        return;
    };
    assert_eq!(kind, "IoUring");
    assert_eq!(io, "over epoll");
    assert!(!err.contains("epoll fallback"), "{err}");
}

#[test]
fn curing_driver_env_picks_the_driver_and_rejects_unknown_names() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        assert_eq!(mode, "env");
        let what = match Runtime::new() {
            Ok(rt) => format!("{:?}", rt.driver_kind()),
            Err(e) => format!("{e:?}: {e}"),
        };
        // An explicit choice in the builder wins over the variable.
        let explicit = Runtime::builder()
            .driver(DriverKind::Epoll)
            .build()
            .unwrap()
            .driver_kind();
        println!("CHILD-RESULT: {what} / {explicit:?}");
        return;
    }
    let _fd = common::fd_lock();
    let run = |v: &str| {
        let (out, err) = run_child_env(
            "curing_driver_env_picks_the_driver_and_rejects_unknown_names",
            "env",
            Some(v),
        );
        assert!(!err.contains("epoll fallback"), "explicit: no log: {err}");
        line(&out, "CHILD-RESULT:").to_string()
    };
    assert_eq!(run("epoll"), "Epoll / Epoll");
    assert_eq!(run("EPOLL"), "Epoll / Epoll");
    assert_eq!(run("io_uring"), "IoUring / Epoll");
    assert_eq!(run("uring"), "IoUring / Epoll");
    let bad = run("kqueue");
    assert!(bad.starts_with("Config("), "{bad}");
    assert!(
        bad.contains("\"kqueue\"") && bad.contains("io_uring") && bad.contains("epoll"),
        "names the accepted values: {bad}"
    );
}
