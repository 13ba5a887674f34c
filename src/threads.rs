//! Thread-per-core: [`Threads`], one runtime (one ring, one executor) per
//! thread, each running its own tasks. Nothing is shared or stolen between
//! them; work goes to a chosen thread through its [`Handle`], and listeners
//! can share a port through `SO_REUSEPORT` (one listener per thread, the
//! kernel spreading connections).

use crate::runtime::{Builder, Handle, RemoteJoinHandle};
use crate::sync::thread::oneshot;
use crate::Error;
use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, OnceLock};

/// Every worker's handle, known once all have started.
type Peers = Arc<OnceLock<Arc<[Handle]>>>;

thread_local! {
    /// On a worker of a [`Threads`]: its index and every worker's handle
    /// (set once all workers have started).
    static WORKER: RefCell<Option<(usize, Peers)>> = const { RefCell::new(None) };
}

/// A thread-per-core runtime: `n` threads, each with its own ring. Made by
/// [`Builder::build_threads`]; dropping it stops every thread (cancelling
/// their tasks) and joins them.
///
/// ```
/// let threads = curing::Runtime::builder().threads(2).build_threads()?;
/// // Run a future on every thread; each knows its index.
/// let ids = threads.block_on_each(|i| async move {
///     assert_eq!(curing::runtime::thread_index(), Some(i));
///     i * 10
/// });
/// assert_eq!(ids, [0, 10]);
/// // Send work to a chosen thread.
/// let on_one = threads.handle(1).spawn(async { curing::runtime::thread_index() });
/// assert_eq!(on_one.join().unwrap(), Some(1));
/// # Ok::<(), curing::Error>(())
/// ```
pub struct Threads {
    /// One per thread, in index order.
    handles: Arc<[Handle]>,
    /// Tells each thread to stop.
    stops: Vec<oneshot::Sender<()>>,
    /// Joined on drop.
    joins: Vec<std::thread::JoinHandle<()>>,
}

impl Builder {
    /// Starts a thread-per-core runtime with [`threads`](Builder::threads)
    /// threads (0: one per CPU), each with a runtime built from these
    /// settings. Fails (stopping those already started) if any cannot start.
    pub fn build_threads(self) -> Result<Threads, Error> {
        let n = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let peers: Peers = Arc::default();
        let mut threads = Threads {
            handles: Arc::from(Vec::new()),
            stops: Vec::new(),
            joins: Vec::new(),
        };
        let mut handles = Vec::with_capacity(n);
        for index in 0..n {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let (builder, peers) = (self.clone(), peers.clone());
            let join = std::thread::Builder::new()
                .name(format!("curing-{index}"))
                .spawn(move || worker(index, builder, peers, ready_tx, stop_rx))
                .map_err(Error::Setup)?;
            threads.joins.push(join);
            threads.stops.push(stop_tx);
            match ready_rx.recv() {
                Ok(Ok(handle)) => handles.push(handle),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(Error::Setup(std::io::Error::other("worker thread died"))),
            }
        }
        threads.handles = Arc::from(handles);
        let _ = peers.set(threads.handles.clone());
        Ok(threads)
    }
}

fn worker(
    index: usize,
    builder: Builder,
    peers: Peers,
    ready: std::sync::mpsc::Sender<Result<Handle, Error>>,
    stop: oneshot::Receiver<()>,
) {
    // Process-directed signals go to a thread that asked for them.
    crate::sys::thread::block_async_signals();
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => return drop(ready.send(Err(e))),
    };
    WORKER.with(|w| *w.borrow_mut() = Some((index, peers)));
    let _ = ready.send(Ok(rt.handle()));
    rt.block_on(async move {
        let _ = stop.await;
    });
    drop(rt);
    WORKER.with(|w| w.borrow_mut().take());
}

impl Threads {
    /// Number of threads.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Always false: there is at least one thread.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The handle of thread `index`, to send it work.
    ///
    /// # Panics
    ///
    /// If `index >= len()`.
    pub fn handle(&self, index: usize) -> &Handle {
        &self.handles[index]
    }

    /// Every thread's handle, in index order.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Runs `make(index)`'s future on every thread and waits for all of them
    /// (from this plain thread); their outputs in index order. A panic in
    /// one is resumed here.
    ///
    /// # Panics
    ///
    /// On a thread running a curing runtime, or if a future panics.
    pub fn block_on_each<F, Fut>(&self, make: F) -> Vec<Fut::Output>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        crate::runtime::assert_can_block("Threads::block_on_each");
        self.spawn_each(make)
            .into_iter()
            .map(|h| match h.join() {
                Ok(v) => v,
                Err(e) => match e.try_into_panic() {
                    Ok(p) => std::panic::resume_unwind(p),
                    Err(e) => panic!("curing: a thread's future did not finish: {e}"),
                },
            })
            .collect()
    }

    /// Spawns `make(index)`'s future on every thread; handles to their
    /// outputs, in index order (await them, or join from a plain thread).
    pub fn spawn_each<F, Fut>(&self, make: F) -> Vec<RemoteJoinHandle<Fut::Output>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let make = Arc::new(make);
        self.handles
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let make = make.clone();
                h.spawn_with(move || make(i))
            })
            .collect()
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for join in self.joins.drain(..) {
            let _ = join.join();
        }
    }
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads").field("len", &self.len()).finish()
    }
}

/// On a worker thread of a [`Threads`]: its index. `None` elsewhere.
pub fn thread_index() -> Option<usize> {
    WORKER.with(|w| w.borrow().as_ref().map(|(i, _)| *i))
}

/// On a worker thread of a [`Threads`]: every worker's handle, in index
/// order, to send work to a chosen one. Empty elsewhere.
///
/// ```
/// let threads = curing::Runtime::builder().threads(2).build_threads()?;
/// let got = threads.block_on_each(|i| async move {
///     // Each thread asks the other for its index.
///     let other = &curing::runtime::peers()[1 - i];
///     other.spawn(async { curing::runtime::thread_index() }).await.unwrap()
/// });
/// assert_eq!(got, [Some(1), Some(0)]);
/// # Ok::<(), curing::Error>(())
/// ```
pub fn peers() -> Vec<Handle> {
    WORKER.with(|w| {
        w.borrow()
            .as_ref()
            .and_then(|(_, all)| all.get())
            .map(|all| all.to_vec())
            .unwrap_or_default()
    })
}
