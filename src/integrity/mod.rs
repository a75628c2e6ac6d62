//! Integrity of request bodies: the digests a client declared, verified against
//! the plaintext as it streams.
//!
//! A client can declare the body's SHA-256 (`x-amz-content-sha256`, signed),
//! its MD5 (`Content-MD5`) and one flexible checksum (`x-amz-checksum-*`).
//! [`DeclaredDigests`] collects them from the request head; [`VerifyingBody`]
//! hashes every frame once and fails at the end of the stream on a mismatch,
//! which aborts the upstream request before anything is committed.

pub mod aws_chunked;
pub mod checksum;
pub mod verifying_body;

pub use checksum::{ChecksumAlgorithm, ChecksumType, DeclaredChecksum};
pub use verifying_body::{VerifiedChecksum, VerifyingBody};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::HeaderMap;

use crate::auth::PayloadHash;
use crate::error::{S3Error, S3ErrorCode};

/// Everything the client declared about a body it is sending.
#[derive(Debug, Clone, Default)]
pub struct DeclaredDigests {
    pub sha256: Option<[u8; 32]>,
    pub content_md5: Option<[u8; 16]>,
    pub checksum: Option<DeclaredChecksum>,
    /// `Content-Length` (the exact number of body bytes).
    pub length: Option<u64>,
}

impl DeclaredDigests {
    pub fn from_request(headers: &HeaderMap, payload: &PayloadHash) -> Result<Self, S3Error> {
        Self::parse(headers, payload, true)
    }

    /// The digests of a body whose `x-amz-checksum-*` headers describe
    /// something else (CompleteMultipartUpload: the whole object's checksum).
    pub fn without_checksum(headers: &HeaderMap, payload: &PayloadHash) -> Result<Self, S3Error> {
        Self::parse(headers, payload, false)
    }

    fn parse(
        headers: &HeaderMap,
        payload: &PayloadHash,
        with_checksum: bool,
    ) -> Result<Self, S3Error> {
        let streaming = matches!(payload, PayloadHash::Streaming(_));
        let sha256 = match payload {
            PayloadHash::Sha256(digest) => Some(*digest),
            PayloadHash::Unsigned => None,
            PayloadHash::Streaming(mode) if mode.contains("ECDSA") => {
                return Err(S3Error::not_implemented(format!(
                    "SigV4a aws-chunked uploads ({mode})"
                )));
            }
            // Every chunk is verified by the aws-chunked decoder instead.
            PayloadHash::Streaming(_) => None,
        };
        let content_md5 = match headers.get("content-md5") {
            None => None,
            Some(value) => Some(
                B64.decode(value.as_bytes())
                    .ok()
                    .and_then(|d| <[u8; 16]>::try_from(d).ok())
                    .ok_or_else(|| {
                        S3Error::new(
                            S3ErrorCode::InvalidDigest,
                            "The Content-MD5 you specified was invalid.",
                        )
                    })?,
            ),
        };
        // An aws-chunked body's own length includes the framing; the
        // object's is x-amz-decoded-content-length.
        let length_header = if streaming {
            "x-amz-decoded-content-length"
        } else {
            "content-length"
        };
        let length = match headers.get(length_header) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| S3Error::invalid_argument("Content-Length is not a number"))?,
            ),
        };
        Ok(DeclaredDigests {
            sha256,
            content_md5,
            checksum: if with_checksum {
                match DeclaredChecksum::from_headers(headers)? {
                    Some(checksum) => Some(checksum),
                    None => DeclaredChecksum::announced_in_trailer(headers)?,
                }
            } else {
                None
            },
            length,
        })
    }
}
