//! One soak client: a loop of randomly chosen requests on its own keys
//! until the deadline, each answer checked against its [`ClientModel`];
//! before, it empties its prefix (left over from an earlier run); after, it
//! deletes what it wrote and checks that its listing is empty.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method};
use http_body_util::BodyExt;
use serde::Deserialize;

use super::super::content::ContentSlice;
use super::super::driver::{OpFailure, Tally};
use super::super::plan::PayloadSigning;
use super::super::s3_ops::{BucketIo, drain, failure};
use super::budget::WriteBudget;
use super::mix::{self, SeededRng, SoakOperation};
use super::model::{ClientModel, KeyState, Written};
use crate::s3::xml::parse_xml;
use crate::tools::ToolError;
use crate::tools::client::ListedObject;
use crate::upstream::{UpstreamClient, UpstreamRequest};

/// The most of a DELETE's error document read.
const MAX_ERROR_DOCUMENT: usize = 64 * 1024;
/// Pages of one client's listing before it is taken for a loop.
const MAX_LIST_PAGES: usize = 1000;

/// What all clients of a soak share.
pub struct SoakShared {
    pub io: BucketIo,
    /// DELETE requests (the tools' client has no DeleteObject), signed the same way.
    pub deleter: UpstreamClient,
    pub largest_size: u64,
    pub budget: WriteBudget,
    pub started: Instant,
    pub deadline: Instant,
}

/// What one client did.
#[derive(Debug, Default)]
pub struct ClientOutcome {
    pub tallies: BTreeMap<SoakOperation, Tally>,
    /// GETs and HEADs of deleted or never-written keys that answered 404 as they must.
    pub absent_confirmed: u64,
}

impl ClientOutcome {
    fn tally(&mut self, operation: SoakOperation) -> &mut Tally {
        self.tallies.entry(operation).or_default()
    }

    pub fn merge(&mut self, other: ClientOutcome) {
        for (operation, tally) in other.tallies {
            self.tally(operation).merge(tally);
        }
        self.absent_confirmed += other.absent_confirmed;
    }
}

/// The next request, with what was drawn for it.
#[derive(Debug, Clone, Copy)]
enum Step {
    Put {
        index: usize,
        size: u64,
        payload: PayloadSigning,
    },
    Get {
        index: usize,
        range: Option<(u64, u64)>,
    },
    Head {
        index: usize,
    },
    List,
    Delete {
        index: usize,
    },
}

pub struct SoakClient {
    shared: Arc<SoakShared>,
    model: ClientModel,
    rng: SeededRng,
    outcome: ClientOutcome,
}

#[derive(Deserialize)]
struct ErrorCode {
    #[serde(rename = "Code")]
    code: Option<String>,
}

impl SoakClient {
    pub fn new(shared: Arc<SoakShared>, model: ClientModel, seed: u64) -> Self {
        SoakClient {
            shared,
            model,
            rng: SeededRng::new(seed),
            outcome: ClientOutcome::default(),
        }
    }

    pub async fn run(mut self) -> ClientOutcome {
        for operation in SoakOperation::ALL {
            self.outcome.tally(operation);
        }
        self.empty_prefix().await;
        let mut absent_check = None;
        while Instant::now() < self.shared.deadline {
            let step = match absent_check.take() {
                // A deleted key must be gone at once.
                Some(index) => Step::Get { index, range: None },
                None => self.choose_step(),
            };
            if let (Step::Delete { index }, true) = self.perform(step).await {
                absent_check = Some(index);
            }
        }
        for index in self.model.keys_in_use() {
            self.perform(Step::Delete { index }).await;
        }
        self.perform(Step::List).await;
        self.outcome
    }

    fn choose_step(&mut self) -> Step {
        let index = self.rng.below(self.model.key_count() as u64) as usize;
        let mut operation = mix::choose_operation(&mut self.rng, true);
        if operation == SoakOperation::Put {
            let size = mix::draw_size(&mut self.rng, self.shared.largest_size);
            let payload = mix::choose_payload(&mut self.rng);
            let elapsed = self.shared.started.elapsed();
            if self.shared.budget.try_grant(size, elapsed) {
                return Step::Put {
                    index,
                    size,
                    payload,
                };
            }
            operation = mix::choose_operation(&mut self.rng, false);
        }
        match operation {
            SoakOperation::Put | SoakOperation::Get => Step::Get { index, range: None },
            SoakOperation::RangeGet => {
                let len = match self.model.state(index) {
                    KeyState::Present(written) => written.len,
                    _ => 0,
                };
                let range = mix::choose_range(&mut self.rng, len);
                Step::Get { index, range }
            }
            SoakOperation::Head => Step::Head { index },
            SoakOperation::List => Step::List,
            SoakOperation::Delete => Step::Delete { index },
        }
    }

