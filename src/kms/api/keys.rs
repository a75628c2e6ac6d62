//! Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription, and tags.

use serde_json::{Value, json};

use super::error::ApiError;
use super::request::{KmsRequest, check_len, page};
use super::{ApiContext, timestamp};
use crate::kms::asymmetric::KeySpec;
use crate::kms::keys::{MultiRegionConfig, Tag};
use crate::kms::manager::unix_now;
use crate::kms::{KeyManager, KeyRecord, KeyState, KmsError, NewKey};
use crate::policy::PolicyDocument;

const DAY: i64 = 86_400;

/// AWS's `KeyMetadata` for a key.
pub fn key_metadata(kms: &KeyManager, r: &KeyRecord) -> Value {
    let mut meta = json!({
        "AWSAccountId": kms.account_id(),
        "KeyId": r.key_id,
        "Arn": kms.key_arn(&r.key_id),
        "CreationDate": timestamp(r.created_at),
        "Enabled": r.state == KeyState::Enabled,
        "Description": r.description,
        "KeyUsage": r.key_usage,
        "KeyState": r.state.as_str(),
        "Origin": r.origin,
        "KeyManager": r.key_manager,
        "CustomerMasterKeySpec": r.key_spec,
        "KeySpec": r.key_spec,
        "MultiRegion": r.multi_region.is_some(),
    });
    if let Some(config) = &r.multi_region {
        meta["MultiRegionConfiguration"] = multi_region_configuration(kms, &r.key_id, config);
    }
    match (r.key_spec.as_str(), KeySpec::parse(&r.key_spec)) {
        ("SYMMETRIC_DEFAULT", _) => meta["EncryptionAlgorithms"] = json!(["SYMMETRIC_DEFAULT"]),
        (_, Some(spec)) => match r.key_usage.as_str() {
            "SIGN_VERIFY" => meta["SigningAlgorithms"] = json!(spec.signing_algorithms()),
            "ENCRYPT_DECRYPT" => meta["EncryptionAlgorithms"] = json!(spec.encryption_algorithms()),
            "GENERATE_VERIFY_MAC" => meta["MacAlgorithms"] = json!(spec.mac_algorithms()),
            _ => {}
        },
        _ => {}
    }
    if r.origin == "EXTERNAL" {
        meta["ExpirationModel"] = json!(if r.material_valid_to.is_some() {
            "KEY_MATERIAL_EXPIRES"
        } else {
            "KEY_MATERIAL_DOES_NOT_EXPIRE"
        });
        if let Some(valid_to) = r.material_valid_to {
            meta["ValidTo"] = timestamp(valid_to);
        }
    }
    if let Some(date) = r.deletion_date {
        meta["DeletionDate"] = timestamp(date);
    }
    if let Some(days) = r.deletion_window_days {
        meta["PendingDeletionWindowInDays"] = json!(days);
    }
    meta
}

/// AWS's `MultiRegionConfiguration`: this key's role, and the ARN and
/// Region of the primary and of every replica (same key id, same account).
fn multi_region_configuration(kms: &KeyManager, key_id: &str, config: &MultiRegionConfig) -> Value {
    let related = |region: &str| json!({"Arn": kms.key_arn_in(region, key_id), "Region": region});
    json!({
        "MultiRegionKeyType": if config.is_primary_in(kms.region()) { "PRIMARY" } else { "REPLICA" },
        "PrimaryKey": related(&config.primary_region),
        "ReplicaKeys": config.replica_regions.iter().map(|r| related(r)).collect::<Vec<_>>(),
    })
}

/// The key named by `KeyId`, after checking `action` is allowed on it.
pub fn authorized_key(
    ctx: &ApiContext,
    req: &KmsRequest,
    action: &str,
) -> Result<KeyRecord, ApiError> {
    let key_ref = req.bounded_str("KeyId", 2048)?;
    let record = ctx.kms.describe_key(key_ref)?;
    ctx.kms.authorize(&ctx.caller, action, &record, None)?;
    Ok(record)
}

