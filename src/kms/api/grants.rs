//! Grants: CreateGrant, ListGrants, RetireGrant, RevokeGrant, ListRetirableGrants.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::error::ApiError;
use super::keys::{authorized_key, paged};
use super::request::{KmsRequest, b64, page};
use super::{ApiContext, timestamp};
use crate::kms::grants::{GRANT_OPERATIONS, Grant, GrantConstraints};
use crate::kms::manager::{ensure_usable, unix_now};

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| ApiError::new("KMSInternalException", e.to_string()))?;
    Ok(hex::encode(buf))
}

fn principal_arn(value: &str, field: &str) -> Result<String, ApiError> {
    if !value.starts_with("arn:") || value.len() > 256 {
        return Err(ApiError::validation(format!(
            "{field} must be an ARN: {value}"
        )));
    }
    Ok(value.to_string())
}

fn constraints(req: &KmsRequest) -> Result<Option<GrantConstraints>, ApiError> {
    let Some(value) = req.value("Constraints") else {
        return Ok(None);
    };
    let map = |name: &str| -> Result<Option<BTreeMap<String, String>>, ApiError> {
        match value.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_string()))
                        .ok_or_else(|| {
                            ApiError::validation(format!("{name} values must be strings"))
                        })
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(ApiError::validation(format!("{name} must be a map"))),
        }
    };
    Ok(Some(GrantConstraints {
        encryption_context_subset: map("EncryptionContextSubset")?,
        encryption_context_equals: map("EncryptionContextEquals")?,
    }))
}

fn grant_entry(ctx: &ApiContext, g: &Grant) -> Value {
    let mut entry = json!({
        "KeyId": ctx.kms.key_arn(&g.key_id),
        "GrantId": g.grant_id,
        "CreationDate": timestamp(g.creation_date),
        "GranteePrincipal": g.grantee_principal,
        "IssuingAccount": format!("arn:aws:iam::{}:root", g.issuing_account),
        "Operations": g.operations,
    });
    if let Some(name) = &g.name {
        entry["Name"] = json!(name);
    }
    if let Some(retiring) = &g.retiring_principal {
        entry["RetiringPrincipal"] = json!(retiring);
    }
    if let Some(c) = &g.constraints {
        let mut constraints = json!({});
        if let Some(s) = &c.encryption_context_subset {
            constraints["EncryptionContextSubset"] = json!(s);
        }
        if let Some(e) = &c.encryption_context_equals {
            constraints["EncryptionContextEquals"] = json!(e);
        }
        entry["Constraints"] = constraints;
    }
    entry
}

