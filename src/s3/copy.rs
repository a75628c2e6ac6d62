//! CopyObject, UploadPartCopy and UpdateObjectEncryption.
//!
//! A sealed object's ciphertext does not depend on where it lives: only its
//! wrapped data key names the object (through the encryption context). So
//! copying a sealed object re-wraps the data key for the destination (under
//! the destination's KMS key) and lets the upstream copy the ciphertext
//! server-side, with the new metadata. Re-keying an object in place is the
//! same copy onto itself. UpdateObjectEncryption is that, keeping all other
//! metadata. Only objects that must be *re*-encrypted stream through s3seal:
//! a plaintext source written to the upstream directly, and part copies
//! (each part of an upload is sealed under the upload's own data key).

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use super::RequestContext;
use super::checksums::PartChecksum;
use super::checksums::UploadChecksum;
use super::headers::{Forward, forward_request_headers};
use super::layouts::{self, StoredObject};
use super::multipart::remember_part_checksum;
use super::multipart::{UploadRecord, check_part_size, part_number};
use super::object_get::{
    self, ObjectAddress, Selection, read_object, stored_size, unwrap_object_key,
};
use super::object_index::IndexEntry;
use super::object_put::{self, MAX_PUT_SIZE, SealedUpload, StreamSealing, send_sealed};
use super::passthrough::read_small_body;
use super::range::ByteRange;
use super::sse::{self, SseRequest};
use super::upstream_response;
use super::xml;
use crate::auth::sigv4::uri_encode;
use crate::body::{self, ClientBody, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::integrity::ChecksumAlgorithm;
use crate::integrity::DeclaredDigests;
use crate::seal::StreamChecksum;
use crate::seal::layout::DEFAULT_SEGMENT_LOG2;
use crate::seal::metadata::SseMode;
use crate::seal::{SealedObjectMetadata, SealedShape, StreamHeader};
use crate::state::AppState;
use crate::upstream::{UpstreamBody, UpstreamPayload, UpstreamRequest};

const MAX_RESULT_BODY: usize = 64 * 1024;

/// The object named by `x-amz-copy-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

impl CopySource {
    /// Parses `bucket/key[?versionId=v]` (URL-encoded, optionally with a leading slash).
    pub fn parse(value: &str) -> Result<Self, S3Error> {
        let invalid = || {
            S3Error::invalid_argument(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            )
        };
        let value = value.strip_prefix('/').unwrap_or(value);
        let (path, query) = match value.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (value, None),
        };
        let (bucket, key) = path.split_once('/').ok_or_else(invalid)?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| invalid())
        };
        let (bucket, key) = (decode(bucket)?, decode(key)?);
        if bucket.is_empty() || key.is_empty() {
            return Err(invalid());
        }
        let key = crate::s3::route::check_key(key)?;
        let version_id = match query {
            None => None,
            Some(q) => match q.split_once('=') {
                Some(("versionId", v)) if !v.is_empty() => Some(decode(v)?),
                _ => return Err(invalid()),
            },
        };
        Ok(CopySource {
            bucket,
            key,
            version_id,
        })
    }

    fn from_request(headers: &HeaderMap) -> Result<Self, S3Error> {
        let value = headers
            .get("x-amz-copy-source")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                S3Error::invalid_argument("x-amz-copy-source is missing or not ASCII")
            })?;
        Self::parse(value)
    }

    fn address(&self) -> ObjectAddress {
        ObjectAddress {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            query: self
                .version_id
                .iter()
                .map(|v| ("versionId".to_string(), v.clone()))
                .collect(),
        }
    }

    /// The header value for an upstream copy, S3-encoded.
    fn header_value(&self) -> Result<HeaderValue, S3Error> {
        let mut value = format!(
            "/{}/{}",
            uri_encode(self.bucket.as_bytes(), false),
            uri_encode(self.key.as_bytes(), true)
        );
        if let Some(v) = &self.version_id {
            value.push_str("?versionId=");
            value.push_str(&uri_encode(v.as_bytes(), false));
        }
        HeaderValue::try_from(value).map_err(|e| S3Error::internal(e.to_string()))
    }
}

