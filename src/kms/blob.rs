//! [`CiphertextBlob`]: s3seal's KMS ciphertext format.
//!
//! ```text
//! offset size field
//!      0    1 magic 0xA5
//!      1    1 blob version (1)
//!      2   16 KMS key id (UUID bytes)
//!     18    4 key version, big endian
//!     22   12 nonce
//!     34    n ciphertext
//!   34+n   16 tag
//! ```
//! AEAD is AES-256-GCM under the key version's material, with the first 34
//! bytes followed by the canonical encryption context as associated data.
//! So a blob names its own key and version (Decrypt needs no KeyId), and a
//! changed header or context makes decryption fail.

use uuid::Uuid;

use super::KmsError;

const MAGIC: u8 = 0xA5;
const VERSION: u8 = 1;
pub const BLOB_HEADER_LEN: usize = 34;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiphertextBlob {
    pub key_id: Uuid,
    pub key_version: u32,
    pub nonce: [u8; 12],
    /// Ciphertext followed by the 16-byte tag.
    pub sealed: Vec<u8>,
}

impl CiphertextBlob {
    pub fn header_bytes(key_id: Uuid, key_version: u32, nonce: &[u8; 12]) -> [u8; BLOB_HEADER_LEN] {
        let mut out = [0u8; BLOB_HEADER_LEN];
        out[0] = MAGIC;
        out[1] = VERSION;
        out[2..18].copy_from_slice(key_id.as_bytes());
        out[18..22].copy_from_slice(&key_version.to_be_bytes());
        out[22..34].copy_from_slice(nonce);
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Self::header_bytes(self.key_id, self.key_version, &self.nonce).to_vec();
        out.extend_from_slice(&self.sealed);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, KmsError> {
        if bytes.len() < BLOB_HEADER_LEN + TAG_LEN {
            return Err(KmsError::InvalidCiphertext("ciphertext blob is too short"));
        }
        if bytes[0] != MAGIC || bytes[1] != VERSION {
            return Err(KmsError::InvalidCiphertext("not an s3seal ciphertext blob"));
        }
        Ok(CiphertextBlob {
            key_id: Uuid::from_slice(&bytes[2..18])
                .map_err(|_| KmsError::InvalidCiphertext("bad key id"))?,
            key_version: u32::from_be_bytes(bytes[18..22].try_into().expect("4-byte slice")),
            nonce: bytes[22..34].try_into().expect("12-byte slice"),
            sealed: bytes[BLOB_HEADER_LEN..].to_vec(),
        })
    }

    pub fn aad(&self, context: &super::EncryptionContext) -> Vec<u8> {
        let mut aad = Self::header_bytes(self.key_id, self.key_version, &self.nonce).to_vec();
        aad.extend_from_slice(&context.canonical_bytes());
        aad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let blob = CiphertextBlob {
            key_id: Uuid::new_v4(),
            key_version: 7,
            nonce: [3; 12],
            sealed: vec![1; 48],
        };
        assert_eq!(CiphertextBlob::decode(&blob.encode()).unwrap(), blob);
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = CiphertextBlob::decode(&bytes);
        }
    }
}
