//! The symmetric pieces: HMAC for HMAC_* keys, and AES Key Wrap with Padding
//! (RFC 5649) for RSA_AES_KEY_WRAP_* imports.

use aes_kw::KwpAes256;
use hmac::{KeyInit, Mac};
use sha2::{Sha224, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::{AsymmetricError, Family, Hash, KeySpec, Result};

/// The hash of `algorithm`, which must be `spec`'s MAC algorithm.
pub(super) fn mac_hash(spec: KeySpec, algorithm: &str) -> Result<Hash> {
    let Family::Hmac(hash) = spec.family() else {
        return Err(AsymmetricError::unsupported(format!(
            "{spec} keys do not generate or verify MACs; only HMAC keys do"
        )));
    };
    if !spec.mac_algorithms().contains(&algorithm) {
        return Err(AsymmetricError::unsupported(format!(
            "the MAC algorithm '{algorithm}' is not valid for {spec} keys; use {}",
            spec.mac_algorithms().join(", ")
        )));
    }
    Ok(hash)
}

/// An HMAC computation over one of the SHA-2 hashes.
pub(super) enum Hmac {
    Sha224(hmac::Hmac<Sha224>),
    Sha256(hmac::Hmac<Sha256>),
    Sha384(hmac::Hmac<Sha384>),
    Sha512(hmac::Hmac<Sha512>),
}

impl Hmac {
    pub(super) fn new(hash: Hash, key: &[u8]) -> Result<Self> {
        if key.is_empty() {
            return Err(AsymmetricError::InvalidKeyMaterial(
                "the HMAC key material is empty".into(),
            ));
        }
        let bad_key = |_| AsymmetricError::InvalidKeyMaterial("unusable HMAC key material".into());
        Ok(match hash {
            Hash::Sha224 => Hmac::Sha224(KeyInit::new_from_slice(key).map_err(bad_key)?),
            Hash::Sha256 => Hmac::Sha256(KeyInit::new_from_slice(key).map_err(bad_key)?),
            Hash::Sha384 => Hmac::Sha384(KeyInit::new_from_slice(key).map_err(bad_key)?),
            Hash::Sha512 => Hmac::Sha512(KeyInit::new_from_slice(key).map_err(bad_key)?),
            Hash::Sha1 => {
                return Err(AsymmetricError::unsupported(
                    "HMAC with SHA-1 is not a KMS MAC algorithm",
                ));
            }
        })
    }

    pub(super) fn chain(mut self, data: &[u8]) -> Self {
        match &mut self {
            Hmac::Sha224(mac) => mac.update(data),
            Hmac::Sha256(mac) => mac.update(data),
            Hmac::Sha384(mac) => mac.update(data),
            Hmac::Sha512(mac) => mac.update(data),
        }
        self
    }

    pub(super) fn finalize(self) -> Vec<u8> {
        match self {
            Hmac::Sha224(mac) => mac.finalize().into_bytes().to_vec(),
            Hmac::Sha256(mac) => mac.finalize().into_bytes().to_vec(),
            Hmac::Sha384(mac) => mac.finalize().into_bytes().to_vec(),
            Hmac::Sha512(mac) => mac.finalize().into_bytes().to_vec(),
        }
    }

    /// Constant-time comparison with `tag`; `false` for a tag of another length.
    pub(super) fn verify(self, tag: &[u8]) -> bool {
        match self {
            Hmac::Sha224(mac) => mac.verify_slice(tag).is_ok(),
            Hmac::Sha256(mac) => mac.verify_slice(tag).is_ok(),
            Hmac::Sha384(mac) => mac.verify_slice(tag).is_ok(),
            Hmac::Sha512(mac) => mac.verify_slice(tag).is_ok(),
        }
    }
}

/// RFC 5649 wrap of `material` under the 256-bit `aes_key`.
pub(super) fn aes_kwp_wrap(aes_key: &[u8], material: &[u8]) -> Result<Vec<u8>> {
    let kwp = KwpAes256::new_from_slice(aes_key)
        .map_err(|_| AsymmetricError::crypto("the AES wrapping key must be 32 bytes"))?;
    let mut out = vec![0u8; material.len().div_ceil(8) * 8 + 8];
    let len = kwp
        .wrap_key(material, &mut out)
        .map_err(|_| AsymmetricError::crypto("the key material cannot be AES-wrapped"))?
        .len();
    out.truncate(len);
    Ok(out)
}

/// RFC 5649 unwrap of `wrapped` under the 256-bit `aes_key`.
pub(super) fn aes_kwp_unwrap(aes_key: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let kwp = KwpAes256::new_from_slice(aes_key).map_err(|_| {
        AsymmetricError::crypto(format!(
            "the RSA-encrypted AES key must be 32 bytes, not {}",
            aes_key.len()
        ))
    })?;
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(AsymmetricError::crypto(format!(
            "the AES-wrapped key material must be a multiple of 8 bytes and at least 16, not {}",
            wrapped.len()
        )));
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
    let len = kwp
        .unwrap_key(wrapped, &mut out)
        .map_err(|_| {
            AsymmetricError::crypto(
                "the AES-wrapped key material does not unwrap with the RSA-encrypted AES key",
            )
        })?
        .len();
    out.truncate(len);
    Ok(out)
}
