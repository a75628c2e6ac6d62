//! [`RootKey`]: the operator-supplied root of trust.
//!
//! The root key encrypts the material of every KMS key version at rest, with
//! the key id and version bound as associated data (so material cannot be
//! swapped between keys in the store). It is either a 32-byte key from the
//! environment or a file (never written anywhere by s3seal, zeroized on drop),
//! or an AES key inside a PKCS#11 HSM that never leaves it ([`super::hsm`]).

use std::fmt;
use std::path::Path;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

const MATERIAL_AAD_PREFIX: &[u8] = b"s3seal/v1/key-material";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum RootKeyError {
    #[error(
        "no root key configured: set S3SEAL_KMS_ROOT_KEY (32 bytes, base64 or hex), kms.root_key_file, or kms.pkcs11_module (an HSM)"
    )]
    Missing,
    #[error("the root key must be 32 bytes given as 44 base64 or 64 hex characters")]
    BadEncoding,
    #[error("cannot read the root key file {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("HSM root key: {0}")]
    Hsm(String),
}

enum Backend {
    /// The key itself, in memory.
    Memory(Box<Aes256Gcm>),
    /// A key inside a PKCS#11 token.
    Hsm(super::hsm::HsmRoot),
}

pub struct RootKey {
    backend: Backend,
    /// Short public identifier of the key (not secret), for logs and the key check.
    fingerprint: String,
}

impl RootKey {
    /// Parses a root key given as text (base64 or hex); surrounding whitespace ignored.
    pub fn from_text(text: &str) -> Result<Self, RootKeyError> {
        let text = text.trim();
        let bytes = Zeroizing::new(if text.len() == 64 {
            hex::decode(text).map_err(|_| RootKeyError::BadEncoding)?
        } else {
            B64.decode(text).map_err(|_| RootKeyError::BadEncoding)?
        });
        Self::from_bytes(&bytes)
    }

    /// Reads a root key file: base64/hex text, or exactly 32 raw bytes.
    pub fn from_file(path: &Path) -> Result<Self, RootKeyError> {
        let contents =
            Zeroizing::new(
                std::fs::read(path).map_err(|source| RootKeyError::Unreadable {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        if contents.len() == 32 {
            return Self::from_bytes(&contents);
        }
        let text = std::str::from_utf8(&contents).map_err(|_| RootKeyError::BadEncoding)?;
        Self::from_text(text)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, RootKeyError> {
        if bytes.len() != 32 {
            return Err(RootKeyError::BadEncoding);
        }
        let cipher = Aes256Gcm::new_from_slice(bytes).map_err(|_| RootKeyError::BadEncoding)?;
        use sha2::Digest;
        let digest =
            sha2::Sha256::digest([b"s3seal/v1/root-fingerprint".as_slice(), bytes].concat());
        Ok(RootKey {
            backend: Backend::Memory(Box::new(cipher)),
            fingerprint: hex::encode(&digest[..8]),
        })
    }

    /// The root key inside a PKCS#11 token. Its fingerprint names the token
    /// and key label (the key itself cannot be read).
    pub fn from_hsm(location: &super::hsm::HsmLocation, pin: &str) -> Result<Self, RootKeyError> {
        let hsm = super::hsm::HsmRoot::open(location, pin)?;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(
            format!(
                "s3seal/v1/hsm-fingerprint\0{}\0{}",
                location.token_label, location.key_label
            )
            .as_bytes(),
        );
        Ok(RootKey {
            backend: Backend::Hsm(hsm),
            fingerprint: format!("hsm:{}", hex::encode(&digest[..8])),
        })
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn aad(key_id: &str, version: u32) -> Vec<u8> {
        let mut aad = Vec::with_capacity(MATERIAL_AAD_PREFIX.len() + key_id.len() + 8);
        aad.extend_from_slice(MATERIAL_AAD_PREFIX);
        aad.extend_from_slice(&(key_id.len() as u32).to_be_bytes());
        aad.extend_from_slice(key_id.as_bytes());
        aad.extend_from_slice(&version.to_be_bytes());
        aad
    }

    /// Encrypts key material for storage: `nonce || ciphertext || tag`.
    pub fn seal_material(
        &self,
        key_id: &str,
        version: u32,
        material: &[u8],
    ) -> Result<Vec<u8>, super::KmsError> {
        let aad = Self::aad(key_id, version);
        let cipher = match &self.backend {
            Backend::Memory(cipher) => cipher,
            Backend::Hsm(hsm) => {
                return hsm
                    .seal(&aad, material)
                    .map_err(|e| super::KmsError::Internal(e.to_string()));
            }
        };
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| super::KmsError::Internal(e.to_string()))?;
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: material,
                    aad: &aad,
                },
            )
            .map_err(|_| super::KmsError::Internal("sealing key material failed".into()))?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    /// Decrypts stored key material; fails if it was made under another root key
    /// or belongs to another key id or version.
    pub fn unseal_material(
        &self,
        key_id: &str,
        version: u32,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, super::KmsError> {
        let (nonce, ct) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| super::KmsError::Internal("stored key material is truncated".into()))?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
        let aad = Self::aad(key_id, version);
        let opened = match &self.backend {
            Backend::Memory(cipher) => cipher
                .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: &aad })
                .map(Zeroizing::new)
                .map_err(|_| ()),
            Backend::Hsm(hsm) => hsm.unseal(&aad, sealed).map_err(|_| ()),
        };
        opened.map_err(|_| {
                super::KmsError::Internal(format!(
                    "key material of {key_id} v{version} does not open under this root key (wrong root key, or the store was tampered with)"
                ))
            })
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootKey(fingerprint={})", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn parses_base64_and_hex_and_rejects_others() {
        let a = RootKey::from_text(KEY_B64).unwrap();
        let b =
            RootKey::from_text("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(RootKey::from_text("too short").is_err());
        assert!(RootKey::from_text("AAEC").is_err());
    }

    #[test]
    fn material_is_bound_to_key_id_and_version() {
        let root = RootKey::from_text(KEY_B64).unwrap();
        let sealed = root.seal_material("k1", 1, &[9u8; 32]).unwrap();
        assert_eq!(
            &root.unseal_material("k1", 1, &sealed).unwrap()[..],
            &[9u8; 32]
        );
        assert!(root.unseal_material("k2", 1, &sealed).is_err());
        assert!(root.unseal_material("k1", 2, &sealed).is_err());
        let other = RootKey::from_text(&B64.encode([7u8; 32])).unwrap();
        assert!(other.unseal_material("k1", 1, &sealed).is_err());
    }

    #[test]
    fn debug_shows_only_the_fingerprint() {
        let root = RootKey::from_text(KEY_B64).unwrap();
        let shown = format!("{root:?}");
        assert_eq!(
            shown,
            format!("RootKey(fingerprint={})", root.fingerprint())
        );
        let bytes = B64.decode(KEY_B64).unwrap();
        for form in [
            KEY_B64.to_string(),
            hex::encode(&bytes),
            format!("{:?}", &bytes[..4]),
        ] {
            assert!(!shown.contains(&form), "{form} in {shown}");
        }
        // Errors never carry the key text either.
        let err = RootKey::from_text("not-a-root-key-c2VjcmV0").unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
    }
}
