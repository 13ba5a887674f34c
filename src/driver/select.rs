//! Choosing the backend: io_uring, or the epoll emulator (`driver::emu`),
//! as [`DriverKind`] and the `CURING_DRIVER` environment variable say.

use super::emu::Emu;
use super::faults::Probed;
use super::ring::Ring;
use super::{setup, RingConfig, SetupFlags};
use crate::blocking::pool::Pool;
use crate::Error;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Which backend runs a runtime's I/O; set with
/// [`Builder::driver`](crate::Builder::driver), read back with
/// [`Runtime::driver_kind`](crate::Runtime::driver_kind).
///
/// Both backends have the same API and semantics. The epoll backend is a
/// fallback for places where io_uring cannot be used (a container's
/// seccomp profile, `sysctl kernel.io_uring_disabled`, a kernel before
/// 5.11): sockets, pipes and other pollable fds are driven by `epoll`,
/// file I/O and path operations run on the runtime's blocking pool
/// (the one behind [`spawn_blocking`](crate::spawn_blocking)). It costs more
/// syscalls per op than io_uring and has no `MSG_RING`, registered-buffer
/// zero-copy or kernel-side polling; see the README's "Running without
/// io_uring".
///
/// ```
/// use curing::runtime::DriverKind;
///
/// let rt = curing::Runtime::builder().driver(DriverKind::Epoll).build()?;
/// assert_eq!(rt.driver_kind(), DriverKind::Epoll);
/// rt.block_on(curing::fs::metadata("/"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DriverKind {
    /// The default: what the `CURING_DRIVER` environment variable says
    /// (`io_uring` or `uring`, `epoll`; anything else is a
    /// [`Config`](crate::Error::Config) error) or, if it is unset,
    /// io_uring, falling back to epoll when io_uring is blocked or missing
    /// (`NotSupported`, `PermissionDenied`, `KernelTooOld`,
    /// `MissingOpcode`), with one line on stderr saying why and how to
    /// get io_uring back. A runtime never reports `Auto` as its kind.
    #[default]
    Auto,
    /// The kernel's io_uring, or a clear [`Error`] if it cannot be used.
    IoUring,
    /// The epoll emulator, whatever the kernel has.
    Epoll,
}

/// The environment variable [`DriverKind::Auto`] reads.
pub(crate) const ENV: &str = "CURING_DRIVER";

/// What `CURING_DRIVER` asks for: `None` if unset or empty.
fn from_env() -> Result<Option<DriverKind>, Error> {
    let Ok(v) = std::env::var(ENV) else {
        return Ok(None);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(None),
        "io_uring" | "uring" | "io-uring" => Ok(Some(DriverKind::IoUring)),
        "epoll" => Ok(Some(DriverKind::Epoll)),
        other => Err(Error::Config(format!(
            "{ENV}={other:?} is not a driver; use `io_uring` (or `uring`), `epoll`, or \
             leave it unset for io_uring with an epoll fallback"
        ))),
    }
}

/// Whether a setup error means "io_uring is blocked or missing here", as
/// opposed to a bad configuration or a resource problem.
fn unavailable(e: &Error) -> bool {
    matches!(
        e,
        Error::NotSupported
            | Error::PermissionDenied { .. }
            | Error::KernelTooOld { .. }
            | Error::MissingOpcode { .. }
    )
}

/// Builds the backend `cfg.driver` asks for; the epoll backend runs its
/// blocking ops on `pool`.
pub(super) fn build(
    cfg: &RingConfig,
    pool: &Arc<Pool>,
) -> Result<(Ring, SetupFlags, Probed, DriverKind), Error> {
    let kind = match cfg.driver {
        DriverKind::Auto => from_env()?,
        k => Some(k),
    };
    match kind {
        Some(DriverKind::Epoll) => epoll(cfg, pool),
        Some(_) => uring(cfg),
        None => match uring(cfg) {
            Err(e) if unavailable(&e) => {
                static LOGGED: AtomicBool = AtomicBool::new(false);
                if !LOGGED.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "curing: using the epoll fallback driver because io_uring cannot be \
                         used: {e} (set {ENV}=epoll to choose it silently)"
                    );
                }
                epoll(cfg, pool)
            }
            other => other,
        },
    }
}

fn uring(cfg: &RingConfig) -> Result<(Ring, SetupFlags, Probed, DriverKind), Error> {
    let (ring, flags, probe) = setup::build(cfg)?;
    let ring = Ring::Uring(ManuallyDrop::new(ring));
    Ok((ring, flags, Probed::new(&probe), DriverKind::IoUring))
}

fn epoll(
    cfg: &RingConfig,
    pool: &Arc<Pool>,
) -> Result<(Ring, SetupFlags, Probed, DriverKind), Error> {
    setup::check_sizes(cfg)?;
    let emu = Emu::new(cfg.entries, cfg.cq_entries, pool.clone()).map_err(Error::Setup)?;
    let ring = Ring::Epoll(ManuallyDrop::new(Box::new(emu)));
    Ok((
        ring,
        SetupFlags::default(),
        Probed::from_fn(super::emu::supports),
        DriverKind::Epoll,
    ))
}
