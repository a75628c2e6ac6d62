//! An object's data key wrapped locally under its bucket key.
//!
//! With bucket keys the external KMS only ever sees the bucket key; each
//! object's own random data key is wrapped by s3seal, AES-256-GCM under the
//! bucket key, with the object's full encryption context (`aws:s3:arn` of the
//! bucket and key, plus the client's pairs) as associated data, so a wrapped
//! key moved to another object does not unwrap. Layout (docs/format.md):
//!
//! ```text
//! version (1 byte, 1) || nonce (12 random bytes) || ciphertext (32) || tag (16)
//! ```

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};

use crate::kms::{DataKey, EncryptionContext, KmsError};

type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// The length of a wrapped data key: version, nonce, key, tag.
pub const WRAPPED_LEN: usize = 1 + NONCE_LEN + 32 + 16;
/// Separates this use of a key from any other in the associated data.
const DOMAIN: &[u8] = b"s3seal/v1/object-key-under-bucket-key";

/// `data_key` wrapped under `bucket_key` for the object `context` names.
pub fn wrap(
    bucket_key: &DataKey,
    data_key: &DataKey,
    context: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| KmsError::Internal(e.to_string()))?;
    let sealed = cipher(bucket_key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: data_key.expose(),
                aad: &associated_data(&nonce, context),
            },
        )
        .map_err(|_| KmsError::Internal("wrapping a data key failed".into()))?;
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The data key `wrapped` holds, if it was wrapped under `bucket_key` for
/// exactly this `context`.
pub fn unwrap(
    bucket_key: &DataKey,
    wrapped: &[u8],
    context: &EncryptionContext,
) -> Result<DataKey, KmsError> {
    if wrapped.len() != WRAPPED_LEN || wrapped[0] != VERSION {
        return Err(KmsError::InvalidCiphertext(
            "a wrapped object key has the wrong length or version",
        ));
    }
    let (nonce, sealed) = wrapped[1..].split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| KmsError::InvalidCiphertext("a wrapped object key is truncated"))?;
    let plaintext = zeroize::Zeroizing::new(
        cipher(bucket_key)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &associated_data(&nonce, context),
                },
            )
            .map_err(|_| {
                KmsError::InvalidCiphertext(
                    "the object key does not unwrap under its bucket key for this bucket and key",
                )
            })?,
    );
    DataKey::from_bytes(&plaintext).ok_or(KmsError::InvalidCiphertext(
        "a wrapped object key is not 32 bytes",
    ))
}

fn cipher(bucket_key: &DataKey) -> Aes256Gcm {
    Aes256Gcm::new(&(*bucket_key.expose()).into())
}

/// Domain, version and nonce (the header bytes), then the canonical context.
fn associated_data(nonce: &[u8; NONCE_LEN], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = DOMAIN.to_vec();
    aad.push(VERSION);
    aad.extend_from_slice(nonce);
    aad.extend_from_slice(&context.canonical_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(byte: u8) -> DataKey {
        DataKey::from_bytes(&[byte; 32]).unwrap()
    }

    fn object(bucket: &str, object_key: &str) -> EncryptionContext {
        EncryptionContext::for_object(bucket, object_key)
    }

    #[test]
    fn round_trips_for_the_same_object() {
        let wrapped = wrap(&key(1), &key(9), &object("b", "k")).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_LEN);
        let unwrapped = unwrap(&key(1), &wrapped, &object("b", "k")).unwrap();
        assert_eq!(unwrapped.expose(), key(9).expose());
    }

    #[test]
    fn is_bound_to_the_object_and_the_client_pairs() {
        let mut with_pairs = object("b", "k");
        with_pairs.insert("project", "x");
        let wrapped = wrap(&key(1), &key(9), &with_pairs).unwrap();
        assert!(unwrap(&key(1), &wrapped, &with_pairs).is_ok());
        for other in [object("b", "k"), object("b", "k2"), object("b2", "k")] {
            assert!(matches!(
                unwrap(&key(1), &wrapped, &other),
                Err(KmsError::InvalidCiphertext(_))
            ));
        }
        let mut changed = with_pairs.clone();
        changed.insert("project", "y");
        assert!(unwrap(&key(1), &wrapped, &changed).is_err());
    }

    #[test]
    fn needs_the_bucket_key_it_was_wrapped_under() {
        let wrapped = wrap(&key(1), &key(9), &object("b", "k")).unwrap();
        assert!(unwrap(&key(2), &wrapped, &object("b", "k")).is_err());
    }

    #[test]
    fn every_wrap_uses_a_fresh_nonce() {
        let a = wrap(&key(1), &key(9), &object("b", "k")).unwrap();
        let b = wrap(&key(1), &key(9), &object("b", "k")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn bad_lengths_and_versions_are_refused() {
        let wrapped = wrap(&key(1), &key(9), &object("b", "k")).unwrap();
        assert!(unwrap(&key(1), &wrapped[..WRAPPED_LEN - 1], &object("b", "k")).is_err());
        let mut longer = wrapped.clone();
        longer.push(0);
        assert!(unwrap(&key(1), &longer, &object("b", "k")).is_err());
        let mut version = wrapped;
        version[0] = 2;
        assert!(unwrap(&key(1), &version, &object("b", "k")).is_err());
    }

    proptest! {
        #[test]
        fn any_flipped_bit_is_detected(byte in 0..WRAPPED_LEN, bit in 0u8..8) {
            let mut wrapped = wrap(&key(1), &key(9), &object("b", "k")).unwrap();
            wrapped[byte] ^= 1 << bit;
            prop_assert!(unwrap(&key(1), &wrapped, &object("b", "k")).is_err());
        }
    }
}
