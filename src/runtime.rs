//! The runtime: one ring, one executor and one timer map on one thread.
//!
//! The loop, in named phases, each turn:
//!
//! 1. **run** ready tasks (a bounded batch, so I/O and timers keep up);
//! 2. **fire** expired timers;
//! 3. **submit and wait**: one `io_uring_enter` submits every SQE the tasks
//!    queued; if nothing is ready it also waits for a CQE, at most until the
//!    next timer's deadline;
//! 4. **dispatch** completions: wake the tasks whose ops completed, finish the
//!    ops whose futures were dropped. (After releasing the driver borrow.)
//!
//! User code never sees a loop object: [`run`], [`spawn`],
//! `File::open` and friends find the runtime through the thread they run on.

use crate::blocking::Pool;
use crate::driver::{self, Completion, Core, Driver, RingConfig, SetupFlags, Stats};
use crate::executor::{Executor, JoinHandle, Remote, TaskInfo, Wakes};
use crate::sys::current::{self as slot, Slot};
use crate::time::Timers;
use crate::Error;
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

pub use crate::blocking::{blocking_pool, PoolStats};
pub use crate::driver::DriverKind;
pub use crate::handle::{Handle, RemoteJoinHandle};
pub use crate::threads::{peers, thread_index, Threads};

/// Tasks polled per turn before the ring and timers are looked at again.
const RUN_BATCH: usize = 128;
/// How long dropping a runtime waits for the kernel to return cancelled ops
/// before leaking their memory (rather than freeing it under the kernel).
const SHUTDOWN_BOUND: Duration = Duration::from_secs(1);

thread_local! {
    /// The runtime running on this thread (see `sys::current`).
    static CURRENT: Slot<Context> = const { Slot::new() };
}

/// Calls `f` with the runtime running on this thread, if any.
#[inline]
fn with_current<R>(f: impl FnOnce(Option<&Context>) -> R) -> R {
    slot::with(&CURRENT, f)
}

/// Everything a runtime owns. Field order is drop order: the driver (and its
/// ring) goes before the executor, whose eventfd the ring may still read.
pub(crate) struct Context {
    /// The ring and in-flight ops, with the backend's features; also made
    /// current on its own for the layers below (see `driver::current`).
    pub(crate) core: Rc<Core>,
    /// Tasks and the run queue.
    pub(crate) executor: Executor,
    /// Sleeping futures by deadline.
    pub(crate) timers: RefCell<Timers>,
    /// Reused between turns: whom to wake after a reap.
    wakes: RefCell<Wakes>,
    /// Reused between turns: wakers of expired timers.
    timer_wakes: RefCell<Vec<Waker>>,
    /// Reused between turns: abandoned ops to finish after a reap.
    #[allow(clippy::type_complexity)]
    finished: RefCell<Vec<(Box<dyn driver::lifecycle::Abandoned>, Completion)>>,
    /// Threads for `spawn_blocking`; closed (idle threads exit) at shutdown.
    pub(crate) blocking: Arc<Pool>,
}

/// The runtime on this thread.
///
/// # Panics
///
/// Outside a curing runtime, with a message saying how to start one.
#[inline]
pub(crate) fn current() -> Rc<Context> {
    slot::current(&CURRENT).expect(
        "curing: no runtime on this thread; call this inside curing::run(...) or Runtime::block_on(...)",
    )
}

/// The thread-safe face of this thread's runtime, if one is running here.
pub(crate) fn try_remote() -> Option<Remote> {
    with_current(|ctx| ctx.map(|ctx| ctx.executor.remote()))
}

/// Panics if this thread is running a curing runtime: blocking it would
/// stall every task, and deadlock if what we wait for needs one of them.
pub(crate) fn assert_can_block(what: &str) {
    let in_runtime = slot::is_set(&CURRENT);
    assert!(
        !in_runtime,
        "curing: {what} called on a runtime thread; it would block the thread every task of \
         this runtime runs on (and deadlock if what it waits for needs one of them). \
         `.await` instead, or move the blocking code into curing::spawn_blocking"
    );
}

impl Context {
    /// The ring and in-flight ops.
    #[inline]
    pub(crate) fn driver(&self) -> &RefCell<Driver> {
        &self.core.driver
    }

    /// The driver's counters with the executor's filled in.
    fn stats(&self) -> Stats {
        Stats {
            polls: self.executor.polls(),
            tasks_alive: self.executor.task_count(),
            ..self.driver().borrow().stats()
        }
    }

