//! A one-line progress bar on stderr, redrawn with `\r`, shown only when
//! stderr is a terminal and at most a few times a second.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const REDRAW_INTERVAL: Duration = Duration::from_millis(150);
/// Width of the bar in characters.
const BAR_WIDTH: u64 = 30;

/// Progress through `total` units (bytes, usually).
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: u64,
    enabled: bool,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl Progress {
    /// A bar for `total` units; silent unless stderr is a terminal.
    pub fn new(label: &'static str, total: u64) -> Progress {
        Progress {
            label,
            total,
            enabled: std::io::stderr().is_terminal(),
            last_draw: None,
            drawn: false,
        }
    }

    /// Reports `done` units and a short status (e.g. a txn count).
    pub fn update(&mut self, done: u64, status: impl FnOnce() -> String) {
        if !self.enabled
            || self
                .last_draw
                .is_some_and(|t| t.elapsed() < REDRAW_INTERVAL)
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let done = done.min(self.total);
        let filled = (done * BAR_WIDTH)
            .checked_div(self.total)
            .unwrap_or(BAR_WIDTH);
        let pct = (done * 100).checked_div(self.total).unwrap_or(100);
        let bar: String = (0..BAR_WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{} [{bar}] {pct:3}% {}\x1b[K", self.label, status());
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the line, if one was drawn.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
