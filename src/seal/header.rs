//! [`StreamHeader`]: the 36 bytes at the start of every sealed stream.
//!
//! ```text
//! offset size field
//!      0    4 magic "S3SL"
//!      4    1 format version: 1, or 2 (the stream ends with a checksum record)
//!      5    1 log2 of the segment size (12..=24)
//!      6    2 flags, reserved, must be zero
//!      8    4 part number, big endian (0 for a single-part object)
//!     12    8 plaintext length of this stream, big endian
//!     20   16 random salt for the stream key derivation
//! ```
//! The header is not encrypted, but every field is bound into the stream key
//! (it is the HKDF info), so changing any byte makes every segment fail.

use super::SealError;
use super::layout::{HEADER_LEN, StreamLayout};

pub const MAGIC: [u8; 4] = *b"S3SL";
/// The version s3seal writes; it still reads version 1 (no checksum record).
pub const FORMAT_VERSION: u8 = 2;
const READABLE_VERSIONS: std::ops::RangeInclusive<u8> = 1..=2;
pub const SALT_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    pub version: u8,
    pub segment_log2: u8,
    pub part_number: u32,
    pub plaintext_len: u64,
    pub salt: [u8; SALT_LEN],
}

impl StreamHeader {
    /// A header for a new stream with a fresh random salt.
    pub fn new(segment_log2: u8, part_number: u32, plaintext_len: u64) -> Result<Self, SealError> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt)
            .map_err(|_| SealError::MalformedHeader("no randomness available"))?;
        let header = StreamHeader {
            version: FORMAT_VERSION,
            segment_log2,
            part_number,
            plaintext_len,
            salt,
        };
        header.layout()?.sealed_len(plaintext_len)?;
        Ok(header)
    }

    pub fn layout(&self) -> Result<StreamLayout, SealError> {
        let layout = StreamLayout::new(self.segment_log2)?;
        Ok(if self.has_checksum_record() {
            layout
        } else {
            layout.without_record()
        })
    }

    /// Whether the stream ends with a [`super::ChecksumRecord`] (format 2).
    pub fn has_checksum_record(&self) -> bool {
        self.version >= 2
    }

    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = self.version;
        out[5] = self.segment_log2;
        // out[6..8]: flags, zero
        out[8..12].copy_from_slice(&self.part_number.to_be_bytes());
        out[12..20].copy_from_slice(&self.plaintext_len.to_be_bytes());
        out[20..36].copy_from_slice(&self.salt);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, SealError> {
        let bytes: &[u8; HEADER_LEN as usize] = bytes
            .get(..HEADER_LEN as usize)
            .and_then(|b| b.try_into().ok())
            .ok_or(SealError::MalformedHeader("shorter than a stream header"))?;
        if bytes[0..4] != MAGIC {
            return Err(SealError::MalformedHeader("bad magic"));
        }
        if !READABLE_VERSIONS.contains(&bytes[4]) {
            return Err(SealError::UnsupportedVersion(bytes[4]));
        }
        if bytes[6..8] != [0, 0] {
            return Err(SealError::MalformedHeader("reserved flags set"));
        }
        let header = StreamHeader {
            version: bytes[4],
            segment_log2: bytes[5],
            part_number: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            plaintext_len: u64::from_be_bytes(bytes[12..20].try_into().expect("8-byte slice")),
            salt: bytes[20..36].try_into().expect("16-byte slice"),
        };
        header.layout()?.sealed_len(header.plaintext_len)?;
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_bad_headers() {
        let good = StreamHeader::new(16, 0, 10).unwrap().encode();
        assert!(StreamHeader::decode(&good[..35]).is_err());
        let mut bad = good;
        bad[0] = b'X';
        assert_eq!(
            StreamHeader::decode(&bad),
            Err(SealError::MalformedHeader("bad magic"))
        );
        let mut bad = good;
        bad[4] = 3;
        assert_eq!(
            StreamHeader::decode(&bad),
            Err(SealError::UnsupportedVersion(3))
        );
        let mut old = good;
        old[4] = 1;
        let old = StreamHeader::decode(&old).unwrap();
        assert!(!old.has_checksum_record());
        assert_eq!(old.layout().unwrap().record_len(), 0);
        let mut bad = good;
        bad[7] = 1;
        assert!(StreamHeader::decode(&bad).is_err());
        let mut bad = good;
        bad[5] = 40;
        assert!(StreamHeader::decode(&bad).is_err());
    }

    #[test]
    fn salts_are_fresh() {
        let a = StreamHeader::new(16, 1, 5).unwrap();
        let b = StreamHeader::new(16, 1, 5).unwrap();
        assert_ne!(a.salt, b.salt);
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(version in 1u8..=2, log2 in 12u8..=24, part in any::<u32>(), len in 0u64..(1 << 40), salt in any::<[u8; 16]>()) {
            let h = StreamHeader { version, segment_log2: log2, part_number: part, plaintext_len: len, salt };
            prop_assert_eq!(StreamHeader::decode(&h.encode()), Ok(h));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = StreamHeader::decode(&bytes);
        }
    }
}
