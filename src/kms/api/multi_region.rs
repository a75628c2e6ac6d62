//! Multi-Region keys: ReplicateKey and UpdatePrimaryRegion, called in the
//! primary key's deployment; they reach the peer deployment through
//! [`crate::kms::replication::Replicator`]. (CreateKey with `MultiRegion`
//! is in [`super::keys`].)

use serde_json::{Value, json};

use super::ApiContext;
use super::error::ApiError;
use super::keys::{authorized_key, check_policy, parse_tags};
use super::request::KmsRequest;
use crate::kms::manager::ensure_usable;
use crate::kms::replication::replicator::NewReplica;
use crate::kms::replication::{Replicator, is_region_name};

/// A `…Region` field: an AWS Region name other than this deployment's.
fn other_region<'r>(
    ctx: &ApiContext,
    req: &'r KmsRequest,
    field: &str,
) -> Result<&'r str, ApiError> {
    let region = req.bounded_str(field, 32)?;
    if !is_region_name(region) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{region}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){{2,3}}\\d+$"
        )));
    }
    if region == ctx.kms.region() {
        return Err(ApiError::validation(format!(
            "{field} {region} is this key's own Region"
        )));
    }
    Ok(region)
}

pub async fn replicate_key(
    ctx: &ApiContext<'_>,
    req: &KmsRequest,
    replicator: &Replicator,
) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:ReplicateKey")?;
    ensure_usable(&record, &ctx.kms.key_arn(&record.key_id))?;
    let region = other_region(ctx, req, "ReplicaRegion")?;
    let policy = match req.opt_str("Policy")? {
        None => None,
        Some(text) => {
            let bypass = req
                .opt_bool("BypassPolicyLockoutSafetyCheck")?
                .unwrap_or(false);
            check_policy(ctx, text, bypass)?;
            Some(text.to_string())
        }
    };
    let description = req.opt_str("Description")?.unwrap_or_default();
    if description.chars().count() > 8192 {
        return Err(ApiError::validation(
            "Description must be at most 8192 characters",
        ));
    }
    let tags = parse_tags(req)?;
    let answer = replicator
        .replicate(
            ctx.kms,
            NewReplica {
                key_id: record.key_id.clone(),
                region: region.to_string(),
                description: description.to_string(),
                policy,
                tags: tags.clone(),
            },
        )
        .await?;
    tracing::warn!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, replica_region = region, "replicated a KMS key to another Region");
    let tags: Vec<Value> = tags
        .iter()
        .map(|t| json!({"TagKey": t.key, "TagValue": t.value}))
        .collect();
    Ok(json!({
        "ReplicaKeyMetadata": answer.key_metadata,
        "ReplicaPolicy": answer.policy,
        "ReplicaTags": tags,
    }))
}

pub async fn update_primary_region(
    ctx: &ApiContext<'_>,
    req: &KmsRequest,
    replicator: &Replicator,
) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:UpdatePrimaryRegion")?;
    // As on AWS, both the primary and the replica must be enabled; the
    // replica's deployment checks its own key.
    ensure_usable(&record, &ctx.kms.key_arn(&record.key_id))?;
    let region = other_region(ctx, req, "PrimaryRegion")?;
    replicator
        .update_primary_region(ctx.kms, &record.key_id, region)
        .await?;
    tracing::warn!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, primary_region = region, "moved a KMS key's primary Region");
    Ok(json!({}))
}
