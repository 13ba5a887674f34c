//! The [`Op`] trait and the [`Submit`] future: the one door from an I/O type
//! to the ring.
//!
//! An I/O type builds an op value and awaits `submit(op)`. `Submit` pushes the
//! op's SQE on first poll (not before: an unpolled future costs the kernel
//! nothing), waits for the CQE, and hands the completion to the op, which
//! gives back its buffers with the result. Dropped early, `Submit` moves the op
//! into the driver (see [`lifecycle`](super::lifecycle)).

use super::current::{self, Core};
use super::lifecycle::Abandoned;
use super::{Driver, Polled, Pushed};
use io_uring::squeue::Entry;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskCx, Poll};

/// What a CQE said: `res` as an `io::Result`, and the CQE flags.
#[derive(Debug)]
pub(crate) struct Completion {
    /// A non-negative `res`, or the error from a negative one.
    pub(crate) result: io::Result<u32>,
    /// `IORING_CQE_F_*` flags (MORE, BUFFER, NOTIF, ...); read them with
    /// [`more`](Completion::more) and [`buffer_id`](Completion::buffer_id).
    pub(crate) flags: u32,
}

impl Completion {
    /// `IORING_CQE_F_MORE`: the op is still armed and will post again
    /// (multishot), or a zero-copy send's notification follows.
    #[inline]
    pub(crate) fn more(&self) -> bool {
        io_uring::cqueue::more(self.flags)
    }

    /// The provided buffer the kernel picked (`IORING_CQE_F_BUFFER`), if
    /// any.
    #[inline]
    pub(crate) fn buffer_id(&self) -> Option<u16> {
        io_uring::cqueue::buffer_select(self.flags)
    }

    #[inline]
    pub(crate) fn from_raw(res: i32, flags: u32) -> Completion {
        let result = if res < 0 {
            Err(io::Error::from_raw_os_error(-res))
        } else {
            Ok(res as u32)
        };
        Completion { result, flags }
    }
}

/// A CQE's `res` and `flags` as the driver keeps them in a slot until the
/// op's future takes them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawCqe {
    pub(crate) res: i32,
    pub(crate) flags: u32,
}

impl RawCqe {
    #[inline]
    pub(crate) fn completion(self) -> Completion {
        Completion::from_raw(self.res, self.flags)
    }
}

/// One kind of io_uring request: what the kernel reads and writes, owned.
///
/// # Contract
///
/// - Every pointer [`sqe`](Op::sqe) puts into the entry (and
///   [`fallback`](Op::fallback) into its syscall) points at memory owned
///   by `self` that does not move when `self` moves (heap or static: a `Vec`'s
///   data, a `Box<sockaddr_storage>`, a `CString`), because an abandoned op is
///   moved into the driver while the kernel still uses it.
/// - [`complete`](Op::complete) gives back everything the caller lent, on
///   success and on error.
/// - [`complete_abandoned`](Op::complete_abandoned) releases what a late
///   completion created (by default, by dropping `complete`'s output, which
///   owns any new fd).
pub(crate) trait Op: 'static {
    /// The opcode, checked against the kernel's probe before the first push.
    const CODE: u8;
    /// What the awaiting caller gets.
    type Output;

    /// Builds the SQE (without `user_data`; the driver sets it).
    fn sqe(&mut self) -> Entry;

    /// How the op runs without io_uring (the epoll driver), from the same
    /// fields as the SQE; built instead of the SQE on that driver.
    fn fallback(&mut self) -> crate::sys::syscall::Fallback;

    /// Whether the SQE should reach the kernel soon rather than at the end
    /// of the runtime's turn: true for reads and writes of a file opened
    /// with `O_DIRECT`, which go to the device. The driver submits such
    /// ops in small groups ([`EAGER_GROUP`](super::EAGER_GROUP)), so the
    /// first of a turn does not wait for every other task's ops (nor sit
    /// in the block layer's plug while the kernel takes them all).
    #[inline]
    fn eager(&self) -> bool {
        false
    }

    /// Turns the completion into the output, giving the buffers back.
    fn complete(self, completion: Completion) -> Self::Output;

    /// Called instead of `complete` when the future was dropped before the
    /// completion was taken.
    fn complete_abandoned(self, completion: Completion)
    where
        Self: Sized,
    {
        drop(self.complete(completion));
    }
}