    /// Runs `step` and records it; whether it succeeded.
    async fn perform(&mut self, step: Step) -> (Step, bool) {
        let begun = Instant::now();
        let (operation, result) = match step {
            Step::Put {
                index,
                size,
                payload,
            } => (SoakOperation::Put, self.put(index, size, payload).await),
            Step::Get { index, range: None } => (SoakOperation::Get, self.get(index, None).await),
            Step::Get { index, range } => (SoakOperation::RangeGet, self.get(index, range).await),
            Step::Head { index } => (SoakOperation::Head, self.head(index).await),
            Step::List => (SoakOperation::List, self.list().await),
            Step::Delete { index } => (SoakOperation::Delete, self.delete(index).await),
        };
        let succeeded = result.is_ok();
        self.outcome
            .tally(operation)
            .record(begun.elapsed(), result);
        (step, succeeded)
    }

    async fn put(
        &mut self,
        index: usize,
        size: u64,
        payload: PayloadSigning,
    ) -> Result<u64, OpFailure> {
        let key = self.model.key(index);
        let content_id = self.model.next_content_id();
        let slice = ContentSlice {
            content_id,
            offset: 0,
            len: size,
        };
        match self.shared.io.put(&key, slice, payload).await {
            Ok(etag) => {
                let etag = etag.and_then(|v| v.to_str().ok().map(str::to_string));
                self.model.wrote(
                    index,
                    Written {
                        content_id,
                        len: size,
                        etag,
                    },
                );
                Ok(size)
            }
            Err(err) => {
                self.model.unsure(index);
                Err(err)
            }
        }
    }

    /// GET of the whole object or of `range`: the bytes written, or 404 if none were.
    async fn get(&mut self, index: usize, range: Option<(u64, u64)>) -> Result<u64, OpFailure> {
        let key = self.model.key(index);
        let io = &self.shared.io;
        let answer = io.client.get(&io.bucket, &key, None, range).await;
        match (self.model.state(index), answer) {
            (KeyState::Present(written), Ok(response)) => {
                check_etag(
                    "GET",
                    &key,
                    written,
                    response.headers().get(http::header::ETAG),
                )?;
                let (offset, last) = range.unwrap_or((0, written.len.saturating_sub(1)));
                let expected = ContentSlice {
                    content_id: written.content_id,
                    offset,
                    len: if written.len == 0 {
                        0
                    } else {
                        last - offset + 1
                    },
                };
                io.check_body(&key, response.into_body(), expected).await
            }
            (KeyState::Present(written), Err(err)) if is_no_such_key(&err) => {
                Err(OpFailure::Mismatch(format!(
                    "GET {key}: 404 NoSuchKey, but {} bytes were written",
                    written.len
                )))
            }
            (KeyState::Absent, Ok(response)) => {
                let status = response.status();
                drain(response.into_body()).await?;
                Err(OpFailure::Mismatch(format!(
                    "GET {key}: {status}, but it was deleted or never written"
                )))
            }
            (KeyState::Absent, Err(err)) if is_no_such_key(&err) => {
                self.outcome.absent_confirmed += 1;
                Ok(0)
            }
            // After a failed write, anything goes: not checked.
            (KeyState::Unknown, Ok(response)) => drain(response.into_body()).await.map(|()| 0),
            (KeyState::Unknown, Err(err)) if is_no_such_key(&err) => Ok(0),
            (_, Err(err)) => Err(failure(err)),
        }
    }

