//! Storing a POST's file, whose length nobody states in advance.
//!
//! A sealed stream states its plaintext length in its header (bound into its
//! key), and every upstream write needs its `Content-Length` before the first
//! byte. A `multipart/form-data` body states neither for the file. What is
//! known is the request's `Content-Length`, and that everything in the form
//! but the file is small: at most [`NON_FILE_ALLOWANCE`] bytes (S3 allows
//! 20 KB). So the file is at least `Content-Length - NON_FILE_ALLOWANCE` bytes
//! long, and at most `Content-Length`. The [`Plan`] follows from that:
//!
//! - **Two parts**, when that floor is at least S3's 5 MiB minimum part size:
//!   an upstream multipart upload whose part 1 is exactly the first `floor`
//!   bytes of the file, sealed as they stream (never buffered), and whose
//!   part 2 is the rest (at most the allowance), read into memory once the
//!   file has ended. The object is an ordinary s3seal multipart object
//!   (docs/format.md), readable by every GET path.
//! - **Buffered**, for smaller requests: the file (under 5 MiB + the
//!   allowance) is read into memory, then stored as one sealed stream with a
//!   PutObject. The memory all POSTs may hold that way together is bounded by
//!   [`BUFFER_BUDGET`]; a POST that cannot get its share within
//!   [`BUFFER_WAIT`] is refused with `503 SlowDown`.
//!
//! Either way nothing is stored unless the whole file arrived, its size is
//! inside the policy's `content-length-range`, and its digests match: the
//! single PUT is aborted before its last byte, the multipart upload is aborted
//! instead of completed.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body::Body;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::form::{FileBody, NON_FILE_ALLOWANCE};
use super::split::Prefix;
use crate::body::{self, BoxError, FailureSlot, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::integrity::{ChecksumAlgorithm, ChecksumType};
use crate::integrity::{DeclaredDigests, VerifyingBody};
use crate::kms::DataKey;
use crate::s3::RequestContext;
use crate::s3::checksums::{ObjectChecksum, PartChecksum, UploadChecksum};
use crate::s3::multipart::{self, MIN_PART_SIZE};
use crate::s3::object_index::IndexEntry;
use crate::s3::object_put::{self, SealedUpload, StreamSealing, send_sealed};
use crate::s3::sse::SseRequest;
use crate::s3::upstream_response;
use crate::s3::xml::{self, CompleteMultipartUpload, CompletedPart};
use crate::seal::StreamChecksum;
use crate::seal::layout::DEFAULT_SEGMENT_LOG2;
use crate::seal::{SealedObjectMetadata, SealedShape, StreamHeader};
use crate::state::AppState;
use crate::upstream::{UpstreamPayload, UpstreamRequest};

/// Memory all buffered POSTs may hold together, in KiB.
pub const BUFFER_BUDGET: usize = 64 * 1024;
/// How long a POST waits for its share of [`BUFFER_BUDGET`].
pub const BUFFER_WAIT: Duration = Duration::from_secs(10);
static BUFFERS: Semaphore = Semaphore::const_new(BUFFER_BUDGET);
/// Upstream result documents (CreateMultipartUpload, Complete…) are tiny.
const MAX_RESULT_BODY: usize = 64 * 1024;

/// What the POST stores, besides the file's bytes.
pub struct ObjectWrite {
    /// Headers for the upstream write (content headers, user metadata, ACL,
    /// tagging…), already filtered for a sealed write.
    pub headers: HeaderMap,
    /// The encryption the upload gets.
    pub sse: SseRequest,
    /// The form's `Content-MD5` and `x-amz-checksum-*` (no length).
    pub declared: DeclaredDigests,
    /// The sizes the file may have: the policy's `content-length-range`
    /// within S3's 5 GiB limit.
    pub size_range: (u64, u64),
}

/// A stored object.
pub struct Stored {
    pub etag: String,
    pub version_id: Option<HeaderValue>,
    pub metadata: SealedObjectMetadata,
    /// Its plaintext checksum, as sealed with it.
    pub checksum: Option<ObjectChecksum>,
}

/// How a POST ended upstream.
pub enum Outcome {
    Stored(Stored),
    /// The upstream refused a request (no such bucket, …): its error, relayed.
    Refused(Response<ProxyBody>),
}

/// Why storing stopped early: an error of s3seal's, or the upstream's answer.
enum Stop {
    Error(S3Error),
    Refused(Response<ProxyBody>),
}

impl<E: Into<S3Error>> From<E> for Stop {
    fn from(err: E) -> Self {
        Stop::Error(err.into())
    }
}

/// How a file is stored, decided from the request's `Content-Length` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Read the file into memory (at most `capacity` bytes), then PutObject.
    Buffered { capacity: u64 },
    /// Stream the first `first_part` bytes as part 1; the rest is part 2.
    TwoParts { first_part: u64 },
}

