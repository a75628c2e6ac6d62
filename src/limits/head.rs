//! The size of a request's header section.

use http::HeaderMap;

use super::LimitsConfig;
use crate::error::{S3Error, S3ErrorCode};

/// Refuses a request whose headers exceed `max_header_count` fields or
/// `max_header_bytes` bytes (names and values), as S3 does with
/// `400 RequestHeaderSectionTooLarge`. hyper's own, larger, hard limits stop
/// anything far bigger before it is buffered.
pub fn check_request_head(headers: &HeaderMap, limits: &LimitsConfig) -> Result<(), S3Error> {
    if headers.len() > limits.max_header_count {
        return Err(too_large(format!(
            "the request has {} header fields; at most {} are allowed",
            headers.len(),
            limits.max_header_count
        )));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > limits.max_header_bytes {
        return Err(too_large(format!(
            "the request's headers are {bytes} bytes; at most {} are allowed",
            limits.max_header_bytes
        )));
    }
    Ok(())
}

fn too_large(message: String) -> S3Error {
    S3Error::new(
        S3ErrorCode::RequestHeaderSectionTooLarge,
        format!("Your request header section exceeds the maximum allowed size: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(n: usize, value_len: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        for i in 0..n {
            h.insert(
                http::HeaderName::from_bytes(format!("x-amz-meta-h{i}").as_bytes()).unwrap(),
                "v".repeat(value_len).parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn counts_fields_and_bytes() {
        let limits = LimitsConfig {
            max_header_bytes: 1024,
            max_header_count: 16,
            ..LimitsConfig::default()
        };
        assert!(check_request_head(&headers(16, 10), &limits).is_ok());
        let err = check_request_head(&headers(17, 1), &limits).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::RequestHeaderSectionTooLarge);
        assert_eq!(err.code.status(), 400);
        // 2 fields of 13 + 499 bytes: 1024 exactly passes, two bytes more do not.
        assert!(check_request_head(&headers(2, 499), &limits).is_ok());
        assert!(check_request_head(&headers(2, 500), &limits).is_err());
    }
}
