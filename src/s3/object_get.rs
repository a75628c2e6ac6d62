//! GetObject and HeadObject: fetch from upstream, unseal on the way back.
//!
//! Conditional headers are evaluated by the upstream: s3seal reports the
//! upstream's ETag and Last-Modified unchanged, so they mean the same thing.
//! Objects without s3seal metadata were written to the upstream directly and
//! are relayed as stored. For sealed objects the stored length is checked
//! against the metadata before any header is sent, so a truncated object
//! fails with an error status rather than a short body.
//!
//! A ranged GET of a sealed object costs two upstream requests: the first
//! fetches the stream header (and with it the metadata and the stored size),
//! the second only the segments that hold the range, pinned to the same
//! object version with `If-Match`.

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::RequestContext;
use super::headers::{Forward, forward_request_headers};
use super::range::{ByteRange, SatisfiedRange};
use super::sse;
use super::upstream_response;
use crate::body::{self, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::kms::{DataKey, EncryptionContext};
use crate::seal::layout::{HEADER_LEN, StreamLayout};
use crate::seal::metadata::SealedObjectMetadata;
use crate::seal::segment::StreamCipher;
use crate::seal::unsealing_body::ExpectedStream;
use crate::seal::{StreamHeader, UnsealingBody};
use crate::state::AppState;
use crate::upstream::{UpstreamPayload, UpstreamRequest};

pub async fn get_or_head_object(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
) -> Result<Response<ProxyBody>, S3Error> {
    sse::check_read_headers(&parts.headers)?;
    let range = parts
        .headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse);
    match (parts.method == Method::HEAD, range) {
        (false, Some(range)) => ranged_get(state, ctx, &parts, range).await,
        (is_head, range) => whole_object(state, ctx, &parts, is_head, range).await,
    }
}

fn bucket_and_key(ctx: &RequestContext) -> Result<(&str, &str), S3Error> {
    ctx.s3
        .bucket
        .as_deref()
        .zip(ctx.s3.key.as_deref())
        .ok_or_else(|| S3Error::internal("object operation without a key"))
}

/// An upstream GET/HEAD of this object carrying the client's forwardable headers.
fn upstream_read(
    ctx: &RequestContext,
    method: Method,
    headers: HeaderMap,
) -> Result<UpstreamRequest, S3Error> {
    let (bucket, key) = bucket_and_key(ctx)?;
    Ok(UpstreamRequest {
        method,
        bucket: Some(bucket.to_string()),
        key: Some(key.to_string()),
        query: ctx.s3.query.clone(),
        headers,
        body: body::empty(),
        payload: UpstreamPayload::empty(),
    })
}

/// GET without a range, or HEAD (with or without one).
async fn whole_object(
    state: &AppState,
    ctx: &RequestContext,
    parts: &http::request::Parts,
    is_head: bool,
    range: Option<ByteRange>,
) -> Result<Response<ProxyBody>, S3Error> {
    let mut headers = forward_request_headers(&parts.headers, Forward::SealedRead);
    headers.remove(http::header::RANGE);
    let response = state
        .upstream
        .send(upstream_read(ctx, parts.method.clone(), headers)?)
        .await?;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        return upstream_response::relay_error(response).await;
    }
    let Some(metadata) = SealedObjectMetadata::from_headers(response.headers())? else {
        // Written to the upstream directly: served as stored (ranges included).
        return plaintext_object(state, ctx, parts, response).await;
    };
    refuse_part_number(ctx)?;
    if status.is_success() {
        check_stored_length(response.headers(), metadata.plaintext_len)?;
    }
    let mut out_headers = sse::sealed_response_headers(&state.kms, response.headers(), &metadata);
    if !status.is_success() {
        return Ok(with_parts(body::empty(), status, out_headers));
    }
    // HEAD with a Range answers as GET would, without the body.
    if let Some(range) = range {
        let satisfied = satisfy(range, metadata.plaintext_len)?;
        add_range_headers(&mut out_headers, satisfied, metadata.plaintext_len);
        return Ok(with_parts(
            body::empty(),
            StatusCode::PARTIAL_CONTENT,
            out_headers,
        ));
    }
    out_headers.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(metadata.plaintext_len),
    );
    if is_head {
        return Ok(with_parts(body::empty(), status, out_headers));
    }
    let data_key = unwrap_data_key(state, ctx, &metadata)?;
    let expected = ExpectedStream {
        part_number: 0,
        plaintext_len: metadata.plaintext_len,
    };
    let body = body::boxed(UnsealingBody::new(response.into_body(), data_key, expected));
    Ok(with_parts(body, status, out_headers))
}

