//! Size maths of a sealed stream: pure functions, no I/O.
//!
//! A stream of `p` plaintext bytes with segment size `S` has
//! `n = max(1, ceil(p / S))` segments (an empty stream still has one empty,
//! final segment so that a header-only stream is detectably truncated) and a
//! sealed length of `HEADER_LEN + p + n * TAG_LEN`, plus `SEALED_RECORD_LEN`
//! for the checksum record that ends every format-2 stream. The mapping is
//! strictly increasing, so a sealed length determines the plaintext length.

use super::SealError;

/// Length of the [`super::StreamHeader`] at the start of every stream.
pub const HEADER_LEN: u64 = 36;
/// AES-GCM tag appended to every segment.
pub const TAG_LEN: u64 = 16;
/// The sealed checksum record after a format-2 stream's last segment.
pub const SEALED_RECORD_LEN: u64 = super::checksum_record::RECORD_LEN + TAG_LEN;
/// Default plaintext bytes per segment: 64 KiB (2^16). Large enough that the
/// per-call AEAD cost is negligible, small enough for cheap range reads.
pub const DEFAULT_SEGMENT_LOG2: u8 = 16;
/// Segment sizes a reader accepts (4 KiB to 16 MiB).
pub const SEGMENT_LOG2_RANGE: std::ops::RangeInclusive<u8> = 12..=24;
/// At most 2^32 segments per stream (256 TiB at 64 KiB), which keeps every
/// length well inside u64; the nonce itself carries a 64-bit index.
pub const MAX_SEGMENTS: u64 = 1 << 32;

/// The geometry of one sealed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLayout {
    segment_size: u64,
    /// Bytes after the last segment: the sealed checksum record, or none (format 1).
    record_len: u64,
}

impl StreamLayout {
    pub fn new(segment_log2: u8) -> Result<Self, SealError> {
        if !SEGMENT_LOG2_RANGE.contains(&segment_log2) {
            return Err(SealError::MalformedHeader("segment size out of range"));
        }
        Ok(StreamLayout {
            segment_size: 1u64 << segment_log2,
            record_len: SEALED_RECORD_LEN,
        })
    }

    /// The same geometry without a checksum record (format 1 streams).
    pub fn without_record(self) -> Self {
        StreamLayout {
            record_len: 0,
            ..self
        }
    }

    /// The layout s3seal writes: 64 KiB segments and a checksum record.
    pub fn default_layout() -> Self {
        StreamLayout {
            segment_size: 1u64 << DEFAULT_SEGMENT_LOG2,
            record_len: SEALED_RECORD_LEN,
        }
    }

    /// Length of the sealed checksum record after the last segment (0 if none).
    pub fn record_len(&self) -> u64 {
        self.record_len
    }

    pub fn segment_size(&self) -> u64 {
        self.segment_size
    }

    /// Number of segments for `plaintext_len` bytes (at least one).
    pub fn segment_count(&self, plaintext_len: u64) -> u64 {
        plaintext_len.div_ceil(self.segment_size).max(1)
    }

    /// Sealed length of a stream holding `plaintext_len` bytes.
    pub fn sealed_len(&self, plaintext_len: u64) -> Result<u64, SealError> {
        let segments = self.segment_count(plaintext_len);
        if segments > MAX_SEGMENTS {
            return Err(SealError::TooLarge(plaintext_len));
        }
        Ok(HEADER_LEN + plaintext_len + segments * TAG_LEN + self.record_len)
    }

    /// Inverse of [`Self::sealed_len`]; `None` if no plaintext length seals to `sealed_len`.
    pub fn plaintext_len(&self, sealed_len: u64) -> Option<u64> {
        let body = sealed_len.checked_sub(HEADER_LEN + self.record_len)?;
        let segments = body.div_ceil(self.segment_size + TAG_LEN).max(1);
        let plaintext = body.checked_sub(segments * TAG_LEN)?;
        (self.sealed_len(plaintext).ok()? == sealed_len).then_some(plaintext)
    }

    /// Plaintext length of segment `index` in a stream of `plaintext_len` bytes.
    pub fn segment_plaintext_len(&self, plaintext_len: u64, index: u64) -> u64 {
        let start = index * self.segment_size;
        plaintext_len.saturating_sub(start).min(self.segment_size)
    }

    /// Byte offset of segment `index` within the sealed stream.
    pub fn segment_offset(&self, index: u64) -> u64 {
        HEADER_LEN + index * (self.segment_size + TAG_LEN)
    }

    /// The segments holding plaintext bytes `first..=last` of a stream of
    /// `plaintext_len` bytes, and where they lie in the sealed stream.
    pub fn segments_for(&self, plaintext_len: u64, first: u64, last: u64) -> SegmentSpan {
        let first_segment = first / self.segment_size;
        let last_segment = last / self.segment_size;
        let sealed_first = self.segment_offset(first_segment);
        let sealed_last = self.segment_offset(last_segment)
            + self.segment_plaintext_len(plaintext_len, last_segment)
            + TAG_LEN
            - 1;
        SegmentSpan {
            first_segment,
            last_segment,
            sealed_first,
            sealed_last,
            skip: first - first_segment * self.segment_size,
            take: last - first + 1,
        }
    }
}

