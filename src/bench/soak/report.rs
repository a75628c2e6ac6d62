//! A finished soak as a report: operations of each kind with their errors
//! and latency, the checks made, the watched server's RSS and open file
//! descriptors over time, and the verdict; as JSON and as text.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::super::driver::Tally;
use super::super::report::{Latency, MIB};
use super::client::ClientOutcome;
use super::flatness::{self, Flatness};
use super::mix::SoakOperation;
use super::watch::{ResourceSample, Sampled};
use super::{SoakSettings, WatchSettings};

/// Rows of the resource table in the text report (the JSON has every sample).
const TEXT_ROWS: usize = 12;

#[derive(Debug, Serialize)]
pub struct OperationSummary {
    /// Requests that succeeded with every check passed.
    pub operations: u64,
    pub errors: u64,
    pub mismatches: u64,
    /// Payload bytes written (PUT) or read and checked (GET).
    pub bytes: u64,
    pub latency_ms: Latency,
}

impl OperationSummary {
    fn new(tally: &Tally) -> Self {
        OperationSummary {
            operations: tally.succeeded,
            errors: tally.error_count(),
            mismatches: tally.mismatches,
            bytes: tally.bytes,
            latency_ms: Latency::from_micros(&tally.latency_micros),
        }
    }
}

/// First, last and highest of a series.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Extent {
    pub first: u64,
    pub last: u64,
    pub max: u64,
}

impl Extent {
    fn of(values: impl Iterator<Item = u64> + Clone) -> Option<Self> {
        Some(Extent {
            first: values.clone().next()?,
            last: values.clone().last()?,
            max: values.max()?,
        })
    }
}

/// The watched process over the run.
#[derive(Debug, Serialize)]
pub struct ResourceReport {
    pub pid: u32,
    pub sample_every_seconds: f64,
    pub samples: Vec<ResourceSample>,
    pub rss_kib: Option<Extent>,
    pub fds: Option<Extent>,
    /// The highest RSS the process ever had (`VmHWM`), read at the end.
    pub peak_rss_kib: Option<u64>,
    /// `None`: too few samples to judge.
    pub flatness: Option<Flatness>,
    /// Why sampling stopped early (the process went away).
    pub watch_error: Option<String>,
}

impl ResourceReport {
    pub fn new(watch: &WatchSettings, sampled: Sampled, peak: Option<u64>, load: Duration) -> Self {
        let samples = sampled.samples;
        ResourceReport {
            pid: watch.pid,
            sample_every_seconds: watch.every.as_secs_f64(),
            rss_kib: Extent::of(samples.iter().map(|s| s.rss_kib)),
            fds: Extent::of(samples.iter().map(|s| s.fds)),
            peak_rss_kib: peak,
            flatness: flatness::judge(&samples, load.as_secs_f64(), watch.rule),
            watch_error: sampled.error,
            samples,
        }
    }

    /// Why the resources fail the run, if they do.
    fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self.watch_error.iter().cloned().collect();
        match &self.flatness {
            None => problems.push(
                "too few samples to judge RSS and fds: lengthen --duration or shorten --sample-every"
                    .into(),
            ),
            Some(f) => {
                if !f.rss_flat {
                    problems.push(format!(
                        "RSS not flat: {:.1} MiB at the end, {:.1} MiB after warm-up (margin {:.1} MiB)",
                        kib_in_mib(f.rss_at_end_kib),
                        kib_in_mib(f.rss_after_warmup_kib),
                        kib_in_mib(f.rule.rss_margin_kib)
                    ));
                }
                if !f.fds_flat {
                    problems.push(format!(
                        "open fds not flat: {} at the end, {} after warm-up (margin {})",
                        f.fds_at_end, f.fds_after_warmup, f.rule.fd_margin
                    ));
                }
            }
        }
        problems
    }
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub endpoint: String,
    pub clients: usize,
    pub keys_per_client: usize,
    pub largest_size: u64,
    pub write_budget: Option<u64>,
    pub seed: u64,
    pub prefix: String,
    /// The load's length as asked; `seconds` adds the cleanup at the end.
    pub duration_seconds: f64,
    pub seconds: f64,
    pub operations: BTreeMap<SoakOperation, OperationSummary>,
    pub total_operations: u64,
    pub ops_per_second: f64,
    pub bytes_written: u64,
    /// Bytes read back and compared with what was written.
    pub bytes_checked: u64,
    /// GETs and HEADs of deleted or never-written keys that answered 404.
    pub absent_confirmed: u64,
    pub errors: u64,
    /// Answers that contradict what was written (also counted in `errors`).
    pub mismatches: u64,
    pub error_counts: BTreeMap<String, u64>,
    pub error_samples: Vec<String>,
    pub resources: Option<ResourceReport>,
    /// No error, no mismatch, and (when watched) RSS and fds flat.
    pub passed: bool,
    pub problems: Vec<String>,
    pub s3seal_version: &'static str,
}

