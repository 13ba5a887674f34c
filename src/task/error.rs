//! [`GroupError`]: why a child of a task group gave no value.

use crate::executor::JoinError;
use std::any::Any;
use std::fmt;

/// Why a child of a [`TaskGroup`](super::TaskGroup) gave no value.
///
/// A child's own error is kept as is in `Failed`; a panic is caught and kept
/// (never a crash of the group's task); `Cancelled` marks children the group
/// (or a runtime shutdown) stopped. With `E = std::io::Error` it converts to
/// `std::io::Error`, so `?` works in functions returning `io::Result`.
pub enum GroupError<E> {
    /// The child returned `Err(e)`.
    Failed(E),
    /// The child panicked; the payload is kept for
    /// `std::panic::resume_unwind`.
    Panicked(Box<dyn Any + Send + 'static>),
    /// The child was cancelled before it finished.
    Cancelled,
}

impl<E> GroupError<E> {
    /// Whether the child was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, GroupError::Cancelled)
    }

    /// Whether the child panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, GroupError::Panicked(_))
    }

    /// The child's own error, if it returned one.
    pub fn failed(self) -> Option<E> {
        match self {
            GroupError::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl<E> From<JoinError> for GroupError<E> {
    fn from(e: JoinError) -> GroupError<E> {
        match e.try_into_panic() {
            Ok(p) => GroupError::Panicked(p),
            Err(_) => GroupError::Cancelled,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            GroupError::Panicked(p) => f
                .debug_tuple("Panicked")
                .field(&panic_message(&**p))
                .finish(),
            GroupError::Cancelled => f.write_str("Cancelled"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Failed(e) => write!(f, "task failed: {e}"),
            GroupError::Panicked(p) => write!(f, "task panicked: {}", panic_message(&**p)),
            GroupError::Cancelled => f.write_str("task was cancelled"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GroupError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GroupError::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<GroupError<std::io::Error>> for std::io::Error {
    fn from(e: GroupError<std::io::Error>) -> std::io::Error {
        match e {
            GroupError::Failed(e) => e,
            other => std::io::Error::other(other.to_string()),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}
