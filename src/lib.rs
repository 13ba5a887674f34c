//! # curing: an io_uring completion runtime for Linux
//!
//! curing runs async Rust on io_uring, one runtime per thread, with no event
//! loop passed around. Every I/O call is a *trap*: a small value describing
//! the request, which the future turns into a submission-queue entry the
//! first time it is polled. The kernel does the work; the completion wakes the
//! task. Files are truly asynchronous (no thread pool), sockets need no
//! readiness polling, and thousands of ops go to the kernel in one syscall.
//!
//! ```no_run
//! use curing::buf::IoBuf;
//! use curing::net::TcpListener;
//!
//! fn main() -> std::io::Result<()> {
//!     curing::run(async {
//!         let listener = TcpListener::bind("127.0.0.1:7878")?;
//!         loop {
//!             let (stream, _peer) = listener.accept().await?;
//!             curing::spawn(async move {
//!                 let mut buf = vec![0u8; 4096];
//!                 loop {
//!                     let (res, b) = stream.read(buf).await;
//!                     let n = match res { Ok(0) | Err(_) => break, Ok(n) => n };
//!                     let (res, b) = stream.write_all(b.slice(..n)).await;
//!                     buf = b.into_inner();
//!                     if res.is_err() { break }
//!                 }
//!             });
//!         }
//!     })
//! }
//! ```
//!
//! ## The buffer contract
//!
//! I/O takes buffers by value and gives them back with the result, on success
//! and on error: `let (result, buf) = file.read_at(buf, 0).await;`. The kernel
//! may write into a buffer after the future that started the read is gone, so
//! curing must own it until the kernel says it is done. See [`buf`].
//!
//! ## The cancellation contract
//!
//! Dropping any curing future at any await point is safe: the op's buffers
//! stay alive (owned by the driver) until the kernel's completion arrives; an
//! `ASYNC_CANCEL` is sent; a descriptor that an accept or open created after
//! its future was dropped is closed. Dropping the runtime cancels every op
//! and waits (up to a second) for the kernel to let go before freeing
//! anything; what the kernel still holds after that is leaked, never freed
//! under it.
//!
//! ### Which calls lose nothing when dropped
//!
//! *Cancel-safe* means: dropping the future at any await point takes
//! nothing from the stream or socket that a later call will not get.
//!
//! | call | dropped before it finished |
//! |---|---|
//! | `read`, `read_exact`, `read_to_end`, `read_to_string`, `recv_with_fds` on TCP and Unix streams and their read halves; [`fs::File::read`], [`fs::File::read_to_end`]; child pipes' `read`, `read_to_end`; [`io::BufReader`]'s `read_line`, `read_until`, `read`, `read_exact` and [`io::Lines`] | **cancel-safe**: what it had read and what its op got anyway (bytes, then end of stream or an error such as a reset) go to the next read, in order |
//! | `read_timeout`, `read_deadline` on TCP and Unix streams and their read halves | the deadline **cancels the read and waits for it**: the buffer comes back with `TimedOut` (`timeout(d, stream.read(buf))` loses `buf` on `Elapsed`); bytes that came first are returned, later ones go to the next read |
//! | `recv`, `recv_from` on [`net::UdpSocket`] and [`net::UnixDatagram`] | **cancel-safe**: a datagram its op got anyway is returned by the next receive |
//! | [`net::PooledRecv`]'s `next` | **cancel-safe**: the receive stays with the `PooledRecv` |
//! | channel `recv`, `Mutex::lock`, `Semaphore::acquire`, `Event::wait`, `JoinHandle`, `TaskGroup::next` | **cancel-safe**: nothing is taken before the poll that returns it |
//! | `write`, `write_all`, `send`, `send_to`, `send_zc`, positional `write_at`; [`io::BufWriter`]'s `write_all`, `flush` and `shutdown` while a write is in flight | **not cancel-safe**: some, all or none of the bytes may have been written, and how many is not known |
//! | `accept` | the connection its op accepted anyway is **closed** (the client sees it end), not handed to the next `accept` |
//! | `connect`, `open`, `File::create` | the socket or file made anyway is closed |
//! | channel `send` | the message is dropped with the future; `reserve` then `Permit::send` keeps it |
//!
//! Tests: `tests/promises_cancel.rs` (each cancel-safe read, reset and end
//! of stream, and a seeded storm of cut-off reads checked byte for byte),
//! `tests/stress.rs`, `tests/faults.rs`.
//!
//! [`select!`] is where this table matters most: it drops the branches
//! that lost, so a `read` or channel `recv` racing a timer in a loop loses
//! nothing, while a losing `write` may have written part of its bytes.
//! [`join!`] and [`try_join!`] run several futures in one task to the end
//! (`try_join!` drops the rest at the first error). `tests/macros_select.rs`.
//!
//! ## Layers
//!
//! From the top down; each layer imports only from the layers below it
//! (`tests/layers.rs` checks the driver, the ops and the bottom modules):
//!
//! - **runtime** (`runtime`, `handle`, `threads`): the loop (run tasks,
//!   fire timers, submit and wait, dispatch completions) and the public
//!   [`Runtime`] and [`Builder`]. It makes its driver current on the thread.
//! - **I/O and task types** ([`fs`], [`net`], [`io`], [`process`], [`signal`],
//!   [`time`], [`sync`], [`task`], [`blocking`]): what users call. The
//!   stream types (TCP, Unix, their halves, child pipes, `File`'s reads
//!   and writes) are one implementation (`stream`).
//! - **executor**: tasks, wakers, the run queue, wakes from other threads.
//! - **ops** (`op`, one small file per request): the owned memory the
//!   kernel touches, the SQE, the fallback without io_uring (a typed
//!   syscall, run at once, on readiness or on the blocking pool), and the
//!   completion that gives the buffers back. `fd` holds shared descriptors
//!   and the read stash that makes stream reads cancel-safe.
//! - **driver**: the ring or the epoll reactor, one table of in-flight ops
//!   (single-shot and multishot) with one lifecycle, the kernel features
//!   probed once (`Features`), the thread's current driver, and ops whose
//!   opcode the kernel lacks run from their fallback. It knows completions
//!   and opaque wake tokens, not tasks or the runtime.
//! - **bottom** ([`buf`], `sys`, `wake`, `coop`, the blocking pool's
//!   threads): buffers (owned, aligned, registered, ring-provided), raw
//!   syscalls, wake tokens, the cooperative budget.
//!
//! `unsafe` lives in `driver`, `buf` and `sys` only.

