//! [`SealedObjectMetadata`]: what s3seal keeps in an object's upstream metadata.
//!
//! Everything needed to decrypt an object travels with it as `x-amz-meta-s3seal-*`
//! headers, so the object is readable from itself plus its KMS key alone.
//! The presence of `x-amz-meta-s3seal-format` is what marks an object as sealed;
//! objects without it were written to the upstream directly and are served as stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::SealError;

/// Prefix of every internal metadata header; clients may neither set nor see these.
pub const INTERNAL_META_PREFIX: &str = "x-amz-meta-s3seal-";
pub const ALGORITHM: &str = "AES256-GCM-HKDF-SHA256";

const FORMAT: &str = "x-amz-meta-s3seal-format";
const ALG: &str = "x-amz-meta-s3seal-alg";
const KEY_ID: &str = "x-amz-meta-s3seal-key-id";
const KEY_VERSION: &str = "x-amz-meta-s3seal-key-version";
const WRAPPED_KEY: &str = "x-amz-meta-s3seal-dk";
const BUCKET_KEY_BLOB: &str = "x-amz-meta-s3seal-bk";
/// The largest ciphertext blob AWS KMS accepts.
const MAX_KMS_BLOB: usize = 6144;
/// The longest key ARN accepted from metadata (AWS KeyId's limit).
const MAX_KEY_ARN: usize = 2048;
const PLAINTEXT_LEN: &str = "x-amz-meta-s3seal-len";
const SSE: &str = "x-amz-meta-s3seal-sse";
const CONTEXT: &str = "x-amz-meta-s3seal-ctx";
const BUCKET_KEY: &str = "x-amz-meta-s3seal-bke";
const MULTIPART_ID: &str = "x-amz-meta-s3seal-mpu";

/// How the client asked for the object to be encrypted; echoed back on reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseMode {
    /// `x-amz-server-side-encryption: aws:kms` (or the default).
    Kms,
    /// `x-amz-server-side-encryption: AES256`: sealed under s3seal's default key.
    S3Managed,
}

impl SseMode {
    pub fn header_value(self) -> &'static str {
        match self {
            SseMode::Kms => "aws:kms",
            SseMode::S3Managed => "AES256",
        }
    }
}

/// How an object's sealed body is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedShape {
    /// One stream (PutObject): the plaintext length is in the metadata.
    SinglePart { plaintext_len: u64 },
    /// One stream per part (a multipart upload). Its size is not known when
    /// the metadata is written, so the layout is kept in s3seal's store under
    /// `object_id` and can always be rebuilt from the stream headers.
    Multipart { object_id: String },
}

/// How an object's data key is kept; `x-amz-meta-s3seal-format` says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrappedDataKey {
    /// Format 1: a ciphertext blob of s3seal's built-in KMS.
    BuiltIn {
        /// Bare KMS key id (UUID) of the key that wrapped the data key.
        kms_key_id: String,
        kms_key_version: u32,
        /// The KMS ciphertext blob of the data key.
        blob: Vec<u8>,
    },
    /// Format 2: wrapped by s3seal under a bucket key
    /// ([`crate::kms::external::object_key`]), whose own ciphertext blob
    /// comes from an external KMS.
    UnderBucketKey {
        /// The external KMS key's ARN, as the KMS reported it.
        kms_key_arn: String,
        /// The external KMS's ciphertext blob of the bucket key (opaque).
        bucket_key_blob: Vec<u8>,
        /// The data key wrapped under the bucket key.
        wrapped_key: Vec<u8>,
    },
}

impl WrappedDataKey {
    pub fn format_version(&self) -> u8 {
        match self {
            WrappedDataKey::BuiltIn { .. } => 1,
            WrappedDataKey::UnderBucketKey { .. } => 2,
        }
    }

    /// Format 2: under a bucket key, so reported with `bucket-key-enabled: true`.
    pub fn under_bucket_key(&self) -> bool {
        matches!(self, WrappedDataKey::UnderBucketKey { .. })
    }

