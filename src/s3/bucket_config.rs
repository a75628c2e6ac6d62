//! Bucket settings s3seal keeps and enforces itself, whatever the upstream
//! supports: the bucket policy (PutBucketPolicy, GetBucketPolicy,
//! DeleteBucketPolicy, GetBucketPolicyStatus) and default encryption
//! (PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption).
//! They live in s3seal's store, never on the upstream.

use crate::body::ClientBody;
use http::{HeaderValue, Method, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::RequestContext;
use super::iam::is_valid_action_pattern;
use super::passthrough::read_small_body;
use crate::body::{self, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::policy::PolicyDocument;
use crate::policy::document::Matcher;
use crate::state::AppState;
use crate::upstream::UpstreamRequest;

/// AWS's limit on a bucket policy.
const MAX_POLICY_LEN: usize = 20 * 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BucketSettings {
    pub policy: Option<String>,
    pub encryption: Option<BucketEncryption>,
}

/// A bucket's default encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `AES256` or `aws:kms`.
    pub algorithm: String,
    /// The KMS key (as configured) for `aws:kms`; `None` means s3seal's default key.
    pub kms_key_id: Option<String>,
    pub bucket_key_enabled: bool,
}

impl BucketEncryption {
    /// What every bucket has until configured otherwise (as on AWS since 2023).
    pub fn aws_default() -> Self {
        BucketEncryption {
            algorithm: "AES256".into(),
            kms_key_id: None,
            bucket_key_enabled: false,
        }
    }
}

pub fn load(state: &AppState, bucket: &str) -> Result<BucketSettings, S3Error> {
    Ok(state.store.get_bucket_settings(bucket)?.unwrap_or_default())
}

fn save(state: &AppState, bucket: &str, settings: &BucketSettings) -> Result<(), S3Error> {
    let value = (settings.policy.is_some() || settings.encryption.is_some()).then_some(settings);
    state
        .store
        .put_bucket_settings(bucket, value)
        .map_err(S3Error::from)
}

/// Forgets a deleted bucket's settings (a bucket re-created under the same
/// name must not inherit them).
pub fn forget(state: &AppState, bucket: &str) {
    if let Err(err) = state
        .store
        .put_bucket_settings::<BucketSettings>(bucket, None)
    {
        tracing::warn!(bucket, error = %err, "could not forget a deleted bucket's settings");
    }
}

/// The bucket's default encryption.
pub fn default_encryption(state: &AppState, bucket: &str) -> Result<BucketEncryption, S3Error> {
    Ok(load(state, bucket)?
        .encryption
        .unwrap_or_else(BucketEncryption::aws_default))
}

/// The bucket subresources s3seal serves itself (never the upstream).
pub const SUBRESOURCES: [&str; 3] = ["policy", "policyStatus", "encryption"];

/// Serves one of [`SUBRESOURCES`].
pub async fn handle(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
    subresource: &str,
) -> Result<Response<ProxyBody>, S3Error> {
    let bucket = ctx
        .s3
        .bucket
        .clone()
        .ok_or_else(|| S3Error::internal("bucket subresource without a bucket"))?;
    require_bucket(state, &bucket).await?;
    {
        match (subresource, &parts.method) {
            ("policy", &Method::PUT) => put_policy(state, ctx, &bucket, parts, body).await,
            ("policy", &Method::GET) => get_policy(state, &bucket),
            ("policy", &Method::DELETE) => update(state, &bucket, |s| s.policy = None),
            ("policyStatus", &Method::GET) => policy_status(state, &bucket),
            ("encryption", &Method::PUT) => put_encryption(state, ctx, &bucket, parts, body).await,
            ("encryption", &Method::GET) => get_encryption(state, &bucket),
            ("encryption", &Method::DELETE) => update(state, &bucket, |s| s.encryption = None),
            _ => Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                "unsupported method for this subresource",
            )),
        }
    }
}

/// NoSuchBucket (relayed from the upstream) unless the bucket exists.
async fn require_bucket(state: &AppState, bucket: &str) -> Result<(), S3Error> {
    let response = state
        .upstream
        .send(UpstreamRequest::bodyless(
            Method::HEAD,
            Some(bucket.to_string()),
            None,
            Vec::new(),
        ))
        .await?;
    match response.status() {
        s if s.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err(S3Error::new(
            S3ErrorCode::NoSuchBucket,
            "The specified bucket does not exist",
        )
        .with_detail("BucketName", bucket.to_string())),
        status => Err(S3Error::internal(format!(
            "checking the bucket on the upstream failed with {status}"
        ))),
    }
}

