//! The practical limit: io_uring by hand with the io-uring crate, no runtime,
//! no tasks, no wakers. One thread, one ring (set up like curing's:
//! `SINGLE_ISSUER | DEFER_TASKRUN`), one 4 KiB buffer per connection and one
//! op in flight per connection, so a connection's index is the op's
//! `user_data` and its state says which op completed.

use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};

use crate::servers::BUF;

/// `user_data` of the (single-shot, re-armed) accept.
const ACCEPT: u64 = u64::MAX;

enum State {
    /// A recv is in flight.
    Reading,
    /// A send of `buf[off..len]` is in flight.
    Writing { off: usize, len: usize },
}

struct Conn {
    fd: RawFd,
    buf: Box<[u8]>,
    state: State,
}

pub fn ring(entries: u32) -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_no_sqarray() // as curing asks (6.6+; this machine has it)
        .setup_cqsize(entries * 4)
        .build(entries)
}

/// Pushes `sqe`, submitting what is queued first if the SQ is full.
pub fn push(ring: &mut IoUring, sqe: &squeue::Entry) -> io::Result<()> {
    // SAFETY: every buffer an SQE points at is owned by a `Conn` that stays
    // in `conns` (boxed, so it does not move) until its op completed.
    while unsafe { ring.submission().push(sqe) }.is_err() {
        ring.submit()?;
    }
    Ok(())
}

fn recv_sqe(idx: usize, c: &mut Conn) -> squeue::Entry {
    opcode::Recv::new(types::Fd(c.fd), c.buf.as_mut_ptr(), c.buf.len() as u32)
        .build()
        .user_data(idx as u64)
}

fn send_sqe(idx: usize, c: &Conn, off: usize, len: usize) -> squeue::Entry {
    opcode::Send::new(types::Fd(c.fd), c.buf[off..].as_ptr(), (len - off) as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(idx as u64)
}

/// Echo server: accept → recv → send (→ send the rest) → recv ...; every
/// turn reaps all completions, queues the follow-up ops, and submits them in
/// one `io_uring_enter` that also waits for the next completion.
pub fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    let lfd = listener.as_raw_fd();
    let mut ring = ring(1024)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let accept = opcode::Accept::new(types::Fd(lfd), std::ptr::null_mut(), std::ptr::null_mut())
        .build()
        .user_data(ACCEPT);
    push(&mut ring, &accept)?;
    let mut done: Vec<(u64, i32)> = Vec::with_capacity(1024);
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => return Err(e),
        }
        done.clear();
        done.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for &(ud, res) in &done {
            if ud == ACCEPT {
                if res >= 0 {
                    let idx = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    let mut c = Conn {
                        fd: res,
                        buf: vec![0u8; BUF].into_boxed_slice(),
                        state: State::Reading,
                    };
                    push(&mut ring, &recv_sqe(idx, &mut c))?;
                    conns[idx] = Some(c);
                }
                push(&mut ring, &accept)?;
                continue;
            }
            let idx = ud as usize;
            let c = conns[idx]
                .as_mut()
                .expect("completion for a live connection");
            let next = match (&c.state, res) {
                // End of stream or an error: close and forget the connection.
                (_, r) if r <= 0 => None,
                (State::Reading, n) => Some((0, n as usize)),
                (State::Writing { off, len }, n) => Some((off + n as usize, *len)),
            };
            match next {
                None => {
                    // SAFETY: no op is in flight on this fd any more.
                    unsafe { libc::close(c.fd) };
                    conns[idx] = None;
                    free.push(idx);
                }
                Some((off, len)) if off < len => {
                    c.state = State::Writing { off, len };
                    let sqe = send_sqe(idx, c, off, len);
                    push(&mut ring, &sqe)?;
                }
                Some(_) => {
                    c.state = State::Reading;
                    let sqe = recv_sqe(idx, c);
                    push(&mut ring, &sqe)?;
                }
            }
        }
    }
}

/// NOPs through the bare ring: push `batch` NOPs, `submit_and_wait(batch)`,
/// reap, `rounds` times. Returns the elapsed time.
pub fn nops(batch: u32, rounds: u64) -> io::Result<std::time::Duration> {
    let mut ring = ring(batch.max(32))?;
    let nop = opcode::Nop::new().build().user_data(1);
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        for _ in 0..batch {
            push(&mut ring, &nop)?;
        }
        ring.submit_and_wait(batch as usize)?;
        let mut n = 0;
        for cqe in ring.completion() {
            debug_assert!(cqe.result() >= 0);
            n += 1;
        }
        assert_eq!(n, batch);
    }
    Ok(start.elapsed())
}