    /// HEAD: the length and ETag written, or 404 if nothing was.
    async fn head(&mut self, index: usize) -> Result<u64, OpFailure> {
        let key = self.model.key(index);
        let io = &self.shared.io;
        let head = io.client.head(&io.bucket, &key).await.map_err(failure)?;
        match (self.model.state(index), head) {
            (KeyState::Present(written), Some(head)) => {
                let length = head.content_length().map_err(failure)?;
                if length != written.len {
                    return Err(OpFailure::Mismatch(format!(
                        "HEAD {key}: Content-Length {length}, {} bytes were written",
                        written.len
                    )));
                }
                check_etag("HEAD", &key, written, head.etag())?;
                Ok(0)
            }
            (KeyState::Present(written), None) => Err(OpFailure::Mismatch(format!(
                "HEAD {key}: 404, but {} bytes were written",
                written.len
            ))),
            (KeyState::Absent, Some(_)) => Err(OpFailure::Mismatch(format!(
                "HEAD {key}: found, but it was deleted or never written"
            ))),
            (KeyState::Absent, None) => {
                self.outcome.absent_confirmed += 1;
                Ok(0)
            }
            (KeyState::Unknown, _) => Ok(0),
        }
    }

    /// ListObjectsV2 of the client's prefix, checked against the model.
    async fn list(&mut self) -> Result<u64, OpFailure> {
        let listed = self.list_prefix().await?;
        self.model
            .check_listing(&listed)
            .map_err(OpFailure::Mismatch)?;
        Ok(0)
    }

    async fn list_prefix(&self) -> Result<Vec<ListedObject>, OpFailure> {
        let io = &self.shared.io;
        let prefix = self.model.prefix();
        let mut listed = Vec::new();
        let mut continuation: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let page = io
                .client
                .list_page(&io.bucket, prefix, None, continuation.as_deref())
                .await
                .map_err(failure)?;
            listed.extend(page.objects);
            continuation = page.continuation;
            if continuation.is_none() {
                return Ok(listed);
            }
        }
        Err(OpFailure::failed(
            "endless listing",
            format!("LIST {prefix}: still truncated after {MAX_LIST_PAGES} pages"),
        ))
    }

    async fn delete(&mut self, index: usize) -> Result<u64, OpFailure> {
        let key = self.model.key(index);
        match self.delete_key(&key).await {
            Ok(()) => {
                self.model.deleted(index);
                Ok(0)
            }
            Err(err) => {
                self.model.unsure(index);
                Err(err)
            }
        }
    }

    async fn delete_key(&self, key: &str) -> Result<(), OpFailure> {
        let io = &self.shared.io;
        let request = UpstreamRequest::bodyless(
            Method::DELETE,
            Some(io.bucket.clone()),
            Some(key.to_string()),
            Vec::new(),
        );
        let response = self
            .shared
            .deleter
            .send(request)
            .await
            .map_err(|e| failure(ToolError::Upstream(e)))?;
        let status = response.status();
        if status.is_success() {
            return drain(response.into_body()).await;
        }
        let document = http_body_util::Limited::new(response.into_body(), MAX_ERROR_DOCUMENT)
            .collect()
            .await
            .map(|body| body.to_bytes())
            .unwrap_or_default();
        let code = parse_xml::<ErrorCode>(&document).ok().and_then(|e| e.code);
        Err(failure(ToolError::Status {
            operation: "DeleteObject",
            status: status.as_u16(),
            code,
            message: None,
        }))
    }

    /// Deletes whatever an earlier run left under the prefix, so that the
    /// model (every key absent) is true from the start. Only failures are recorded.
    async fn empty_prefix(&mut self) {
        let leftovers = match self.list_prefix().await {
            Ok(listed) => listed,
            Err(err) => {
                self.outcome.tally(SoakOperation::List).record_failure(err);
                return;
            }
        };
        for object in leftovers {
            if let Err(err) = self.delete_key(&object.key).await {
                self.outcome
                    .tally(SoakOperation::Delete)
                    .record_failure(err);
            }
        }
    }
}

fn is_no_such_key(err: &ToolError) -> bool {
    matches!(err, ToolError::Status { status: 404, code: Some(code), .. } if code == "NoSuchKey")
}

/// The ETag of a read must be the one the PUT answered (when both have one).
fn check_etag(
    request: &str,
    key: &str,
    written: &Written,
    etag: Option<&HeaderValue>,
) -> Result<(), OpFailure> {
    let read = etag.and_then(|v| v.to_str().ok());
    match (read, written.etag.as_deref()) {
        (Some(read), Some(put)) if read != put => Err(OpFailure::Mismatch(format!(
            "{request} {key}: ETag {read}, the PUT answered {put}"
        ))),
        _ => Ok(()),
    }
}
