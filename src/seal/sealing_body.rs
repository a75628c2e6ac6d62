//! [`SealingBody`]: encrypts a plaintext body into a sealed stream as it flows.
//!
//! Memory is one segment buffer, whatever the object size, plus the sealed
//! segments of the input frame at hand: segments sealed from one input frame
//! leave as one output frame (up to [`MAX_BATCH`] bytes), so the upstream
//! gets one write per received frame rather than one per 64 KiB segment, and
//! no buffer is allocated per segment (throughput did not measurably change;
//! docs/benchmarks.md). The final segment
//! is released only after the plaintext body has *ended cleanly*: the inner
//! body is the digest-verifying body, which fails at its end if the payload
//! does not match what the client signed. Until the final segment is sent the
//! upstream has fewer bytes than the `Content-Length` it was promised, so a
//! failed verification aborts the upstream request and nothing is committed.
//!
//! It also computes the plaintext's checksum as it goes and, for a format-2
//! header, seals it as the stream's [`ChecksumRecord`] right after the final
//! segment; [`SealedChecksum`] hands the value to the handler afterwards.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::layout::{HEADER_LEN, TAG_LEN};
use super::segment::StreamCipher;
use super::{ChecksumRecord, SealError, StreamHeader};
use crate::body::{BoxError, FailureSlot};
use crate::error::{S3Error, S3ErrorCode};
use crate::integrity::checksum::ChecksumHasher;
use crate::integrity::{ChecksumAlgorithm, ChecksumType};
use crate::kms::DataKey;

/// Which checksum a stream records: the algorithm, and for a part, how the
/// object's checksum is formed from the parts'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub object_type: ChecksumType,
}

impl StreamChecksum {
    /// A whole object's checksum (a single PUT): S3's default is CRC64NVME.
    pub fn full_object(algorithm: Option<ChecksumAlgorithm>) -> Self {
        StreamChecksum {
            algorithm: algorithm.unwrap_or(ChecksumAlgorithm::Crc64Nvme),
            object_type: ChecksumType::FullObject,
        }
    }
}

/// The checksum a [`SealingBody`] computed, available once it sealed its last byte.
#[derive(Debug, Clone, Default)]
pub struct SealedChecksum(Arc<OnceLock<ChecksumRecord>>);

impl SealedChecksum {
    pub fn get(&self) -> Option<&ChecksumRecord> {
        self.0.get()
    }
}

/// The most sealed bytes held back to go out in one frame.
const MAX_BATCH: usize = 256 * 1024;

pub struct SealingBody<B> {
    inner: B,
    cipher: StreamCipher,
    plaintext_len: u64,
    sealed_len: u64,
    /// Sealed bytes not yet sent (the stream header first), followed by the
    /// plaintext of the segment being filled, which is sealed in place.
    out: BytesMut,
    /// Where the segment being filled starts in `out`.
    segment_start: usize,
    /// Bytes of the last inner frame not yet moved into `out`.
    pending: Bytes,
    next_index: u64,
    received: u64,
    finished: bool,
    failure: FailureSlot,
    checksum: StreamChecksum,
    hasher: Option<ChecksumHasher>,
    write_record: bool,
    computed: SealedChecksum,
}