/// The source's conditions (`x-amz-copy-source-if-*`) as plain conditional headers.
fn source_conditions(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (from, to) in [
        ("x-amz-copy-source-if-match", http::header::IF_MATCH),
        (
            "x-amz-copy-source-if-none-match",
            http::header::IF_NONE_MATCH,
        ),
        (
            "x-amz-copy-source-if-modified-since",
            http::header::IF_MODIFIED_SINCE,
        ),
        (
            "x-amz-copy-source-if-unmodified-since",
            http::header::IF_UNMODIFIED_SINCE,
        ),
    ] {
        if let Some(v) = headers.get(from) {
            out.insert(to, v.clone());
        }
    }
    out
}

/// Headers describing the stored object that a COPY directive carries over.
fn copied_object_headers(head: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in head {
        let n = name.as_str();
        let keep = matches!(
            n,
            "content-type"
                | "content-encoding"
                | "content-disposition"
                | "content-language"
                | "cache-control"
                | "expires"
                | "x-amz-website-redirect-location"
        ) || (n.starts_with("x-amz-meta-")
            && !SealedObjectMetadata::is_internal_header(n));
        if keep {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetadataDirective {
    Copy,
    Replace,
}

fn metadata_directive(headers: &HeaderMap) -> Result<MetadataDirective, S3Error> {
    match headers
        .get("x-amz-metadata-directive")
        .map(|v| v.as_bytes())
    {
        None | Some(b"COPY") => Ok(MetadataDirective::Copy),
        Some(b"REPLACE") => Ok(MetadataDirective::Replace),
        Some(_) => Err(S3Error::invalid_argument(
            "Unknown metadata directive. Use COPY or REPLACE.",
        )),
    }
}

fn has_sse_headers(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|k| k.as_str().starts_with("x-amz-server-side-encryption"))
}

pub async fn copy_object(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let source = CopySource::from_request(&parts.headers)?;
    let sse = object_put::upload_encryption(state, bucket, &parts.headers)?;
    let directive = metadata_directive(&parts.headers)?;
    read_small_body(&parts, ctx, body).await?;
    let onto_itself = source.bucket == bucket && source.key == key && source.version_id.is_none();
    if onto_itself && directive == MetadataDirective::Copy && !has_sse_headers(&parts.headers) {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }

    let head = head_source(state, &source, &parts.headers).await?;
    let Some(source_metadata) = SealedObjectMetadata::from_headers(&head)? else {
        // Written to the upstream unencrypted: it has to be sealed on its way through.
        return copy_by_resealing(state, ctx, parts, source, &head, sse, directive).await;
    };
    let data_key =
        unwrap_object_key(state, ctx, &source.bucket, &source.key, &source_metadata).await?;
    let key_ref = object_put::choose_kms_key(state, &sse);
    let context = sse::object_context(bucket, key, sse.context.as_ref().map(|(_, c)| c))?;
    let wrapped = super::key_use::wrap_data_key(
        state,
        ctx,
        "kms:GenerateDataKey",
        &key_ref,
        &data_key,
        &context,
        super::key_use::ObjectRef { bucket, key },
    )
    .await?;
    tracing::info!(
        request_id = %ctx.request_id,
        from_kms_key_id = %source_metadata.data_key.kms_key_name(),
        kms_key_id = %wrapped.kms_key_name(),
        principal = %ctx.principal.arn,
        "re-wrapped a data key for CopyObject"
    );
    let metadata = SealedObjectMetadata {
        bucket_key_enabled: sse.bucket_key_enabled || wrapped.under_bucket_key(),
        data_key: wrapped,
        shape: source_metadata.shape.clone(),
        sse: sse.mode,
        client_context: sse.context.as_ref().map(|(raw, _)| raw.clone()),
    };
    let mut headers = match directive {
        MetadataDirective::Copy => copied_object_headers(&head),
        MetadataDirective::Replace => forward_request_headers(&parts.headers, Forward::SealedWrite),
    };
    carry_copy_headers(&parts.headers, &mut headers);
    let plaintext_size = sealed_plaintext_size(state, &source, &head, &source_metadata).await?;
    let response = server_side_copy(state, bucket, key, &source, headers, &metadata).await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    let (status, upstream_headers, result_xml, etag) = copy_result(response).await?;
    if let Some(etag) = etag {
        state.index.record(
            bucket,
            key,
            &IndexEntry {
                etag,
                plaintext_size: Some(plaintext_size),
            },
        );
    }
    let mut out_headers = sse::sealed_response_headers(&state.kms, &upstream_headers, &metadata);
    out_headers.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(result_xml.len()),
    );
    let mut out = Response::new(body::full(result_xml));
    *out.status_mut() = status;
    *out.headers_mut() = out_headers;
    Ok(out)
}

/// Client headers of a copy that concern the destination and pass upstream as they are.
fn carry_copy_headers(client: &HeaderMap, out: &mut HeaderMap) {
    for (name, value) in client {
        let n = name.as_str();
        if n.starts_with("x-amz-copy-source-if-")
            || matches!(
                n,
                "x-amz-tagging-directive" | "x-amz-tagging" | "x-amz-storage-class" | "x-amz-acl"
            )
        {
            out.insert(name.clone(), value.clone());
        }
    }
}

/// HEADs the copy source with its conditions; errors are the client's to see.
async fn head_source(
    state: &AppState,
    source: &CopySource,
    client: &HeaderMap,
) -> Result<HeaderMap, S3Error> {
    let request = UpstreamRequest::bodyless(
        Method::HEAD,
        Some(source.bucket.clone()),
        Some(source.key.clone()),
        source.address().query,
    )
    .with_headers(source_conditions(client));
    let response = state.upstream.send(request).await?;
    match response.status() {
        s if s.is_success() => Ok(response.headers().clone()),
        StatusCode::NOT_MODIFIED | StatusCode::PRECONDITION_FAILED => {
            Err(S3Error::precondition_failed())
        }
        StatusCode::NOT_FOUND => Err(S3Error::no_such_key()),
        status => Err(S3Error::internal(format!(
            "reading the copy source failed with {status}"
        ))),
    }
}

/// The plaintext size of a sealed source (for the destination's index entry).
async fn sealed_plaintext_size(
    state: &AppState,
    source: &CopySource,
    head: &HeaderMap,
    metadata: &SealedObjectMetadata,
) -> Result<u64, S3Error> {
    match &metadata.shape {
        SealedShape::SinglePart { plaintext_len } => Ok(*plaintext_len),
        SealedShape::Multipart { object_id } => {
            let object = StoredObject {
                bucket: source.bucket.clone(),
                key: source.key.clone(),
                version_id: source.version_id.clone(),
                etag: head.get(http::header::ETAG).cloned(),
                stored_size: stored_size(head)
                    .ok_or_else(|| S3Error::internal("the upstream did not report a size"))?,
            };
            Ok(layouts::multipart_layout(state, &object, object_id)
                .await?
                .plaintext_len())
        }
    }
}

/// Copies the source's ciphertext upstream, giving the copy `metadata`.
async fn server_side_copy(
    state: &AppState,
    bucket: &str,
    key: &str,
    source: &CopySource,
    mut headers: HeaderMap,
    metadata: &SealedObjectMetadata,
) -> Result<Response<UpstreamBody>, S3Error> {
    metadata.to_headers(&mut headers)?;
    headers.insert(
        HeaderName::from_static("x-amz-copy-source"),
        source.header_value()?,
    );
    headers.insert(
        HeaderName::from_static("x-amz-metadata-directive"),
        HeaderValue::from_static("REPLACE"),
    );
    let request = UpstreamRequest::bodyless(
        Method::PUT,
        Some(bucket.to_string()),
        Some(key.to_string()),
        Vec::new(),
    )
    .with_headers(headers);
    Ok(state.upstream.send(request).await?)
}

/// A successful copy's status, headers, CopyObjectResult body and new ETag.
/// (S3 may answer 200 with an `<Error>` document; then there is no ETag.)
async fn copy_result(
    response: Response<UpstreamBody>,
) -> Result<(StatusCode, HeaderMap, bytes::Bytes, Option<String>), S3Error> {
    let (head, incoming) = response.into_parts();
    let xml_body = upstream_response::collect_limited(incoming, MAX_RESULT_BODY).await?;
    let etag = xml::parse_upstream::<xml::CopyResult>(&xml_body, "CopyObjectResult")
        .ok()
        .map(|r| r.etag);
    Ok((head.status, head.headers, xml_body, etag))
}

/// CopyObject of a plaintext source: read it through and seal it as a PutObject would.
async fn copy_by_resealing(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    source: CopySource,
    head: &HeaderMap,
    sse: SseRequest,
    directive: MetadataDirective,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let source_body = read_source(state, ctx, &source, &parts.headers, None).await?;
    if source_body.len > MAX_PUT_SIZE {
        return Err(S3Error::invalid_request(
            "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120",
        ));
    }
    let (data_key, metadata) = object_put::new_object_key(
        state,
        ctx,
        &sse,
        SealedShape::SinglePart {
            plaintext_len: source_body.len,
        },
        "CopyObject",
    )
    .await?;
    let mut headers = match directive {
        MetadataDirective::Copy => copied_object_headers(head),
        MetadataDirective::Replace => forward_request_headers(&parts.headers, Forward::SealedWrite),
    };
    for (name, value) in &parts.headers {
        if matches!(
            name.as_str(),
            "x-amz-tagging" | "x-amz-storage-class" | "x-amz-acl"
        ) {
            headers.insert(name.clone(), value.clone());
        }
    }
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
    let header = StreamHeader::new(DEFAULT_SEGMENT_LOG2, 0, source_body.len)?;
    let declared = DeclaredDigests {
        length: Some(source_body.len),
        ..DeclaredDigests::default()
    };
    // A copy gets a fresh checksum of the algorithm asked for, else S3's default.
    let algorithm = match parts.headers.get("x-amz-checksum-algorithm") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(ChecksumAlgorithm::from_name)
                .ok_or_else(|| {
                    S3Error::invalid_argument("Checksum algorithm provided is unsupported")
                })?,
        ),
    };
    let sealing = StreamSealing {
        data_key: &data_key,
        header,
        checksum: StreamChecksum::full_object(algorithm),
    };
    let SealedUpload { response, .. } = send_sealed(
        state,
        request,
        source_body.body,
        declared,
        sealing,
        crate::body::FailureSlot::default(),
    )
    .await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    let etag = response
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    state.index.record(
        bucket,
        key,
        &IndexEntry {
            etag: etag.clone(),
            plaintext_size: Some(source_body.len),
        },
    );
    let result = xml::copy_object_result(&etag, &now_iso8601())?;
    let headers = sse::sealed_response_headers(&state.kms, &HeaderMap::new(), &metadata);
    Ok(xml::response(StatusCode::OK, headers, result))
}

