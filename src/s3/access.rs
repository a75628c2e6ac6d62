//! Who may do what on a bucket: bucket policies, evaluated on every request
//! before anything reaches the upstream.
//!
//! As AWS evaluates a bucket policy for a caller of the owning account: a
//! matching `Deny` refuses (logged with the statement's `Sid`); a matching
//! `Allow` permits; otherwise the caller is allowed if it *owns* the bucket
//! (`auth.credentials[].buckets`, every bucket by default) and refused if
//! not. Bucket owners may always read, replace and delete the bucket policy,
//! so a policy cannot lock its owners out.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;

use super::RequestContext;
use super::bucket_config;
use super::iam::{actions_for, resource_arn};
use super::route::Operation;
use crate::error::{S3Error, S3ErrorCode};
use crate::policy::{Decision, PolicyDocument, RequestFacts};
use crate::state::AppState;

/// What a policy sees of the request besides action and resource.
pub struct RequestDetails<'a> {
    pub headers: &'a HeaderMap,
    /// Object tags, when a policy needs them and the upstream provides them.
    pub existing_tags: Option<HashMap<String, String>>,
    /// For requests inside a multipart upload (UploadPart, Complete…): the
    /// upload's encryption, which S3 treats as the request's own (the client
    /// sent the SSE headers with CreateMultipartUpload only).
    pub upload_encryption: Option<(String, Option<String>)>,
}

/// Refuses the request unless the bucket's policy (or ownership) allows
/// every action it needs.
pub async fn authorize(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
) -> Result<(), S3Error> {
    let has_version = ctx.s3.has_query("versionId");
    let actions = actions_for(&ctx.s3.operation, has_version);
    let Some(bucket) = ctx.s3.bucket.as_deref() else {
        // ListBuckets: every principal may list (it names no bucket).
        return Ok(());
    };
    let policy = bucket_policy(state, bucket)?;
    let existing_tags = match (&policy, ctx.s3.key.as_deref()) {
        (Some(p), Some(key)) if p.mentions_condition_key("s3:ExistingObjectTag/") => {
            Some(super::tags::object_tags(state, bucket, key).await)
        }
        _ => None,
    };
    let details = RequestDetails {
        headers,
        existing_tags,
        upload_encryption: upload_encryption(state, ctx),
    };
    let resource = resource_arn(Some(bucket), ctx.s3.key.as_deref());
    for action in actions {
        check(
            state,
            ctx,
            policy.as_deref(),
            bucket,
            action,
            &resource,
            &details,
        )?;
    }
    // A copy also reads its source, under the source bucket's policy.
    if matches!(
        ctx.s3.operation,
        Operation::CopyObject | Operation::UploadPartCopy
    ) && let Some(source) = headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| super::copy::CopySource::parse(v).ok())
    {
        let source_policy = bucket_policy(state, &source.bucket)?;
        let action = if source.version_id.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        };
        let source_details = RequestDetails {
            headers,
            existing_tags: None,
            upload_encryption: None,
        };
        check(
            state,
            ctx,
            source_policy.as_deref(),
            &source.bucket,
            action,
            &resource_arn(Some(&source.bucket), Some(&source.key)),
            &source_details,
        )?;
    }
    Ok(())
}

/// Checks one object action on `key` with the condition keys `headers`
/// give: DeleteObjects checks each of its keys, and a POST upload, whose key
/// and SSE settings are form fields, checks `s3:PutObject` once it has read them.
pub fn authorize_object_action(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    action: &str,
    key: &str,
) -> Result<(), S3Error> {
    let Some(bucket) = ctx.s3.bucket.as_deref() else {
        return Ok(());
    };
    let policy = bucket_policy(state, bucket)?;
    let details = RequestDetails {
        headers,
        existing_tags: None,
        upload_encryption: None,
    };
    check(
        state,
        ctx,
        policy.as_deref(),
        bucket,
        action,
        &resource_arn(Some(bucket), Some(key)),
        &details,
    )
}

/// The encryption of the multipart upload a request belongs to, if any.
fn upload_encryption(state: &AppState, ctx: &RequestContext) -> Option<(String, Option<String>)> {
    if !matches!(
        ctx.s3.operation,
        Operation::UploadPart | Operation::UploadPartCopy | Operation::CompleteMultipartUpload
    ) {
        return None;
    }
    let (_, record) = super::multipart::UploadRecord::load(state, ctx).ok()?;
    let metadata = record.sealed_metadata().ok()?;
    let key = (metadata.sse == crate::seal::metadata::SseMode::Kms)
        .then(|| super::sse::key_arn(&state.kms, &metadata.data_key));
    Some((metadata.sse.header_value().to_string(), key))
}

fn bucket_policy(state: &AppState, bucket: &str) -> Result<Option<Arc<PolicyDocument>>, S3Error> {
    bucket_config::load(state, bucket)?
        .policy
        .map(|text| {
            crate::policy::parsed::parse_stored(&text, true)
                .map_err(|e| S3Error::internal(format!("stored bucket policy is invalid: {e}")))
        })
        .transpose()
}

