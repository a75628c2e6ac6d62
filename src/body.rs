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
