//! A finished run as a report: throughput, latency percentiles, errors; as
//! JSON (for scripts) and as a few lines of text (for people).

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::driver::Tally;
use super::plan::Workload;

pub const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    /// Milliseconds, from a histogram of microseconds.
    pub fn from_micros(h: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub endpoint: String,
    #[serde(flatten)]
    pub workload: Workload,
    /// Operations that succeeded (requests; parts for multipart uploads).
    pub operations: u64,
    pub errors: u64,
    /// Reads whose bytes differ from what was written (also counted in `errors`).
    pub mismatches: u64,
    pub error_counts: BTreeMap<String, u64>,
    pub error_samples: Vec<String>,
    pub bytes: u64,
    pub seconds: f64,
    pub ops_per_second: f64,
    pub mib_per_second: f64,
    /// Latency of the operations that succeeded, in milliseconds.
    pub latency_ms: Latency,
    pub s3seal_version: &'static str,
}

impl BenchReport {
    pub fn new(endpoint: &str, workload: Workload, tally: Tally) -> Self {
        let seconds = tally.elapsed.as_secs_f64().max(1e-9);
        let latency_ms = Latency::from_micros(&tally.latency_micros);
        BenchReport {
            endpoint: endpoint.to_string(),
            workload,
            operations: tally.succeeded,
            errors: tally.error_count(),
            mismatches: tally.mismatches,
            error_counts: tally.errors,
            error_samples: tally.samples,
            bytes: tally.bytes,
            seconds,
            ops_per_second: tally.succeeded as f64 / seconds,
            mib_per_second: tally.bytes as f64 / MIB / seconds,
            latency_ms,
            s3seal_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.workload;
        writeln!(
            f,
            "{:?} of {} B objects at concurrency {} against {}",
            w.operation, w.object_size, w.concurrency, self.endpoint
        )?;
        writeln!(
            f,
            "  {} operations in {:.2} s: {:.1} ops/s, {:.1} MiB/s",
            self.operations, self.seconds, self.ops_per_second, self.mib_per_second
        )?;
        let l = &self.latency_ms;
        writeln!(
            f,
            "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            l.p50, l.p90, l.p99, l.max
        )?;
        write!(f, "  errors: {}", self.errors)?;
        for (label, count) in &self.error_counts {
            write!(f, "  [{label}: {count}]")?;
        }
        for sample in &self.error_samples {
            write!(f, "\n    e.g. {sample}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::driver::OpFailure;
    use super::super::plan::{Operation, PayloadSigning};
    use super::*;

    #[test]
    fn rates_and_percentiles_come_from_the_tally() {
        let mut tally = Tally::new();
        for ms in 1..=100u64 {
            tally.record(Duration::from_millis(ms), Ok(1024 * 1024));
        }
        tally.record(
            Duration::from_millis(1),
            Err(OpFailure::Mismatch("x".into())),
        );
        tally.elapsed = Duration::from_secs(2);
        let workload = Workload {
            operation: Operation::Get,
            object_size: 1 << 20,
            objects: 4,
            concurrency: 2,
            part_size: 1,
            range_size: 1,
            payload: PayloadSigning::Signed,
            key_prefix: String::new(),
        };
        let report = BenchReport::new("http://x", workload, tally);
        assert_eq!(report.operations, 100);
        assert_eq!((report.errors, report.mismatches), (1, 1));
        assert!((report.mib_per_second - 50.0).abs() < 1e-9);
        assert!((report.ops_per_second - 50.0).abs() < 1e-9);
        assert!(
            (report.latency_ms.p50 - 50.0).abs() < 0.1,
            "{:?}",
            report.latency_ms
        );
        assert!((report.latency_ms.p99 - 99.0).abs() < 0.1);
        assert!((report.latency_ms.max - 100.0).abs() < 0.1);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["operation"], "get");
        assert_eq!(json["error_counts"]["content mismatch"], 1);
        assert!(report.to_string().contains("content mismatch: 1"));
    }
}