fn check(
    state: &AppState,
    ctx: &RequestContext,
    policy: Option<&PolicyDocument>,
    bucket: &str,
    action: &str,
    resource: &str,
    details: &RequestDetails,
) -> Result<(), S3Error> {
    let owner = ctx.principal.owns(bucket);
    if owner
        && matches!(
            action,
            "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy"
        )
    {
        return Ok(());
    }
    let (decision, sid) = match policy {
        Some(policy) => policy.evaluate_explained(&facts(state, ctx, action, resource, details)),
        None => (Decision::NotApplicable, None),
    };
    let allowed = match decision {
        Decision::Deny => false,
        Decision::Allow => true,
        Decision::NotApplicable => owner,
    };
    if allowed {
        return Ok(());
    }
    let why = match decision {
        Decision::Deny => "denied by the bucket policy",
        _ if policy.is_some() => {
            "not allowed by the bucket policy, and the caller does not own the bucket"
        }
        _ => "the caller does not own the bucket and it has no policy that allows this",
    };
    tracing::warn!(
        request_id = %ctx.request_id,
        principal = %ctx.principal.arn,
        action,
        resource,
        sid = sid.as_deref().unwrap_or("-"),
        "access denied: {why}"
    );
    Err(S3Error::new(
        S3ErrorCode::AccessDenied,
        format!("Access Denied: {action} on {resource} is {why}"),
    ))
}

/// The request facts AWS exposes as condition keys.
fn facts(
    state: &AppState,
    ctx: &RequestContext,
    action: &str,
    resource: &str,
    details: &RequestDetails,
) -> RequestFacts {
    let mut facts = RequestFacts {
        principal_arn: Some(ctx.principal.arn.clone()),
        principal_account: Some(state.config.server.account_id.clone()),
        action: action.to_string(),
        resource: resource.to_string(),
        ..RequestFacts::default()
    };
    facts.set_one("aws:PrincipalArn", ctx.principal.arn.clone());
    facts.set_one(
        "aws:PrincipalAccount",
        state.config.server.account_id.clone(),
    );
    facts.set_one("aws:username", ctx.principal.name.clone());
    facts.set_one("aws:userid", ctx.principal.name.clone());
    facts.set_one("aws:SecureTransport", ctx.secure_transport.to_string());
    if let Some(ip) = &ctx.source_ip {
        facts.set_one("aws:SourceIp", ip.clone());
    }
    let now = time::OffsetDateTime::now_utc();
    facts.set_one(
        "aws:CurrentTime",
        now.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    );
    facts.set_one("aws:EpochTime", now.unix_timestamp().to_string());
    facts.set_one("s3:signatureversion", ctx.auth_method.signature_version());
    facts.set_one("s3:authType", ctx.auth_method.auth_type());
    let header = |name: &str| details.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some((mode, key)) = &details.upload_encryption {
        facts.set_one("s3:x-amz-server-side-encryption", mode.clone());
        if let Some(key) = key {
            facts.set_one(
                "s3:x-amz-server-side-encryption-aws-kms-key-id",
                key.clone(),
            );
        }
    }
    if let Some(sse) = header("x-amz-server-side-encryption") {
        facts.set_one("s3:x-amz-server-side-encryption", sse);
    }
    if let Some(key) = header("x-amz-server-side-encryption-aws-kms-key-id") {
        // Policies name keys by ARN: an id or alias in the request is resolved,
        // so naming the same key another way cannot slip past a condition.
        let arn = state
            .kms
            .resolve_key_id(key)
            .map(|id| state.kms.key_arn(&id))
            .unwrap_or_else(|_| key.to_string());
        facts.set_one("s3:x-amz-server-side-encryption-aws-kms-key-id", arn);
    }
    for name in [
        "x-amz-acl",
        "x-amz-copy-source",
        "x-amz-metadata-directive",
        "x-amz-storage-class",
    ] {
        if let Some(value) = header(name) {
            facts.set_one(&format!("s3:{name}"), value);
        }
    }
    for (param, key) in [
        ("prefix", "s3:prefix"),
        ("max-keys", "s3:max-keys"),
        ("delimiter", "s3:delimiter"),
        ("versionId", "s3:VersionId"),
    ] {
        if let Some(value) = ctx.s3.query_value(param) {
            facts.set_one(key, value);
        }
    }
    if let Some(tagging) = header("x-amz-tagging") {
        let tags = parse_tagging_header(tagging);
        facts.set(
            "s3:RequestObjectTagKeys",
            tags.iter().map(|(k, _)| k.clone()).collect(),
        );
        for (k, v) in tags {
            facts.set_one(&format!("s3:RequestObjectTag/{k}"), v);
        }
    }
    if let Some(tags) = &details.existing_tags {
        for (k, v) in tags {
            facts.set_one(&format!("s3:ExistingObjectTag/{k}"), v.clone());
        }
    }
    facts
}

/// `x-amz-tagging: k1=v1&k2=v2` (URL-encoded).
fn parse_tagging_header(value: &str) -> Vec<(String, String)> {
    value
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagging_header() {
        assert_eq!(
            parse_tagging_header("team=pay%20ments&env=prod&flag"),
            vec![
                ("team".to_string(), "pay ments".to_string()),
                ("env".to_string(), "prod".to_string()),
                ("flag".to_string(), String::new())
            ]
        );
    }
}
