//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use serde_json::{Value, json};

use super::ApiContext;
use super::error::ApiError;
use super::keys::paged;
use super::request::{KmsRequest, page};
use crate::kms::KeyRecord;
use crate::store::StoreError;

/// `alias/` + letters, digits, `/_-:`; `alias/aws/` is reserved for AWS-managed keys.
fn check_alias_name(name: &str) -> Result<(), ApiError> {
    let valid = name.starts_with("alias/")
        && name.len() > "alias/".len()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-:".contains(&b));
    if !valid {
        return Err(ApiError::validation(format!(
            "Alias must start with the prefix \"alias/\" and contain only alphanumeric characters, '/', '_', '-' or ':': {name}"
        )));
    }
    if name.starts_with("alias/aws/") {
        return Err(ApiError::new(
            "NotAuthorizedException",
            "alias names beginning with alias/aws/ are reserved",
        ));
    }
    Ok(())
}

/// The target of an alias: a key id or key ARN (never another alias).
fn target_key(ctx: &ApiContext, req: &KmsRequest, action: &str) -> Result<KeyRecord, ApiError> {
    let target = req.bounded_str("TargetKeyId", 2048)?;
    if target.starts_with("alias/") || target.contains(":alias/") {
        return Err(ApiError::validation(
            "TargetKeyId must be a key id or key ARN, not an alias",
        ));
    }
    let record = ctx.kms.describe_key(target)?;
    ctx.kms.authorize(&ctx.caller, action, &record, None)?;
    Ok(record)
}

pub fn create_alias(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let name = req.str("AliasName")?;
    check_alias_name(name)?;
    let record = target_key(ctx, req, "kms:CreateAlias")?;
    ctx.kms
        .store()
        .insert_alias(name, &record.key_id)
        .map_err(|e| match e {
            StoreError::AlreadyExists(_) => ApiError::new(
                "AlreadyExistsException",
                format!(
                    "An alias with the name {} already exists",
                    ctx.kms.alias_arn(name)
                ),
            ),
            other => other.into(),
        })?;
    Ok(json!({}))
}

pub fn update_alias(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let name = req.str("AliasName")?;
    check_alias_name(name)?;
    let current = ctx.kms.store().get_alias(name)?.ok_or_else(|| {
        ApiError::new(
            "NotFoundException",
            format!("Alias {} is not found.", ctx.kms.alias_arn(name)),
        )
    })?;
    let old = ctx.kms.describe_key(&current)?;
    ctx.kms
        .authorize(&ctx.caller, "kms:UpdateAlias", &old, None)?;
    let record = target_key(ctx, req, "kms:UpdateAlias")?;
    ctx.kms.store().put_alias(name, &record.key_id)?;
    Ok(json!({}))
}

pub fn delete_alias(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let name = req.str("AliasName")?;
    let not_found = || {
        ApiError::new(
            "NotFoundException",
            format!("Alias {} is not found.", ctx.kms.alias_arn(name)),
        )
    };
    let target = ctx.kms.store().get_alias(name)?.ok_or_else(not_found)?;
    if let Ok(record) = ctx.kms.describe_key(&target) {
        ctx.kms
            .authorize(&ctx.caller, "kms:DeleteAlias", &record, None)?;
    }
    if name.starts_with("alias/aws/") {
        return Err(ApiError::new(
            "NotAuthorizedException",
            "aliases beginning with alias/aws/ cannot be deleted",
        ));
    }
    if !ctx.kms.store().delete_alias(name)? {
        return Err(not_found());
    }
    Ok(json!({}))
}

pub fn list_aliases(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let (limit, start) = req.paging()?;
    let filter = match req.opt_str("KeyId")? {
        None => None,
        Some(key_ref) => Some(ctx.kms.describe_key(key_ref)?.key_id),
    };
    let aliases: Vec<(String, String)> = ctx
        .kms
        .store()
        .list_aliases()?
        .into_iter()
        .filter(|(_, target)| filter.as_ref().is_none_or(|f| f == target))
        .collect();
    let (items, next) = page(&aliases, limit, start);
    let entries = items
        .iter()
        .map(|(name, target)| {
            json!({"AliasName": name, "AliasArn": ctx.kms.alias_arn(name), "TargetKeyId": target})
        })
        .collect();
    Ok(paged("Aliases", entries, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names() {
        assert!(check_alias_name("alias/payments-2026_a:b").is_ok());
        assert!(check_alias_name("payments").is_err());
        assert!(check_alias_name("alias/").is_err());
        assert!(check_alias_name("alias/with space").is_err());
        assert_eq!(
            check_alias_name("alias/aws/s3").unwrap_err().kind,
            "NotAuthorizedException"
        );
    }
}