fn update(
    state: &AppState,
    bucket: &str,
    change: impl FnOnce(&mut BucketSettings),
) -> Result<Response<ProxyBody>, S3Error> {
    let mut settings = load(state, bucket)?;
    change(&mut settings);
    save(state, bucket, &settings)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn put_policy(
    state: &AppState,
    ctx: &RequestContext,
    bucket: &str,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let bytes = read_small_body(&parts, ctx, body).await?;
    if bytes.len() > MAX_POLICY_LEN {
        return Err(S3Error::new(
            S3ErrorCode::MalformedPolicy,
            "Policies must be at most 20 KB",
        ));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| S3Error::new(S3ErrorCode::MalformedPolicy, "the policy is not UTF-8 text"))?;
    validate_policy(text, bucket)?;
    let mut settings = load(state, bucket)?;
    settings.policy = Some(text.to_string());
    save(state, bucket, &settings)?;
    tracing::warn!(request_id = %ctx.request_id, principal = %ctx.principal.arn, bucket, "replaced a bucket policy");
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Checks a bucket policy as S3 does, saying what is wrong.
pub fn validate_policy(text: &str, bucket: &str) -> Result<PolicyDocument, S3Error> {
    let malformed = |message: String| S3Error::new(S3ErrorCode::MalformedPolicy, message);
    let document = PolicyDocument::parse(text, true).map_err(|e| malformed(e.0))?;
    for (i, statement) in document.statements.iter().enumerate() {
        let n = i + 1;
        let actions = match &statement.action {
            Matcher::Is(a) | Matcher::IsNot(a) => a,
        };
        if let Some(bad) = actions.iter().find(|a| !is_valid_action_pattern(a)) {
            return Err(malformed(format!(
                "Statement {n}: Policy has invalid action: {bad}"
            )));
        }
        let resources = match &statement.resource {
            Some(Matcher::Is(r) | Matcher::IsNot(r)) => r,
            None => {
                return Err(malformed(format!(
                    "Statement {n}: Missing required field Resource"
                )));
            }
        };
        if let Some(bad) = resources.iter().find(|r| !resource_in_bucket(r, bucket)) {
            return Err(malformed(format!(
                "Statement {n}: Policy has invalid resource: {bad} (resources must be arn:aws:s3:::{bucket} or arn:aws:s3:::{bucket}/...)"
            )));
        }
    }
    Ok(document)
}

/// `arn:aws:s3:::<bucket>` or `arn:aws:s3:::<bucket>/<key pattern>`, where the
/// bucket part may use wildcards that match this bucket.
fn resource_in_bucket(resource: &str, bucket: &str) -> bool {
    let Some(rest) = resource.strip_prefix("arn:aws:s3:::") else {
        return false;
    };
    let bucket_part = rest.split_once('/').map_or(rest, |(b, _)| b);
    crate::policy::wildcard::glob_match(bucket_part, bucket, false)
}

fn get_policy(state: &AppState, bucket: &str) -> Result<Response<ProxyBody>, S3Error> {
    let policy = load(state, bucket)?.policy.ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::NoSuchBucketPolicy,
            "The bucket policy does not exist",
        )
        .with_detail("BucketName", bucket.to_string())
    })?;
    Ok(with_body(policy, "application/json"))
}

/// A policy is public if it allows anyone (`"*"`) without conditions.
fn policy_status(state: &AppState, bucket: &str) -> Result<Response<ProxyBody>, S3Error> {
    let policy = load(state, bucket)?.policy.ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::NoSuchBucketPolicy,
            "The bucket policy does not exist",
        )
    })?;
    let document = PolicyDocument::parse(&policy, true).map_err(|e| S3Error::internal(e.0))?;
    let public = document.statements.iter().any(|s| {
        s.effect == crate::policy::document::Effect::Allow
            && s.conditions.is_empty()
            && matches!(
                s.principal,
                Some(Matcher::Is(crate::policy::document::Principals::Anyone))
            )
    });
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PolicyStatus xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsPublic>{public}</IsPublic></PolicyStatus>"
    );
    Ok(with_body(xml, "application/xml"))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename = "ServerSideEncryptionConfiguration")]
struct EncryptionConfiguration {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    xmlns: Option<&'static str>,
    #[serde(rename = "Rule", default)]
    rules: Vec<EncryptionRule>,
}

