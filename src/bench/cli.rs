//! `s3seal bench`: its arguments, one run, and the exit code (0 when every
//! operation succeeded and every byte read back was right, 1 otherwise).
//! `s3seal bench soak` runs [`super::soak`] with the same connection options.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use clap::Args;

use super::content::ObjectContent;
use super::driver::Tally;
use super::kms_ops::KmsBench;
use super::plan::{Operation, PayloadSigning, Workload};
use super::report::BenchReport;
use super::s3_ops::{BucketIo, S3Bench};
use super::soak::cli::SoakArgs;
use crate::tools::Connection;
use crate::tools::client::S3Client;

/// Drive load at any S3 endpoint (s3seal, the store behind it, another
/// proxy) and report throughput, latency percentiles and errors. Every
/// byte read back is checked against what was written.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to do.
    #[arg(value_enum)]
    pub operation: Operation,
    /// The endpoint, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub endpoint_url: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key_id: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: String,
    /// The region in signatures.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// The bucket (S3 operations); it must exist.
    #[arg(long, required_unless_present = "key_id")]
    pub bucket: Option<String>,
    /// The KMS key (KMS operations): id, ARN or alias.
    #[arg(long)]
    pub key_id: Option<String>,
    /// Object size: 4KiB, 1MiB, 64MiB, 1GiB, or bytes.
    #[arg(long, default_value = "4KiB")]
    pub size: ByteSize,
    /// Requests in flight (soak: clients).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Distinct objects the operations cycle over [default: the concurrency;
    /// soak: keys per client, default 16].
    #[arg(long)]
    pub objects: Option<u64>,
    /// Keys are <prefix><size>-<n>.
    #[arg(long, default_value = "s3seal-bench/")]
    pub prefix: String,
    /// Stop after this many operations ...
    #[arg(long)]
    pub count: Option<u64>,
    /// ... or this many seconds [default: 10 s; one pass over the objects
    /// for range-get and multipart-put].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Part size of multipart-put.
    #[arg(long, default_value = "8MiB")]
    pub part_size: ByteSize,
    /// Range size of range-get.
    #[arg(long, default_value = "8MiB")]
    pub range_size: ByteSize,
    /// Whether PUT bodies are signed (SHA-256 verified by the server).
    #[arg(long, value_enum, default_value = "signed")]
    pub payload: PayloadSigning,
    /// Do not write the objects first (get/head/range-get): they are already
    /// there from an earlier run with the same size, prefix and seed that
    /// wrote each object once (a put with --count equal to --objects, or a
    /// multipart-put). Later passes of a put write other bytes, so a store
    /// that deduplicates cannot skip them.
    #[arg(long)]
    pub skip_prepare: bool,
    /// Seed of the object contents.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub soak: SoakArgs,
}

pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl BenchArgs {
    pub fn run(self) -> Result<ExitCode, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        if self.operation == Operation::Soak {
            let report = runtime.block_on(super::soak::cli::soak(&self))?;
            return self.finish(&report, report.passed);
        }
        let report = runtime.block_on(self.bench())?;
        self.finish(&report, report.errors == 0)
    }

    /// Prints the report, writes it as JSON if asked; the exit code.
    fn finish<R>(&self, report: &R, passed: bool) -> Result<ExitCode, String>
    where
        R: std::fmt::Display + serde::Serialize,
    {
        println!("{report}");
        if let Some(path) = &self.json {
            let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
            std::fs::write(path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    fn workload(&self) -> Result<Workload, String> {
        let workload = Workload {
            operation: self.operation,
            object_size: self.size.as_u64(),
            objects: self.objects.unwrap_or(self.concurrency as u64).max(1),
            concurrency: self.concurrency.max(1),
            part_size: self.part_size.as_u64(),
            range_size: self.range_size.as_u64(),
            payload: self.payload,
            key_prefix: self.prefix.clone(),
        };
        if workload.operation == Operation::RangeGet && workload.object_size == 0 {
            return Err("range-get needs objects of at least one byte".into());
        }
        if workload.part_size < 5 * 1024 * 1024 && workload.operation == Operation::MultipartPut {
            return Err("--part-size must be at least 5 MiB (S3's minimum)".into());
        }
        if workload.part_size == 0 || workload.range_size == 0 {
            return Err("--part-size and --range-size must not be 0".into());
        }
        Ok(workload)
    }

    async fn bench(&self) -> Result<BenchReport, String> {
        let workload = self.workload()?;
        let duration = match self.duration {
            Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
                Some(Duration::from_secs_f64(seconds))
            }
            Some(_) => return Err("--duration must be a positive number of seconds".into()),
            None => None,
        };
        let stop = workload.stop_at(self.count, duration, DEFAULT_DURATION);
        let tally = if self.operation.is_kms() {
            self.bench_kms(stop).await?
        } else {
            self.bench_s3(workload.clone(), stop).await?
        };
        Ok(BenchReport::new(&self.endpoint_url, workload, tally))
    }

    pub(super) fn connection(&self) -> Connection {
        Connection {
            endpoint_url: self.endpoint_url.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            region: self.region.clone(),
        }
    }

    async fn bench_s3(
        &self,
        workload: Workload,
        stop: super::driver::StopAt,
    ) -> Result<Tally, String> {
        let bucket = self.bucket.clone().ok_or("--bucket is required")?;
        let client = S3Client::new(&self.connection()).map_err(|e| e.to_string())?;
        let bench = Arc::new(S3Bench {
            io: BucketIo {
                client,
                bucket,
                content: ObjectContent::new(self.seed),
            },
            workload,
        });
        if self.operation.reads_objects() && !self.skip_prepare {
            let prepared = bench.clone().prepare().await;
            if prepared.error_count() > 0 {
                return Err(format!(
                    "writing the objects to read failed: {}",
                    prepared.samples.join("; ")
                ));
            }
        }
        Ok(bench.run(stop).await)
    }

    async fn bench_kms(&self, stop: super::driver::StopAt) -> Result<Tally, String> {
        let key_id = self.key_id.clone().ok_or("--key-id is required")?;
        let config = self.connection().client_config();
        let mut bench = KmsBench::new(&config, key_id, self.concurrency)?;
        if self.operation == Operation::KmsDecrypt {
            bench
                .prepare()
                .await
                .map_err(|e| format!("generating the data keys to decrypt failed: {e:?}"))?;
        }
        Ok(Arc::new(bench).run(self.operation, stop).await)
    }
}