/// A source's plaintext, streaming.
struct SourceBody {
    body: ProxyBody,
    len: u64,
}

/// Reads (a range of) the copy source as a client would, under its conditions.
async fn read_source(
    state: &AppState,
    ctx: &RequestContext,
    source: &CopySource,
    client: &HeaderMap,
    range: Option<ByteRange>,
) -> Result<SourceBody, S3Error> {
    let selection = range.map_or(Selection::Whole, Selection::Range);
    let mut headers = source_conditions(client);
    // A source written to the upstream directly is read with the range as is.
    if let Some(range) = client.get("x-amz-copy-source-range")
        && selection != Selection::Whole
    {
        headers.insert(http::header::RANGE, range.clone());
    }
    let response = read_object(
        state,
        ctx,
        &source.address(),
        &Method::GET,
        &headers,
        selection,
    )
    .await?;
    match response.status() {
        StatusCode::OK | StatusCode::PARTIAL_CONTENT => {}
        StatusCode::NOT_MODIFIED | StatusCode::PRECONDITION_FAILED => {
            return Err(S3Error::precondition_failed());
        }
        StatusCode::NOT_FOUND => {
            return Err(S3Error::no_such_key());
        }
        status => {
            return Err(S3Error::internal(format!(
                "reading the copy source failed with {status}"
            )));
        }
    }
    let len = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| S3Error::internal("the copy source has no length"))?;
    Ok(SourceBody {
        body: response.into_body(),
        len,
    })
}

