//! Structured concurrency: [`TaskGroup`] (a nursery that owns its children)
//! and [`as_completed`].
//!
//! A plain [`spawn`](crate::spawn) starts a task that nobody owns: if its
//! caller fails, the task runs on. A [`TaskGroup`] owns what it spawns:
//! awaiting the group joins every child, a failure cancels the others
//! (by default), and dropping the group cancels whatever still runs, so no
//! task outlives the code that started it.
//!
//! ## Coming from asyncio
//!
//! **Run several and collect all results** — `asyncio.gather`:
//!
//! ```python
//! pages = await asyncio.gather(fetch(a), fetch(b))        # error: the others run on
//! ```
//! ```
//! # use curing::task::TaskGroup;
//! # async fn fetch(url: &'static str) -> std::io::Result<&'static str> { Ok(url) }
//! # curing::run(async { let (a, b) = ("a", "b");
//! let mut group = TaskGroup::new();
//! group.spawn(fetch(a));
//! group.spawn(fetch(b));
//! let pages = group.join().await?;   // spawn order; first error cancels the others
//! # assert_eq!(pages, ["a", "b"]);
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! **Keep every outcome, errors included** —
//! `gather(..., return_exceptions=True)`:
//!
//! ```python
//! outcomes = await asyncio.gather(*jobs, return_exceptions=True)
//! ```
//! ```
//! # use curing::task::{GroupError, TaskGroup};
//! # curing::run(async {
//! # let jobs = [1, 2].map(|n| async move { Ok::<_, std::io::Error>(n) });
//! let mut group = TaskGroup::wait_all();
//! for job in jobs {
//!     group.spawn(job);
//! }
//! let outcomes: Vec<Result<_, GroupError<_>>> = group.results().await;
//! # assert_eq!(outcomes.len(), 2);
//! # });
//! ```
//!
//! **First one wins** — `asyncio.wait(..., return_when=FIRST_COMPLETED)`,
//! then cancelling the pending set by hand:
//!
//! ```python
//! done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED)
//! for t in pending: t.cancel()
//! ```
//! ```
//! # use curing::task::TaskGroup;
//! # async fn connect(to: &'static str) -> std::io::Result<&'static str> { Ok(to) }
//! # curing::run(async { let (primary, backup) = ("primary", "backup");
//! let mut race = TaskGroup::first_completed();
//! race.spawn(connect(primary));
//! race.spawn(connect(backup));
//! let winner = race.next().await.unwrap()?;   // the loser is already cancelled
//! # assert_eq!(winner, "primary");
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! **Results as they finish** — `asyncio.as_completed`:
//!
//! ```python
//! for next_done in asyncio.as_completed(aws):
//!     print(await next_done)
//! ```
//! ```
//! # use curing::task::as_completed;
//! # curing::run(async {
//! # let futures = [1, 2].map(|n| async move { n });
//! let mut done = as_completed(futures);   // or a TaskGroup: group.next().await
//! while let Some(out) = done.next().await {
//!     println!("{out:?}");
//! }
//! # });
//! ```
//!
//! **A deadline on all of it** — `asyncio.timeout` / trio's `fail_after`:
//!
//! ```
//! # use curing::task::TaskGroup;
//! # use std::time::Duration;
//! # curing::run(async {
//! # let mut group = TaskGroup::<u8, std::io::Error>::new();
//! # group.spawn(async { Ok(1) });
//! // Everything still running at the deadline is cancelled with the group.
//! let values = curing::time::CancelScope::after(Duration::from_secs(2))
//!     .fail(group.join())
//!     .await??;
//! # assert_eq!(values, [1]);
//! # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! **A server: one child per connection** — tokio's `JoinSet` in an accept
//! loop, or a detached `tokio::spawn` per connection. A
//! [`TaskGroup::reaping`] group frees each child's slot and outcome the
//! moment it finishes, so nobody has to call `next` to keep memory bounded;
//! `shutdown().await` (or dropping the group) cancels the connections still
//! open:
//!
//! ```
//! # use curing::net::{TcpListener, TcpStream};
//! # use curing::task::TaskGroup;
//! # use std::io;
//! # async fn handle(_: TcpStream) -> io::Result<()> { Ok(()) }
//! # curing::run(async {
//! # let listener = TcpListener::bind("127.0.0.1:0")?;
//! # let addr = listener.local_addr()?;
//! # curing::spawn(async move { let _ = TcpStream::connect(addr).await; });
//! let mut connections = TaskGroup::reaping();
//! # for _ in 0..1 {
//! let (stream, peer) = listener.accept().await?;   // in the accept loop
//! connections.spawn(async move {
//!     if let Err(e) = handle(stream).await {
//!         eprintln!("{peer}: {e}");   // outcomes are dropped: log here
//!     }
//!     Ok::<_, io::Error>(())
//! });
//! # }
//! // On stop: cancel the open connections and wait until they have ended.
//! connections.shutdown().await;
//! # io::Result::Ok(()) }).unwrap();
//! ```
//!
//! `examples/echo.rs` is the whole pattern: accept until Ctrl-C, a grace
//! period (`timeout(grace, connections.next())`: `next` on a reaping group
//! waits until no child runs), then `shutdown`.
//!
//! Where asyncio's `gather` leaves the other tasks running after an error
//! and `wait` leaves the pending set for you to cancel, a group does both
//! for you. How a cancelled child can still run async cleanup is in the
//! *Cleanup* notes of [`CancelScope`](crate::time::CancelScope).
//!
//! ## A full example
//!
//! ```
//! use curing::task::{GroupError, TaskGroup};
//! use curing::time::sleep;
//! use std::io;
//! use std::time::Duration;
//!
//! async fn job(ms: u64, fail: bool) -> io::Result<u64> {
//!     sleep(Duration::from_millis(ms)).await;
//!     if fail {
//!         return Err(io::Error::other("boom"));
//!     }
//!     Ok(ms)
//! }
//!
//! curing::run(async {
//!     // Fail fast: the 5 ms failure cancels the 10 s job.
//!     let mut group = TaskGroup::new();
//!     group.spawn(job(10_000, false));
//!     group.spawn(job(5, true));
//!     match group.join().await {
//!         Err(GroupError::Failed(e)) => assert_eq!(e.to_string(), "boom"),
//!         other => panic!("{other:?}"),
//!     }
//!
//!     // Completion order.
//!     let mut group = TaskGroup::new();
//!     group.spawn(job(20, false));
//!     group.spawn(job(1, false));
//!     assert_eq!(group.next().await.unwrap().unwrap(), 1);
//!     assert_eq!(group.next().await.unwrap().unwrap(), 20);
//!     assert!(group.next().await.is_none());
//! });
//! ```

