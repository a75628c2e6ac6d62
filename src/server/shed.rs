//! The answer for connections past `limits.max_connections`: every request
//! gets `503 SlowDown` (S3's "reduce your request rate", which SDKs retry
//! with backoff) and the connection closes, so the client reconnects later
//! rather than waiting on a queue it cannot see. Shed requests are not
//! logged one by one (that would add load where there is too much already),
//! but carry a request id like every S3 answer.

use std::convert::Infallible;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use tower::util::BoxCloneService;

use super::request_id::RequestId;
use super::service::S3Service;
use crate::body::ProxyBody;
use crate::error::{S3Error, S3ErrorCode};

pub fn service() -> S3Service {
    BoxCloneService::new(tower::service_fn(|request: Request<Incoming>| async move {
        crate::metrics::connection_answered_slow_down();
        let err = S3Error::new(
            S3ErrorCode::SlowDown,
            "Please reduce your request rate. (s3seal is serving its maximum number of connections)",
        );
        let is_head = request.method() == http::Method::HEAD;
        let id = RequestId::generate();
        let mut response: Response<ProxyBody> =
            err.to_response(request.uri().path(), &id.0, is_head);
        id.set_header(&mut response);
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        Ok::<_, Infallible>(response)
    }))
}
