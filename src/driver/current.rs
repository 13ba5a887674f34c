//! The driver of the runtime running on this thread, and what its backend
//! can do: the bottom of the layers.
//!
//! Ops find their ring here ([`current`]), and I/O types ask [`features`]
//! which kernel features to use, without knowing about the runtime above
//! (which makes a [`Core`] current while it runs, see [`Entered`]) and
//! without borrowing the driver.

use super::{Driver, FixedMem, RingShared};
use crate::sys::current::{self as slot, Slot};
use io_uring::opcode;
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

/// What the backend can do, probed once when the runtime starts (from the
/// kernel's opcode probe, minus any opcode a test disabled). Some kernel
/// features have no probe bit of their own; each field says which opcode
/// stands for it, and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// `IORING_RECVSEND_POLL_FIRST` on receives (Linux 5.19). Older kernels
    /// refuse a non-zero `ioprio` on a receive; `IORING_OP_SOCKET` came in
    /// the same release, so its bit stands for it.
    pub(crate) poll_first: bool,
    /// `IORING_OP_SOCKET` (Linux 5.19): sockets made through the ring.
    pub(crate) socket: bool,
    /// Multishot accept (Linux 5.19, with `IORING_OP_SOCKET`'s release).
    pub(crate) accept_multishot: bool,
    /// Provided-buffer rings with multishot receive (Linux 6.0);
    /// `IORING_OP_SEND_ZC` came in the same release, so its bit stands for
    /// it.
    pub(crate) buf_ring: bool,
    /// `IORING_OP_SEND_ZC` (Linux 6.0): zero-copy sends.
    pub(crate) send_zc: bool,
    /// `IORING_OP_SHUTDOWN` (Linux 5.11).
    pub(crate) shutdown: bool,
    /// `IORING_OP_FTRUNCATE` (Linux 6.9).
    pub(crate) ftruncate: bool,
    /// `IORING_OP_WAITID` (Linux 6.7): waiting for a child in the ring.
    pub(crate) waitid: bool,
}

impl Features {
    /// The features of a backend that runs the opcodes `supports` says yes
    /// to.
    pub(crate) fn from_probe(supports: impl Fn(u8) -> bool) -> Features {
        let socket = supports(opcode::Socket::CODE);
        let send_zc = supports(opcode::SendZc::CODE);
        Features {
            poll_first: socket,
            socket,
            accept_multishot: socket,
            buf_ring: send_zc,
            send_zc,
            shutdown: supports(opcode::Shutdown::CODE),
            ftruncate: supports(opcode::Ftruncate::CODE),
            waitid: supports(opcode::WaitId::CODE),
        }
    }
}

/// A driver and its features: what a runtime makes current on its thread.
pub(crate) struct Core {
    /// The ring and the ops in it.
    pub(crate) driver: RefCell<Driver>,
    /// Probed once at start; read without borrowing the driver.
    pub(crate) features: Features,
}

impl Core {
    /// Wraps `driver`; its features are fixed from now on.
    pub(crate) fn new(driver: Driver) -> Core {
        let features = Features::from_probe(|code| driver.supports(code));
        Core {
            driver: RefCell::new(driver),
            features,
        }
    }
}

impl Core {
    /// Maps and registers `len` bytes of fixed-buffer memory with the
    /// ring (see `Driver::register_fixed_mem`).
    pub(crate) fn register_fixed_mem(&self, len: usize) -> io::Result<Rc<FixedMem>> {
        self.driver.borrow_mut().register_fixed_mem(len)
    }

    /// Gives registered memory back: unregistered once no holder is
    /// left. From a drop: if the driver is busy (it never is when user
    /// code drops a buffer), the driver collects it at the next
    /// registration or at exit instead.
    pub(crate) fn release_fixed_mem(&self, mem: Rc<FixedMem>) {
        if let Ok(mut driver) = self.driver.try_borrow_mut() {
            driver.release_fixed_mem(mem);
        }
    }

    /// Registers a provided-buffer ring of `count` buffers of `buf_size`
    /// bytes, if the kernel has buffer rings (`Features::buf_ring`) and
    /// the registration succeeds.
    pub(crate) fn register_buf_ring(&self, count: u16, buf_size: usize) -> Option<Rc<RingShared>> {
        if !self.features.buf_ring {
            return None;
        }
        self.driver
            .borrow_mut()
            .register_buf_ring(count, buf_size)
            .ok()
    }
}

thread_local! {
    /// The core of the runtime running on this thread (see `sys::current`).
    static CURRENT: Slot<Core> = const { Slot::new() };
}

