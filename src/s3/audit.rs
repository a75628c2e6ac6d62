//! The S3 side of the audit log: requests refused for lack of identity or
//! permission, and changes to what s3seal enforces on a bucket (its policy
//! and default encryption). Key uses are in [`super::key_use`].

use serde_json::json;

use crate::audit::event::{S3_BUCKET_RESOURCE, S3_OBJECT_RESOURCE, S3_SOURCE, s3_arn};
use crate::audit::{AuditEvent, RequestOrigin, UserIdentity};
use crate::auth::Principal;
use crate::error::{S3Error, S3ErrorCode};
use crate::state::AppState;

/// Operations whose success changes a bucket's security settings.
const SECURITY_CHANGES: &[&str] = &[
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
];

/// What the server knows of a request when it answers.
pub struct Outline<'a> {
    pub operation: &'a str,
    pub principal: Option<&'a Principal>,
    pub claimed_access_key_id: Option<String>,
    pub origin: RequestOrigin,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
}

/// Was the request refused because of who sent it or what they may do?
pub fn is_denial(err: &S3Error) -> bool {
    matches!(
        err.code,
        S3ErrorCode::AccessDenied
            | S3ErrorCode::KmsAccessDenied
            | S3ErrorCode::InvalidAccessKeyId
            | S3ErrorCode::SignatureDoesNotMatch
            | S3ErrorCode::RequestTimeTooSkewed
            | S3ErrorCode::AuthorizationHeaderMalformed
    )
}

pub fn is_security_change(operation: &str) -> bool {
    SECURITY_CHANGES.contains(&operation)
}

/// Appends `event`; an S3 `InternalError` if the audit log cannot take it.
pub async fn record(state: &AppState, event: AuditEvent) -> Result<(), S3Error> {
    state.audit.record(event).await.map_err(|err| {
        tracing::error!(error = %err, "cannot write an audit record");
        S3Error::internal("the audit log is unavailable")
    })
}

/// The event of a refused request.
pub fn denial_event(state: &AppState, request: Outline, err: &S3Error) -> AuditEvent {
    event(state, request).with_error(err.code.as_str(), &err.message)
}

/// The event of a successful change of a bucket's security settings.
pub fn change_event(state: &AppState, request: Outline) -> AuditEvent {
    event(state, request)
}

fn event(state: &AppState, request: Outline) -> AuditEvent {
    let account = &state.config.server.account_id;
    let identity = match request.principal {
        Some(principal) => UserIdentity::user(principal, account),
        None => UserIdentity::unauthenticated(request.claimed_access_key_id),
    };
    let mut event = AuditEvent::api_call(
        S3_SOURCE,
        request.operation,
        &state.config.server.region,
        account,
        identity,
        &request.origin,
    )
    .with_parameters(json!({"bucketName": request.bucket, "key": request.key}));
    if let Some(bucket) = request.bucket {
        event = match request.key {
            Some(key) => event.with_resource(S3_OBJECT_RESOURCE, s3_arn(bucket, Some(key))),
            None => event.with_resource(S3_BUCKET_RESOURCE, s3_arn(bucket, None)),
        };
    }
    event
}
