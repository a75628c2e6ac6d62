//! [`UnsealingBody`]: verifies and decrypts sealed streams as they flow.
//!
//! It walks a [`ReadPlan`]: one or more streams (one per multipart part),
//! each read either from its header or, for the first stream of a range
//! read, from a segment whose header the plan already knows. Only the
//! requested window of plaintext is released.
//!
//! Plaintext of a segment is released only after the segment's tag verified.
//! A truncated read, trailing bytes, a header that disagrees with the plan,
//! or any failed tag ends the body with an error; hyper then aborts the
//! response, so a client never mistakes a partial object for a complete one.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::layout::{HEADER_LEN, SEALED_RECORD_LEN, SegmentSpan, TAG_LEN};
use super::object_layout::{ReadPlan, StreamRead, StreamStart};
use super::segment::StreamCipher;
use super::{SealError, StreamHeader};
use crate::body::BoxError;
use crate::kms::DataKey;

/// The stream being read.
struct CurrentStream {
    cipher: StreamCipher,
    plaintext_len: u64,
    next_index: u64,
    last_index: u64,
    /// Plaintext bytes still to drop from the front, and still to release.
    skip: u64,
    remaining: u64,
    /// The stream's checksum record follows its last segment and must be read.
    record_follows: bool,
    /// Every planned segment was opened; only the record may be left.
    segments_done: bool,
    /// The last segment's plaintext, held back until the record verified,
    /// so a stream cut after its last segment never reads as complete.
    held: Bytes,
}

pub struct UnsealingBody<B> {
    inner: B,
    data_key: DataKey,
    pending: VecDeque<StreamRead>,
    current: Option<CurrentStream>,
    failed: bool,
    buf: BytesMut,
    remaining: u64,
    sealed_seen: u64,
    sealed_expected: Option<u64>,
}

impl<B> UnsealingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// Reads the stored bytes `inner` (exactly the plan's sealed range) along `plan`.
    pub fn new(inner: B, data_key: DataKey, plan: ReadPlan) -> Self {
        UnsealingBody {
            inner,
            data_key,
            pending: plan.streams,
            current: None,
            failed: false,
            buf: BytesMut::new(),
            remaining: plan.plaintext_len,
            sealed_seen: 0,
            sealed_expected: plan.sealed_len,
        }
    }

    /// Starts the next planned stream if its first bytes are buffered.
    /// Returns `false` when more bytes are needed.
    fn start_stream(&mut self) -> Result<bool, SealError> {
        let Some(read) = self.pending.front().copied() else {
            return if self.buf.is_empty() {
                Ok(false)
            } else {
                Err(SealError::TrailingData(self.buf.len() as u64))
            };
        };
        let header = match read.start {
            StreamStart::AtSegment(header) => header,
            StreamStart::WithHeader(expected) => {
                if (self.buf.len() as u64) < HEADER_LEN {
                    return Ok(false);
                }
                let header = StreamHeader::decode(&self.buf.split_to(HEADER_LEN as usize))?;
                expected.check(&header)?;
                header
            }
        };
        self.pending.pop_front();
        let cipher = StreamCipher::new(&self.data_key, &header)?;
        let span = read
            .span
            .unwrap_or_else(|| whole_span(&cipher, header.plaintext_len));
        self.current = Some(CurrentStream {
            cipher,
            plaintext_len: header.plaintext_len,
            next_index: span.first_segment,
            last_index: span.last_segment,
            skip: span.skip,
            remaining: span.take,
            record_follows: read.through_record && header.has_checksum_record(),
            segments_done: false,
            held: Bytes::new(),
        });
        Ok(true)
    }

    /// Verifies the current stream's checksum record once it is buffered.
    /// The record's value is not needed here (checksum reads fetch it
    /// separately); opening it proves the stream was not cut after its last
    /// segment nor given another stream's record.
    fn finish_record(&mut self) -> Result<Option<Bytes>, SealError> {
        let Some(stream) = self.current.as_mut() else {
            return Ok(None);
        };
        let len = SEALED_RECORD_LEN as usize;
        if self.buf.len() < len {
            return Ok(None);
        }
        let record = self.buf.split_to(len);
        stream.cipher.open_record(&record)?;
        let held = std::mem::take(&mut stream.held);
        self.current = None;
        Ok(Some(held))
    }

    /// Moves through the plan as far as the buffered bytes allow. Returns a
    /// plaintext frame when one segment is complete.
    fn advance(&mut self) -> Result<Option<Bytes>, SealError> {
        if self.current.is_none() && !self.start_stream()? {
            return Ok(None);
        }
        let Some(stream) = self.current.as_mut() else {
            return Ok(None);
        };
        if stream.segments_done {
            return self.finish_record();
        }
        let plain = stream
            .cipher
            .layout()
            .segment_plaintext_len(stream.plaintext_len, stream.next_index);
        let sealed = (plain + TAG_LEN) as usize;
        if self.buf.len() < sealed {
            return Ok(None);
        }
        let mut segment = self.buf.split_to(sealed);
        stream
            .cipher
            .open_segment(stream.next_index, &mut segment)?;
        // Release only the requested window of plaintext.
        let skip = stream.skip.min(segment.len() as u64);
        let _ = segment.split_to(skip as usize);
        stream.skip -= skip;
        segment.truncate(stream.remaining.min(segment.len() as u64) as usize);
        stream.remaining -= segment.len() as u64;
        self.remaining = self.remaining.saturating_sub(segment.len() as u64);
        if stream.next_index == stream.last_index {
            if stream.record_follows {
                stream.segments_done = true;
                stream.held = segment.freeze();
                return Ok(Some(Bytes::new()));
            }
            self.current = None;
        } else {
            stream.next_index += 1;
        }
        Ok(Some(segment.freeze()))
    }

    fn finished(&self) -> bool {
        self.current.is_none() && self.pending.is_empty() && self.buf.is_empty()
    }
}