impl Plan {
    /// The plan for a request of `content_length` bytes whose file must be
    /// `size_range` long. Sizes that cannot fit are refused here, before the
    /// file is read (assuming the form keeps to the allowance; the size is
    /// checked again once known).
    pub fn for_request(content_length: u64, size_range: (u64, u64)) -> Result<Plan, S3Error> {
        let (min, max) = size_range;
        let floor = content_length.saturating_sub(NON_FILE_ALLOWANCE);
        if floor > max {
            return Err(too_large(floor, max));
        }
        if content_length < min {
            return Err(too_small(content_length, min));
        }
        if floor >= MIN_PART_SIZE {
            Ok(Plan::TwoParts { first_part: floor })
        } else {
            Ok(Plan::Buffered {
                capacity: content_length.min(max),
            })
        }
    }
}

/// Seals and stores the file as `write` describes, under the request's
/// bucket and key. `failure` is the slot the form reader records its errors in.
pub async fn store(
    state: &AppState,
    ctx: &RequestContext,
    write: ObjectWrite,
    file: FileBody,
    failure: FailureSlot,
    content_length: u64,
) -> Result<Outcome, S3Error> {
    let stopped = match Plan::for_request(content_length, write.size_range)? {
        Plan::Buffered { capacity } => {
            store_buffered(state, ctx, write, file, failure, capacity).await
        }
        Plan::TwoParts { first_part } => {
            store_in_two_parts(state, ctx, write, file, failure, first_part).await
        }
    };
    match stopped {
        Ok(stored) => Ok(Outcome::Stored(stored)),
        Err(Stop::Refused(response)) => Ok(Outcome::Refused(response)),
        Err(Stop::Error(err)) => Err(err),
    }
}

async fn store_buffered(
    state: &AppState,
    ctx: &RequestContext,
    write: ObjectWrite,
    file: FileBody,
    failure: FailureSlot,
    capacity: u64,
) -> Result<Stored, Stop> {
    let (bucket, key) = ctx.bucket_and_key()?;
    // The data key does not depend on the length, which is known only once
    // the file is read; asking for it first fails fast on an unusable KMS key.
    let (data_key, mut metadata) = object_put::new_object_key(
        state,
        ctx,
        &write.sse,
        SealedShape::SinglePart { plaintext_len: 0 },
        "PostObject",
    )
    .await?;
    let _permit = buffer_budget(capacity).await?;
    let data = read_at_most(file, capacity, &failure)
        .await?
        .ok_or_else(|| too_large(capacity + 1, write.size_range.1))?;
    let len = data.len() as u64;
    check_size(len, write.size_range)?;
    metadata.shape = SealedShape::SinglePart { plaintext_len: len };

    let mut headers = write.headers;
    metadata.to_headers(&mut headers)?;
    let request = UpstreamRequest {
        method: Method::PUT,
        bucket: Some(bucket.to_string()),
        key: Some(key.to_string()),
        query: Vec::new(),
        headers,
        body: body::empty(),
        payload: UpstreamPayload::Unsigned,
    };
    let declared = DeclaredDigests {
        length: Some(len),
        ..write.declared
    };
    let sealing = StreamSealing {
        data_key: &data_key,
        header: StreamHeader::new(DEFAULT_SEGMENT_LOG2, 0, len)?,
        checksum: StreamChecksum::full_object(declared.checksum.as_ref().map(|c| c.algorithm)),
    };
    let SealedUpload {
        response, recorded, ..
    } = send_sealed(state, request, body::full(data), declared, sealing, failure).await?;
    if !response.status().is_success() {
        return Err(Stop::Refused(
            upstream_response::relay_error(response).await?,
        ));
    }
    let etag = etag_of(response.headers())?;
    state.index.record(
        bucket,
        key,
        &IndexEntry {
            etag: etag.clone(),
            plaintext_size: Some(len),
        },
    );
    Ok(Stored {
        etag,
        version_id: response.headers().get("x-amz-version-id").cloned(),
        metadata,
        checksum: recorded.as_ref().map(ObjectChecksum::single),
    })
}

