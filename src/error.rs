//! `curing::Error`: what curing itself has to say (the runtime could not
//! start, and why). What the kernel says about an I/O call comes back as a
//! plain `std::io::Error` with its `raw_os_error`.

use std::io;

/// Why a curing runtime could not start, with what to do about it.
///
/// Every message names the cause and the fix, so that printing the error is
/// enough for a user to act:
///
/// ```no_run
/// match curing::Runtime::new() {
///     Ok(rt) => rt.block_on(async { /* ... */ }),
///     Err(e) => eprintln!("{e}"), // e.g. "io_uring is blocked (EPERM): ..."
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `io_uring_setup` returned `ENOSYS`: the kernel has no io_uring.
    #[error(
        "io_uring is not available (ENOSYS): this kernel was built without io_uring or \
         predates it. curing needs Linux 5.11 or newer with CONFIG_IO_URING=y"
    )]
    NotSupported,

    /// `io_uring_setup` returned `EPERM`: a policy forbids io_uring.
    #[error(
        "io_uring is blocked (EPERM): {detail}. Allow it: set `sysctl kernel.io_uring_disabled=0` \
         (or 1 and add this user to the group in kernel.io_uring_group), or run the container \
         with a seccomp profile that permits io_uring_setup, io_uring_enter and \
         io_uring_register"
    )]
    PermissionDenied {
        /// What curing could tell about the cause (the sysctl's value, or that
        /// a seccomp filter is the likely cause).
        detail: String,
    },

    /// `io_uring_setup` returned `ENOMEM`: most often `RLIMIT_MEMLOCK` (always
    /// charged before Linux 5.12; still hit with a very low limit after).
    #[error(
        "io_uring setup ran out of locked memory (ENOMEM): raise the memlock limit \
         (`ulimit -l`, or LimitMEMLOCK= for a systemd service) or ask for fewer ring \
         entries with Runtime::builder().entries(..); kernels before 5.12 charge every \
         ring to RLIMIT_MEMLOCK, newer ones still can when the limit is very low"
    )]
    LockedMemory,

    /// The kernel has io_uring but lacks a feature curing cannot do without.
    #[error(
        "the kernel is too old for curing: it lacks {feature}. curing needs Linux {needs} or newer"
    )]
    KernelTooOld {
        /// The missing feature, by its kernel name.
        feature: &'static str,
        /// The first Linux version that has it.
        needs: &'static str,
    },

    /// The kernel reports a required opcode as unsupported (an old kernel,
    /// or a restricted ring).
    #[error(
        "the kernel does not support the io_uring opcode {name}, which curing needs for its \
         core; use a newer kernel or lift the io_uring restriction that hides it"
    )]
    MissingOpcode {
        /// The opcode's kernel name, e.g. `IORING_OP_ASYNC_CANCEL`.
        name: &'static str,
    },

    /// The runtime was asked for something invalid (bad ring size and the like).
    #[error("invalid runtime configuration: {0}")]
    Config(String),

    /// Any other setup failure, with the kernel's error.
    #[error(
        "io_uring setup failed: {0}. If a seccomp filter or sandbox restricts io_uring, allow \
         io_uring_setup, io_uring_enter and io_uring_register; or run on the epoll driver \
         (CURING_DRIVER=epoll, or Runtime::builder().driver(DriverKind::Epoll))"
    )]
    Setup(#[source] io::Error),
}
