//! [`VerifyingBody`]: passes a request body through unchanged while hashing it,
//! and turns the end of the stream into an error if any declared digest or the
//! declared length does not match.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use md5::Md5;
use sha2::{Digest, Sha256};

use super::checksum::ChecksumHasher;
use super::{DeclaredChecksum, DeclaredDigests};
use crate::body::{BoxError, FailureSlot};
use crate::error::{S3Error, S3ErrorCode};

/// Where a [`VerifyingBody`] leaves the flexible checksum it verified.
///
/// S3 answers an upload with the checksum it verified. One sent in an
/// aws-chunked trailer is only known once the body has ended, long after the
/// handler read the request head, so the handler reads it from here.
#[derive(Clone, Default)]
pub struct VerifiedChecksum(Arc<Mutex<Option<DeclaredChecksum>>>);

impl VerifiedChecksum {
    fn record(&self, checksum: DeclaredChecksum) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(checksum);
        }
    }

    /// The checksum, once the body ended and matched it; `None` before, or
    /// if the client declared none.
    pub fn take(&self) -> Option<DeclaredChecksum> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

pub struct VerifyingBody<B> {
    inner: B,
    sha256: Option<(Sha256, [u8; 32])>,
    md5: Option<(Md5, [u8; 16])>,
    /// Hasher and the declared checksum, whose value comes from a header, or
    /// from the trailer when `awaiting_trailer`.
    checksum: Option<(ChecksumHasher, DeclaredChecksum)>,
    awaiting_trailer: bool,
    declared_length: Option<u64>,
    received: u64,
    done: bool,
    failure: FailureSlot,
    verified_checksum: VerifiedChecksum,
}

impl<B> VerifyingBody<B> {
    pub fn new(inner: B, declared: DeclaredDigests, failure: FailureSlot) -> Self {
        VerifyingBody {
            inner,
            sha256: declared.sha256.map(|d| (Sha256::new(), d)),
            md5: declared.content_md5.map(|d| (Md5::new(), d)),
            awaiting_trailer: declared.checksum.as_ref().is_some_and(|c| c.from_trailer),
            checksum: declared.checksum.map(|c| (c.algorithm.hasher(), c)),
            declared_length: declared.length,
            received: 0,
            done: false,
            failure,
            verified_checksum: VerifiedChecksum::default(),
        }
    }

    /// A handle on the checksum this body will have verified once it ended.
    pub fn verified_checksum(&self) -> VerifiedChecksum {
        self.verified_checksum.clone()
    }

    fn update(&mut self, data: &[u8]) {
        self.received += data.len() as u64;
        if let Some((h, _)) = &mut self.sha256 {
            h.update(data);
        }
        if let Some((h, _)) = &mut self.md5 {
            h.update(data);
        }
        if let Some((h, _)) = &mut self.checksum {
            h.update(data);
        }
    }

    fn take_trailer_checksum(&mut self, trailers: &http::HeaderMap) -> Result<(), S3Error> {
        if !self.awaiting_trailer {
            return Ok(());
        }
        let Some((_, declared)) = &mut self.checksum else {
            return Ok(());
        };
        if let Some(value) = trailers.get(declared.algorithm.header_name()) {
            declared.value = DeclaredChecksum::decode_value(declared.algorithm, value)?;
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
        if let Some((_, declared)) = &self.checksum
            && self.awaiting_trailer
        {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!(
                    "x-amz-trailer announced {} but the body had no such trailer",
                    declared.algorithm.header_name()
                ),
            ));
        }
        if let Some((h, declared)) = self.checksum.take() {
            if h.finalize() != declared.value {
                return Err(S3Error::new(
                    S3ErrorCode::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        declared.algorithm.name()
                    ),
                ));
            }
            self.verified_checksum.record(declared);
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
                this.failure
                    .record(if crate::body::is_idle_timeout(err.as_ref()) {
                        crate::body::idle_timeout_error()
                    } else {
                        S3Error::new(
                            S3ErrorCode::IncompleteBody,
                            format!("reading the request body failed: {err}"),
                        )
                    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::ChecksumAlgorithm;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use http::{HeaderMap, HeaderValue};
    use http_body_util::BodyExt;

    /// CRC32 of "hello world", as S3 and the AWS SDKs compute it.
    const HELLO_CRC32: &str = "DUoRhQ==";

    fn crc32(value: Vec<u8>, from_trailer: bool) -> DeclaredDigests {
        DeclaredDigests {
            checksum: Some(DeclaredChecksum {
                algorithm: ChecksumAlgorithm::Crc32,
                value,
                from_trailer,
            }),
            length: Some(11),
            ..DeclaredDigests::default()
        }
    }

    /// Runs "hello world" (then `trailer`, if any) through a VerifyingBody;
    /// returns whether the body ended cleanly and what it reports verified.
    fn run(declared: DeclaredDigests, trailer: Option<&str>) -> (bool, Option<DeclaredChecksum>) {
        let mut frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"hello "))),
            Ok(Frame::data(Bytes::from_static(b"world"))),
        ];
        if let Some(value) = trailer {
            let mut trailers = HeaderMap::new();
            trailers.insert(
                "x-amz-checksum-crc32",
                HeaderValue::from_str(value).unwrap(),
            );
            frames.push(Ok(Frame::trailers(trailers)));
        }
        let inner = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
        let body = VerifyingBody::new(inner, declared, FailureSlot::default());
        let verified = body.verified_checksum();
        assert_eq!(verified.take(), None, "nothing is verified before the end");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ok = rt.block_on(body.collect()).is_ok();
        (ok, verified.take())
    }

    #[test]
    fn reports_the_checksum_it_verified_from_a_header_or_a_trailer() {
        let expected = B64.decode(HELLO_CRC32).unwrap();
        let (ok, verified) = run(crc32(expected.clone(), false), None);
        assert!(ok);
        assert_eq!(verified.map(|c| c.base64()).as_deref(), Some(HELLO_CRC32));

        // Announced by x-amz-trailer: the value is only known at the end.
        let (ok, verified) = run(crc32(Vec::new(), true), Some(HELLO_CRC32));
        assert!(ok);
        let verified = verified.expect("the trailer's checksum");
        assert_eq!(verified.base64(), HELLO_CRC32);
        assert_eq!(verified.algorithm, ChecksumAlgorithm::Crc32);
    }

    #[test]
    fn reports_nothing_for_a_wrong_or_missing_checksum() {
        let (ok, verified) = run(crc32(vec![0; 4], false), None);
        assert!(!ok);
        assert_eq!(verified, None);
        let (ok, verified) = run(crc32(Vec::new(), true), Some("AAAAAA=="));
        assert!(!ok);
        assert_eq!(verified, None);
        let (ok, verified) = run(crc32(Vec::new(), true), None);
        assert!(!ok, "an announced trailer must arrive");
        assert_eq!(verified, None);
        let (ok, verified) = run(DeclaredDigests::default(), None);
        assert!(ok);
        assert_eq!(verified, None);
    }
}
