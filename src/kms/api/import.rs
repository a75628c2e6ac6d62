//! Bring your own key: GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, for `SYMMETRIC_DEFAULT` keys created with
//! `Origin: EXTERNAL`. AWS's documented openssl procedure works unchanged:
//! wrap 32 random bytes with the returned RSA public key (RSAES_OAEP_SHA_256,
//! or RSA_AES_KEY_WRAP_SHA_256 for CKM_RSA_AES_KEY_WRAP).

use serde_json::{Value, json};

use super::error::ApiError;
use super::keys::authorized_key;
use super::request::{KmsRequest, b64};
use super::{ApiContext, timestamp};
use crate::kms::KeyRecord;
use crate::kms::asymmetric::KeySpec;
use crate::kms::manager::unix_now;

const WRAPPING_ALGORITHMS: [&str; 4] = [
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
];

fn external_key(ctx: &ApiContext, req: &KmsRequest, action: &str) -> Result<KeyRecord, ApiError> {
    let record = authorized_key(ctx, req, action)?;
    if record.origin != "EXTERNAL" {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            format!(
                "{} was not created with Origin EXTERNAL",
                ctx.kms.key_arn(&record.key_id)
            ),
        ));
    }
    if record.state == crate::kms::KeyState::PendingDeletion {
        return Err(ApiError::new(
            "KMSInvalidStateException",
            format!("{} is pending deletion", ctx.kms.key_arn(&record.key_id)),
        ));
    }
    Ok(record)
}

pub fn get_parameters_for_import(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = external_key(ctx, req, "kms:GetParametersForImport")?;
    let algorithm = req.str("WrappingAlgorithm")?;
    if !WRAPPING_ALGORITHMS.contains(&algorithm) {
        return Err(ApiError::validation(format!(
            "WrappingAlgorithm {algorithm} is not supported; use one of {WRAPPING_ALGORITHMS:?}"
        )));
    }
    let spec = match req.str("WrappingKeySpec")? {
        s @ ("RSA_2048" | "RSA_3072" | "RSA_4096") => {
            KeySpec::parse(s).ok_or_else(|| ApiError::validation("bad WrappingKeySpec"))?
        }
        other => {
            return Err(ApiError::validation(format!(
                "WrappingKeySpec {other} is not RSA_2048, RSA_3072 or RSA_4096"
            )));
        }
    };
    let (token, public, valid_to) =
        ctx.kms
            .prepare_import(&record.key_id, algorithm, spec, unix_now())?;
    Ok(json!({
        "KeyId": ctx.kms.key_arn(&record.key_id),
        "ImportToken": b64(token.as_bytes()),
        "PublicKey": b64(&public),
        "ParametersValidTo": timestamp(valid_to),
    }))
}

pub fn import_key_material(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = external_key(ctx, req, "kms:ImportKeyMaterial")?;
    let token = req.blob("ImportToken", 6144)?;
    let token = String::from_utf8(token).map_err(|_| {
        ApiError::new(
            "InvalidImportTokenException",
            "the import token is not one s3seal issued",
        )
    })?;
    let wrapped = req.blob("EncryptedKeyMaterial", 6144)?;
    let valid_to = match req.value("ValidTo") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .map(|t| t as i64)
                .ok_or_else(|| ApiError::validation("ValidTo must be a timestamp"))?,
        ),
    };
    let expires = match (req.opt_str("ExpirationModel")?, valid_to) {
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(_)) => {
            return Err(ApiError::validation(
                "ValidTo must not be set when the key material does not expire",
            ));
        }
        (Some("KEY_MATERIAL_EXPIRES"), None) => {
            return Err(ApiError::validation(
                "ValidTo is required when the key material expires",
            ));
        }
        (Some("KEY_MATERIAL_DOES_NOT_EXPIRE") | None, None) => None,
        (Some("KEY_MATERIAL_EXPIRES") | None, Some(t)) => Some(t),
        (Some(other), _) => {
            return Err(ApiError::validation(format!(
                "ExpirationModel {other} is not valid"
            )));
        }
    };
    if expires.is_some_and(|t| t <= unix_now()) {
        return Err(ApiError::validation("ValidTo must be in the future"));
    }
    let imported =
        ctx.kms
            .import_material(&record.key_id, &token, &wrapped, expires, unix_now())?;
    tracing::warn!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, "imported KMS key material");
    Ok(json!({"KeyId": ctx.kms.key_arn(&imported.key_id)}))
}

pub fn delete_imported_key_material(ctx: &ApiContext, req: &KmsRequest) -> Result<Value, ApiError> {
    let record = external_key(ctx, req, "kms:DeleteImportedKeyMaterial")?;
    ctx.kms.delete_imported_material(&record.key_id)?;
    tracing::warn!(request_id = ctx.request_id, principal = %ctx.caller.arn, kms_key_id = %record.key_id, "deleted imported KMS key material");
    Ok(json!({"KeyId": ctx.kms.key_arn(&record.key_id)}))
}
