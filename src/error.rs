//! Errors, and the one place where they become S3 error responses.
//!
//! Every failure a client can observe is an [`S3Error`]: an AWS error code
//! ([`S3ErrorCode`]), the HTTP status AWS uses for it, and a message written
//! for a human. Lower layers have their own typed errors ([`crate::kms::KmsError`],
//! [`crate::kms::external::ExternalKmsError`], [`crate::seal::SealError`],
//! [`crate::upstream::UpstreamError`]); the `From`
//! impls below decide, in one place, how each of them looks to an S3 client.

use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::body::{self, ProxyBody};
use crate::kms::KmsError;
use crate::kms::external::ExternalKmsError;
use crate::s3::post_object::form::FormError;
use crate::s3::post_object::policy::PostPolicyError;
use crate::seal::SealError;
use crate::store::StoreError;
use crate::upstream::UpstreamError;

/// The S3 error codes s3seal produces itself (upstream errors are relayed verbatim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ErrorCode {
    AccessDenied,
    AuthorizationHeaderMalformed,
    BadDigest,
    EntityTooLarge,
    EntityTooSmall,
    IllegalLocationConstraintException,
    IncompleteBody,
    IncorrectNumberOfFilesInPostRequest,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidPart,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidPolicyDocument,
    InvalidRange,
    InvalidRequest,
    InvalidURI,
    KeyTooLongError,
    KmsDisabled,
    KmsInvalidState,
    KmsNotFound,
    KmsAccessDenied,
    MalformedPOSTRequest,
    MalformedPolicy,
    MalformedXML,
    MaxPostPreDataLengthExceeded,
    MissingContentLength,
    MissingSecurityHeader,
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchKey,
    NoSuchUpload,
    NotImplemented,
    PreconditionFailed,
    RequestHeaderSectionTooLarge,
    RequestIsNotMultiPartContent,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    SlowDown,
    XAmzContentSHA256Mismatch,
}