async fn store_in_two_parts(
    state: &AppState,
    ctx: &RequestContext,
    write: ObjectWrite,
    file: FileBody,
    failure: FailureSlot,
    first_part: u64,
) -> Result<Stored, Stop> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let (data_key, metadata) = object_put::new_object_key(
        state,
        ctx,
        &write.sse,
        SealedShape::Multipart {
            object_id: uuid::Uuid::new_v4().simple().to_string(),
        },
        "PostObject",
    )
    .await?;
    let mut headers = write.headers.clone();
    metadata.to_headers(&mut headers)?;
    let upload_id = create_upload(state, bucket, key, headers).await?;
    let upload = UpstreamUpload {
        bucket,
        key,
        upload_id: &upload_id,
        data_key: &data_key,
        failure,
        checksum: two_part_checksum(&write.declared),
    };
    let stored = match upload_parts(state, &upload, &write, file, first_part).await {
        Ok((completed, sizes, checksums)) => {
            let checksum = ObjectChecksum::combine(upload.checksum, &checksums);
            complete_and_record(state, &upload, completed, sizes, metadata, checksum).await
        }
        Err(stop) => Err(stop),
    };
    if stored.is_err() {
        multipart::abort_upstream(state, bucket, key, &upload_id).await;
    }
    stored
}

/// One upstream multipart upload in progress.
struct UpstreamUpload<'a> {
    bucket: &'a str,
    key: &'a str,
    upload_id: &'a str,
    data_key: &'a DataKey,
    failure: FailureSlot,
    /// What both parts record: a full-object CRC, so the object's checksum
    /// is the whole file's, as for a single PUT.
    checksum: UploadChecksum,
}

/// The form's CRC, if it declared one, else S3's default CRC64NVME (a SHA
/// of the whole file cannot be combined from two parts; it is verified all
/// the same).
fn two_part_checksum(declared: &DeclaredDigests) -> UploadChecksum {
    let algorithm = declared
        .checksum
        .as_ref()
        .map(|c| c.algorithm)
        .filter(|a| a.is_crc())
        .unwrap_or(ChecksumAlgorithm::Crc64Nvme);
    UploadChecksum {
        algorithm,
        object_type: ChecksumType::FullObject,
        explicit: false,
    }
}

/// Uploads part 1 (the first `first_part` bytes, streamed) and part 2 (the
/// rest, once the file has ended and is known to be complete and within the
/// policy's sizes). Returns the completion request and both plaintext sizes.
async fn upload_parts(
    state: &AppState,
    upload: &UpstreamUpload<'_>,
    write: &ObjectWrite,
    file: FileBody,
    first_part: u64,
) -> Result<(CompleteMultipartUpload, [u64; 2], Vec<Option<PartChecksum>>), Stop> {
    // The form's digests cover the whole file: verify it before it is split.
    let verified = VerifyingBody::new(file, write.declared.clone(), upload.failure.clone());
    let (first, rest) = Prefix::split(verified, first_part, upload.failure.clone());
    let (etag_1, checksum_1) = send_part(state, upload, 1, first, first_part).await?;
    let rest = rest.await.map_err(|_| {
        upload
            .failure
            .take()
            .unwrap_or_else(|| S3Error::internal("the first part ended before its last byte"))
    })?;
    let (min, max) = write.size_range;
    let tail = read_at_most(rest, max - first_part, &upload.failure)
        .await?
        .ok_or_else(|| too_large(max + 1, max))?;
    let second_part = tail.len() as u64;
    check_size(first_part + second_part, (min, max))?;
    let (etag_2, checksum_2) = send_part(state, upload, 2, body::full(tail), second_part).await?;
    let completed = CompleteMultipartUpload {
        parts: vec![CompletedPart::new(1, etag_1), CompletedPart::new(2, etag_2)],
    };
    Ok((
        completed,
        [first_part, second_part],
        vec![checksum_1, checksum_2],
    ))
}

/// Completes the upload, then records its layout and index entry as
/// CompleteMultipartUpload does.
async fn complete_and_record(
    state: &AppState,
    upload: &UpstreamUpload<'_>,
    completed: CompleteMultipartUpload,
    sizes: [u64; 2],
    metadata: SealedObjectMetadata,
    checksum: Option<ObjectChecksum>,
) -> Result<Stored, Stop> {
    let (etag, version_id) = complete_upload(state, upload, &completed).await?;
    let sealed_sizes = [sealed_len(sizes[0])?, sealed_len(sizes[1])?];
    let object = multipart::CompletedObject {
        bucket: upload.bucket,
        key: upload.key,
        etag: &etag,
        metadata: &metadata,
        checksum: checksum.as_ref(),
    };
    let layout =
        multipart::record_completed_layout(state, &object, &completed, &sealed_sizes, &sizes)
            .await?;
    if let Some(layout) = layout {
        state.index.record(
            upload.bucket,
            upload.key,
            &IndexEntry {
                etag: etag.clone(),
                plaintext_size: Some(layout.plaintext_len()),
            },
        );
    }
    Ok(Stored {
        etag,
        version_id,
        metadata,
        checksum,
    })
}