impl<T: Op> Abandoned for T {
    fn finish(self: Box<Self>, completion: Completion) {
        (*self).complete_abandoned(completion);
    }
}

/// Submits `op` on the current thread's runtime and resolves to its output.
///
/// # Panics
///
/// When first polled outside a curing runtime.
pub(crate) fn submit<T: Op>(op: T) -> Submit<T> {
    Submit {
        op: Some(op),
        state: State::Unsubmitted,
    }
}

/// The future of one op. See the module docs.
pub(crate) struct Submit<T: Op> {
    /// The op while this future owns it; `None` once it was completed.
    op: Option<T>,
    /// Whether the SQE is pushed, and where the driver tracks it.
    state: State,
}

enum State {
    /// Not pushed yet: dropping frees the op at once.
    Unsubmitted,
    /// Not pushed yet, waiting for room (the in-flight cap or a full SQ)
    /// as slot waiter `id` of `ctx`'s driver: dropping takes that entry out.
    WaitingSlot { id: u64, ctx: Rc<Core> },
    /// Pushed under this `user_data`; the driver is kept alive by `ctx`
    /// because its ring may still use the op's memory.
    InFlight { user_data: u64, ctx: Rc<Core> },
    /// The output was returned.
    Done,
}

impl<T: Op> Unpin for Submit<T> {}

impl<T: Op> Future for Submit<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        match &this.state {
            State::Unsubmitted | State::WaitingSlot { .. } => {
                let mut slot_wait = match std::mem::replace(&mut this.state, State::Unsubmitted) {
                    State::WaitingSlot { id, .. } => Some(id),
                    _ => None,
                };
                let ctx = current::current();
                let op = this.op.as_mut().expect("Submit polled after completion");
                let eager = op.eager();
                let pushed =
                    ctx.driver
                        .borrow_mut()
                        .push(T::CODE, op, cx.waker(), eager, &mut slot_wait);
                match pushed {
                    Pushed::InFlight(user_data) => {
                        this.state = State::InFlight { user_data, ctx };
                        Poll::Pending
                    }
                    // A wake-up it carries is dropped here, outside the borrow.
                    Pushed::Later(_wakeup) => {
                        if let Some(id) = slot_wait {
                            this.state = State::WaitingSlot { id, ctx };
                        }
                        Poll::Pending
                    }
                    Pushed::Inline => {
                        // Ready at once: a loop of them must still yield,
                        // so the budget is asked before the call runs.
                        std::task::ready!(crate::coop::poll_proceed(cx));
                        this.state = State::Done;
                        let mut op = this.op.take().expect("op present until completion");
                        let completion = ctx.driver.borrow_mut().run_inline(&mut op);
                        Poll::Ready(op.complete(completion))
                    }
                    Pushed::Unsupported => {
                        // Ready at once: a loop of them must still yield.
                        std::task::ready!(crate::coop::poll_proceed(cx));
                        this.state = State::Done;
                        let op = this.op.take().expect("op present until completion");
                        Poll::Ready(op.complete(Completion {
                            result: Err(unsupported::<T>()),
                            flags: 0,
                        }))
                    }
                }
            }
            State::InFlight { user_data, ctx } => {
                let polled = ctx.driver.borrow_mut().poll_op(*user_data, cx.waker());
                match polled {
                    // The replaced waker is dropped here, outside the borrow.
                    Polled::Pending(_old_waker) => Poll::Pending,
                    Polled::Ready(completion) => {
                        this.state = State::Done;
                        let op = this.op.take().expect("op present until completion");
                        Poll::Ready(op.complete(completion))
                    }
                }
            }
            State::Done => panic!("Submit polled after completion"),
        }
    }
}