/// GET with a Range: header first, then only the segments the range needs.
async fn ranged_get(
    state: &AppState,
    ctx: &RequestContext,
    parts: &http::request::Parts,
    range: ByteRange,
) -> Result<Response<ProxyBody>, S3Error> {
    let mut headers = forward_request_headers(&parts.headers, Forward::SealedRead);
    let header_range = format!("bytes=0-{}", HEADER_LEN - 1);
    headers.insert(
        http::header::RANGE,
        HeaderValue::try_from(header_range).map_err(|e| S3Error::internal(e.to_string()))?,
    );
    let first = state
        .upstream
        .send(upstream_read(ctx, Method::GET, headers)?)
        .await?;
    let status = first.status();
    // 416 here means an object shorter than a stream header: not sealed.
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        return forward_plaintext_get(state, ctx, parts).await;
    }
    if status.is_client_error() || status.is_server_error() {
        return upstream_response::relay_error(first).await;
    }
    let Some(metadata) = SealedObjectMetadata::from_headers(first.headers())? else {
        return forward_plaintext_get(state, ctx, parts).await;
    };
    refuse_part_number(ctx)?;
    if !status.is_success() {
        // 304 Not Modified and friends.
        let headers = sse::sealed_response_headers(&state.kms, first.headers(), &metadata);
        return Ok(with_parts(body::empty(), status, headers));
    }
    check_stored_length(first.headers(), metadata.plaintext_len)?;
    let etag = first.headers().get(http::header::ETAG).cloned();
    let header_bytes = upstream_response::collect_small(first).await?;
    let header = StreamHeader::decode(&header_bytes)?;
    if header.plaintext_len != metadata.plaintext_len || header.part_number != 0 {
        return Err(crate::seal::SealError::HeaderMismatch(
            "stream header disagrees with metadata",
        )
        .into());
    }
    let satisfied = satisfy(range, metadata.plaintext_len)?;
    let data_key = unwrap_data_key(state, ctx, &metadata)?;
    let cipher = StreamCipher::new(&data_key, &header)?;
    let span =
        cipher
            .layout()
            .segments_for(metadata.plaintext_len, satisfied.first, satisfied.last);

    // The segments, from the very version whose header was read.
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::RANGE,
        HeaderValue::try_from(format!("bytes={}-{}", span.sealed_first, span.sealed_last))
            .map_err(|e| S3Error::internal(e.to_string()))?,
    );
    if let Some(etag) = etag {
        headers.insert(http::header::IF_MATCH, etag);
    }
    let second = state
        .upstream
        .send(upstream_read(ctx, Method::GET, headers)?)
        .await?;
    if second.status() == StatusCode::PRECONDITION_FAILED
        || second.status() == StatusCode::NOT_FOUND
    {
        return Err(S3Error::new(
            S3ErrorCode::ServiceUnavailable,
            "the object changed while it was being read; retry the request",
        ));
    }
    if second.status() != StatusCode::PARTIAL_CONTENT {
        return upstream_response::relay_error(second).await;
    }
    let mut out_headers = sse::sealed_response_headers(&state.kms, second.headers(), &metadata);
    add_range_headers(&mut out_headers, satisfied, metadata.plaintext_len);
    let expected = ExpectedStream {
        part_number: 0,
        plaintext_len: metadata.plaintext_len,
    };
    let body = body::boxed(UnsealingBody::for_span(
        second.into_body(),
        cipher,
        expected,
        span,
    ));
    Ok(with_parts(body, StatusCode::PARTIAL_CONTENT, out_headers))
}

