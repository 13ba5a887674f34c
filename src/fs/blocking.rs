//! The few file-system calls io_uring has no opcode for (listing a
//! directory, resolving a path, reading a symlink) run on the runtime's
//! blocking pool ([`crate::spawn_blocking`]), so the runtime thread never
//! blocks on them.

use std::io;

/// Runs `f` on the blocking pool and resolves to its output; a panic in
/// `f` becomes an `io::Error`.
pub(crate) async fn unblock<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    crate::spawn_blocking(f).await.map_err(io::Error::from)
}

/// Runs `f` on the blocking pool without waiting for it.
pub(crate) fn detach(f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    drop(crate::spawn_blocking(f));
    Ok(())
}
