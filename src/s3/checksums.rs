//! Flexible checksums of stored objects, as S3 reports them.
//!
//! Every sealed stream ends with its plaintext's checksum, sealed (see
//! [`crate::seal::ChecksumRecord`]): the client's algorithm, or CRC64NVME,
//! which S3 computes when a client sends none. This module decides which
//! checksum an upload records, keeps the parts' checksums of multipart uploads
//! in progress (so completion can check the client's list and combine them
//! without reading anything back), and reads an object's checksum back for
//! `x-amz-checksum-mode: ENABLED` reads and GetObjectAttributes.
//!
//! A multipart object's checksum is combined from its parts' at completion
//! and kept with its layout record; if that record is lost, the parts'
//! sealed records still hold everything needed to compute it again.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::layouts::{self, StoredObject};
use super::upstream_response;
use crate::error::{S3Error, S3ErrorCode};
use crate::integrity::checksum::combine_parts;
use crate::integrity::{ChecksumAlgorithm, ChecksumType, DeclaredChecksum};
use crate::kms::DataKey;
use crate::seal::layout::SEALED_RECORD_LEN;
use crate::seal::object_layout::StreamExtent;
use crate::seal::segment::StreamCipher;
use crate::seal::{ChecksumRecord, SealedLayout, StreamChecksum};
use crate::state::AppState;

/// Record reads in flight at once when a multipart checksum is recomputed.
const PARALLEL_RECORD_READS: usize = 8;

/// The checksum a multipart upload records for its parts, from
/// CreateMultipartUpload's `x-amz-checksum-algorithm` and `x-amz-checksum-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    #[serde(with = "algorithm_name")]
    pub algorithm: ChecksumAlgorithm,
    #[serde(with = "type_name")]
    pub object_type: ChecksumType,
    /// The client named the algorithm: parts must then use it.
    pub explicit: bool,
}

impl UploadChecksum {
    /// What an upload created without checksum headers records: S3's default.
    pub fn default_for_upload() -> Self {
        UploadChecksum {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            object_type: ChecksumType::FullObject,
            explicit: false,
        }
    }

