//! Turning upstream responses into client responses.
//!
//! Successful responses are relayed as they are (minus the headers in
//! [`super::headers`]). Error responses are relayed too, except when the
//! upstream rejects *s3seal's own* credentials: that is an s3seal
//! misconfiguration, reported as `InternalError` so the upstream's account
//! details never reach clients.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};

use super::headers::relay_response_headers;
use crate::body::{self, ProxyBody};
use crate::error::S3Error;
use crate::upstream::UpstreamBody;

/// Upstream error bodies larger than this are not read (S3 error documents are tiny).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Upstream codes that mean "s3seal's upstream credentials or clock are wrong".
const UPSTREAM_AUTH_CODES: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "RequestTimeTooSkewed",
    "AuthorizationHeaderMalformed",
    "InvalidToken",
];

/// Relays an upstream response whose body passes through unchanged.
pub async fn relay(response: Response<UpstreamBody>) -> Result<Response<ProxyBody>, S3Error> {
    if response.status().is_client_error() || response.status().is_server_error() {
        return relay_error(response).await;
    }
    let (parts, incoming) = response.into_parts();
    let mut out = Response::new(body::boxed(incoming));
    *out.status_mut() = parts.status;
    *out.headers_mut() = relay_response_headers(&parts.headers, false);
    if let Some(len) = parts.headers.get(http::header::CONTENT_LENGTH) {
        out.headers_mut()
            .insert(http::header::CONTENT_LENGTH, len.clone());
    }
    Ok(out)
}

/// Relays an upstream error, reading its (small) body to classify it.
pub async fn relay_error(response: Response<UpstreamBody>) -> Result<Response<ProxyBody>, S3Error> {
    let (parts, incoming) = response.into_parts();
    let bytes = Limited::new(incoming, MAX_ERROR_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_else(|_| Bytes::new());
    if let Some(code) = error_code(&bytes)
        && UPSTREAM_AUTH_CODES.contains(&code.as_str())
    {
        tracing::error!(upstream_code = %code, status = %parts.status, "the upstream rejected s3seal's own credentials");
        return Err(S3Error::internal(format!(
            "the upstream store rejected s3seal's credentials ({code}); the operator must check the upstream configuration"
        )));
    }
    // Some stores (Garage) answer a failed precondition without a body; S3 sends one.
    if parts.status == StatusCode::PRECONDITION_FAILED && error_code(&bytes).is_none() {
        return Err(S3Error::precondition_failed());
    }
    if parts.status == StatusCode::FORBIDDEN && bytes.is_empty() {
        tracing::warn!("upstream answered 403 without a body");
    }
    let mut out = Response::new(body::full(bytes.clone()));
    *out.status_mut() = parts.status;
    *out.headers_mut() = relay_response_headers(&parts.headers, false);
    out.headers_mut()
        .insert(http::header::CONTENT_LENGTH, bytes.len().into());
    Ok(out)
}

/// Reads a small upstream body (a stream header, an error document) in full.
pub async fn collect_small(response: Response<UpstreamBody>) -> Result<Bytes, S3Error> {
    collect_limited(response.into_body(), MAX_ERROR_BODY).await
}

/// Reads an upstream body of at most `limit` bytes in full.
pub async fn collect_limited(body: UpstreamBody, limit: usize) -> Result<Bytes, S3Error> {
    Limited::new(body, limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            S3Error::new(
                crate::error::S3ErrorCode::ServiceUnavailable,
                format!("reading from the upstream failed: {e}"),
            )
        })
}

/// The `<Code>` of an S3 XML error document.
pub fn error_code(xml: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut in_code = false;
    let mut depth = 0;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                depth += 1;
                in_code = depth == 2 && e.name().as_ref() == b"Code";
            }
            Event::Text(t) if in_code => return t.decode().ok().map(|s| s.trim().to_string()),
            Event::End(_) => {
                depth -= 1;
                in_code = false;
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_codes() {
        let xml =
            br#"<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>"#;
        assert_eq!(error_code(xml).as_deref(), Some("NoSuchKey"));
        assert_eq!(
            error_code(b"<Error><Message><Code>x</Code></Message></Error>"),
            None
        );
        assert_eq!(error_code(b"not xml <<<"), None);
        assert_eq!(error_code(b""), None);
    }
}
