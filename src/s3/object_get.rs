//! GetObject and HeadObject: fetch from upstream, unseal on the way back.
//!
//! Conditional headers are evaluated by the upstream: s3seal reports the
//! upstream's ETag and Last-Modified unchanged, so they mean the same thing.
//! Objects without s3seal metadata were written to the upstream directly and
//! are relayed as stored. For sealed objects the stored length is checked
//! against the metadata before any header is sent, so a truncated object
//! fails with an error status rather than a short body.

use http::{HeaderValue, Method, Response};

use super::RequestContext;
use super::headers::{Forward, forward_request_headers, relay_response_headers};
use super::sse;
use super::upstream_response;
use crate::body::{self, ProxyBody};
use crate::error::S3Error;
use crate::kms::EncryptionContext;
use crate::seal::UnsealingBody;
use crate::seal::layout::StreamLayout;
use crate::seal::metadata::SealedObjectMetadata;
use crate::seal::unsealing_body::ExpectedStream;
use crate::state::AppState;
use crate::upstream::{UpstreamPayload, UpstreamRequest};

pub async fn get_or_head_object(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx
        .s3
        .bucket
        .as_deref()
        .zip(ctx.s3.key.as_deref())
        .ok_or_else(|| S3Error::internal("GetObject without a key"))?;
    sse::check_read_headers(&parts.headers)?;
    let is_head = parts.method == Method::HEAD;
    let wants_part_or_range =
        parts.headers.contains_key(http::header::RANGE) || ctx.s3.has_query("partNumber");

    let request = UpstreamRequest {
        method: parts.method.clone(),
        bucket: Some(bucket.to_string()),
        key: Some(key.to_string()),
        query: ctx.s3.query.clone(),
        headers: forward_request_headers(&parts.headers, Forward::SealedRead),
        body: body::empty(),
        payload: UpstreamPayload::empty(),
    };
    let response = state.upstream.send(request).await?;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        return upstream_response::relay_error(response).await;
    }
    let Some(metadata) = SealedObjectMetadata::from_headers(response.headers())? else {
        // Written to the upstream directly: served as stored.
        return upstream_response::relay(response).await;
    };
    if wants_part_or_range {
        return Err(S3Error::not_implemented(
            "Range and partNumber reads of encrypted objects",
        ));
    }
    let layout = StreamLayout::default_layout();
    if status.is_success() {
        check_stored_length(response.headers(), &layout, metadata.plaintext_len)?;
    }

    let mut headers = relay_response_headers(response.headers(), true);
    sse::add_response_headers(
        &mut headers,
        metadata.sse,
        &state.kms.key_arn(&metadata.kms_key_id),
        metadata.client_context.as_deref(),
        metadata.bucket_key_enabled,
    );
    if status.is_success() {
        headers.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from(metadata.plaintext_len),
        );
    }

    let body = if is_head || !status.is_success() {
        body::empty()
    } else {
        let context = read_context(bucket, key, &metadata)?;
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
        let expected = ExpectedStream {
            part_number: 0,
            plaintext_len: metadata.plaintext_len,
        };
        body::boxed(UnsealingBody::new(response.into_body(), data_key, expected))
    };
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
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

fn check_stored_length(
    headers: &http::HeaderMap,
    layout: &StreamLayout,
    plaintext_len: u64,
) -> Result<(), S3Error> {
    let stored: Option<u64> = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let expected = layout.sealed_len(plaintext_len)?;
    match stored {
        Some(stored) if stored == expected => Ok(()),
        Some(stored) => Err(S3Error::internal(format!(
            "the stored object is {stored} bytes but its metadata requires {expected}: it was truncated or altered on the upstream"
        ))),
        None => Ok(()),
    }
}
