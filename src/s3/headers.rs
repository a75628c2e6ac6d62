//! Which headers cross s3seal, in each direction.
//!
//! Requests to the upstream are rebuilt from an allow-by-default list minus
//! everything that belongs to the client's connection or signature, or that
//! describes plaintext the upstream will never see. Responses lose the
//! upstream's own bookkeeping and, for sealed objects, everything describing
//! the ciphertext.

use http::{HeaderMap, HeaderName};

use crate::seal::SealedObjectMetadata;

/// Connection-level headers never forwarded (RFC 9110 §7.6.1) plus those
/// rewritten per hop.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// The client's signature and identity: s3seal re-signs with its own.
const CLIENT_AUTH: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "date",
];

/// Describe the plaintext body or its encryption; wrong or dangerous for the ciphertext.
const PLAINTEXT_DESCRIPTORS: &[&str] = &[
    "content-md5",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-trailer",
    "x-amz-decoded-content-length",
    "x-amz-checksum-algorithm",
    "x-amz-checksum-type",
];

/// How a request's headers are forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// The body (if any) is forwarded unchanged.
    PassThrough,
    /// The body is sealed: checksums and SSE headers describe plaintext.
    SealedWrite,
    /// A read of a possibly sealed object: s3seal answers the SSE and checksum parts itself.
    SealedRead,
}

pub fn forward_request_headers(headers: &HeaderMap, mode: Forward) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        let drop = HOP_BY_HOP.contains(&n)
            || CLIENT_AUTH.contains(&n)
            || n == "user-agent"
            || SealedObjectMetadata::is_internal_header(n)
            || match mode {
                Forward::PassThrough => false,
                Forward::SealedWrite => {
                    PLAINTEXT_DESCRIPTORS.contains(&n)
                        || n.starts_with("x-amz-checksum-")
                        || n.starts_with("x-amz-server-side-encryption")
                }
                Forward::SealedRead => {
                    n == "x-amz-checksum-mode" || n.starts_with("x-amz-server-side-encryption")
                }
            };
        if !drop {
            out.append(name.clone(), value.clone());
        }
    }
    if mode == Forward::SealedWrite {
        strip_aws_chunked_encoding(&mut out);
    }
    out
}

/// `Content-Encoding: aws-chunked, gzip` → `gzip`: the framing is s3seal's business.
fn strip_aws_chunked_encoding(headers: &mut HeaderMap) {
    let Some(value) = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let rest: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.eq_ignore_ascii_case("aws-chunked") && !t.is_empty())
        .collect();
    if rest.is_empty() {
        headers.remove(http::header::CONTENT_ENCODING);
    } else if let Ok(v) = rest.join(", ").parse() {
        headers.insert(http::header::CONTENT_ENCODING, v);
    }
}

/// Upstream response headers that must not reach the client.
fn dropped_from_response(name: &HeaderName, sealed: bool) -> bool {
    let n = name.as_str();
    // Connection-level, or the upstream's own request ids (s3seal sends its own).
    let upstream_bookkeeping = matches!(
        n,
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "x-amz-request-id"
            | "x-amz-id-2"
            | "server"
            | "proxy-connection"
    );
    // For a sealed object these describe the ciphertext, not what the client reads.
    let ciphertext_descriptors = sealed
        && (matches!(n, "content-length" | "content-range" | "content-md5")
            || n.starts_with("x-amz-checksum-")
            || n.starts_with("x-amz-server-side-encryption"));
    upstream_bookkeeping || ciphertext_descriptors || SealedObjectMetadata::is_internal_header(n)
}

pub fn relay_response_headers(upstream: &HeaderMap, sealed: bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        if !dropped_from_response(name, sealed) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn sealed_writes_drop_plaintext_descriptors_and_client_auth() {
        let h = map(&[
            ("authorization", "AWS4-HMAC-SHA256 x"),
            ("x-amz-content-sha256", "abc"),
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("content-md5", "x"),
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-meta-s3seal-dk", "forged"),
            ("content-type", "text/plain"),
            ("content-encoding", "aws-chunked"),
            ("expect", "100-continue"),
        ]);
        let out = forward_request_headers(&h, Forward::SealedWrite);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["x-amz-meta-color", "content-type"]);
        let pass = forward_request_headers(&h, Forward::PassThrough);
        assert!(pass.contains_key("content-md5") && pass.contains_key("x-amz-checksum-crc32"));
        assert!(!pass.contains_key("authorization") && !pass.contains_key("x-amz-meta-s3seal-dk"));
    }

    #[test]
    fn responses_hide_internal_metadata_and_ciphertext_descriptors() {
        let h = map(&[
            ("content-length", "100"),
            ("etag", "\"e\""),
            ("x-amz-meta-s3seal-dk", "x"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-checksum-crc32", "x"),
            ("x-amz-request-id", "upstream"),
        ]);
        let sealed = relay_response_headers(&h, true);
        assert_eq!(
            sealed.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            vec!["etag", "x-amz-meta-color"]
        );
        let plain = relay_response_headers(&h, false);
        assert!(plain.contains_key("content-length") && plain.contains_key("x-amz-checksum-crc32"));
        assert!(!plain.contains_key("x-amz-meta-s3seal-dk"));
    }
}
