//! Asymmetric and HMAC keys: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac.
//! The cryptography itself is in [`crate::kms::asymmetric`].

use serde_json::{Value, json};

use super::ApiContext;
use super::error::ApiError;
use super::keys::authorized_key;
use super::request::{KmsRequest, b64};
use crate::kms::KeyRecord;
use crate::kms::asymmetric::{self, AsymmetricError, KeySpec, MessageType};

/// The asymmetric / HMAC spec of a key that must have `usage`.
pub fn spec_for(ctx: &ApiContext, record: &KeyRecord, usage: &str) -> Result<KeySpec, ApiError> {
    match KeySpec::parse(&record.key_spec) {
        Some(spec) if record.key_usage == usage => Ok(spec),
        _ => Err(ApiError::new(
            "InvalidKeyUsageException",
            format!(
                "{} is a {} key for {}; this operation needs a key for {usage}",
                ctx.kms.key_arn(&record.key_id),
                record.key_spec,
                record.key_usage
            ),
        )),
    }
}

/// AWS's exception for each kind of failure.
pub fn crypto_error(err: AsymmetricError) -> ApiError {
    match err {
        AsymmetricError::UnsupportedAlgorithm(m) => ApiError::new("InvalidKeyUsageException", m),
        AsymmetricError::InvalidMessage(m) => ApiError::validation(m),
        AsymmetricError::InvalidKeyMaterial(m) => ApiError::new("KMSInternalException", m),
        AsymmetricError::Crypto(m) => ApiError::new("InvalidCiphertextException", m),
    }
}

fn message_type(req: &KmsRequest) -> Result<MessageType, ApiError> {
    let text = req.opt_str("MessageType")?.unwrap_or("RAW");
    MessageType::parse(text).ok_or_else(|| {
        ApiError::validation(format!(
            "MessageType '{text}' is not RAW, DIGEST or EXTERNAL_MU"
        ))
    })
}

fn dry_run(req: &KmsRequest) -> Result<(), ApiError> {
    if req.opt_bool("DryRun")? == Some(true) {
        return Err(ApiError::new(
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    Ok(())
}

pub fn sign(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let key_ref = req.bounded_str("KeyId", 2048)?;
    let message = req.blob("Message", asymmetric::MAX_MESSAGE_LEN)?;
    let algorithm = req.str("SigningAlgorithm")?;
    let message_type = message_type(req)?;
    let (record, private) = ctx
        .kms
        .key_for_use(&ctx.caller, "kms:Sign", key_ref, None)?;
    let spec = spec_for(ctx, &record, "SIGN_VERIFY")?;
    dry_run(req)?;
    let signature = asymmetric::sign(spec, &private, algorithm, &message, message_type)
        .map_err(crypto_error)?;
    ctx.log_key_use("Sign", &record.key_id);
    Ok(json!({
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "Signature": b64(&signature),
        "SigningAlgorithm": algorithm,
    }))
}

pub fn verify(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let key_ref = req.bounded_str("KeyId", 2048)?;
    let message = req.blob("Message", asymmetric::MAX_MESSAGE_LEN)?;
    let signature = req.blob("Signature", 6144)?;
    let algorithm = req.str("SigningAlgorithm")?;
    let message_type = message_type(req)?;
    let (record, private) = ctx
        .kms
        .key_for_use(&ctx.caller, "kms:Verify", key_ref, None)?;
    let spec = spec_for(ctx, &record, "SIGN_VERIFY")?;
    dry_run(req)?;
    let valid = asymmetric::verify(
        spec,
        &private,
        algorithm,
        &message,
        message_type,
        &signature,
    )
    .map_err(crypto_error)?;
    ctx.log_key_use("Verify", &record.key_id);
    if !valid {
        // AWS reports an invalid signature as an error, not as `false`.
        return Err(ApiError::new(
            "KMSInvalidSignatureException",
            "the signature does not match the message and key",
        ));
    }
    Ok(json!({
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "SignatureValid": true,
        "SigningAlgorithm": algorithm,
    }))
}

pub fn get_public_key(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = authorized_key(ctx, req, "kms:GetPublicKey")?;
    crate::kms::manager::ensure_usable(&record, &ctx.kms.key_arn(&record.key_id))?;
    let spec = KeySpec::parse(&record.key_spec)
        .filter(|s| !s.is_hmac())
        .ok_or_else(|| {
            ApiError::new(
                "UnsupportedOperationException",
                format!(
                    "{} is a {} key: it has no public key",
                    ctx.kms.key_arn(&record.key_id),
                    record.key_spec
                ),
            )
        })?;
    let (_, private) =
        ctx.kms
            .key_for_use(&ctx.caller, "kms:GetPublicKey", &record.key_id, None)?;
    let public = asymmetric::public_key_der(spec, &private).map_err(crypto_error)?;
    let mut out = json!({
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "PublicKey": b64(&public),
        "CustomerMasterKeySpec": record.key_spec,
        "KeySpec": record.key_spec,
        "KeyUsage": record.key_usage,
    });
    match record.key_usage.as_str() {
        "SIGN_VERIFY" => out["SigningAlgorithms"] = json!(spec.signing_algorithms()),
        "ENCRYPT_DECRYPT" => out["EncryptionAlgorithms"] = json!(spec.encryption_algorithms()),
        _ => {}
    }
    Ok(out)
}

pub fn generate_mac(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let key_ref = req.bounded_str("KeyId", 2048)?;
    let message = req.blob("Message", asymmetric::MAX_MESSAGE_LEN)?;
    let algorithm = req.str("MacAlgorithm")?;
    let (record, key) = ctx
        .kms
        .key_for_use(&ctx.caller, "kms:GenerateMac", key_ref, None)?;
    let spec = spec_for(ctx, &record, "GENERATE_VERIFY_MAC")?;
    dry_run(req)?;
    let mac = asymmetric::generate_mac(spec, &key, algorithm, &message).map_err(crypto_error)?;
    ctx.log_key_use("GenerateMac", &record.key_id);
    Ok(json!({
        "Mac": b64(&mac),
        "MacAlgorithm": algorithm,
        "KeyId": ctx.kms.key_arn(&record.key_id),
    }))
}

pub fn verify_mac(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let key_ref = req.bounded_str("KeyId", 2048)?;
    let message = req.blob("Message", asymmetric::MAX_MESSAGE_LEN)?;
    let mac = req.blob("Mac", 6144)?;
    let algorithm = req.str("MacAlgorithm")?;
    let (record, key) = ctx
        .kms
        .key_for_use(&ctx.caller, "kms:VerifyMac", key_ref, None)?;
    let spec = spec_for(ctx, &record, "GENERATE_VERIFY_MAC")?;
    dry_run(req)?;
    let valid =
        asymmetric::verify_mac(spec, &key, algorithm, &message, &mac).map_err(crypto_error)?;
    ctx.log_key_use("VerifyMac", &record.key_id);
    if !valid {
        return Err(ApiError::new(
            "KMSInvalidMacException",
            "the MAC does not match the message and key",
        ));
    }
    Ok(json!({
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "MacValid": true,
        "MacAlgorithm": algorithm,
    }))
}
