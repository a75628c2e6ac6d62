//! The audit signing key: a dedicated ECC_NIST_P256 SIGN_VERIFY key of the
//! built-in KMS (alias `alias/s3seal-audit`, created at first start), and
//! verification of digest signatures from its public key alone, so auditors
//! need no access to the key store.

use std::sync::Arc;

use base64::Engine;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::AuditError;
use crate::kms::KeyManager;
use crate::kms::asymmetric::{self, KeySpec, MessageType};

pub const SIGNING_ALGORITHM: &str = "ECDSA_SHA_256";
pub const SIGNING_KEY_SPEC: &str = "ECC_NIST_P256";

/// Signs digest records. Holds the key's private material in memory (zeroized
/// on drop), as the KMS itself does for a key in use.
pub struct AuditSigner {
    key_arn: String,
    /// Whether opening the signer created its key (the caller audits that).
    created_its_key: bool,
    spec: KeySpec,
    private: Arc<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("key_arn", &self.key_arn)
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// The configured signing key, or the one s3seal creates for itself.
    pub fn open(kms: &KeyManager, configured: Option<&str>) -> Result<Self, AuditError> {
        let (key_ref, created_its_key) = match configured {
            Some(key_ref) => (key_ref.to_string(), false),
            None => {
                let own = kms
                    .ensure_audit_signing_key(SIGNING_KEY_SPEC)
                    .map_err(|e| AuditError::SigningKey(e.to_string()))?;
                (own.key_id, own.created)
            }
        };
        let (record, private) = kms
            .key_for_use(&kms.operator(), "kms:Sign", &key_ref, None)
            .map_err(|e| AuditError::SigningKey(e.to_string()))?;
        let spec = KeySpec::parse(&record.key_spec)
            .filter(|_| record.key_spec == SIGNING_KEY_SPEC && record.key_usage == "SIGN_VERIFY")
            .ok_or_else(|| {
                AuditError::SigningKey(format!(
                    "{key_ref} is a {} {} key; the audit log needs an {SIGNING_KEY_SPEC} SIGN_VERIFY key",
                    record.key_spec, record.key_usage
                ))
            })?;
        Ok(AuditSigner {
            key_arn: kms.key_arn(&record.key_id),
            created_its_key,
            spec,
            private,
        })
    }

    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    /// Whether [`AuditSigner::open`] created the signing key just now.
    pub fn created_its_key(&self) -> bool {
        self.created_its_key
    }

    /// A DER-encoded ECDSA signature of `message`, as KMS `Sign` returns.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuditError> {
        asymmetric::sign(
            self.spec,
            &self.private,
            SIGNING_ALGORITHM,
            message,
            MessageType::Raw,
        )
        .map_err(|e| AuditError::SigningKey(e.to_string()))
    }

    pub fn public_key_der(&self) -> Result<Vec<u8>, AuditError> {
        asymmetric::public_key_der(self.spec, &self.private)
            .map_err(|e| AuditError::SigningKey(e.to_string()))
    }
}

/// Checks digest signatures with the signing key's public key.
pub struct DigestVerifier {
    key: VerifyingKey,
}

impl DigestVerifier {
    /// From a SubjectPublicKeyInfo as DER, PEM, or base64 text (what
    /// `aws kms get-public-key --query PublicKey --output text` prints).
    pub fn from_public_key(bytes: &[u8]) -> Result<Self, AuditError> {
        let der = public_key_der(bytes)?;
        let key = VerifyingKey::from_public_key_der(&der).map_err(|e| {
            AuditError::SigningKey(format!("not an {SIGNING_KEY_SPEC} public key: {e}"))
        })?;
        Ok(DigestVerifier { key })
    }

    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(der) = DerSignature::from_bytes(signature) else {
            return false;
        };
        let Ok(signature) = Signature::try_from(der) else {
            return false;
        };
        let digest = Sha256::digest(message);
        self.key
            .verify_prehash(&digest, &signature.normalize_s())
            .is_ok()
    }
}

fn public_key_der(bytes: &[u8]) -> Result<Vec<u8>, AuditError> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(bytes.to_vec());
    };
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| {
            AuditError::SigningKey(format!("the public key is not DER, PEM or base64: {e}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pair() -> (KeySpec, Zeroizing<Vec<u8>>) {
        let spec = KeySpec::parse(SIGNING_KEY_SPEC).unwrap();
        (spec, asymmetric::generate_private_key(spec).unwrap())
    }

    #[test]
    fn signatures_verify_from_the_public_key_in_every_encoding() {
        let (spec, private) = key_pair();
        let signer = AuditSigner {
            key_arn: "arn:test".into(),
            created_its_key: false,
            spec,
            private: Arc::new(private),
        };
        let signature = signer.sign(b"message").unwrap();
        let der = signer.public_key_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        for encoded in [der.clone(), b64.into_bytes(), pem.into_bytes()] {
            let verifier = DigestVerifier::from_public_key(&encoded).unwrap();
            assert!(verifier.verifies(b"message", &signature));
            assert!(!verifier.verifies(b"massage", &signature));
            assert!(!verifier.verifies(b"message", b"not a signature"));
        }
        assert!(format!("{signer:?}").contains("arn:test"));
    }
}
