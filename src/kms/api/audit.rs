//! The audit event of one KMS API call: CloudTrail's shape, with request
//! parameters and response elements kept to what is safe to log (never
//! plaintext, ciphertext, key material, signatures, MACs or grant tokens).

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::audit::event::{KMS_KEY_RESOURCE, KMS_SOURCE};
use crate::audit::{AuditEvent, RequestOrigin, UserIdentity};
use crate::kms::KeyManager;

/// Request fields that identify what was asked, never data.
const SAFE_REQUEST_FIELDS: &[&str] = &[
    "KeyId",
    "TargetKeyId",
    "SourceKeyId",
    "DestinationKeyId",
    "AliasName",
    "EncryptionContext",
    "SourceEncryptionContext",
    "DestinationEncryptionContext",
    "EncryptionAlgorithm",
    "SourceEncryptionAlgorithm",
    "DestinationEncryptionAlgorithm",
    "KeySpec",
    "NumberOfBytes",
    "KeyPairSpec",
    "SigningAlgorithm",
    "MessageType",
    "MacAlgorithm",
    "KeyUsage",
    "Origin",
    "Description",
    "MultiRegion",
    "PendingWindowInDays",
    "PolicyName",
    "Policy",
    "BypassPolicyLockoutSafetyCheck",
    "GranteePrincipal",
    "RetiringPrincipal",
    "Operations",
    "Constraints",
    "Name",
    "GrantId",
    "WrappingAlgorithm",
    "WrappingKeySpec",
    "ValidTo",
    "ExpirationModel",
    "RotationPeriodInDays",
    "Tags",
    "TagKeys",
    "Limit",
    "Marker",
    "DryRun",
    "CustomerMasterKeySpec",
    "KeyAgreementAlgorithm",
    "ReplicaRegion",
    "PrimaryRegion",
    // Peer deployments' replication calls (never their KeyVersions or ImportToken).
    "MultiRegionConfiguration",
    "CurrentVersion",
    "NextRotationDate",
];

/// Response fields worth keeping (metadata and identifiers only).
const SAFE_RESPONSE_FIELDS: &[&str] = &[
    "KeyMetadata",
    "GrantId",
    "KeyRotationEnabled",
    "RotationPeriodInDays",
    "DeletionDate",
    "PendingWindowInDays",
    "SignatureValid",
    "MacValid",
    "KeyState",
    "ReplicaKeyMetadata",
    "ReplicaPolicy",
    "ReplicaTags",
    "ParametersValidTo",
];

/// What the handler saw of the caller: who, if authentication succeeded.
pub struct CallOutline<'a> {
    pub operation: &'a str,
    pub identity: UserIdentity,
    pub origin: &'a RequestOrigin,
    pub request: Option<&'a Map<String, Value>>,
}

pub fn event(kms: &KeyManager, call: CallOutline, result: &Result<Value, ApiError>) -> AuditEvent {
    let mut event = AuditEvent::api_call(
        KMS_SOURCE,
        call.operation,
        kms.region(),
        kms.account_id(),
        call.identity,
        call.origin,
    );
    if is_key_use(call.operation) {
        event = event.as_key_use();
    }
    if let Some(request) = call.request {
        event = event.with_parameters(Value::Object(cloudtrail_fields(
            request,
            SAFE_REQUEST_FIELDS,
        )));
    }
    match result {
        Ok(Value::Object(response)) => {
            let kept = cloudtrail_fields(response, SAFE_RESPONSE_FIELDS);
            event = event.with_response((!kept.is_empty()).then_some(Value::Object(kept)));
        }
        Ok(_) => {}
        Err(err) => event = event.with_error(err.kind, &err.message),
    }
    for arn in key_arns(kms, call.request, result) {
        event = event.with_resource(KMS_KEY_RESOURCE, arn);
    }
    event
}

/// Cryptographic operations (data events), as opposed to key management.
fn is_key_use(operation: &str) -> bool {
    matches!(
        operation,
        "Encrypt"
            | "Decrypt"
            | "ReEncrypt"
            | "GenerateDataKey"
            | "GenerateDataKeyWithoutPlaintext"
            | "GenerateDataKeyPair"
            | "GenerateDataKeyPairWithoutPlaintext"
            | "Sign"
            | "Verify"
            | "GenerateMac"
            | "VerifyMac"
            | "DeriveSharedSecret"
    )
}

/// `fields` of `object`, renamed to CloudTrail's lower camel case.
fn cloudtrail_fields(object: &Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    object
        .iter()
        .filter(|(name, _)| fields.contains(&name.as_str()))
        .map(|(name, value)| (lower_camel(name), value.clone()))
        .collect()
}

fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The keys the call touched, as ARNs: from the response where it names
/// them (Decrypt names the key only there), else resolved from the request.
fn key_arns(
    kms: &KeyManager,
    request: Option<&Map<String, Value>>,
    result: &Result<Value, ApiError>,
) -> Vec<String> {
    let mut arns = Vec::new();
    if let Ok(response) = result {
        for arn in [
            response["KeyId"].as_str(),
            response["KeyMetadata"]["Arn"].as_str(),
            response["SourceKeyId"].as_str(),
        ]
        .into_iter()
        .flatten()
        {
            arns.push(arn.to_string());
        }
    }
    if arns.is_empty()
        && let Some(request) = request
    {
        for field in ["KeyId", "TargetKeyId", "DestinationKeyId"] {
            if let Some(key_id) = request
                .get(field)
                .and_then(Value::as_str)
                .and_then(|r| kms.resolve_key_id(r).ok())
            {
                arns.push(kms.key_arn(&key_id));
            }
        }
    }
    // ReplicateKey: the primary (from the request) and the new replica.
    if let Ok(response) = result
        && let Some(replica) = response["ReplicaKeyMetadata"]["Arn"].as_str()
    {
        arns.push(replica.to_string());
    }
    arns
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_safe_fields_are_kept_and_renamed() {
        let request = json!({
            "KeyId": "alias/app", "Plaintext": "c2VjcmV0", "EncryptionContext": {"a": "b"},
            "CiphertextBlob": "eA==", "GrantTokens": ["t"]
        });
        let kept = cloudtrail_fields(request.as_object().unwrap(), SAFE_REQUEST_FIELDS);
        assert_eq!(
            Value::Object(kept),
            json!({"keyId": "alias/app", "encryptionContext": {"a": "b"}})
        );
        let response = json!({"KeyId": "arn", "Plaintext": "x", "CiphertextBlob": "y", "GrantToken": "t", "GrantId": "g"});
        let kept = cloudtrail_fields(response.as_object().unwrap(), SAFE_RESPONSE_FIELDS);
        assert_eq!(Value::Object(kept), json!({"grantId": "g"}));
    }
}
