//! S3's flexible checksums: CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::{S3Error, S3ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// The request/response header carrying this checksum.
    pub fn header_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    pub fn hasher(self) -> ChecksumHasher {
        match self {
            Self::Crc32 => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
            Self::Crc32c => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
            Self::Crc64Nvme => ChecksumHasher::Crc(self, CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
            Self::Sha1 => ChecksumHasher::Sha1(Sha1::new()),
            Self::Sha256 => ChecksumHasher::Sha256(Sha256::new()),
        }
    }
}

/// An incremental checksum computation.
pub enum ChecksumHasher {
    Crc(ChecksumAlgorithm, CrcDigest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl ChecksumHasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            ChecksumHasher::Crc(_, d) => d.update(data),
            ChecksumHasher::Sha1(d) => d.update(data),
            ChecksumHasher::Sha256(d) => d.update(data),
        }
    }

    /// The checksum as S3 encodes it: big-endian bytes.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            ChecksumHasher::Crc(ChecksumAlgorithm::Crc64Nvme, d) => {
                d.finalize().to_be_bytes().to_vec()
            }
            ChecksumHasher::Crc(_, d) => (d.finalize() as u32).to_be_bytes().to_vec(),
            ChecksumHasher::Sha1(d) => d.finalize().to_vec(),
            ChecksumHasher::Sha256(d) => d.finalize().to_vec(),
        }
    }
}

/// A checksum the client sent in an `x-amz-checksum-*` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredChecksum {
    pub algorithm: ChecksumAlgorithm,
    /// The expected digest; empty until the trailer brings it if `from_trailer`.
    pub value: Vec<u8>,
    /// Declared with `x-amz-trailer`: the value comes after the body.
    pub from_trailer: bool,
}

impl DeclaredChecksum {
    pub fn base64(&self) -> String {
        B64.encode(&self.value)
    }

    /// Reads at most one `x-amz-checksum-<algorithm>` header.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, S3Error> {
        let mut found = None;
        for algorithm in ChecksumAlgorithm::ALL {
            let Some(value) = headers.get(algorithm.header_name()) else {
                continue;
            };
            if found.is_some() {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            found = Some(DeclaredChecksum {
                algorithm,
                value: Self::decode_value(algorithm, value)?,
                from_trailer: false,
            });
        }
        Ok(found)
    }

    /// The checksum an `x-amz-trailer: x-amz-checksum-<algorithm>` header announces.
    pub fn announced_in_trailer(headers: &HeaderMap) -> Result<Option<Self>, S3Error> {
        let Some(name) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        let name = name.trim().to_ascii_lowercase();
        let algorithm = ChecksumAlgorithm::ALL
            .into_iter()
            .find(|a| a.header_name() == name)
            .ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!("x-amz-trailer names an unsupported trailer: {name}"),
                )
            })?;
        Ok(Some(DeclaredChecksum {
            algorithm,
            value: Vec::new(),
            from_trailer: true,
        }))
    }

    /// Decodes a base64 checksum value of `algorithm`.
    pub fn decode_value(
        algorithm: ChecksumAlgorithm,
        value: &http::HeaderValue,
    ) -> Result<Vec<u8>, S3Error> {
        B64.decode(value.as_bytes())
            .ok()
            .filter(|d| d.len() == algorithm.digest_len())
            .ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!("Value for {} header is invalid.", algorithm.header_name()),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = algorithm.hasher();
        h.update(data);
        B64.encode(h.finalize())
    }

    /// Known values for "hello world" (as S3 and the AWS SDKs compute them).
    #[test]
    fn known_answers() {
        assert_eq!(b64_of(ChecksumAlgorithm::Crc32, b"hello world"), "DUoRhQ==");
        assert_eq!(
            b64_of(ChecksumAlgorithm::Crc32c, b"hello world"),
            "yZRlqg=="
        );
        assert_eq!(
            b64_of(ChecksumAlgorithm::Crc64Nvme, b"hello world"),
            "jSnVw/bqjr4="
        );
        assert_eq!(
            b64_of(ChecksumAlgorithm::Sha1, b"hello world"),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            b64_of(ChecksumAlgorithm::Sha256, b"hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }

    #[test]
    fn header_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(DeclaredChecksum::from_headers(&headers).unwrap(), None);
        headers.insert("x-amz-checksum-crc32", "DUoRhQ==".parse().unwrap());
        let c = DeclaredChecksum::from_headers(&headers).unwrap().unwrap();
        assert_eq!(c.algorithm, ChecksumAlgorithm::Crc32);
        assert_eq!(c.base64(), "DUoRhQ==");
        headers.insert(
            "x-amz-checksum-sha1",
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0=".parse().unwrap(),
        );
        assert!(DeclaredChecksum::from_headers(&headers).is_err());
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-checksum-crc32", "not base64!".parse().unwrap());
        assert!(DeclaredChecksum::from_headers(&headers).is_err());
    }
}