/// Serves an object that is not sealed exactly as the upstream stores it.
async fn forward_plaintext_get(
    state: &AppState,
    ctx: &RequestContext,
    parts: &http::request::Parts,
) -> Result<Response<ProxyBody>, S3Error> {
    let headers = forward_request_headers(&parts.headers, Forward::SealedRead);
    let response = state
        .upstream
        .send(upstream_read(ctx, parts.method.clone(), headers)?)
        .await?;
    if SealedObjectMetadata::from_headers(response.headers())?.is_some() {
        // Replaced by a sealed object between the two requests.
        return Err(S3Error::new(
            S3ErrorCode::ServiceUnavailable,
            "the object changed while it was being read; retry the request",
        ));
    }
    upstream_response::relay(response).await
}

/// A plaintext object fetched without the client's Range: refetch with it if there was one.
async fn plaintext_object(
    state: &AppState,
    ctx: &RequestContext,
    parts: &http::request::Parts,
    response: Response<hyper::body::Incoming>,
) -> Result<Response<ProxyBody>, S3Error> {
    if parts.headers.contains_key(http::header::RANGE) {
        drop(response);
        return forward_plaintext_get(state, ctx, parts).await;
    }
    upstream_response::relay(response).await
}

/// Multipart objects and `partNumber` reads come with multipart support.
fn refuse_part_number(ctx: &RequestContext) -> Result<(), S3Error> {
    if ctx.s3.has_query("partNumber") {
        return Err(S3Error::not_implemented(
            "partNumber reads of encrypted objects",
        ));
    }
    Ok(())
}

fn satisfy(range: ByteRange, size: u64) -> Result<SatisfiedRange, S3Error> {
    range.satisfy(size).ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::InvalidRange,
            "The requested range is not satisfiable",
        )
        .with_detail("ActualObjectSize", size.to_string())
    })
}

fn add_range_headers(headers: &mut HeaderMap, range: SatisfiedRange, total: u64) {
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(range.len()));
    if let Ok(v) = HeaderValue::try_from(range.content_range(total)) {
        headers.insert(http::header::CONTENT_RANGE, v);
    }
}

fn with_parts(body: ProxyBody, status: StatusCode, headers: HeaderMap) -> Response<ProxyBody> {
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

fn unwrap_data_key(
    state: &AppState,
    ctx: &RequestContext,
    metadata: &SealedObjectMetadata,
) -> Result<DataKey, S3Error> {
    let (bucket, key) = bucket_and_key(ctx)?;
    let context = read_context(bucket, key, metadata)?;
    let data_key = state.kms.unwrap_data_key(&metadata.wrapped_key, &context).map_err(|err| match err {
        crate::kms::KmsError::InvalidCiphertext(_) => S3Error::internal(
            "the object's wrapped data key does not match its bucket and key: it was moved or altered on the upstream",
        ),
        other => other.into(),
    })?;
    tracing::info!(
        request_id = %ctx.request_id,
        kms_key_id = %metadata.kms_key_id,
        principal = %ctx.principal.arn,
        "unwrapped a data key for GetObject"
    );
    Ok(data_key)
}

/// The context the data key was wrapped with: the object's ARN plus the client's pairs.
fn read_context(
    bucket: &str,
    key: &str,
    metadata: &SealedObjectMetadata,
) -> Result<EncryptionContext, S3Error> {
    let client = metadata
        .client_context
        .as_deref()
        .map(sse::parse_context)
        .transpose()?;
    sse::object_context(bucket, key, client.as_ref())
}

/// The object's stored size, from `Content-Range: bytes a-b/SIZE` or `Content-Length`.
fn stored_size(headers: &HeaderMap) -> Option<u64> {
    if let Some(range) = headers
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        return range.rsplit('/').next().and_then(|n| n.parse().ok());
    }
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn check_stored_length(headers: &HeaderMap, plaintext_len: u64) -> Result<(), S3Error> {
    let expected = StreamLayout::default_layout().sealed_len(plaintext_len)?;
    match stored_size(headers) {
        Some(stored) if stored == expected => Ok(()),
        Some(stored) => Err(S3Error::internal(format!(
            "the stored object is {stored} bytes but its metadata requires {expected}: it was truncated or altered on the upstream"
        ))),
        None => Ok(()),
    }
}