/// Every segment of a stream, all of its plaintext.
fn whole_span(cipher: &StreamCipher, plaintext_len: u64) -> SegmentSpan {
    let layout = cipher.layout();
    let last_segment = cipher.segment_count() - 1;
    SegmentSpan {
        first_segment: 0,
        last_segment,
        sealed_first: HEADER_LEN,
        sealed_last: layout.segment_offset(last_segment)
            + layout.segment_plaintext_len(plaintext_len, last_segment)
            + TAG_LEN
            - 1,
        skip: 0,
        take: plaintext_len,
    }
}

impl<B> Body for UnsealingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            match this.advance() {
                Ok(Some(plain)) if plain.is_empty() => continue,
                Ok(Some(plain)) => {
                    crate::metrics::bytes_unsealed(plain.len() as u64);
                    return Poll::Ready(Some(Ok(Frame::data(plain))));
                }
                Ok(None) => {}
                Err(err) => {
                    this.fail();
                    return Poll::Ready(Some(Err(err.into())));
                }
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.sealed_seen += data.len() as u64;
                        this.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => {
                    this.fail();
                    return Poll::Ready(Some(Err(err.into())));
                }
                None => {
                    if this.finished() {
                        return Poll::Ready(None);
                    }
                    let expected = this.sealed_expected.unwrap_or(0);
                    let actual = this.sealed_seen;
                    this.fail();
                    return Poll::Ready(Some(
                        Err(SealError::Truncated { expected, actual }.into()),
                    ));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

impl<B> UnsealingBody<B> {
    fn fail(&mut self) {
        self.failed = true;
        self.current = None;
        self.pending.clear();
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::FailureSlot;
    use crate::seal::object_layout::{ReadPlan, SealedLayout};
    use crate::seal::{SealingBody, StreamChecksum};
    use http_body_util::{BodyExt, StreamBody};
    use proptest::prelude::*;

    type TestStream = StreamBody<futures_lite_stream::Iter>;

    /// A minimal stream of frames for feeding bodies in tests.
    mod futures_lite_stream {
        use super::*;
        pub struct Iter(pub std::vec::IntoIter<Bytes>);
        impl futures_core::Stream for Iter {
            type Item = Result<Frame<Bytes>, BoxError>;
            fn poll_next(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                Poll::Ready(self.0.next().map(|b| Ok(Frame::data(b))))
            }
        }
    }

    fn chunks(data: &[u8], chunk: usize) -> TestStream {
        let parts: Vec<Bytes> = data
            .chunks(chunk.max(1))
            .map(Bytes::copy_from_slice)
            .collect();
        StreamBody::new(futures_lite_stream::Iter(parts.into_iter()))
    }

    fn run<B: Body<Data = Bytes> + Unpin>(body: B) -> Result<Vec<u8>, String>
    where
        B::Error: std::fmt::Display,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            body.collect()
                .await
                .map(|c| c.to_bytes().to_vec())
                .map_err(|e| e.to_string())
        })
    }

