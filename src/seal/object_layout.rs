//! [`SealedLayout`]: the streams of a whole sealed object, and read planning.
//!
//! A sealed object is a concatenation of streams: one for a simple PUT, one
//! per part for a multipart upload. Knowing every stream's header (segment
//! size, part number, plaintext length, salt) gives every offset, so a
//! plaintext byte range maps to one contiguous range of stored bytes plus a
//! [`ReadPlan`] telling the unsealing body how to walk it. Pure maths, no I/O.
//!
//! ```text
//! plaintext:  [ part 1 ........ ][ part 2 ........ ][ part 3 ... ]
//! stored:     [H|seg|seg|..|seg ][H|seg|seg|..|seg ][H|seg|..|seg]
//!                       ^ first needed segment   ^ last needed segment
//! ```
//! A range that starts inside stream *i* starts reading at a segment of *i*
//! (its header comes from the layout, not from the bytes); every later
//! stream is read from its header, which must equal the layout's.

use std::collections::VecDeque;

use super::layout::SegmentSpan;
use super::{SealError, StreamHeader};

/// What a reader expects of a stream header it reads from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedStream {
    pub part_number: u32,
    pub plaintext_len: u64,
    /// The salt, when the reader knows the full header (from a layout).
    pub salt: Option<[u8; 16]>,
}

impl ExpectedStream {
    pub fn of(header: &StreamHeader) -> Self {
        ExpectedStream {
            part_number: header.part_number,
            plaintext_len: header.plaintext_len,
            salt: Some(header.salt),
        }
    }

    /// Checks a header read from the stored bytes against the expectation.
    pub fn check(&self, header: &StreamHeader) -> Result<(), SealError> {
        if header.part_number != self.part_number {
            return Err(SealError::HeaderMismatch("part number"));
        }
        if header.plaintext_len != self.plaintext_len {
            return Err(SealError::HeaderMismatch("plaintext length"));
        }
        if self.salt.is_some_and(|salt| salt != header.salt) {
            return Err(SealError::HeaderMismatch(
                "stream salt (a part was replaced by another upload of it)",
            ));
        }
        Ok(())
    }
}

/// Where reading one stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// The bytes start at a segment; the header is already known.
    AtSegment(StreamHeader),
    /// The bytes start with the stream's header, which must match.
    WithHeader(ExpectedStream),
}

/// One stream's share of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRead {
    pub start: StreamStart,
    /// The segments to read and the plaintext window to release; `None` means
    /// the whole stream (its geometry comes from the header read first).
    pub span: Option<SegmentSpan>,
    /// Whether the read goes on through the stream's checksum record (if it
    /// has one): whole streams, and streams a range read crosses.
    pub through_record: bool,
}

/// How to read a plaintext range: which stored bytes to fetch and how to walk them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    /// Inclusive range of stored bytes; `None` for "the whole object".
    pub sealed_range: Option<(u64, u64)>,
    pub streams: VecDeque<StreamRead>,
    /// Plaintext bytes the read releases.
    pub plaintext_len: u64,
    /// Stored bytes the read consumes, when known in advance.
    pub sealed_len: Option<u64>,
}

impl ReadPlan {
    /// A whole single-stream object whose header is known only by its part
    /// number and length (the metadata of a simple PUT).
    pub fn whole_single_stream(part_number: u32, plaintext_len: u64) -> Self {
        ReadPlan {
            sealed_range: None,
            streams: VecDeque::from([StreamRead {
                start: StreamStart::WithHeader(ExpectedStream {
                    part_number,
                    plaintext_len,
                    salt: None,
                }),
                span: None,
                through_record: true,
            }]),
            plaintext_len,
            sealed_len: None,
        }
    }
}

/// Offsets of one stream within the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamExtent {
    pub header: StreamHeader,
    pub plaintext_offset: u64,
    pub sealed_offset: u64,
    pub sealed_len: u64,
}

impl StreamExtent {
    pub fn plaintext_end(&self) -> u64 {
        self.plaintext_offset + self.header.plaintext_len
    }
}

/// The streams of a sealed object, in stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedLayout {
    extents: Vec<StreamExtent>,
    plaintext_len: u64,
    sealed_len: u64,
}

