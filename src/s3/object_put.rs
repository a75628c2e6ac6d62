//! PutObject: authenticate → choose the key → seal the body as it streams → upstream.
//!
//! The data key is generated (and the KMS key checked) before a single byte
//! goes upstream, so an unknown or disabled key stores nothing. The body is
//! verified (signed SHA-256, Content-MD5, flexible checksum) and sealed in one
//! pass; a mismatch aborts the upstream request before its last byte.

use http::{HeaderValue, Method, Response, StatusCode};

use super::RequestContext;
use super::checksums::ObjectChecksum;
use super::headers::{Forward, forward_request_headers};
use super::object_index::IndexEntry;
use super::sse::{self, SseRequest};
use super::upstream_response;
use super::write_conditions::WriteConditions;
use crate::body::{self, ClientBody, FailureSlot, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::integrity::{DeclaredChecksum, DeclaredDigests, VerifyingBody};
use crate::kms::DataKey;
use crate::seal::layout::DEFAULT_SEGMENT_LOG2;
use crate::seal::metadata::{SealedObjectMetadata, SealedShape};
use crate::seal::{ChecksumRecord, SealingBody, StreamChecksum, StreamHeader};
use crate::state::AppState;
use crate::upstream::{UpstreamBody, UpstreamPayload, UpstreamRequest};

/// S3's limit for a single PUT.
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

pub async fn put_object(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let sse = upload_encryption(state, bucket, &parts.headers)?;
    let declared = DeclaredDigests::from_request(&parts.headers, &ctx.payload)?;
    let plaintext_len = declared.length.ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::MissingContentLength,
            "You must provide the Content-Length HTTP header.",
        )
    })?;
    if plaintext_len > MAX_PUT_SIZE {
        return Err(S3Error::new(
            S3ErrorCode::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size.",
        ));
    }
    let checksum = StreamChecksum::full_object(declared.checksum.as_ref().map(|c| c.algorithm));

    let (data_key, metadata) = new_object_key(
        state,
        ctx,
        &sse,
        SealedShape::SinglePart { plaintext_len },
        "PutObject",
    )
    .await?;
    let header = StreamHeader::new(DEFAULT_SEGMENT_LOG2, 0, plaintext_len)?;
    let mut headers = forward_request_headers(&parts.headers, Forward::SealedWrite);
    metadata.to_headers(&mut headers)?;
    let request = UpstreamRequest {
        method: Method::PUT,
        bucket: Some(bucket.to_string()),
        key: Some(key.to_string()),
        query: ctx.s3.query.clone(),
        headers,
        body: body::empty(),
        payload: UpstreamPayload::Unsigned,
    };
    // Checked last, just before the upload goes out (see write_conditions).
    WriteConditions::from_headers(&parts.headers)?
        .check(state, bucket, key)
        .await?;
    let failure = FailureSlot::default();
    let body = ctx.object_body(body, &failure);
    let sealing = StreamSealing {
        data_key: &data_key,
        header,
        checksum,
    };
    let SealedUpload {
        response, recorded, ..
    } = send_sealed(state, request, body, declared, sealing, failure).await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }

    if let Some(etag) = response
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
    {
        let entry = IndexEntry {
            etag: etag.to_string(),
            plaintext_size: Some(plaintext_len),
        };
        state.index.record(bucket, key, &entry);
    }
    let mut out = Response::new(body::empty());
    *out.status_mut() = StatusCode::OK;
    *out.headers_mut() = sse::sealed_response_headers(&state.kms, response.headers(), &metadata);
    out.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(0));
    // S3 answers the checksum it stored: the client's (verified) or its default.
    if let Some(record) = &recorded {
        ObjectChecksum::single(record).insert_headers(out.headers_mut());
    }
    Ok(out)
}

/// How to seal one stream: under which data key, with which header, and
/// which plaintext checksum to record in it.
pub struct StreamSealing<'a> {
    pub data_key: &'a DataKey,
    pub header: StreamHeader,
    pub checksum: StreamChecksum,
}

/// What came of sending one sealed stream upstream.
pub struct SealedUpload {
    pub response: Response<UpstreamBody>,
    /// The plaintext checksum sealed in the stream's record.
    pub recorded: Option<ChecksumRecord>,
    /// The flexible checksum the client sent (header or trailer), verified.
    pub verified: Option<DeclaredChecksum>,
}

