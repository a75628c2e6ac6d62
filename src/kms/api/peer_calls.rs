//! The operations peer deployments call (`X-Amz-Target:
//! S3sealReplication.<Op>`), see [`crate::kms::replication`].
//!
//! Who may call them: only a principal that `[[kms.peer_regions]]` names as
//! a peer's (`principal`), with a signed payload; the call then speaks for
//! that entry's Region and no other ([`authorize_peer`]). And what a peer
//! may do: create a replica of a key whose primary it holds, where no key
//! of that id exists; update or promote only a replica whose primary it
//! holds (or took over from another Region of the key, with a newer
//! generation). So a principal that is not a peer cannot reach any of this,
//! and a peer can neither overwrite a key nor touch one it is not the
//! primary of.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::ApiContext;
use super::error::ApiError;
use super::keys::{key_metadata, parse_tags};
use super::request::KmsRequest;
use crate::auth::{AuthContext, PayloadHash};
use crate::config::KmsConfig;
use crate::kms::access::default_policy;
use crate::kms::asymmetric::KeySpec;
use crate::kms::key_id::is_multi_region_key_id;
use crate::kms::keys::{KeyRecord, MultiRegionConfig};
use crate::kms::manager::{ensure_usable, unix_now};
use crate::kms::replication::transfer;
use crate::kms::replication::wire::{self, Regions};
use crate::kms::{KeyState, KmsError};
use crate::policy::PolicyDocument;

/// The Region of the peer deployment making this call: the
/// `[[kms.peer_regions]]` entry whose `principal` signed it. Anyone else is
/// refused, and so is a peer call whose payload is not signed.
pub fn authorize_peer<'c>(config: &'c KmsConfig, auth: &AuthContext) -> Result<&'c str, ApiError> {
    let peer = config
        .peer_calling_as(&auth.principal.name)
        .ok_or_else(|| {
            ApiError::new(
                "AccessDeniedException",
                format!(
                    "User: {} is not authorized to perform s3seal replication operations: it is no kms.peer_regions principal",
                    auth.principal.arn
                ),
            )
        })?;
    if !matches!(auth.payload, PayloadHash::Sha256(_)) {
        return Err(ApiError::new(
            "AccessDeniedException",
            "s3seal replication calls must sign their payload",
        ));
    }
    Ok(&peer.region)
}

pub fn dispatch(
    ctx: &ApiContext,
    peer_region: &str,
    operation: &str,
    req: &KmsRequest,
) -> Result<Value, ApiError> {
    match operation {
        wire::GET_PARAMETERS => get_replication_parameters(ctx, peer_region, req),
        wire::CREATE_REPLICA => create_replica(ctx, peer_region, req),
        wire::SYNC_REPLICA => sync_replica(ctx, peer_region, req),
        wire::PROMOTE_REPLICA => promote_replica(ctx, peer_region, req),
        other => Err(ApiError::new(
            "UnknownOperationException",
            format!("S3sealReplication.{other} is not an operation"),
        )),
    }
}

/// The request as a typed message.
fn message<T: DeserializeOwned>(req: &KmsRequest) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(req.fields().clone())).map_err(|e| {
        ApiError::new(
            "SerializationException",
            format!("not a valid replication message: {e}"),
        )
    })
}

fn require_multi_region_id(key_id: &str) -> Result<(), ApiError> {
    if !is_multi_region_key_id(key_id) {
        return Err(ApiError::validation(format!(
            "{key_id} is not a multi-Region key id"
        )));
    }
    Ok(())
}

fn denied(ctx: &ApiContext, why: String) -> ApiError {
    ApiError::new(
        "AccessDeniedException",
        format!("User: {} is not authorized: {why}", ctx.caller.arn),
    )
}

/// May the deployment in `from` change this replica? Only its primary may,
/// or a Region of the key that became the primary (`incoming`, newer).
fn check_sender(
    ctx: &ApiContext,
    record: &KeyRecord,
    from: &str,
    incoming: Option<&Regions>,
) -> Result<MultiRegionConfig, ApiError> {
    let arn = ctx.kms.key_arn(&record.key_id);
    let config = record
        .multi_region
        .clone()
        .ok_or_else(|| denied(ctx, format!("{arn} is not a multi-Region key")))?;
    if config.is_primary_in(ctx.kms.region()) {
        return Err(denied(
            ctx,
            format!("{arn} is the primary key here; {from} cannot change it"),
        ));
    }
    let took_over = incoming.is_some_and(|regions| {
        regions.primary_region == from
            && regions.generation > config.generation
            && config.has_region(from)
    });
    let may_prepare = incoming.is_none() && config.has_region(from);
    if config.primary_region != from && !took_over && !may_prepare {
        return Err(denied(
            ctx,
            format!(
                "the primary of {arn} is in {}, not {from}",
                config.primary_region
            ),
        ));
    }
    Ok(config)
}

