//! The soak's own options of `s3seal bench` (used by `s3seal bench soak`),
//! and one soak run from the command line. The endpoint, credentials,
//! bucket, `--concurrency` (clients), `--objects` (keys per client),
//! `--duration`, `--prefix`, `--seed` and `--json` are the bench's.

use std::time::Duration;

use bytesize::ByteSize;
use clap::Args;

use super::super::cli::{BenchArgs, DEFAULT_DURATION};
use super::super::content::ObjectContent;
use super::super::s3_ops::BucketIo;
use super::flatness::FlatnessRule;
use super::report::SoakReport;
use super::{SoakSettings, WatchSettings};
use crate::tools::client::S3Client;
use crate::upstream::UpstreamClient;

/// Keys each client owns unless `--objects` says otherwise.
const DEFAULT_KEYS_PER_CLIENT: usize = 16;
/// The warm-up is a fifth of the run, at most this long.
const MAX_WARMUP_SECONDS: f64 = 60.0;

#[derive(Debug, Args)]
#[command(next_help_heading = "Soak (s3seal bench soak)")]
pub struct SoakArgs {
    /// Largest object the soak writes; sizes range from 0 B to this, mostly
    /// small, some 1 to 8 MiB, rarely this size.
    #[arg(long, default_value = "64MiB")]
    pub max_size: ByteSize,
    /// The most bytes the soak PUTs in all, paced evenly over --duration; a
    /// PUT the budget does not allow yet becomes a read. Garage keeps the
    /// blocks of deleted objects for 10 minutes, so this bounds its disk use
    /// [default: no limit].
    #[arg(long)]
    pub write_budget: Option<ByteSize>,
    /// Sample this process's RSS and open file descriptors during the run
    /// (the s3seal under test) and judge whether they stay flat.
    #[arg(long)]
    pub watch_pid: Option<u32>,
    /// Seconds between samples of --watch-pid.
    #[arg(long, default_value_t = 5.0)]
    pub sample_every: f64,
    /// Seconds not judged at the start [default: a fifth of --duration, at most 60].
    #[arg(long)]
    pub warmup: Option<f64>,
    /// How much higher the RSS may be at the end than after warm-up (the
    /// median of the last quarter of the run against that of the first
    /// quarter after warm-up).
    #[arg(long, default_value = "16MiB")]
    pub rss_margin: ByteSize,
    /// How many more open file descriptors there may be at the end than
    /// after warm-up (medians, as for --rss-margin).
    #[arg(long, default_value_t = 8)]
    pub fd_margin: u64,
}

/// Seconds as a duration, if positive and finite.
fn seconds(value: f64, option: &str) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("{option} must be a positive number of seconds"))
    }
}

impl SoakArgs {
    fn watch(&self, duration: Duration) -> Result<Option<WatchSettings>, String> {
        let Some(pid) = self.watch_pid else {
            return Ok(None);
        };
        let every = seconds(self.sample_every, "--sample-every")?;
        let warmup = match self.warmup {
            Some(warmup) if warmup.is_finite() && warmup >= 0.0 => warmup,
            Some(_) => return Err("--warmup must be 0 or more seconds".into()),
            None => (duration.as_secs_f64() / 5.0).min(MAX_WARMUP_SECONDS),
        };
        Ok(Some(WatchSettings {
            pid,
            every,
            rule: FlatnessRule {
                warmup_seconds: warmup,
                rss_margin_kib: self.rss_margin.as_u64() / 1024,
                fd_margin: self.fd_margin,
            },
        }))
    }
}

/// `s3seal bench soak`: one soak as the arguments say.
pub async fn soak(args: &BenchArgs) -> Result<SoakReport, String> {
    if args.count.is_some() {
        return Err("a soak runs for --duration; --count does not apply".into());
    }
    let duration = match args.duration {
        Some(value) => seconds(value, "--duration")?,
        None => DEFAULT_DURATION,
    };
    let bucket = args.bucket.clone().ok_or("--bucket is required")?;
    let connection = args.connection();
    let client = S3Client::new(&connection).map_err(|e| e.to_string())?;
    let deleter = UpstreamClient::new(&connection.client_config())?;
    let settings = SoakSettings {
        endpoint: args.endpoint_url.clone(),
        clients: args.concurrency.max(1),
        keys_per_client: args
            .objects
            .map_or(DEFAULT_KEYS_PER_CLIENT, |n| n.max(1) as usize),
        duration,
        largest_size: args.soak.max_size.as_u64(),
        write_budget: args.soak.write_budget.map(|b| b.as_u64()),
        seed: args.seed,
        prefix: format!("{}soak/", args.prefix),
        watch: args.soak.watch(duration)?,
    };
    let io = BucketIo {
        client,
        bucket,
        content: ObjectContent::each_written_once(args.seed),
    };
    Ok(super::run(io, deleter, settings).await)
}