pub async fn upload_part_copy(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let part_number = part_number(ctx)?;
    let (upload_id, record) = UploadRecord::load(state, ctx)?;
    let metadata = record.sealed_metadata()?;
    let source = CopySource::from_request(&parts.headers)?;
    let range = match parts.headers.get("x-amz-copy-source-range") {
        None => None,
        Some(value) => Some(copy_source_range(value)?),
    };
    read_small_body(&parts, ctx, body).await?;

    let source_body = read_source(state, ctx, &source, &parts.headers, range).await?;
    // S3 copies only ranges that lie wholly inside the source.
    if let Some(ByteRange::FromTo {
        first,
        last: Some(last),
    }) = range
        && source_body.len != last - first + 1
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRange,
            "The requested range is not satisfiable",
        ));
    }
    check_part_size(source_body.len)?;
    let data_key = unwrap_object_key(state, ctx, bucket, key, &metadata).await?;
    tracing::info!(
        request_id = %ctx.request_id,
        kms_key_id = %metadata.data_key.kms_key_name(),
        principal = %ctx.principal.arn,
        part_number,
        "unwrapped a data key for UploadPartCopy"
    );
    let header = StreamHeader::new(DEFAULT_SEGMENT_LOG2, part_number, source_body.len)?;
    let request = UpstreamRequest {
        method: Method::PUT,
        bucket: Some(bucket.to_string()),
        key: Some(key.to_string()),
        query: ctx.s3.query.clone(),
        headers: HeaderMap::new(),
        body: body::empty(),
        payload: UpstreamPayload::Unsigned,
    };
    let declared = DeclaredDigests {
        length: Some(source_body.len),
        ..DeclaredDigests::default()
    };
    let part_len = source_body.len;
    let sealing = StreamSealing {
        data_key: &data_key,
        header,
        checksum: record
            .checksum
            .unwrap_or_else(UploadChecksum::default_for_upload)
            .stream_checksum(),
    };
    let SealedUpload {
        response, recorded, ..
    } = send_sealed(
        state,
        request,
        source_body.body,
        declared,
        sealing,
        crate::body::FailureSlot::default(),
    )
    .await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    remember_part_checksum(
        state,
        &upload_id,
        part_number,
        response.headers(),
        PartChecksum::of(recorded.as_ref(), None, part_len),
    );
    let etag = response
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| S3Error::internal("the upstream returned no ETag for a part"))?
        .to_string();
    let result = xml::copy_part_result(&etag, &now_iso8601())?;
    let headers = sse::sealed_response_headers(&state.kms, &HeaderMap::new(), &metadata);
    Ok(xml::response(StatusCode::OK, headers, result))
}

