//! `Expect: 100-continue` without a `100 Continue`: close the connection.
//!
//! hyper sends the interim `100 Continue` only when a handler first reads the
//! request body, so a request with an empty body (botocore sends
//! `Expect: 100-continue` even on zero-byte PUTs), or one rejected before its
//! body is read, gets its final response straight away. The RFC allows that,
//! but botocore then keeps the final status line it saw in place of a
//! `100 Continue` attached to the pooled connection, and misreads the *next*
//! response on that connection (a part upload answered with no headers, so
//! `aws s3 sync` fails with `KeyError: 'ETag'`). Answering such requests with
//! `Connection: close` makes the client open a fresh connection instead.
//!
//! A request rejected before its body was read (a bad signature, say) whose
//! client did *not* wait for `100 Continue` is sending that body already:
//! answering and closing at once can make the client fail on its write
//! (connection reset) before it reads the answer. So a small remainder is
//! read and dropped first, within a byte and time budget.

use std::time::Duration;

use crate::body::ClientBody;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;

/// At most this much of a rejected body is read before answering.
const DRAIN_LIMIT: u64 = 4 * 1024 * 1024;
/// And for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Whether the request asked for `100 Continue`.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Whether the request declares no body at all (so hyper sends no `100 Continue`).
pub fn declares_empty_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return false;
    }
    match headers.get(header::CONTENT_LENGTH) {
        None => true,
        Some(value) => value.as_bytes() == b"0",
    }
}

/// Whether the connection must close after this response: the client waited
/// for `100 Continue` and was never (or not certainly) sent one.
pub fn must_close(expected_continue: bool, empty_body: bool, status: StatusCode) -> bool {
    expected_continue && (empty_body || !status.is_success())
}

/// Reads and drops what is left of a rejected request's body, up to
/// [`DRAIN_LIMIT`] bytes and [`DRAIN_TIME`]; a larger or slower body is left
/// for the connection's close.
pub async fn drain_rejected_body(mut body: ClientBody) {
    let drain = async {
        let mut read = 0u64;
        while read <= DRAIN_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}

/// Marks the response so hyper closes the connection once it is written.
pub fn close_connection(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn empty_bodies_waiting_for_continue_close_the_connection() {
        let zero = headers(&[("expect", "100-Continue"), ("content-length", "0")]);
        assert!(expects_continue(&zero));
        assert!(declares_empty_body(&zero));
        assert!(must_close(true, true, StatusCode::OK));
    }

    #[test]
    fn bodies_that_were_read_keep_the_connection() {
        let sized = headers(&[("expect", "100-continue"), ("content-length", "8")]);
        assert!(!declares_empty_body(&sized));
        assert!(!must_close(true, false, StatusCode::OK));
        // Rejected before the body was read: no 100 was sent.
        assert!(must_close(true, false, StatusCode::FORBIDDEN));
        let chunked = headers(&[("transfer-encoding", "chunked")]);
        assert!(!declares_empty_body(&chunked));
        assert!(!must_close(false, true, StatusCode::OK));
    }
}
