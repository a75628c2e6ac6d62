//! Moving key material between deployments without either root key
//! leaving its deployment, with the import machinery of BYOK.
//!
//! 1. The receiver makes a fresh RSA-3072 wrapping key for one key id and
//!    one sending Region, keeps its private half sealed under its own root
//!    key for an hour, and hands out the public half and a one-time token
//!    ([`prepare_receive`]).
//! 2. The sender unseals each version's material under its root key and
//!    wraps it for that public key with `RSA_AES_KEY_WRAP_SHA_256`
//!    ([`wrap_versions`]).
//! 3. The receiver takes the wrapping key back (once: the token is consumed),
//!    unwraps every version and seals it under its own root key, bound to
//!    the key id and version as all material is ([`receive_versions`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::wire::{Parameters, WrappedVersion};
use crate::kms::asymmetric::{self, KeySpec};
use crate::kms::keys::KeyVersion;
use crate::kms::{KeyManager, KeyRecord, KmsError};

/// The wrapping key: RSA-3072 (128-bit security for a 256-bit AES key).
const WRAPPING_KEY_SPEC: KeySpec = KeySpec::Rsa3072;
const WRAPPING_ALGORITHM: &str = "RSA_AES_KEY_WRAP_SHA_256";
/// How long the receiver keeps a wrapping key.
const PARAMETERS_LIFETIME: i64 = 3600;

/// A wrapping key the receiver keeps until the material arrives (in the
/// store's settings, under [`setting_name`]).
#[derive(Serialize, Deserialize)]
struct PendingTransfer {
    token: String,
    /// The Region whose deployment may send the material.
    from_region: String,
    /// The RSA private key, sealed under the root key.
    sealed_wrapping_key: String,
    expires_at: i64,
}

fn setting_name(key_id: &str) -> String {
    format!("replication_transfer:{key_id}")
}

/// The root-key binding of a sealed wrapping key.
fn wrapping_key_aad_id(key_id: &str) -> String {
    format!("replication:{key_id}")
}

/// Receiver: a one-time wrapping key for `key_id`'s material from
/// `from_region` (replacing any earlier one for that key).
pub fn prepare_receive(
    kms: &KeyManager,
    key_id: &str,
    from_region: &str,
    now: i64,
) -> Result<Parameters, KmsError> {
    let private = asymmetric::generate_wrapping_key(WRAPPING_KEY_SPEC)
        .map_err(|e| KmsError::Internal(e.to_string()))?;
    let public = asymmetric::public_key_der(WRAPPING_KEY_SPEC, &private)
        .map_err(|e| KmsError::Internal(e.to_string()))?;
    let mut token = [0u8; 32];
    getrandom::fill(&mut token).map_err(|e| KmsError::Internal(e.to_string()))?;
    let pending = PendingTransfer {
        token: hex::encode(token),
        from_region: from_region.to_string(),
        sealed_wrapping_key: hex::encode(kms.root().seal_material(
            &wrapping_key_aad_id(key_id),
            0,
            &private,
        )?),
        expires_at: now + PARAMETERS_LIFETIME,
    };
    let text = serde_json::to_string(&pending).map_err(|e| KmsError::Internal(e.to_string()))?;
    kms.store().put_setting(&setting_name(key_id), &text)?;
    Ok(Parameters {
        key_id: key_id.to_string(),
        account_id: kms.account_id().to_string(),
        public_key: B64.encode(public),
        import_token: pending.token,
        parameters_valid_to: pending.expires_at,
    })
}

/// Sender: every version of `record`, wrapped for the receiver's `public_key`
/// (base64 DER, from [`prepare_receive`]).
pub fn wrap_versions(
    kms: &KeyManager,
    record: &KeyRecord,
    public_key: &str,
) -> Result<Vec<WrappedVersion>, KmsError> {
    let public = B64
        .decode(public_key)
        .map_err(|_| KmsError::Validation("the wrapping public key is not base64".into()))?;
    let mut wrapped = Vec::with_capacity(record.versions.len());
    for version in &record.versions {
        let material = kms.version_material(record, version.version)?;
        let encrypted = asymmetric::wrap_for_import(&public, &material)
            .map_err(|e| KmsError::Validation(format!("cannot wrap key material: {e}")))?;
        wrapped.push(WrappedVersion {
            version: version.version,
            created_at: version.created_at,
            origin: version.origin,
            encrypted_key_material: B64.encode(encrypted),
        });
    }
    Ok(wrapped)
}

/// Receiver: unwraps `versions` of `key_id` (a `key_spec` key) with the
/// wrapping key of `token`, which `from_region` must have been given, and
/// seals each under this deployment's root key.
pub fn receive_versions(
    kms: &KeyManager,
    key_id: &str,
    from_region: &str,
    token: &str,
    key_spec: &str,
    versions: &[WrappedVersion],
    now: i64,
) -> Result<Vec<KeyVersion>, KmsError> {
    let wrapping = take_wrapping_key(kms, key_id, from_region, token, now)?;
    versions
        .iter()
        .map(|wrapped| {
            let encrypted = B64
                .decode(&wrapped.encrypted_key_material)
                .map_err(|_| KmsError::Validation("EncryptedKeyMaterial is not base64".into()))?;
            let material = asymmetric::unwrap_import(&wrapping, WRAPPING_ALGORITHM, &encrypted)
                .map_err(|_| {
                    KmsError::InvalidCiphertext(
                        "the key material does not unwrap with the replication parameters",
                    )
                })?;
            check_material(key_spec, &material)?;
            Ok(KeyVersion {
                version: wrapped.version,
                created_at: wrapped.created_at,
                sealed_material: kms
                    .root()
                    .seal_material(key_id, wrapped.version, &material)?,
                origin: wrapped.origin,
            })
        })
        .collect()
}

