//! [`CiphertextBlob`]: s3seal's KMS ciphertext format.
//!
//! ```text
//! offset size field
//!      0    1 magic 0xA5
//!      1    1 blob version: 1 = the key id is a UUID (single-Region key),
//!                           2 = the key id is a multi-Region key (mrk-…)
//!      2   16 KMS key id (the UUID's bytes, or the 16 bytes of mrk-<32 hex>)
//!     18    4 key version, big endian
//!     22   12 nonce
//!     34    n ciphertext
//!   34+n   16 tag
//! ```
//! AEAD is AES-256-GCM under the key version's material, with the first 34
//! bytes followed by the canonical encryption context as associated data.
//! So a blob names its own key and version (Decrypt needs no KeyId), and a
//! changed header or context makes decryption fail. The version byte is in
//! the associated data too, so a blob cannot be made to name the other
//! shape of id with the same 16 bytes.

use super::KmsError;
use super::key_id::KeyId;

const MAGIC: u8 = 0xA5;
/// Blobs under single-Region keys (the only version before multi-Region keys).
const VERSION_SINGLE_REGION: u8 = 1;
/// Blobs under multi-Region keys.
const VERSION_MULTI_REGION: u8 = 2;
pub const BLOB_HEADER_LEN: usize = 34;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiphertextBlob {
    pub key_id: KeyId,
    pub key_version: u32,
    pub nonce: [u8; 12],
    /// Ciphertext followed by the 16-byte tag.
    pub sealed: Vec<u8>,
}

impl CiphertextBlob {
    pub fn header_bytes(
        key_id: &KeyId,
        key_version: u32,
        nonce: &[u8; 12],
    ) -> [u8; BLOB_HEADER_LEN] {
        let mut out = [0u8; BLOB_HEADER_LEN];
        out[0] = MAGIC;
        out[1] = match key_id {
            KeyId::SingleRegion(_) => VERSION_SINGLE_REGION,
            KeyId::MultiRegion(_) => VERSION_MULTI_REGION,
        };
        out[2..18].copy_from_slice(key_id.as_bytes());
        out[18..22].copy_from_slice(&key_version.to_be_bytes());
        out[22..34].copy_from_slice(nonce);
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Self::header_bytes(&self.key_id, self.key_version, &self.nonce).to_vec();
        out.extend_from_slice(&self.sealed);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, KmsError> {
        if bytes.len() < BLOB_HEADER_LEN + TAG_LEN {
            return Err(KmsError::InvalidCiphertext("ciphertext blob is too short"));
        }
        let not_a_blob = || KmsError::InvalidCiphertext("not an s3seal ciphertext blob");
        if bytes[0] != MAGIC {
            return Err(not_a_blob());
        }
        let id_bytes: [u8; 16] = bytes[2..18].try_into().map_err(|_| not_a_blob())?;
        let key_id = match bytes[1] {
            VERSION_SINGLE_REGION => KeyId::SingleRegion(uuid::Uuid::from_bytes(id_bytes)),
            VERSION_MULTI_REGION => KeyId::MultiRegion(id_bytes),
            _ => return Err(not_a_blob()),
        };
        Ok(CiphertextBlob {
            key_id,
            key_version: u32::from_be_bytes(bytes[18..22].try_into().map_err(|_| not_a_blob())?),
            nonce: bytes[22..34].try_into().map_err(|_| not_a_blob())?,
            sealed: bytes[BLOB_HEADER_LEN..].to_vec(),
        })
    }

    pub fn aad(&self, context: &super::EncryptionContext) -> Vec<u8> {
        let mut aad = Self::header_bytes(&self.key_id, self.key_version, &self.nonce).to_vec();
        aad.extend_from_slice(&context.canonical_bytes());
        aad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    #[test]
    fn round_trip() {
        let blob = CiphertextBlob {
            key_id: KeyId::SingleRegion(Uuid::new_v4()),
            key_version: 7,
            nonce: [3; 12],
            sealed: vec![1; 48],
        };
        assert_eq!(CiphertextBlob::decode(&blob.encode()).unwrap(), blob);
    }

    /// A blob as every s3seal before multi-Region keys wrote it: version 1,
    /// the UUID's bytes. It must keep decoding to the same key.
    #[test]
    fn version_1_blobs_still_decode() {
        let uuid = Uuid::parse_str("0b2c3d4e-0000-4000-8000-000000000001").unwrap();
        let mut bytes = vec![0xA5, 1];
        bytes.extend_from_slice(uuid.as_bytes());
        bytes.extend_from_slice(&9u32.to_be_bytes());
        bytes.extend_from_slice(&[4; 12]);
        bytes.extend_from_slice(&[6; 48]);
        let blob = CiphertextBlob::decode(&bytes).unwrap();
        assert_eq!(
            blob.key_id.to_string(),
            "0b2c3d4e-0000-4000-8000-000000000001"
        );
        assert_eq!(blob.key_version, 9);
        assert_eq!(blob.encode(), bytes, "re-encoding writes version 1 again");
    }

    #[test]
    fn multi_region_blobs_are_version_2() {
        let key_id = KeyId::parse("mrk-1234abcd12ab34cd56ef1234567890ab").unwrap();
        let blob = CiphertextBlob {
            key_id,
            key_version: 2,
            nonce: [5; 12],
            sealed: vec![9; 48],
        };
        let bytes = blob.encode();
        assert_eq!(&bytes[..2], &[0xA5, 2]);
        assert_eq!(
            bytes[2..18],
            hex::decode("1234abcd12ab34cd56ef1234567890ab").unwrap()
        );
        let decoded = CiphertextBlob::decode(&bytes).unwrap();
        assert_eq!(
            decoded.key_id.to_string(),
            "mrk-1234abcd12ab34cd56ef1234567890ab"
        );
        assert_eq!(decoded, blob);
        // The version byte is authenticated: flipping it names another key.
        let mut flipped = bytes.clone();
        flipped[1] = 1;
        let other = CiphertextBlob::decode(&flipped).unwrap();
        assert!(!other.key_id.is_multi_region());
        assert_ne!(
            other.aad(&crate::kms::EncryptionContext::new()),
            decoded.aad(&crate::kms::EncryptionContext::new())
        );
        flipped[1] = 3;
        assert!(CiphertextBlob::decode(&flipped).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = CiphertextBlob::decode(&bytes);
        }

        #[test]
        fn encode_decode_round_trips(
            id in any::<[u8; 16]>(),
            multi_region in any::<bool>(),
            key_version in any::<u32>(),
            nonce in any::<[u8; 12]>(),
            sealed in proptest::collection::vec(any::<u8>(), 16..80),
        ) {
            let key_id = if multi_region { KeyId::MultiRegion(id) } else { KeyId::SingleRegion(Uuid::from_bytes(id)) };
            let blob = CiphertextBlob { key_id, key_version, nonce, sealed };
            let decoded = CiphertextBlob::decode(&blob.encode()).unwrap();
            prop_assert_eq!(&decoded.key_id.to_string(), &key_id.to_string());
            prop_assert_eq!(decoded, blob);
        }
    }
}
