//! The S3 operations of the load generator, each one request through the
//! tools' SigV4 client ([`S3Client`]), each read checked byte for byte.
//!
//! [`BucketIo`] holds the single-object requests (PUT of a content slice,
//! the streamed check of a body read back) that the fixed workloads
//! ([`S3Bench`]) and the soak ([`super::soak`]) share.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt;

use super::content::{ContentSlice, ObjectContent};
use super::driver::{self, OpFailure, StopAt, Tally};
use super::plan::{Operation, PayloadSigning, Span, Workload};
use crate::tools::ToolError;
use crate::tools::client::{S3Client, UploadBody};
use crate::upstream::UpstreamPayload;

/// A bucket behind one client, and the content the load writes to it.
pub struct BucketIo {
    pub client: S3Client,
    pub bucket: String,
    pub content: ObjectContent,
}

impl BucketIo {
    /// A streamed body of `slice`, its payload declared as `payload` says.
    pub fn upload_body(&self, slice: ContentSlice, payload: PayloadSigning) -> UploadBody {
        let ContentSlice {
            content_id,
            offset,
            len,
        } = slice;
        let payload = match payload {
            PayloadSigning::Signed => {
                UpstreamPayload::Sha256Hex(self.content.sha256_hex(content_id, offset, len))
            }
            PayloadSigning::Unsigned => UpstreamPayload::Unsigned,
        };
        UploadBody {
            body: self.content.body(content_id, offset, len),
            len,
            payload,
        }
    }

    /// PUT of `slice` as the whole object `key`; returns the answer's ETag.
    pub async fn put(
        &self,
        key: &str,
        slice: ContentSlice,
        payload: PayloadSigning,
    ) -> Result<Option<HeaderValue>, OpFailure> {
        let response = self
            .client
            .put(
                &self.bucket,
                key,
                HeaderMap::new(),
                self.upload_body(slice, payload),
            )
            .await
            .map_err(failure)?;
        let etag = response.headers().get(http::header::ETAG).cloned();
        drain(response.into_body()).await?;
        Ok(etag)
    }

    /// Reads the body of a GET of `key` to its end, checking that it holds
    /// exactly `expected`; returns the bytes checked.
    pub async fn check_body(
        &self,
        key: &str,
        mut body: crate::upstream::UpstreamBody,
        expected: ContentSlice,
    ) -> Result<u64, OpFailure> {
        let mut checker = self.content.checker(expected.content_id, expected.offset);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                OpFailure::failed("body", format!("GET {key}: reading the body: {e}"))
            })?;
            if let Some(data) = frame.data_ref() {
                checker.check(data).map_err(|at| {
                    OpFailure::Mismatch(format!(
                        "GET {key}: byte {at} differs from what was written"
                    ))
                })?;
            }
        }
        if checker.checked() != expected.len {
            return Err(OpFailure::Mismatch(format!(
                "GET {key}: {} bytes from offset {}, expected {}",
                checker.checked(),
                expected.offset,
                expected.len
            )));
        }
        Ok(expected.len)
    }
}

/// Everything an S3 operation of a fixed workload needs, shared by the workers.
pub struct S3Bench {
    pub io: BucketIo,
    pub workload: Workload,
}

impl S3Bench {
    /// Runs the workload's operation until `stop`.
    pub async fn run(self: Arc<Self>, stop: StopAt) -> Tally {
        match self.workload.operation {
            Operation::MultipartPut => self.multipart_put(stop).await,
            operation => {
                let bench = self.clone();
                driver::drive(self.workload.concurrency, stop, move |item| {
                    let bench = bench.clone();
                    async move { bench.one(operation, bench.workload.span(item)).await }
                })
                .await
            }
        }
    }

    /// Writes every object once (not measured), for the reading operations.
    pub async fn prepare(self: Arc<Self>) -> Tally {
        let bench = self.clone();
        let stop = StopAt {
            operations: Some(self.workload.objects),
            duration: None,
        };
        driver::drive(self.workload.concurrency, stop, move |object| {
            let bench = bench.clone();
            async move {
                let span = Span {
                    object,
                    part_number: 1,
                    offset: 0,
                    len: bench.workload.object_size,
                    pass: 0,
                };
                bench.put(span).await
            }
        })
        .await
    }

    async fn one(&self, operation: Operation, span: Span) -> Result<u64, OpFailure> {
        match operation {
            Operation::Put => self.put(span).await,
            Operation::Get | Operation::RangeGet => self.get(span).await,
            Operation::Head => self.head(span).await,
            other => Err(OpFailure::failed(
                "unsupported",
                format!("{other:?} is not a single S3 request"),
            )),
        }
    }

    fn upload_body(&self, span: Span) -> UploadBody {
        self.io
            .upload_body(span.content_slice(), self.workload.payload)
    }

    async fn put(&self, span: Span) -> Result<u64, OpFailure> {
        let key = self.workload.key(span.object);
        self.io
            .put(&key, span.content_slice(), self.workload.payload)
            .await?;
        Ok(span.len)
    }

