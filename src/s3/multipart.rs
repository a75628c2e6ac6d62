//! Multipart uploads, sealed part by part.
//!
//! - CreateMultipartUpload generates and wraps the object's data key (so an
//!   unusable KMS key fails here, before any part is sent) and puts the
//!   sealed metadata on the upstream upload; s3seal keeps an
//!   [`UploadRecord`] because UploadPart cannot read the upload's metadata
//!   back from S3.
//! - UploadPart seals each part as its own stream (header with the part
//!   number, fresh salt) while it streams: parts go up in parallel, in any
//!   order, re-sent as often as clients like, never buffered.
//! - CompleteMultipartUpload checks the part list against the upstream's
//!   parts (ETags, order, S3's 5 MiB minimum on plaintext sizes), completes
//!   the upload, then records the object's layout (see [`super::layouts`]).
//! - ListParts reports plaintext part sizes; AbortMultipartUpload forgets the record.

use crate::body::ClientBody;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::RequestContext;
use super::checksums::{self, ObjectChecksum, PartChecksum, UploadChecksum};
use super::headers::{Forward, forward_request_headers};
use super::layouts::{self, LayoutOrigin, StoredObject};
use super::listing::EntryRewrite;
use super::object_index::IndexEntry;
use super::object_put::{self, send_sealed};
use super::object_put::{SealedUpload, StreamSealing};
use super::passthrough::{exchange, read_completion_body, read_small_body, send};
use super::sse;
use super::upstream_response;
use super::write_conditions::WriteConditions;
use super::xml::{self, CompleteMultipartUpload};
use crate::body::{self, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::integrity::DeclaredDigests;
use crate::seal::layout::{DEFAULT_SEGMENT_LOG2, StreamLayout};
use crate::seal::metadata::WrappedDataKey;
use crate::seal::{SealedLayout, SealedObjectMetadata, SealedShape, StreamHeader};
use crate::state::AppState;
use crate::upstream::{UpstreamPayload, UpstreamRequest};

/// S3's minimum size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's maximum part size.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// ListParts page size when s3seal lists an upload's parts itself.
const LIST_PARTS_PAGE: &str = "1000";
const MAX_RESULT_BODY: usize = 64 * 1024;
const MAX_LIST_PARTS_BODY: usize = 4 * 1024 * 1024;

/// A multipart upload in progress, as s3seal remembers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    pub bucket: String,
    pub key: String,
    /// The sealed metadata put on the upload, as (header, value) pairs.
    pub metadata: Vec<(String, String)>,
    /// The checksum its parts record (absent in records of s3seal versions
    /// that recorded none: their parts are format-1 streams).
    #[serde(default)]
    pub checksum: Option<UploadChecksum>,
}

impl UploadRecord {
    fn new(
        bucket: &str,
        key: &str,
        metadata: &SealedObjectMetadata,
        checksum: UploadChecksum,
    ) -> Result<Self, S3Error> {
        let mut headers = HeaderMap::new();
        metadata.to_headers(&mut headers)?;
        Ok(UploadRecord {
            bucket: bucket.to_string(),
            key: key.to_string(),
            checksum: Some(checksum),
            metadata: headers
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect(),
        })
    }

    /// The geometry of the upload's part streams (format 1 parts carry no checksum record).
    fn part_layout(&self) -> StreamLayout {
        match self.checksum {
            Some(_) => StreamLayout::default_layout(),
            None => StreamLayout::default_layout().without_record(),
        }
    }

    pub fn sealed_metadata(&self) -> Result<SealedObjectMetadata, S3Error> {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.metadata {
            let name = http::HeaderName::try_from(name.as_str())
                .map_err(|e| S3Error::internal(e.to_string()))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| S3Error::internal(e.to_string()))?;
            headers.insert(name, value);
        }
        SealedObjectMetadata::from_headers(&headers)?
            .ok_or_else(|| S3Error::internal("an upload record without sealed metadata"))
    }

    /// The record of `upload_id`, which must belong to this bucket and key.
    pub fn load(state: &AppState, ctx: &RequestContext) -> Result<(String, Self), S3Error> {
        let no_such_upload = || {
            S3Error::new(
                S3ErrorCode::NoSuchUpload,
                "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.",
            )
        };
        let upload_id = ctx.s3.query_value("uploadId").ok_or_else(no_such_upload)?;
        let record: UploadRecord = state
            .store
            .get_upload(upload_id)?
            .ok_or_else(no_such_upload)?;
        if Some(record.bucket.as_str()) != ctx.s3.bucket.as_deref()
            || Some(record.key.as_str()) != ctx.s3.key.as_deref()
        {
            return Err(no_such_upload());
        }
        Ok((upload_id.to_string(), record))
    }
}