    fn seal(key: &DataKey, data: &[u8], log2: u8, chunk: usize) -> Vec<u8> {
        let header = StreamHeader::new(log2, 0, data.len() as u64).unwrap();
        let body = SealingBody::new(
            chunks(data, chunk),
            key,
            header,
            StreamChecksum::full_object(None),
            FailureSlot::default(),
        )
        .unwrap();
        let expected_len = body.sealed_len();
        let out = run(body).unwrap();
        assert_eq!(out.len() as u64, expected_len);
        out
    }

    fn unseal(key: &DataKey, sealed: &[u8], len: u64, chunk: usize) -> Result<Vec<u8>, String> {
        let plan = ReadPlan::whole_single_stream(0, len);
        run(UnsealingBody::new(chunks(sealed, chunk), key.clone(), plan))
    }

    #[test]
    fn tamper_cases_fail() {
        let key = DataKey::generate().unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        let sealed = seal(&key, &data, 12, 1000);
        assert_eq!(unseal(&key, &sealed, 20_000, 777).unwrap(), data);

        let mut flipped = sealed.clone();
        flipped[5000] ^= 0x40;
        assert!(unseal(&key, &flipped, 20_000, 4096).is_err());

        assert!(unseal(&key, &sealed[..sealed.len() - 1], 20_000, 4096).is_err());
        // Dropping the whole last segment (a truncation on a segment boundary).
        let last = 20_000 - 4 * 4096 + 16;
        assert!(unseal(&key, &sealed[..sealed.len() - last], 20_000, 4096).is_err());
        assert!(unseal(&key, &sealed[..36], 20_000, 4096).is_err());
        // Cutting just the checksum record, or replacing it with another stream's.
        let without_record = &sealed[..sealed.len() - SEALED_RECORD_LEN as usize];
        assert!(unseal(&key, without_record, 20_000, 4096).is_err());
        let other = seal(&key, &data, 12, 1000);
        let mut foreign_record = sealed.clone();
        let at = sealed.len() - SEALED_RECORD_LEN as usize;
        foreign_record[at..].copy_from_slice(&other[at..]);
        assert!(unseal(&key, &foreign_record, 20_000, 4096).is_err());

        let mut longer = sealed.clone();
        longer.push(0);
        assert!(unseal(&key, &longer, 20_000, 4096).is_err());

        // Swapping two segments.
        let mut swapped = sealed.clone();
        let (a, b) = (36usize, 36 + 4096 + 16);
        let seg0 = swapped[a..b].to_vec();
        let seg1 = swapped[b..b + 4112].to_vec();
        swapped[a..b].copy_from_slice(&seg1);
        swapped[b..b + 4112].copy_from_slice(&seg0);
        assert!(unseal(&key, &swapped, 20_000, 4096).is_err());

        // Metadata claiming another length than the header.
        assert!(unseal(&key, &sealed, 19_999, 4096).is_err());
        // Wrong key.
        assert!(unseal(&DataKey::generate().unwrap(), &sealed, 20_000, 4096).is_err());
    }

    /// Reads plaintext `first..=last` the way a range GET does: header apart, then the span.
    fn unseal_range(
        key: &DataKey,
        sealed: &[u8],
        len: u64,
        first: u64,
        last: u64,
    ) -> Result<Vec<u8>, String> {
        let header = StreamHeader::decode(&sealed[..36]).unwrap();
        assert_eq!(header.plaintext_len, len);
        let plan = SealedLayout::new(vec![header])
            .unwrap()
            .plan_range(first, last)
            .unwrap();
        let (from, to) = plan.sealed_range.unwrap();
        let bytes = &sealed[from as usize..=to as usize];
        run(UnsealingBody::new(chunks(bytes, 1500), key.clone(), plan))
    }