impl SealedLayout {
    /// Builds the layout of `headers` in stored order. Part numbers must rise
    /// strictly (S3 assembles parts in ascending order), so a layout rebuilt
    /// from reordered bytes is rejected.
    pub fn new(headers: Vec<StreamHeader>) -> Result<Self, SealError> {
        if headers.is_empty() {
            return Err(SealError::MalformedHeader(
                "an object has at least one stream",
            ));
        }
        let mut extents = Vec::with_capacity(headers.len());
        let (mut plaintext, mut sealed) = (0u64, 0u64);
        let mut previous_part: Option<u32> = None;
        for header in headers {
            if previous_part.is_some_and(|p| header.part_number <= p) {
                return Err(SealError::HeaderMismatch("part numbers are not ascending"));
            }
            previous_part = Some(header.part_number);
            let stream_sealed = header.layout()?.sealed_len(header.plaintext_len)?;
            extents.push(StreamExtent {
                header,
                plaintext_offset: plaintext,
                sealed_offset: sealed,
                sealed_len: stream_sealed,
            });
            plaintext = plaintext
                .checked_add(header.plaintext_len)
                .ok_or(SealError::TooLarge(u64::MAX))?;
            sealed = sealed
                .checked_add(stream_sealed)
                .ok_or(SealError::TooLarge(u64::MAX))?;
        }
        Ok(SealedLayout {
            extents,
            plaintext_len: plaintext,
            sealed_len: sealed,
        })
    }

    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    pub fn sealed_len(&self) -> u64 {
        self.sealed_len
    }

    pub fn streams(&self) -> &[StreamExtent] {
        &self.extents
    }

    pub fn headers(&self) -> impl Iterator<Item = &StreamHeader> {
        self.extents.iter().map(|e| &e.header)
    }

    /// Reads the whole object, checking every header against the layout.
    pub fn plan_whole(&self) -> ReadPlan {
        let streams = self.extents.iter().map(whole_stream).collect();
        ReadPlan {
            sealed_range: None,
            streams,
            plaintext_len: self.plaintext_len,
            sealed_len: Some(self.sealed_len),
        }
    }

    /// Reads stream `index` (0-based) alone: a `partNumber` read.
    pub fn plan_stream(&self, index: usize) -> Option<ReadPlan> {
        let extent = self.extents.get(index)?;
        Some(ReadPlan {
            sealed_range: Some((
                extent.sealed_offset,
                extent.sealed_offset + extent.sealed_len - 1,
            )),
            streams: VecDeque::from([whole_stream(extent)]),
            plaintext_len: extent.header.plaintext_len,
            sealed_len: Some(extent.sealed_len),
        })
    }

    /// Reads plaintext bytes `first..=last` (which must lie inside the object).
    pub fn plan_range(&self, first: u64, last: u64) -> Result<ReadPlan, SealError> {
        if first > last || last >= self.plaintext_len {
            return Err(SealError::MalformedHeader("range outside the object"));
        }
        let start = self.stream_holding(first);
        let end = self.stream_holding(last);
        let mut streams = VecDeque::with_capacity(end - start + 1);
        let mut sealed_first = 0;
        let mut sealed_last = 0;
        let last_index = end - start;
        for (i, extent) in self.extents[start..=end].iter().enumerate() {
            let header = extent.header;
            // A stream the range goes beyond is read to its end, record included.
            let through_record = i < last_index;
            if header.plaintext_len == 0 {
                // An empty stream between two others: read it whole.
                streams.push_back(whole_stream(extent));
                continue;
            }
            let from = first.saturating_sub(extent.plaintext_offset);
            let to = last.min(extent.plaintext_end() - 1) - extent.plaintext_offset;
            let span = header
                .layout()?
                .segments_for(header.plaintext_len, from, to);
            if i == 0 {
                sealed_first = extent.sealed_offset + span.sealed_first;
                streams.push_back(StreamRead {
                    start: StreamStart::AtSegment(header),
                    span: Some(span),
                    through_record,
                });
            } else {
                streams.push_back(StreamRead {
                    start: StreamStart::WithHeader(ExpectedStream::of(&header)),
                    span: Some(span),
                    through_record,
                });
            }
            sealed_last = extent.sealed_offset + span.sealed_last;
            if through_record {
                sealed_last += header.layout()?.record_len();
            }
        }
        Ok(ReadPlan {
            sealed_range: Some((sealed_first, sealed_last)),
            streams,
            plaintext_len: last - first + 1,
            sealed_len: Some(sealed_last - sealed_first + 1),
        })
    }

    /// Index of the non-empty stream holding plaintext byte `offset`.
    fn stream_holding(&self, offset: u64) -> usize {
        // The first stream whose end lies beyond `offset`; empty streams end
        // where they start, so they are never chosen.
        self.extents
            .partition_point(|e| e.plaintext_end() <= offset)
            .min(self.extents.len() - 1)
    }
}

fn whole_stream(extent: &StreamExtent) -> StreamRead {
    StreamRead {
        start: StreamStart::WithHeader(ExpectedStream::of(&extent.header)),
        span: None,
        through_record: true,
    }
}