impl S3ErrorCode {
    /// The `<Code>` AWS sends for this error.
    pub fn as_str(self) -> &'static str {
        use S3ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            BadDigest => "BadDigest",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            IllegalLocationConstraintException => "IllegalLocationConstraintException",
            IncompleteBody => "IncompleteBody",
            IncorrectNumberOfFilesInPostRequest => "IncorrectNumberOfFilesInPostRequest",
            InternalError => "InternalError",
            InvalidAccessKeyId => "InvalidAccessKeyId",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidDigest => "InvalidDigest",
            InvalidPart => "InvalidPart",
            InvalidPartNumber => "InvalidPartNumber",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidPolicyDocument => "InvalidPolicyDocument",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            InvalidURI => "InvalidURI",
            KeyTooLongError => "KeyTooLongError",
            KmsDisabled => "KMS.DisabledException",
            KmsInvalidState => "KMS.KMSInvalidStateException",
            KmsNotFound => "KMS.NotFoundException",
            KmsAccessDenied => "KMS.AccessDeniedException",
            MalformedPOSTRequest => "MalformedPOSTRequest",
            MalformedPolicy => "MalformedPolicy",
            MalformedXML => "MalformedXML",
            MaxPostPreDataLengthExceeded => "MaxPostPreDataLengthExceeded",
            MissingContentLength => "MissingContentLength",
            MissingSecurityHeader => "MissingSecurityHeader",
            NoSuchBucket => "NoSuchBucket",
            NoSuchBucketPolicy => "NoSuchBucketPolicy",
            NoSuchKey => "NoSuchKey",
            NoSuchUpload => "NoSuchUpload",
            PreconditionFailed => "PreconditionFailed",
            NotImplemented => "NotImplemented",
            RequestHeaderSectionTooLarge => "RequestHeaderSectionTooLarge",
            RequestIsNotMultiPartContent => "RequestIsNotMultiPartContent",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            RequestTimeout => "RequestTimeout",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            SlowDown => "SlowDown",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status AWS S3 answers this code with.
    pub fn status(self) -> StatusCode {
        use S3ErrorCode::*;
        match self {
            AccessDenied | InvalidAccessKeyId | RequestTimeTooSkewed | SignatureDoesNotMatch => {
                StatusCode::FORBIDDEN
            }
            KmsAccessDenied => StatusCode::FORBIDDEN,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ServiceUnavailable | SlowDown => StatusCode::SERVICE_UNAVAILABLE,
            MissingContentLength => StatusCode::LENGTH_REQUIRED,
            InvalidRange | InvalidPartNumber => StatusCode::RANGE_NOT_SATISFIABLE,
            NoSuchUpload | NoSuchKey | NoSuchBucket | NoSuchBucketPolicy => StatusCode::NOT_FOUND,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            AuthorizationHeaderMalformed
            | BadDigest
            | EntityTooLarge
            | EntityTooSmall
            | IllegalLocationConstraintException
            | IncompleteBody
            | IncorrectNumberOfFilesInPostRequest
            | InvalidArgument
            | KeyTooLongError
            | InvalidBucketName
            | InvalidDigest
            | InvalidPart
            | InvalidPartOrder
            | InvalidPolicyDocument
            | InvalidRequest
            | InvalidURI
            | KmsDisabled
            | KmsInvalidState
            | KmsNotFound
            | MalformedPOSTRequest
            | MalformedPolicy
            | MalformedXML
            | MaxPostPreDataLengthExceeded
            | MissingSecurityHeader
            | RequestHeaderSectionTooLarge
            | RequestIsNotMultiPartContent
            | RequestTimeout
            | XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for S3ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered to an S3 client as `<Error><Code>…</Code><Message>…</Message></Error>`.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct S3Error {
    pub code: S3ErrorCode,
    pub message: String,
    /// Extra `<Name>value</Name>` elements AWS adds for some codes
    /// (e.g. `RequestTime`/`ServerTime` for `RequestTimeTooSkewed`).
    pub details: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(code: S3ErrorCode, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_detail(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.details.push((name, value.into()));
        self
    }

    pub fn internal(message: impl Into<String>) -> Self {
        S3Error::new(S3ErrorCode::InternalError, message)
    }

    pub fn not_implemented(what: impl fmt::Display) -> Self {
        S3Error::new(
            S3ErrorCode::NotImplemented,
            format!(
                "{what} is not supported by s3seal yet; it was refused rather than forwarded unencrypted"
            ),
        )
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        S3Error::new(S3ErrorCode::InvalidRequest, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        S3Error::new(S3ErrorCode::InvalidArgument, message)
    }

    /// A conditional request whose condition does not hold, in S3's words.
    pub fn precondition_failed() -> Self {
        S3Error::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
    }

    /// The object named does not exist, in S3's words.
    pub fn no_such_key() -> Self {
        S3Error::new(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
    }

    /// Renders the error as an S3 XML response. `resource` is the request path,
    /// `request_id` the id also sent in `x-amz-request-id`.
    pub fn to_response(
        &self,
        resource: &str,
        request_id: &str,
        is_head: bool,
    ) -> Response<ProxyBody> {
        let body = if is_head {
            Bytes::new()
        } else {
            Bytes::from(self.to_xml(resource, request_id))
        };
        let len = body.len();
        let mut response = Response::new(body::full(body));
        *response.status_mut() = self.code.status();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        response
    }

    fn to_xml(&self, resource: &str, request_id: &str) -> String {
        use quick_xml::escape::escape;
        let mut xml = String::with_capacity(256);
        xml.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        xml.push_str("<Error><Code>");
        xml.push_str(self.code.as_str());
        xml.push_str("</Code><Message>");
        xml.push_str(&escape(self.message.as_str()));
        xml.push_str("</Message>");
        for (name, value) in &self.details {
            xml.push_str(&format!("<{name}>{}</{name}>", escape(value.as_str())));
        }
        xml.push_str("<Resource>");
        xml.push_str(&escape(resource));
        xml.push_str("</Resource><RequestId>");
        xml.push_str(&escape(request_id));
        xml.push_str("</RequestId></Error>");
        xml
    }
}

impl From<StoreError> for S3Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => {
                S3Error::new(S3ErrorCode::ServiceUnavailable, err.to_string())
            }
            other => S3Error::internal(other.to_string()),
        }
    }
}

impl From<KmsError> for S3Error {
    fn from(err: KmsError) -> Self {
        let code = match &err {
            KmsError::Store(StoreError::Unavailable(_)) => S3ErrorCode::ServiceUnavailable,
            KmsError::NotFound(_) => S3ErrorCode::KmsNotFound,
            KmsError::Disabled(_) => S3ErrorCode::KmsDisabled,
            KmsError::InvalidState(_) => S3ErrorCode::KmsInvalidState,
            KmsError::InvalidCiphertext(_) => S3ErrorCode::InternalError,
            KmsError::Validation(_) | KmsError::InvalidKeyUsage(_) => S3ErrorCode::InvalidArgument,
            // S3 reports a caller without permission on the KMS key as AccessDenied.
            KmsError::AccessDenied(_) => S3ErrorCode::AccessDenied,
            KmsError::InvalidImportToken(_)
            | KmsError::IncorrectKeyMaterial(_)
            | KmsError::UnsupportedOperation(_)
            | KmsError::LimitExceeded(_) => S3ErrorCode::InvalidArgument,
            KmsError::AlreadyExists(_)
            | KmsError::Conflict(_)
            | KmsError::Store(_)
            | KmsError::Internal(_) => S3ErrorCode::InternalError,
        };
        S3Error::new(code, err.to_string())
    }
}

/// The external KMS fails closed: unreachable is `503 ServiceUnavailable`
/// (nothing was stored; retry later), a refusal maps its KMS exception as the
/// built-in KMS's would be, and every message names the endpoint.
impl From<ExternalKmsError> for S3Error {
    fn from(err: ExternalKmsError) -> Self {
        let code = match &err {
            ExternalKmsError::Unreachable { .. } => S3ErrorCode::ServiceUnavailable,
            ExternalKmsError::Malformed { .. } => S3ErrorCode::InternalError,
            ExternalKmsError::Refused { code, .. } => match code.as_str() {
                "DisabledException" => S3ErrorCode::KmsDisabled,
                "NotFoundException" => S3ErrorCode::KmsNotFound,
                "KMSInvalidStateException" => S3ErrorCode::KmsInvalidState,
                "AccessDeniedException" => S3ErrorCode::AccessDenied,
                "ValidationException" | "InvalidKeyUsageException" | "InvalidArnException" => {
                    S3ErrorCode::InvalidArgument
                }
                "InvalidCiphertextException" | "IncorrectKeyException" => {
                    return S3Error::internal(format!(
                        "the object's bucket key does not match its bucket or KMS key: it was moved or altered on the upstream ({err})"
                    ));
                }
                // s3seal's own credentials or request were refused: not the client's doing.
                _ => S3ErrorCode::InternalError,
            },
        };
        S3Error::new(code, err.to_string())
    }
}

impl From<SealError> for S3Error {
    fn from(err: SealError) -> Self {
        // A sealed object that fails to open is corrupt or tampered with on the
        // upstream; that is a server-side failure, never the client's fault.
        S3Error::internal(format!("the stored object could not be decrypted: {err}"))
    }
}

impl From<crate::limits::RateLimited> for S3Error {
    fn from(limited: crate::limits::RateLimited) -> Self {
        S3Error::new(
            S3ErrorCode::SlowDown,
            format!("Please reduce your request rate. ({limited})"),
        )
    }
}

impl From<UpstreamError> for S3Error {
    fn from(err: UpstreamError) -> Self {
        match err {
            UpstreamError::Unreachable(_) | UpstreamError::Timeout(_) => S3Error::new(
                S3ErrorCode::ServiceUnavailable,
                format!("the upstream store is unavailable: {err}"),
            ),
            UpstreamError::InvalidRequest(message) => S3Error::invalid_argument(message),
            UpstreamError::Signing(_) | UpstreamError::Protocol(_) => {
                S3Error::internal(err.to_string())
            }
        }
    }
}

impl From<PostPolicyError> for S3Error {
    fn from(err: PostPolicyError) -> Self {
        let code = match err {
            PostPolicyError::Invalid(_) => S3ErrorCode::InvalidPolicyDocument,
            // S3 answers a form its policy does not allow as a denied request.
            PostPolicyError::Expired
            | PostPolicyError::ConditionFailed(_)
            | PostPolicyError::ExtraFields(_) => S3ErrorCode::AccessDenied,
        };
        S3Error::new(code, err.to_string())
    }
}

impl From<FormError> for S3Error {
    fn from(err: FormError) -> Self {
        let code = match err {
            FormError::NotMultipart => S3ErrorCode::RequestIsNotMultiPartContent,
            FormError::Malformed(_) | FormError::TooMuchFormData => {
                S3ErrorCode::MalformedPOSTRequest
            }
            FormError::FieldsTooLarge => S3ErrorCode::MaxPostPreDataLengthExceeded,
            FormError::NoFile => S3ErrorCode::IncorrectNumberOfFilesInPostRequest,
            FormError::BodyRead(_) => S3ErrorCode::IncompleteBody,
        };
        S3Error::new(code, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_xml_escapes_and_includes_details() {
        let err = S3Error::new(S3ErrorCode::RequestTimeTooSkewed, "a < b & c")
            .with_detail("ServerTime", "2026-01-01T00:00:00Z");
        let xml = err.to_xml("/b/k&x", "REQ1");
        assert!(xml.contains("<Code>RequestTimeTooSkewed</Code>"));
        assert!(xml.contains("<Message>a &lt; b &amp; c</Message>"));
        assert!(xml.contains("<ServerTime>2026-01-01T00:00:00Z</ServerTime>"));
        assert!(xml.contains("<Resource>/b/k&amp;x</Resource>"));
        assert_eq!(err.code.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn external_kms_errors_fail_closed_with_their_endpoint() {
        let refused = |code: &str| ExternalKmsError::Refused {
            endpoint: "https://kms.example".into(),
            code: code.into(),
            message: "no".into(),
        };
        let err: S3Error = ExternalKmsError::Unreachable {
            endpoint: "https://kms.example".into(),
            reason: "connection refused".into(),
        }
        .into();
        assert_eq!(err.code, S3ErrorCode::ServiceUnavailable);
        assert_eq!(err.code.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            err.message.contains("https://kms.example"),
            "{}",
            err.message
        );
        for (code, expected) in [
            ("DisabledException", S3ErrorCode::KmsDisabled),
            ("NotFoundException", S3ErrorCode::KmsNotFound),
            ("KMSInvalidStateException", S3ErrorCode::KmsInvalidState),
            ("AccessDeniedException", S3ErrorCode::AccessDenied),
            ("InvalidCiphertextException", S3ErrorCode::InternalError),
            ("UnrecognizedClientException", S3ErrorCode::InternalError),
        ] {
            let err: S3Error = refused(code).into();
            assert_eq!(err.code, expected, "{code}");
            assert!(
                err.message.contains("https://kms.example"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn kms_errors_map_to_aws_s3_codes() {
        let err: S3Error = KmsError::Disabled("k".into()).into();
        assert_eq!(err.code.as_str(), "KMS.DisabledException");
        assert_eq!(err.code.status(), StatusCode::BAD_REQUEST);
        let err: S3Error = KmsError::NotFound("k".into()).into();
        assert_eq!(err.code.as_str(), "KMS.NotFoundException");
    }
}
