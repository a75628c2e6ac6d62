//! Conditional writes: `If-Match` and `If-None-Match` on PutObject and
//! CompleteMultipartUpload, answered as AWS S3 answers them.
//!
//! The headers are forwarded upstream as well, which makes the condition
//! atomic on stores with conditional writes (AWS S3, MinIO). Stores without
//! them (Garage 2.5 ignores `If-Match` on PUT) would silently overwrite, so
//! s3seal checks the condition itself with a HEAD just before it forwards the
//! write. On such stores a write landing between that HEAD and the upload's
//! commit can still be overwritten: that window is the best they allow.

use http::{HeaderMap, Method, StatusCode};

use crate::error::{S3Error, S3ErrorCode};
use crate::state::AppState;
use crate::upstream::UpstreamRequest;

/// The preconditions a write request carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteConditions {
    /// `If-Match`: the ETags (or `*`) the current object must have.
    if_match: Option<Vec<String>>,
    /// `If-None-Match: *`: the object must not exist.
    if_none_match: bool,
}

impl WriteConditions {
    /// The request's conditions; `If-None-Match` accepts only `*`, as on S3.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, S3Error> {
        let if_match = match headers.get(http::header::IF_MATCH) {
            Some(value) => Some(etag_list(value.to_str().map_err(|_| invalid_header())?)),
            None => None,
        };
        let if_none_match = match headers.get(http::header::IF_NONE_MATCH) {
            Some(value) if value.as_bytes().trim_ascii() == b"*" => true,
            Some(_) => {
                return Err(S3Error::new(
                    S3ErrorCode::NotImplemented,
                    "A header you provided implies functionality that is not implemented: If-None-Match accepts only *",
                ));
            }
            None => false,
        };
        Ok(WriteConditions {
            if_match,
            if_none_match,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && !self.if_none_match
    }

    /// Whether the object's current state (`None`: absent; else its ETag) allows the write.
    pub fn evaluate(&self, current_etag: Option<&str>) -> Result<(), S3Error> {
        if let Some(accepted) = &self.if_match {
            let Some(etag) = current_etag else {
                return Err(S3Error::no_such_key());
            };
            let etag = unquoted(etag);
            if !accepted.iter().any(|a| a == "*" || a == etag) {
                return Err(S3Error::precondition_failed());
            }
        }
        if self.if_none_match && current_etag.is_some() {
            return Err(S3Error::precondition_failed());
        }
        Ok(())
    }

    /// Checks the conditions against the upstream's current object, if there are any.
    pub async fn check(&self, state: &AppState, bucket: &str, key: &str) -> Result<(), S3Error> {
        if self.is_empty() {
            return Ok(());
        }
        let current = current_etag(state, bucket, key).await?;
        self.evaluate(current.as_deref())
    }
}

/// The ETag of the object's current version on the upstream, `None` if absent.
async fn current_etag(
    state: &AppState,
    bucket: &str,
    key: &str,
) -> Result<Option<String>, S3Error> {
    let request = UpstreamRequest::bodyless(
        Method::HEAD,
        Some(bucket.to_string()),
        Some(key.to_string()),
        Vec::new(),
    );
    let response = state.upstream.send(request).await?;
    match response.status() {
        s if s.is_success() => Ok(response
            .headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)),
        StatusCode::NOT_FOUND => Ok(None),
        status => Err(S3Error::internal(format!(
            "checking the write's precondition failed: the upstream answered HEAD with {status}"
        ))),
    }
}

/// `"a", W/"b", *` → `[a, b, *]`: S3 compares ETags without quotes or weakness.
fn etag_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|v| unquoted(v.trim()).to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

fn unquoted(etag: &str) -> &str {
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.trim_matches('"')
}

fn invalid_header() -> S3Error {
    S3Error::invalid_argument("If-Match must be visible ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn conditions(pairs: &[(&'static str, &'static str)]) -> Result<WriteConditions, S3Error> {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_static(value));
        }
        WriteConditions::from_headers(&h)
    }

    fn code(result: Result<(), S3Error>) -> Option<&'static str> {
        result.err().map(|e| e.code.as_str())
    }

    #[test]
    fn if_match_compares_unquoted_etags() {
        let c = conditions(&[("if-match", "\"abc\"")]).unwrap();
        assert_eq!(code(c.evaluate(Some("\"abc\""))), None);
        assert_eq!(code(c.evaluate(Some("abc"))), None);
        assert_eq!(
            code(c.evaluate(Some("\"other\""))),
            Some("PreconditionFailed")
        );
        assert_eq!(code(c.evaluate(None)), Some("NoSuchKey"));
        let list = conditions(&[("if-match", "\"x\", W/\"abc\"")]).unwrap();
        assert_eq!(code(list.evaluate(Some("\"abc\""))), None);
        let any = conditions(&[("if-match", "*")]).unwrap();
        assert_eq!(code(any.evaluate(Some("\"q\""))), None);
        assert_eq!(code(any.evaluate(None)), Some("NoSuchKey"));
    }

    #[test]
    fn if_none_match_accepts_only_a_star() {
        let c = conditions(&[("if-none-match", "*")]).unwrap();
        assert_eq!(code(c.evaluate(None)), None);
        assert_eq!(code(c.evaluate(Some("\"e\""))), Some("PreconditionFailed"));
        let err = conditions(&[("if-none-match", "\"e\"")]).unwrap_err();
        assert_eq!(err.code.as_str(), "NotImplemented");
    }

    #[test]
    fn no_headers_no_conditions() {
        let c = conditions(&[]).unwrap();
        assert!(c.is_empty());
        assert_eq!(code(c.evaluate(None)), None);
    }
}
