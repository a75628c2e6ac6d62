//! Sealing and opening single segments of a stream.
//!
//! The stream key is `HKDF-SHA256(ikm = data key, salt = header salt,
//! info = "s3seal/v1/stream" || encoded header)`. The 96-bit nonce of segment
//! `i` is `i` (64-bit big endian) || three zero bytes || `1` if the segment is
//! the stream's last, else `0`; the checksum record of a format-2 stream uses
//! the index after the last segment and `2`. Because every stream has its own random salt,
//! a nonce never repeats under a key, even when a part is uploaded twice.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::aead::{Nonce, Tag};
use bytes::BytesMut;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::layout::{StreamLayout, TAG_LEN};
use super::{ChecksumRecord, SealError, StreamHeader};
use crate::kms::DataKey;

const STREAM_KEY_INFO: &[u8] = b"s3seal/v1/stream";

/// The AEAD state of one stream: its derived key and geometry.
pub struct StreamCipher {
    cipher: Aes256Gcm,
    layout: StreamLayout,
    segments: u64,
}

impl StreamCipher {
    pub fn new(data_key: &DataKey, header: &StreamHeader) -> Result<Self, SealError> {
        let layout = header.layout()?;
        let encoded = header.encode();
        let mut info = Vec::with_capacity(STREAM_KEY_INFO.len() + encoded.len());
        info.extend_from_slice(STREAM_KEY_INFO);
        info.extend_from_slice(&encoded);
        let mut stream_key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(&header.salt), data_key.expose())
            .expand(&info, stream_key.as_mut())
            .map_err(|_| SealError::MalformedHeader("key derivation failed"))?;
        let cipher = Aes256Gcm::new_from_slice(stream_key.as_ref())
            .map_err(|_| SealError::MalformedHeader("bad stream key length"))?;
        Ok(StreamCipher {
            cipher,
            layout,
            segments: layout.segment_count(header.plaintext_len),
        })
    }

    pub fn layout(&self) -> StreamLayout {
        self.layout
    }

    pub fn segment_count(&self) -> u64 {
        self.segments
    }

    fn nonce(&self, index: u64) -> Nonce<Aes256Gcm> {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&index.to_be_bytes());
        nonce[11] = u8::from(index + 1 == self.segments);
        nonce.into()
    }

    /// The checksum record's nonce: a value no segment nonce takes.
    fn record_nonce(&self) -> Nonce<Aes256Gcm> {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&self.segments.to_be_bytes());
        nonce[11] = 2;
        nonce.into()
    }

    /// Seals the stream's checksum record (written after its last segment).
    pub fn seal_record(&self, record: &ChecksumRecord) -> Result<Vec<u8>, SealError> {
        let mut buf = record.encode().to_vec();
        let tag = self
            .cipher
            .encrypt_inout_detached(&self.record_nonce(), &[], buf.as_mut_slice().into())
            .map_err(|_| SealError::RecordAuthentication)?;
        buf.extend_from_slice(&tag);
        Ok(buf)
    }

    /// Verifies, decrypts and decodes a sealed checksum record.
    pub fn open_record(&self, sealed: &[u8]) -> Result<ChecksumRecord, SealError> {
        let tag_at = sealed
            .len()
            .checked_sub(TAG_LEN as usize)
            .ok_or(SealError::RecordAuthentication)?;
        let tag = Tag::<Aes256Gcm>::try_from(&sealed[tag_at..])
            .map_err(|_| SealError::RecordAuthentication)?;
        let mut buf = sealed[..tag_at].to_vec();
        self.cipher
            .decrypt_inout_detached(&self.record_nonce(), &[], buf.as_mut_slice().into(), &tag)
            .map_err(|_| SealError::RecordAuthentication)?;
        ChecksumRecord::decode(&buf)
    }

    /// Encrypts the plaintext in `buf` in place as segment `index` and appends its tag.
    pub fn seal_segment(&self, index: u64, buf: &mut BytesMut) -> Result<(), SealError> {
        let tag = self
            .cipher
            .encrypt_inout_detached(&self.nonce(index), &[], buf.as_mut().into())
            .map_err(|_| SealError::SegmentAuthentication(index))?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Verifies and decrypts segment `index` (ciphertext followed by its tag) in
    /// place; on success `buf` holds only the plaintext.
    pub fn open_segment(&self, index: u64, buf: &mut BytesMut) -> Result<(), SealError> {
        if index >= self.segments {
            return Err(SealError::TrailingData(buf.len() as u64));
        }
        let tag_at = buf
            .len()
            .checked_sub(TAG_LEN as usize)
            .ok_or(SealError::SegmentAuthentication(index))?;
        let tag = Tag::<Aes256Gcm>::try_from(&buf[tag_at..])
            .map_err(|_| SealError::SegmentAuthentication(index))?;
        buf.truncate(tag_at);
        self.cipher
            .decrypt_inout_detached(&self.nonce(index), &[], buf.as_mut().into(), &tag)
            .map_err(|_| SealError::SegmentAuthentication(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(key: &DataKey, len: u64) -> (StreamHeader, StreamCipher) {
        let header = StreamHeader::new(12, 0, len).unwrap();
        let c = StreamCipher::new(key, &header).unwrap();
        (header, c)
    }

    #[test]
    fn segment_round_trip_and_binding() {
        let key = DataKey::generate().unwrap();
        let (_, c) = cipher(&key, 8192);
        let mut seg = BytesMut::from(&[7u8; 4096][..]);
        c.seal_segment(0, &mut seg).unwrap();
        assert_eq!(seg.len(), 4096 + 16);
        let sealed = seg.clone();

        c.open_segment(0, &mut seg).unwrap();
        assert_eq!(&seg[..], &[7u8; 4096][..]);

        // Wrong position: reordering is detected.
        let mut moved = sealed.clone();
        assert_eq!(
            c.open_segment(1, &mut moved),
            Err(SealError::SegmentAuthentication(1))
        );
        // Flipped bit.
        let mut flipped = sealed.clone();
        flipped[10] ^= 1;
        assert!(c.open_segment(0, &mut flipped).is_err());
        // Another stream of the same object (different salt): splicing is detected.
        let (_, other) = cipher(&key, 8192);
        let mut spliced = sealed.clone();
        assert!(other.open_segment(0, &mut spliced).is_err());
        // Another object's key.
        let (_, foreign) = cipher(&DataKey::generate().unwrap(), 8192);
        let mut spliced = sealed;
        assert!(foreign.open_segment(0, &mut spliced).is_err());
    }

    #[test]
    fn checksum_records_are_bound_to_their_stream() {
        use crate::integrity::{ChecksumAlgorithm, ChecksumType};
        let key = DataKey::generate().unwrap();
        let (_, c) = cipher(&key, 100);
        let record = ChecksumRecord {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            object_type: ChecksumType::FullObject,
            digest: vec![9; 8],
        };
        let sealed = c.seal_record(&record).unwrap();
        assert_eq!(sealed.len() as u64, crate::seal::layout::SEALED_RECORD_LEN);
        assert_eq!(c.open_record(&sealed), Ok(record));
        let mut flipped = sealed.clone();
        flipped[3] ^= 1;
        assert_eq!(
            c.open_record(&flipped),
            Err(SealError::RecordAuthentication)
        );
        let (_, other) = cipher(&key, 100);
        assert!(other.open_record(&sealed).is_err());
        // A record cannot pass as the stream's (final) segment, nor the reverse.
        let mut as_segment = BytesMut::from(&sealed[..]);
        assert!(c.open_segment(0, &mut as_segment).is_err());
        let mut segment = BytesMut::from(&[0u8; 40][..]);
        c.seal_segment(0, &mut segment).unwrap();
        assert!(c.open_record(&segment).is_err());
    }

    #[test]
    fn final_flag_is_authenticated() {
        // A stream of two segments: segment 0 sealed as non-final cannot pass as
        // the final segment of a one-segment stream with the same key material.
        let key = DataKey::generate().unwrap();
        let header = StreamHeader::new(12, 0, 8192).unwrap();
        let two = StreamCipher::new(&key, &header).unwrap();
        let mut seg = BytesMut::from(&[1u8; 4096][..]);
        two.seal_segment(0, &mut seg).unwrap();
        let mut one_header = header;
        one_header.plaintext_len = 4096;
        let one = StreamCipher::new(&key, &one_header).unwrap();
        assert!(one.open_segment(0, &mut seg).is_err());
    }
}