pub async fn create(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let sse = object_put::upload_encryption(state, bucket, &parts.headers)?;
    let checksum = UploadChecksum::from_create_headers(&parts.headers)?;
    read_small_body(&parts, ctx, body).await?;

    // The data key itself is not needed until the parts arrive.
    let (_, metadata) = object_put::new_object_key(
        state,
        ctx,
        &sse,
        SealedShape::Multipart {
            object_id: uuid::Uuid::new_v4().simple().to_string(),
        },
        "CreateMultipartUpload",
    )
    .await?;
    let mut headers = forward_request_headers(&parts.headers, Forward::SealedWrite);
    metadata.to_headers(&mut headers)?;
    let response = state
        .upstream
        .send(
            UpstreamRequest::bodyless(
                Method::POST,
                Some(bucket.to_string()),
                Some(key.to_string()),
                ctx.s3.query.clone(),
            )
            .with_headers(headers),
        )
        .await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    let (head, incoming) = response.into_parts();
    let xml = upstream_response::collect_limited(incoming, MAX_RESULT_BODY).await?;
    let result: xml::InitiateMultipartUploadResult =
        xml::parse_upstream(&xml, "InitiateMultipartUploadResult")?;
    let record = UploadRecord::new(bucket, key, &metadata, checksum)?;
    if let Err(err) = state.store.put_upload(&result.upload_id, Some(&record)) {
        abort_upstream(state, bucket, key, &result.upload_id).await;
        return Err(S3Error::internal(format!(
            "cannot record the multipart upload: {err}"
        )));
    }
    let mut headers = sse::sealed_response_headers(&state.kms, &head.headers, &metadata);
    checksum.insert_headers(&mut headers);
    Ok(super::xml::response(head.status, headers, xml))
}

pub async fn upload_part(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let part_number = part_number(ctx)?;
    let (upload_id, record) = UploadRecord::load(state, ctx)?;
    let metadata = record.sealed_metadata()?;
    check_part_sse_headers(state, &parts.headers, &metadata)?;
    let declared = DeclaredDigests::from_request(&parts.headers, &ctx.payload)?;
    let upload_checksum = record
        .checksum
        .unwrap_or_else(UploadChecksum::default_for_upload);
    upload_checksum.check_part_algorithm(declared.checksum.as_ref().map(|c| c.algorithm))?;
    let plaintext_len = declared.length.ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::MissingContentLength,
            "You must provide the Content-Length HTTP header.",
        )
    })?;
    check_part_size(plaintext_len)?;

    let data_key = super::object_get::unwrap_object_key(state, ctx, bucket, key, &metadata).await?;
    tracing::info!(
        request_id = %ctx.request_id,
        kms_key_id = %metadata.data_key.kms_key_name(),
        principal = %ctx.principal.arn,
        part_number,
        "unwrapped a data key for UploadPart"
    );
    let header = StreamHeader::new(DEFAULT_SEGMENT_LOG2, part_number, plaintext_len)?;
    let request = UpstreamRequest {
        method: Method::PUT,
        bucket: Some(bucket.to_string()),
        key: Some(key.to_string()),
        query: ctx.s3.query.clone(),
        headers: forward_request_headers(&parts.headers, Forward::SealedWrite),
        body: body::empty(),
        payload: UpstreamPayload::Unsigned,
    };
    let failure = crate::body::FailureSlot::default();
    let body = ctx.object_body(body, &failure);
    let sealing = StreamSealing {
        data_key: &data_key,
        header,
        checksum: upload_checksum.stream_checksum(),
    };
    let SealedUpload {
        response,
        recorded,
        verified,
    } = send_sealed(state, request, body, declared, sealing, failure).await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    let checksum = PartChecksum::of(recorded.as_ref(), verified.as_ref(), plaintext_len);
    let mut headers = sse::sealed_response_headers(&state.kms, response.headers(), &metadata);
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(0));
    // S3 answers the checksum the client sent for the part, else the one it recorded.
    if let Some((algorithm, value)) = checksum.as_ref().map(PartChecksum::answered)
        && let Ok(value) = HeaderValue::try_from(value)
    {
        headers.insert(algorithm.header_name(), value);
    }
    remember_part_checksum(state, &upload_id, part_number, response.headers(), checksum);
    let mut out = Response::new(body::empty());
    *out.headers_mut() = headers;
    Ok(out)
}

