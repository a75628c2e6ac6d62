//! Progress: objects and bytes done, rate and ETA. On a terminal, an
//! `indicatif` bar whose total grows as the listing proceeds; otherwise
//! (logs, CI) a plain line every few seconds.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::report::human_bytes;

const LINE_INTERVAL: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    listed_objects: u64,
    listed_bytes: u64,
    done_objects: u64,
    done_bytes: u64,
    listing_finished: bool,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            let template = "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            started: now,
            last_line: now,
            listed_objects: 0,
            listed_bytes: 0,
            done_objects: 0,
            done_bytes: 0,
            listing_finished: false,
        }
    }

    pub fn listed(&mut self, bytes: u64) {
        self.listed_objects += 1;
        self.listed_bytes += bytes;
        if let Some(bar) = &self.bar {
            bar.inc_length(bytes);
            bar.set_message(self.objects());
        }
    }

    pub fn listing_finished(&mut self) {
        self.listing_finished = true;
    }

    pub fn finished(&mut self, bytes: u64) {
        self.done_objects += 1;
        self.done_bytes += bytes;
        match &self.bar {
            Some(bar) => {
                bar.inc(bytes);
                bar.set_message(self.objects());
            }
            None if self.last_line.elapsed() >= LINE_INTERVAL => {
                self.last_line = Instant::now();
                eprintln!("{}", self.line());
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn objects(&self) -> String {
        let more = if self.listing_finished { "" } else { "+" };
        format!(
            "{}/{}{more} objects",
            self.done_objects, self.listed_objects
        )
    }

    /// `progress: 120/500 objects, 3.0 MiB/12.0 MiB, 1.2 MiB/s, ETA 8 s`.
    fn line(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done_bytes as f64 / seconds;
        let mut line = format!(
            "progress: {}, {}/{}, {}/s",
            self.objects(),
            human_bytes(self.done_bytes),
            human_bytes(self.listed_bytes),
            human_bytes(rate as u64)
        );
        // Before the listing ends the total is unknown, and so is the ETA.
        if self.listing_finished && rate > 0.0 {
            let left = self.listed_bytes.saturating_sub(self.done_bytes) as f64 / rate;
            line.push_str(&format!(", ETA {} s", left.ceil() as u64));
        }
        line
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
