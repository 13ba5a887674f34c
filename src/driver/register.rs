//! Registering resources with the ring: for now, the io-wq worker limits.
//!
//! ## io-wq workers
//!
//! Requests the kernel cannot complete without blocking (buffered writes
//! on most file systems, opens that miss the dentry cache, `fallocate`,
//! `splice`) run on the ring's io-wq kernel threads. "Bounded" work (regular
//! file and block I/O) gets at most one worker per CPU by default;
//! "unbounded" work (sockets, pipes, anything that may wait forever) is
//! limited only by `RLIMIT_NPROC`, so a burst can spawn hundreds of kernel
//! threads. `IORING_REGISTER_IOWQ_MAX_WORKERS` (Linux 5.15) caps both.

use super::Driver;
use std::io;

impl Driver {
    /// Caps the ring's io-wq workers (0 leaves a limit unchanged); returns
    /// the previous limits `[bounded, unbounded]`.
    pub(crate) fn set_iowq_max_workers(
        &self,
        bounded: u32,
        unbounded: u32,
    ) -> io::Result<[u32; 2]> {
        let mut max = [bounded, unbounded];
        self.ring.submitter().register_iowq_max_workers(&mut max)?;
        Ok(max)
    }
}
