//! The AWS KMS JSON API (`POST /`, `X-Amz-Target: TrentService.<Op>`), on
//! s3seal's listener, so `aws kms --endpoint-url …` and boto3 work unchanged.
//!
//! Requests are SigV4-signed for the `kms` service with s3seal's client
//! credentials. Every operation on a key is authorised by the key's policy and
//! grants ([`crate::kms::access`]) for the signing principal. Handlers, by family:
//! - [`keys`] handles CreateKey, DescribeKey, ListKeys, Enable/DisableKey,
//!   Schedule/CancelKeyDeletion, UpdateKeyDescription, tags;
//! - [`aliases`] handles Create/Update/Delete/ListAliases;
//! - [`crypto`] handles Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateRandom;
//! - [`signing`] handles Sign, Verify, GetPublicKey, GenerateMac, VerifyMac;
//! - [`import`] handles GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial;
//! - [`rotation`] handles key rotation, automatic and on demand;
//! - [`policies`] handles key policies;
//! - [`grants`] handles grants;
//! - [`multi_region`] handles ReplicateKey and UpdatePrimaryRegion;
//! - [`peer_calls`] handles the `S3sealReplication.*` operations other
//!   s3seal deployments call to replicate multi-Region keys here.

pub mod aliases;
pub mod audit;
pub mod crypto;
pub mod error;
pub mod grants;
pub mod import;
pub mod keys;
pub mod multi_region;
pub mod peer_calls;
pub mod policies;
pub mod request;
pub mod rotation;
pub mod signing;

use std::time::SystemTime;

use crate::body::ClientBody;
use bytes::Bytes;
use http::{HeaderValue, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::audit::{RequestOrigin, UserIdentity};
use crate::auth::PayloadHash;
use crate::auth::Secret;
use crate::body::{self, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::kms::replication::{self, Replicator, peer};
use crate::kms::{Caller, KeyManager, Transport};
use crate::state::AppState;
use error::ApiError;
use request::KmsRequest;

/// Largest KMS request body (ImportKeyMaterial is the largest AWS accepts, well under this).
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// The `X-Amz-Target` prefix of AWS KMS operations.
const AWS_TARGET_PREFIX: &str = "TrentService.";

fn target(parts: &http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
}

/// Is this request for the KMS API (AWS's operations, or the replication
/// operations of peer deployments) rather than S3?
pub fn is_kms_request(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::POST
        && parts.uri.path() == "/"
        && target(parts).is_some_and(|t| {
            t.starts_with(AWS_TARGET_PREFIX) || t.starts_with(replication::TARGET_PREFIX)
        })
}

/// The operation named by `X-Amz-Target`: AWS's name (`Decrypt`), or the
/// whole target of a replication operation (`S3sealReplication.SyncReplica`),
/// so that the log and the audit never mistake one for an AWS operation.
pub fn operation_name(parts: &http::request::Parts) -> String {
    match target(parts) {
        Some(t) if t.starts_with(replication::TARGET_PREFIX) => t.to_string(),
        Some(t) => t
            .strip_prefix(AWS_TARGET_PREFIX)
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    }
}

/// Operations after which a multi-Region primary may have replicas to
/// bring up to date.
const CHANGES_SHARED_PROPERTIES: &[&str] = &[
    "RotateKeyOnDemand",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "ReplicateKey",
    "UpdatePrimaryRegion",
    "S3sealReplication.PromoteReplica",
];

/// What a handler gets: the key service and who is calling.
pub struct ApiContext<'a> {
    pub kms: &'a KeyManager,
    pub caller: Caller,
    pub request_id: &'a str,
}

impl ApiContext<'_> {
    /// Logs a use of a key (who, which key, which operation) in s3seal's
    /// structured log; the audit log's record is written by [`serve`].
    pub fn log_key_use(&self, operation: &str, key_id: &str) {
        tracing::info!(
            request_id = self.request_id,
            principal = %self.caller.arn,
            kms_key_id = key_id,
            operation,
            "KMS key used"
        );
    }
}