    #[test]
    fn ranges_and_their_tampering() {
        let key = DataKey::generate().unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        let sealed = seal(&key, &data, 12, 3000);
        for (first, last) in [
            (0, 0),
            (0, 19_999),
            (4095, 4096),
            (8192, 8192),
            (19_999, 19_999),
            (100, 12_000),
        ] {
            assert_eq!(
                unseal_range(&key, &sealed, 20_000, first, last).unwrap(),
                &data[first as usize..=last as usize]
            );
        }
        // A flipped byte inside the span fails; one outside it is not read.
        let mut flipped = sealed.clone();
        flipped[36 + 4112 + 5] ^= 1;
        assert!(unseal_range(&key, &flipped, 20_000, 4096, 4100).is_err());
        assert!(unseal_range(&key, &flipped, 20_000, 0, 10).is_ok());
        // A short span (upstream returned fewer bytes) fails.
        let header = StreamHeader::decode(&sealed[..36]).unwrap();
        let plan = SealedLayout::new(vec![header])
            .unwrap()
            .plan_range(0, 5000)
            .unwrap();
        let (from, to) = plan.sealed_range.unwrap();
        let short = &sealed[from as usize..to as usize];
        assert!(run(UnsealingBody::new(chunks(short, 1000), key.clone(), plan)).is_err());
    }

    /// Seals `parts` as the streams of one multipart object.
    fn seal_parts(key: &DataKey, parts: &[(u32, Vec<u8>)]) -> (Vec<u8>, SealedLayout) {
        let mut stored = Vec::new();
        let mut headers = Vec::new();
        for (number, data) in parts {
            let header = StreamHeader::new(12, *number, data.len() as u64).unwrap();
            let body = SealingBody::new(
                chunks(data, 3000),
                key,
                header,
                StreamChecksum::full_object(None),
                FailureSlot::default(),
            )
            .unwrap();
            stored.extend(run(body).unwrap());
            headers.push(header);
        }
        (stored, SealedLayout::new(headers).unwrap())
    }

    fn read_plan(key: &DataKey, stored: &[u8], plan: ReadPlan) -> Result<Vec<u8>, String> {
        let bytes = match plan.sealed_range {
            Some((from, to)) => &stored[from as usize..=to as usize],
            None => stored,
        };
        run(UnsealingBody::new(chunks(bytes, 2000), key.clone(), plan))
    }

    #[test]
    fn multipart_objects_read_whole_by_range_and_by_part() {
        let key = DataKey::generate().unwrap();
        let parts: Vec<(u32, Vec<u8>)> = [(1, 9000usize), (2, 8192), (5, 0), (9, 3)]
            .iter()
            .map(|(n, len)| (*n, (0..*len).map(|i| (i * 7 + *n as usize) as u8).collect()))
            .collect();
        let plaintext: Vec<u8> = parts.iter().flat_map(|(_, d)| d.clone()).collect();
        let (stored, layout) = seal_parts(&key, &parts);
        assert_eq!(layout.sealed_len(), stored.len() as u64);
        assert_eq!(
            read_plan(&key, &stored, layout.plan_whole()).unwrap(),
            plaintext
        );
        for (first, last) in [
            (0, 17194),
            (8999, 9000),
            (9000, 17191),
            (17191, 17194),
            (4096, 12000),
        ] {
            let plan = layout.plan_range(first, last).unwrap();
            assert_eq!(
                read_plan(&key, &stored, plan).unwrap(),
                &plaintext[first as usize..=last as usize],
                "{first}-{last}"
            );
        }
        for (index, (_, data)) in parts.iter().enumerate() {
            let plan = layout.plan_stream(index).unwrap();
            assert_eq!(&read_plan(&key, &stored, plan).unwrap(), data);
        }
    }