    /// One turn of the loop (see the module docs).
    fn turn(&self) {
        self.executor.run_ready(RUN_BATCH);
        let next_deadline = self.fire_timers();
        {
            let mut driver = self.driver().borrow_mut();
            if self.executor.has_ready() || driver.has_pending_wakes() {
                driver.flush();
            } else {
                let timeout = next_deadline.map(|d| d.saturating_duration_since(Instant::now()));
                driver.park(timeout);
            }
        }
        self.dispatch();
    }

    /// Wakes expired sleepers; returns the next deadline.
    fn fire_timers(&self) -> Option<Instant> {
        let mut timers = self.timers.borrow_mut();
        if timers.is_empty() {
            return None; // no clock read on turns without timers
        }
        let mut wakes = self.timer_wakes.borrow_mut();
        let next = timers.expire(Instant::now(), &mut wakes);
        drop(timers);
        for w in wakes.drain(..) {
            w.wake();
        }
        next
    }

    /// Calls the wakers and finishes the abandoned ops the driver collected,
    /// with the driver not borrowed (docs/reliability.md, rule 7).
    fn dispatch(&self) {
        let mut wakes = self.wakes.borrow_mut();
        let mut finished = self.finished.borrow_mut();
        self.driver()
            .borrow_mut()
            .take_ready(&mut wakes, &mut finished);
        // Wakers and op completions may run user code that reaches back
        // into the runtime, but never these two vectors.
        self.executor.wake_all(&mut wakes);
        for (op, completion) in finished.drain(..) {
            op.finish(completion);
        }
    }

    /// Drops every task, cancels every op, waits (bounded) for the kernel to
    /// let go of their memory, and leaks what it still holds after that.
    fn shutdown(&self) {
        self.blocking.close();
        self.executor.shutdown();
        let sleepers = self.timers.borrow_mut().clear();
        drop(sleepers);
        self.driver().borrow_mut().begin_shutdown();
        if self.driver().borrow().forked() {
            self.executor.close_shared();
            return;
        }
        let deadline = Instant::now() + SHUTDOWN_BOUND;
        loop {
            {
                let mut driver = self.driver().borrow_mut();
                if driver.in_kernel() == 0 {
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    driver.leak_in_kernel();
                    break;
                }
                driver.park(Some((deadline - now).min(Duration::from_millis(50))));
            }
            self.dispatch();
        }
        self.dispatch();
        self.executor.close_shared();
    }
}

/// A curing runtime: an io_uring, an executor and timers on this thread.
///
/// Most programs use [`curing::run`](crate::run). Build one explicitly to set
/// ring sizes or flags, or to get a clear [`Error`] instead of a panic when
/// io_uring is unavailable:
///
/// ```
/// let rt = curing::Runtime::builder().entries(64).build()?;
/// let answer = rt.block_on(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// # Ok::<(), curing::Error>(())
/// ```
///
/// A runtime is tied to the thread that made it (it is `!Send`):
///
/// ```compile_fail
/// let rt = curing::Runtime::new().unwrap();
/// std::thread::spawn(move || drop(rt));
/// ```
pub struct Runtime {
    ctx: Rc<Context>,
}

impl Runtime {
    /// A runtime with default settings.
    pub fn new() -> Result<Runtime, Error> {
        Builder::new().build()
    }