    /// Reads CreateMultipartUpload's checksum headers, with S3's rules: an
    /// algorithm alone means COMPOSITE (FULL_OBJECT for CRC64NVME, which
    /// has no composite form); FULL_OBJECT needs a CRC.
    pub fn from_create_headers(headers: &HeaderMap) -> Result<Self, S3Error> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let algorithm = match text("x-amz-checksum-algorithm") {
            None => None,
            Some(name) => Some(ChecksumAlgorithm::from_name(name).ok_or_else(|| {
                S3Error::invalid_argument(format!(
                    "Checksum algorithm provided is unsupported: {name}"
                ))
            })?),
        };
        let object_type = match text("x-amz-checksum-type") {
            None => None,
            Some(name) => Some(ChecksumType::from_name(name).ok_or_else(|| {
                S3Error::invalid_argument(format!(
                    "Value for x-amz-checksum-type is invalid: {name}"
                ))
            })?),
        };
        let Some(algorithm) = algorithm else {
            if object_type.is_some() {
                return Err(S3Error::invalid_request(
                    "x-amz-checksum-type requires x-amz-checksum-algorithm",
                ));
            }
            return Ok(Self::default_for_upload());
        };
        let object_type = object_type.unwrap_or(if algorithm == ChecksumAlgorithm::Crc64Nvme {
            ChecksumType::FullObject
        } else {
            ChecksumType::Composite
        });
        let unsupported = match object_type {
            ChecksumType::FullObject => !algorithm.is_crc(),
            ChecksumType::Composite => algorithm == ChecksumAlgorithm::Crc64Nvme,
        };
        if unsupported {
            return Err(S3Error::invalid_request(format!(
                "The {} checksum type cannot be used with the {} checksum algorithm.",
                object_type.name(),
                algorithm.name().to_ascii_lowercase()
            )));
        }
        Ok(UploadChecksum {
            algorithm,
            object_type,
            explicit: true,
        })
    }

    pub fn stream_checksum(&self) -> StreamChecksum {
        StreamChecksum {
            algorithm: self.algorithm,
            object_type: self.object_type,
        }
    }

    /// A part may declare only the upload's algorithm, if the upload named one.
    pub fn check_part_algorithm(&self, declared: Option<ChecksumAlgorithm>) -> Result<(), S3Error> {
        match declared {
            Some(algorithm) if self.explicit && algorithm != self.algorithm => {
                Err(S3Error::invalid_request(format!(
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                    self.algorithm.name().to_ascii_lowercase(),
                    algorithm.name().to_ascii_lowercase()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Headers announcing the upload's checksum, as CreateMultipartUpload answers.
    pub fn insert_headers(&self, headers: &mut HeaderMap) {
        if self.explicit {
            headers.insert(
                "x-amz-checksum-algorithm",
                HeaderValue::from_static(self.algorithm.name()),
            );
        }
        headers.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static(self.object_type.name()),
        );
    }
}

/// One uploaded part's checksum, kept until its upload completes or aborts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartChecksum {
    /// The upload's algorithm: what the part's stream recorded.
    #[serde(with = "algorithm_name")]
    pub algorithm: ChecksumAlgorithm,
    /// Base64 of the digest, as S3 prints it.
    pub digest: String,
    pub plaintext_len: u64,
    /// A checksum of another algorithm the client sent with the part (an
    /// upload created without one takes any), verified; clients list it
    /// again in CompleteMultipartUpload.
    #[serde(default)]
    pub sent: Option<SentChecksum>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentChecksum {
    #[serde(with = "algorithm_name")]
    pub algorithm: ChecksumAlgorithm,
    pub digest: String,
}

impl PartChecksum {
    /// The part's checksums: the one its stream recorded and the one the
    /// client sent, if that is of another algorithm.
    pub fn of(
        recorded: Option<&ChecksumRecord>,
        sent: Option<&DeclaredChecksum>,
        plaintext_len: u64,
    ) -> Option<Self> {
        let recorded = recorded?;
        Some(PartChecksum {
            algorithm: recorded.algorithm,
            digest: B64.encode(&recorded.digest),
            plaintext_len,
            sent: sent
                .filter(|s| s.algorithm != recorded.algorithm)
                .map(|s| SentChecksum {
                    algorithm: s.algorithm,
                    digest: s.base64(),
                }),
        })
    }

    /// The checksum an UploadPart answers: the client's, else the recorded one.
    pub fn answered(&self) -> (ChecksumAlgorithm, &str) {
        match &self.sent {
            Some(sent) => (sent.algorithm, &sent.digest),
            None => (self.algorithm, &self.digest),
        }
    }

    /// Whether a checksum a client lists for this part is one of the part's.
    pub fn matches(&self, algorithm: ChecksumAlgorithm, value: &str) -> bool {
        (self.algorithm == algorithm && self.digest == value)
            || self
                .sent
                .as_ref()
                .is_some_and(|s| s.algorithm == algorithm && s.digest == value)
    }
}

/// Remembers an uploaded part's checksum under its ETag. A failure only
/// costs the object its checksum, so it is logged, not returned.
pub fn remember_part(
    state: &AppState,
    upload_id: &str,
    part: u32,
    etag: &str,
    checksum: &PartChecksum,
) {
    if let Err(err) = state
        .store
        .put_part_checksum(upload_id, part, etag, checksum)
    {
        tracing::warn!(error = %err, upload_id, part, "could not record a part's checksum");
    }
}

pub fn part_checksum(
    state: &AppState,
    upload_id: &str,
    part: u32,
    etag: &str,
) -> Option<PartChecksum> {
    state
        .store
        .get_part_checksum(upload_id, part, etag)
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, upload_id, part, "unreadable part checksum");
            None
        })
}

/// A whole object's checksum: what `x-amz-checksum-*` and GetObjectAttributes report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    #[serde(with = "algorithm_name")]
    pub algorithm: ChecksumAlgorithm,
    #[serde(with = "type_name")]
    pub object_type: ChecksumType,
    /// Base64 of the object's digest.
    pub digest: String,
    /// Base64 digests of the parts, in order (empty for a single PUT).
    #[serde(default)]
    pub parts: Vec<String>,
}

