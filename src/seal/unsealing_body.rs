//! [`UnsealingBody`]: verifies and decrypts a sealed stream as it flows.
//!
//! It reads either a whole stream (header first) or, for range reads, a span
//! of consecutive segments whose header was read separately, and releases
//! only the requested window of plaintext.
//!
//! Plaintext of a segment is released only after the segment's tag verified.
//! A truncated stream, trailing bytes, a header that disagrees with the
//! object's metadata, or any failed tag ends the body with an error; hyper
//! then aborts the response, so a client never mistakes a partial object for a
//! complete one.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::layout::{HEADER_LEN, SegmentSpan, TAG_LEN};
use super::segment::StreamCipher;
use super::{SealError, StreamHeader};
use crate::body::BoxError;
use crate::kms::DataKey;

/// What the reader knows about the stream before reading it (from metadata).
#[derive(Debug, Clone, Copy)]
pub struct ExpectedStream {
    pub part_number: u32,
    pub plaintext_len: u64,
}

enum State {
    Header(DataKey),
    Segments(Box<StreamCipher>),
    Done,
}

pub struct UnsealingBody<B> {
    inner: B,
    expected: ExpectedStream,
    state: State,
    buf: BytesMut,
    next_index: u64,
    /// Index of the last segment this body reads (`None`: the stream's last).
    last_index: Option<u64>,
    /// Plaintext bytes still to drop from the front, and still to release.
    skip: u64,
    remaining: u64,
    sealed_seen: u64,
    sealed_expected: u64,
}

impl<B> UnsealingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// Reads a whole stream, header first.
    pub fn new(inner: B, data_key: DataKey, expected: ExpectedStream) -> Self {
        UnsealingBody {
            inner,
            expected,
            state: State::Header(data_key),
            buf: BytesMut::new(),
            next_index: 0,
            last_index: None,
            skip: 0,
            remaining: expected.plaintext_len,
            sealed_seen: 0,
            sealed_expected: u64::MAX,
        }
    }

    /// Reads the segments of `span` (fetched without the header, which the
    /// caller already verified into `cipher`), releasing plaintext bytes
    /// `skip .. skip + take` of the span.
    pub fn for_span(
        inner: B,
        cipher: StreamCipher,
        expected: ExpectedStream,
        span: SegmentSpan,
    ) -> Self {
        UnsealingBody {
            inner,
            expected,
            state: State::Segments(Box::new(cipher)),
            buf: BytesMut::new(),
            next_index: span.first_segment,
            last_index: Some(span.last_segment),
            skip: span.skip,
            remaining: span.take,
            sealed_seen: 0,
            sealed_expected: span.sealed_last + 1 - span.sealed_first,
        }
    }

    /// Moves through the state machine as far as the buffered bytes allow.
    /// Returns a plaintext frame when one segment is complete.
    fn advance(&mut self) -> Result<Option<Bytes>, SealError> {
        if let State::Header(_) = &self.state {
            if (self.buf.len() as u64) < HEADER_LEN {
                return Ok(None);
            }
            let header = StreamHeader::decode(&self.buf.split_to(HEADER_LEN as usize))?;
            if header.plaintext_len != self.expected.plaintext_len {
                return Err(SealError::HeaderMismatch("plaintext length"));
            }
            if header.part_number != self.expected.part_number {
                return Err(SealError::HeaderMismatch("part number"));
            }
            let State::Header(key) = std::mem::replace(&mut self.state, State::Done) else {
                unreachable!()
            };
            let cipher = StreamCipher::new(&key, &header)?;
            self.sealed_expected = cipher.layout().sealed_len(header.plaintext_len)?;
            self.state = State::Segments(Box::new(cipher));
        }
        let State::Segments(cipher) = &self.state else {
            return if self.buf.is_empty() {
                Ok(None)
            } else {
                Err(SealError::TrailingData(self.buf.len() as u64))
            };
        };
        let plain = cipher
            .layout()
            .segment_plaintext_len(self.expected.plaintext_len, self.next_index);
        let sealed = (plain + TAG_LEN) as usize;
        if self.buf.len() < sealed {
            return Ok(None);
        }
        let mut segment = self.buf.split_to(sealed);
        cipher.open_segment(self.next_index, &mut segment)?;
        let last = self.last_index.unwrap_or(cipher.segment_count() - 1);
        if self.next_index == last {
            self.state = State::Done;
        }
        self.next_index += 1;
        // Release only the requested window of plaintext.
        let skip = self.skip.min(segment.len() as u64);
        let _ = segment.split_to(skip as usize);
        self.skip -= skip;
        segment.truncate(self.remaining.min(segment.len() as u64) as usize);
        self.remaining -= segment.len() as u64;
        Ok(Some(segment.freeze()))
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
        loop {
            match this.advance() {
                Ok(Some(plain)) if plain.is_empty() => continue,
                Ok(Some(plain)) => return Poll::Ready(Some(Ok(Frame::data(plain)))),
                Ok(None) => {}
                Err(err) => {
                    this.state = State::Done;
                    this.buf.clear();
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
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(err.into())));
                }
                None => {
                    return if matches!(this.state, State::Done) && this.buf.is_empty() {
                        Poll::Ready(None)
                    } else {
                        let expected = this.sealed_expected;
                        let actual = this.sealed_seen;
                        this.state = State::Done;
                        Poll::Ready(Some(Err(SealError::Truncated { expected, actual }.into())))
                    };
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::FailureSlot;
    use crate::seal::SealingBody;
    use crate::seal::segment::StreamCipher;
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
        let body =
            SealingBody::new(chunks(data, chunk), key, header, FailureSlot::default()).unwrap();
        let expected_len = body.sealed_len();
        let out = run(body).unwrap();
        assert_eq!(out.len() as u64, expected_len);
        out
    }

    fn unseal(key: &DataKey, sealed: &[u8], len: u64, chunk: usize) -> Result<Vec<u8>, String> {
        let expected = ExpectedStream {
            part_number: 0,
            plaintext_len: len,
        };
        run(UnsealingBody::new(
            chunks(sealed, chunk),
            key.clone(),
            expected,
        ))
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
        let cipher = StreamCipher::new(key, &header).unwrap();
        let span = cipher.layout().segments_for(len, first, last);
        let bytes = &sealed[span.sealed_first as usize..=span.sealed_last as usize];
        let expected = ExpectedStream {
            part_number: 0,
            plaintext_len: len,
        };
        run(UnsealingBody::for_span(
            chunks(bytes, 1500),
            cipher,
            expected,
            span,
        ))
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
        let cipher = StreamCipher::new(&key, &header).unwrap();
        let span = cipher.layout().segments_for(20_000, 0, 5000);
        let short = &sealed[span.sealed_first as usize..span.sealed_last as usize];
        let expected = ExpectedStream {
            part_number: 0,
            plaintext_len: 20_000,
        };
        assert!(
            run(UnsealingBody::for_span(
                chunks(short, 1000),
                cipher,
                expected,
                span
            ))
            .is_err()
        );
    }

    #[test]
    fn sealing_rejects_wrong_lengths() {
        let key = DataKey::generate().unwrap();
        let header = StreamHeader::new(12, 0, 10).unwrap();
        let short =
            SealingBody::new(chunks(&[1u8; 9], 4), &key, header, FailureSlot::default()).unwrap();
        assert!(run(short).is_err());
        let header = StreamHeader::new(12, 0, 10).unwrap();
        let slot = FailureSlot::default();
        let long = SealingBody::new(chunks(&[1u8; 11], 4), &key, header, slot.clone()).unwrap();
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
    }
}