#[derive(Debug, Deserialize, Serialize)]
struct EncryptionRule {
    #[serde(rename = "ApplyServerSideEncryptionByDefault")]
    default: Option<EncryptionByDefault>,
    #[serde(rename = "BucketKeyEnabled", skip_serializing_if = "Option::is_none")]
    bucket_key_enabled: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize)]
struct EncryptionByDefault {
    #[serde(rename = "SSEAlgorithm")]
    algorithm: String,
    #[serde(rename = "KMSMasterKeyID", skip_serializing_if = "Option::is_none")]
    kms_key: Option<String>,
}

async fn put_encryption(
    state: &AppState,
    ctx: &RequestContext,
    bucket: &str,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let bytes = read_small_body(&parts, ctx, body).await?;
    let config: EncryptionConfiguration = super::xml::parse_xml(&bytes).map_err(|e| {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            format!("The XML you provided was not well-formed or did not validate against our published schema: {e}"),
        )
    })?;
    let [rule] = config.rules.as_slice() else {
        return Err(S3Error::new(
            S3ErrorCode::MalformedXML,
            "the configuration must hold exactly one Rule",
        ));
    };
    let default = rule.default.as_ref().ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            "the Rule needs ApplyServerSideEncryptionByDefault",
        )
    })?;
    let encryption = match (default.algorithm.as_str(), &default.kms_key) {
        ("AES256", None) => BucketEncryption {
            algorithm: "AES256".into(),
            kms_key_id: None,
            bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
        },
        ("AES256", Some(_)) => {
            return Err(S3Error::invalid_argument(
                "a KMSMasterKeyID can only be given with SSEAlgorithm aws:kms",
            ));
        }
        ("aws:kms", key) => {
            if let Some(key) = key
                && state.external_kms.is_none()
            {
                // The key must exist now (its state is checked at each upload).
                // An external key is checked by its KMS at the first upload.
                state.kms.describe_key(key)?;
            }
            BucketEncryption {
                algorithm: "aws:kms".into(),
                kms_key_id: key.clone(),
                bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
            }
        }
        ("aws:kms:dsse", _) => {
            return Err(S3Error::not_implemented("aws:kms:dsse default encryption"));
        }
        (other, _) => {
            return Err(S3Error::invalid_argument(format!(
                "SSEAlgorithm {other} is not AES256 or aws:kms"
            )));
        }
    };
    let mut settings = load(state, bucket)?;
    settings.encryption = Some(encryption);
    save(state, bucket, &settings)?;
    Ok(empty(StatusCode::OK))
}

fn get_encryption(state: &AppState, bucket: &str) -> Result<Response<ProxyBody>, S3Error> {
    let encryption = default_encryption(state, bucket)?;
    let config = EncryptionConfiguration {
        xmlns: Some("http://s3.amazonaws.com/doc/2006-03-01/"),
        rules: vec![EncryptionRule {
            default: Some(EncryptionByDefault {
                algorithm: encryption.algorithm,
                kms_key: encryption.kms_key_id,
            }),
            bucket_key_enabled: Some(encryption.bucket_key_enabled),
        }],
    };
    let xml = quick_xml::se::to_string(&config).map_err(|e| S3Error::internal(e.to_string()))?;
    Ok(with_body(
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}"),
        "application/xml",
    ))
}

fn empty(status: StatusCode) -> Response<ProxyBody> {
    let mut out = Response::new(body::empty());
    *out.status_mut() = status;
    out
}

fn with_body(text: String, content_type: &'static str) -> Response<ProxyBody> {
    let len = text.len();
    let mut out = Response::new(body::full(text));
    out.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    out.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_policies_are_validated_with_reasons() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}}}]}"#;
        assert!(validate_policy(ok, "b").is_ok());
        let cases = [
            ("{not json", "not valid JSON"),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObjectz","Resource":"arn:aws:s3:::b/*"}]}"#,
                "invalid action: s3:GetObjectz",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"arn:aws:s3:::b/*"}]}"#,
                "invalid action",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
                "invalid resource",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}"#,
                "Resource",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEqualz":{"a":"b"}}}]}"#,
                "StringEqualz",
            ),
        ];
        for (text, needle) in cases {
            let err = validate_policy(text, "b").unwrap_err();
            assert_eq!(err.code, S3ErrorCode::MalformedPolicy, "{text}");
            assert!(err.message.contains(needle), "{text}: {}", err.message);
        }
        assert!(resource_in_bucket("arn:aws:s3:::b*/x", "bucket"));
        assert!(!resource_in_bucket("b/*", "b"));
    }
}
