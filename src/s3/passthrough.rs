//! Operations without object content, forwarded faithfully.
//!
//! Their request bodies are small XML documents (DeleteObjects, tagging,
//! bucket configuration); they are read in full (bounded), verified against
//! the client's declared digests, and signed upstream with their SHA-256.
//! Responses stream back unchanged.

use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body_util::{BodyExt, Limited};
use sha2::{Digest, Sha256};

use super::RequestContext;
use super::headers::{Forward, forward_request_headers};
use super::upstream_response;
use crate::body::{self, ClientBody, FailureSlot, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::integrity::{DeclaredDigests, VerifyingBody};
use crate::state::AppState;
use crate::upstream::{UpstreamBody, UpstreamPayload, UpstreamRequest};

/// Largest request body accepted for a pass-through operation (S3's own XML
/// bodies stay far below this; DeleteObjects of 1000 long keys is ~1.1 MiB).
pub const MAX_PASSTHROUGH_BODY: usize = 2 * 1024 * 1024;

pub async fn forward(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    if ctx.s3.operation == super::route::Operation::DeleteObjects {
        return delete_objects(state, ctx, parts, body).await;
    }
    let response = exchange(state, ctx, parts, body).await?;
    let bucket = ctx.s3.bucket.as_deref().unwrap_or_default();
    match (&ctx.s3.operation, response.status().is_success()) {
        (super::route::Operation::DeleteObject, true) => {
            if let Some(key) = &ctx.s3.key {
                state.index.forget(bucket, key);
            }
        }
        (super::route::Operation::DeleteBucket, true) => {
            super::bucket_config::forget(state, bucket);
        }
        _ => {}
    }
    upstream_response::relay(response).await
}

/// DeleteObjects: every key is authorised (as S3 authorises `s3:DeleteObject`
/// per key) before the request goes upstream; one refused key refuses it all.
async fn delete_objects(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let bytes = read_small_body(&parts, ctx, body).await?;
    let request: super::xml::DeleteRequest = super::xml::parse_xml(&bytes).map_err(|e| {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            format!("The XML you provided was not well-formed or did not validate against our published schema: {e}"),
        )
    })?;
    // S3's limits: at least one key, at most 1000.
    if request.objects.is_empty() || request.objects.len() > MAX_DELETE_KEYS {
        return Err(S3Error::new(
            S3ErrorCode::MalformedXML,
            format!(
                "a DeleteObjects request names 1 to {MAX_DELETE_KEYS} keys; this one names {}",
                request.objects.len()
            ),
        ));
    }
    for object in &request.objects {
        let action = if object.version_id.is_some() {
            "s3:DeleteObjectVersion"
        } else {
            "s3:DeleteObject"
        };
        super::access::authorize_object_action(state, ctx, &parts.headers, action, &object.key)?;
    }
    let bucket = ctx.s3.bucket.clone().unwrap_or_default();
    let response = send_rewritten_delete(state, ctx, parts, &request).await?;
    if !response.status().is_success() {
        return upstream_response::relay(response).await;
    }
    forget_deleted(state, &bucket, response).await
}

/// Sends the DeleteObjects body s3seal wrote from the keys it authorised,
/// with a Content-MD5 of that body (S3 requires one; the client's digests
/// describe the client's document, not this one).
async fn send_rewritten_delete(
    state: &AppState,
    ctx: &RequestContext,
    mut parts: http::request::Parts,
    request: &super::xml::DeleteRequest,
) -> Result<Response<UpstreamBody>, S3Error> {
    let body = Bytes::from(request.upstream_body()?);
    let headers = &mut parts.headers;
    headers.remove("content-md5");
    headers.remove("x-amz-sdk-checksum-algorithm");
    let checksum_headers: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-amz-checksum-"))
        .cloned()
        .collect();
    for name in checksum_headers {
        headers.remove(name);
    }
    use base64::Engine as _;
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
    headers.insert(
        "content-md5",
        HeaderValue::from_str(&md5).map_err(|e| S3Error::internal(e.to_string()))?,
    );
    send(state, ctx, parts, body).await
}

