//! The answer to a successful POST upload, as S3 gives it.
//!
//! - `success_action_redirect` (or the older `redirect`) with a URL S3 can
//!   read: `303 See Other` to that URL plus `bucket`, `key` and `etag` query
//!   parameters;
//! - else `success_action_status` `201`: a `PostResponse` document (Location,
//!   Bucket, Key, ETag); `200`: an empty `200`; anything else: `204`.
//!
//! Every answer carries the object's `ETag`, its SSE headers (as PutObject
//! answers them) and, without a redirect, its `Location`.

use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri};
use quick_xml::escape::partial_escape as escape;

use super::form::FormFields;
use super::upload::Stored;
use crate::auth::sigv4::uri_encode;
use crate::body::{self, ProxyBody};
use crate::s3::RequestContext;
use crate::state::AppState;

/// The response to a stored upload.
pub fn success(
    state: &AppState,
    request: &http::request::Parts,
    ctx: &RequestContext,
    fields: &FormFields,
    stored: &Stored,
) -> Response<ProxyBody> {
    let bucket = ctx.s3.bucket.as_deref().unwrap_or_default();
    let key = ctx.s3.key.as_deref().unwrap_or_default();
    let mut headers = object_headers(state, stored);
    if let Some(target) = redirect_target(fields, bucket, key, &stored.etag) {
        headers.insert(http::header::LOCATION, target);
        return empty(StatusCode::SEE_OTHER, headers);
    }
    let location = object_url(request, bucket, key);
    if let Ok(value) = HeaderValue::try_from(location.as_str()) {
        headers.insert(http::header::LOCATION, value);
    }
    match fields.get("success_action_status") {
        Some("201") => {
            let document = post_response(&location, bucket, key, &stored.etag);
            crate::s3::xml::response(StatusCode::CREATED, headers, document)
        }
        Some("200") => empty(StatusCode::OK, headers),
        _ => empty(StatusCode::NO_CONTENT, headers),
    }
}

/// ETag, version id, SSE and checksum headers.
fn object_headers(state: &AppState, stored: &Stored) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::try_from(stored.etag.as_str()) {
        headers.insert(http::header::ETAG, etag);
    }
    if let Some(version) = &stored.version_id {
        headers.insert("x-amz-version-id", version.clone());
    }
    let metadata = &stored.metadata;
    crate::s3::sse::add_response_headers(
        &mut headers,
        metadata.sse,
        &crate::s3::sse::key_arn(&state.kms, &metadata.data_key),
        metadata.client_context.as_deref(),
        metadata.bucket_key_enabled,
    );
    if let Some(checksum) = &stored.checksum {
        checksum.insert_headers(&mut headers);
    }
    headers
}

fn empty(status: StatusCode, mut headers: HeaderMap) -> Response<ProxyBody> {
    // A 204 has no body, so no Content-Length either (RFC 9110 §8.6).
    if status != StatusCode::NO_CONTENT {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(0));
    }
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The redirect URL with `bucket`, `key` and `etag` appended, if the form
/// asks for one and it is an absolute http(s) URL (S3 ignores URLs it cannot read).
fn redirect_target(
    fields: &FormFields,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Option<HeaderValue> {
    let url = fields
        .get("success_action_redirect")
        .or_else(|| fields.get("redirect"))?;
    let parsed: Uri = url.parse().ok()?;
    if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.authority().is_none() {
        return None;
    }
    let separator = if parsed.query().is_some() { '&' } else { '?' };
    let encode = |s: &str| uri_encode(s.as_bytes(), false);
    let target = format!(
        "{url}{separator}bucket={}&key={}&etag={}",
        encode(bucket),
        encode(key),
        encode(etag)
    );
    HeaderValue::try_from(target).ok()
}

/// Where the object can be read: path-style `http://host/bucket/key`, or
/// `http://host/key` when the request named the bucket in its host.
fn object_url(request: &http::request::Parts, bucket: &str, key: &str) -> String {
    let host = request
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let key = uri_encode(key.as_bytes(), true);
    // A POST Object's path is the bucket, or `/` when the host names it.
    if request.uri.path().trim_matches('/').is_empty() {
        format!("http://{host}/{key}")
    } else {
        format!(
            "http://{host}/{}/{key}",
            uri_encode(bucket.as_bytes(), false)
        )
    }
}

fn post_response(location: &str, bucket: &str, key: &str, etag: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>"#,
        escape(location),
        escape(bucket),
        escape(key),
        escape(etag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> FormFields {
        let mut f = FormFields::default();
        for (k, v) in pairs {
            f.push(k.to_string(), v.to_string());
        }
        f
    }

    #[test]
    fn redirects_carry_bucket_key_and_etag() {
        let target = |pairs: &[(&str, &str)]| {
            redirect_target(&fields(pairs), "b", "dir/a b.txt", "\"e1\"")
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(
            target(&[("success_action_redirect", "https://example.com/done")]).as_deref(),
            Some("https://example.com/done?bucket=b&key=dir%2Fa%20b.txt&etag=%22e1%22")
        );
        assert_eq!(
            target(&[("redirect", "http://example.com/done?x=1")]).as_deref(),
            Some("http://example.com/done?x=1&bucket=b&key=dir%2Fa%20b.txt&etag=%22e1%22")
        );
        // success_action_redirect wins over the older field name.
        assert!(
            target(&[
                ("redirect", "http://old/"),
                ("success_action_redirect", "http://new/")
            ])
            .unwrap()
            .starts_with("http://new/?")
        );
        for ignored in ["", "not a url", "/relative", "ftp://example.com/x"] {
            assert_eq!(
                target(&[("success_action_redirect", ignored)]),
                None,
                "{ignored}"
            );
        }
    }

    #[test]
    fn object_urls_follow_the_addressing_style() {
        let parts = |uri: &str| {
            http::Request::post(uri)
                .header("host", "127.0.0.1:8080")
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert_eq!(
            object_url(&parts("/photos"), "photos", "a/b c"),
            "http://127.0.0.1:8080/photos/a/b%20c"
        );
        assert_eq!(
            object_url(&parts("/"), "photos", "k"),
            "http://127.0.0.1:8080/k"
        );
    }

    #[test]
    fn post_response_document() {
        assert_eq!(
            post_response("http://h/b/k", "b", "a<b", "\"e\""),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>http://h/b/k</Location><Bucket>b</Bucket><Key>a&lt;b</Key><ETag>\"e\"</ETag></PostResponse>"
        );
    }
}