/// Calls `f` with the core current on this thread, if any.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    slot::with(&CURRENT, f)
}

/// The core of the runtime on this thread.
///
/// # Panics
///
/// Outside a curing runtime, with a message saying how to start one.
#[inline]
pub(crate) fn current() -> Rc<Core> {
    slot::current(&CURRENT).expect(
        "curing: no runtime on this thread; call this inside curing::run(...) or Runtime::block_on(...)",
    )
}

/// The features of the backend of the runtime on this thread.
///
/// # Panics
///
/// Outside a curing runtime.
#[inline]
pub(crate) fn features() -> Features {
    with_current(|core| {
        core.expect("curing: no runtime on this thread; call this inside curing::run(...)")
            .features
    })
}

/// Makes a core current on this thread until dropped.
pub(crate) struct Entered(#[allow(dead_code)] slot::Entered<Core>);

impl Entered {
    /// Makes `core` current.
    ///
    /// # Panics
    ///
    /// If a core is current on this thread already.
    pub(crate) fn new(core: &Rc<Core>) -> Entered {
        Entered(slot::enter(&CURRENT, core).expect("a driver is already current on this thread"))
    }
}

/// Whether `core` is the one current on this thread.
pub(crate) fn is_current(core: &std::rc::Weak<Core>) -> bool {
    slot::is(&CURRENT, core)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Core, Entered};
    use crate::blocking::pool::Pool;
    use crate::driver::{submit, Driver, DriverKind, RingConfig};
    use crate::wake::Wakes;
    use std::future::Future;
    use std::pin::pin;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    fn config(driver: DriverKind) -> RingConfig {
        RingConfig {
            entries: 64,
            cq_entries: 128,
            defer_taskrun: true,
            coop_taskrun: true,
            submit_all: true,
            driver,
        }
    }

    /// The driver on its own, with no runtime: push an op (first poll),
    /// wait in the kernel, take the completion (second poll). Also a batch,
    /// and an op whose future is dropped in flight, which the driver
    /// finishes itself.
    #[test]
    fn push_wait_pop_with_no_runtime() {
        for kind in [DriverKind::IoUring, DriverKind::Epoll] {
            let pool = Arc::new(Pool::new(4, Duration::from_secs(1)));
            let driver = match Driver::new(&config(kind), &pool) {
                Ok(d) => d,
                Err(e) if kind == DriverKind::IoUring => {
                    println!("skipped io_uring: {e}");
                    continue;
                }
                Err(e) => panic!("epoll driver: {e}"),
            };
            let core = Rc::new(Core::new(driver));
            let _entered = Entered::new(&core);
            let mut cx = Context::from_waker(Waker::noop());
            let (mut wakes, mut finished) = (Wakes::default(), Vec::new());

            let mut one = pin!(submit(crate::op::Nop));
            assert!(one.as_mut().poll(&mut cx).is_pending(), "{kind:?}");
            assert_eq!(core.driver.borrow().in_kernel(), 1);
            core.driver.borrow_mut().park(Some(Duration::from_secs(5)));
            core.driver
                .borrow_mut()
                .take_ready(&mut wakes, &mut finished);
            assert_eq!(wakes.tasks.len() + wakes.wakers.len(), 1, "{kind:?}");
            assert!(matches!(one.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));

            let mut batch: Vec<_> = (0..32).map(|_| Box::pin(submit(crate::op::Nop))).collect();
            for op in &mut batch {
                assert!(op.as_mut().poll(&mut cx).is_pending());
            }
            // Dropped in flight: the driver keeps the op until its CQE.
            let mut dropped = Box::pin(submit(crate::op::Nop));
            assert!(dropped.as_mut().poll(&mut cx).is_pending());
            drop(dropped);
            let mut left = 50;
            while core.driver.borrow().in_kernel() > 0 && left > 0 {
                core.driver
                    .borrow_mut()
                    .park(Some(Duration::from_millis(100)));
                left -= 1;
            }
            core.driver
                .borrow_mut()
                .take_ready(&mut wakes, &mut finished);
            assert_eq!(finished.len(), 1, "{kind:?}: the dropped op, finished");
            for (op, completion) in finished.drain(..) {
                op.finish(completion);
            }
            for op in &mut batch {
                assert!(matches!(op.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
            }
            let stats = core.driver.borrow().stats();
            assert_eq!(
                (stats.ops_submitted, stats.ops_completed),
                (34, 34),
                "{kind:?}"
            );
            assert_eq!(stats.ops_in_flight, 0);
        }
    }
}
