//! Server-side-encryption request headers, parsed and validated as S3 does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{S3Error, S3ErrorCode};
use crate::kms::{EncryptionContext, KeyManager};
use crate::seal::SealedObjectMetadata;
use crate::seal::metadata::{SseMode, WrappedDataKey};

pub const SSE: &str = "x-amz-server-side-encryption";
pub const SSE_KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
pub const SSE_CONTEXT: &str = "x-amz-server-side-encryption-context";
pub const SSE_BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";
const SSE_C_HEADERS: [&str; 3] = [
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key",
    "x-amz-server-side-encryption-customer-key-md5",
];

/// What a write request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseRequest {
    pub mode: SseMode,
    /// The KMS key named by the client (id, ARN or alias), if any.
    pub kms_key: Option<String>,
    /// The client's context: raw header value and parsed pairs.
    pub context: Option<(String, EncryptionContext)>,
    pub bucket_key_enabled: bool,
    /// Whether the client sent `x-amz-server-side-encryption` at all; if not,
    /// the bucket's default encryption applies ([`with_bucket_default`]).
    pub explicit: bool,
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, S3Error> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| S3Error::invalid_argument(format!("{name} must be ASCII")))
        })
        .transpose()
}

/// SSE-C is not supported yet: refuse it rather than store data unprotected by the customer key.
pub fn refuse_customer_keys(headers: &HeaderMap) -> Result<(), S3Error> {
    if SSE_C_HEADERS.iter().any(|h| headers.contains_key(*h)) {
        return Err(S3Error::not_implemented(
            "SSE-C (server-side encryption with customer-provided keys): s3seal encrypts every object under its own KMS (server.require_encryption)",
        ));
    }
    Ok(())
}

/// Parses the SSE headers of PutObject (and, later, CreateMultipartUpload and CopyObject).
pub fn parse_write_headers(headers: &HeaderMap) -> Result<SseRequest, S3Error> {
    refuse_customer_keys(headers)?;
    let mode = match text(headers, SSE)? {
        None | Some("aws:kms") => SseMode::Kms,
        Some("AES256") => SseMode::S3Managed,
        Some("aws:kms:dsse") => {
            return Err(S3Error::not_implemented(
                "aws:kms:dsse (dual-layer encryption)",
            ));
        }
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "The encryption method specified is not supported",
            ));
        }
    };
    let explicitly_kms = text(headers, SSE)? == Some("aws:kms");
    let kms_key = text(headers, SSE_KMS_KEY_ID)?.map(str::to_string);
    let raw_context = text(headers, SSE_CONTEXT)?;
    if (kms_key.is_some() || raw_context.is_some()) && !explicitly_kms {
        return Err(S3Error::invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        ));
    }
    if kms_key.as_deref() == Some("") {
        return Err(S3Error::invalid_argument(
            "x-amz-server-side-encryption-aws-kms-key-id must not be empty",
        ));
    }
    let context = raw_context
        .map(|raw| Ok::<_, S3Error>((raw.to_string(), parse_context(raw)?)))
        .transpose()?;
    let bucket_key_enabled = match text(headers, SSE_BUCKET_KEY)? {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "x-amz-server-side-encryption-bucket-key-enabled must be true or false",
            ));
        }
    };
    Ok(SseRequest {
        mode,
        kms_key,
        context,
        bucket_key_enabled,
        explicit: headers.contains_key(SSE),
    })
}

/// An upload without SSE headers gets the bucket's default encryption, as on
/// S3 (`AES256` unless PutBucketEncryption set an SSE-KMS key).
pub fn with_bucket_default(
    request: SseRequest,
    default: &crate::s3::bucket_config::BucketEncryption,
) -> SseRequest {
    if request.explicit {
        return request;
    }
    let kms = default.algorithm == "aws:kms";
    SseRequest {
        mode: if kms {
            SseMode::Kms
        } else {
            SseMode::S3Managed
        },
        kms_key: if kms {
            default.kms_key_id.clone()
        } else {
            None
        },
        bucket_key_enabled: request.bucket_key_enabled || default.bucket_key_enabled,
        ..request
    }
}

/// S3 rejects SSE request headers on GET/HEAD: the object's own settings apply.
pub fn check_read_headers(headers: &HeaderMap) -> Result<(), S3Error> {
    refuse_customer_keys(headers)?;
    if [SSE, SSE_KMS_KEY_ID, SSE_CONTEXT]
        .iter()
        .any(|h| headers.contains_key(*h))
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "x-amz-server-side-encryption header is not supported for this operation.",
        ));
    }
    Ok(())
}

/// Decodes `x-amz-server-side-encryption-context`: base64 of a JSON string→string map.
pub fn parse_context(raw: &str) -> Result<EncryptionContext, S3Error> {
    let invalid = || {
        S3Error::invalid_argument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map",
        )
    };
    let json = B64.decode(raw).map_err(|_| invalid())?;
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| invalid())?;
    Ok(map.into_iter().collect())
}