/// Keeps an uploaded part's checksum under the ETag the upstream gave it.
pub fn remember_part_checksum(
    state: &AppState,
    upload_id: &str,
    part_number: u32,
    upstream_headers: &HeaderMap,
    checksum: Option<PartChecksum>,
) {
    let etag = upstream_headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok());
    if let (Some(etag), Some(checksum)) = (etag, checksum) {
        checksums::remember_part(state, upload_id, part_number, etag, &checksum);
    }
}

/// The `partNumber` of an UploadPart / UploadPartCopy: 1 to 10,000.
pub fn part_number(ctx: &RequestContext) -> Result<u32, S3Error> {
    ctx.s3
        .query_value("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

pub fn check_part_size(plaintext_len: u64) -> Result<(), S3Error> {
    if plaintext_len > MAX_PART_SIZE {
        return Err(S3Error::new(
            S3ErrorCode::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size.",
        )
        .with_detail("ProposedSize", plaintext_len.to_string())
        .with_detail("MaxSizeAllowed", MAX_PART_SIZE.to_string()));
    }
    Ok(())
}

/// UploadPart takes its encryption from the upload; SSE headers that say
/// otherwise are an error (S3 accepts only SSE-C headers here).
fn check_part_sse_headers(
    state: &AppState,
    headers: &HeaderMap,
    metadata: &SealedObjectMetadata,
) -> Result<(), S3Error> {
    sse::refuse_customer_keys(headers)?;
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    if let Some(mode) = text(sse::SSE)
        && mode != metadata.sse.header_value()
    {
        return Err(S3Error::invalid_argument(format!(
            "x-amz-server-side-encryption '{mode}' contradicts the multipart upload's encryption ({})",
            metadata.sse.header_value()
        )));
    }
    if let Some(key_ref) = text(sse::SSE_KMS_KEY_ID) {
        let same_key = match &metadata.data_key {
            WrappedDataKey::BuiltIn { kms_key_id, .. } => state
                .kms
                .resolve_key_id(key_ref)
                .is_ok_and(|id| &id == kms_key_id),
            // An external key is known by its ARN only (resolving an id or
            // alias would be a KMS call): the ARN, or the id it ends with.
            WrappedDataKey::UnderBucketKey { kms_key_arn, .. } => {
                key_ref == kms_key_arn || kms_key_arn.ends_with(&format!(":key/{key_ref}"))
            }
        };
        if !same_key {
            return Err(S3Error::invalid_argument(
                "x-amz-server-side-encryption-aws-kms-key-id names another key than the multipart upload's",
            ));
        }
    }
    if let Some(context) = text(sse::SSE_CONTEXT)
        && Some(context) != metadata.client_context.as_deref()
    {
        return Err(S3Error::invalid_argument(
            "x-amz-server-side-encryption-context differs from the multipart upload's",
        ));
    }
    Ok(())
}

pub async fn complete(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let (upload_id, record) = UploadRecord::load(state, ctx)?;
    let metadata = record.sealed_metadata()?;
    let xml_body = read_completion_body(&parts, ctx, body).await?;
    let requested = CompleteMultipartUpload::parse(&xml_body)?;
    let uploaded = list_all_parts(state, bucket, key, &upload_id).await?;
    let plaintext_sizes = check_completion(&requested, &uploaded, record.part_layout())?;
    let object_checksum = completed_checksum(state, &upload_id, &record, &requested)?;
    checksums::check_declared_object_checksum(&parts.headers, object_checksum.as_ref())?;

    let upstream_body = requested.upstream_body()?;
    WriteConditions::from_headers(&parts.headers)?
        .check(state, bucket, key)
        .await?;
    let mut forwarded = parts;
    forwarded.headers = forward_request_headers(&forwarded.headers, Forward::SealedWrite);
    let response = send(state, ctx, forwarded, upstream_body.into()).await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    let (head, incoming) = response.into_parts();
    let xml = upstream_response::collect_limited(incoming, MAX_RESULT_BODY).await?;
    // S3 may report a failed completion as 200 with an <Error> document.
    let Ok(result) = xml::parse_upstream::<xml::CompleteMultipartUploadResult>(&xml, "result")
    else {
        return Ok(super::xml::response(
            head.status,
            super::headers::relay_response_headers(&head.headers, false),
            xml,
        ));
    };
    forget_upload(state, &upload_id);
    let sealed_sizes: Vec<u64> = requested
        .parts
        .iter()
        .filter_map(|p| uploaded.get(&p.part_number).map(|u| u.size))
        .collect();
    let completed = CompletedObject {
        bucket,
        key,
        etag: &result.etag,
        metadata: &metadata,
        checksum: object_checksum.as_ref(),
    };
    let layout = record_completed_layout(
        state,
        &completed,
        &requested,
        &sealed_sizes,
        &plaintext_sizes,
    )
    .await?;
    if let Some(layout) = &layout {
        state.index.record(
            bucket,
            key,
            &IndexEntry {
                etag: result.etag.clone(),
                plaintext_size: Some(layout.plaintext_len()),
            },
        );
    }
    Ok(super::xml::response(
        head.status,
        sse::sealed_response_headers(&state.kms, &head.headers, &metadata),
        result.to_xml(object_checksum.as_ref())?,
    ))
}

/// Drops what s3seal kept of an upload that completed or was aborted.
fn forget_upload(state: &AppState, upload_id: &str) {
    if let Err(err) = state.store.put_upload::<UploadRecord>(upload_id, None) {
        tracing::warn!(error = %err, upload_id, "could not forget an upload");
    }
    if let Err(err) = state.store.forget_part_checksums(upload_id) {
        tracing::warn!(error = %err, upload_id, "could not forget an upload's part checksums");
    }
}

/// The completed object's checksum, combined from the checksums its parts
/// recorded. A checksum the client lists for a part must be that part's:
/// S3 answers a mismatch with InvalidPart.
fn completed_checksum(
    state: &AppState,
    upload_id: &str,
    record: &UploadRecord,
    requested: &CompleteMultipartUpload,
) -> Result<Option<ObjectChecksum>, S3Error> {
    let Some(upload) = record.checksum else {
        return Ok(None);
    };
    let mut parts = Vec::with_capacity(requested.parts.len());
    for part in &requested.parts {
        let stored = checksums::part_checksum(state, upload_id, part.part_number, &part.etag);
        for (algorithm, value) in part.declared_checksums() {
            let same = stored.as_ref().is_some_and(|s| s.matches(algorithm, value));
            if !same {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidPart,
                    format!(
                        "One or more of the specified parts could not be found. The {} listed for part {} does not match the part's.",
                        algorithm.xml_name(),
                        part.part_number
                    ),
                )
                .with_detail("PartNumber", part.part_number.to_string())
                .with_detail("ETag", part.etag.clone()));
            }
        }
        parts.push(stored);
    }
    Ok(ObjectChecksum::combine(upload, &parts))
}

