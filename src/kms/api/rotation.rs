//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations.
//!
//! A rotation adds a key version with fresh material that encrypts from then
//! on; every older version stays to decrypt what it encrypted. Automatic
//! rotation is carried out by the server's background task
//! ([`crate::kms::KeyManager::run_due_work`]). Multi-Region keys rotate in
//! their primary's deployment only; the new version reaches the replicas
//! through [`crate::kms::replication`].

use serde_json::{Value, json};

use super::error::ApiError;
use super::keys::{authorized_key, paged};
use super::request::{KmsRequest, page};
use super::{ApiContext, timestamp};
use crate::kms::keys::{RotationSchedule, VersionOrigin};
use crate::kms::manager::{ensure_usable, unix_now};
use crate::kms::{KeyRecord, KeyState};

const DAY: i64 = 86_400;

fn require_rotatable(ctx: &ApiContext, record: &KeyRecord) -> Result<(), ApiError> {
    if record.key_spec != "SYMMETRIC_DEFAULT" || record.origin != "AWS_KMS" {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            format!(
                "{} cannot be rotated: only symmetric keys with AWS_KMS origin rotate",
                ctx.kms.key_arn(&record.key_id)
            ),
        ));
    }
    ensure_usable(record, &ctx.kms.key_arn(&record.key_id))?;
    // A replica rotates with its primary (its material comes from there).
    ctx.kms.refuse_replica(record, "rotated")?;
    Ok(())
}

pub fn enable_key_rotation(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:EnableKeyRotation")?;
    require_rotatable(ctx, &record)?;
    let period = req
        .opt_int("RotationPeriodInDays", 90..=2560)?
        .unwrap_or(365);
    let last_rotation = record
        .versions
        .iter()
        .map(|v| v.created_at)
        .max()
        .unwrap_or(record.created_at);
    let next = (last_rotation + period * DAY).max(unix_now());
    ctx.kms.update_key(&record.key_id, |r| {
        r.rotation = Some(RotationSchedule {
            period_days: period as u32,
            next_rotation_at: next,
        });
        r.shared_properties_changed();
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn disable_key_rotation(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:DisableKeyRotation")?;
    require_rotatable(ctx, &record)?;
    ctx.kms.update_key(&record.key_id, |r| {
        r.rotation = None;
        r.shared_properties_changed();
        Ok(())
    })?;
    Ok(json!({}))
}

pub fn get_key_rotation_status(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:GetKeyRotationStatus")?;
    if record.state == KeyState::PendingDeletion {
        ensure_usable(&record, &ctx.kms.key_arn(&record.key_id))?;
    }
    let mut out = json!({
        "KeyRotationEnabled": record.rotation.is_some(),
        "KeyId": ctx.kms.key_arn(&record.key_id),
    });
    if let Some(schedule) = record.rotation {
        out["RotationPeriodInDays"] = json!(schedule.period_days);
        out["NextRotationDate"] = timestamp(schedule.next_rotation_at);
    }
    Ok(out)
}

pub fn rotate_key_on_demand(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:RotateKeyOnDemand")?;
    require_rotatable(ctx, &record)?;
    let rotated = ctx
        .kms
        .rotate_key(&record.key_id, VersionOrigin::OnDemand, unix_now())?;
    tracing::info!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, version = rotated.current_version, "rotated a KMS key on demand");
    Ok(json!({"KeyId": ctx.kms.key_arn(&record.key_id)}))
}

pub fn list_key_rotations(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:ListKeyRotations")?;
    if record.key_spec != "SYMMETRIC_DEFAULT" {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            "only symmetric keys have rotations",
        ));
    }
    let (limit, start) = req.paging()?;
    let mut rotations: Vec<_> = record
        .versions
        .iter()
        .filter(|v| v.origin != VersionOrigin::Created)
        .collect();
    rotations.sort_by_key(|v| v.version);
    let (items, next) = page(&rotations, limit, start);
    let entries = items
        .iter()
        .map(|v| {
            json!({
                "KeyId": record.key_id,
                "RotationDate": timestamp(v.created_at),
                "RotationType": if v.origin == VersionOrigin::OnDemand { "ON_DEMAND" } else { "AUTOMATIC" },
            })
        })
        .collect();
    Ok(paged("Rotations", entries, next))
}