/// `x-amz-copy-source-range`: S3 accepts only `bytes=first-last`.
fn copy_source_range(value: &HeaderValue) -> Result<ByteRange, S3Error> {
    let invalid = || {
        S3Error::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    match value.to_str().ok().and_then(ByteRange::parse) {
        Some(ByteRange::FromTo {
            first,
            last: Some(last),
        }) if first <= last => Ok(ByteRange::FromTo {
            first,
            last: Some(last),
        }),
        _ => Err(invalid()),
    }
}

/// UpdateObjectEncryption: re-wraps the object's data key under another KMS
/// key in place; data, ETag and every other piece of metadata stay.
pub async fn update_object_encryption(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let xml_body = read_small_body(&parts, ctx, body).await?;
    let request = xml::ObjectEncryption::parse(&xml_body)?;
    let Some(target) = request.sse_kms else {
        return Err(S3Error::invalid_request(
            "UpdateObjectEncryption supports only SSE-KMS as the new encryption type",
        ));
    };
    let source = CopySource {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: ctx.s3.query_value("versionId").map(str::to_string),
    };
    let head = head_source(state, &source, &HeaderMap::new()).await?;
    let Some(current) = SealedObjectMetadata::from_headers(&head)? else {
        return Err(S3Error::invalid_request(
            "UpdateObjectEncryption applies to encrypted objects; this object was written to the upstream unencrypted",
        ));
    };
    let data_key = unwrap_object_key(state, ctx, bucket, key, &current).await?;
    let context = object_get::read_context(bucket, key, &current)?;
    let wrapped = super::key_use::wrap_data_key(
        state,
        ctx,
        "kms:Encrypt",
        &target.kms_key_arn,
        &data_key,
        &context,
        super::key_use::ObjectRef { bucket, key },
    )
    .await?;
    tracing::info!(
        request_id = %ctx.request_id,
        from_kms_key_id = %current.data_key.kms_key_name(),
        kms_key_id = %wrapped.kms_key_name(),
        principal = %ctx.principal.arn,
        "re-wrapped a data key for UpdateObjectEncryption"
    );
    let metadata = SealedObjectMetadata {
        bucket_key_enabled: wrapped.under_bucket_key()
            || target
                .bucket_key_enabled
                .unwrap_or(current.bucket_key_enabled),
        data_key: wrapped,
        sse: SseMode::Kms,
        ..current.clone()
    };
    // Already wrapped so: nothing to copy, which makes re-keying a bucket
    // idempotent and cheap to resume (the keys were still used, and audited).
    if wraps_alike(&current, &metadata) {
        return Ok(update_encryption_done());
    }
    let mut headers = copied_object_headers(&head);
    // Only the version that was read may be replaced.
    if let Some(etag) = head.get(http::header::ETAG) {
        headers.insert(
            HeaderName::from_static("x-amz-copy-source-if-match"),
            etag.clone(),
        );
    }
    let response = server_side_copy(state, bucket, key, &source, headers, &metadata).await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    let (_, _, _, etag) = copy_result(response).await?;
    if let (Some(etag), Some(size)) = (etag, index_size(state, bucket, key, &head)) {
        state.index.record(
            bucket,
            key,
            &IndexEntry {
                etag,
                plaintext_size: Some(size),
            },
        );
    }
    Ok(update_encryption_done())
}

/// Whether `target` describes the same wrapping as `current`: the same key
/// (version) and encryption settings (the wrapped blobs differ by their IVs).
fn wraps_alike(current: &SealedObjectMetadata, target: &SealedObjectMetadata) -> bool {
    current.data_key.same_kms_key(&target.data_key)
        && current.sse == target.sse
        && current.bucket_key_enabled == target.bucket_key_enabled
}

fn update_encryption_done() -> Response<ProxyBody> {
    let mut out = Response::new(body::empty());
    out.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(0));
    out
}

