//! [`ChecksumRecord`]: the plaintext checksum sealed at the end of a stream.
//!
//! A client's flexible checksum (or, when it sent none, the CRC64NVME that
//! S3 computes by default) is only known once the whole body has streamed
//! through, after the upstream request's metadata was sent. So a format-2
//! stream ends with one more AEAD record after its final segment:
//!
//! ```text
//! offset size field (plaintext, 40 bytes; sealed: 40 + 16-byte tag)
//!      0    1 algorithm: 1 CRC32, 2 CRC32C, 3 CRC64NVME, 4 SHA1, 5 SHA256
//!      1    1 the object's checksum type: 0 FULL_OBJECT, 1 COMPOSITE
//!      2    6 reserved, zero
//!      8   32 the digest of this stream's plaintext, zero padded
//! ```
//! Its nonce is the index after the last segment with the final byte 2, a
//! value no segment nonce takes, so a record can never pass as a segment.

use super::SealError;
use crate::integrity::{ChecksumAlgorithm, ChecksumType};

/// Plaintext length of a record.
pub const RECORD_LEN: u64 = 40;
const DIGEST_AT: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumRecord {
    pub algorithm: ChecksumAlgorithm,
    /// For parts: how the whole object's checksum is formed from them.
    pub object_type: ChecksumType,
    pub digest: Vec<u8>,
}

impl ChecksumRecord {
    pub fn encode(&self) -> [u8; RECORD_LEN as usize] {
        let mut out = [0u8; RECORD_LEN as usize];
        out[0] = algorithm_code(self.algorithm);
        out[1] = match self.object_type {
            ChecksumType::FullObject => 0,
            ChecksumType::Composite => 1,
        };
        let len = self.digest.len().min(out.len() - DIGEST_AT);
        out[DIGEST_AT..DIGEST_AT + len].copy_from_slice(&self.digest[..len]);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != RECORD_LEN as usize {
            return Err(SealError::MalformedHeader(
                "checksum record has the wrong length",
            ));
        }
        let algorithm = ChecksumAlgorithm::ALL
            .into_iter()
            .find(|a| algorithm_code(*a) == bytes[0])
            .ok_or(SealError::MalformedHeader("unknown checksum algorithm"))?;
        let object_type = match bytes[1] {
            0 => ChecksumType::FullObject,
            1 => ChecksumType::Composite,
            _ => return Err(SealError::MalformedHeader("unknown checksum type")),
        };
        let end = DIGEST_AT + algorithm.digest_len();
        if bytes[2..DIGEST_AT]
            .iter()
            .chain(&bytes[end..])
            .any(|b| *b != 0)
        {
            return Err(SealError::MalformedHeader(
                "checksum record padding is not zero",
            ));
        }
        Ok(ChecksumRecord {
            algorithm,
            object_type,
            digest: bytes[DIGEST_AT..end].to_vec(),
        })
    }
}

fn algorithm_code(algorithm: ChecksumAlgorithm) -> u8 {
    match algorithm {
        ChecksumAlgorithm::Crc32 => 1,
        ChecksumAlgorithm::Crc32c => 2,
        ChecksumAlgorithm::Crc64Nvme => 3,
        ChecksumAlgorithm::Sha1 => 4,
        ChecksumAlgorithm::Sha256 => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_malformed_records() {
        let record = ChecksumRecord {
            algorithm: ChecksumAlgorithm::Crc32,
            object_type: ChecksumType::Composite,
            digest: vec![1, 2, 3, 4],
        };
        let good = record.encode();
        assert_eq!(ChecksumRecord::decode(&good), Ok(record));
        assert!(ChecksumRecord::decode(&good[..39]).is_err());
        for (at, value) in [(0, 9), (1, 2), (3, 1), (12, 1)] {
            let mut bad = good;
            bad[at] = value;
            assert!(ChecksumRecord::decode(&bad).is_err(), "byte {at}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(which in 0usize..5, composite in any::<bool>(), digest in any::<[u8; 32]>()) {
            let algorithm = ChecksumAlgorithm::ALL[which];
            let record = ChecksumRecord {
                algorithm,
                object_type: if composite { ChecksumType::Composite } else { ChecksumType::FullObject },
                digest: digest[..algorithm.digest_len()].to_vec(),
            };
            prop_assert_eq!(ChecksumRecord::decode(&record.encode()), Ok(record));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ChecksumRecord::decode(&bytes);
        }
    }
}
