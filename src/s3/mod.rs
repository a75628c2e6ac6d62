//! The S3 protocol: routing, and one handler module per operation family.
//!
//! Data flows one way: [`route`] resolves the request's [`route::Operation`],
//! the server authenticates the request, and [`handle`] dispatches to
//! - [`object_put`]: PutObject, sealing the body on its way upstream;
//! - [`post_object`]: browser POST uploads (HTML forms with a signed policy),
//!   sealed like PutObject; the server hands them over before authentication,
//!   because their credentials are in the form;
//! - [`object_get`]: GetObject / HeadObject (whole, ranges, parts), unsealing on the way back;
//! - [`multipart`]: multipart uploads, sealed part by part;
//! - [`write_conditions`]: `If-Match` / `If-None-Match` on writes, checked by s3seal too;
//! - [`copy`]: CopyObject, UploadPartCopy and UpdateObjectEncryption (re-wrapping data keys);
//! - [`layouts`]: where the streams of a sealed object lie (recorded or rebuilt);
//! - [`listing`]: object listings, rewritten to plaintext sizes (from the [`object_index`]);
//! - [`bucket`]: CreateBucket / GetBucketLocation, translating between s3seal's region and the upstream's;
//! - [`bucket_config`]: bucket policies and default encryption, kept and enforced by s3seal;
//! - [`audit`]: audit records of refused requests and bucket security changes;
//! - [`access`]: bucket-policy authorisation of every request ([`iam`] maps operations to actions);
//! - [`passthrough`]: other operations without object content, forwarded faithfully;
//! - [`key_use`]: every data key generated, unwrapped or re-wrapped, audited;
//!
//! and refuses the rest with `NotImplemented`.

pub mod access;
pub mod audit;
pub mod bucket;
pub mod bucket_config;
pub mod bucket_keys;
pub mod checksums;
pub mod copy;
pub mod headers;
pub mod iam;
pub mod key_use;
pub mod layouts;
pub mod listing;
pub mod multipart;
pub mod object_attributes;
pub mod object_get;
pub mod object_index;
pub mod object_put;
pub mod passthrough;
pub mod post_object;
pub mod range;
pub mod route;
pub mod sse;
pub mod tags;
pub mod upstream_response;
pub mod write_conditions;
pub mod xml;

use crate::body::ClientBody;
use http::Response;

use crate::auth::{AuthMethod, PayloadHash, Principal};
use crate::body::ProxyBody;
use crate::error::S3Error;
use crate::state::AppState;
use route::{Family, S3Request};

impl RequestContext {
    /// The bucket and key of an object operation.
    pub fn bucket_and_key(&self) -> Result<(&str, &str), S3Error> {
        self.s3
            .bucket
            .as_deref()
            .zip(self.s3.key.as_deref())
            .ok_or_else(|| S3Error::internal("object operation without a key"))
    }

    /// An object upload's body as plaintext bytes: aws-chunked framing is
    /// decoded (and every chunk signature verified) on the way.
    pub fn object_body(&self, body: ClientBody, failure: &crate::body::FailureSlot) -> ProxyBody {
        match &self.payload {
            PayloadHash::Streaming(_) => {
                crate::body::boxed(crate::integrity::aws_chunked::AwsChunkedBody::new(
                    body,
                    self.chunk_signing.clone(),
                    failure.clone(),
                ))
            }
            _ => crate::body::boxed(body),
        }
    }

    /// The caller as the KMS sees it when s3seal uses a key for this request:
    /// the S3 caller's own principal, via S3 (`kms:ViaService`).
    pub fn kms_caller(&self, state: &AppState) -> crate::kms::Caller {
        crate::kms::Caller::principal(&self.principal.arn, &state.config.server.account_id)
            .via(format!("s3.{}.amazonaws.com", state.config.server.region))
    }
}

/// Everything a handler knows about the request besides its head and body.
pub struct RequestContext {
    pub request_id: String,
    pub principal: Principal,
    /// How the principal was authenticated (for the `s3:authType` and
    /// `s3:signatureversion` policy keys).
    pub auth_method: AuthMethod,
    /// What the signature says about the body (verified as it streams).
    pub payload: PayloadHash,
    pub s3: S3Request,
    /// The client's address (for `aws:SourceIp`).
    pub source_ip: Option<String>,
    /// The client's `User-Agent` (for the audit log).
    pub user_agent: Option<String>,
    /// Whether the request came over TLS s3seal terminated (for
    /// `aws:SecureTransport`). TLS terminated in front of s3seal does not
    /// count: s3seal cannot tell it from a plain connection.
    pub secure_transport: bool,
    /// For signed aws-chunked bodies: what verifying their chunks needs.
    pub chunk_signing: Option<crate::integrity::aws_chunked::ChunkSigning>,
}

/// Serves an authenticated S3 request.
pub async fn handle(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    use route::Operation::*;
    access::authorize(state, ctx, &parts.headers).await?;
    if let BucketConfig { subresource, .. } = &ctx.s3.operation
        && bucket_config::SUBRESOURCES.contains(subresource)
    {
        return bucket_config::handle(state, ctx, parts, body, subresource).await;
    }
    match (ctx.s3.operation.family(), &ctx.s3.operation) {
        (Family::SealedObject, PutObject) => object_put::put_object(state, ctx, parts, body).await,
        // Authenticated by its form, not its headers: the server serves it directly.
        (_, PostObject) => Err(S3Error::internal(
            "POST uploads are served by post_object::serve",
        )),
        (Family::SealedObject, GetObject | HeadObject) => {
            object_get::get_or_head_object(state, ctx, parts).await
        }
        (_, GetObjectAttributes) => {
            object_attributes::get_object_attributes(state, ctx, parts).await
        }
        (_, CreateMultipartUpload) => multipart::create(state, ctx, parts, body).await,
        (_, UploadPart) => multipart::upload_part(state, ctx, parts, body).await,
        (_, CompleteMultipartUpload) => multipart::complete(state, ctx, parts, body).await,
        (_, AbortMultipartUpload) => multipart::abort(state, ctx, parts, body).await,
        (_, ListParts) => multipart::list_parts(state, ctx, parts, body).await,
        (_, CopyObject) => copy::copy_object(state, ctx, parts, body).await,
        (_, UploadPartCopy) => copy::upload_part_copy(state, ctx, parts, body).await,
        (_, UpdateObjectEncryption) => {
            copy::update_object_encryption(state, ctx, parts, body).await
        }
        (_, CreateBucket) => bucket::create_bucket(state, ctx, parts, body).await,
        (_, GetBucketLocation) => bucket::get_bucket_location(state, ctx, parts, body).await,
        (_, ListObjects | ListObjectsV2 | ListObjectVersions) => {
            listing::list(state, ctx, parts, body).await
        }
        (Family::PassThrough, _) => passthrough::forward(state, ctx, parts, body).await,
        (_, operation) => Err(S3Error::not_implemented(operation.name())),
    }
}