    /// A builder to set ring sizes and flags.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread, along with every task it
    /// spawns, and returns its output. Tasks still running when it returns
    /// stay in the runtime (and run again at the next `block_on`) until the
    /// runtime is dropped, which cancels them.
    ///
    /// # Panics
    ///
    /// If called from inside a runtime (nested `block_on`), or if `future`
    /// panics.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = Enter::new(&self.ctx);
        self.ctx.executor.wake_main();
        let mut future = pin!(future);
        let ctx = &*self.ctx;
        let waker = ctx.executor.main_waker().clone();
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            if ctx.executor.take_main_woken() {
                if let Poll::Ready(out) = crate::coop::with_budget(|| future.as_mut().poll(&mut cx))
                {
                    return out;
                }
            }
            ctx.turn();
        }
    }

    /// Spawns a task onto this runtime; it runs during `block_on`.
    pub fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        self.ctx.executor.spawn(future)
    }

    /// The runtime's metrics: ops submitted, completed, cancelled and in
    /// flight, SQ-full and CQ-overflow events, tasks alive, task polls,
    /// time parked in the kernel. See [`Stats`] for each field.
    ///
    /// ```
    /// let rt = curing::Runtime::new()?;
    /// rt.block_on(async { curing::spawn(curing::fs::metadata("/")).await.unwrap() })?;
    /// let stats = rt.stats();
    /// assert!(stats.ops_completed >= 1 && stats.polls >= 1);
    /// assert_eq!(stats.tasks_alive, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.ctx.stats()
    }

    /// The optional io_uring setup flags this runtime's ring got.
    pub fn setup_flags(&self) -> SetupFlags {
        self.ctx.driver().borrow().flags()
    }

    /// Which backend runs this runtime's I/O: [`DriverKind::IoUring`] or
    /// [`DriverKind::Epoll`] (never `Auto`).
    ///
    /// ```
    /// let rt = curing::Runtime::new()?;
    /// println!("running on {:?}", rt.driver_kind());
    /// # Ok::<(), curing::Error>(())
    /// ```
    pub fn driver_kind(&self) -> DriverKind {
        self.ctx.driver().borrow().kind()
    }

    /// The ring's file descriptor, for diagnostics
    /// (`/proc/self/fdinfo/<fd>` shows what the kernel holds).
    pub fn ring_fd(&self) -> std::os::fd::RawFd {
        self.ctx.driver().borrow().ring_fd()
    }

    /// Number of tasks alive (spawned, not finished).
    pub fn task_count(&self) -> usize {
        self.ctx.executor.task_count()
    }

    /// A handle to this runtime for other threads (`Send + Sync + Clone`).
    pub fn handle(&self) -> Handle {
        Handle::from_remote(self.ctx.executor.remote())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let nested = slot::is_set(&CURRENT);
        let _enter = (!nested).then(|| Enter::new(&self.ctx));
        self.ctx.shutdown();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("flags", &self.setup_flags())
            .finish_non_exhaustive()
    }
}

/// Makes a runtime current on this thread; undoes it on drop.
struct Enter {
    _runtime: slot::Entered<Context>,
    _queue: crate::executor::EnterGuard,
    _driver: driver::current::Entered,
}

impl Enter {
    fn new(ctx: &Rc<Context>) -> Enter {
        let runtime = slot::enter(&CURRENT, ctx).expect(
            "curing: cannot start a runtime from within a runtime (nested block_on); \
             spawn the future or await it instead",
        );
        Enter {
            _runtime: runtime,
            _queue: ctx.executor.enter(),
            _driver: driver::current::Entered::new(&ctx.core),
        }
    }
}