pub fn create_grant(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:CreateGrant")?;
    ensure_usable(&record, &ctx.kms.key_arn(&record.key_id))?;
    let grantee = principal_arn(req.str("GranteePrincipal")?, "GranteePrincipal")?;
    let retiring = req
        .opt_str("RetiringPrincipal")?
        .map(|r| principal_arn(r, "RetiringPrincipal"))
        .transpose()?;
    let operations = req
        .string_list("Operations")?
        .filter(|o| !o.is_empty())
        .ok_or_else(|| ApiError::validation("Operations must list at least one operation"))?;
    if let Some(bad) = operations
        .iter()
        .find(|o| !GRANT_OPERATIONS.contains(&o.as_str()))
    {
        return Err(ApiError::validation(format!(
            "'{bad}' is not a grant operation"
        )));
    }
    let name = req.opt_str("Name")?.map(str::to_string);
    let constraints = constraints(req)?;
    if req.opt_bool("DryRun")? == Some(true) {
        return Err(ApiError::new(
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    // A retried CreateGrant with the same name and contents returns the same grant.
    if let Some(existing) = ctx.kms.grants_for(&record.key_id)?.into_iter().find(|g| {
        name.is_some()
            && g.name == name
            && g.grantee_principal == grantee
            && g.retiring_principal == retiring
            && g.operations == operations
            && g.constraints == constraints
    }) {
        return Ok(json!({"GrantId": existing.grant_id, "GrantToken": existing.grant_token}));
    }
    let grant = Grant {
        grant_id: random_hex(32)?,
        grant_token: b64(random_hex(48)?.as_bytes()),
        key_id: record.key_id.clone(),
        grantee_principal: grantee,
        retiring_principal: retiring,
        issuing_account: ctx.kms.account_id().to_string(),
        operations,
        constraints,
        name,
        creation_date: unix_now(),
    };
    ctx.kms.store().put_grant(&grant.grant_id, Some(&grant))?;
    tracing::info!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, grant_id = %grant.grant_id, grantee = %grant.grantee_principal, "created a KMS grant");
    Ok(json!({"GrantId": grant.grant_id, "GrantToken": grant.grant_token}))
}

pub fn list_grants(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:ListGrants")?;
    let (limit, start) = req.paging()?;
    let grant_id = req.opt_str("GrantId")?;
    let grantee = req.opt_str("GranteePrincipal")?;
    let mut grants: Vec<Grant> = ctx
        .kms
        .grants_for(&record.key_id)?
        .into_iter()
        .filter(|g| grant_id.is_none_or(|id| g.grant_id == id))
        .filter(|g| grantee.is_none_or(|p| g.grantee_principal == p))
        .collect();
    grants.sort_by(|a, b| (a.creation_date, &a.grant_id).cmp(&(b.creation_date, &b.grant_id)));
    let (items, next) = page(&grants, limit, start);
    Ok(paged(
        "Grants",
        items.iter().map(|g| grant_entry(ctx, g)).collect(),
        next,
    ))
}

pub fn list_retirable_grants(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let retiring = principal_arn(req.str("RetiringPrincipal")?, "RetiringPrincipal")?;
    let (limit, start) = req.paging()?;
    let mut grants: Vec<Grant> = ctx
        .kms
        .store()
        .list_grants::<Grant>()?
        .into_iter()
        .filter(|g| g.retiring_principal.as_deref() == Some(retiring.as_str()))
        .collect();
    grants.sort_by(|a, b| (a.creation_date, &a.grant_id).cmp(&(b.creation_date, &b.grant_id)));
    let (items, next) = page(&grants, limit, start);
    Ok(paged(
        "Grants",
        items.iter().map(|g| grant_entry(ctx, g)).collect(),
        next,
    ))
}

pub fn retire_grant(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let all: Vec<Grant> = ctx.kms.store().list_grants()?;
    let grant = match (req.opt_str("GrantToken")?, req.opt_str("GrantId")?) {
        (Some(token), _) => all
            .into_iter()
            .find(|g| crate::auth::secrets_equal(&g.grant_token, token))
            .ok_or_else(|| {
                ApiError::new("InvalidGrantTokenException", "the grant token is not valid")
            })?,
        (None, Some(id)) => {
            let key_ref = req.str("KeyId")?;
            let key_id = ctx.kms.resolve_key_id(key_ref)?;
            all.into_iter()
                .find(|g| g.grant_id == id && g.key_id == key_id)
                .ok_or_else(|| {
                    ApiError::new("NotFoundException", format!("Grant ID {id} not found"))
                })?
        }
        (None, None) => {
            return Err(ApiError::validation(
                "RetireGrant needs a GrantToken, or a KeyId and a GrantId",
            ));
        }
    };
    // The retiring principal, or a grantee allowed to retire, or the key policy.
    let may_retire = grant.retiring_principal.as_deref() == Some(ctx.caller.arn.as_str())
        || (grant.grantee_principal == ctx.caller.arn
            && grant.operations.iter().any(|o| o == "RetireGrant"));
    if !may_retire {
        let record = ctx.kms.describe_key(&grant.key_id)?;
        ctx.kms
            .authorize(&ctx.caller, "kms:RetireGrant", &record, None)?;
    }
    if req.opt_bool("DryRun")? == Some(true) {
        return Err(ApiError::new(
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    ctx.kms.store().put_grant::<Grant>(&grant.grant_id, None)?;
    tracing::info!(request_id = ctx.request_id, principal = %ctx.caller.arn, grant_id = %grant.grant_id, "retired a KMS grant");
    Ok(json!({}))
}

pub fn revoke_grant(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:RevokeGrant")?;
    let id = req.str("GrantId")?;
    if !ctx
        .kms
        .grants_for(&record.key_id)?
        .iter()
        .any(|g| g.grant_id == id)
    {
        return Err(ApiError::new(
            "NotFoundException",
            format!("Grant ID {id} not found"),
        ));
    }
    if req.opt_bool("DryRun")? == Some(true) {
        return Err(ApiError::new(
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    ctx.kms.store().put_grant::<Grant>(id, None)?;
    tracing::info!(request_id = ctx.request_id, principal = %ctx.caller.arn, grant_id = id, "revoked a KMS grant");
    Ok(json!({}))
}