/// Where a plaintext byte range lives in a sealed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSpan {
    pub first_segment: u64,
    pub last_segment: u64,
    /// Inclusive byte range of those segments in the sealed stream.
    pub sealed_first: u64,
    pub sealed_last: u64,
    /// Plaintext bytes to drop from the first segment, then bytes to keep.
    pub skip: u64,
    pub take: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_sizes() {
        let l = StreamLayout::default_layout().without_record();
        assert_eq!(l.sealed_len(0).unwrap(), 36 + 16);
        assert_eq!(l.sealed_len(1).unwrap(), 36 + 1 + 16);
        assert_eq!(l.sealed_len(65536).unwrap(), 36 + 65536 + 16);
        assert_eq!(l.sealed_len(65537).unwrap(), 36 + 65537 + 32);
        let with_record = StreamLayout::default_layout();
        assert_eq!(with_record.sealed_len(1).unwrap(), 36 + 1 + 16 + 56);
        assert_eq!(with_record.plaintext_len(36 + 1 + 16 + 56), Some(1));
        assert_eq!(with_record.plaintext_len(36 + 1 + 16), None);
        assert_eq!(l.segment_count(0), 1);
        assert_eq!(l.segment_count(65536), 1);
        assert_eq!(l.segment_count(65537), 2);
        assert_eq!(l.segment_plaintext_len(65537, 1), 1);
        assert_eq!(l.segment_plaintext_len(0, 0), 0);
    }

    #[test]
    fn impossible_sealed_lengths_are_rejected() {
        let l = StreamLayout::default_layout().without_record();
        assert_eq!(l.plaintext_len(0), None);
        assert_eq!(l.plaintext_len(HEADER_LEN), None);
        assert_eq!(l.plaintext_len(HEADER_LEN + 15), None);
        // A full segment plus a bare tag would be an empty non-final segment.
        assert_eq!(l.plaintext_len(HEADER_LEN + 65536 + 16 + 16), None);
    }

    #[test]
    fn segment_size_bounds() {
        assert!(StreamLayout::new(11).is_err());
        assert!(StreamLayout::new(25).is_err());
        assert_eq!(StreamLayout::new(12).unwrap().segment_size(), 4096);
    }

    #[test]
    fn segment_spans() {
        let l = StreamLayout::new(12).unwrap().without_record(); // 4 KiB segments
        let span = l.segments_for(10_000, 4095, 4096);
        assert_eq!((span.first_segment, span.last_segment), (0, 1));
        assert_eq!(span.sealed_first, 36);
        assert_eq!(span.sealed_last, 36 + 2 * 4112 - 1);
        assert_eq!((span.skip, span.take), (4095, 2));
        let tail = l.segments_for(10_000, 9_999, 9_999);
        assert_eq!(tail.first_segment, 2);
        assert_eq!(tail.sealed_last, l.sealed_len(10_000).unwrap() - 1);
    }

    proptest! {
        /// The span's segments cover the range, and lie inside the sealed stream.
        #[test]
        fn spans_cover_the_range(len in 1u64..200_000, a in any::<u64>(), b in any::<u64>()) {
            let l = StreamLayout::new(12).unwrap();
            let (first, last) = { let (x, y) = (a % len, b % len); (x.min(y), x.max(y)) };
            let span = l.segments_for(len, first, last);
            prop_assert!(span.first_segment * 4096 <= first);
            prop_assert!((span.last_segment + 1) * 4096 > last);
            prop_assert!(span.sealed_last < l.sealed_len(len).unwrap());
            prop_assert_eq!(span.skip + span.take, last - span.first_segment * 4096 + 1);
            let sealed_segments = span.sealed_last + 1 - span.sealed_first;
            let plain_in_segments: u64 = (span.first_segment..=span.last_segment).map(|i| l.segment_plaintext_len(len, i)).sum();
            prop_assert_eq!(sealed_segments, plain_in_segments + TAG_LEN * (span.last_segment - span.first_segment + 1));
        }

        #[test]
        fn sealed_len_round_trips(p in 0u64..(1u64 << 40), log2 in 12u8..=24, record in any::<bool>()) {
            let l = StreamLayout::new(log2).unwrap();
            let l = if record { l } else { l.without_record() };
            let s = l.sealed_len(p).unwrap();
            prop_assert_eq!(l.plaintext_len(s), Some(p));
        }

        #[test]
        fn sealed_len_is_strictly_increasing(p in 0u64..(1u64 << 40)) {
            let l = StreamLayout::default_layout();
            prop_assert!(l.sealed_len(p + 1).unwrap() > l.sealed_len(p).unwrap());
        }
    }
}