/// Settings for a [`Runtime`]: ring sizes and optional setup flags.
///
/// Optional flags the kernel lacks are dropped one by one (never an error);
/// [`Runtime::setup_flags`] tells which were kept.
#[derive(Clone, Debug)]
pub struct Builder {
    cfg: RingConfig,
    /// Send cross-thread wakes with `IORING_OP_MSG_RING` where supported.
    msg_ring: bool,
    /// Cap on `spawn_blocking` threads.
    max_blocking_threads: usize,
    /// Idle time after which a blocking thread exits.
    blocking_keep_alive: Duration,
    /// Threads of a thread-per-core runtime (`build_threads`).
    pub(crate) threads: usize,
    /// io-wq worker caps `[bounded, unbounded]` to register, if set.
    iowq_max_workers: Option<[u32; 2]>,
    /// Testing only: opcodes to report as unsupported (see `disable_opcode`).
    disabled_opcodes: Vec<u8>,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            cfg: RingConfig {
                entries: 1024,
                cq_entries: 16384,
                defer_taskrun: true,
                coop_taskrun: true,
                submit_all: true,
                driver: DriverKind::Auto,
            },
            msg_ring: true,
            max_blocking_threads: crate::blocking::DEFAULT_MAX_THREADS,
            blocking_keep_alive: crate::blocking::DEFAULT_KEEP_ALIVE,
            threads: 1,
            iowq_max_workers: None,
            disabled_opcodes: Vec::new(),
        }
    }

    /// **Test hook, not part of the API** (feature `testing`): makes the
    /// runtime act as if the kernel's probe lacked `code` (an
    /// `io_uring::opcode::*::CODE`), so tests can check each fallback and
    /// `Unsupported` error on a kernel that has the opcode (docs/reliability.md,
    /// row 2).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn disable_opcode(mut self, code: u8) -> Builder {
        self.disabled_opcodes.push(code);
        self
    }

    /// Caps the kernel threads (io-wq workers) that run this ring's
    /// blocking requests (`IORING_REGISTER_IOWQ_MAX_WORKERS`, Linux 5.15):
    /// `bounded` for regular-file and block I/O (default: one per CPU),
    /// `unbounded` for sockets, pipes and splices (default: no limit but
    /// `RLIMIT_NPROC`, so a burst of buffered writes or splices can spawn
    /// hundreds of threads). `0` leaves a limit as it is. `build` fails
    /// with the kernel's error if the kernel cannot do this. On the epoll
    /// driver, `bounded` caps the file and path operations running at once
    /// on the blocking pool (default 16); `unbounded` has no counterpart.
    ///
    /// ```
    /// let rt = curing::Runtime::builder().iowq_max_workers(4, 8).build()?;
    /// # Ok::<(), curing::Error>(())
    /// ```
    pub fn iowq_max_workers(mut self, bounded: u32, unbounded: u32) -> Builder {
        self.iowq_max_workers = Some([bounded, unbounded]);
        self
    }

    /// Submission queue entries (default 1024): how many SQEs one
    /// `io_uring_enter` can submit.
    pub fn entries(mut self, entries: u32) -> Builder {
        self.cfg.entries = entries;
        self.cfg.cq_entries = self.cfg.cq_entries.max(entries);
        self
    }

    /// Completion queue entries (default 16384, at least `entries`). Also the
    /// cap on ops in flight: past it, new ops wait for a free slot.
    pub fn cq_entries(mut self, entries: u32) -> Builder {
        self.cfg.cq_entries = entries;
        self
    }

    /// Use `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN` where the
    /// kernel has them (6.1+; default on).
    pub fn defer_taskrun(mut self, on: bool) -> Builder {
        self.cfg.defer_taskrun = on;
        self
    }

    /// Use `IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG` where the
    /// kernel has them and `defer_taskrun` is off or missing (5.19+; default on).
    pub fn coop_taskrun(mut self, on: bool) -> Builder {
        self.cfg.coop_taskrun = on;
        self
    }

    /// Use `IORING_SETUP_SUBMIT_ALL` where the kernel has it (5.18+; default on).
    pub fn submit_all(mut self, on: bool) -> Builder {
        self.cfg.submit_all = on;
        self
    }

    /// Wake runtimes on other threads through `IORING_OP_MSG_RING` (5.18+;
    /// default on): one SQE on the waking thread's own ring, no syscall and
    /// no eventfd for the woken one. Off (or unsupported), wakes from other
    /// runtimes write the eventfd, as wakes from plain threads always do.
    pub fn msg_ring(mut self, on: bool) -> Builder {
        self.msg_ring = on;
        self
    }

    /// Most closures [`spawn_blocking`](crate::spawn_blocking) runs at once
    /// (default 64); more work waits for a free thread. The epoll driver's
    /// file and path operations (and ops whose opcode the kernel lacks)
    /// share the pool's threads but not this cap: they have their own
    /// ([`iowq_max_workers`](Builder::iowq_max_workers)' `bounded`, default
    /// 16), so closures that block for ever cannot stall them.
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long a blocking thread waits idle before exiting (default 10 s).
    pub fn blocking_keep_alive(mut self, idle: Duration) -> Builder {
        self.blocking_keep_alive = idle;
        self
    }

    /// Which backend runs the I/O (default [`DriverKind::Auto`]: the
    /// `CURING_DRIVER` environment variable if set, else io_uring with an
    /// epoll fallback when io_uring is blocked or missing). Asking for
    /// [`DriverKind::IoUring`] makes `build` fail with the reason instead
    /// of falling back; [`DriverKind::Epoll`] never uses io_uring.
    ///
    /// ```
    /// use curing::runtime::DriverKind;
    ///
    /// // Insist on io_uring: a clear error (blocked by seccomp, sysctl,
    /// // old kernel) rather than the fallback.
    /// match curing::Runtime::builder().driver(DriverKind::IoUring).build() {
    ///     Ok(rt) => assert_eq!(rt.driver_kind(), DriverKind::IoUring),
    ///     Err(e) => eprintln!("no io_uring here: {e}"),
    /// }
    /// ```
    pub fn driver(mut self, kind: DriverKind) -> Builder {
        self.cfg.driver = kind;
        self
    }

    /// Threads of a thread-per-core runtime, one ring each; see
    /// [`build_threads`](Builder::build_threads). `0` means one per CPU.
    pub fn threads(mut self, n: usize) -> Builder {
        self.threads = n;
        self
    }

    /// Builds the runtime, or says clearly why it cannot start.
    pub fn build(self) -> Result<Runtime, Error> {
        let blocking = Arc::new(Pool::new(
            self.max_blocking_threads,
            self.blocking_keep_alive,
        ));
        let mut driver = Driver::new(&self.cfg, &blocking)?;
        for &code in &self.disabled_opcodes {
            driver.disable_opcode(code);
        }
        if let Some([bounded, unbounded]) = self.iowq_max_workers {
            driver
                .set_iowq_max_workers(bounded, unbounded)
                .map_err(Error::Setup)?;
        }
        let executor = Executor::new().map_err(Error::Setup)?;
        driver.set_wake_fd(executor.wake_fd());
        driver.set_msg_ring(self.msg_ring);
        if driver.msg_ring() {
            let ring = crate::sys::thread::dup(driver.ring_fd()).map_err(Error::Setup)?;
            executor.set_msg_ring(ring);
        }
        Ok(Runtime {
            ctx: Rc::new(Context {
                core: Rc::new(Core::new(driver)),
                executor,
                timers: RefCell::new(Timers::default()),
                wakes: RefCell::new(Wakes::with_capacity(64)),
                timer_wakes: RefCell::new(Vec::new()),
                finished: RefCell::new(Vec::new()),
                blocking,
            }),
        })
    }
}