    async fn head(&self, span: Span) -> Result<u64, OpFailure> {
        let key = self.workload.key(span.object);
        let head = self
            .io
            .client
            .head(&self.io.bucket, &key)
            .await
            .map_err(failure)?
            .ok_or_else(|| OpFailure::failed("404 NoSuchKey", format!("HEAD {key}: not found")))?;
        let length = head.content_length().map_err(failure)?;
        if length != self.workload.object_size {
            return Err(OpFailure::Mismatch(format!(
                "HEAD {key}: Content-Length {length}, wrote {}",
                self.workload.object_size
            )));
        }
        Ok(0)
    }

    /// GET of the span (a range unless it is the whole object), each byte checked.
    async fn get(&self, span: Span) -> Result<u64, OpFailure> {
        let key = self.workload.key(span.object);
        let whole = span.offset == 0 && span.len == self.workload.object_size;
        let range = (!whole).then(|| (span.offset, span.offset + span.len - 1));
        let response = self
            .io
            .client
            .get(&self.io.bucket, &key, None, range)
            .await
            .map_err(failure)?;
        self.io
            .check_body(&key, response.into_body(), span.content_slice())
            .await
    }

    /// Multipart uploads of every object: create each, upload all parts with
    /// the workload's concurrency (each part's latency recorded), complete
    /// each. Elapsed time covers all three steps.
    async fn multipart_put(self: Arc<Self>, stop: StopAt) -> Tally {
        let started = std::time::Instant::now();
        let mut setup = Tally::new();
        let mut uploads = Vec::new();
        for object in 0..self.workload.objects {
            let key = self.workload.key(object);
            match self
                .io
                .client
                .create_multipart(&self.io.bucket, &key, HeaderMap::new())
                .await
            {
                Ok(upload_id) => uploads.push(upload_id),
                Err(err) => {
                    setup.record_failure(failure(err));
                    self.abort_all(&uploads).await;
                    setup.elapsed = started.elapsed();
                    return setup;
                }
            }
        }
        let parts = self.workload.pieces_per_object() as usize;
        let etags = Arc::new(Mutex::new(vec![vec![None::<String>; parts]; uploads.len()]));
        let uploads = Arc::new(uploads);
        let (bench, ids, recorded) = (self.clone(), uploads.clone(), etags.clone());
        let mut tally = driver::drive(self.workload.concurrency, stop, move |item| {
            let (bench, ids, recorded) = (bench.clone(), ids.clone(), recorded.clone());
            async move {
                let span = bench.workload.span(item);
                let key = bench.workload.key(span.object);
                let upload_id = &ids[span.object as usize];
                let etag = bench
                    .io
                    .client
                    .upload_part(
                        &bench.io.bucket,
                        &key,
                        (upload_id, span.part_number),
                        bench.upload_body(span),
                    )
                    .await
                    .map_err(failure)?;
                let mut recorded = recorded.lock().unwrap_or_else(|e| e.into_inner());
                recorded[span.object as usize][span.part_number as usize - 1] = Some(etag);
                Ok(span.len)
            }
        })
        .await;
        let etags = etags.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (object, (upload_id, etags)) in uploads.iter().zip(etags).enumerate() {
            self.complete(object as u64, upload_id, etags, &mut tally)
                .await;
        }
        tally.merge(setup);
        tally.elapsed = started.elapsed();
        tally
    }

    async fn complete(
        &self,
        object: u64,
        upload_id: &str,
        etags: Vec<Option<String>>,
        tally: &mut Tally,
    ) {
        let key = self.workload.key(object);
        let parts: Option<Vec<(u32, String)>> = etags
            .into_iter()
            .enumerate()
            .map(|(i, etag)| etag.map(|etag| (i as u32 + 1, etag)))
            .collect();
        let Some(parts) = parts else {
            // A part failed (already counted): the upload cannot be completed.
            self.io
                .client
                .abort_multipart(&self.io.bucket, &key, upload_id)
                .await;
            return;
        };
        if let Err(err) = self
            .io
            .client
            .complete_multipart(&self.io.bucket, &key, upload_id, &parts, HeaderMap::new())
            .await
        {
            tally.record_failure(failure(err));
            self.io
                .client
                .abort_multipart(&self.io.bucket, &key, upload_id)
                .await;
        }
    }

    async fn abort_all(&self, upload_ids: &[String]) {
        for (object, upload_id) in upload_ids.iter().enumerate() {
            let key = self.workload.key(object as u64);
            self.io
                .client
                .abort_multipart(&self.io.bucket, &key, upload_id)
                .await;
        }
    }
}

/// Reads an answer's body to its end, so the connection goes back to the pool.
pub async fn drain(body: crate::upstream::UpstreamBody) -> Result<(), OpFailure> {
    body.collect()
        .await
        .map(|_| ())
        .map_err(|e| OpFailure::failed("body", format!("reading an answer: {e}")))
}

/// A tool error as a counted failure, grouped by status and S3 error code.
pub fn failure(err: ToolError) -> OpFailure {
    let label = match &err {
        ToolError::Status { status, code, .. } => match code {
            Some(code) => format!("{status} {code}"),
            None => status.to_string(),
        },
        ToolError::Upstream(_) => "transport".to_string(),
        ToolError::Body(_) => "body".to_string(),
        _ => "malformed answer".to_string(),
    };
    OpFailure::failed(label, err.to_string())
}
