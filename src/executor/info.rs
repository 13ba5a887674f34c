//! What `curing::runtime::tasks` reports: each live task's id, name and
//! state, read from the task table and the run queue.

use super::{task_ref, Executor};
use crate::sync_prims::Ordering;
use std::collections::HashSet;
use std::fmt;

impl Executor {
    /// A snapshot of the live tasks, in id order.
    pub(crate) fn tasks(&self) -> Vec<TaskInfo> {
        let tasks = self.inner.tasks.borrow();
        // Entries of the batch from the last (or running) pass on: their
        // tasks are scheduled unless that pass polled them (every entry it
        // ran did, or found the task gone); and the queue's.
        let queued: HashSet<u64> = self.inner.batch.borrow()[self.inner.pass_start.get()..]
            .iter()
            .copied()
            .collect();
        let pending: HashSet<u64> = self.inner.queue.entries.borrow().iter().copied().collect();
        let mut list: Vec<TaskInfo> = tasks
            .iter()
            .map(|(key, slot)| TaskInfo {
                id: slot.id,
                name: slot.name.as_deref().map(str::to_owned),
                state: if slot.future.is_none() {
                    TaskState::Running
                } else if slot.header.scheduled.load(Ordering::Acquire)
                    || queued.contains(&task_ref(key, slot.generation))
                        && slot.polled_in != self.inner.pass.get()
                    || pending.contains(&task_ref(key, slot.generation))
                {
                    TaskState::Scheduled
                } else {
                    TaskState::Waiting
                },
            })
            .collect();
        list.sort_by_key(|t| t.id);
        list
    }
}

/// A task's unique id within its runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(super) u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What [`crate::runtime::tasks`] says about one live task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its name, if it was spawned with one.
    pub name: Option<String>,
    /// What it is doing.
    pub state: TaskState,
}

/// What a live task is doing, for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Being polled right now (it is the caller, or an ancestor of it).
    Running,
    /// Woken and waiting in the run queue.
    Scheduled,
    /// Waiting for a wake (an op, a timer, another task).
    Waiting,
}