/// An op whose arguments were checked first: either the check's failure,
/// ready at once, or the op's [`Submit`]. One small future instead of an
/// `async fn` around `submit`, whose state machine would add a layer (and
/// a copy of the op) to every call.
pub(crate) enum Checked<T: Op> {
    /// The check failed; the output (buffers back, with the error).
    Failed(Option<T::Output>),
    /// The check passed: the op.
    Submit(Submit<T>),
}

impl<T: Op> Unpin for Checked<T> {}

impl<T: Op> Future for Checked<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<T::Output> {
        match self.get_mut() {
            Checked::Failed(out) => {
                // Ready at once: a loop of failing calls must still yield.
                std::task::ready!(crate::coop::poll_proceed(cx));
                Poll::Ready(out.take().expect("Checked polled after completion"))
            }
            Checked::Submit(s) => Pin::new(s).poll(cx),
        }
    }
}

impl<T: Op> Drop for Submit<T> {
    #[inline]
    fn drop(&mut self) {
        // Checked in place first: almost every `Submit` is dropped done.
        if matches!(self.state, State::InFlight { .. }) {
            self.abandon();
        } else if matches!(self.state, State::WaitingSlot { .. }) {
            self.stop_waiting();
        }
    }
}

impl<T: Op> Submit<T> {
    /// Asks for the op to be cancelled while this future keeps it (for a
    /// deadline that wants the buffers back): an op in flight gets an
    /// `ASYNC_CANCEL` and this future then resolves with the op's own
    /// completion (`ECANCELED`, or what the op did before the cancel
    /// reached it), buffers included; `None` is returned. An op not
    /// pushed yet is completed here with `ECANCELED` and its output
    /// returned (the future must not be polled again). Done: `None`.
    pub(crate) fn cancel(&mut self) -> Option<T::Output> {
        match &self.state {
            State::InFlight { user_data, ctx } => {
                ctx.driver.borrow_mut().push_cancel(*user_data);
                None
            }
            State::Unsubmitted | State::WaitingSlot { .. } => {
                self.stop_waiting();
                self.state = State::Done;
                let op = self.op.take()?;
                Some(op.complete(Completion {
                    result: Err(std::io::Error::from_raw_os_error(libc::ECANCELED)),
                    flags: 0,
                }))
            }
            State::Done => None,
        }
    }
}

impl<T: Op> Submit<T> {
    /// Dropped while waiting for room: takes its slot-waiter entry out.
    #[cold]
    #[inline(never)]
    fn stop_waiting(&mut self) {
        if let State::WaitingSlot { id, ctx } = std::mem::replace(&mut self.state, State::Done) {
            Driver::cancel_slot_wait(&ctx.driver, id);
        }
    }

    /// Dropped in flight: hands the op to the driver until its CQE.
    #[cold]
    #[inline(never)]
    fn abandon(&mut self) {
        let State::InFlight { user_data, ctx } = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        let op = Box::new(self.op.take().expect("op present while in flight"));
        let leftovers = Driver::abandon(&ctx.driver, user_data, op);
        // Finish and drop outside the driver borrow: this may run user code
        // (buffer and waker destructors) that reaches the runtime
        // (docs/reliability.md, rule 7).
        drop(leftovers.waker);
        if let Some((op, completion)) = leftovers.late {
            op.finish(completion);
        }
    }
}

fn unsupported<T: Op>() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "this kernel does not support io_uring opcode {} ({}); a newer Linux has it",
            T::CODE,
            opcode_name(T::CODE)
        ),
    )
}

