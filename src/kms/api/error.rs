//! KMS API errors: AWS's exception names, the one place they become JSON.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::body::{self, ProxyBody};
use crate::kms::KmsError;
use crate::kms::replication::ReplicationError;

/// An error answered as `{"__type": "...Exception", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl ApiError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        let status = match kind {
            "KMSInternalException" => StatusCode::INTERNAL_SERVER_ERROR,
            "DependencyTimeoutException" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError {
            kind,
            message: message.into(),
            status,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn to_response(&self, request_id: &str) -> Response<ProxyBody> {
        let body = serde_json::json!({"__type": self.kind, "message": self.message}).to_string();
        let mut response = Response::new(body::full(Bytes::from(body.clone())));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if let Ok(id) = HeaderValue::try_from(request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        response
    }
}

impl From<KmsError> for ApiError {
    fn from(err: KmsError) -> Self {
        let kind = exception_name(&err);
        let message = match &err {
            KmsError::NotFound(key) => format!("Key '{key}' does not exist"),
            KmsError::Disabled(key) => format!("{key} is disabled."),
            other => other.to_string(),
        };
        ApiError::new(kind, message)
    }
}

/// The AWS KMS exception an error is reported as.
pub fn exception_name(err: &KmsError) -> &'static str {
    match err {
        KmsError::NotFound(_) => "NotFoundException",
        KmsError::Disabled(_) => "DisabledException",
        KmsError::InvalidState(_) => "KMSInvalidStateException",
        KmsError::InvalidCiphertext(_) => "InvalidCiphertextException",
        KmsError::Validation(_) => "ValidationException",
        KmsError::AccessDenied(_) => "AccessDeniedException",
        KmsError::AlreadyExists(_) => "AlreadyExistsException",
        KmsError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
        KmsError::Conflict(_) => "ConflictException",
        KmsError::InvalidImportToken(_) => "InvalidImportTokenException",
        KmsError::IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
        KmsError::UnsupportedOperation(_) => "UnsupportedOperationException",
        KmsError::LimitExceeded(_) => "LimitExceededException",
        // The store is unreachable: retryable, as AWS's dependency timeouts are.
        KmsError::Store(crate::store::StoreError::Unavailable(_)) => "DependencyTimeoutException",
        KmsError::Store(_) | KmsError::Internal(_) => "KMSInternalException",
    }
}

/// Peer errors the caller of ReplicateKey / UpdatePrimaryRegion can act
/// on, passed through under their own name; any other is s3seal's problem.
const PEER_ERRORS_PASSED_THROUGH: &[&str] = &[
    "AlreadyExistsException",
    "MalformedPolicyDocumentException",
    "TagException",
    "DisabledException",
];

impl From<ReplicationError> for ApiError {
    fn from(err: ReplicationError) -> Self {
        match err {
            ReplicationError::Kms(err) => err.into(),
            other => ApiError::new(replication_exception_name(&other), other.to_string()),
        }
    }
}

/// The AWS KMS exception a replication failure is reported as.
pub fn replication_exception_name(err: &ReplicationError) -> &'static str {
    match err {
        ReplicationError::Kms(err) => exception_name(err),
        ReplicationError::NoPeer(_) => "UnsupportedOperationException",
        ReplicationError::Unreachable { .. } => "DependencyTimeoutException",
        ReplicationError::Refused { kind, .. } => PEER_ERRORS_PASSED_THROUGH
            .iter()
            .copied()
            .find(|known| known == kind)
            .unwrap_or("KMSInternalException"),
        ReplicationError::BadAnswer { .. } => "KMSInternalException",
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        KmsError::from(err).into()
    }
}