pub async fn serve(
    state: &AppState,
    request_id: &str,
    parts: http::request::Parts,
    body: ClientBody,
    transport: Transport,
) -> Response<ProxyBody> {
    let operation = operation_name(&parts);
    let origin = RequestOrigin {
        request_id: request_id.to_string(),
        source_ip: transport.source_ip.clone(),
        user_agent: crate::auth::user_agent(&parts.headers),
    };
    let mut identity = UserIdentity::unauthenticated(crate::auth::claimed_access_key_id(&parts));
    let mut request = None;
    // For a peer's call: the key and request body that authenticate the answer.
    let mut peer_answer: Option<(Secret, Bytes)> = None;
    let result = async {
        // KMS clients sign the body's hash without sending it: read the (bounded) body first.
        let body = read_body(body).await?;
        let digest: [u8; 32] = Sha256::digest(&body).into();
        let auth = state
            .auth
            .authenticate_with_body(&parts, "kms", SystemTime::now(), &hex::encode(digest))
            .map_err(auth_error)?;
        if let PayloadHash::Sha256(signed) = auth.payload
            && signed != digest
        {
            return Err(ApiError::new(
                "InvalidSignatureException",
                "the body does not match the signed payload hash",
            ));
        }
        identity = UserIdentity::user(&auth.principal, &state.config.server.account_id);
        state
            .rate_limits
            .check(&auth.principal.name)
            .map_err(|limited| {
                ApiError::new("ThrottlingException", format!("Rate exceeded ({limited})"))
            })?;
        let parsed = request.insert(KmsRequest::parse(&body)?);
        let ctx = ApiContext {
            kms: &state.kms,
            caller: Caller::principal(&auth.principal.arn, &state.config.server.account_id)
                .over(transport),
            request_id,
        };
        match operation.strip_prefix(replication::TARGET_PREFIX) {
            Some(peer_operation) => {
                let peer_region = peer_calls::authorize_peer(&state.config.kms, &auth)?;
                if let Some(secret) = state.auth.secret_of(&auth.principal.access_key_id) {
                    peer_answer = Some((secret.clone(), body.clone()));
                }
                peer_calls::dispatch(&ctx, peer_region, peer_operation, parsed)
            }
            None => dispatch_aws(&ctx, &operation, parsed, &state.replication).await,
        }
    }
    .await;
    if result.is_ok() && CHANGES_SHARED_PROPERTIES.contains(&operation.as_str()) {
        state.replication.wake();
    }
    let call = audit::CallOutline {
        operation: &operation,
        identity,
        origin: &origin,
        request: request.as_ref().map(KmsRequest::fields),
    };
    let event = audit::event(&state.kms, call, &result);
    // The answer depends on the event being on disk: no record, no answer.
    let result = match state.audit.record(event).await {
        Ok(()) => result,
        Err(err) => {
            tracing::error!(request_id, error = %err, "cannot record a KMS call in the audit log");
            Err(ApiError::new(
                "KMSInternalException",
                "the audit log is unavailable",
            ))
        }
    };
    respond(result, request_id, &operation, peer_answer)
}

/// The answer: the result as JSON (with its MAC when a peer deployment
/// asked, see [`peer::answer_mac`]), or the error, logged.
fn respond(
    result: Result<Value, ApiError>,
    request_id: &str,
    operation: &str,
    peer_answer: Option<(Secret, Bytes)>,
) -> Response<ProxyBody> {
    match result {
        Ok(value) => {
            let text = value.to_string();
            let mac = peer_answer.map(|(secret, request_body)| {
                peer::answer_mac(&secret, &request_body, text.as_bytes())
            });
            let mut response = json_response(text, request_id);
            if let Some(mac) = mac
                && let Ok(value) = HeaderValue::try_from(hex::encode(mac))
            {
                response.headers_mut().insert(peer::MAC_HEADER, value);
            }
            response
        }
        Err(err) => {
            if err.status.is_server_error() {
                tracing::error!(request_id, operation, kind = err.kind, message = %err.message, "KMS request failed");
            } else {
                tracing::info!(request_id, operation, kind = err.kind, message = %err.message, "KMS request rejected");
            }
            err.to_response(request_id)
        }
    }
}

/// AWS's operations: the two that call peer deployments, then the rest.
async fn dispatch_aws(
    ctx: &ApiContext<'_>,
    operation: &str,
    req: &KmsRequest,
    replicator: &Replicator,
) -> Result<Value, ApiError> {
    match operation {
        "ReplicateKey" => multi_region::replicate_key(ctx, req, replicator).await,
        "UpdatePrimaryRegion" => multi_region::update_primary_region(ctx, req, replicator).await,
        _ => dispatch(ctx, operation, req),
    }
}