// `unsafe` lives in `buf`, `driver` and `sys` (and `runtime`'s
// thread-local context) only: everything else uses their safe functions.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod blocking;
#[allow(unsafe_code)]
pub mod buf;
#[cfg(any(feature = "futures-io", feature = "tokio-io", feature = "hyper"))]
pub mod compat;
mod coop;
#[allow(unsafe_code)]
mod driver;
mod error;
mod executor;
mod fd;
pub mod fs;
mod handle;
pub mod io;
#[cfg(all(test, loom))]
mod loom_tests;
mod macros;
pub mod net;
mod op;
pub mod process;
pub mod runtime;
pub mod signal;
mod stream;
pub mod sync;
mod sync_prims;
#[allow(unsafe_code)]
mod sys;
pub mod task;
mod threads;
pub mod time;
mod trace;
mod wake;

#[doc(hidden)]
pub use macros::__private;

pub use blocking::spawn_blocking;
pub use error::Error;
pub use executor::{yield_now, JoinError, JoinHandle, TaskId, TaskInfo, TaskState};
pub use runtime::{run, spawn, Builder, Runtime};
pub use task::TaskBuilder;

/// Runs `async fn main` on a curing runtime: `#[curing::main] async fn
/// main() { ... }` is `fn main() { curing::run(async move { ... }) }`.
/// Feature `macros` (default).
///
/// ```no_run
/// #[curing::main]
/// async fn main() -> std::io::Result<()> {
///     let file = curing::fs::File::open("/etc/hostname").await?;
///     file.close().await
/// }
/// ```
///
/// Only on an `async fn main` without arguments:
///
/// ```compile_fail
/// #[curing::main]
/// fn main() {}
/// ```
#[cfg(feature = "macros")]
pub use curing_macros::main;

/// Runs an `async fn` test on a fresh curing runtime: `#[curing::test]
/// async fn t() { ... }` is `#[test] fn t() { curing::run(async move { ...
/// }) }`. Feature `macros` (default).
///
/// ```no_run
/// #[curing::test]
/// async fn sleeps() {
///     curing::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// It adds `#[test]` itself; a second one is an error:
///
/// ```compile_fail
/// #[curing::test]
/// #[test]
/// async fn twice() {}
/// ```
#[cfg(feature = "macros")]
pub use curing_macros::test;

/// Counters and setup facts of a runtime.
pub mod stats {
    pub use crate::driver::{SetupFlags, Stats};
}

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
