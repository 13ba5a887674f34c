//! Tracing hooks (feature `tracing`): events for task spawn and exit, a span
//! around each task poll, and events for ops (submitted, completed,
//! cancelled).
//!
//! Off (the default), every hook here is an empty `#[inline(always)]`
//! function and the poll guard is a zero-sized value: nothing is computed,
//! stored or called. On, they go through the `tracing` macros, which cost
//! one relaxed atomic load when no subscriber wants the level.
//!
//! | target         | level | name          | fields                         |
//! |----------------|-------|---------------|--------------------------------|
//! | `curing::task` | DEBUG | `task.spawn`  | `task` (id), `name`            |
//! | `curing::task` | DEBUG | `task.exit`   | `task`, `outcome` (`done`, `panicked`, `cancelled`) |
//! | `curing::task` | TRACE | span `task.poll` | `task`                      |
//! | `curing::op`   | TRACE | `op.submit`   | `op` (opcode name), `user_data` |
//! | `curing::op`   | TRACE | `op.complete` | `user_data`, `result` (CQE res: bytes, or `-errno`) |
//! | `curing::op`   | TRACE | `op.cancel`   | `user_data`                    |
//!
//! `user_data` ties an op's events together; op events inside a task poll
//! are children of its `task.poll` span.

#[cfg(feature = "tracing")]
mod on {
    use io_uring::opcode;

    /// Guard of the `task.poll` span: exits the span when dropped.
    pub(crate) type PollGuard = tracing::span::EnteredSpan;

    #[inline]
    pub(crate) fn task_spawned(task: u64, name: Option<&str>) {
        tracing::debug!(target: "curing::task", task, name, "task.spawn");
    }

    #[inline]
    pub(crate) fn task_exited(task: u64, outcome: &'static str) {
        tracing::debug!(target: "curing::task", task, outcome, "task.exit");
    }

    #[inline]
    pub(crate) fn task_poll(task: u64) -> PollGuard {
        tracing::trace_span!(target: "curing::task", "task.poll", task).entered()
    }

    #[inline]
    pub(crate) fn op_submitted(code: u8, user_data: u64) {
        tracing::trace!(target: "curing::op", op = op_name(code), user_data, "op.submit");
    }

    #[inline]
    pub(crate) fn op_completed(user_data: u64, result: i32) {
        tracing::trace!(target: "curing::op", user_data, result, "op.complete");
    }

    #[inline]
    pub(crate) fn op_cancelled(user_data: u64) {
        tracing::trace!(target: "curing::op", user_data, "op.cancel");
    }

    /// The name of an io_uring opcode, for the `op` field.
    pub(crate) fn op_name(code: u8) -> &'static str {
        macro_rules! names {
            ($($op:ident),* $(,)?) => {
                $(if code == opcode::$op::CODE { return stringify!($op); })*
            };
        }
        names!(
            Nop,
            Read,
            Write,
            Readv,
            Writev,
            ReadFixed,
            WriteFixed,
            Recv,
            Send,
            RecvMsg,
            SendMsg,
            SendZc,
            Accept,
            Connect,
            Shutdown,
            Socket,
            Close,
            OpenAt,
            OpenAt2,
            Statx,
            Fsync,
            Fallocate,
            Ftruncate,
            RenameAt,
            UnlinkAt,
            MkDirAt,
            SymlinkAt,
            LinkAt,
            Splice,
            PollAdd,
            AsyncCancel,
            Timeout,
            MsgRingData,
            WaitId,
        );
        "other"
    }
}

#[cfg(feature = "tracing")]
pub(crate) use on::*;

#[cfg(not(feature = "tracing"))]
mod off {
    /// No span to exit (a zero-sized value).
    pub(crate) struct PollGuard;

    #[inline(always)]
    pub(crate) fn task_spawned(_task: u64, _name: Option<&str>) {}

    #[inline(always)]
    pub(crate) fn task_exited(_task: u64, _outcome: &'static str) {}

    #[inline(always)]
    pub(crate) fn task_poll(_task: u64) -> PollGuard {
        PollGuard
    }

    #[inline(always)]
    pub(crate) fn op_submitted(_code: u8, _user_data: u64) {}

    #[inline(always)]
    pub(crate) fn op_completed(_user_data: u64, _result: i32) {}

    #[inline(always)]
    pub(crate) fn op_cancelled(_user_data: u64) {}
}

#[cfg(not(feature = "tracing"))]
pub(crate) use off::*;
