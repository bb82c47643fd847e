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

/// A flag that holds a job between units of work while set. Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct PauseToken(Arc<AtomicBool>);

impl PauseToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn pause(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn is_paused(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How a long job (a training run) is steered from outside: cancel it or hold it.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    pub cancel: CancelToken,
    pub pause: PauseToken,
}

impl RunControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// A control that can only cancel (never pauses).
    pub fn cancel_only(cancel: &CancelToken) -> Self {
        Self {
            cancel: cancel.clone(),
            pause: PauseToken::new(),
        }
    }

    /// Blocks while paused; returns how long it waited. Returns at once when cancelled, so a
    /// paused job can still be stopped.
    pub fn wait_while_paused(&self) -> std::time::Duration {
        if !self.pause.is_paused() {
            return std::time::Duration::ZERO;
        }
        let started = std::time::Instant::now();
        while self.pause.is_paused() && !self.cancel.is_cancelled() {
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        started.elapsed()
    }
}

/// `seconds` as `h:mm:ss` (for ETAs; negative counts as 0).
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(format_duration(3725.4), "1:02:05");
        assert_eq!(format_duration(-3.0), "0:00:00");
    }

    #[test]
    fn a_paused_job_waits_until_resumed_or_cancelled() {
        let control = RunControl::new();
        assert_eq!(control.wait_while_paused(), Duration::ZERO);
        control.pause.pause();
        let remote = control.clone();
        let resumer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            remote.pause.resume();
        });
        let waited = control.wait_while_paused();
        resumer.join().unwrap();
        assert!(waited >= Duration::from_millis(140), "{waited:?}");
        control.pause.pause();
        control.cancel.cancel();
        assert!(control.wait_while_paused() < Duration::from_millis(50));
    }
}