/// Seals `body` (exactly `len` bytes) as part `part_number`; returns its
/// ETag and the checksum it recorded.
async fn send_part<B>(
    state: &AppState,
    upload: &UpstreamUpload<'_>,
    part_number: u32,
    body: B,
    len: u64,
) -> Result<(String, Option<PartChecksum>), Stop>
where
    B: Body<Data = Bytes> + Unpin + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let request = UpstreamRequest {
        method: Method::PUT,
        bucket: Some(upload.bucket.to_string()),
        key: Some(upload.key.to_string()),
        query: vec![
            ("partNumber".into(), part_number.to_string()),
            ("uploadId".into(), upload.upload_id.to_string()),
        ],
        headers: HeaderMap::new(),
        body: body::empty(),
        payload: UpstreamPayload::Unsigned,
    };
    let declared = DeclaredDigests {
        length: Some(len),
        ..DeclaredDigests::default()
    };
    let sealing = StreamSealing {
        data_key: upload.data_key,
        header: StreamHeader::new(DEFAULT_SEGMENT_LOG2, part_number, len)?,
        checksum: upload.checksum.stream_checksum(),
    };
    let SealedUpload {
        response, recorded, ..
    } = send_sealed(
        state,
        request,
        body,
        declared,
        sealing,
        upload.failure.clone(),
    )
    .await?;
    if !response.status().is_success() {
        return Err(Stop::Refused(
            upstream_response::relay_error(response).await?,
        ));
    }
    let checksum = PartChecksum::of(recorded.as_ref(), None, len);
    Ok((etag_of(response.headers())?, checksum))
}

/// CreateMultipartUpload upstream, with the object's headers and metadata.
async fn create_upload(
    state: &AppState,
    bucket: &str,
    key: &str,
    headers: HeaderMap,
) -> Result<String, Stop> {
    let response = state
        .upstream
        .send(
            UpstreamRequest::bodyless(
                Method::POST,
                Some(bucket.to_string()),
                Some(key.to_string()),
                vec![("uploads".into(), String::new())],
            )
            .with_headers(headers),
        )
        .await?;
    if !response.status().is_success() {
        return Err(Stop::Refused(
            upstream_response::relay_error(response).await?,
        ));
    }
    let xml = upstream_response::collect_limited(response.into_body(), MAX_RESULT_BODY).await?;
    let result: xml::InitiateMultipartUploadResult =
        xml::parse_upstream(&xml, "InitiateMultipartUploadResult")?;
    Ok(result.upload_id)
}

/// CompleteMultipartUpload upstream; returns the object's ETag and version id.
async fn complete_upload(
    state: &AppState,
    upload: &UpstreamUpload<'_>,
    completed: &CompleteMultipartUpload,
) -> Result<(String, Option<HeaderValue>), Stop> {
    let document = completed.upstream_body()?;
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(document.len()),
    );
    let response = state
        .upstream
        .send(UpstreamRequest {
            method: Method::POST,
            bucket: Some(upload.bucket.to_string()),
            key: Some(upload.key.to_string()),
            query: vec![("uploadId".into(), upload.upload_id.to_string())],
            headers,
            payload: UpstreamPayload::Sha256Hex(hex::encode(Sha256::digest(document.as_bytes()))),
            body: body::full(document),
        })
        .await?;
    if !response.status().is_success() {
        return Err(Stop::Refused(
            upstream_response::relay_error(response).await?,
        ));
    }
    let version_id = response.headers().get("x-amz-version-id").cloned();
    let xml = upstream_response::collect_limited(response.into_body(), MAX_RESULT_BODY).await?;
    // S3 may report a failed completion as 200 with an <Error> document.
    let result: xml::CompleteMultipartUploadResult = xml::parse_xml(&xml).map_err(|_| {
        S3Error::internal(format!(
            "the upstream did not complete the upload: {}",
            upstream_response::error_code(&xml).unwrap_or_else(|| "no result".into())
        ))
    })?;
    Ok((result.etag, version_id))
}

/// Reads a body to its end, unless it holds more than `limit` bytes (`None`).
async fn read_at_most<B>(
    body: B,
    limit: u64,
    failure: &FailureSlot,
) -> Result<Option<Bytes>, S3Error>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut body = body;
    let mut data = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            failure.take().unwrap_or_else(|| {
                S3Error::new(
                    S3ErrorCode::IncompleteBody,
                    format!("reading the request body failed: {}", err.into()),
                )
            })
        })?;
        if let Ok(chunk) = frame.into_data() {
            if (data.len() + chunk.len()) as u64 > limit {
                return Ok(None);
            }
            data.extend_from_slice(&chunk);
        }
    }
    Ok(Some(data.freeze()))
}