/// The wrapping private key of a transfer, taken out of the store: a token
/// works once, for the Region it was issued to, until it expires.
fn take_wrapping_key(
    kms: &KeyManager,
    key_id: &str,
    from_region: &str,
    token: &str,
    now: i64,
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    let invalid = || {
        KmsError::InvalidImportToken(
            "the replication token is unknown, used or expired; ask for new parameters".into(),
        )
    };
    let pending: PendingTransfer = kms
        .store()
        .take_setting(&setting_name(key_id))?
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(invalid)?;
    let matches = {
        use subtle::ConstantTimeEq;
        bool::from(pending.token.as_bytes().ct_eq(token.as_bytes()))
    };
    if !matches || pending.from_region != from_region || pending.expires_at <= now {
        return Err(invalid());
    }
    let sealed = hex::decode(&pending.sealed_wrapping_key)
        .map_err(|_| KmsError::Internal("a stored wrapping key is corrupt".into()))?;
    kms.root()
        .unseal_material(&wrapping_key_aad_id(key_id), 0, &sealed)
}

/// Material must fit its key spec: 32 bytes for a symmetric key, a private
/// key of the spec for an asymmetric one.
fn check_material(key_spec: &str, material: &[u8]) -> Result<(), KmsError> {
    let fits = match key_spec {
        "SYMMETRIC_DEFAULT" => material.len() == 32,
        other => match KeySpec::parse(other) {
            Some(spec) if spec.is_hmac() => !material.is_empty(),
            Some(spec) => asymmetric::public_key_der(spec, material).is_ok(),
            None => false,
        },
    };
    if !fits {
        return Err(KmsError::IncorrectKeyMaterial(format!(
            "the replicated key material is not {key_spec} material"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::replication::wire::WrappedVersion;
    use crate::kms::{NewKey, RootKey};
    use crate::store::Store;
    use std::sync::Arc;

    fn deployment(dir: &std::path::Path, name: &str, root: u8, region: &str) -> KeyManager {
        let store = Arc::new(Store::open(&dir.join(format!("{name}.redb"))).unwrap());
        let root = RootKey::from_text(&hex::encode([root; 32])).unwrap();
        KeyManager::new(store, root, region, "000000000000").unwrap()
    }

    #[test]
    fn material_moves_between_root_keys_once() {
        let dir = tempfile::tempdir().unwrap();
        let primary = deployment(dir.path(), "one", 1, "us-east-1");
        let replica = deployment(dir.path(), "two", 2, "eu-west-1");
        let record = primary
            .create_key(NewKey::symmetric_multi_region("m"))
            .unwrap();
        let key_id = record.key_id.clone();
        let params = prepare_receive(&replica, &key_id, "us-east-1", 100).unwrap();
        let wrapped = wrap_versions(&primary, &record, &params.public_key).unwrap();
        assert_eq!(wrapped.len(), 1);

        let receive = |region: &str, token: &str, wrapped: &[WrappedVersion], now: i64| {
            receive_versions(
                &replica,
                &key_id,
                region,
                token,
                "SYMMETRIC_DEFAULT",
                wrapped,
                now,
            )
        };
        // Another Region, a wrong token, an expired one: refused, and each
        // attempt uses the parameters up.
        for (region, wrong_token, now) in [
            ("ap-south-1", false, 100),
            ("us-east-1", true, 100),
            ("us-east-1", false, 100 + PARAMETERS_LIFETIME),
        ] {
            let params = prepare_receive(&replica, &key_id, "us-east-1", 100).unwrap();
            let wrapped = wrap_versions(&primary, &record, &params.public_key).unwrap();
            let token = if wrong_token {
                "00"
            } else {
                params.import_token.as_str()
            };
            let err = receive(region, token, &wrapped, now).unwrap_err();
            assert!(matches!(err, KmsError::InvalidImportToken(_)), "{err}");
            assert!(matches!(
                receive("us-east-1", &params.import_token, &wrapped, 100),
                Err(KmsError::InvalidImportToken(_))
            ));
        }

        let params = prepare_receive(&replica, &key_id, "us-east-1", 100).unwrap();
        let wrapped = wrap_versions(&primary, &record, &params.public_key).unwrap();
        let received = receive("us-east-1", &params.import_token, &wrapped, 100).unwrap();
        // Sealed under the receiver's root key, the same material.
        let original = primary.version_material(&record, 1).unwrap();
        let unsealed = replica
            .root()
            .unseal_material(&key_id, 1, &received[0].sealed_material)
            .unwrap();
        assert_eq!(*unsealed, **original);
        assert!(
            primary
                .root()
                .unseal_material(&key_id, 1, &received[0].sealed_material)
                .is_err()
        );
        // The token was consumed.
        assert!(matches!(
            receive("us-east-1", &params.import_token, &wrapped, 100),
            Err(KmsError::InvalidImportToken(_))
        ));
        // Material of the wrong shape is refused.
        assert!(matches!(
            check_material("SYMMETRIC_DEFAULT", &[1; 16]),
            Err(KmsError::IncorrectKeyMaterial(_))
        ));
        assert!(check_material("ECC_NIST_P256", &[1; 32]).is_err());
    }
}