impl ObjectChecksum {
    pub fn single(record: &ChecksumRecord) -> Self {
        ObjectChecksum {
            algorithm: record.algorithm,
            object_type: ChecksumType::FullObject,
            digest: B64.encode(&record.digest),
            parts: Vec::new(),
        }
    }

    /// Combines the parts' checksums; `None` if a part has none of the
    /// upload's algorithm (uploaded by an s3seal that recorded none).
    pub fn combine(upload: UploadChecksum, parts: &[Option<PartChecksum>]) -> Option<Self> {
        let mut digests = Vec::with_capacity(parts.len());
        for part in parts {
            let part = part.as_ref().filter(|p| p.algorithm == upload.algorithm)?;
            digests.push((B64.decode(&part.digest).ok()?, part.plaintext_len));
        }
        let digest = combine_parts(upload.algorithm, upload.object_type, &digests)?;
        Some(ObjectChecksum {
            algorithm: upload.algorithm,
            object_type: upload.object_type,
            digest: B64.encode(digest),
            parts: digests.iter().map(|(d, _)| B64.encode(d)).collect(),
        })
    }

    /// The value as S3 prints it: a composite checksum carries `-<parts>`.
    pub fn value(&self) -> String {
        match self.object_type {
            ChecksumType::Composite => format!("{}-{}", self.digest, self.parts.len()),
            ChecksumType::FullObject => self.digest.clone(),
        }
    }

    pub fn insert_headers(&self, headers: &mut HeaderMap) {
        insert_checksum_headers(headers, self.algorithm, &self.value(), self.object_type);
    }

    /// The checksum of part `index` (0-based), as a `partNumber` read reports it.
    pub fn part(&self, index: usize) -> Option<&str> {
        self.parts.get(index).map(String::as_str)
    }
}

pub fn insert_checksum_headers(
    headers: &mut HeaderMap,
    algorithm: ChecksumAlgorithm,
    value: &str,
    object_type: ChecksumType,
) {
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(algorithm.header_name(), value);
        headers.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static(object_type.name()),
        );
    }
}

/// Whether a read asked for checksums (`x-amz-checksum-mode: ENABLED`).
pub fn checksum_mode(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-checksum-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"enabled"))
}

/// Reads and opens the checksum record of one stream of `object`; `None`
/// for a format-1 stream, which has none.
pub async fn read_record(
    state: &AppState,
    object: &StoredObject,
    extent: &StreamExtent,
    data_key: &DataKey,
) -> Result<Option<ChecksumRecord>, S3Error> {
    if !extent.header.has_checksum_record() {
        return Ok(None);
    }
    let end = extent.sealed_offset + extent.sealed_len - 1;
    let start = end + 1 - SEALED_RECORD_LEN;
    let body = layouts::read_stored_range(state, object, start, end).await?;
    let sealed = upstream_response::collect_limited(body, SEALED_RECORD_LEN as usize).await?;
    let cipher = StreamCipher::new(data_key, &extent.header)?;
    Ok(Some(cipher.open_record(&sealed)?))
}

/// A sealed object's checksum, read from its streams' records: the one
/// record of a single PUT, or every part's, combined as the parts declare.
pub async fn read_object_checksum(
    state: &AppState,
    object: &StoredObject,
    layout: &SealedLayout,
    data_key: &DataKey,
) -> Result<Option<ObjectChecksum>, S3Error> {
    let mut records: Vec<Option<ChecksumRecord>> = Vec::with_capacity(layout.streams().len());
    for batch in layout.streams().chunks(PARALLEL_RECORD_READS) {
        let reads: Vec<_> = batch
            .iter()
            .map(|extent| read_record(state, object, extent, data_key))
            .collect();
        records.extend(futures_util::future::try_join_all(reads).await?);
    }
    let single_part = layout
        .streams()
        .first()
        .is_some_and(|e| e.header.part_number == 0);
    if single_part {
        return Ok(records
            .first()
            .cloned()
            .flatten()
            .map(|r| ObjectChecksum::single(&r)));
    }
    let Some(Some(first)) = records.first() else {
        return Ok(None);
    };
    let upload = UploadChecksum {
        algorithm: first.algorithm,
        object_type: first.object_type,
        explicit: true,
    };
    let parts: Vec<Option<PartChecksum>> = records
        .iter()
        .zip(layout.streams())
        .map(|(record, extent)| {
            PartChecksum::of(record.as_ref(), None, extent.header.plaintext_len)
        })
        .collect();
    Ok(ObjectChecksum::combine(upload, &parts))
}

