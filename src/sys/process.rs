//! Process syscalls io_uring has no opcode for: `pidfd_open`, a
//! non-blocking `waitid` on a pidfd, `pidfd_send_signal`, and decoding the
//! `siginfo_t` a wait fills in.

use super::{cvt, owned};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// A pidfd for child `pid` (Linux 5.3+), close-on-exec.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes no pointers; it returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    cvt(fd as libc::c_int)?;
    Ok(owned(fd as libc::c_int))
}

/// Sends `signal` to the process behind `pidfd`.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: no siginfo pointer is passed (null is allowed); the fd is open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    cvt(r as libc::c_int).map(drop)
}

/// An all-zero `siginfo_t` for a wait to fill in.
pub(crate) fn empty_siginfo() -> libc::siginfo_t {
    // SAFETY: all-zero bytes are a valid `siginfo_t` (a plain C struct).
    unsafe { std::mem::zeroed() }
}

/// Reaps the child behind `pidfd` if it has exited (`WNOHANG`): its status,
/// or `None` while it runs.
pub(crate) fn try_wait_pidfd(pidfd: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
    let mut info = empty_siginfo();
    // SAFETY: `info` is a live local the kernel writes one siginfo into.
    cvt(unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    })?;
    Ok(exit_status(&info))
}

/// The exit status a wait left in `info`; `None` if no child had exited
/// (`si_pid` 0 after `WNOHANG`).
pub(crate) fn exit_status(info: &libc::siginfo_t) -> Option<ExitStatus> {
    // SAFETY: after a successful waitid the kernel filled the SIGCHLD
    // fields (si_pid, si_status), or left them zero under WNOHANG.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return None;
    }
    // Rebuild the wait(2) status word that ExitStatus decodes.
    let raw = match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        // Stopped or continued: not asked for (WEXITED only).
        _ => (status & 0xff) << 8,
    };
    Some(ExitStatus::from_raw(raw))
}

/// `poll(2)` on `fds` for at most `timeout`; the number ready.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: std::time::Duration) -> io::Result<usize> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a live, writable slice of `fds.len()` pollfds.
    let n = cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) })?;
    Ok(n as usize)
}
