//! Every KMS key use s3seal makes for an S3 request, and its audit record.
//!
//! Sealing an object generates a data key; reading one unwraps it; a copy or
//! UpdateObjectEncryption re-wraps it. Each is recorded, as AWS S3's calls to
//! KMS appear in CloudTrail (`userIdentity.invokedBy: s3.amazonaws.com`), with
//! the object in `resources`, and is on disk before any byte of the answer is
//! sent. A key use that fails (key disabled, key policy denies) is recorded
//! too, with its error.

use serde_json::{Map, Value, json};

use super::RequestContext;
use crate::audit::event::{KMS_KEY_RESOURCE, KMS_SOURCE, S3_OBJECT_RESOURCE, s3_arn};
use crate::audit::{AuditEvent, RequestOrigin, UserIdentity};
use crate::error::S3Error;
use crate::kms::api::error::exception_name;
use crate::kms::{DataKey, EncryptionContext, GeneratedDataKey, KeyRecord, KmsError};
use crate::state::AppState;

/// The object a key is used for.
#[derive(Clone, Copy)]
pub struct ObjectRef<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

/// A fresh data key for `object`, wrapped under `key_ref`.
pub async fn generate_data_key(
    state: &AppState,
    ctx: &RequestContext,
    key_ref: &str,
    context: &EncryptionContext,
    object: ObjectRef<'_>,
) -> Result<GeneratedDataKey, S3Error> {
    let result = state
        .kms
        .generate_data_key(&ctx.kms_caller(state), key_ref, context);
    let key_id = result.as_ref().ok().map(|k| k.key_id.as_str());
    let event = key_use_event(
        state,
        ctx,
        "GenerateDataKey",
        key_id.or(Some(key_ref)),
        context,
        object,
    )
    .with_parameters_entry("keySpec", json!("AES_256"));
    Ok(finish(state, event, result).await??)
}

/// The data key of `object`, unwrapped.
pub async fn unwrap_data_key(
    state: &AppState,
    ctx: &RequestContext,
    wrapped_key: &[u8],
    kms_key_id: &str,
    context: &EncryptionContext,
    object: ObjectRef<'_>,
) -> Result<DataKey, S3Error> {
    let result = state
        .kms
        .unwrap_data_key(&ctx.kms_caller(state), wrapped_key, context);
    let event = key_use_event(state, ctx, "Decrypt", Some(kms_key_id), context, object);
    finish(state, event, result).await?.map_err(|err| match err {
        KmsError::InvalidCiphertext(_) => S3Error::internal(
            "the object's wrapped data key does not match its bucket and key: it was moved or altered on the upstream",
        ),
        other => other.into(),
    })
}

/// `data_key` wrapped under `key_ref` for `object` (a copy's destination, or
/// UpdateObjectEncryption's new key); `action` is the KMS permission needed.
pub async fn wrap_data_key(
    state: &AppState,
    ctx: &RequestContext,
    action: &str,
    key_ref: &str,
    data_key: &DataKey,
    context: &EncryptionContext,
    object: ObjectRef<'_>,
) -> Result<(Vec<u8>, KeyRecord), S3Error> {
    let result = state.kms.encrypt(
        &ctx.kms_caller(state),
        action,
        key_ref,
        data_key.expose(),
        context,
    );
    let key_id = result
        .as_ref()
        .ok()
        .map(|(_, record)| record.key_id.as_str());
    let name = action.trim_start_matches("kms:");
    let event = key_use_event(state, ctx, name, key_id.or(Some(key_ref)), context, object);
    Ok(finish(state, event, result).await??)
}

/// Records `event` (with the error, if `result` is one), then hands back
/// the result; if the record cannot be written the request fails.
async fn finish<T>(
    state: &AppState,
    mut event: AuditEvent,
    result: Result<T, KmsError>,
) -> Result<Result<T, KmsError>, S3Error> {
    if let Err(err) = &result {
        event = event.with_error(exception_name(err), &err.to_string());
    }
    super::audit::record(state, event).await?;
    Ok(result)
}

fn key_use_event(
    state: &AppState,
    ctx: &RequestContext,
    name: &str,
    key_ref: Option<&str>,
    context: &EncryptionContext,
    object: ObjectRef<'_>,
) -> AuditEvent {
    let identity =
        UserIdentity::user(&ctx.principal, &state.config.server.account_id).invoked_by_s3();
    let encryption_context: Map<String, Value> = context
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    let mut event = AuditEvent::api_call(
        KMS_SOURCE,
        name,
        &state.config.server.region,
        &state.config.server.account_id,
        identity,
        &origin(ctx),
    )
    .as_key_use()
    .with_parameters(json!({
        "keyId": key_ref,
        "encryptionContext": encryption_context,
        "bucketName": object.bucket,
        "key": object.key,
    }))
    .with_resource(S3_OBJECT_RESOURCE, s3_arn(object.bucket, Some(object.key)));
    if let Some(key_id) = key_ref.and_then(|r| state.kms.resolve_key_id(r).ok()) {
        event = event.with_resource(KMS_KEY_RESOURCE, state.kms.key_arn(&key_id));
    }
    event
}

/// The request's id, address and user agent, for its audit records.
pub fn origin(ctx: &RequestContext) -> RequestOrigin {
    RequestOrigin {
        request_id: ctx.request_id.clone(),
        source_ip: ctx.source_ip.clone(),
        user_agent: ctx.user_agent.clone(),
    }
}
