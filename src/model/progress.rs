//! Cancellation and progress reporting shared by training and inference, so a GUI (or the
//! CLI's progress bar) can follow and stop long jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A flag a job checks between units of work (training steps, inference stages).
/// Cloning shares the flag. Cancellation is not an error: jobs report it as an outcome.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
