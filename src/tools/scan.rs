//! The work queue: a listing read page by page feeds a bounded number of
//! concurrent object tasks; their outcomes flow back to one place that keeps
//! the report, the progress and the checkpoint.
//!
//! The listing waits for a free slot before taking the next object, so at
//! most one page plus `concurrency` objects are in memory, however large
//! the bucket.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc};

use super::ToolError;
use super::checkpoint::{CheckpointFile, ResumePoint};
use super::client::{ListedObject, S3Client};
use super::progress::Progress;
use super::report::{Outcome, Report};
use super::target::S3Url;

/// What a tool does to one listed object.
pub trait ObjectTask: Send + Sync + 'static {
    fn process(&self, object: ListedObject) -> impl Future<Output = Outcome> + Send;
}

/// Where the objects come from, a page at a time.
pub trait Listing: Send + 'static {
    /// The next page; `None` when the listing is over.
    fn next_page(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<ListedObject>>, ToolError>> + Send;
}

/// ListObjectsV2 of a bucket and prefix through s3seal, optionally after a key.
pub struct BucketListing {
    client: Arc<S3Client>,
    target: S3Url,
    start_after: Option<String>,
    continuation: Option<String>,
    finished: bool,
}

impl BucketListing {
    pub fn new(client: Arc<S3Client>, target: S3Url, start_after: Option<String>) -> Self {
        BucketListing {
            client,
            target,
            start_after,
            continuation: None,
            finished: false,
        }
    }
}

impl Listing for BucketListing {
    async fn next_page(&mut self) -> Result<Option<Vec<ListedObject>>, ToolError> {
        if self.finished {
            return Ok(None);
        }
        let page = self
            .client
            .list_page(
                &self.target.bucket,
                &self.target.prefix,
                self.start_after.as_deref(),
                self.continuation.as_deref(),
            )
            .await?;
        self.continuation = page.continuation;
        self.finished = self.continuation.is_none();
        Ok(Some(page.objects))
    }
}

/// What the listing side tells the collecting side.
enum Event {
    Listed {
        bytes: u64,
    },
    Finished {
        seq: u64,
        object: ListedObject,
        outcome: Outcome,
    },
    ListingFailed(ToolError),
    ListingDone,
}

/// Runs `task` over every object of `listing`, at most `concurrency` at a
/// time, recording outcomes in `report` and the resume point in `checkpoint`.
/// A listing that breaks off is recorded in the report too: what was done
/// until then still counts, and the checkpoint keeps it.
pub async fn run<L: Listing, T: ObjectTask>(
    listing: L,
    task: Arc<T>,
    concurrency: usize,
    mut checkpoint: Option<CheckpointFile>,
    report: &mut Report,
) -> Result<(), ToolError> {
    let started = Instant::now();
    let (events, mut received) = mpsc::unbounded_channel();
    tokio::spawn(produce(listing, task, concurrency.max(1), events));
    let mut progress = Progress::new();
    let mut resume = ResumePoint::default();
    while let Some(event) = received.recv().await {
        match event {
            Event::Listed { bytes } => {
                report.listed += 1;
                progress.listed(bytes);
            }
            Event::Finished {
                seq,
                object,
                outcome,
            } => {
                progress.finished(object.size);
                let moved = resume.finished(seq, &object.key, outcome.is_settled());
                report.record(&object.key, outcome);
                if let (true, Some(file), Some(key)) =
                    (moved, &mut checkpoint, resume.done_through())
                {
                    file.save(key, false)?;
                }
            }
            Event::ListingFailed(err) => report.listing_error = Some(err.to_string()),
            Event::ListingDone => progress.listing_finished(),
        }
    }
    progress.finish();
    report.set_duration(started.elapsed());
    match checkpoint {
        Some(file) if report.is_complete() => file.remove(),
        mut checkpoint => save_final(&mut checkpoint, &resume),
    }
}

fn save_final(
    checkpoint: &mut Option<CheckpointFile>,
    resume: &ResumePoint,
) -> Result<(), ToolError> {
    match (checkpoint, resume.done_through()) {
        (Some(file), Some(key)) => file.save(key, true),
        _ => Ok(()),
    }
}

/// Lists page by page and starts a task per object once a slot is free.
async fn produce<L: Listing, T: ObjectTask>(
    mut listing: L,
    task: Arc<T>,
    concurrency: usize,
    events: mpsc::UnboundedSender<Event>,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut seq = 0u64;
    loop {
        let page = match listing.next_page().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(err) => {
                let _ = events.send(Event::ListingFailed(err));
                return;
            }
        };
        for object in page {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let _ = events.send(Event::Listed { bytes: object.size });
            let task = task.clone();
            let events = events.clone();
            tokio::spawn(async move {
                let outcome = task.process(object.clone()).await;
                let _ = events.send(Event::Finished {
                    seq,
                    object,
                    outcome,
                });
                drop(slot);
            });
            seq += 1;
        }
    }
    let _ = events.send(Event::ListingDone);
}
