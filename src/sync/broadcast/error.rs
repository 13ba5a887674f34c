//! The errors of the broadcast channels (tokio's names).

use std::fmt;

/// Every receiver is gone; the value comes back in the error.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why `recv` gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// Every sender is gone and this receiver has seen every value kept.
    #[error("channel closed")]
    Closed,
    /// The receiver fell behind by more than the capacity: this many values
    /// were dropped before it saw them. The next receive gives the oldest
    /// value still kept.
    #[error("channel lagged by {0}")]
    Lagged(u64),
}

/// Why `try_recv` gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing new now; senders are still alive.
    #[error("channel empty")]
    Empty,
    /// Every sender is gone and this receiver has seen every value kept.
    #[error("channel closed")]
    Closed,
    /// As [`RecvError::Lagged`]: this many values were missed.
    #[error("channel lagged by {0}")]
    Lagged(u64),
}
