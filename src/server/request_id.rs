//! A tower layer giving every request an id, echoed as `x-amz-request-id`,
//! and writing one structured access-log line when the response is ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};

/// The id of the request being served, found in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// 16 uppercase hex characters, like S3's request ids.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 8];
        let _ = getrandom::fill(&mut bytes);
        RequestId(hex::encode_upper(bytes))
    }

    /// Echoes the id to the client as `x-amz-request-id`.
    pub fn set_header<B>(&self, response: &mut Response<B>) {
        if let Ok(value) = HeaderValue::try_from(self.0.as_str()) {
            response.headers_mut().insert("x-amz-request-id", value);
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

impl<S, B, RB> Service<Request<B>> for RequestIdService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = RequestId::generate();
        let method = request.method().clone();
        let started = Instant::now();
        request.extensions_mut().insert(id.clone());
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            id.set_header(&mut response);
            let operation = response
                .extensions()
                .get::<crate::server::service::OperationName>()
                .map(|o| o.0.clone());
            crate::metrics::record_request(
                operation.as_deref().unwrap_or("-"),
                response.status().as_u16(),
                started.elapsed(),
            );
            tracing::info!(
                request_id = %id.0,
                method = %method,
                operation = operation.as_deref().unwrap_or("-"),
                status = response.status().as_u16(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
            Ok(response)
        })
    }
}