/// The incoming Regions must name the caller as primary and this
/// deployment as a replica.
fn check_regions(ctx: &ApiContext, regions: &Regions, from: &str) -> Result<(), ApiError> {
    if regions.primary_region != from {
        return Err(denied(
            ctx,
            format!("{from} can only send keys whose primary it holds"),
        ));
    }
    if !regions
        .replica_regions
        .iter()
        .any(|r| r == ctx.kms.region())
    {
        return Err(ApiError::validation(format!(
            "the replica Regions do not include {}",
            ctx.kms.region()
        )));
    }
    Ok(())
}

fn get_replication_parameters(
    ctx: &ApiContext,
    from: &str,
    req: &KmsRequest,
) -> Result<Value, ApiError> {
    let request: wire::ParametersRequest = message(req)?;
    require_multi_region_id(&request.key_id)?;
    if let Some(record) = ctx.kms.store().get_key::<KeyRecord>(&request.key_id)? {
        check_sender(ctx, &record, from, None)?;
    }
    let parameters = transfer::prepare_receive(ctx.kms, &request.key_id, from, unix_now())?;
    serde_json::to_value(parameters).map_err(|e| KmsError::Internal(e.to_string()).into())
}

fn create_replica(ctx: &ApiContext, from: &str, req: &KmsRequest) -> Result<Value, ApiError> {
    let request: wire::CreateReplica = message(req)?;
    require_multi_region_id(&request.key_id)?;
    let shared = &request.shared;
    check_regions(ctx, &shared.multi_region_configuration, from)?;
    if ctx
        .kms
        .store()
        .get_key::<KeyRecord>(&request.key_id)?
        .is_some()
    {
        return Err(KmsError::AlreadyExists(format!(
            "{} already exists",
            ctx.kms.key_arn(&request.key_id)
        ))
        .into());
    }
    check_key_kind(shared)?;
    if let Some(policy) = &request.policy {
        PolicyDocument::parse(policy, true)
            .map_err(|e| ApiError::new("MalformedPolicyDocumentException", e.0))?;
    }
    if request.description.chars().count() > 8192 {
        return Err(ApiError::validation(
            "Description must be at most 8192 characters",
        ));
    }
    let tags = parse_tags(req)?;
    let now = unix_now();
    let versions = transfer::receive_versions(
        ctx.kms,
        &request.key_id,
        from,
        &request.import_token,
        &shared.key_spec,
        &shared.key_versions,
        now,
    )?;
    if !versions.iter().any(|v| v.version == shared.current_version) {
        return Err(ApiError::validation(
            "CurrentVersion is not among the versions sent",
        ));
    }
    let record = KeyRecord {
        key_id: request.key_id.clone(),
        description: request.description.clone(),
        created_at: now,
        state: KeyState::Enabled,
        key_spec: shared.key_spec.clone(),
        key_usage: shared.key_usage.clone(),
        origin: shared.origin.clone(),
        current_version: shared.current_version,
        versions,
        policy: request.policy.clone(),
        tags,
        rotation: shared.rotation(),
        deletion_date: None,
        deletion_window_days: None,
        import: None,
        material_valid_to: None,
        material_commitment: None,
        key_manager: "CUSTOMER".into(),
        multi_region: Some(shared.multi_region_configuration.clone().into_config()),
    };
    ctx.kms.store().insert_key(&record.key_id, &record)?;
    tracing::warn!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, primary_region = from, "created a multi-Region replica key");
    let policy = record
        .policy
        .clone()
        .unwrap_or_else(|| default_policy(ctx.kms.account_id()));
    Ok(json!({"KeyMetadata": key_metadata(ctx.kms, &record), "Policy": policy}))
}