impl SoakReport {
    pub fn new(
        settings: &SoakSettings,
        outcome: ClientOutcome,
        lost_clients: Vec<String>,
        elapsed: Duration,
        resources: Option<ResourceReport>,
    ) -> Self {
        let mut all = Tally::new();
        let mut operations = BTreeMap::new();
        for (operation, tally) in outcome.tallies {
            operations.insert(operation, OperationSummary::new(&tally));
            all.merge(tally);
        }
        let bytes_of = |operation| {
            operations
                .get(&operation)
                .map_or(0, |s: &OperationSummary| s.bytes)
        };
        let bytes_written = bytes_of(SoakOperation::Put);
        let bytes_checked = bytes_of(SoakOperation::Get) + bytes_of(SoakOperation::RangeGet);
        if !lost_clients.is_empty() {
            *all.errors.entry("client failed".into()).or_default() += lost_clients.len() as u64;
            all.samples.extend(lost_clients);
        }
        let errors = all.error_count();
        let mut problems = Vec::new();
        if errors > 0 {
            problems.push(format!(
                "{errors} errors, {} of them mismatches",
                all.mismatches
            ));
        }
        if let Some(resources) = &resources {
            problems.extend(resources.problems());
        }
        let seconds = elapsed.as_secs_f64().max(1e-9);
        SoakReport {
            endpoint: settings.endpoint.clone(),
            clients: settings.clients,
            keys_per_client: settings.keys_per_client,
            largest_size: settings.largest_size,
            write_budget: settings.write_budget,
            seed: settings.seed,
            prefix: settings.prefix.clone(),
            duration_seconds: settings.duration.as_secs_f64(),
            seconds,
            operations,
            total_operations: all.succeeded,
            ops_per_second: all.succeeded as f64 / seconds,
            bytes_written,
            bytes_checked,
            absent_confirmed: outcome.absent_confirmed,
            errors,
            mismatches: all.mismatches,
            error_counts: all.errors,
            error_samples: all.samples,
            resources,
            passed: problems.is_empty(),
            problems,
            s3seal_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

fn kib_in_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak: {} clients x {} keys, objects 0 B to {} B, {:.0} s against {}",
            self.clients,
            self.keys_per_client,
            self.largest_size,
            self.duration_seconds,
            self.endpoint
        )?;
        writeln!(
            f,
            "  {} operations in {:.1} s ({:.1} ops/s); {:.1} MiB written, {:.1} MiB read back and checked; {} reads of absent keys answered 404",
            self.total_operations,
            self.seconds,
            self.ops_per_second,
            self.bytes_written as f64 / MIB,
            self.bytes_checked as f64 / MIB,
            self.absent_confirmed
        )?;
        for (operation, summary) in &self.operations {
            let l = &summary.latency_ms;
            writeln!(
                f,
                "  {:<9} {:>8} ok {:>4} errors  p50 {:>8.3}  p99 {:>9.3}  max {:>9.3} ms",
                operation.name(),
                summary.operations,
                summary.errors,
                l.p50,
                l.p99,
                l.max
            )?;
        }
        write!(
            f,
            "  errors: {} (mismatches: {})",
            self.errors, self.mismatches
        )?;
        for (label, count) in &self.error_counts {
            write!(f, "  [{label}: {count}]")?;
        }
        for sample in &self.error_samples {
            write!(f, "\n    e.g. {sample}")?;
        }
        if let Some(resources) = &self.resources {
            writeln!(f)?;
            write_resources(f, resources)?;
        }
        write!(
            f,
            "\n  verdict: {}",
            if self.passed { "PASS" } else { "FAIL" }
        )?;
        for problem in &self.problems {
            write!(f, "\n    {problem}")?;
        }
        Ok(())
    }
}