/// Runs `future` to completion on a new runtime on this thread.
///
/// ```
/// let n = curing::run(async {
///     let task = curing::spawn(async { 40 });
///     task.await.unwrap() + 2
/// });
/// assert_eq!(n, 42);
/// ```
///
/// # Panics
///
/// If the runtime cannot start (the message says why and what to do; use
/// [`Runtime::new`] to get the [`Error`] instead), if called inside a runtime,
/// or if `future` panics.
pub fn run<F: Future>(future: F) -> F::Output {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("curing: cannot start the runtime: {e}"));
    rt.block_on(future)
}

/// Spawns a task on the current thread's runtime. The future need not be
/// `Send`. Await the returned [`JoinHandle`] for its output; drop the handle
/// to let the task run detached.
///
/// ```
/// curing::run(async {
///     let h = curing::spawn(async { "done" });
///     assert_eq!(h.await.unwrap(), "done");
/// });
/// ```
///
/// # Panics
///
/// Outside a curing runtime.
pub fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    current().executor.spawn(future)
}

/// Metrics of the current thread's runtime; see [`Runtime::stats`].
///
/// # Panics
///
/// Outside a curing runtime.
pub fn stats() -> Stats {
    current().stats()
}

/// The live tasks of the current thread's runtime (id, name, state), for
/// diagnostics.
///
/// # Panics
///
/// Outside a curing runtime.
pub fn tasks() -> Vec<TaskInfo> {
    current().executor.tasks()
}

/// Which backend the current thread's runtime runs on; see
/// [`Runtime::driver_kind`].
///
/// # Panics
///
/// Outside a curing runtime.
pub fn driver_kind() -> DriverKind {
    current().driver().borrow().kind()
}

/// **Test hook, not part of the API** (feature `testing`): sends one
/// `IORING_OP_NOP` through the ring and waits for its completion, the
/// smallest possible op, for tests and for measuring the runtime's per-op
/// overhead (`benches/`).
///
/// ```
/// curing::run(async {
///     curing::runtime::nop().await.unwrap();
///     assert!(curing::runtime::stats().ops_completed >= 1);
/// });
/// ```
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub fn nop() -> impl std::future::Future<Output = std::io::Result<()>> + 'static {
    driver::submit(crate::op::Nop)
}

/// **Test hook, not part of the API** (feature `testing`): the next
/// `io_uring_enter` of the runtime on this thread fails with `errno` (e.g.
/// `EAGAIN`, `ENOMEM`) before reaching the kernel, so no queued SQE is
/// consumed; the driver must keep every op and submit it on a later turn
/// (docs/reliability.md, row 14).
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn fail_next_enter(errno: i32) {
    driver::faults::fail_next_enter(errno);
}
