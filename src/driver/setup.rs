//! Building the ring: setup flags with fallbacks, the opcode probe, and
//! turning setup failures into a [`crate::Error`] that says what to do.

use crate::Error;
use io_uring::{opcode, IoUring, Probe};
use std::io;

/// What the runtime asks of the ring; filled in by `runtime::Builder`.
#[derive(Clone, Debug)]
pub(crate) struct RingConfig {
    /// Submission queue entries (the kernel rounds up to a power of two).
    pub(crate) entries: u32,
    /// Completion queue entries; also the bound on ops in flight
    /// (docs/reliability.md, rule 6).
    pub(crate) cq_entries: u32,
    /// Ask for `SINGLE_ISSUER | DEFER_TASKRUN` (6.1+): completions are run
    /// only when this thread enters the kernel, with no IPIs.
    pub(crate) defer_taskrun: bool,
    /// Ask for `COOP_TASKRUN | TASKRUN_FLAG` (5.19+) when `defer_taskrun` is
    /// not available.
    pub(crate) coop_taskrun: bool,
    /// Ask for `SUBMIT_ALL` (5.18+): one bad SQE does not stop the batch.
    pub(crate) submit_all: bool,
    /// Which backend to use (see `driver::select`).
    pub(crate) driver: super::DriverKind,
}

/// The setup flags the ring actually got, after fallbacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetupFlags {
    /// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`.
    pub defer_taskrun: bool,
    /// `IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG`.
    pub coop_taskrun: bool,
    /// `IORING_SETUP_SUBMIT_ALL`.
    pub submit_all: bool,
    /// `IORING_SETUP_NO_SQARRAY` (6.6+): the kernel takes SQEs in ring
    /// order, without the index array (one memory read less per SQE).
    /// Always asked for; dropped first on older kernels.
    pub no_sqarray: bool,
}

/// Opcodes the core cannot run without: reading the wake-up eventfd, and
/// cancelling ops whose futures were dropped.
const REQUIRED: [(u8, &str); 2] = [
    (opcode::Read::CODE, "IORING_OP_READ"),
    (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
];

/// One NOP through the new ring, so that a seccomp filter that allows
/// `io_uring_setup` but refuses `io_uring_enter` is reported now, as an
/// error, rather than as a panic at the first park.
fn first_enter(ring: &mut IoUring) -> Result<(), Error> {
    let nop = opcode::Nop::new().build().user_data(0);
    // SAFETY: a NOP points at no memory.
    unsafe { ring.submission().push(&nop) }
        .map_err(|_| Error::Config("a new ring has no room for one entry".into()))?;
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                return Err(Error::PermissionDenied {
                    detail: "io_uring_enter was refused, most likely by a seccomp filter".into(),
                })
            }
            Err(e) => return Err(Error::Setup(e)),
        }
    }
    ring.completion().for_each(drop);
    Ok(())
}

/// The ring sizes the kernel accepts (checked for both backends, so a
/// configuration valid on one is valid on the other).
pub(crate) fn check_sizes(cfg: &RingConfig) -> Result<(), Error> {
    if cfg.entries > 32768 || cfg.cq_entries > 65536 {
        return Err(Error::Config(format!(
            "the kernel allows at most 32768 entries and 65536 cq_entries (got {} and {})",
            cfg.entries, cfg.cq_entries
        )));
    }
    if cfg.entries == 0 || cfg.cq_entries < cfg.entries {
        return Err(Error::Config(format!(
            "need entries > 0 and cq_entries >= entries (got {} and {})",
            cfg.entries, cfg.cq_entries
        )));
    }
    Ok(())
}

/// Builds a ring as close to `cfg` as the kernel allows, trying the optional
/// flags from cheapest to none.
pub(crate) fn build(cfg: &RingConfig) -> Result<(IoUring, SetupFlags, Probe), Error> {
    check_sizes(cfg)?;
    let wanted = SetupFlags {
        defer_taskrun: cfg.defer_taskrun,
        coop_taskrun: cfg.coop_taskrun,
        submit_all: cfg.submit_all,
        no_sqarray: true,
    };
    let mut last = None;
    for flags in fallbacks(wanted) {
        match try_build(cfg, flags) {
            Ok(mut ring) => {
                let probe = probe(&ring)?;
                first_enter(&mut ring)?;
                let flags = SetupFlags {
                    coop_taskrun: flags.coop_taskrun && !flags.defer_taskrun,
                    ..flags
                };
                return Ok((ring, flags, probe));
            }
            // EINVAL: an unknown flag on this kernel; try with fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(classify(e)),
        }
    }
    Err(classify(last.unwrap_or_else(|| {
        io::Error::from_raw_os_error(libc::EINVAL)
    })))
}

/// The flag sets to try, in order: what was asked, then each optional flag
/// dropped in turn (the newest first), ending with none.
fn fallbacks(wanted: SetupFlags) -> Vec<SetupFlags> {
    let mut out = vec![wanted];
    let mut f = wanted;
    for step in 0..4 {
        match step {
            0 => f.no_sqarray = false,
            1 => f.defer_taskrun = false,
            2 => f.coop_taskrun = false,
            _ => f.submit_all = false,
        }
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

fn try_build(cfg: &RingConfig, flags: SetupFlags) -> io::Result<IoUring> {
    let mut b = IoUring::builder();
    // The ring's memory is not inherited by a forked child (MADV_DONTFORK):
    // a child must not see, let alone reap, the parent's completions.
    b.dontfork();
    b.setup_cqsize(cfg.cq_entries);
    if flags.defer_taskrun {
        b.setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag();
    } else if flags.coop_taskrun {
        b.setup_coop_taskrun().setup_taskrun_flag();
    }
    if flags.submit_all {
        b.setup_submit_all();
    }
    if flags.no_sqarray {
        b.setup_no_sqarray();
    }
    b.build(cfg.entries)
}

fn probe(ring: &IoUring) -> Result<Probe, Error> {
    if !ring.params().is_feature_ext_arg() {
        return Err(Error::KernelTooOld {
            feature: "IORING_FEAT_EXT_ARG (waiting with a timeout)",
            needs: "5.11",
        });
    }
    if !ring.params().is_feature_nodrop() {
        return Err(Error::KernelTooOld {
            feature: "IORING_FEAT_NODROP (no lost completions on CQ overflow)",
            needs: "5.5",
        });
    }
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM) => Error::PermissionDenied {
                detail: "io_uring_register was refused, most likely by a seccomp filter".into(),
            },
            // The kernel is new enough (EXT_ARG, 5.11, was there): something
            // else refused the probe.
            _ => Error::Setup(e),
        })?;
    for (code, name) in REQUIRED {
        if !probe.is_supported(code) {
            return Err(Error::MissingOpcode { name });
        }
    }
    Ok(probe)
}

/// Turns an `io_uring_setup` error into an [`Error`] naming cause and fix.
pub(crate) fn classify(e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => Error::NotSupported,
        Some(libc::EPERM) => Error::PermissionDenied {
            detail: eperm_detail(),
        },
        Some(libc::ENOMEM) => Error::LockedMemory,
        _ => Error::Setup(e),
    }
}

/// Reads `kernel.io_uring_disabled` to say which policy blocked io_uring.
fn eperm_detail() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        Ok(v) if v.trim() == "2" => "sysctl kernel.io_uring_disabled is 2 (io_uring off for all)".into(),
        Ok(v) if v.trim() == "1" => {
            "sysctl kernel.io_uring_disabled is 1 (only members of kernel.io_uring_group may use it)"
                .into()
        }
        _ => "most likely a seccomp filter (container runtimes block io_uring by default)".into(),
    }
}
