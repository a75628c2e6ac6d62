//! The command line of the tools (`s3seal migrate | rewrap | verify`): their
//! arguments, and turning a finished run into a report and an exit code.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::migrate::MigrateOptions;
use super::report::Report;
use super::run::{self, RunOptions};
use super::target::S3Url;
use super::verify::Selection;
use super::{Connection, ToolError};
use crate::config::Config;

/// Exit code when objects changed during the run (and nothing failed): rerun.
const EXIT_CHANGED: u8 = 2;

/// How to reach the running s3seal, with s3seal client credentials.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// s3seal's S3 endpoint [default: http://127.0.0.1:<port of server.listen in --config>].
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// s3seal's config file, read only for the default --endpoint-url.
    #[arg(long, env = "S3SEAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// An s3seal client credential (not the upstream's).
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key_id: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: String,
    /// The region s3seal expects in signatures (server.region).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
}

/// What every tool takes.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// s3://bucket[/prefix]
    pub target: String,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Objects worked on at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Write the final report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Resumable tools: checkpoint and dry run.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Checkpoint file [default: .s3seal-<command>-<bucket[-prefix]>.checkpoint here].
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Ignore the checkpoint and start from the first key.
    #[arg(long)]
    pub restart: bool,
    /// List and HEAD only: report what would be done, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    #[command(flatten)]
    pub resume: ResumeArgs,
    /// Seal under this KMS key (id, ARN or alias) instead of the bucket's default.
    #[arg(long)]
    pub kms_key_id: Option<String>,
    /// Objects above this many bytes are copied with a multipart upload.
    #[arg(long, hide = true, default_value_t = crate::s3::object_put::MAX_PUT_SIZE)]
    pub multipart_threshold: u64,
    /// Part size of those multipart uploads, in bytes.
    #[arg(long, hide = true, default_value_t = super::multipart_copy::DEFAULT_PART_SIZE)]
    pub part_size: u64,
    /// Tests only: run this program with (bucket, key) just before each write.
    #[arg(long, hide = true)]
    pub hook_before_write: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RewrapArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    #[command(flatten)]
    pub resume: ResumeArgs,
    /// Wrap under this KMS key (id, ARN or alias) [default: each object's current key].
    #[arg(long)]
    pub to_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Read a random sample of this many objects.
    #[arg(long, conflicts_with = "fraction")]
    pub sample: Option<usize>,
    /// Read each object with this probability (0..=1).
    #[arg(long)]
    pub fraction: Option<f64>,
    /// Count objects that are still plaintext as failures.
    #[arg(long)]
    pub require_sealed: bool,
}

/// The tools' subcommands of `s3seal`.
#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Seal plaintext objects in place, through a running s3seal (resumable,
    /// safe under concurrent writes).
    Migrate(MigrateArgs),
    /// Re-wrap sealed objects' data keys under their key's current version or
    /// another key (--to-key), through a running s3seal; data is not rewritten.
    Rewrap(RewrapArgs),
    /// Read objects (all, or a sample) through a running s3seal and report any
    /// that fail to decrypt, are truncated, or are still plaintext.
    Verify(VerifyArgs),
}

impl ToolCommand {
    /// Runs the tool; the exit code tells whether every object settled.
    pub fn run(self) -> Result<ExitCode, String> {
        match self {
            ToolCommand::Migrate(args) => migrate(args),
            ToolCommand::Rewrap(args) => rewrap(args),
            ToolCommand::Verify(args) => verify(args),
        }
    }
}

fn migrate(args: MigrateArgs) -> Result<ExitCode, String> {
    let options = MigrateOptions {
        kms_key_id: args.kms_key_id,
        dry_run: args.resume.dry_run,
        multipart_threshold: args.multipart_threshold,
        part_size: args.part_size,
        hook_before_write: args.hook_before_write,
    };
    let report_file = args.scan.report.clone();
    let run = run_options(args.scan, Some(args.resume))?;
    finish(block_on(run::migrate(run, options))?, report_file)
}

fn rewrap(args: RewrapArgs) -> Result<ExitCode, String> {
    let report_file = args.scan.report.clone();
    let run = run_options(args.scan, Some(args.resume))?;
    finish(block_on(run::rewrap(run, args.to_key))?, report_file)
}

fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    let selection = match (args.sample, args.fraction) {
        (Some(n), _) => Selection::Sample(n),
        (None, Some(f)) if (0.0..=1.0).contains(&f) => Selection::Fraction(f),
        (None, Some(f)) => return Err(format!("--fraction {f} is not between 0 and 1")),
        (None, None) => Selection::All,
    };
    let report_file = args.scan.report.clone();
    let run = run_options(args.scan, None)?;
    finish(
        block_on(run::verify(run, selection, args.require_sealed))?,
        report_file,
    )
}

fn run_options(scan: ScanArgs, resume: Option<ResumeArgs>) -> Result<RunOptions, String> {
    let target = S3Url::parse(&scan.target).map_err(|e| e.to_string())?;
    let endpoint_url = match scan.connection.endpoint_url {
        Some(url) => url,
        None => endpoint_from_config(scan.connection.config.as_deref())?,
    };
    let resume = resume.unwrap_or(ResumeArgs {
        state: None,
        restart: false,
        dry_run: false,
    });
    Ok(RunOptions {
        connection: Connection {
            endpoint_url,
            access_key_id: scan.connection.access_key_id,
            secret_access_key: scan.connection.secret_access_key,
            region: scan.connection.region,
        },
        target,
        concurrency: scan.concurrency,
        state: resume.state,
        restart: resume.restart,
        dry_run: resume.dry_run,
    })
}

/// `http://127.0.0.1:<port>` of the config's `server.listen`.
fn endpoint_from_config(config: Option<&std::path::Path>) -> Result<String, String> {
    let config = Config::load(config)
        .map_err(|e| format!("pass --endpoint-url, or --config for its default: {e}"))?;
    if !config.server.plain_http {
        return Err("server.plain_http is off: pass --endpoint-url https://…".into());
    }
    let listen = config.server.listen;
    let host = if listen.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        listen.ip()
    };
    Ok(format!(
        "http://{}",
        std::net::SocketAddr::new(host, listen.port())
    ))
}

fn block_on<F: Future<Output = Result<Report, ToolError>>>(run: F) -> Result<Report, String> {
    // Warnings only (e.g. an upload that could not be aborted): per-object
    // results go to the report, and stderr carries the progress.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run).map_err(|e| e.to_string())
}

/// Prints the summary, writes the JSON report, and picks the exit code:
/// 1 if anything failed, 2 if objects changed during the run, else 0.
fn finish(report: Report, report_file: Option<PathBuf>) -> Result<ExitCode, String> {
    println!("{}", report.summary());
    if let Some(path) = report_file {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(if report.has_failures() {
        ExitCode::FAILURE
    } else if !report.changed.is_empty() {
        ExitCode::from(EXIT_CHANGED)
    } else {
        ExitCode::SUCCESS
    })
}