impl<B> SealingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    pub fn new(
        inner: B,
        data_key: &DataKey,
        header: StreamHeader,
        checksum: StreamChecksum,
        failure: FailureSlot,
    ) -> Result<Self, SealError> {
        let cipher = StreamCipher::new(data_key, &header)?;
        let layout = cipher.layout();
        let sealed_len = layout.sealed_len(header.plaintext_len)?;
        let mut out = BytesMut::with_capacity(
            HEADER_LEN as usize + (layout.segment_size() + TAG_LEN) as usize,
        );
        out.extend_from_slice(&header.encode());
        Ok(SealingBody {
            inner,
            segment_start: out.len(),
            out,
            cipher,
            plaintext_len: header.plaintext_len,
            sealed_len,
            pending: Bytes::new(),
            next_index: 0,
            received: 0,
            finished: false,
            failure,
            checksum,
            hasher: Some(checksum.algorithm.hasher()),
            write_record: header.has_checksum_record(),
            computed: SealedChecksum::default(),
        })
    }

    /// Where the plaintext's checksum appears once the body has ended.
    pub fn checksum(&self) -> SealedChecksum {
        self.computed.clone()
    }

    /// Length of the sealed stream this body produces (the upstream `Content-Length`).
    pub fn sealed_len(&self) -> u64 {
        self.sealed_len
    }

    fn fail(&mut self, err: S3Error) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.finished = true;
        let message = err.to_string();
        self.failure.record(err);
        Poll::Ready(Some(Err(message.into())))
    }

    /// Plaintext bytes of the segment being filled.
    fn filled(&self) -> usize {
        self.out.len() - self.segment_start
    }

    /// Seals the segment being filled in place (no copy: it is split off
    /// `out`'s tail and joined back).
    fn seal_filled_segment(&mut self) -> Result<(), SealError> {
        crate::metrics::bytes_sealed(self.filled() as u64);
        let mut segment = self.out.split_off(self.segment_start);
        self.cipher.seal_segment(self.next_index, &mut segment)?;
        self.out.unsplit(segment);
        self.next_index += 1;
        self.segment_start = self.out.len();
        Ok(())
    }

    /// Everything sealed so far, as one frame.
    fn take_sealed(&mut self) -> Frame<Bytes> {
        let sealed = self.out.split_to(self.segment_start);
        self.segment_start = 0;
        Frame::data(sealed.freeze())
    }

    /// The final segment, followed by the checksum record (format 2).
    fn emit_final_segment(&mut self) -> Result<Frame<Bytes>, SealError> {
        self.seal_filled_segment()?;
        let record = ChecksumRecord {
            algorithm: self.checksum.algorithm,
            object_type: self.checksum.object_type,
            digest: self.hasher.take().map(|h| h.finalize()).unwrap_or_default(),
        };
        if self.write_record {
            let sealed = self.cipher.seal_record(&record)?;
            self.out.extend_from_slice(&sealed);
        }
        let _ = self.computed.0.set(record);
        self.segment_start = self.out.len();
        Ok(self.take_sealed())
    }

    fn too_long(&self) -> S3Error {
        S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!(
                "the request body is longer than its declared length of {} bytes",
                self.plaintext_len
            ),
        )
    }
}

impl<B> Body for SealingBody<B>
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
            if this.finished {
                return Poll::Ready(None);
            }
            let target = this
                .cipher
                .layout()
                .segment_plaintext_len(this.plaintext_len, this.next_index)
                as usize;
            if !this.pending.is_empty() {
                if this.filled() == 0 {
                    this.out.reserve(target + TAG_LEN as usize);
                }
                let take = (target - this.filled()).min(this.pending.len());
                this.out.extend_from_slice(&this.pending[..take]);
                this.pending.advance(take);
            }
            let segment_full = this.filled() == target;
            let is_final = this.next_index + 1 == this.cipher.segment_count();
            if segment_full && !is_final {
                if let Err(err) = this.seal_filled_segment() {
                    return this.fail(err.into());
                }
                // Seal the rest of the input at hand before sending.
                if !this.pending.is_empty() && this.segment_start < MAX_BATCH {
                    continue;
                }
                return Poll::Ready(Some(Ok(this.take_sealed())));
            }
            if segment_full && !this.pending.is_empty() {
                let err = this.too_long();
                return this.fail(err);
            }
            if !this.pending.is_empty() {
                continue;
            }
            // Need more input, or (final segment full) the inner body's clean end.
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.received += data.len() as u64;
                        if this.received > this.plaintext_len {
                            let err = this.too_long();
                            return this.fail(err);
                        }
                        if let Some(hasher) = &mut this.hasher {
                            hasher.update(&data);
                        }
                        this.pending = data;
                    }
                }
                Some(Err(err)) => {
                    let err: BoxError = err.into();
                    // The verifying body records its own typed failure; this covers transport errors.
                    let s3 = S3Error::new(
                        S3ErrorCode::IncompleteBody,
                        format!("reading the request body failed: {err}"),
                    );
                    return this.fail(s3);
                }
                None if segment_full => {
                    this.finished = true;
                    return match this.emit_final_segment() {
                        Ok(frame) => Poll::Ready(Some(Ok(frame))),
                        Err(err) => this.fail(err.into()),
                    };
                }
                None => {
                    let err = S3Error::new(
                        S3ErrorCode::IncompleteBody,
                        format!(
                            "you did not provide the number of bytes specified by the Content-Length header ({} of {})",
                            this.received, this.plaintext_len
                        ),
                    );
                    return this.fail(err);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.sealed_len)
    }
}
