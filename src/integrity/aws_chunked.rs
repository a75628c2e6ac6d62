//! [`AwsChunkedBody`]: decodes `Content-Encoding: aws-chunked` request bodies
//! as they stream, verifying every chunk signature (SigV4 streaming) and
//! reading the trailing checksum headers.
//!
//! ```text
//! signed:    <hex size>;chunk-signature=<64 hex>\r\n<data>\r\n … 0;chunk-signature=<sig>\r\n
//!            [<trailer>:<value>\r\n … x-amz-trailer-signature:<sig>\r\n] \r\n
//! unsigned:  <hex size>\r\n<data>\r\n … 0\r\n [<trailer>:<value>\r\n …] \r\n
//! ```
//! Each chunk's signature chains the previous one (the first chains the
//! request's own signature, the *seed*), so chunks cannot be dropped,
//! reordered or altered. Decoded data is released as it arrives, before its
//! chunk's signature is known: a bad signature fails the body, and the body
//! failing aborts the upstream write (the sealed stream's last segment is
//! only sent once the body ended cleanly), so nothing is stored. Trailers are
//! handed on as an HTTP trailers frame for [`super::VerifyingBody`].

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::body::{BoxError, FailureSlot};
use crate::error::{S3Error, S3ErrorCode};

/// The SHA-256 of the empty string, part of every chunk's string to sign.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Longest chunk header or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Largest chunk accepted (clients use 8 KiB to 8 MiB).
const MAX_CHUNK: u64 = 16 * 1024 * 1024;

/// What verifying signed chunks needs from the request's own signature.
#[derive(Clone)]
pub struct ChunkSigning {
    pub signing_key: Zeroizing<[u8; 32]>,
    /// `x-amz-date` as signed.
    pub amz_date: String,
    /// `<date>/<region>/<service>/aws4_request`.
    pub scope: String,
    /// The request's signature: the seed of the chain.
    pub seed_signature: String,
}

impl std::fmt::Debug for ChunkSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ChunkSigning {
    /// The signature a chunk with SHA-256 `data_hash` must carry after `previous`.
    pub fn chunk_signature(&self, previous: &str, data_hash: &[u8; 32]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(data_hash)
        );
        crate::auth::sigv4::signature(&self.signing_key, &sts)
    }

    /// The signature of the trailing headers (their canonical `name:value\n` lines).
    pub fn trailer_signature(&self, previous: &str, canonical_trailers: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{previous}\n{}",
            self.amz_date,
            self.scope,
            hex::encode(Sha256::digest(canonical_trailers))
        );
        crate::auth::sigv4::signature(&self.signing_key, &sts)
    }
}

enum State {
    /// Reading `<hex size>[;chunk-signature=…]\r\n`.
    ChunkHeader,
    /// Inside a chunk's data.
    Data {
        remaining: u64,
        signature: Option<String>,
    },
    /// The `\r\n` after a chunk's data.
    DataEnd {
        signature: Option<String>,
    },
    /// After the final (empty) chunk: trailer lines until an empty line.
    Trailers,
    Done,
}

pub struct AwsChunkedBody<B> {
    inner: B,
    signing: Option<ChunkSigning>,
    previous: String,
    chunk_hash: Sha256,
    state: State,
    buf: BytesMut,
    trailers: HeaderMap,
    canonical_trailers: Vec<u8>,
    trailer_signature: Option<String>,
    failed: bool,
    failure: FailureSlot,
}

fn malformed(message: impl Into<String>) -> S3Error {
    S3Error::new(S3ErrorCode::IncompleteBody, message)
}

fn bad_signature(what: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::SignatureDoesNotMatch,
        format!("The {what} signature we calculated does not match the signature you provided."),
    )
}

