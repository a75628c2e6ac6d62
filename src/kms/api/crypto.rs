//! Cryptographic operations with symmetric keys: Encrypt, Decrypt, ReEncrypt,
//! GenerateDataKey(WithoutPlaintext), GenerateRandom.
//!
//! The encryption context is authenticated data of the ciphertext; a
//! ciphertext names its key and key version, so Decrypt needs no KeyId.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::error::ApiError;
use super::request::{KmsRequest, b64};
use super::{ApiContext, signing};
use crate::kms::CiphertextBlob;
use crate::kms::asymmetric::{self, KeySpec};

/// AWS's limits: 4 KiB of plaintext, 6 KiB of ciphertext.
const MAX_PLAINTEXT: usize = 4096;
const MAX_CIPHERTEXT: usize = 6144;

fn check_algorithm(req: &KmsRequest, field: &str) -> Result<(), ApiError> {
    match req.opt_str(field)? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256" | "SM2PKE") => Err(ApiError::new(
            "InvalidKeyUsageException",
            "this algorithm needs an asymmetric key; symmetric keys use SYMMETRIC_DEFAULT",
        )),
        Some(other) => Err(ApiError::validation(format!(
            "{field} '{other}' is not a valid encryption algorithm"
        ))),
    }
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

pub fn encrypt(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let key_ref = req.bounded_str("KeyId", 2048)?;
    let plaintext = Zeroizing::new(req.blob("Plaintext", MAX_PLAINTEXT)?);
    let context = req.context("EncryptionContext")?;
    if let Some(spec) = asymmetric_spec(ctx, key_ref)? {
        return asymmetric_encrypt(ctx, req, key_ref, spec, &plaintext, &context);
    }
    check_algorithm(req, "EncryptionAlgorithm")?;
    if req.opt_bool("DryRun")? == Some(true) {
        let record = ctx.kms.describe_key(key_ref)?;
        ctx.kms
            .authorize(&ctx.caller, "kms:Encrypt", &record, Some(&context))?;
        dry_run(req)?;
    }
    let (blob, record) =
        ctx.kms
            .encrypt(&ctx.caller, "kms:Encrypt", key_ref, &plaintext, &context)?;
    ctx.log_key_use("Encrypt", &record.key_id);
    Ok(json!({
        "CiphertextBlob": b64(&blob),
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

/// The key a ciphertext names must be the one the request names, if any.
fn check_named_key(ctx: &ApiContext, named: Option<&str>, blob: &[u8]) -> Result<(), ApiError> {
    let Some(named) = named else {
        return Ok(());
    };
    let parsed = CiphertextBlob::decode(blob)?;
    let named_id = ctx.kms.resolve_key_id(named)?;
    if named_id != parsed.key_id.to_string() {
        return Err(ApiError::new(
            "IncorrectKeyException",
            "The key ID in the request does not identify a CMK that can perform this operation.",
        ));
    }
    Ok(())
}

pub fn decrypt(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let blob = req.blob("CiphertextBlob", MAX_CIPHERTEXT)?;
    let context = req.context("EncryptionContext")?;
    if let Some(key_ref) = req.opt_str("KeyId")?
        && let Some(spec) = asymmetric_spec(ctx, key_ref)?
    {
        return asymmetric_decrypt(ctx, req, key_ref, spec, &blob, &context);
    }
    check_algorithm(req, "EncryptionAlgorithm")?;
    if req.value("Recipient").is_some() {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            "Nitro Enclaves recipients are not supported",
        ));
    }
    check_named_key(ctx, req.opt_str("KeyId")?, &blob)?;
    let (plaintext, record, _) = ctx
        .kms
        .decrypt(&ctx.caller, "kms:Decrypt", &blob, &context)?;
    dry_run(req)?;
    ctx.log_key_use("Decrypt", &record.key_id);
    Ok(json!({
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "Plaintext": b64(&plaintext),
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

pub fn re_encrypt(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let blob = req.blob("CiphertextBlob", MAX_CIPHERTEXT)?;
    let source_context = req.context("SourceEncryptionContext")?;
    let destination = req.bounded_str("DestinationKeyId", 2048)?;
    let destination_context = req.context("DestinationEncryptionContext")?;
    check_algorithm(req, "SourceEncryptionAlgorithm")?;
    check_algorithm(req, "DestinationEncryptionAlgorithm")?;
    check_named_key(ctx, req.opt_str("SourceKeyId")?, &blob)?;
    let (plaintext, source, _) =
        ctx.kms
            .decrypt(&ctx.caller, "kms:ReEncryptFrom", &blob, &source_context)?;
    dry_run(req)?;
    let (new_blob, record) = ctx.kms.encrypt(
        &ctx.caller,
        "kms:ReEncryptTo",
        destination,
        &plaintext,
        &destination_context,
    )?;
    ctx.log_key_use("ReEncrypt", &record.key_id);
    Ok(json!({
        "CiphertextBlob": b64(&new_blob),
        "SourceKeyId": ctx.kms.key_arn(&source.key_id),
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

pub fn generate_data_key(
    ctx: &ApiContext,
    req: &KmsRequest,
    with_plaintext: bool,
) -> Result<Value, ApiError> {
    let key_ref = req.bounded_str("KeyId", 2048)?;
    let context = req.context("EncryptionContext")?;
    let length = match (
        req.opt_str("KeySpec")?,
        req.opt_int("NumberOfBytes", 1..=1024)?,
    ) {
        (Some("AES_256"), None) => 32,
        (Some("AES_128"), None) => 16,
        (None, Some(n)) => n as usize,
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "Please specify either number of bytes or key spec, not both.",
            ));
        }
        (None, None) => {
            return Err(ApiError::validation(
                "Please specify either number of bytes or key spec.",
            ));
        }
        (Some(other), None) => {
            return Err(ApiError::validation(format!(
                "KeySpec '{other}' is not AES_256 or AES_128"
            )));
        }
    };
    if req.value("Recipient").is_some() {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            "Nitro Enclaves recipients are not supported",
        ));
    }
    let action = if with_plaintext {
        "kms:GenerateDataKey"
    } else {
        "kms:GenerateDataKeyWithoutPlaintext"
    };
    if req.opt_bool("DryRun")? == Some(true) {
        let record = ctx.kms.describe_key(key_ref)?;
        ctx.kms
            .authorize(&ctx.caller, action, &record, Some(&context))?;
        dry_run(req)?;
    }
    let mut key = Zeroizing::new(vec![0u8; length]);
    getrandom::fill(&mut key).map_err(|e| ApiError::new("KMSInternalException", e.to_string()))?;
    let (blob, record) = ctx
        .kms
        .encrypt(&ctx.caller, action, key_ref, &key, &context)?;
    ctx.log_key_use(action.trim_start_matches("kms:"), &record.key_id);
    let mut out = json!({
        "CiphertextBlob": b64(&blob),
        "KeyId": ctx.kms.key_arn(&record.key_id),
    });
    if with_plaintext {
        out["Plaintext"] = json!(b64(&key));
    }
    Ok(out)
}

/// The spec of an asymmetric key named by `key_ref` (`None`: a symmetric key).
fn asymmetric_spec(ctx: &ApiContext, key_ref: &str) -> Result<Option<KeySpec>, ApiError> {
    let record = ctx.kms.describe_key(key_ref)?;
    Ok(KeySpec::parse(&record.key_spec))
}

fn rsa_algorithm(req: &KmsRequest, spec: KeySpec) -> Result<&str, ApiError> {
    let algorithm = req
        .opt_str("EncryptionAlgorithm")?
        .unwrap_or("SYMMETRIC_DEFAULT");
    if !spec.encryption_algorithms().contains(&algorithm) {
        return Err(ApiError::new(
            "InvalidKeyUsageException",
            format!(
                "{} keys encrypt with {:?}, not {algorithm}",
                spec.as_str(),
                spec.encryption_algorithms()
            ),
        ));
    }
    Ok(algorithm)
}

fn asymmetric_encrypt(
    ctx: &ApiContext,
    req: &KmsRequest,
    key_ref: &str,
    spec: KeySpec,
    plaintext: &[u8],
    context: &crate::kms::EncryptionContext,
) -> Result<Value, ApiError> {
    let algorithm = rsa_algorithm(req, spec)?;
    if !context.is_empty() {
        return Err(ApiError::validation(
            "EncryptionContext is not supported with asymmetric keys",
        ));
    }
    let (record, private) = ctx
        .kms
        .key_for_use(&ctx.caller, "kms:Encrypt", key_ref, None)?;
    signing::spec_for(ctx, &record, "ENCRYPT_DECRYPT")?;
    dry_run(req)?;
    let ciphertext = asymmetric::rsa_encrypt(spec, &private, algorithm, plaintext)
        .map_err(signing::crypto_error)?;
    ctx.log_key_use("Encrypt", &record.key_id);
    Ok(json!({
        "CiphertextBlob": b64(&ciphertext),
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "EncryptionAlgorithm": algorithm,
    }))
}

fn asymmetric_decrypt(
    ctx: &ApiContext,
    req: &KmsRequest,
    key_ref: &str,
    spec: KeySpec,
    ciphertext: &[u8],
    context: &crate::kms::EncryptionContext,
) -> Result<Value, ApiError> {
    let algorithm = rsa_algorithm(req, spec)?;
    if !context.is_empty() {
        return Err(ApiError::validation(
            "EncryptionContext is not supported with asymmetric keys",
        ));
    }
    let (record, private) = ctx
        .kms
        .key_for_use(&ctx.caller, "kms:Decrypt", key_ref, None)?;
    signing::spec_for(ctx, &record, "ENCRYPT_DECRYPT")?;
    dry_run(req)?;
    let plaintext = asymmetric::rsa_decrypt(spec, &private, algorithm, ciphertext)
        .map_err(signing::crypto_error)?;
    ctx.log_key_use("Decrypt", &record.key_id);
    Ok(json!({
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "Plaintext": b64(&plaintext),
        "EncryptionAlgorithm": algorithm,
    }))
}

pub fn generate_data_key_pair(
    ctx: &ApiContext,
    req: &KmsRequest,
    with_plaintext: bool,
) -> Result<Value, ApiError> {
    let key_ref = req.bounded_str("KeyId", 2048)?;
    let context = req.context("EncryptionContext")?;
    let pair_spec = req.str("KeyPairSpec")?;
    let spec = KeySpec::parse(pair_spec)
        .filter(|s| s.is_data_key_pair_spec())
        .ok_or_else(|| {
            ApiError::validation(format!(
                "KeyPairSpec {pair_spec} is not a data key pair spec"
            ))
        })?;
    if req.value("Recipient").is_some() {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            "Nitro Enclaves recipients are not supported",
        ));
    }
    let action = if with_plaintext {
        "kms:GenerateDataKeyPair"
    } else {
        "kms:GenerateDataKeyPairWithoutPlaintext"
    };
    if req.opt_bool("DryRun")? == Some(true) {
        let record = ctx.kms.describe_key(key_ref)?;
        ctx.kms
            .authorize(&ctx.caller, action, &record, Some(&context))?;
        dry_run(req)?;
    }
    let (private, public) =
        asymmetric::generate_data_key_pair(spec).map_err(signing::crypto_error)?;
    let (blob, record) = ctx
        .kms
        .encrypt(&ctx.caller, action, key_ref, &private, &context)?;
    ctx.log_key_use(action.trim_start_matches("kms:"), &record.key_id);
    let mut out = json!({
        "PrivateKeyCiphertextBlob": b64(&blob),
        "PublicKey": b64(&public),
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "KeyPairSpec": pair_spec,
    });
    if with_plaintext {
        out["PrivateKeyPlaintext"] = json!(b64(&private));
    }
    Ok(out)
}

pub fn generate_random(_ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    if req.opt_str("CustomKeyStoreId")?.is_some() {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            "custom key stores are not supported",
        ));
    }
    let n = req
        .opt_int("NumberOfBytes", 1..=1024)?
        .ok_or_else(|| ApiError::validation("NumberOfBytes is required"))? as usize;
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::new("KMSInternalException", e.to_string()))?;
    Ok(json!({"Plaintext": b64(&bytes)}))
}