/// A multipart object's checksum: recorded with its layout, else computed
/// from its parts' sealed records (and recorded for next time).
pub async fn multipart_checksum(
    state: &AppState,
    object: &StoredObject,
    object_id: &str,
    layout: &SealedLayout,
    data_key: &DataKey,
) -> Result<Option<ObjectChecksum>, S3Error> {
    if let Some(checksum) = layouts::recorded_checksum(state, object_id) {
        return Ok(Some(checksum));
    }
    let checksum = read_object_checksum(state, object, layout, data_key).await?;
    if let Some(checksum) = &checksum {
        layouts::record_checksum(state, object_id, checksum);
    }
    Ok(checksum)
}

/// A single-part object of `plaintext_len` bytes whose header is still
/// unread: reads the header (the record's key derives from it), then the record.
pub async fn unread_single_part_checksum(
    state: &AppState,
    object: &StoredObject,
    plaintext_len: u64,
    data_key: &DataKey,
) -> Result<Option<ObjectChecksum>, S3Error> {
    let header = layouts::headers_at(state, object, &[0])
        .await?
        .pop()
        .ok_or_else(|| S3Error::internal("no stream header read"))?;
    let layout = layouts::single_part_layout(header, plaintext_len)?;
    layouts::check_stored_size(&layout, object.stored_size)?;
    single_part_checksum(state, object, &layout, data_key).await
}

/// A single-part object's checksum, from the record at the end of its stream.
pub async fn single_part_checksum(
    state: &AppState,
    object: &StoredObject,
    layout: &SealedLayout,
    data_key: &DataKey,
) -> Result<Option<ObjectChecksum>, S3Error> {
    let Some(extent) = layout.streams().first() else {
        return Ok(None);
    };
    let record = read_record(state, object, extent, data_key).await?;
    Ok(record.map(|r| ObjectChecksum::single(&r)))
}

/// Checks a checksum a client sent for the whole object with
/// CompleteMultipartUpload against the combined one.
pub fn check_declared_object_checksum(
    headers: &HeaderMap,
    computed: Option<&ObjectChecksum>,
) -> Result<(), S3Error> {
    for algorithm in ChecksumAlgorithm::ALL {
        let Some(declared) = headers.get(algorithm.header_name()) else {
            continue;
        };
        let declared = declared.to_str().unwrap_or_default();
        let matches = computed.is_some_and(|c| {
            c.algorithm == algorithm && (declared == c.value() || declared == c.digest)
        });
        if !matches {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    algorithm.header_name()
                ),
            ));
        }
    }
    Ok(())
}