/// Relays a DeleteObjects result, dropping the index entries of the deleted keys.
async fn forget_deleted(
    state: &AppState,
    bucket: &str,
    response: http::Response<UpstreamBody>,
) -> Result<Response<ProxyBody>, S3Error> {
    let (head, incoming) = response.into_parts();
    let xml = upstream_response::collect_limited(incoming, MAX_DELETE_RESULT).await?;
    if let Ok(result) = super::xml::parse_upstream::<super::xml::DeleteResult>(&xml, "DeleteResult")
    {
        for deleted in result.deleted {
            state.index.forget(bucket, &deleted.key);
        }
    }
    let mut out = Response::new(body::full(xml.clone()));
    *out.status_mut() = head.status;
    *out.headers_mut() = super::headers::relay_response_headers(&head.headers, false);
    out.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(xml.len()));
    Ok(out)
}

/// The most keys one DeleteObjects request may name (S3's limit).
const MAX_DELETE_KEYS: usize = 1000;

/// A DeleteObjects result lists at most 1000 keys of at most 1 KiB each.
const MAX_DELETE_RESULT: usize = 4 * 1024 * 1024;

/// Reads the (small) request body, verifies it, and sends the request upstream.
pub async fn exchange(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<UpstreamBody>, S3Error> {
    let bytes = read_small_body(&parts, ctx, body).await?;
    send(state, ctx, parts, bytes).await
}

/// Reads a small request body in full, verified against the client's declared digests.
pub async fn read_small_body(
    parts: &http::request::Parts,
    ctx: &RequestContext,
    body: ClientBody,
) -> Result<Bytes, S3Error> {
    read_verified_body(parts, &ctx.payload, body, MAX_PASSTHROUGH_BODY, true).await
}

/// The body of a CompleteMultipartUpload: its `x-amz-checksum-*` headers
/// are the whole object's checksum, not the XML body's.
pub async fn read_completion_body(
    parts: &http::request::Parts,
    ctx: &RequestContext,
    body: ClientBody,
) -> Result<Bytes, S3Error> {
    read_verified_body(parts, &ctx.payload, body, MAX_PASSTHROUGH_BODY, false).await
}

/// Reads a body of at most `limit` bytes, verified against the signed payload
/// hash and the declared digests (the flexible checksum only if
/// `checksum_is_the_bodys`).
pub async fn read_verified_body(
    parts: &http::request::Parts,
    payload: &crate::auth::PayloadHash,
    body: ClientBody,
    limit: usize,
    checksum_is_the_bodys: bool,
) -> Result<Bytes, S3Error> {
    if let crate::auth::PayloadHash::Streaming(mode) = payload {
        return Err(S3Error::not_implemented(format!(
            "aws-chunked bodies ({mode}) for this operation; they are supported for PutObject and UploadPart"
        )));
    }
    let declared = if checksum_is_the_bodys {
        DeclaredDigests::from_request(&parts.headers, payload)?
    } else {
        DeclaredDigests::without_checksum(&parts.headers, payload)?
    };
    let failure = FailureSlot::default();
    let verified = VerifyingBody::new(body, declared, failure.clone());
    match Limited::new(verified, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) => Err(failure.take().unwrap_or_else(|| {
            if err.is::<http_body_util::LengthLimitError>() {
                S3Error::new(
                    S3ErrorCode::EntityTooLarge,
                    "the request body is too large for this operation",
                )
            } else {
                S3Error::new(
                    S3ErrorCode::IncompleteBody,
                    format!("reading the request body failed: {err}"),
                )
            }
        })),
    }
}

/// Sends the request upstream with `bytes` as its (already verified) body.
pub async fn send(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    bytes: Bytes,
) -> Result<Response<UpstreamBody>, S3Error> {
    let mut headers = forward_request_headers(&parts.headers, Forward::PassThrough);
    if !bytes.is_empty() {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    }
    let payload = UpstreamPayload::Sha256Hex(hex::encode(Sha256::digest(&bytes)));
    let request = UpstreamRequest {
        method: parts.method,
        bucket: ctx.s3.bucket.clone(),
        key: ctx.s3.key.clone(),
        query: ctx.s3.query.clone(),
        headers,
        body: body::full(bytes),
        payload,
    };
    Ok(state.upstream.send(request).await?)
}
