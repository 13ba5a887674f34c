//! One file per kind of io_uring request ("trap"): a struct that owns
//! everything the kernel may touch, the SQE it builds, and how its CQE
//! becomes a typed result. See [`crate::driver::Op`] for the contract.
//!
//! Ops are `pub(crate)`: users reach them only through the I/O types, which
//! call `submit(op).await` and nothing else.

// Files.
pub(crate) mod at;
pub(crate) mod fallocate;
pub(crate) mod fixed_file_rw;
pub(crate) mod fsync;
pub(crate) mod ftruncate;
pub(crate) mod linkat;
pub(crate) mod mkdirat;
pub(crate) mod openat;
pub(crate) mod openat2;
pub(crate) mod read_fixed;
pub(crate) mod readv;
pub(crate) mod renameat;
pub(crate) mod splice;
pub(crate) mod statx;
pub(crate) mod symlinkat;
pub(crate) mod unlinkat;
pub(crate) mod write_fixed;
pub(crate) mod writev;
// Sockets.
pub(crate) mod accept;
pub(crate) mod accept_multi;
pub(crate) mod connect;
pub(crate) mod recv_msg;
pub(crate) mod recv_multi;
pub(crate) mod send_msg;
pub(crate) mod send_zc;
pub(crate) mod shutdown;
pub(crate) mod socket;
// Processes, threads.
pub(crate) mod poll;
pub(crate) mod waitid;

mod close;
// Only `runtime::nop` (a test hook) sends it.
#[cfg(any(test, feature = "testing"))]
mod nop;
mod read;
mod recv;
mod send;
mod write;

pub(crate) use close::close;
#[cfg(any(test, feature = "testing"))]
pub(crate) use nop::Nop;
pub(crate) use read::{Read, StreamRead};
pub(crate) use recv::Recv;
pub(crate) use send::Send;
pub(crate) use write::Write;
