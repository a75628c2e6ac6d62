//! Runs a tool end to end: the connection, the resume point, the scan, the report.

use std::path::PathBuf;
use std::sync::Arc;

use super::checkpoint::CheckpointFile;
use super::client::S3Client;
use super::migrate::{self, MigrateOptions, Migrator};
use super::report::{Report, Wording};
use super::rewrap::{self, Rewrapper};
use super::scan::{self, BucketListing, ObjectTask};
use super::target::S3Url;
use super::verify::{self, FractionListing, Selection, Verifier};
use super::{Connection, ToolError};

/// What every tool run takes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub connection: Connection,
    pub target: S3Url,
    pub concurrency: usize,
    /// The checkpoint file; `None`: the default one in the current directory.
    pub state: Option<PathBuf>,
    /// Ignore the checkpoint and start from the first key.
    pub restart: bool,
    pub dry_run: bool,
}

pub async fn migrate(run: RunOptions, options: MigrateOptions) -> Result<Report, ToolError> {
    let client = Arc::new(S3Client::new(&run.connection)?);
    let migrator = Migrator::new(client.clone(), run.target.bucket.clone(), options);
    resumable(run, client, migrate::WORDING, migrator).await
}

pub async fn rewrap(run: RunOptions, to_key: Option<String>) -> Result<Report, ToolError> {
    let client = Arc::new(S3Client::new(&run.connection)?);
    let rewrapper = Rewrapper::new(
        client.clone(),
        run.target.bucket.clone(),
        to_key,
        run.dry_run,
    );
    resumable(run, client, rewrap::WORDING, rewrapper).await
}

/// Verification reads; it keeps no checkpoint (a re-run reads again).
pub async fn verify(
    run: RunOptions,
    selection: Selection,
    require_sealed: bool,
) -> Result<Report, ToolError> {
    let client = Arc::new(S3Client::new(&run.connection)?);
    let verifier = Arc::new(Verifier::new(
        client.clone(),
        run.target.bucket.clone(),
        require_sealed,
    ));
    let mut report = Report::new(verify::WORDING, run.target.to_string(), false);
    let listing = BucketListing::new(client, run.target.clone(), None);
    match selection {
        Selection::All => scan::run(listing, verifier, run.concurrency, None, &mut report).await?,
        Selection::Fraction(f) => {
            let listing = FractionListing::new(listing, f);
            scan::run(listing, verifier, run.concurrency, None, &mut report).await?
        }
        Selection::Sample(n) => {
            let listing = verify::sample(listing, n).await?;
            scan::run(listing, verifier, run.concurrency, None, &mut report).await?
        }
    }
    Ok(report)
}

/// A scan that resumes after its checkpoint and keeps it up to date (not
/// written on a dry run).
async fn resumable<T: ObjectTask>(
    run: RunOptions,
    client: Arc<S3Client>,
    wording: Wording,
    task: T,
) -> Result<Report, ToolError> {
    let path = run
        .state
        .clone()
        .unwrap_or_else(|| CheckpointFile::default_path(wording.command, &run.target));
    let file = CheckpointFile::new(path, wording.command, &run.target);
    let resume_after = if run.restart { None } else { file.load()? };
    if let Some(key) = &resume_after {
        eprintln!(
            "resuming after {key:?} (checkpoint {}; --restart starts over)",
            file.path().display()
        );
    }
    let mut report = Report::new(wording, run.target.to_string(), run.dry_run);
    report.resumed_after = resume_after.clone();
    let listing = BucketListing::new(client, run.target.clone(), resume_after);
    let checkpoint = (!run.dry_run).then_some(file);
    scan::run(
        listing,
        Arc::new(task),
        run.concurrency,
        checkpoint,
        &mut report,
    )
    .await?;
    Ok(report)
}
