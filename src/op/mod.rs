//! One file per kind of io_uring request ("trap"): a struct that owns
//! everything the kernel may touch, the SQE it builds, and how its CQE
//! becomes a typed result. See [`crate::driver::Op`] for the contract.
//!
//! Ops are `pub(crate)`: users reach them only through the I/O types, which
//! call `submit(op).await` and nothing else.

// Files.
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod openat;
pub(crate) mod statx;
// Sockets.
pub(crate) mod accept;
pub(crate) mod connect;
pub(crate) mod shutdown;
pub(crate) mod socket;

mod close;
mod nop;
mod read;
mod recv;
mod send;
mod write;

pub(crate) use close::Close;
pub(crate) use nop::Nop;
pub(crate) use read::Read;
pub(crate) use recv::Recv;
pub(crate) use send::Send;
pub(crate) use write::Write;
