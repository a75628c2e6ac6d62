//! [`VerifyingBody`]: passes a request body through unchanged while hashing it,
//! and turns the end of the stream into an error if any declared digest or the
//! declared length does not match.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use md5::Md5;
use sha2::{Digest, Sha256};

use super::DeclaredDigests;
use super::checksum::{ChecksumAlgorithm, ChecksumHasher};
use crate::body::{BoxError, FailureSlot};
use crate::error::{S3Error, S3ErrorCode};

pub struct VerifyingBody<B> {
    inner: B,
    sha256: Option<(Sha256, [u8; 32])>,
    md5: Option<(Md5, [u8; 16])>,
    /// Hasher, algorithm, expected digest (from a header, or from the trailer
    /// when `awaiting_trailer`).
    checksum: Option<(ChecksumHasher, ChecksumAlgorithm, Vec<u8>)>,
    awaiting_trailer: bool,
    declared_length: Option<u64>,
    received: u64,
    done: bool,
    failure: FailureSlot,
}

impl<B> VerifyingBody<B> {
    pub fn new(inner: B, declared: DeclaredDigests, failure: FailureSlot) -> Self {
        VerifyingBody {
            inner,
            sha256: declared.sha256.map(|d| (Sha256::new(), d)),
            md5: declared.content_md5.map(|d| (Md5::new(), d)),
            awaiting_trailer: declared.checksum.as_ref().is_some_and(|c| c.from_trailer),
            checksum: declared
                .checksum
                .map(|c| (c.algorithm.hasher(), c.algorithm, c.value)),
            declared_length: declared.length,
            received: 0,
            done: false,
            failure,
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.received += data.len() as u64;
        if let Some((h, _)) = &mut self.sha256 {
            h.update(data);
        }
        if let Some((h, _)) = &mut self.md5 {
            h.update(data);
        }
        if let Some((h, _, _)) = &mut self.checksum {
            h.update(data);
        }
    }

    fn take_trailer_checksum(&mut self, trailers: &http::HeaderMap) -> Result<(), S3Error> {
        if !self.awaiting_trailer {
            return Ok(());
        }
        let Some((_, algorithm, expected)) = &mut self.checksum else {
            return Ok(());
        };
        if let Some(value) = trailers.get(algorithm.header_name()) {
            *expected = super::DeclaredChecksum::decode_value(*algorithm, value)?;
            self.awaiting_trailer = false;
        }
        Ok(())
    }

    /// Checks every declared digest; called once, at the end of the body.
    fn verify(&mut self) -> Result<(), S3Error> {
        if let Some(declared) = self.declared_length
            && declared != self.received
        {
            return Err(S3Error::new(
                S3ErrorCode::IncompleteBody,
                format!(
                    "You did not provide the number of bytes specified by the Content-Length HTTP header ({} of {declared})",
                    self.received
                ),
            ));
        }
        if let Some((h, expected)) = self.sha256.take() {
            let computed: [u8; 32] = h.finalize().into();
            if computed != expected {
                return Err(S3Error::new(
                    S3ErrorCode::XAmzContentSHA256Mismatch,
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                )
                .with_detail("ClientComputedContentSHA256", hex::encode(expected))
                .with_detail("S3ComputedContentSHA256", hex::encode(computed)));
            }
        }
        if let Some((h, expected)) = self.md5.take()
            && h.finalize().as_slice() != expected
        {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
        if let Some((_, algorithm, _)) = &self.checksum
            && self.awaiting_trailer
        {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!(
                    "x-amz-trailer announced {} but the body had no such trailer",
                    algorithm.header_name()
                ),
            ));
        }
        if let Some((h, algorithm, expected)) = self.checksum.take()
            && h.finalize() != expected
        {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    algorithm.name()
                ),
            ));
        }
        Ok(())
    }
}

impl<B> Body for VerifyingBody<B>
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
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) if frame.is_trailers() => {
                // aws-chunked trailers: take the announced checksum, pass nothing on.
                if let Ok(trailers) = frame.into_trailers()
                    && let Err(err) = this.take_trailer_checksum(&trailers)
                {
                    this.done = true;
                    let message = err.to_string();
                    this.failure.record(err);
                    return Poll::Ready(Some(Err(message.into())));
                }
                Pin::new(this).poll_frame(cx)
            }
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.update(data);
                    if let Some(declared) = this.declared_length
                        && this.received > declared
                    {
                        this.done = true;
                        let err = S3Error::new(
                            S3ErrorCode::InvalidRequest,
                            "the request body is longer than its Content-Length",
                        );
                        let message = err.to_string();
                        this.failure.record(err);
                        return Poll::Ready(Some(Err(message.into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => {
                this.done = true;
                let err: BoxError = err.into();
                this.failure.record(S3Error::new(
                    S3ErrorCode::IncompleteBody,
                    format!("reading the request body failed: {err}"),
                ));
                Poll::Ready(Some(Err(err)))
            }
            None => {
                this.done = true;
                match this.verify() {
                    Ok(()) => Poll::Ready(None),
                    Err(err) => {
                        let message = err.to_string();
                        this.failure.record(err);
                        Poll::Ready(Some(Err(message.into())))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.declared_length
            .map(SizeHint::with_exact)
            .unwrap_or_default()
    }
}