mod algorithm_name {
    use super::ChecksumAlgorithm;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &ChecksumAlgorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(a.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChecksumAlgorithm, D::Error> {
        let name = String::deserialize(d)?;
        ChecksumAlgorithm::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown checksum algorithm {name}")))
    }
}

mod type_name {
    use super::ChecksumType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &ChecksumType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChecksumType, D::Error> {
        let name = String::deserialize(d)?;
        ChecksumType::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown checksum type {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(pairs: &[(&'static str, &'static str)]) -> Result<UploadChecksum, S3Error> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        UploadChecksum::from_create_headers(&headers)
    }

    #[test]
    fn upload_checksum_follows_s3s_rules() {
        assert_eq!(create(&[]).unwrap(), UploadChecksum::default_for_upload());
        let sha = create(&[("x-amz-checksum-algorithm", "SHA256")]).unwrap();
        assert_eq!(sha.object_type, ChecksumType::Composite);
        assert!(sha.explicit);
        let crc64 = create(&[("x-amz-checksum-algorithm", "crc64nvme")]).unwrap();
        assert_eq!(crc64.object_type, ChecksumType::FullObject);
        let full = create(&[
            ("x-amz-checksum-algorithm", "CRC32C"),
            ("x-amz-checksum-type", "FULL_OBJECT"),
        ])
        .unwrap();
        assert_eq!(full.object_type, ChecksumType::FullObject);
        for bad in [
            &[
                ("x-amz-checksum-algorithm", "SHA1"),
                ("x-amz-checksum-type", "FULL_OBJECT"),
            ][..],
            &[
                ("x-amz-checksum-algorithm", "CRC64NVME"),
                ("x-amz-checksum-type", "COMPOSITE"),
            ],
            &[("x-amz-checksum-type", "COMPOSITE")],
            &[("x-amz-checksum-algorithm", "MD5")],
        ] {
            assert!(create(bad).is_err(), "{bad:?}");
        }
        assert!(
            sha.check_part_algorithm(Some(ChecksumAlgorithm::Crc32))
                .is_err()
        );
        assert!(
            sha.check_part_algorithm(Some(ChecksumAlgorithm::Sha256))
                .is_ok()
        );
        assert!(sha.check_part_algorithm(None).is_ok());
        let default = UploadChecksum::default_for_upload();
        assert!(
            default
                .check_part_algorithm(Some(ChecksumAlgorithm::Crc32))
                .is_ok()
        );
    }

    #[test]
    fn parts_answer_and_accept_the_checksum_the_client_sent() {
        let record = ChecksumRecord {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            object_type: ChecksumType::FullObject,
            digest: vec![0; 8],
        };
        let sent = DeclaredChecksum {
            algorithm: ChecksumAlgorithm::Crc32,
            value: vec![1, 2, 3, 4],
            from_trailer: true,
        };
        let part = PartChecksum::of(Some(&record), Some(&sent), 9).unwrap();
        assert_eq!(part.answered(), (ChecksumAlgorithm::Crc32, "AQIDBA=="));
        assert!(part.matches(ChecksumAlgorithm::Crc32, "AQIDBA=="));
        assert!(part.matches(ChecksumAlgorithm::Crc64Nvme, "AAAAAAAAAAA="));
        assert!(!part.matches(ChecksumAlgorithm::Crc32, "AAAAAA=="));
        // Sent in the upload's own algorithm: one checksum, the recorded one.
        let same = PartChecksum::of(Some(&record), None, 9).unwrap();
        assert_eq!(
            same.answered(),
            (ChecksumAlgorithm::Crc64Nvme, "AAAAAAAAAAA=")
        );
        assert_eq!(PartChecksum::of(None, Some(&sent), 9), None);
    }

    #[test]
    fn composite_values_carry_the_part_count() {
        let part = |digest: &[u8]| {
            Some(PartChecksum {
                algorithm: ChecksumAlgorithm::Crc32,
                digest: B64.encode(digest),
                plaintext_len: 5,
                sent: None,
            })
        };
        let upload = create(&[("x-amz-checksum-algorithm", "CRC32")]).unwrap();
        let combined =
            ObjectChecksum::combine(upload, &[part(&[1, 2, 3, 4]), part(&[5, 6, 7, 8])]).unwrap();
        assert!(combined.value().ends_with("-2"), "{}", combined.value());
        assert_eq!(combined.part(1), Some(B64.encode([5, 6, 7, 8]).as_str()));
        // A part without a checksum leaves the object without one.
        assert_eq!(
            ObjectChecksum::combine(upload, &[part(&[1, 2, 3, 4]), None]),
            None
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-checksum-crc32",
            HeaderValue::from_static("AAAAAA==-2"),
        );
        assert!(check_declared_object_checksum(&headers, Some(&combined)).is_err());
        headers.insert(
            "x-amz-checksum-crc32",
            HeaderValue::try_from(combined.value()).unwrap(),
        );
        assert!(check_declared_object_checksum(&headers, Some(&combined)).is_ok());
    }
}