/// Checks a completion request as S3 does, against the parts the upstream
/// holds; returns the plaintext size of each requested part.
fn check_completion(
    requested: &CompleteMultipartUpload,
    uploaded: &std::collections::BTreeMap<u32, UploadedPart>,
    layout: StreamLayout,
) -> Result<Vec<u64>, S3Error> {
    if requested.parts.is_empty() {
        return Err(S3Error::new(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    if requested
        .parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidPartOrder,
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        ));
    }
    let mut sizes = Vec::with_capacity(requested.parts.len());
    for (i, part) in requested.parts.iter().enumerate() {
        let stored = uploaded
            .get(&part.part_number)
            .filter(|u| same_etag(&u.etag, &part.etag))
            .ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidPart,
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.",
                )
                .with_detail("PartNumber", part.part_number.to_string())
                .with_detail("ETag", part.etag.clone())
            })?;
        let plaintext = layout.plaintext_len(stored.size).ok_or_else(|| {
            S3Error::internal(format!(
                "part {} on the upstream is not a sealed stream ({} bytes)",
                part.part_number, stored.size
            ))
        })?;
        let is_last = i + 1 == requested.parts.len();
        if !is_last && plaintext < MIN_PART_SIZE {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size.",
            )
            .with_detail("ProposedSize", plaintext.to_string())
            .with_detail("MinSizeAllowed", MIN_PART_SIZE.to_string())
            .with_detail("PartNumber", part.part_number.to_string())
            .with_detail("ETag", part.etag.clone()));
        }
        sizes.push(plaintext);
    }
    Ok(sizes)
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// Reads back the stream headers of the completed object and records its
/// layout. Headers that contradict the completed part list mean the upstream
/// assembled something else: an error. A failure to read them is only logged
/// (the layout is rebuilt on first use, with the weaker checks that implies).
pub(super) async fn record_completed_layout(
    state: &AppState,
    completed: &CompletedObject<'_>,
    requested: &CompleteMultipartUpload,
    sealed_sizes: &[u64],
    plaintext_sizes: &[u64],
) -> Result<Option<SealedLayout>, S3Error> {
    let (bucket, key) = (completed.bucket, completed.key);
    let SealedShape::Multipart { object_id } = &completed.metadata.shape else {
        return Err(S3Error::internal(
            "a multipart upload with single-part metadata",
        ));
    };
    let offsets: Vec<u64> = sealed_sizes
        .iter()
        .scan(0u64, |offset, size| {
            let start = *offset;
            *offset += size;
            Some(start)
        })
        .collect();
    let object = StoredObject {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: None,
        etag: HeaderValue::try_from(completed.etag).ok(),
        stored_size: sealed_sizes.iter().sum(),
    };
    let headers = match layouts::headers_at(state, &object, &offsets).await {
        Ok(headers) => headers,
        Err(err) => {
            tracing::warn!(bucket, key, error = %err.message, "could not read back a completed object's stream headers");
            return Ok(None);
        }
    };
    let matches = headers
        .iter()
        .zip(requested.parts.iter().zip(plaintext_sizes))
        .all(|(h, (part, len))| h.part_number == part.part_number && h.plaintext_len == *len);
    if !matches || headers.len() != requested.parts.len() {
        return Err(S3Error::internal(
            "the completed object's stream headers do not match the completed part list",
        ));
    }
    let layout = SealedLayout::new(headers)?;
    layouts::record_layout(
        state,
        object_id,
        &layout,
        LayoutOrigin::Completed,
        completed.checksum,
    );
    Ok(Some(layout))
}