    #[test]
    fn multipart_tampering_is_detected() {
        let key = DataKey::generate().unwrap();
        let part = |n: u32| (n, vec![n as u8; 5000]);
        let (stored, layout) = seal_parts(&key, &[part(1), part(2), part(3)]);
        let stream_len = layout.streams()[1].sealed_offset as usize;
        // Swapping parts 1 and 2.
        let mut swapped = stored[stream_len..2 * stream_len].to_vec();
        swapped.extend_from_slice(&stored[..stream_len]);
        swapped.extend_from_slice(&stored[2 * stream_len..]);
        assert!(read_plan(&key, &swapped, layout.plan_whole()).is_err());
        // Dropping the last part.
        assert!(read_plan(&key, &stored[..2 * stream_len], layout.plan_whole()).is_err());
        // Part 2 replaced by a re-sent upload of part 2 (same key and number, new salt).
        let (resent, _) = seal_parts(&key, &[part(1), part(2), part(3)]);
        let mut spliced = stored.clone();
        spliced[stream_len..2 * stream_len].copy_from_slice(&resent[stream_len..2 * stream_len]);
        assert!(read_plan(&key, &spliced, layout.plan_whole()).is_err());
        // A part from another object (another data key).
        let other = DataKey::generate().unwrap();
        let (foreign, foreign_layout) = seal_parts(&other, &[part(1), part(2), part(3)]);
        let mut spliced = stored.clone();
        spliced[stream_len..2 * stream_len].copy_from_slice(&foreign[stream_len..2 * stream_len]);
        let mut headers: Vec<_> = layout.headers().copied().collect();
        headers[1] = foreign_layout.streams()[1].header;
        let lying_layout = SealedLayout::new(headers).unwrap();
        assert!(read_plan(&key, &spliced, lying_layout.plan_whole()).is_err());
    }

    #[test]
    fn sealing_rejects_wrong_lengths() {
        let key = DataKey::generate().unwrap();
        let header = StreamHeader::new(12, 0, 10).unwrap();
        let short = SealingBody::new(
            chunks(&[1u8; 9], 4),
            &key,
            header,
            StreamChecksum::full_object(None),
            FailureSlot::default(),
        )
        .unwrap();
        assert!(run(short).is_err());
        let header = StreamHeader::new(12, 0, 10).unwrap();
        let slot = FailureSlot::default();
        let long = SealingBody::new(
            chunks(&[1u8; 11], 4),
            &key,
            header,
            StreamChecksum::full_object(None),
            slot.clone(),
        )
        .unwrap();
        assert!(run(long).is_err());
        assert!(slot.take().is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn round_trip_any_size_and_chunking(
            len in 0usize..40_000,
            log2 in 12u8..=14,
            in_chunk in 1usize..9000,
            out_chunk in 1usize..9000,
        ) {
            let key = DataKey::generate().unwrap();
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal(&key, &data, log2, in_chunk);
            prop_assert!(!data.is_empty() || sealed.len() == 52);
            prop_assert_eq!(unseal(&key, &sealed, len as u64, out_chunk).unwrap(), data);
        }

        /// A ranged read fetches only the planned sealed bytes and releases
        /// exactly the plaintext model's slice.
        #[test]
        fn ranges_match_the_plaintext_model(
            len in 1usize..40_000,
            log2 in 12u8..=13,
            a in any::<u64>(),
            b in any::<u64>(),
            in_chunk in 1usize..9000,
            out_chunk in 1usize..9000,
        ) {
            let key = DataKey::generate().unwrap();
            let data: Vec<u8> = (0..len).map(|i| (i * 131 % 253) as u8).collect();
            let sealed = seal(&key, &data, log2, in_chunk);
            let header = StreamHeader::decode(&sealed[..HEADER_LEN as usize]).unwrap();
            let layout = crate::seal::SealedLayout::new(vec![header]).unwrap();
            let (first, last) = {
                let (x, y) = (a % len as u64, b % len as u64);
                (x.min(y), x.max(y))
            };
            let plan = layout.plan_range(first, last).unwrap();
            let (sealed_first, sealed_last) = plan.sealed_range.unwrap();
            let fetched = &sealed[sealed_first as usize..=sealed_last as usize];
            let body = UnsealingBody::new(chunks(fetched, out_chunk), key.clone(), plan);
            let released = run(body).unwrap();
            prop_assert_eq!(&released[..], &data[first as usize..=last as usize]);
        }
    }
}
