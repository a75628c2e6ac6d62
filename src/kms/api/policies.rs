//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one
//! policy, named `default`, as on AWS.

use serde_json::{Value, json};

use super::ApiContext;
use super::error::ApiError;
use super::keys::{authorized_key, check_policy, paged};
use super::request::KmsRequest;
use crate::kms::access::default_policy;

fn check_name(req: &KmsRequest) -> Result<(), ApiError> {
    match req.opt_str("PolicyName")? {
        None | Some("default") => Ok(()),
        Some(other) => Err(ApiError::new(
            "NotFoundException",
            format!("Policy '{other}' does not exist; keys have one policy named 'default'"),
        )),
    }
}

pub fn get_key_policy(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:GetKeyPolicy")?;
    check_name(req)?;
    let policy = record
        .policy
        .unwrap_or_else(|| default_policy(ctx.kms.account_id()));
    Ok(json!({"Policy": policy, "PolicyName": "default"}))
}

pub fn put_key_policy(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:PutKeyPolicy")?;
    check_name(req)?;
    let policy = req.str("Policy")?;
    check_policy(
        ctx,
        policy,
        req.opt_bool("BypassPolicyLockoutSafetyCheck")?
            .unwrap_or(false),
    )?;
    let text = policy.to_string();
    ctx.kms.update_key(&record.key_id, |r| {
        r.policy = Some(text);
        Ok(())
    })?;
    tracing::warn!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, "replaced a KMS key policy");
    Ok(json!({}))
}

pub fn list_key_policies(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    authorized_key(ctx, req, "kms:ListKeyPolicies")?;
    req.paging()?;
    Ok(paged("PolicyNames", vec![json!("default")], None))
}