    /// The KMS key as logs name it: a built-in key's id, an external key's ARN.
    pub fn kms_key_name(&self) -> &str {
        match self {
            WrappedDataKey::BuiltIn { kms_key_id, .. } => kms_key_id,
            WrappedDataKey::UnderBucketKey { kms_key_arn, .. } => kms_key_arn,
        }
    }

    /// Whether both are wrapped the same way: under the same built-in key
    /// version, or under bucket keys of the same external key (the blobs
    /// differ by their nonces, and bucket keys by their age).
    pub fn same_kms_key(&self, other: &Self) -> bool {
        match (self, other) {
            (
                WrappedDataKey::BuiltIn {
                    kms_key_id: a,
                    kms_key_version: va,
                    ..
                },
                WrappedDataKey::BuiltIn {
                    kms_key_id: b,
                    kms_key_version: vb,
                    ..
                },
            ) => a == b && va == vb,
            (
                WrappedDataKey::UnderBucketKey { kms_key_arn: a, .. },
                WrappedDataKey::UnderBucketKey { kms_key_arn: b, .. },
            ) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedObjectMetadata {
    pub data_key: WrappedDataKey,
    pub shape: SealedShape,
    pub sse: SseMode,
    /// The client's own encryption context (the `x-amz-server-side-encryption-context`
    /// header value, base64 JSON), if it sent one.
    pub client_context: Option<String>,
    /// Reported as `x-amz-server-side-encryption-bucket-key-enabled`: what the
    /// client asked for (format 1), always true under a bucket key (format 2).
    pub bucket_key_enabled: bool,
}

impl SealedObjectMetadata {
    pub fn to_headers(&self, headers: &mut HeaderMap) -> Result<(), SealError> {
        let mut put = |name: &'static str, value: String| -> Result<(), SealError> {
            let value = HeaderValue::try_from(value)
                .map_err(|e| SealError::MalformedMetadata(e.to_string()))?;
            headers.insert(HeaderName::from_static(name), value);
            Ok(())
        };
        put(FORMAT, self.data_key.format_version().to_string())?;
        put(ALG, ALGORITHM.to_string())?;
        match &self.data_key {
            WrappedDataKey::BuiltIn {
                kms_key_id,
                kms_key_version,
                blob,
            } => {
                put(KEY_ID, kms_key_id.clone())?;
                put(KEY_VERSION, kms_key_version.to_string())?;
                put(WRAPPED_KEY, B64.encode(blob))?;
            }
            WrappedDataKey::UnderBucketKey {
                kms_key_arn,
                bucket_key_blob,
                wrapped_key,
            } => {
                put(KEY_ID, kms_key_arn.clone())?;
                put(BUCKET_KEY_BLOB, B64.encode(bucket_key_blob))?;
                put(WRAPPED_KEY, B64.encode(wrapped_key))?;
            }
        }
        match &self.shape {
            SealedShape::SinglePart { plaintext_len } => {
                put(PLAINTEXT_LEN, plaintext_len.to_string())?
            }
            SealedShape::Multipart { object_id } => put(MULTIPART_ID, object_id.clone())?,
        }
        put(SSE, self.sse.header_value().to_string())?;
        if let Some(ctx) = &self.client_context {
            put(CONTEXT, ctx.clone())?;
        }
        if self.bucket_key_enabled || self.data_key.under_bucket_key() {
            put(BUCKET_KEY, "true".to_string())?;
        }
        Ok(())
    }

    /// Reads the metadata from upstream response headers. `Ok(None)` means the
    /// object is not sealed (it was written to the upstream directly).
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, SealError> {
        let Some(format) = headers.get(FORMAT) else {
            return Ok(None);
        };
        let text = |name: &'static str| text(headers, name);
        let format_version: u8 = format
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(FORMAT))?;
        if text(ALG)? != ALGORITHM {
            return Err(bad(ALG));
        }
        let sse = match headers.get(SSE).map(|v| v.as_bytes()) {
            Some(b"AES256") => SseMode::S3Managed,
            Some(b"aws:kms") | None => SseMode::Kms,
            Some(_) => return Err(bad(SSE)),
        };
        let data_key = match format_version {
            1 => Self::built_in_key(headers)?,
            2 => Self::key_under_bucket_key(headers)?,
            other => return Err(SealError::UnsupportedVersion(other)),
        };
        Ok(Some(SealedObjectMetadata {
            bucket_key_enabled: data_key.under_bucket_key()
                || headers.get(BUCKET_KEY).is_some_and(|v| v == "true"),
            data_key,
            shape: match (
                headers.contains_key(PLAINTEXT_LEN),
                headers.get(MULTIPART_ID),
            ) {
                (true, None) => SealedShape::SinglePart {
                    plaintext_len: text(PLAINTEXT_LEN)?
                        .parse()
                        .map_err(|_| bad(PLAINTEXT_LEN))?,
                },
                (false, Some(_)) => {
                    let id = text(MULTIPART_ID)?;
                    if id.is_empty() || id.len() > 64 {
                        return Err(bad(MULTIPART_ID));
                    }
                    SealedShape::Multipart {
                        object_id: id.to_string(),
                    }
                }
                _ => {
                    return Err(SealError::MalformedMetadata(format!(
                        "exactly one of {PLAINTEXT_LEN} and {MULTIPART_ID} must be present"
                    )));
                }
            },
            sse,
            client_context: headers
                .get(CONTEXT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }))
    }

    /// Format 1: `key-id`, `key-version` and the built-in KMS's blob in `dk`.
    fn built_in_key(headers: &HeaderMap) -> Result<WrappedDataKey, SealError> {
        let kms_key_id = text(headers, KEY_ID)?.to_string();
        let kms_key_version: u32 = text(headers, KEY_VERSION)?
            .parse()
            .map_err(|_| bad(KEY_VERSION))?;
        let blob = base64(headers, WRAPPED_KEY)?;
        // The readable key fields must name the key inside the wrapped blob, which
        // is what decryption authenticates; HEAD reports them without unwrapping.
        let parsed = crate::kms::CiphertextBlob::decode(&blob).map_err(|_| bad(WRAPPED_KEY))?;
        if parsed.key_id.to_string() != kms_key_id || parsed.key_version != kms_key_version {
            return Err(SealError::MalformedMetadata(
                "the key id or version disagrees with the wrapped data key".into(),
            ));
        }
        Ok(WrappedDataKey::BuiltIn {
            kms_key_id,
            kms_key_version,
            blob,
        })
    }

    /// Format 2: the external key's ARN in `key-id`, the bucket key's KMS
    /// blob in `bk`, the locally wrapped data key in `dk`. The ARN is checked
    /// by the KMS itself on Decrypt (it is the call's `KeyId`).
    fn key_under_bucket_key(headers: &HeaderMap) -> Result<WrappedDataKey, SealError> {
        let kms_key_arn = text(headers, KEY_ID)?;
        if kms_key_arn.is_empty() || kms_key_arn.len() > MAX_KEY_ARN {
            return Err(bad(KEY_ID));
        }
        let bucket_key_blob = base64(headers, BUCKET_KEY_BLOB)?;
        if bucket_key_blob.is_empty() || bucket_key_blob.len() > MAX_KMS_BLOB {
            return Err(bad(BUCKET_KEY_BLOB));
        }
        let wrapped_key = base64(headers, WRAPPED_KEY)?;
        if wrapped_key.len() != crate::kms::external::object_key::WRAPPED_LEN {
            return Err(bad(WRAPPED_KEY));
        }
        Ok(WrappedDataKey::UnderBucketKey {
            kms_key_arn: kms_key_arn.to_string(),
            bucket_key_blob,
            wrapped_key,
        })
    }

    /// True for header names that belong to s3seal and must not reach clients.
    pub fn is_internal_header(name: &str) -> bool {
        name.len() >= INTERNAL_META_PREFIX.len()
            && name[..INTERNAL_META_PREFIX.len()].eq_ignore_ascii_case(INTERNAL_META_PREFIX)
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, SealError> {
    headers
        .get(name)
        .ok_or_else(|| SealError::MalformedMetadata(format!("{name} is missing")))?
        .to_str()
        .map_err(|_| SealError::MalformedMetadata(format!("{name} is not ASCII")))
}

fn base64(headers: &HeaderMap, name: &'static str) -> Result<Vec<u8>, SealError> {
    B64.decode(text(headers, name)?).map_err(|_| bad(name))
}

fn bad(name: &str) -> SealError {
    SealError::MalformedMetadata(format!("{name} is malformed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> SealedObjectMetadata {
        let key_id =
            crate::kms::key_id::KeyId::parse("0b2c3d4e-0000-4000-8000-000000000001").unwrap();
        let blob = crate::kms::CiphertextBlob {
            key_id,
            key_version: 3,
            nonce: [7; 12],
            sealed: vec![1; 48],
        };
        SealedObjectMetadata {
            data_key: WrappedDataKey::BuiltIn {
                kms_key_id: key_id.to_string(),
                kms_key_version: 3,
                blob: blob.encode(),
            },
            shape: SealedShape::SinglePart {
                plaintext_len: 12345,
            },
            sse: SseMode::S3Managed,
            client_context: Some("eyJhIjoiYiJ9".into()),
            bucket_key_enabled: true,
        }
    }

    #[test]
    fn multi_region_key_ids_round_trip_and_must_match_the_blob() {
        let mut meta = sample();
        let key_id =
            crate::kms::key_id::KeyId::parse("mrk-1234abcd12ab34cd56ef1234567890ab").unwrap();
        let WrappedDataKey::BuiltIn {
            kms_key_id, blob, ..
        } = &mut meta.data_key
        else {
            panic!("the sample is format 1");
        };
        let mut parsed = crate::kms::CiphertextBlob::decode(blob).unwrap();
        parsed.key_id = key_id;
        *blob = parsed.encode();
        *kms_key_id = key_id.to_string();
        let mut headers = HeaderMap::new();
        meta.to_headers(&mut headers).unwrap();
        assert_eq!(
            SealedObjectMetadata::from_headers(&headers).unwrap(),
            Some(meta.clone())
        );
        // The readable key id must name the key inside the blob.
        headers.insert(
            KEY_ID,
            HeaderValue::from_static("0b2c3d4e-0000-4000-8000-000000000001"),
        );
        assert!(SealedObjectMetadata::from_headers(&headers).is_err());
    }

    #[test]
    fn round_trip_through_headers() {
        let mut headers = HeaderMap::new();
        sample().to_headers(&mut headers).unwrap();
        assert_eq!(
            SealedObjectMetadata::from_headers(&headers).unwrap(),
            Some(sample())
        );
        assert!(
            headers
                .keys()
                .all(|k| SealedObjectMetadata::is_internal_header(k.as_str()))
        );
    }

    #[test]
    fn multipart_shape_round_trips_and_excludes_a_length() {
        let mut meta = sample();
        meta.shape = SealedShape::Multipart {
            object_id: "4f1c".into(),
        };
        let mut headers = HeaderMap::new();
        meta.to_headers(&mut headers).unwrap();
        assert!(!headers.contains_key(PLAINTEXT_LEN));
        assert_eq!(
            SealedObjectMetadata::from_headers(&headers).unwrap(),
            Some(meta)
        );
        headers.insert(PLAINTEXT_LEN, HeaderValue::from_static("5"));
        assert!(SealedObjectMetadata::from_headers(&headers).is_err());
    }

    #[test]
    fn absent_means_plaintext_object() {
        assert_eq!(
            SealedObjectMetadata::from_headers(&HeaderMap::new()).unwrap(),
            None
        );
    }

    #[test]
    fn missing_or_bad_fields_are_errors() {
        let mut headers = HeaderMap::new();
        sample().to_headers(&mut headers).unwrap();
        headers.remove(WRAPPED_KEY);
        assert!(SealedObjectMetadata::from_headers(&headers).is_err());
        let mut headers = HeaderMap::new();
        sample().to_headers(&mut headers).unwrap();
        headers.insert(PLAINTEXT_LEN, HeaderValue::from_static("-1"));
        assert!(SealedObjectMetadata::from_headers(&headers).is_err());
        headers.insert(FORMAT, HeaderValue::from_static("9"));
        assert_eq!(
            SealedObjectMetadata::from_headers(&headers),
            Err(SealError::UnsupportedVersion(9))
        );
    }

    #[test]
    fn key_fields_must_match_the_wrapped_key() {
        let mut headers = HeaderMap::new();
        sample().to_headers(&mut headers).unwrap();
        headers.insert(
            KEY_ID,
            HeaderValue::from_static("0b2c3d4e-0000-4000-8000-000000000002"),
        );
        assert!(SealedObjectMetadata::from_headers(&headers).is_err());
        let mut headers = HeaderMap::new();
        sample().to_headers(&mut headers).unwrap();
        headers.insert(KEY_VERSION, HeaderValue::from_static("4"));
        assert!(SealedObjectMetadata::from_headers(&headers).is_err());
    }

    #[test]
    fn internal_header_detection() {
        assert!(SealedObjectMetadata::is_internal_header(
            "X-Amz-Meta-S3seal-Dk"
        ));
        assert!(!SealedObjectMetadata::is_internal_header(
            "x-amz-meta-color"
        ));
        assert!(!SealedObjectMetadata::is_internal_header("x-amz-meta-s3"));
    }

    fn under_bucket_key(bucket_key_blob: Vec<u8>, kms_key_arn: &str) -> SealedObjectMetadata {
        SealedObjectMetadata {
            data_key: WrappedDataKey::UnderBucketKey {
                kms_key_arn: kms_key_arn.to_string(),
                bucket_key_blob,
                wrapped_key: vec![1; crate::kms::external::object_key::WRAPPED_LEN],
            },
            bucket_key_enabled: true,
            ..sample()
        }
    }

    #[test]
    fn format_2_round_trips_and_always_reports_a_bucket_key() {
        let meta = under_bucket_key(
            vec![9; 184],
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        );
        let mut headers = HeaderMap::new();
        meta.to_headers(&mut headers).unwrap();
        assert_eq!(headers[FORMAT], "2");
        assert_eq!(headers[BUCKET_KEY], "true");
        assert!(!headers.contains_key(KEY_VERSION));
        assert_eq!(
            SealedObjectMetadata::from_headers(&headers).unwrap(),
            Some(meta.clone())
        );
        headers.remove(BUCKET_KEY);
        let read = SealedObjectMetadata::from_headers(&headers)
            .unwrap()
            .unwrap();
        assert!(read.bucket_key_enabled);
        assert_eq!(read.data_key.format_version(), 2);
    }

    #[test]
    fn format_2_needs_its_fields() {
        let meta = under_bucket_key(vec![9; 32], "arn:aws:kms:us-east-1:000000000000:key/k");
        for (name, value) in [
            (BUCKET_KEY_BLOB, None),
            (BUCKET_KEY_BLOB, Some("")),
            (BUCKET_KEY_BLOB, Some("not base64!")),
            (WRAPPED_KEY, Some("AAAA")),
            (WRAPPED_KEY, None),
            (KEY_ID, Some("")),
            (KEY_ID, None),
        ] {
            let mut headers = HeaderMap::new();
            meta.to_headers(&mut headers).unwrap();
            match value {
                Some(v) => headers.insert(name, HeaderValue::from_static(v)),
                None => headers.remove(name),
            };
            assert!(
                SealedObjectMetadata::from_headers(&headers).is_err(),
                "{name} = {value:?}"
            );
        }
    }

    #[test]
    fn the_two_formats_never_read_as_each_other() {
        // A format-1 description relabelled as format 2 lacks the bucket key
        // blob; a format-2 one relabelled as 1 has no version nor built-in blob.
        let mut headers = HeaderMap::new();
        sample().to_headers(&mut headers).unwrap();
        headers.insert(FORMAT, HeaderValue::from_static("2"));
        assert!(SealedObjectMetadata::from_headers(&headers).is_err());
        let mut headers = HeaderMap::new();
        under_bucket_key(vec![9; 32], "arn:k")
            .to_headers(&mut headers)
            .unwrap();
        headers.insert(FORMAT, HeaderValue::from_static("1"));
        assert!(SealedObjectMetadata::from_headers(&headers).is_err());
    }

    #[test]
    fn same_kms_key_compares_what_wraps_the_key() {
        let a = under_bucket_key(vec![1; 32], "arn:a").data_key;
        let a_again = under_bucket_key(vec![2; 32], "arn:a").data_key;
        let b = under_bucket_key(vec![1; 32], "arn:b").data_key;
        assert!(a.same_kms_key(&a_again));
        assert!(!a.same_kms_key(&b));
        assert!(!a.same_kms_key(&sample().data_key));
        assert!(sample().data_key.same_kms_key(&sample().data_key));
    }

    proptest! {
        #[test]
        fn format_2_round_trips_any_blob_and_arn(
            blob in proptest::collection::vec(any::<u8>(), 1..=MAX_KMS_BLOB),
            arn in "arn:aws:kms:[a-z0-9-]{1,20}:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]{1,64}",
            multipart in any::<bool>(),
            sse_s3 in any::<bool>(),
        ) {
            let mut meta = under_bucket_key(blob, &arn);
            if multipart {
                meta.shape = SealedShape::Multipart { object_id: "0f".repeat(16) };
            }
            meta.sse = if sse_s3 { SseMode::S3Managed } else { SseMode::Kms };
            let mut headers = HeaderMap::new();
            meta.to_headers(&mut headers).unwrap();
            prop_assert_eq!(SealedObjectMetadata::from_headers(&headers).unwrap(), Some(meta));
        }

        #[test]
        fn format_2_parser_never_panics(values in proptest::collection::vec("[ -~]{0,80}", 5)) {
            let names = [KEY_ID, BUCKET_KEY_BLOB, WRAPPED_KEY, PLAINTEXT_LEN, BUCKET_KEY];
            let mut headers = HeaderMap::new();
            under_bucket_key(vec![7; 40], "arn:k").to_headers(&mut headers).unwrap();
            for (name, value) in names.iter().zip(values) {
                if let Ok(v) = HeaderValue::try_from(value) {
                    headers.insert(*name, v);
                }
            }
            let _ = SealedObjectMetadata::from_headers(&headers);
        }

        #[test]
        fn parser_never_panics(values in proptest::collection::vec("[ -~]{0,40}", 11)) {
            let names = [FORMAT, ALG, KEY_ID, KEY_VERSION, WRAPPED_KEY, PLAINTEXT_LEN, SSE, CONTEXT, BUCKET_KEY, MULTIPART_ID, BUCKET_KEY_BLOB];
            let mut headers = HeaderMap::new();
            for (name, value) in names.iter().zip(values) {
                if let Ok(v) = HeaderValue::try_from(value) {
                    headers.insert(*name, v);
                }
            }
            let _ = SealedObjectMetadata::from_headers(&headers);
        }
    }
}