/// This POST's share of the buffer budget, in KiB, waiting at most [`BUFFER_WAIT`].
async fn buffer_budget(bytes: u64) -> Result<SemaphorePermit<'static>, S3Error> {
    // Capacities stay under 6 MiB, far inside u32 KiB.
    let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
    let slow_down = || {
        S3Error::new(
            S3ErrorCode::SlowDown,
            "Please reduce your request rate: too many browser POST uploads are being received at once.",
        )
    };
    match tokio::time::timeout(BUFFER_WAIT, BUFFERS.acquire_many(kib)).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(slow_down()),
    }
}

fn check_size(len: u64, (min, max): (u64, u64)) -> Result<(), S3Error> {
    if len > max {
        return Err(too_large(len, max));
    }
    if len < min {
        return Err(too_small(len, min));
    }
    Ok(())
}

fn too_large(proposed: u64, max: u64) -> S3Error {
    S3Error::new(
        S3ErrorCode::EntityTooLarge,
        "Your proposed upload exceeds the maximum allowed size",
    )
    .with_detail("ProposedSize", proposed.to_string())
    .with_detail("MaxSizeAllowed", max.to_string())
}

fn too_small(proposed: u64, min: u64) -> S3Error {
    S3Error::new(
        S3ErrorCode::EntityTooSmall,
        "Your proposed upload is smaller than the minimum allowed size",
    )
    .with_detail("ProposedSize", proposed.to_string())
    .with_detail("MinSizeAllowed", min.to_string())
}

fn sealed_len(plaintext_len: u64) -> Result<u64, S3Error> {
    Ok(crate::seal::layout::StreamLayout::default_layout().sealed_len(plaintext_len)?)
}

fn etag_of(headers: &HeaderMap) -> Result<String, S3Error> {
    headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| S3Error::internal("the upstream stored the object without an ETag"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;
    const ANY: (u64, u64) = (0, crate::s3::object_put::MAX_PUT_SIZE);

    #[test]
    fn plans() {
        use Plan::*;
        type Case = (u64, (u64, u64), Result<Plan, S3ErrorCode>);
        let table: &[Case] = &[
            (0, ANY, Ok(Buffered { capacity: 0 })),
            (1000, ANY, Ok(Buffered { capacity: 1000 })),
            (1000, (0, 10), Ok(Buffered { capacity: 10 })),
            (
                MIN_PART_SIZE + NON_FILE_ALLOWANCE - 1,
                ANY,
                Ok(Buffered {
                    capacity: MIN_PART_SIZE + NON_FILE_ALLOWANCE - 1,
                }),
            ),
            (
                MIN_PART_SIZE + NON_FILE_ALLOWANCE,
                ANY,
                Ok(TwoParts {
                    first_part: MIN_PART_SIZE,
                }),
            ),
            (
                20 * MIB,
                ANY,
                Ok(TwoParts {
                    first_part: 20 * MIB - NON_FILE_ALLOWANCE,
                }),
            ),
            // The file is surely larger than the policy allows: refused before reading.
            (20 * MIB, (0, MIB), Err(S3ErrorCode::EntityTooLarge)),
            // ...or surely smaller.
            (1000, (1001, 2000), Err(S3ErrorCode::EntityTooSmall)),
            // Over S3's 5 GiB.
            (6 * 1024 * MIB, ANY, Err(S3ErrorCode::EntityTooLarge)),
        ];
        for (content_length, range, expected) in table {
            let got = Plan::for_request(*content_length, *range).map_err(|e| e.code);
            assert_eq!(&got, expected, "{content_length} bytes, range {range:?}");
        }
    }

    #[test]
    fn sizes_are_checked_against_the_range() {
        assert!(check_size(5, (5, 5)).is_ok());
        assert_eq!(
            check_size(6, (0, 5)).unwrap_err().code,
            S3ErrorCode::EntityTooLarge
        );
        assert_eq!(
            check_size(4, (5, 9)).unwrap_err().code,
            S3ErrorCode::EntityTooSmall
        );
    }

    #[test]
    fn read_at_most_stops_past_its_limit() {
        let run = |data: &'static [u8], limit| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(read_at_most(
                    body::full(data),
                    limit,
                    &FailureSlot::default(),
                ))
                .unwrap()
        };
        assert_eq!(run(b"abc", 3).as_deref(), Some(&b"abc"[..]));
        assert_eq!(run(b"abcd", 3), None);
    }
}