impl<B> AwsChunkedBody<B> {
    /// `signing`: `Some` for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`,
    /// `None` for `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    pub fn new(inner: B, signing: Option<ChunkSigning>, failure: FailureSlot) -> Self {
        let previous = signing
            .as_ref()
            .map(|s| s.seed_signature.clone())
            .unwrap_or_default();
        AwsChunkedBody {
            inner,
            signing,
            previous,
            chunk_hash: Sha256::new(),
            state: State::ChunkHeader,
            buf: BytesMut::new(),
            trailers: HeaderMap::new(),
            canonical_trailers: Vec::new(),
            trailer_signature: None,
            failed: false,
            failure,
        }
    }

    /// Takes one `\r\n`-terminated line from the buffer, if complete.
    fn line(&mut self) -> Result<Option<Bytes>, S3Error> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(end) => {
                let line = self.buf.split_to(end).freeze();
                self.buf.advance(2);
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_LINE => {
                Err(malformed("an aws-chunked header line is too long"))
            }
            None => Ok(None),
        }
    }

    /// Advances the decoder; returns decoded data, or `None` when it needs more input.
    fn advance(&mut self) -> Result<Option<Bytes>, S3Error> {
        loop {
            match &mut self.state {
                State::ChunkHeader => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    let (size, signature) = self.parse_chunk_header(&line)?;
                    self.chunk_hash = Sha256::new();
                    self.state = if size == 0 {
                        self.verify_chunk(signature.as_deref())?;
                        State::Trailers
                    } else {
                        State::Data {
                            remaining: size,
                            signature,
                        }
                    };
                }
                State::Data {
                    remaining,
                    signature,
                } => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let take = (*remaining).min(self.buf.len() as u64) as usize;
                    let data = self.buf.split_to(take).freeze();
                    self.chunk_hash.update(&data);
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        let signature = signature.take();
                        self.state = State::DataEnd { signature };
                    }
                    return Ok(Some(data));
                }
                State::DataEnd { signature } => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(malformed(
                            "an aws-chunked chunk is longer than its declared size",
                        ));
                    }
                    self.buf.advance(2);
                    let signature = signature.take();
                    self.verify_chunk(signature.as_deref())?;
                    self.state = State::ChunkHeader;
                }
                State::Trailers => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.finish_trailers()?;
                        self.state = State::Done;
                        continue;
                    }
                    self.trailer_line(&line)?;
                }
                State::Done => {
                    if !self.buf.is_empty() {
                        return Err(malformed("data after the end of the aws-chunked body"));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn parse_chunk_header(&self, line: &[u8]) -> Result<(u64, Option<String>), S3Error> {
        let line = std::str::from_utf8(line)
            .map_err(|_| malformed("an aws-chunked header is not ASCII"))?;
        let (size, extension) = match line.split_once(';') {
            Some((size, ext)) => (size, Some(ext)),
            None => (line, None),
        };
        let size = u64::from_str_radix(size.trim(), 16).map_err(|_| {
            malformed(format!(
                "an aws-chunked chunk size is not hexadecimal: {size:?}"
            ))
        })?;
        if size > MAX_CHUNK {
            return Err(malformed("an aws-chunked chunk is larger than 16 MiB"));
        }
        let signature = match (extension, &self.signing) {
            (Some(ext), Some(_)) => Some(
                ext.strip_prefix("chunk-signature=")
                    .filter(|s| s.len() == 64)
                    .ok_or_else(|| malformed("an aws-chunked chunk has no valid chunk-signature"))?
                    .to_string(),
            ),
            (None, Some(_)) => {
                return Err(malformed(
                    "a signed aws-chunked chunk has no chunk-signature",
                ));
            }
            (_, None) => None,
        };
        Ok((size, signature))
    }

    fn verify_chunk(&mut self, provided: Option<&str>) -> Result<(), S3Error> {
        let Some(signing) = &self.signing else {
            return Ok(());
        };
        let hash: [u8; 32] = std::mem::take(&mut self.chunk_hash).finalize().into();
        let expected = signing.chunk_signature(&self.previous, &hash);
        match provided {
            Some(sig) if crate::auth::sigv4::signatures_match(sig, &expected) => {
                self.previous = expected;
                Ok(())
            }
            _ => Err(bad_signature("chunk")),
        }
    }

    fn trailer_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        let text = std::str::from_utf8(line).map_err(|_| malformed("a trailer is not ASCII"))?;
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| malformed(format!("a trailer is not name:value: {text:?}")))?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "x-amz-trailer-signature" {
            self.trailer_signature = Some(value.to_string());
            return Ok(());
        }
        if self.trailers.len() >= 16 {
            return Err(malformed("too many trailers"));
        }
        self.canonical_trailers
            .extend_from_slice(format!("{name}:{value}\n").as_bytes());
        let header = HeaderName::try_from(name.as_str())
            .map_err(|_| malformed("a trailer name is invalid"))?;
        let value =
            HeaderValue::try_from(value).map_err(|_| malformed("a trailer value is invalid"))?;
        self.trailers.insert(header, value);
        Ok(())
    }

    fn finish_trailers(&mut self) -> Result<(), S3Error> {
        let Some(signing) = &self.signing else {
            return Ok(());
        };
        match (&self.trailer_signature, self.trailers.is_empty()) {
            (None, true) => Ok(()),
            (Some(provided), _) => {
                let expected = signing.trailer_signature(&self.previous, &self.canonical_trailers);
                if crate::auth::sigv4::signatures_match(provided, &expected) {
                    Ok(())
                } else {
                    Err(bad_signature("trailer"))
                }
            }
            (None, false) => Err(bad_signature("trailer")),
        }
    }

    fn fail(&mut self, err: S3Error) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.failed = true;
        let message = err.message.clone();
        self.failure.record(err);
        Poll::Ready(Some(Err(message.into())))
    }
}

