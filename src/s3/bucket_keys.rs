//! Object data keys under bucket keys of the external KMS (`[kms.external]`):
//! the cache lookups, the KMS calls on a miss, and their audit records.
//!
//! An upload gets a fresh random data key, wrapped locally under the
//! bucket's current bucket key; a read unwraps the bucket key's KMS blob,
//! then the object key. Only a cache miss calls the KMS, so the audit log
//! shows one GenerateDataKey per bucket key and one Decrypt per bucket key
//! blob and cache period, not one per object (as CloudTrail does with S3
//! Bucket Keys). Each call is recorded like the built-in KMS's key uses
//! ([`super::key_use`]), with the external key's ARN and endpoint, and is on
//! disk before the request goes on.

use std::sync::Arc;

use serde_json::json;

use super::RequestContext;
use super::key_use::{ObjectRef, key_use_event};
use crate::audit::AuditEvent;
use crate::error::S3Error;
use crate::kms::external::{BucketKey, ExternalKms, ExternalKmsError, object_key};
use crate::kms::{DataKey, EncryptionContext};
use crate::seal::metadata::WrappedDataKey;
use crate::state::AppState;

/// `data_key` wrapped for `object` (its full `context`) under the bucket key
/// of `object`'s bucket and `key_ref`.
pub async fn wrap(
    state: &AppState,
    ctx: &RequestContext,
    external: &ExternalKms,
    key_ref: &str,
    data_key: &DataKey,
    context: &EncryptionContext,
    object: ObjectRef<'_>,
) -> Result<WrappedDataKey, S3Error> {
    let bucket_key = upload_key(state, ctx, external, key_ref, object).await?;
    Ok(WrappedDataKey::UnderBucketKey {
        kms_key_arn: bucket_key.key_arn.clone(),
        bucket_key_blob: bucket_key.blob.clone(),
        wrapped_key: object_key::wrap(&bucket_key.key, data_key, context)?,
    })
}

/// The data key of `object`, wrapped under the bucket key that
/// `bucket_key_blob` holds, with the object's full `context`.
pub async fn unwrap(
    state: &AppState,
    ctx: &RequestContext,
    kms_key_arn: &str,
    bucket_key_blob: &[u8],
    wrapped_key: &[u8],
    context: &EncryptionContext,
    object: ObjectRef<'_>,
) -> Result<DataKey, S3Error> {
    let external = state.external_kms.as_ref().ok_or_else(|| {
        S3Error::internal(format!(
            "the object's data key is under a bucket key of the external KMS key {kms_key_arn}, and kms.external is not configured"
        ))
    })?;
    let bucket_key = read_key(state, ctx, external, kms_key_arn, bucket_key_blob, object).await?;
    object_key::unwrap(&bucket_key.key, wrapped_key, context).map_err(|_| {
        S3Error::internal(
            "the object's wrapped data key does not match its bucket and key: it was moved or altered on the upstream",
        )
    })
}

/// The cached bucket key for uploads, else a new one (GenerateDataKey).
async fn upload_key(
    state: &AppState,
    ctx: &RequestContext,
    external: &ExternalKms,
    key_ref: &str,
    object: ObjectRef<'_>,
) -> Result<Arc<BucketKey>, S3Error> {
    if let Some(bucket_key) = external.cached_upload_key(object.bucket, key_ref) {
        return Ok(bucket_key);
    }
    let result = external.generate_upload_key(object.bucket, key_ref).await;
    let key_arn = result.as_ref().ok().map(|k| k.key_arn.clone());
    let event = kms_call_event(
        state,
        ctx,
        external,
        "GenerateDataKey",
        key_ref,
        key_arn,
        object,
    )
    .with_parameters_entry("keySpec", json!("AES_256"));
    record(state, event, result).await
}

/// The cached bucket key of `blob`, else unwrapped by the KMS (Decrypt).
async fn read_key(
    state: &AppState,
    ctx: &RequestContext,
    external: &ExternalKms,
    kms_key_arn: &str,
    blob: &[u8],
    object: ObjectRef<'_>,
) -> Result<Arc<BucketKey>, S3Error> {
    if let Some(bucket_key) = external.cached_read_key(object.bucket, kms_key_arn, blob) {
        return Ok(bucket_key);
    }
    let result = external
        .decrypt_read_key(object.bucket, kms_key_arn, blob)
        .await;
    let event = kms_call_event(
        state,
        ctx,
        external,
        "Decrypt",
        kms_key_arn,
        Some(kms_key_arn.to_string()),
        object,
    );
    record(state, event, result).await
}

/// A call to the external KMS, recorded like a built-in key use, with the
/// context the KMS saw (the bucket's ARN) and the KMS's endpoint.
fn kms_call_event(
    state: &AppState,
    ctx: &RequestContext,
    external: &ExternalKms,
    name: &str,
    key_ref: &str,
    key_arn: Option<String>,
    object: ObjectRef<'_>,
) -> AuditEvent {
    let context = ExternalKms::bucket_context(object.bucket);
    let mut event = key_use_event(state, ctx, name, Some(key_ref), key_arn, &context, object);
    event.additional_event_data = Some(json!({
        "externalKmsEndpoint": external.endpoint(),
        "bucketKey": true,
    }));
    event
}

/// Records `event` (with the error, if `result` is one), then hands back
/// the result; if the record cannot be written the request fails.
async fn record<T>(
    state: &AppState,
    mut event: AuditEvent,
    result: Result<T, ExternalKmsError>,
) -> Result<T, S3Error> {
    if let Err(err) = &result {
        event = event.with_error(err.audit_code(), &err.to_string());
    }
    super::audit::record(state, event).await?;
    Ok(result?)
}