/// The indexed plaintext size of the object version `head` describes.
fn index_size(state: &AppState, bucket: &str, key: &str, head: &HeaderMap) -> Option<u64> {
    let etag = head.get(http::header::ETAG)?.to_str().ok()?;
    state.index.lookup(bucket, key, etag)?.plaintext_size
}

fn now_iso8601() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources() {
        let s = CopySource::parse("/b/a%20b/c.txt?versionId=v1").unwrap();
        assert_eq!((s.bucket.as_str(), s.key.as_str()), ("b", "a b/c.txt"));
        assert_eq!(s.version_id.as_deref(), Some("v1"));
        assert_eq!(s.header_value().unwrap(), "/b/a%20b/c.txt?versionId=v1");
        assert_eq!(CopySource::parse("b/k").unwrap().version_id, None);
        // A source key with a leading slash, or over 1024 bytes, is refused
        // as the same key in a path is (route::check_key).
        let too_long = format!("b/{}", "k".repeat(1025));
        for bad in [
            "b",
            "/b/",
            "b/k?other=1",
            "/k",
            "b/%ff",
            "b//k",
            "/b/%2Fk",
            &too_long,
        ] {
            assert!(CopySource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn copy_source_ranges() {
        let ok = copy_source_range(&HeaderValue::from_static("bytes=0-9")).unwrap();
        assert_eq!(
            ok,
            ByteRange::FromTo {
                first: 0,
                last: Some(9)
            }
        );
        for bad in ["bytes=5-", "bytes=-5", "bytes=9-0", "0-9"] {
            assert!(
                copy_source_range(&HeaderValue::from_static(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn directive_and_conditions() {
        let mut h = HeaderMap::new();
        assert_eq!(metadata_directive(&h).unwrap(), MetadataDirective::Copy);
        h.insert("x-amz-metadata-directive", HeaderValue::from_static("MOVE"));
        assert!(metadata_directive(&h).is_err());
        h.insert(
            "x-amz-copy-source-if-match",
            HeaderValue::from_static("\"e\""),
        );
        assert_eq!(
            source_conditions(&h).get(http::header::IF_MATCH).unwrap(),
            "\"e\""
        );
        let mut head = HeaderMap::new();
        head.insert("content-type", HeaderValue::from_static("text/plain"));
        head.insert("x-amz-meta-color", HeaderValue::from_static("blue"));
        head.insert("x-amz-meta-s3seal-dk", HeaderValue::from_static("x"));
        head.insert("etag", HeaderValue::from_static("\"e\""));
        let copied = copied_object_headers(&head);
        assert_eq!(copied.len(), 2);
    }
}
