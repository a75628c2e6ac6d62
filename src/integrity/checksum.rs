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

    /// The algorithm named in `x-amz-checksum-algorithm` (`CRC32`, `SHA256`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The XML element naming this checksum (`ChecksumCRC32`, …).
    pub fn xml_name(self) -> &'static str {
        match self {
            Self::Crc32 => "ChecksumCRC32",
            Self::Crc32c => "ChecksumCRC32C",
            Self::Crc64Nvme => "ChecksumCRC64NVME",
            Self::Sha1 => "ChecksumSHA1",
            Self::Sha256 => "ChecksumSHA256",
        }
    }

    /// Whether parts' checksums can be combined into the whole object's
    /// (CRCs only; S3 offers `FULL_OBJECT` for them alone).
    pub fn is_crc(self) -> bool {
        matches!(self, Self::Crc32 | Self::Crc32c | Self::Crc64Nvme)
    }

    fn crc_algorithm(self) -> Option<CrcAlgorithm> {
        match self {
            Self::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            Self::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            Self::Sha1 | Self::Sha256 => None,
        }
    }

    pub fn digest_len(self) -> usize {
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

/// How a multipart object's checksum relates to its parts' (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    /// The checksum of the whole object's bytes (always, for a single PUT).
    FullObject,
    /// The checksum of the parts' checksums, reported with a `-N` suffix.
    Composite,
}

impl ChecksumType {
    pub fn name(self) -> &'static str {
        match self {
            Self::FullObject => "FULL_OBJECT",
            Self::Composite => "COMPOSITE",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "FULL_OBJECT" => Some(Self::FullObject),
            "COMPOSITE" => Some(Self::Composite),
            _ => None,
        }
    }
}

/// A multipart object's checksum from its parts' checksums (binary digests,
/// in part order, each with its plaintext length). `None` when the type
/// cannot be computed for the algorithm (a full-object SHA).
pub fn combine_parts(
    algorithm: ChecksumAlgorithm,
    kind: ChecksumType,
    parts: &[(Vec<u8>, u64)],
) -> Option<Vec<u8>> {
    match kind {
        ChecksumType::Composite => {
            let mut hasher = algorithm.hasher();
            for (digest, _) in parts {
                hasher.update(digest);
            }
            Some(hasher.finalize())
        }
        ChecksumType::FullObject => {
            let crc = algorithm.crc_algorithm()?;
            let mut combined: Option<u64> = None;
            for (digest, len) in parts {
                let value = digest_to_u64(digest)?;
                combined = Some(match combined {
                    None => value,
                    Some(sum) => crc_fast::checksum_combine(crc, sum, value, *len),
                });
            }
            let combined = match combined {
                Some(value) => value,
                // No parts: the checksum of nothing.
                None => return Some(algorithm.hasher().finalize()),
            };
            Some(match algorithm {
                ChecksumAlgorithm::Crc64Nvme => combined.to_be_bytes().to_vec(),
                _ => (combined as u32).to_be_bytes().to_vec(),
            })
        }
    }
}

fn digest_to_u64(digest: &[u8]) -> Option<u64> {
    match digest.len() {
        4 => Some(u64::from(u32::from_be_bytes(digest.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(digest.try_into().ok()?)),
        _ => None,
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

    fn digest(algorithm: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
        let mut h = algorithm.hasher();
        h.update(data);
        h.finalize()
    }

    /// Combining the parts' CRCs gives the CRC of the concatenation.
    #[test]
    fn full_object_crcs_combine() {
        let parts: [&[u8]; 3] = [b"hello ", b"", b"world"];
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let digests: Vec<_> = parts
                .iter()
                .map(|p| (digest(algorithm, p), p.len() as u64))
                .collect();
            assert_eq!(
                combine_parts(algorithm, ChecksumType::FullObject, &digests),
                Some(digest(algorithm, b"hello world")),
                "{algorithm:?}"
            );
        }
        let sha = vec![(digest(ChecksumAlgorithm::Sha256, b"x"), 1)];
        assert_eq!(
            combine_parts(ChecksumAlgorithm::Sha256, ChecksumType::FullObject, &sha),
            None
        );
    }

    /// A composite checksum is the checksum of the concatenated part digests.
    #[test]
    fn composite_checksums_hash_the_part_digests() {
        let a = digest(ChecksumAlgorithm::Sha256, b"part one");
        let b = digest(ChecksumAlgorithm::Sha256, b"part two");
        let joined = [a.clone(), b.clone()].concat();
        assert_eq!(
            combine_parts(
                ChecksumAlgorithm::Sha256,
                ChecksumType::Composite,
                &[(a, 8), (b, 8)]
            ),
            Some(digest(ChecksumAlgorithm::Sha256, &joined))
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