impl<B> Body for AwsChunkedBody<B>
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
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) => {}
                Err(err) => return this.fail(err),
            }
            if matches!(this.state, State::Done) {
                this.failed = true; // nothing more to yield
                let trailers = std::mem::take(&mut this.trailers);
                return Poll::Ready((!trailers.is_empty()).then(|| Ok(Frame::trailers(trailers))));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(err.into())));
                }
                None => {
                    return this.fail(malformed(
                        "the aws-chunked body ended before its final chunk",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// AWS's example from "Signature Calculations for the Authorization
    /// Header: Transferring Payload in Multiple Chunks": 66,560 bytes of 'a'
    /// in chunks of 65,536 and 1,024 bytes, then the final chunk.
    fn aws_example_signing() -> ChunkSigning {
        let key = crate::auth::sigv4::signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        ChunkSigning {
            signing_key: key,
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            seed_signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
                .into(),
        }
    }

    const CHUNK_1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    const CHUNK_2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
    const FINAL: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

    #[test]
    fn aws_documented_chunk_signatures() {
        let s = aws_example_signing();
        let one: [u8; 32] = Sha256::digest(vec![b'a'; 65536]).into();
        assert_eq!(s.chunk_signature(&s.seed_signature, &one), CHUNK_1);
        let two: [u8; 32] = Sha256::digest(vec![b'a'; 1024]).into();
        assert_eq!(s.chunk_signature(CHUNK_1, &two), CHUNK_2);
        let empty: [u8; 32] = Sha256::digest([]).into();
        assert_eq!(s.chunk_signature(CHUNK_2, &empty), FINAL);
    }

    fn encoded(chunks: &[(usize, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (size, sig) in chunks {
            out.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
            if *size > 0 {
                out.extend(std::iter::repeat_n(b'a', *size));
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    fn decode(
        body: Vec<u8>,
        signing: Option<ChunkSigning>,
        split: usize,
    ) -> Result<(Vec<u8>, HeaderMap), String> {
        let parts: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = body
            .chunks(split)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let inner = http_body_util::StreamBody::new(futures_util::stream::iter(parts));
        let decoder = AwsChunkedBody::new(inner, signing, FailureSlot::default());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let collected = decoder.collect().await.map_err(|e| e.to_string())?;
            let trailers = collected.trailers().cloned().unwrap_or_default();
            Ok((collected.to_bytes().to_vec(), trailers))
        })
    }

    #[test]
    fn decodes_and_verifies_the_aws_example_in_any_split() {
        let body = encoded(&[(65536, CHUNK_1), (1024, CHUNK_2), (0, FINAL)]);
        for split in [1, 7, 1000, 65536, body.len()] {
            let (data, _) = decode(body.clone(), Some(aws_example_signing()), split).unwrap();
            assert_eq!(data.len(), 66560);
            assert!(data.iter().all(|b| *b == b'a'));
        }
    }

    #[test]
    fn tampering_and_framing_errors_fail() {
        let good = encoded(&[(65536, CHUNK_1), (1024, CHUNK_2), (0, FINAL)]);
        let mut flipped = good.clone();
        flipped[100] = b'b';
        assert!(decode(flipped, Some(aws_example_signing()), 4096).is_err());
        let swapped = encoded(&[(65536, CHUNK_2), (1024, CHUNK_1), (0, FINAL)]);
        assert!(decode(swapped, Some(aws_example_signing()), 4096).is_err());
        let truncated = good[..good.len() - 90].to_vec();
        assert!(decode(truncated, Some(aws_example_signing()), 4096).is_err());
        let unsigned_header = b"5\r\nhello\r\n0\r\n\r\n".to_vec();
        assert!(decode(unsigned_header.clone(), Some(aws_example_signing()), 3).is_err());
        assert!(decode(b"zz\r\n".to_vec(), None, 3).is_err());
        assert!(
            decode(b"3\r\nabcd\r\n0\r\n\r\n".to_vec(), None, 3).is_err(),
            "chunk longer than declared"
        );
        assert!(decode(b"0\r\n\r\nextra".to_vec(), None, 3).is_err());
    }

    #[test]
    fn unsigned_bodies_with_trailers() {
        let body =
            b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".to_vec();
        for split in [1, 4, 100] {
            let (data, trailers) = decode(body.clone(), None, split).unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(trailers.get("x-amz-checksum-crc32").unwrap(), "DUoRhQ==");
        }
    }

    #[test]
    fn signed_trailers_are_verified() {
        let s = aws_example_signing();
        let empty: [u8; 32] = Sha256::digest([]).into();
        let data_hash: [u8; 32] = Sha256::digest(b"hi").into();
        let sig1 = s.chunk_signature(&s.seed_signature, &data_hash);
        let last = s.chunk_signature(&sig1, &empty);
        let trailer = "x-amz-checksum-crc32:AAAAAA==\n";
        let trailer_sig = s.trailer_signature(&last, trailer.as_bytes());
        let body = |sig: &str| {
            format!("2;chunk-signature={sig1}\r\nhi\r\n0;chunk-signature={last}\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:{sig}\r\n\r\n")
                .into_bytes()
        };
        let (data, trailers) = decode(body(&trailer_sig), Some(s.clone()), 5).unwrap();
        assert_eq!(data, b"hi");
        assert_eq!(trailers.get("x-amz-checksum-crc32").unwrap(), "AAAAAA==");
        assert!(decode(body(&"0".repeat(64)), Some(s), 5).is_err());
    }
}
