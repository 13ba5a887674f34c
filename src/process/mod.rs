//! Child processes: [`Command`] spawns, with the child's stdin, stdout and
//! stderr as async pipes, and [`Child::wait`] reaps through io_uring.
//!
//! - Waiting is `IORING_OP_WAITID` on the child's pidfd where the kernel has
//!   it (6.7+); otherwise a `POLL_ADD` on the pidfd (readable when the child
//!   exits) and a non-blocking `waitid`. Either way no thread blocks and no
//!   `SIGCHLD` handler is installed.
//! - Reads and writes on the pipes are io_uring ops with owned buffers, like
//!   sockets. [`Command::output`] reads stdout and stderr concurrently
//!   while waiting, so a child that fills one pipe cannot deadlock.
//! - Dropping a [`Child`] neither blocks nor leaves a zombie: a child that
//!   still runs is handed to a small reaper thread that reaps it when it
//!   exits (or killed first, with [`Command::kill_on_drop`]).
//!
//! Spawning itself (`fork`/`exec`) is `std::process::Command::spawn`, a
//! short synchronous call; curing takes the child from there. Needs Linux
//! 5.3+ (pidfds).
//!
//! ```
//! use curing::process::Command;
//! curing::run(async {
//!     let out = Command::new("echo").arg("hello").output().await.unwrap();
//!     assert!(out.status.success());
//!     assert_eq!(out.stdout, b"hello\n");
//! });
//! ```

mod pipe;
mod reaper;

pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use crate::driver::submit;
use crate::op::poll::PollAdd;
use crate::op::waitid::{ExitSlot, WaitId};
use crate::sys::process as sys;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

/// A process to spawn: program, arguments, environment, working directory
/// and standard streams, as `std::process::Command`, whose builder methods
/// it mirrors.
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    /// Kill the child (SIGKILL) if its `Child` is dropped while it runs.
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            std: std::process::Command::new(program),
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Removes an environment variable for the child.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: `Stdio::piped()` makes [`Child::stdin`] a pipe.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self
    }

    /// The child's stdout: `Stdio::piped()` makes [`Child::stdout`] a pipe.
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// The child's stderr: `Stdio::piped()` makes [`Child::stderr`] a pipe.
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// Whether dropping the [`Child`] while it runs kills it (default: no;
    /// it is reaped when it exits either way).
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// The `std` command underneath, for settings not mirrored here
    /// (`std::os::unix::process::CommandExt`: uid, process group, ...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child. Streams not set are inherited.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let mut child = self.std.spawn()?;
        let pidfd = match sys::pidfd_open(child.id()) {
            Ok(fd) => fd,
            Err(e) => {
                // No pidfds (Linux < 5.3): do not leave the child behind.
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Child {
            pid: child.id(),
            stdin: child
                .stdin
                .take()
                .map(|p| ChildStdin::new(OwnedFd::from(p))),
            stdout: child
                .stdout
                .take()
                .map(|p| ChildStdout::new(OwnedFd::from(p))),
            stderr: child
                .stderr
                .take()
                .map(|p| ChildStderr::new(OwnedFd::from(p))),
            pidfd: Rc::new(pidfd),
            exit: Rc::new(ExitSlot::default()),
            kill_on_drop: self.kill_on_drop,
        })
        // `child` (std's) is dropped here: that neither waits nor kills.
    }

    /// Runs the child to completion with stdin, stdout and stderr inherited
    /// unless set; its exit status.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }

    /// Runs the child to completion and collects its stdout and stderr
    /// (piped unless set; stdin is null unless set).
    pub async fn output(&mut self) -> io::Result<Output> {
        // What the caller did not set: std's defaults for `output`.
        self.std.stdin(Stdio::null());
        self.std.stdout(Stdio::piped());
        self.std.stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }
}

/// A running (or finished) child process.
///
/// Dropping it neither waits nor leaves a zombie (see the [module
/// docs](self)).
pub struct Child {
    pid: u32,
    /// The child's stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
    /// Names the child without pid-reuse races; waits and signals go here.
    /// Shared with a wait op in flight.
    pidfd: Rc<OwnedFd>,
    /// The exit status once reaped (also by a wait whose future was
    /// dropped), and whether a wait is in the kernel.
    exit: Rc<ExitSlot>,
    /// Kill on drop if still running.
    kill_on_drop: bool,
}