/// A multipart object just completed on the upstream.
pub(super) struct CompletedObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub etag: &'a str,
    pub metadata: &'a SealedObjectMetadata,
    pub checksum: Option<&'a ObjectChecksum>,
}

pub async fn abort(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let upload_id = ctx
        .s3
        .query_value("uploadId")
        .unwrap_or_default()
        .to_string();
    let response = exchange(state, ctx, parts, body).await?;
    if response.status().is_success() {
        forget_upload(state, &upload_id);
    }
    upstream_response::relay(response).await
}

/// Aborts an upstream upload s3seal cannot finish (a failure is only logged:
/// the upstream's lifecycle rules are the backstop for orphaned uploads).
pub(super) async fn abort_upstream(state: &AppState, bucket: &str, key: &str, upload_id: &str) {
    let request = UpstreamRequest::bodyless(
        Method::DELETE,
        Some(bucket.to_string()),
        Some(key.to_string()),
        vec![("uploadId".into(), upload_id.to_string())],
    );
    if let Err(err) = state.upstream.send(request).await {
        tracing::warn!(error = %err, upload_id, "could not abort an unrecorded upload");
    }
}

/// ListParts with plaintext part sizes (for uploads s3seal seals).
pub async fn list_parts(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let ours = UploadRecord::load(state, ctx).ok();
    let response = exchange(state, ctx, parts, body).await?;
    let Some((upload_id, record)) = ours.filter(|_| response.status().is_success()) else {
        return upstream_response::relay(response).await;
    };
    let (head, incoming) = response.into_parts();
    let xml = upstream_response::collect_limited(incoming, MAX_LIST_PARTS_BODY).await?;
    let layout = record.part_layout();
    let upload_id = upload_id.as_str();
    // Each part: its plaintext size, and its checksum as UploadPart answered it.
    let rewritten = super::listing::rewrite_entries(&xml, &[b"Part"], |entry| async move {
        let checksum = entry
            .part_number
            .and_then(|n| checksums::part_checksum(state, upload_id, n, &entry.etag));
        Ok(EntryRewrite {
            size: layout.plaintext_len(entry.size).unwrap_or(entry.size),
            extra: checksum
                .as_ref()
                .map(PartChecksum::answered)
                .map(|(algorithm, value)| (algorithm.xml_name(), value.to_string()))
                .into_iter()
                .collect(),
        })
    })
    .await?;
    Ok(super::xml::response(
        head.status,
        super::headers::relay_response_headers(&head.headers, true),
        rewritten,
    ))
}

