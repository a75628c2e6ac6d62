//! Watching the server under load: its resident set (`VmRSS` in
//! `/proc/PID/status`) and its open file descriptors (the entries of
//! `/proc/PID/fd`), sampled every few seconds while the soak runs. Linux
//! only; the process must belong to the same user.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} has no {field} line")]
    NoField { path: String, field: &'static str },
}

/// The watched process at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ResourceSample {
    /// Since the soak started.
    pub seconds: f64,
    pub rss_kib: u64,
    pub fds: u64,
}

/// The samples of a run, and why sampling stopped early (the process went away).
#[derive(Debug, Default)]
pub struct Sampled {
    pub samples: Vec<ResourceSample>,
    pub error: Option<String>,
}

/// One process to sample.
#[derive(Debug, Clone, Copy)]
pub struct ProcessWatch {
    pub pid: u32,
}

impl ProcessWatch {
    pub fn sample(&self, seconds: f64) -> Result<ResourceSample, WatchError> {
        Ok(ResourceSample {
            seconds,
            rss_kib: self.status_kib("VmRSS")?,
            fds: self.open_fds()?,
        })
    }

    /// The highest RSS the process ever had (`VmHWM`).
    pub fn peak_rss_kib(&self) -> Result<u64, WatchError> {
        self.status_kib("VmHWM")
    }

    fn status_kib(&self, field: &'static str) -> Result<u64, WatchError> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).map_err(|source| WatchError::Read {
            path: path.clone(),
            source,
        })?;
        status_field_kib(&status, field).ok_or(WatchError::NoField { path, field })
    }

    fn open_fds(&self) -> Result<u64, WatchError> {
        let path = format!("/proc/{}/fd", self.pid);
        let entries = std::fs::read_dir(&path).map_err(|source| WatchError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(entries.filter(|entry| entry.is_ok()).count() as u64)
    }

    /// Samples now, then every `every` until `stop` fires (or is dropped),
    /// then once more. Times are counted from `started`.
    pub async fn sample_until(
        self,
        started: Instant,
        every: Duration,
        mut stop: oneshot::Receiver<()>,
    ) -> Sampled {
        let mut sampled = Sampled::default();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = ticks.tick() => false,
                _ = &mut stop => true,
            };
            match self.sample(started.elapsed().as_secs_f64()) {
                Ok(sample) => sampled.samples.push(sample),
                Err(err) => {
                    sampled.error = Some(format!("the watched process {}: {err}", self.pid));
                    return sampled;
                }
            }
            if stopping {
                return sampled;
            }
        }
    }
}

/// The value of a `Name:   1234 kB` line of `/proc/PID/status`, in KiB.
fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\ts3seal\nVmHWM:\t   51234 kB\nVmRSS:\t   20480 kB\nVmRSSx: 1 kB\n";
        assert_eq!(status_field_kib(status, "VmRSS"), Some(20480));
        assert_eq!(status_field_kib(status, "VmHWM"), Some(51234));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
        assert_eq!(status_field_kib("VmRSS:\tlots kB", "VmRSS"), None);
    }

    #[tokio::test]
    async fn this_process_can_be_watched() {
        let watch = ProcessWatch {
            pid: std::process::id(),
        };
        let sample = watch.sample(0.0).unwrap();
        assert!(sample.rss_kib > 0 && sample.fds > 0, "{sample:?}");
        assert!(watch.peak_rss_kib().unwrap() >= sample.rss_kib);
        let (stop, stopped) = oneshot::channel();
        let sampling =
            tokio::spawn(watch.sample_until(Instant::now(), Duration::from_millis(10), stopped));
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        let sampled = sampling.await.unwrap();
        assert!(sampled.error.is_none());
        assert!(sampled.samples.len() >= 3, "{:?}", sampled.samples);
        assert!(
            sampled
                .samples
                .windows(2)
                .all(|w| w[0].seconds <= w[1].seconds)
        );
    }

    #[tokio::test]
    async fn a_process_that_is_gone_ends_the_sampling_with_an_error() {
        let watch = ProcessWatch { pid: u32::MAX };
        assert!(matches!(watch.sample(0.0), Err(WatchError::Read { .. })));
        let (_stop, stopped) = oneshot::channel();
        let sampled = watch
            .sample_until(Instant::now(), Duration::from_millis(10), stopped)
            .await;
        assert!(sampled.samples.is_empty());
        assert!(sampled.error.unwrap().contains("/proc/4294967295/status"));
    }
}