/// The object's full encryption context: `aws:s3:arn` plus the client's pairs.
pub fn object_context(
    bucket: &str,
    key: &str,
    client: Option<&EncryptionContext>,
) -> Result<EncryptionContext, S3Error> {
    let mut ctx = EncryptionContext::for_object(bucket, key);
    let arn = ctx.get("aws:s3:arn").unwrap_or_default().to_string();
    for (k, v) in client.into_iter().flat_map(|c| c.iter()) {
        if k == "aws:s3:arn" && v != arn {
            return Err(S3Error::invalid_argument(
                "the encryption context's aws:s3:arn must be the object's ARN",
            ));
        }
        ctx.insert(k, v);
    }
    Ok(ctx)
}

/// Response headers for a sealed object: the upstream's, minus everything that
/// describes the ciphertext, plus the SSE headers its metadata calls for.
pub fn sealed_response_headers(
    kms: &KeyManager,
    upstream: &HeaderMap,
    metadata: &SealedObjectMetadata,
) -> HeaderMap {
    let mut headers = super::headers::relay_response_headers(upstream, true);
    add_response_headers(
        &mut headers,
        metadata.sse,
        &key_arn(kms, &metadata.data_key),
        metadata.client_context.as_deref(),
        metadata.bucket_key_enabled,
    );
    headers
}

/// The ARN reported for the KMS key that protects an object's data key.
pub fn key_arn(kms: &KeyManager, data_key: &WrappedDataKey) -> String {
    match data_key {
        WrappedDataKey::BuiltIn { kms_key_id, .. } => kms.key_arn(kms_key_id),
        WrappedDataKey::UnderBucketKey { kms_key_arn, .. } => kms_key_arn.clone(),
    }
}

/// Adds the SSE response headers S3 returns for an encrypted object.
pub fn add_response_headers(
    headers: &mut HeaderMap,
    mode: SseMode,
    key_arn: &str,
    client_context: Option<&str>,
    bucket_key_enabled: bool,
) {
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put(SSE, mode.header_value());
    if mode == SseMode::Kms {
        put(SSE_KMS_KEY_ID, key_arn);
        if let Some(ctx) = client_context {
            put(SSE_CONTEXT, ctx);
        }
    }
    if bucket_key_enabled {
        put(SSE_BUCKET_KEY, "true");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn write_headers() {
        let r = parse_write_headers(&headers(&[])).unwrap();
        assert_eq!(
            (r.mode, r.kms_key.clone(), r.explicit),
            (SseMode::Kms, None, false)
        );
        let kms_default = crate::s3::bucket_config::BucketEncryption {
            algorithm: "aws:kms".into(),
            kms_key_id: Some("alias/b".into()),
            bucket_key_enabled: true,
        };
        let d = with_bucket_default(r.clone(), &kms_default);
        assert_eq!(
            (d.mode, d.kms_key.as_deref(), d.bucket_key_enabled),
            (SseMode::Kms, Some("alias/b"), true)
        );
        let d = with_bucket_default(
            r,
            &crate::s3::bucket_config::BucketEncryption::aws_default(),
        );
        assert_eq!((d.mode, d.kms_key), (SseMode::S3Managed, None));
        let explicit = parse_write_headers(&headers(&[(SSE, "aws:kms")])).unwrap();
        assert_eq!(
            with_bucket_default(explicit.clone(), &kms_default),
            explicit
        );
        let r = parse_write_headers(&headers(&[(SSE, "AES256")])).unwrap();
        assert_eq!(r.mode, SseMode::S3Managed);
        let r = parse_write_headers(&headers(&[(SSE, "aws:kms"), (SSE_KMS_KEY_ID, "alias/x")]))
            .unwrap();
        assert_eq!(r.kms_key.as_deref(), Some("alias/x"));
        let err = parse_write_headers(&headers(&[(SSE_KMS_KEY_ID, "alias/x")])).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidArgument);
        let err =
            parse_write_headers(&headers(&[(SSE, "AES256"), (SSE_KMS_KEY_ID, "k")])).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidArgument);
        assert!(parse_write_headers(&headers(&[(SSE, "rot13")])).is_err());
        let err = parse_write_headers(&headers(&[(
            "x-amz-server-side-encryption-customer-algorithm",
            "AES256",
        )]))
        .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::NotImplemented);
    }

    #[test]
    fn context_header() {
        let raw = B64.encode(r#"{"project":"x"}"#);
        let r = parse_write_headers(&headers(&[(SSE, "aws:kms"), (SSE_CONTEXT, &raw)])).unwrap();
        let (_, ctx) = r.context.unwrap();
        assert_eq!(ctx.get("project"), Some("x"));
        let full = object_context("b", "k", Some(&ctx)).unwrap();
        assert_eq!(full.get("aws:s3:arn"), Some("arn:aws:s3:::b/k"));
        assert!(parse_context("notbase64!").is_err());
        assert!(parse_context(&B64.encode("[1]")).is_err());
        let evil: EncryptionContext =
            [("aws:s3:arn".to_string(), "arn:aws:s3:::other/k".to_string())]
                .into_iter()
                .collect();
        assert!(object_context("b", "k", Some(&evil)).is_err());
    }

    #[test]
    fn read_headers() {
        assert!(check_read_headers(&headers(&[])).is_ok());
        assert!(check_read_headers(&headers(&[(SSE, "aws:kms")])).is_err());
    }
}