/// The kernel's name for the opcodes curing uses, for error messages.
pub(crate) fn opcode_name(code: u8) -> &'static str {
    use io_uring::opcode as o;
    match code {
        o::Nop::CODE => "IORING_OP_NOP",
        o::Readv::CODE => "IORING_OP_READV",
        o::Writev::CODE => "IORING_OP_WRITEV",
        o::Fsync::CODE => "IORING_OP_FSYNC",
        o::ReadFixed::CODE => "IORING_OP_READ_FIXED",
        o::WriteFixed::CODE => "IORING_OP_WRITE_FIXED",
        o::PollAdd::CODE => "IORING_OP_POLL_ADD",
        o::SendMsg::CODE => "IORING_OP_SENDMSG",
        o::RecvMsg::CODE => "IORING_OP_RECVMSG",
        o::Accept::CODE => "IORING_OP_ACCEPT",
        o::Connect::CODE => "IORING_OP_CONNECT",
        o::Fallocate::CODE => "IORING_OP_FALLOCATE",
        o::OpenAt::CODE => "IORING_OP_OPENAT",
        o::Close::CODE => "IORING_OP_CLOSE",
        o::Statx::CODE => "IORING_OP_STATX",
        o::Read::CODE => "IORING_OP_READ",
        o::Write::CODE => "IORING_OP_WRITE",
        o::Send::CODE => "IORING_OP_SEND",
        o::Recv::CODE => "IORING_OP_RECV",
        o::OpenAt2::CODE => "IORING_OP_OPENAT2",
        o::Splice::CODE => "IORING_OP_SPLICE",
        o::Shutdown::CODE => "IORING_OP_SHUTDOWN",
        o::RenameAt::CODE => "IORING_OP_RENAMEAT",
        o::UnlinkAt::CODE => "IORING_OP_UNLINKAT",
        o::MkDirAt::CODE => "IORING_OP_MKDIRAT",
        o::SymlinkAt::CODE => "IORING_OP_SYMLINKAT",
        o::LinkAt::CODE => "IORING_OP_LINKAT",
        o::MsgRingData::CODE => "IORING_OP_MSG_RING",
        o::Socket::CODE => "IORING_OP_SOCKET",
        o::SendZc::CODE => "IORING_OP_SEND_ZC",
        o::WaitId::CODE => "IORING_OP_WAITID",
        o::Ftruncate::CODE => "IORING_OP_FTRUNCATE",
        _ => "an io_uring opcode",
    }
}

#[cfg(test)]
mod tests {
    use std::future::{poll_fn, Future};
    use std::task::Poll;
    use std::time::Duration;

    fn slot_waiters() -> usize {
        super::super::current::current()
            .driver
            .borrow()
            .slot_waiters()
    }

    /// An op waiting for room under the in-flight cap takes its entry out
    /// of the slot-waiter list when it is dropped, and polling it again
    /// does not add a second one.
    #[test]
    fn dropped_slot_waiters_leave_nothing_behind() {
        let rt = crate::Runtime::builder()
            .entries(1)
            .cq_entries(1)
            .build()
            .unwrap();
        rt.block_on(async {
            // The one slot: a read on an idle socket.
            let (a, b) = crate::net::UnixStream::pair().unwrap();
            let parked = crate::spawn(async move { a.read(vec![0u8; 8]).await.0 });
            crate::yield_now().await;
            for _ in 0..10_000 {
                let cut = crate::time::timeout(Duration::ZERO, crate::runtime::nop()).await;
                assert!(cut.is_err(), "the cap is full");
                assert_eq!(slot_waiters(), 0, "a dropped waiter left its waker");
            }
            let mut op = Box::pin(crate::runtime::nop());
            for _ in 0..3 {
                poll_fn(|cx| {
                    assert!(op.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            assert_eq!(slot_waiters(), 1, "one entry per waiting op");
            drop(op);
            assert_eq!(slot_waiters(), 0);
            // The slot is taken: write from outside the ring.
            let b = b.into_std().unwrap();
            std::io::Write::write_all(&mut &b, b"done").unwrap();
            assert_eq!(parked.await.unwrap().unwrap(), 4);
        });
    }
}
