//! Every KMS key use s3seal makes for an S3 request, and its audit record.
//!
//! Sealing an object generates a data key; reading one unwraps it; a copy or
//! UpdateObjectEncryption re-wraps it. Each is recorded, as AWS S3's calls to
//! KMS appear in CloudTrail (`userIdentity.invokedBy: s3.amazonaws.com`), with
//! the object in `resources`, and is on disk before any byte of the answer is
//! sent. A key use that fails (key disabled, key policy denies) is recorded
//! too, with its error.
//!
//! With `[kms.external]` configured, new data keys are wrapped under bucket
//! keys of the external KMS instead ([`super::bucket_keys`]); objects read
//! go to whichever KMS their metadata names (format 1: built-in, format 2:
//! external).

use serde_json::{Map, Value, json};

use super::RequestContext;
use crate::audit::event::{KMS_KEY_RESOURCE, KMS_SOURCE, S3_OBJECT_RESOURCE, s3_arn};
use crate::audit::{AuditEvent, RequestOrigin, UserIdentity};
use crate::error::S3Error;
use crate::kms::api::error::exception_name;
use crate::kms::{DataKey, EncryptionContext, KmsError};
use crate::seal::metadata::WrappedDataKey;
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
) -> Result<(DataKey, WrappedDataKey), S3Error> {
    if let Some(external) = &state.external_kms {
        let data_key = DataKey::generate().map_err(|e| S3Error::internal(e.to_string()))?;
        let wrapped =
            super::bucket_keys::wrap(state, ctx, external, key_ref, &data_key, context, object)
                .await?;
        return Ok((data_key, wrapped));
    }
    let result = state
        .kms
        .generate_data_key(&ctx.kms_caller(state), key_ref, context);
    let key_id = result.as_ref().ok().map(|k| k.key_id.as_str());
    let event = key_use_event(
        state,
        ctx,
        "GenerateDataKey",
        key_id.or(Some(key_ref)),
        built_in_key_arn(state, key_id.or(Some(key_ref))),
        context,
        object,
    )
    .with_parameters_entry("keySpec", json!("AES_256"));
    let generated = finish(state, event, result).await??;
    Ok((
        generated.plaintext,
        WrappedDataKey::BuiltIn {
            kms_key_id: generated.key_id,
            kms_key_version: generated.key_version,
            blob: generated.ciphertext_blob,
        },
    ))
}

/// The data key of `object`, unwrapped by the KMS that wrapped it.
pub async fn unwrap_data_key(
    state: &AppState,
    ctx: &RequestContext,
    wrapped: &WrappedDataKey,
    context: &EncryptionContext,
    object: ObjectRef<'_>,
) -> Result<DataKey, S3Error> {
    let (kms_key_id, blob) = match wrapped {
        WrappedDataKey::BuiltIn {
            kms_key_id, blob, ..
        } => (kms_key_id, blob),
        WrappedDataKey::UnderBucketKey {
            kms_key_arn,
            bucket_key_blob,
            wrapped_key,
        } => {
            return super::bucket_keys::unwrap(
                state,
                ctx,
                kms_key_arn,
                bucket_key_blob,
                wrapped_key,
                context,
                object,
            )
            .await;
        }
    };
    let result = state
        .kms
        .unwrap_data_key(&ctx.kms_caller(state), blob, context);
    let event = key_use_event(
        state,
        ctx,
        "Decrypt",
        Some(kms_key_id),
        built_in_key_arn(state, Some(kms_key_id)),
        context,
        object,
    );
    finish(state, event, result).await?.map_err(|err| match err {
        KmsError::InvalidCiphertext(_) => S3Error::internal(
            "the object's wrapped data key does not match its bucket and key: it was moved or altered on the upstream",
        ),
        other => other.into(),
    })
}

/// `data_key` wrapped under `key_ref` for `object` (a copy's destination, or
/// UpdateObjectEncryption's new key); `action` is the KMS permission needed
/// from the built-in KMS (an external KMS is asked for a bucket key).
pub async fn wrap_data_key(
    state: &AppState,
    ctx: &RequestContext,
    action: &str,
    key_ref: &str,
    data_key: &DataKey,
    context: &EncryptionContext,
    object: ObjectRef<'_>,
) -> Result<WrappedDataKey, S3Error> {
    if let Some(external) = &state.external_kms {
        return super::bucket_keys::wrap(state, ctx, external, key_ref, data_key, context, object)
            .await;
    }
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
    let event = key_use_event(
        state,
        ctx,
        name,
        key_id.or(Some(key_ref)),
        built_in_key_arn(state, key_id.or(Some(key_ref))),
        context,
        object,
    );
    let (blob, record) = finish(state, event, result).await??;
    Ok(WrappedDataKey::BuiltIn {
        kms_key_id: record.key_id,
        kms_key_version: record.current_version,
        blob,
    })
}

/// The ARN of a built-in key named any way, if it resolves.
fn built_in_key_arn(state: &AppState, key_ref: Option<&str>) -> Option<String> {
    let key_id = state.kms.resolve_key_id(key_ref?).ok()?;
    Some(state.kms.key_arn(&key_id))
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

/// The audit record of one key use for `object`: `key_ref` as named,
/// `key_arn` (when known) as the KMS key resource.
pub(super) fn key_use_event(
    state: &AppState,
    ctx: &RequestContext,
    name: &str,
    key_ref: Option<&str>,
    key_arn: Option<String>,
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
    if let Some(key_arn) = key_arn {
        event = event.with_resource(KMS_KEY_RESOURCE, key_arn);
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