pub fn create_key(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let (spec, usage, origin) = key_kind(req)?;
    let multi_region = req.opt_bool("MultiRegion")?.unwrap_or(false);
    if multi_region && origin != "AWS_KMS" {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            "s3seal's multi-Region keys have AWS_KMS key material; imported material is not supported for them",
        ));
    }
    if req.opt_str("CustomKeyStoreId")?.is_some() || req.opt_str("XksKeyId")?.is_some() {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            "custom key stores are not supported",
        ));
    }
    let description = req.opt_str("Description")?.unwrap_or_default();
    if description.chars().count() > 8192 {
        return Err(ApiError::validation(
            "Description must be at most 8192 characters",
        ));
    }
    let policy = match req.opt_str("Policy")? {
        None => None,
        Some(text) => {
            check_policy(
                ctx,
                text,
                req.opt_bool("BypassPolicyLockoutSafetyCheck")?
                    .unwrap_or(false),
            )?;
            Some(text.to_string())
        }
    };
    let tags = parse_tags(req)?;
    let record = ctx.kms.create_key(NewKey {
        description: description.to_string(),
        policy,
        tags,
        key_manager: "CUSTOMER",
        key_spec: spec.to_string(),
        key_usage: usage.to_string(),
        origin: origin.to_string(),
        multi_region,
    })?;
    tracing::info!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, "created a KMS key");
    Ok(json!({"KeyMetadata": key_metadata(ctx.kms, &record)}))
}

/// KeySpec, KeyUsage and Origin of a CreateKey, checked against each other.
fn key_kind(req: &KmsRequest) -> Result<(&str, &str, &str), ApiError> {
    let spec = req
        .opt_str("KeySpec")?
        .or(req.opt_str("CustomerMasterKeySpec")?)
        .unwrap_or("SYMMETRIC_DEFAULT");
    let usage = req.opt_str("KeyUsage")?.unwrap_or("ENCRYPT_DECRYPT");
    let origin = req.opt_str("Origin")?.unwrap_or("AWS_KMS");
    let allowed: &[&str] = match spec {
        "SYMMETRIC_DEFAULT" => &["ENCRYPT_DECRYPT"],
        other => KeySpec::parse(other)
            .ok_or_else(|| {
                if other == "SM2" {
                    ApiError::new(
                        "UnsupportedOperationException",
                        "SM2 keys are only offered in China Regions",
                    )
                } else {
                    ApiError::validation(format!("KeySpec '{other}' is not a valid key spec"))
                }
            })?
            .allowed_usages(),
    };
    if !allowed.contains(&usage) {
        return Err(ApiError::validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}; use one of {allowed:?}"
        )));
    }
    match origin {
        "AWS_KMS" => {}
        "EXTERNAL" if spec == "SYMMETRIC_DEFAULT" => {}
        "EXTERNAL" => {
            return Err(ApiError::new(
                "UnsupportedOperationException",
                "s3seal imports key material for SYMMETRIC_DEFAULT keys only",
            ));
        }
        "AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE" => {
            return Err(ApiError::new(
                "UnsupportedOperationException",
                "custom key stores are not supported",
            ));
        }
        other => {
            return Err(ApiError::validation(format!(
                "Origin '{other}' is not valid"
            )));
        }
    }
    Ok((spec, usage, origin))
}

/// Validates a key policy, and (unless bypassed) that it still lets the
/// caller change it: AWS's lockout safety check.
pub fn check_policy(ctx: &ApiContext, text: &str, bypass: bool) -> Result<(), ApiError> {
    if text.len() > 32 * 1024 {
        return Err(ApiError::new(
            "MalformedPolicyDocumentException",
            "the policy is larger than 32 KB",
        ));
    }
    let document = PolicyDocument::parse(text, true)
        .map_err(|e| ApiError::new("MalformedPolicyDocumentException", e.0))?;
    if bypass {
        return Ok(());
    }
    let facts = crate::kms::access::request_facts(&ctx.caller, "kms:PutKeyPolicy", "*", None);
    if document.evaluate(&facts) != crate::policy::Decision::Allow {
        return Err(ApiError::new(
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.",
        ));
    }
    Ok(())
}

/// `Tags` in AWS's shape, checked as AWS does.
pub(super) fn parse_tags(req: &KmsRequest) -> Result<Vec<Tag>, ApiError> {
    let Some(value) = req.value("Tags") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(ApiError::new(
            "SerializationException",
            "Tags must be a list",
        ));
    };
    let mut tags: Vec<Tag> = Vec::new();
    for item in items {
        let key = item["TagKey"]
            .as_str()
            .ok_or_else(|| ApiError::new("TagException", "every tag needs a TagKey"))?;
        let value = item["TagValue"]
            .as_str()
            .ok_or_else(|| ApiError::new("TagException", "every tag needs a TagValue"))?;
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(ApiError::new(
                "TagException",
                "tag keys are 1-128 characters, values up to 256",
            ));
        }
        if key.starts_with("aws:") {
            return Err(ApiError::new(
                "TagException",
                "tag keys beginning with aws: are reserved",
            ));
        }
        tags.retain(|t| t.key != key);
        tags.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    if tags.len() > 50 {
        return Err(ApiError::new(
            "LimitExceededException",
            "a key can have at most 50 tags",
        ));
    }
    Ok(tags)
}