/// A key spec and usage s3seal knows, that go together.
fn check_key_kind(shared: &wire::SharedProperties) -> Result<(), ApiError> {
    let allowed: &[&str] = match shared.key_spec.as_str() {
        "SYMMETRIC_DEFAULT" => &["ENCRYPT_DECRYPT"],
        other => KeySpec::parse(other)
            .ok_or_else(|| ApiError::validation(format!("KeySpec '{other}' is not valid")))?
            .allowed_usages(),
    };
    if !allowed.contains(&shared.key_usage.as_str()) || shared.origin != "AWS_KMS" {
        return Err(ApiError::validation(format!(
            "a {} key with usage {} and origin {} cannot be replicated",
            shared.key_spec, shared.key_usage, shared.origin
        )));
    }
    Ok(())
}

fn sync_replica(ctx: &ApiContext, from: &str, req: &KmsRequest) -> Result<Value, ApiError> {
    let request: wire::SyncReplica = message(req)?;
    let shared = &request.shared;
    let regions = &shared.multi_region_configuration;
    let record = ctx.kms.describe_key(&request.key_id)?;
    let config = check_sender(ctx, &record, from, Some(regions))?;
    check_regions(ctx, regions, from)?;
    if regions.generation < config.generation {
        return Err(KmsError::Conflict(format!(
            "this replica has generation {}, newer than {}",
            config.generation, regions.generation
        ))
        .into());
    }
    if shared.key_spec != record.key_spec || shared.key_usage != record.key_usage {
        return Err(ApiError::validation(
            "the key spec and usage of a key never change",
        ));
    }
    let versions = transfer::receive_versions(
        ctx.kms,
        &record.key_id,
        from,
        &request.import_token,
        &record.key_spec,
        &shared.key_versions,
        unix_now(),
    )?;
    let updated = ctx.kms.update_key(&record.key_id, |r| {
        let current = r.multi_region.as_ref().map_or(0, |c| c.generation);
        if regions.generation < current {
            return Err(KmsError::Conflict(
                "a newer update arrived meanwhile".into(),
            ));
        }
        for version in versions {
            // A version's material never changes: keep what is here.
            if r.version(version.version).is_none() {
                r.versions.push(version);
            }
        }
        r.versions.sort_by_key(|v| v.version);
        if r.version(shared.current_version).is_some() {
            r.current_version = shared.current_version;
        }
        r.rotation = shared.rotation();
        r.multi_region = Some(regions.clone().into_config());
        Ok(())
    })?;
    tracing::info!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, version = updated.current_version, generation = regions.generation, "brought a multi-Region replica key up to date");
    Ok(json!({"KeyMetadata": key_metadata(ctx.kms, &updated)}))
}

fn promote_replica(ctx: &ApiContext, from: &str, req: &KmsRequest) -> Result<Value, ApiError> {
    let request: wire::PromoteReplica = message(req)?;
    let regions = request.multi_region_configuration;
    let own = ctx.kms.region();
    let record = ctx.kms.describe_key(&request.key_id)?;
    let arn = ctx.kms.key_arn(&record.key_id);
    if regions.primary_region != own || !regions.replica_regions.iter().any(|r| r == from) {
        return Err(ApiError::validation(format!(
            "PromoteReplica must make {own} the primary and keep {from} as a replica"
        )));
    }
    let config = record
        .multi_region
        .clone()
        .ok_or_else(|| ApiError::validation(format!("{arn} is not a multi-Region key")))?;
    let already_done = config.is_primary_in(own) && config.generation == regions.generation;
    if !already_done {
        if config.primary_region != from {
            return Err(denied(
                ctx,
                format!(
                    "the primary of {arn} is in {}, not {from}",
                    config.primary_region
                ),
            ));
        }
        if regions.generation <= config.generation {
            return Err(KmsError::Conflict(format!(
                "{arn} has generation {}; the promotion must be newer",
                config.generation
            ))
            .into());
        }
        // As on AWS, the new primary must be enabled.
        ensure_usable(&record, &arn)?;
    }
    let updated = ctx.kms.update_key(&record.key_id, |r| {
        let mut promoted = regions.clone().into_config();
        // The old primary had everything this replica has.
        promoted.mark_synced(from, regions.generation);
        r.multi_region = Some(promoted);
        Ok(())
    })?;
    tracing::warn!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, old_primary_region = from, "became the primary Region of a multi-Region key");
    Ok(json!({"KeyMetadata": key_metadata(ctx.kms, &updated)}))
}