/// One part as the upstream lists it.
#[derive(Debug, Clone)]
struct UploadedPart {
    etag: String,
    size: u64,
}

/// Every part of an upload, from the upstream's ListParts (all pages).
async fn list_all_parts(
    state: &AppState,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<std::collections::BTreeMap<u32, UploadedPart>, S3Error> {
    let mut parts = std::collections::BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let mut query = vec![
            ("uploadId".to_string(), upload_id.to_string()),
            ("max-parts".to_string(), LIST_PARTS_PAGE.to_string()),
        ];
        if let Some(m) = &marker {
            query.push(("part-number-marker".to_string(), m.clone()));
        }
        let response = state
            .upstream
            .send(UpstreamRequest::bodyless(
                Method::GET,
                Some(bucket.to_string()),
                Some(key.to_string()),
                query,
            ))
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(S3Error::new(
                S3ErrorCode::NoSuchUpload,
                "The specified multipart upload does not exist.",
            ));
        }
        if !response.status().is_success() {
            return Err(S3Error::internal(format!(
                "listing the upload's parts on the upstream failed with {}",
                response.status()
            )));
        }
        let xml =
            upstream_response::collect_limited(response.into_body(), MAX_LIST_PARTS_BODY).await?;
        let page: xml::ListPartsResult = xml::parse_upstream(&xml, "ListPartsResult")?;
        for part in page.parts {
            parts.insert(
                part.part_number,
                UploadedPart {
                    etag: part.etag,
                    size: part.size,
                },
            );
        }
        match (page.is_truncated, page.next_part_number_marker) {
            (Some(true), Some(next)) if Some(&next) != marker.as_ref() => marker = Some(next),
            _ => return Ok(parts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::layout::HEADER_LEN;

    fn request(parts: &[(u32, &str)]) -> CompleteMultipartUpload {
        CompleteMultipartUpload {
            parts: parts
                .iter()
                .map(|(n, e)| xml::CompletedPart::new(*n, e.to_string()))
                .collect(),
        }
    }

    fn sealed(plaintext: u64) -> u64 {
        StreamLayout::default_layout()
            .sealed_len(plaintext)
            .unwrap()
    }

    fn uploaded(parts: &[(u32, &str, u64)]) -> std::collections::BTreeMap<u32, UploadedPart> {
        parts
            .iter()
            .map(|(n, e, p)| {
                (
                    *n,
                    UploadedPart {
                        etag: e.to_string(),
                        size: sealed(*p),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn completion_rules() {
        let up = uploaded(&[
            (1, "\"a\"", MIN_PART_SIZE),
            (2, "\"b\"", 7),
            (3, "\"c\"", MIN_PART_SIZE - 1),
        ]);
        let ok = request(&[(1, "a"), (2, "\"b\"")]);
        assert_eq!(
            check_completion(&ok, &up, StreamLayout::default_layout()).unwrap(),
            vec![MIN_PART_SIZE, 7]
        );
        let small = request(&[(3, "c"), (2, "b")]);
        assert_eq!(
            check_completion(&small, &up, StreamLayout::default_layout())
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidPartOrder
        );
        let small = request(&[(2, "b"), (3, "c")]);
        assert_eq!(
            check_completion(&small, &up, StreamLayout::default_layout())
                .unwrap_err()
                .code,
            S3ErrorCode::EntityTooSmall
        );
        let wrong_etag = request(&[(1, "x")]);
        assert_eq!(
            check_completion(&wrong_etag, &up, StreamLayout::default_layout())
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidPart
        );
        let missing = request(&[(1, "a"), (4, "d")]);
        assert_eq!(
            check_completion(&missing, &up, StreamLayout::default_layout())
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidPart
        );
        let empty = CompleteMultipartUpload { parts: vec![] };
        assert_eq!(
            check_completion(&empty, &up, StreamLayout::default_layout())
                .unwrap_err()
                .code,
            S3ErrorCode::MalformedXML
        );
        // A part that is not a sealed stream is an upstream problem.
        let mut odd = up.clone();
        odd.insert(
            9,
            UploadedPart {
                etag: "e".into(),
                size: HEADER_LEN,
            },
        );
        assert_eq!(
            check_completion(&request(&[(9, "e")]), &odd, StreamLayout::default_layout())
                .unwrap_err()
                .code,
            S3ErrorCode::InternalError
        );
    }
}