pub fn describe_key(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:DescribeKey")?;
    Ok(json!({"KeyMetadata": key_metadata(ctx.kms, &record)}))
}

pub fn list_keys(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let (limit, start) = req.paging()?;
    let mut keys = ctx.kms.list_keys()?;
    keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    let (items, next) = page(&keys, limit, start);
    let entries: Vec<Value> = items
        .iter()
        .map(|k| json!({"KeyId": k.key_id, "KeyArn": ctx.kms.key_arn(&k.key_id)}))
        .collect();
    Ok(paged("Keys", entries, next))
}

pub fn paged(field: &str, entries: Vec<Value>, next: Option<String>) -> Value {
    let mut out = json!({ field: entries, "Truncated": next.is_some() });
    if let Some(next) = next {
        out["NextMarker"] = json!(next);
    }
    out
}

pub fn enable_key(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    set_state(ctx, req, "kms:EnableKey", KeyState::Enabled)
}

pub fn disable_key(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    set_state(ctx, req, "kms:DisableKey", KeyState::Disabled)
}

fn set_state(
    ctx: &ApiContext,
    req: &KmsRequest,
    action: &str,
    state: KeyState,
) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, action)?;
    ctx.kms.set_key_state(&record.key_id, state)?;
    tracing::info!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, state = state.as_str(), "changed a KMS key's state");
    Ok(json!({}))
}

pub fn schedule_key_deletion(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:ScheduleKeyDeletion")?;
    let days = req.opt_int("PendingWindowInDays", 7..=30)?.unwrap_or(30);
    let deletion = unix_now() + days * DAY;
    let arn = ctx.kms.key_arn(&record.key_id);
    let updated = ctx.kms.update_key(&record.key_id, |r| {
        if r.state == KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{arn} is pending deletion."
            )));
        }
        r.state = KeyState::PendingDeletion;
        r.deletion_date = Some(deletion);
        r.deletion_window_days = Some(days as u32);
        Ok(())
    })?;
    tracing::warn!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, days, "scheduled a KMS key for deletion");
    Ok(json!({
        "KeyId": ctx.kms.key_arn(&updated.key_id),
        "DeletionDate": timestamp(deletion),
        "KeyState": "PendingDeletion",
        "PendingWindowInDays": days,
    }))
}

pub fn cancel_key_deletion(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:CancelKeyDeletion")?;
    let arn = ctx.kms.key_arn(&record.key_id);
    ctx.kms.update_key(&record.key_id, |r| {
        if r.state != KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{arn} is not pending deletion."
            )));
        }
        // As on AWS, a key whose deletion is cancelled comes back disabled.
        r.state = KeyState::Disabled;
        r.deletion_date = None;
        r.deletion_window_days = None;
        Ok(())
    })?;
    tracing::info!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, "cancelled a KMS key's deletion");
    Ok(json!({"KeyId": arn}))
}

pub fn update_key_description(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:UpdateKeyDescription")?;
    let description = req.str("Description")?.to_string();
    if description.chars().count() > 8192 {
        return Err(ApiError::validation(
            "Description must be at most 8192 characters",
        ));
    }
    ctx.kms.update_key(&record.key_id, |r| {
        r.description = description;
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn tag_resource(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:TagResource")?;
    let tags = parse_tags(req)?;
    ctx.kms.update_key(&record.key_id, |r| {
        for tag in tags {
            r.tags.retain(|t| t.key != tag.key);
            r.tags.push(tag);
        }
        if r.tags.len() > 50 {
            return Err(KmsError::Validation(
                "a key can have at most 50 tags".into(),
            ));
        }
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn untag_resource(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:UntagResource")?;
    let keys = req
        .string_list("TagKeys")?
        .ok_or_else(|| ApiError::validation("TagKeys is required"))?;
    for key in &keys {
        check_len("TagKeys", key, 128)?;
    }
    ctx.kms.update_key(&record.key_id, |r| {
        r.tags.retain(|t| !keys.contains(&t.key));
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn list_resource_tags(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:ListResourceTags")?;
    let (limit, start) = req.paging()?;
    let mut tags = record.tags.clone();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    let (items, next) = page(&tags, limit, start);
    let entries = items
        .iter()
        .map(|t| json!({"TagKey": t.key, "TagValue": t.value}))
        .collect();
    Ok(paged("Tags", entries, next))
}