fn write_resources(f: &mut fmt::Formatter<'_>, r: &ResourceReport) -> fmt::Result {
    write!(
        f,
        "  process {}, sampled every {:.0} s:",
        r.pid, r.sample_every_seconds
    )?;
    if let (Some(rss), Some(fds)) = (r.rss_kib, r.fds) {
        write!(
            f,
            " RSS MiB first {:.1} last {:.1} max {:.1}; open fds first {} last {} max {}",
            kib_in_mib(rss.first),
            kib_in_mib(rss.last),
            kib_in_mib(rss.max),
            fds.first,
            fds.last,
            fds.max
        )?;
    }
    if let Some(peak) = r.peak_rss_kib {
        write!(f, "; peak RSS (VmHWM) {:.1} MiB", kib_in_mib(peak))?;
    }
    let step = r.samples.len().div_ceil(TEXT_ROWS).max(1);
    let mut rows: Vec<&ResourceSample> = r.samples.iter().step_by(step).collect();
    if let Some(last) = r.samples.last()
        && rows.last() != Some(&last)
    {
        rows.push(last);
    }
    for sample in rows {
        write!(
            f,
            "\n    t={:>6.1} s  RSS {:>7.1} MiB  fds {:>4}",
            sample.seconds,
            kib_in_mib(sample.rss_kib),
            sample.fds
        )?;
    }
    if let Some(flat) = &r.flatness {
        write!(
            f,
            "\n  medians after warm-up ({:.0} s) and at the end (windows of {:.0} s): RSS {:.1} -> {:.1} MiB (margin {:.1}), fds {} -> {} (margin {}); RSS slope {:+.1} KiB/min",
            flat.rule.warmup_seconds,
            flat.window_seconds,
            kib_in_mib(flat.rss_after_warmup_kib),
            kib_in_mib(flat.rss_at_end_kib),
            kib_in_mib(flat.rule.rss_margin_kib),
            flat.fds_after_warmup,
            flat.fds_at_end,
            flat.rule.fd_margin,
            flat.rss_slope_kib_per_minute
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::driver::OpFailure;
    use super::super::flatness::FlatnessRule;
    use super::*;

    fn settings(watch: Option<WatchSettings>) -> SoakSettings {
        SoakSettings {
            endpoint: "http://x".into(),
            clients: 2,
            keys_per_client: 3,
            duration: Duration::from_secs(100),
            largest_size: 1 << 20,
            write_budget: None,
            seed: 1,
            prefix: "soak/".into(),
            watch,
        }
    }

    fn outcome() -> ClientOutcome {
        let mut outcome = ClientOutcome::default();
        let mut put = Tally::new();
        put.record(Duration::from_millis(2), Ok(1000));
        let mut get = Tally::new();
        get.record(Duration::from_millis(1), Ok(600));
        let mut range = Tally::new();
        range.record(Duration::from_millis(1), Ok(400));
        outcome.tallies.insert(SoakOperation::Put, put);
        outcome.tallies.insert(SoakOperation::Get, get);
        outcome.tallies.insert(SoakOperation::RangeGet, range);
        outcome.absent_confirmed = 4;
        outcome
    }

    fn watch() -> WatchSettings {
        WatchSettings {
            pid: 7,
            every: Duration::from_secs(5),
            rule: FlatnessRule {
                warmup_seconds: 20.0,
                rss_margin_kib: 100,
                fd_margin: 2,
            },
        }
    }

    fn sampled(rss_growth: u64) -> Sampled {
        Sampled {
            samples: (0..=20)
                .map(|i| ResourceSample {
                    seconds: i as f64 * 5.0,
                    rss_kib: 10_000 + i * rss_growth,
                    fds: 30,
                })
                .collect(),
            error: None,
        }
    }

    /// The report of a 100-second run watched as [`watch`] says.
    fn watched_report(outcome: ClientOutcome, lost: Vec<String>, sampled: Sampled) -> SoakReport {
        let load = Duration::from_secs(100);
        let resources = ResourceReport::new(&watch(), sampled, Some(12_000), load);
        let watched = settings(Some(watch()));
        SoakReport::new(&watched, outcome, lost, load, Some(resources))
    }

    #[test]
    fn a_clean_flat_run_passes() {
        let report = watched_report(outcome(), Vec::new(), sampled(0));
        assert!(report.passed, "{:?}", report.problems);
        assert_eq!((report.total_operations, report.errors), (3, 0));
        assert_eq!((report.bytes_written, report.bytes_checked), (1000, 1000));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["operations"]["range-get"]["operations"], 1);
        assert_eq!(json["resources"]["rss_kib"]["max"], 10_000);
        assert_eq!(json["resources"]["flatness"]["rss_flat"], true);
        assert_eq!(json["resources"]["samples"].as_array().unwrap().len(), 21);
        let text = report.to_string();
        assert!(text.contains("verdict: PASS"), "{text}");
        assert!(text.contains("range-get"), "{text}");
        assert!(
            text.lines().filter(|l| l.contains("t=")).count() <= TEXT_ROWS + 1,
            "{text}"
        );
    }

    #[test]
    fn errors_growth_and_lost_clients_fail_the_run() {
        let mut failing = outcome();
        failing
            .tallies
            .entry(SoakOperation::Get)
            .or_default()
            .record(
                Duration::from_millis(1),
                Err(OpFailure::Mismatch("GET k: byte 3 differs".into())),
            );
        let lost = vec!["a client task failed: panic".into()];
        let report = watched_report(failing, lost, sampled(50));
        assert!(!report.passed);
        assert_eq!((report.errors, report.mismatches), (2, 1));
        assert_eq!(report.error_counts["client failed"], 1);
        let problems = report.problems.join("\n");
        assert!(
            problems.contains("2 errors, 1 of them mismatches"),
            "{problems}"
        );
        assert!(problems.contains("RSS not flat"), "{problems}");
        assert!(report.to_string().contains("verdict: FAIL"));
    }

    #[test]
    fn a_run_too_short_to_judge_or_a_vanished_process_fails() {
        let mut gone = sampled(0);
        gone.samples.truncate(1);
        gone.error = Some("the watched process 7: gone".into());
        let report = watched_report(outcome(), Vec::new(), gone);
        assert!(!report.passed);
        let problems = report.problems.join("\n");
        assert!(
            problems.contains("gone") && problems.contains("too few samples"),
            "{problems}"
        );
        // Unwatched, the same run passes: nothing to judge.
        let unwatched = SoakReport::new(
            &settings(None),
            outcome(),
            Vec::new(),
            Duration::from_secs(1),
            None,
        );
        assert!(unwatched.passed);
    }
}