impl Child {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits for the child to exit and reaps it; its status. Closes nothing:
    /// take and drop `stdin` first if the child waits for end-of-file.
    /// Safe to drop mid-wait and call again. Once the child is reaped, a
    /// wait returns its status at once and spends one unit of the task's
    /// cooperative budget.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if crate::driver::features().waitid {
            loop {
                // A wait dropped earlier may still be in the kernel: it may
                // reap the child, so let it finish first.
                self.in_flight_done().await;
                if self.exit.status.get().is_some() {
                    break;
                }
                // The op stores the status in `exit` when it completes.
                match submit(WaitId::new(self.pidfd.clone(), self.exit.clone())).await {
                    Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => continue,
                    Err(e) => return Err(e),
                    Ok(status) => self.exit.status.set(Some(status)),
                }
            }
        } else {
            while self.exit.status.get().is_none() {
                // Stored at once, so a future dropped from here on loses no
                // status.
                if let Some(status) = sys::try_wait_pidfd(self.pidfd.as_fd())? {
                    self.exit.status.set(Some(status));
                    break;
                }
                submit(PollAdd::new(self.pidfd.clone(), libc::POLLIN as u32)).await?;
            }
        }
        // The status may have been known before this call (a loop of waits
        // on an exited child): spends the task's budget.
        crate::coop::proceed().await;
        Ok(self
            .exit
            .status
            .get()
            .expect("curing: a reaped child's status is stored"))
    }

    /// Waits until no wait op on this child is in the kernel. Only one
    /// `wait` future exists at a time (it borrows the `Child` mutably), so
    /// the waiter list holds at most its waker: a wait dropped while parked
    /// here leaves a waker that the next one replaces, not one more entry.
    async fn in_flight_done(&self) {
        std::future::poll_fn(|cx| {
            if !self.exit.in_flight.get() {
                return std::task::Poll::Ready(());
            }
            let mut waiters = self.exit.waiters.borrow_mut();
            if !(waiters.len() == 1 && waiters[0].will_wake(cx.waker())) {
                let old = std::mem::replace(&mut *waiters, vec![cx.waker().clone()]);
                drop(waiters);
                drop(old);
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// Reaps the child if it has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.exit.status.get() {
            return Ok(Some(status));
        }
        if self.exit.in_flight.get() {
            return Ok(None); // a wait in the kernel will reap it
        }
        let status = sys::try_wait_pidfd(self.pidfd.as_fd())?;
        self.exit.status.set(status);
        Ok(status)
    }

    /// Sends `SIGKILL` without waiting. Fine (a no-op) once reaped.
    pub fn start_kill(&mut self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the child. A no-op once the
    /// child is reaped.
    pub fn signal(&mut self, signal: i32) -> io::Result<()> {
        if self.exit.status.get().is_some() {
            return Ok(());
        }
        match sys::pidfd_send_signal(self.pidfd.as_fd(), signal) {
            // Exited, not yet reaped: nothing to kill.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }

    /// Kills the child (`SIGKILL`) and waits for it to be reaped.
    pub async fn kill(&mut self) -> io::Result<ExitStatus> {
        self.start_kill()?;
        self.wait().await
    }

    /// Waits for the child while reading all of its stdout and stderr
    /// concurrently (a child filling one pipe cannot block the other).
    /// Drops stdin first, so a child reading it sees end-of-file.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stdout = Reader::spawn(self.stdout.take().map(Pipe::Out));
        let stderr = Reader::spawn(self.stderr.take().map(Pipe::Err));
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: stdout.finish().await?,
            stderr: stderr.finish().await?,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exit.status.get().is_some() {
            return;
        }
        if self.kill_on_drop {
            let _ = self.start_kill();
        }
        if !self.exit.in_flight.get() {
            if let Ok(Some(_)) = sys::try_wait_pidfd(self.pidfd.as_fd()) {
                return;
            }
        }
        // Still running: the reaper gets its own pidfd (a wait op in flight
        // may hold this one until its cancel completes).
        if let Ok(pidfd) = self.pidfd.as_fd().try_clone_to_owned() {
            reaper::adopt(pidfd);
        }
    }
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.exit.status.get())
            .finish_non_exhaustive()
    }
}

/// **Test hook, not part of the API** (feature `testing`): children handed
/// to the reaper and not yet reaped.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn orphans() -> usize {
    reaper::orphans()
}

/// Either output pipe, read to the end by a task.
enum Pipe {
    Out(ChildStdout),
    Err(ChildStderr),
}

/// A task reading a pipe to the end; aborted if dropped unfinished.
struct Reader(Option<crate::JoinHandle<io::Result<Vec<u8>>>>);

impl Reader {
    fn spawn(pipe: Option<Pipe>) -> Reader {
        Reader(pipe.map(|pipe| {
            crate::spawn(async move {
                let (res, out) = match &pipe {
                    Pipe::Out(p) => p.read_to_end(Vec::new()).await,
                    Pipe::Err(p) => p.read_to_end(Vec::new()).await,
                };
                res.map(|_| out)
            })
        }))
    }

    async fn finish(mut self) -> io::Result<Vec<u8>> {
        match self.0.take() {
            None => Ok(Vec::new()),
            Some(task) => task.await?,
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    /// A waker that does nothing; its `Arc`'s count tells how many clones
    /// live.
    struct Counted;

    impl Wake for Counted {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn waits_parked_behind_an_in_flight_one_leave_one_waker() {
        crate::run(async {
            if !crate::driver::features().waitid {
                println!("skipped: no IORING_OP_WAITID here");
                return;
            }
            let mut child = Command::new("sleep")
                .arg("10")
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let arc = Arc::new(Counted);
            let waker = Waker::from(arc.clone());
            let mut cx = Context::from_waker(&waker);
            // A wait that reaches the kernel, then is dropped: its op stays
            // in flight until its cancel completes, which needs this task to
            // return to the runtime first.
            {
                let mut wait = std::pin::pin!(child.wait());
                assert!(wait.as_mut().poll(&mut cx).is_pending());
            }
            assert!(child.exit.in_flight.get());
            // Later waits park behind it: polled (again) and dropped.
            for _ in 0..10_000 {
                let mut wait = std::pin::pin!(child.wait());
                assert!(wait.as_mut().poll(&mut cx).is_pending());
                assert!(wait.as_mut().poll(&mut cx).is_pending());
            }
            assert!(child.exit.in_flight.get());
            assert_eq!(child.exit.waiters.borrow().len(), 1);
            // Held by us twice (`arc`, `waker`) and by the one entry.
            assert_eq!(Arc::strong_count(&arc), 3);
            child.start_kill().unwrap();
            assert!(!child.wait().await.unwrap().success());
        });
    }
}