fn dispatch(ctx: &ApiContext, operation: &str, req: &KmsRequest) -> Result<Value, ApiError> {
    match operation {
        "CreateKey" => keys::create_key(ctx, req),
        "DescribeKey" => keys::describe_key(ctx, req),
        "ListKeys" => keys::list_keys(ctx, req),
        "EnableKey" => keys::enable_key(ctx, req),
        "DisableKey" => keys::disable_key(ctx, req),
        "ScheduleKeyDeletion" => keys::schedule_key_deletion(ctx, req),
        "CancelKeyDeletion" => keys::cancel_key_deletion(ctx, req),
        "UpdateKeyDescription" => keys::update_key_description(ctx, req),
        "TagResource" => keys::tag_resource(ctx, req),
        "UntagResource" => keys::untag_resource(ctx, req),
        "ListResourceTags" => keys::list_resource_tags(ctx, req),
        "CreateAlias" => aliases::create_alias(ctx, req),
        "UpdateAlias" => aliases::update_alias(ctx, req),
        "DeleteAlias" => aliases::delete_alias(ctx, req),
        "ListAliases" => aliases::list_aliases(ctx, req),
        "Encrypt" => crypto::encrypt(ctx, req),
        "Decrypt" => crypto::decrypt(ctx, req),
        "ReEncrypt" => crypto::re_encrypt(ctx, req),
        "GenerateDataKey" => crypto::generate_data_key(ctx, req, true),
        "GenerateDataKeyWithoutPlaintext" => crypto::generate_data_key(ctx, req, false),
        "GenerateRandom" => crypto::generate_random(ctx, req),
        "GenerateDataKeyPair" => crypto::generate_data_key_pair(ctx, req, true),
        "GenerateDataKeyPairWithoutPlaintext" => crypto::generate_data_key_pair(ctx, req, false),
        "Sign" => signing::sign(ctx, req),
        "Verify" => signing::verify(ctx, req),
        "GetPublicKey" => signing::get_public_key(ctx, req),
        "GenerateMac" => signing::generate_mac(ctx, req),
        "VerifyMac" => signing::verify_mac(ctx, req),
        "GetParametersForImport" => import::get_parameters_for_import(ctx, req),
        "ImportKeyMaterial" => import::import_key_material(ctx, req),
        "DeleteImportedKeyMaterial" => import::delete_imported_key_material(ctx, req),
        "EnableKeyRotation" => rotation::enable_key_rotation(ctx, req),
        "DisableKeyRotation" => rotation::disable_key_rotation(ctx, req),
        "GetKeyRotationStatus" => rotation::get_key_rotation_status(ctx, req),
        "RotateKeyOnDemand" => rotation::rotate_key_on_demand(ctx, req),
        "ListKeyRotations" => rotation::list_key_rotations(ctx, req),
        "GetKeyPolicy" => policies::get_key_policy(ctx, req),
        "PutKeyPolicy" => policies::put_key_policy(ctx, req),
        "ListKeyPolicies" => policies::list_key_policies(ctx, req),
        "CreateGrant" => grants::create_grant(ctx, req),
        "ListGrants" => grants::list_grants(ctx, req),
        "RetireGrant" => grants::retire_grant(ctx, req),
        "RevokeGrant" => grants::revoke_grant(ctx, req),
        "ListRetirableGrants" => grants::list_retirable_grants(ctx, req),
        "" => Err(ApiError::new(
            "UnknownOperationException",
            "X-Amz-Target names no operation",
        )),
        other => Err(ApiError::new(
            "UnsupportedOperationException",
            format!("{other} is not supported by s3seal's key service"),
        )),
    }
}

/// Signature failures in KMS's vocabulary.
fn auth_error(err: S3Error) -> ApiError {
    let kind = match err.code {
        S3ErrorCode::InvalidAccessKeyId => "UnrecognizedClientException",
        S3ErrorCode::SignatureDoesNotMatch | S3ErrorCode::RequestTimeTooSkewed => {
            "InvalidSignatureException"
        }
        S3ErrorCode::AuthorizationHeaderMalformed => "IncompleteSignatureException",
        S3ErrorCode::AccessDenied => "MissingAuthenticationTokenException",
        _ => "AccessDeniedException",
    };
    ApiError::new(kind, err.message)
}

async fn read_body(body: ClientBody) -> Result<Bytes, ApiError> {
    use http_body_util::{BodyExt, Limited};
    Limited::new(body, MAX_REQUEST_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            ApiError::validation(format!(
                "the request body could not be read (at most 1 MiB): {e}"
            ))
        })
}

fn json_response(text: String, request_id: &str) -> Response<ProxyBody> {
    let mut response = Response::new(body::full(Bytes::from(text.clone())));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    if let Ok(id) = HeaderValue::try_from(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// Seconds since the epoch as KMS's JSON timestamps.
pub fn timestamp(unix: i64) -> Value {
    Value::from(unix)
}