/// Where the next stream's header starts, given this stream's header at
/// `offset`: used to rebuild a layout by walking the headers.
pub fn next_header_offset(offset: u64, header: &StreamHeader) -> Result<u64, SealError> {
    let len = header.layout()?.sealed_len(header.plaintext_len)?;
    offset
        .checked_add(len)
        .ok_or(SealError::TooLarge(header.plaintext_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::layout::{HEADER_LEN, SEALED_RECORD_LEN, TAG_LEN};
    use proptest::prelude::*;

    fn header(part: u32, len: u64) -> StreamHeader {
        StreamHeader {
            version: 2,
            segment_log2: 12,
            part_number: part,
            plaintext_len: len,
            salt: [part as u8; 16],
        }
    }

    #[test]
    fn offsets_add_up() {
        let layout = SealedLayout::new(vec![header(1, 10_000), header(2, 5)]).unwrap();
        let s1 = HEADER_LEN + 10_000 + 3 * TAG_LEN + SEALED_RECORD_LEN;
        assert_eq!(layout.streams()[1].sealed_offset, s1);
        assert_eq!(layout.streams()[1].plaintext_offset, 10_000);
        assert_eq!(
            layout.sealed_len(),
            s1 + HEADER_LEN + 5 + TAG_LEN + SEALED_RECORD_LEN
        );
        assert_eq!(layout.plaintext_len(), 10_005);
    }

    #[test]
    fn part_numbers_must_ascend() {
        assert!(SealedLayout::new(vec![header(2, 1), header(1, 1)]).is_err());
        assert!(SealedLayout::new(vec![header(1, 1), header(1, 1)]).is_err());
        assert!(SealedLayout::new(vec![header(1, 1), header(7, 1)]).is_ok());
        assert!(SealedLayout::new(vec![]).is_err());
    }

    #[test]
    fn range_inside_one_stream_starts_at_a_segment() {
        let layout = SealedLayout::new(vec![header(1, 10_000), header(2, 10_000)]).unwrap();
        let plan = layout.plan_range(10_000 + 4096, 10_000 + 4096).unwrap();
        assert_eq!(plan.streams.len(), 1);
        assert!(matches!(plan.streams[0].start, StreamStart::AtSegment(h) if h.part_number == 2));
        let second = layout.streams()[1].sealed_offset;
        assert_eq!(
            plan.sealed_range,
            Some((
                second + HEADER_LEN + 4096 + TAG_LEN,
                second + HEADER_LEN + 2 * (4096 + TAG_LEN) - 1
            ))
        );
    }

    #[test]
    fn range_across_streams_reads_the_next_header() {
        let layout = SealedLayout::new(vec![header(1, 10_000), header(3, 10_000)]).unwrap();
        let plan = layout.plan_range(9_999, 10_000).unwrap();
        assert_eq!(plan.streams.len(), 2);
        assert!(matches!(plan.streams[1].start, StreamStart::WithHeader(e) if e.part_number == 3));
        let span = plan.streams[1].span.unwrap();
        assert_eq!((span.first_segment, span.skip, span.take), (0, 0, 1));
        assert_eq!(plan.plaintext_len, 2);
    }

    #[test]
    fn part_plans_cover_one_stream() {
        let layout = SealedLayout::new(vec![header(1, 100), header(2, 0)]).unwrap();
        let plan = layout.plan_stream(1).unwrap();
        let second = layout.streams()[1];
        assert_eq!(
            plan.sealed_range,
            Some((second.sealed_offset, layout.sealed_len() - 1))
        );
        assert_eq!(plan.plaintext_len, 0);
        assert!(layout.plan_stream(2).is_none());
    }

    proptest! {
        /// Every range plan fetches exactly the bytes its streams consume,
        /// and releases exactly the requested number of bytes.
        #[test]
        fn range_plans_are_consistent(
            lens in proptest::collection::vec(0u64..20_000, 1..6),
            a in any::<u64>(), b in any::<u64>(),
        ) {
            let headers: Vec<_> = lens.iter().enumerate().map(|(i, l)| header(i as u32 + 1, *l)).collect();
            let layout = SealedLayout::new(headers).unwrap();
            prop_assume!(layout.plaintext_len() > 0);
            let total = layout.plaintext_len();
            let (first, last) = { let (x, y) = (a % total, b % total); (x.min(y), x.max(y)) };
            let plan = layout.plan_range(first, last).unwrap();
            let (sf, sl) = plan.sealed_range.unwrap();
            prop_assert!(sl < layout.sealed_len());
            let mut consumed = 0;
            let mut released = 0;
            for read in &plan.streams {
                let (header_bytes, len) = match read.start {
                    StreamStart::AtSegment(h) => (0, h.plaintext_len),
                    StreamStart::WithHeader(e) => (HEADER_LEN, e.plaintext_len),
                };
                let layout = crate::seal::StreamLayout::new(12).unwrap();
                match read.span {
                    Some(span) => {
                        consumed += header_bytes + span.sealed_last + 1 - span.sealed_first;
                        if read.through_record {
                            consumed += SEALED_RECORD_LEN;
                        }
                        released += span.take;
                    }
                    None => {
                        consumed += layout.sealed_len(len).unwrap();
                        released += len;
                    }
                }
            }
            prop_assert_eq!(consumed, sl - sf + 1);
            prop_assert_eq!(released, last - first + 1);
            prop_assert_eq!(plan.plaintext_len, last - first + 1);
        }
    }
}
