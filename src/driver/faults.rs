//! Testing-only fault injection (docs/reliability.md, rows 2
//! and 14): make the probe report an opcode as missing, and make
//! the next `io_uring_enter` fail.
//!
//! Neither hook changes behaviour unless a test asks for it: the opcode set
//! is empty by default, and the enter hook is one thread-local read per
//! `io_uring_enter` (next to a syscall), and none at all without the
//! `testing` feature. They are reached through `#[doc(hidden)]` items
//! (`Builder::disable_opcode`, `runtime::fail_next_enter`) that exist only
//! with the `testing` feature: test hooks, not part of the API.

use io_uring::Probe;

/// The opcodes the backend supports (the kernel's probe), minus the
/// opcodes a test disabled.
pub(crate) struct Probed {
    /// One bit per opcode (0..=255) the backend runs.
    supported: [u64; 4],
}

impl Probed {
    /// What `IORING_REGISTER_PROBE` said.
    pub(crate) fn new(kernel: &Probe) -> Probed {
        Probed::from_fn(|code| kernel.is_supported(code))
    }

    /// The opcodes for which `supported` says yes.
    pub(crate) fn from_fn(supported: impl Fn(u8) -> bool) -> Probed {
        let mut bits = [0u64; 4];
        for code in 0..=u8::MAX {
            if supported(code) {
                bits[usize::from(code / 64)] |= 1 << (code % 64);
            }
        }
        Probed { supported: bits }
    }

    /// Whether ops with `code` may be pushed: the backend has it and no
    /// test disabled it.
    #[inline]
    pub(crate) fn is_supported(&self, code: u8) -> bool {
        self.supported[usize::from(code / 64)] & (1 << (code % 64)) != 0
    }

    /// From now on, report `code` as unsupported.
    pub(crate) fn disable(&mut self, code: u8) {
        self.supported[usize::from(code / 64)] &= !(1 << (code % 64));
    }
}

#[cfg(any(test, feature = "testing"))]
thread_local! {
    /// The errno the next `io_uring_enter` on this thread fails with,
    /// without reaching the kernel (so no SQE is consumed).
    static NEXT_ENTER_ERROR: std::cell::Cell<Option<i32>> = const { std::cell::Cell::new(None) };
}

/// Makes the next `io_uring_enter` of the runtime on this thread fail with
/// `errno` once, before the kernel sees it (the SQEs stay queued).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn fail_next_enter(errno: i32) {
    NEXT_ENTER_ERROR.with(|e| e.set(Some(errno)));
}

/// The injected error for this enter, if a test asked for one.
#[cfg(any(test, feature = "testing"))]
pub(super) fn take_enter_error() -> Option<std::io::Error> {
    NEXT_ENTER_ERROR
        .try_with(|e| e.take())
        .ok()
        .flatten()
        .map(std::io::Error::from_raw_os_error)
}

/// Without the `testing` feature no test can ask for an error.
#[cfg(not(any(test, feature = "testing")))]
#[inline(always)]
pub(super) fn take_enter_error() -> Option<std::io::Error> {
    None
}

impl super::Driver {
    /// Testing only: report `code` as unsupported from now on.
    pub(crate) fn disable_opcode(&mut self, code: u8) {
        self.probe.disable(code);
    }
}
