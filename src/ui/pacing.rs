//! Frame pacing: how long the UI thread spends per frame and how far apart frames are, measured
//! while the models run or train, to show that neither freezes the window.

use std::time::{Duration, Instant};

/// Frame statistics during a measured period.
#[derive(Debug, Default)]
pub struct FramePacing {
    measuring_since: Option<Instant>,
    last_frame: Option<Instant>,
    /// Time spent in `App::ui` per frame.
    ui_times: Vec<Duration>,
    /// Time between the starts of consecutive frames.
    intervals: Vec<Duration>,
    /// The summary of the last measured period.
    pub last_summary: Option<String>,
}

impl FramePacing {
    pub fn start_measuring(&mut self) {
        self.measuring_since = Some(Instant::now());
        self.last_frame = None;
        self.ui_times.clear();
        self.intervals.clear();
    }

    /// Records a frame that took `ui_time` on the UI thread.
    pub fn record(&mut self, ui_time: Duration) {
        if self.measuring_since.is_none() {
            return;
        }
        let now = Instant::now();
        if let Some(last) = self.last_frame {
            self.intervals.push(now - last);
        }
        self.last_frame = Some(now);
        self.ui_times.push(ui_time);
    }

    pub fn measuring(&self) -> bool {
        self.measuring_since.is_some()
    }

    pub fn stop_measuring(&mut self) {
        if let Some(since) = self.measuring_since.take() {
            self.last_summary = Some(self.summary(since.elapsed()));
        }
    }

    /// Prints the last summary to stderr (scripted runs).
    pub fn report(&self) {
        if let Some(summary) = &self.last_summary {
            eprintln!("oncoscope: frames while the models ran or trained: {summary}");
        }
    }

    fn summary(&self, period: Duration) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let max = |v: &[Duration]| v.iter().copied().max().unwrap_or_default();
        let median = |v: &[Duration]| {
            let mut sorted = v.to_vec();
            sorted.sort();
            sorted.get(sorted.len() / 2).copied().unwrap_or_default()
        };
        format!(
            "{} frames in {:.1} s; UI time per frame median {:.1} ms, max {:.1} ms; \
             frame interval median {:.0} ms, max {:.0} ms",
            self.ui_times.len(),
            period.as_secs_f64(),
            ms(median(&self.ui_times)),
            ms(max(&self.ui_times)),
            ms(median(&self.intervals)),
            ms(max(&self.intervals)),
        )
    }
}