mod as_completed;
mod error;
mod group;

use crate::executor::JoinHandle;
use std::future::Future;
use std::rc::Rc;

pub use as_completed::{as_completed, AsCompleted};
pub use error::GroupError;
pub use group::TaskGroup;

/// Spawns tasks with options: a name for diagnostics.
///
/// ```
/// curing::run(async {
///     let handle = curing::TaskBuilder::new().name("worker").spawn(async { 7 });
///     assert_eq!(handle.name(), Some("worker"));
///     let names: Vec<_> = curing::runtime::tasks().into_iter().filter_map(|t| t.name).collect();
///     assert_eq!(names, ["worker"]);
///     assert_eq!(handle.await.unwrap(), 7);
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct TaskBuilder {
    name: Option<Rc<str>>,
}

impl TaskBuilder {
    /// A builder with no options set.
    pub fn new() -> TaskBuilder {
        TaskBuilder::default()
    }

    /// Names the task; the name shows in [`crate::runtime::tasks`] and
    /// [`JoinHandle::name`].
    pub fn name(mut self, name: &str) -> TaskBuilder {
        self.name = Some(name.into());
        self
    }

    /// Spawns `future` on the current thread's runtime, as [`crate::spawn`].
    ///
    /// # Panics
    ///
    /// Outside a curing runtime.
    pub fn spawn<F: Future + 'static>(self, future: F) -> JoinHandle<F::Output> {
        crate::runtime::current()
            .executor
            .spawn_named(self.name, future)
    }
}
