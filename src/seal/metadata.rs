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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedObjectMetadata {
    pub format_version: u8,
    /// Bare KMS key id (UUID) of the key that wrapped the data key.
    pub kms_key_id: String,
    pub kms_key_version: u32,
    /// The KMS ciphertext blob of the data key.
    pub wrapped_key: Vec<u8>,
    pub shape: SealedShape,
    pub sse: SseMode,
    /// The client's own encryption context (the `x-amz-server-side-encryption-context`
    /// header value, base64 JSON), if it sent one.
    pub client_context: Option<String>,
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
        put(FORMAT, self.format_version.to_string())?;
        put(ALG, ALGORITHM.to_string())?;
        put(KEY_ID, self.kms_key_id.clone())?;
        put(KEY_VERSION, self.kms_key_version.to_string())?;
        put(WRAPPED_KEY, B64.encode(&self.wrapped_key))?;
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
        if self.bucket_key_enabled {
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
        let text = |name: &'static str| -> Result<&str, SealError> {
            headers
                .get(name)
                .ok_or_else(|| SealError::MalformedMetadata(format!("{name} is missing")))?
                .to_str()
                .map_err(|_| SealError::MalformedMetadata(format!("{name} is not ASCII")))
        };
        let bad = |name: &str| SealError::MalformedMetadata(format!("{name} is malformed"));
        let format_version: u8 = format
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(FORMAT))?;
        if format_version != 1 {
            return Err(SealError::UnsupportedVersion(format_version));
        }
        if text(ALG)? != ALGORITHM {
            return Err(bad(ALG));
        }
        let sse = match headers.get(SSE).map(|v| v.as_bytes()) {
            Some(b"AES256") => SseMode::S3Managed,
            Some(b"aws:kms") | None => SseMode::Kms,
            Some(_) => return Err(bad(SSE)),
        };
        let kms_key_id = text(KEY_ID)?.to_string();
        let kms_key_version: u32 = text(KEY_VERSION)?.parse().map_err(|_| bad(KEY_VERSION))?;
        let wrapped_key = B64
            .decode(text(WRAPPED_KEY)?)
            .map_err(|_| bad(WRAPPED_KEY))?;
        // The readable key fields must name the key inside the wrapped blob, which
        // is what decryption authenticates; HEAD reports them without unwrapping.
        let blob =
            crate::kms::CiphertextBlob::decode(&wrapped_key).map_err(|_| bad(WRAPPED_KEY))?;
        if blob.key_id.to_string() != kms_key_id || blob.key_version != kms_key_version {
            return Err(SealError::MalformedMetadata(
                "the key id or version disagrees with the wrapped data key".into(),
            ));
        }
        Ok(Some(SealedObjectMetadata {
            format_version,
            kms_key_id,
            kms_key_version,
            wrapped_key,
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
            bucket_key_enabled: headers.get(BUCKET_KEY).is_some_and(|v| v == "true"),
        }))
    }

    /// True for header names that belong to s3seal and must not reach clients.
    pub fn is_internal_header(name: &str) -> bool {
        name.len() >= INTERNAL_META_PREFIX.len()
            && name[..INTERNAL_META_PREFIX.len()].eq_ignore_ascii_case(INTERNAL_META_PREFIX)
    }
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
            format_version: 1,
            kms_key_id: key_id.to_string(),
            kms_key_version: 3,
            wrapped_key: blob.encode(),
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
        let mut blob = crate::kms::CiphertextBlob::decode(&meta.wrapped_key).unwrap();
        blob.key_id = key_id;
        meta.wrapped_key = blob.encode();
        meta.kms_key_id = key_id.to_string();
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

    proptest! {
        #[test]
        fn parser_never_panics(values in proptest::collection::vec("[ -~]{0,40}", 10)) {
            let names = [FORMAT, ALG, KEY_ID, KEY_VERSION, WRAPPED_KEY, PLAINTEXT_LEN, SSE, CONTEXT, BUCKET_KEY, MULTIPART_ID];
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