/// Sends `request` upstream with `body` (verified against `declared`)
/// sealed into one stream, as it streams. Returns the upstream's response
/// and, once the body went through whole, the checksums it carried.
pub async fn send_sealed<B>(
    state: &AppState,
    mut request: UpstreamRequest,
    body: B,
    declared: DeclaredDigests,
    sealing: StreamSealing<'_>,
    failure: FailureSlot,
) -> Result<SealedUpload, S3Error>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + Sync + 'static,
    B::Error: Into<crate::body::BoxError>,
{
    let verifying = VerifyingBody::new(body, declared, failure.clone());
    let verified = verifying.verified_checksum();
    let sealed = SealingBody::new(
        verifying,
        sealing.data_key,
        sealing.header,
        sealing.checksum,
        failure.clone(),
    )?;
    let computed = sealed.checksum();
    request.headers.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(sealed.sealed_len()),
    );
    request.body = body::boxed(sealed);
    request.payload = UpstreamPayload::Unsigned;
    let response = match state.upstream.send(request).await {
        Ok(response) => response,
        // A body failure (digest mismatch, short body) is the client's error, not the upstream's.
        Err(err) => return Err(failure.take().unwrap_or_else(|| err.into())),
    };
    if let Some(err) = failure.take() {
        return Err(err);
    }
    Ok(SealedUpload {
        response,
        recorded: computed.get().cloned(),
        verified: verified.take(),
    })
}

/// The encryption an upload asks for: its SSE headers, else the bucket's
/// default encryption (user metadata named `s3seal-*` is refused first).
pub fn upload_encryption(
    state: &AppState,
    bucket: &str,
    headers: &http::HeaderMap,
) -> Result<SseRequest, S3Error> {
    reject_reserved_metadata(headers)?;
    Ok(sse::with_bucket_default(
        sse::parse_write_headers(headers)?,
        &super::bucket_config::default_encryption(state, bucket)?,
    ))
}

/// A fresh data key for a new object of the request's bucket and key, wrapped
/// under the KMS key `sse` selects (so an unusable key fails before anything
/// is sent upstream), and the metadata that will describe the object.
pub async fn new_object_key(
    state: &AppState,
    ctx: &RequestContext,
    sse: &SseRequest,
    shape: SealedShape,
    operation: &str,
) -> Result<(DataKey, SealedObjectMetadata), S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let key_ref = choose_kms_key(state, sse);
    let context = sse::object_context(bucket, key, sse.context.as_ref().map(|(_, c)| c))?;
    let object = super::key_use::ObjectRef { bucket, key };
    let (data_key, wrapped) =
        super::key_use::generate_data_key(state, ctx, &key_ref, &context, object).await?;
    tracing::info!(
        request_id = %ctx.request_id,
        kms_key_id = %wrapped.kms_key_name(),
        format = wrapped.format_version(),
        principal = %ctx.principal.arn,
        "generated a data key for {operation}"
    );
    let metadata = SealedObjectMetadata {
        bucket_key_enabled: sse.bucket_key_enabled || wrapped.under_bucket_key(),
        data_key: wrapped,
        shape,
        sse: sse.mode,
        client_context: sse.context.as_ref().map(|(raw, _)| raw.clone()),
    };
    Ok((data_key, metadata))
}

/// The KMS key for an upload: the one named by the client, else the default
/// (the external KMS's, when one is configured).
pub fn choose_kms_key(state: &AppState, sse: &SseRequest) -> String {
    sse.kms_key
        .clone()
        .unwrap_or_else(|| match &state.external_kms {
            Some(external) => external.default_key_id().to_string(),
            None => state.default_kms_key_id.clone(),
        })
}

/// Clients may not set s3seal's internal metadata (it would forge a sealed object's description).
fn reject_reserved_metadata(headers: &http::HeaderMap) -> Result<(), S3Error> {
    if headers
        .keys()
        .any(|k| SealedObjectMetadata::is_internal_header(k.as_str()))
    {
        return Err(S3Error::invalid_argument(format!(
            "user metadata keys starting with '{}' are reserved by s3seal",
            crate::seal::metadata::INTERNAL_META_PREFIX.trim_start_matches("x-amz-meta-")
        )));
    }
    Ok(())
}
