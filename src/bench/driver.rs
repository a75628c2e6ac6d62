//! Runs one operation at a fixed concurrency until a count or a deadline,
//! and tallies what happened: a latency histogram, bytes, errors.
//!
//! Work items are numbered from 0; each of the `concurrency` workers takes
//! the next number and runs the operation for it, so the operation decides
//! what an item is (an object, a part, a range). Each worker keeps its own
//! tally, merged at the end, so recording costs no shared lock.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Error samples kept per run (the counts cover all errors).
const MAX_SAMPLES: usize = 5;
/// Slowest latency the histogram records exactly: one hour, in microseconds.
const MAX_LATENCY_MICROS: u64 = 3_600_000_000;

/// Why one operation failed.
#[derive(Debug, Clone)]
pub enum OpFailure {
    /// The body read back is not what was written.
    Mismatch(String),
    /// Anything else: `label` groups the counts ("503 SlowDown",
    /// "transport"), `detail` is for the samples.
    Failed { label: String, detail: String },
}

impl OpFailure {
    pub fn failed(label: impl Into<String>, detail: impl Into<String>) -> Self {
        OpFailure::Failed {
            label: label.into(),
            detail: detail.into(),
        }
    }
}

/// When a run stops taking new work.
#[derive(Debug, Clone, Copy)]
pub struct StopAt {
    pub operations: Option<u64>,
    pub duration: Option<Duration>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Tally {
    pub latency_micros: Histogram<u64>,
    /// Operations that succeeded.
    pub succeeded: u64,
    /// Payload bytes moved by the operations that succeeded.
    pub bytes: u64,
    pub errors: BTreeMap<String, u64>,
    pub mismatches: u64,
    pub samples: Vec<String>,
    pub elapsed: Duration,
}

impl Tally {
    pub fn new() -> Self {
        Tally {
            latency_micros: Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
                .expect("the bounds are valid constants"),
            succeeded: 0,
            bytes: 0,
            errors: BTreeMap::new(),
            mismatches: 0,
            samples: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    pub fn record(&mut self, took: Duration, outcome: Result<u64, OpFailure>) {
        match outcome {
            Ok(bytes) => {
                let micros = (took.as_micros() as u64).clamp(1, MAX_LATENCY_MICROS);
                self.latency_micros.saturating_record(micros);
                self.succeeded += 1;
                self.bytes += bytes;
            }
            Err(failure) => self.record_failure(failure),
        }
    }

    pub fn record_failure(&mut self, failure: OpFailure) {
        let (label, detail) = match failure {
            OpFailure::Mismatch(detail) => {
                self.mismatches += 1;
                ("content mismatch".to_string(), detail)
            }
            OpFailure::Failed { label, detail } => (label, detail),
        };
        *self.errors.entry(label).or_default() += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(detail);
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: Tally) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency_micros.add(&other.latency_micros);
        self.succeeded += other.succeeded;
        self.bytes += other.bytes;
        for (label, count) in other.errors {
            *self.errors.entry(label).or_default() += count;
        }
        self.mismatches += other.mismatches;
        for sample in other.samples {
            if self.samples.len() < MAX_SAMPLES {
                self.samples.push(sample);
            }
        }
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `operation` for items 0, 1, 2, … with `concurrency` in flight until
/// `stop`; the tally's `elapsed` is the wall time from first start to last end.
pub async fn drive<F, Fut>(concurrency: usize, stop: StopAt, operation: F) -> Tally
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<u64, OpFailure>> + Send + 'static,
{
    let operation = Arc::new(operation);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = stop.duration.map(|d| started + d);
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let operation = operation.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let item = next.fetch_add(1, Ordering::Relaxed);
                if stop.operations.is_some_and(|n| item >= n) {
                    break;
                }
                let begun = Instant::now();
                let outcome = operation(item).await;
                tally.record(begun.elapsed(), outcome);
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for worker in workers {
        match worker.await {
            Ok(tally) => total.merge(tally),
            Err(err) => total.record_failure(OpFailure::failed("worker panicked", err.to_string())),
        }
    }
    total.elapsed = started.elapsed();
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_each_item_once_up_to_the_count() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let stop = StopAt {
            operations: Some(100),
            duration: None,
        };
        let tally = drive(7, stop, move |item| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(item);
                if item % 10 == 3 {
                    Err(OpFailure::Mismatch(format!("item {item}")))
                } else {
                    Ok(2)
                }
            }
        })
        .await;
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert_eq!(tally.succeeded, 90);
        assert_eq!(tally.bytes, 180);
        assert_eq!(tally.mismatches, 10);
        assert_eq!(tally.error_count(), 10);
        assert_eq!(tally.samples.len(), MAX_SAMPLES);
        assert_eq!(tally.latency_micros.len(), 90);
    }

    #[tokio::test]
    async fn stops_at_the_deadline() {
        let stop = StopAt {
            operations: None,
            duration: Some(Duration::from_millis(100)),
        };
        let tally = drive(2, stop, |_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(1)
        })
        .await;
        assert!(tally.succeeded > 5, "{}", tally.succeeded);
        assert!(tally.elapsed >= Duration::from_millis(100));
        assert!(tally.elapsed < Duration::from_secs(5));
    }
}
