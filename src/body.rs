//! The body types that flow through s3seal.
//!
//! Bodies are always streams of [`Bytes`] frames; a whole object is never held
//! in memory. [`ProxyBody`] is the one boxed body type used for responses to
//! clients and requests to the upstream, so handlers can compose streaming
//! adapters (verify → seal, upstream → unseal) without naming their types.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

/// Errors carried inside a body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The boxed streaming body used for every request and response s3seal builds.
pub type ProxyBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

pub fn empty() -> ProxyBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A client's request body, as handlers receive it: it fails with a
/// [`tower_http::timeout::TimeoutError`] when the client sends nothing for
/// `limits.body_idle_timeout_seconds` (see [`is_idle_timeout`]).
pub type ClientBody = http_body_util::combinators::BoxBody<Bytes, ClientBodyError>;

/// `incoming` as a [`ClientBody`] that fails after `idle_timeout` without data.
pub fn client_body(
    incoming: hyper::body::Incoming,
    idle_timeout: std::time::Duration,
) -> ClientBody {
    tower_http::timeout::TimeoutBody::new(idle_timeout, incoming)
        .map_err(ClientBodyError)
        .boxed()
}

/// Why a client's body failed: the connection's error, or the idle timeout.
/// (A named type rather than [`BoxError`]: `Into<BoxError>` bounds on a
/// boxed error trip rustc's higher-ranked `Send` inference in the handlers.)
#[derive(Debug)]
pub struct ClientBodyError(BoxError);

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ClientBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

/// Whether a body error, however wrapped, is the client's body going idle.
pub fn is_idle_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// The S3 error for a client body that stopped arriving (S3's own words).
pub fn idle_timeout_error() -> crate::error::S3Error {
    crate::error::S3Error::new(
        crate::error::S3ErrorCode::RequestTimeout,
        "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
    )
}

/// Boxes any body whose error converts to [`BoxError`].
pub fn boxed<B>(body: B) -> ProxyBody
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// Where a streaming body adapter records *why* it failed.
///
/// When a request body fails mid-stream (digest mismatch, short body), the
/// upstream request is aborted and hyper reports a generic error; the handler
/// reads the typed cause from here to answer the client with the right S3 error.
#[derive(Clone, Default)]
pub struct FailureSlot(Arc<Mutex<Option<crate::error::S3Error>>>);

impl FailureSlot {
    pub fn record(&self, err: crate::error::S3Error) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(err);
        }
    }

    pub fn take(&self) -> Option<crate::error::S3Error> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Error type used inside body streams: displays the S3 error, keeps it typed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StreamFailure(pub String);
