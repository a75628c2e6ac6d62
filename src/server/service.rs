//! The request pipeline as a tower service:
//! request id → route → authenticate → handler → errors rendered as S3 XML.
//! Browser POST uploads skip the authentication step: their credentials are
//! form fields, which their handler reads and checks itself.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use tower::ServiceBuilder;
use tower::util::BoxCloneService;

use super::expect_continue;
use super::request_id::{RequestId, RequestIdLayer};
use crate::body::{ClientBody, ProxyBody};
use crate::error::S3Error;
use crate::s3::{self, RequestContext, route};
use crate::state::AppState;

pub type S3Service = BoxCloneService<Request<Incoming>, Response<ProxyBody>, Infallible>;

/// The S3 operation served, attached to responses for the access log.
#[derive(Debug, Clone)]
pub struct OperationName(pub String);

/// The connection a request arrived on, attached to each of its requests.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo {
    /// The client's address (`aws:SourceIp`).
    pub peer: SocketAddr,
    /// Whether s3seal terminated TLS on it (`aws:SecureTransport`).
    pub tls: bool,
}

/// Which APIs a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    S3AndKms,
    S3Only,
    KmsOnly,
    /// The operator's endpoints (health), see [`super::admin`].
    Admin,
}

pub fn build(state: Arc<AppState>, scope: Scope) -> S3Service {
    let body_idle_timeout = state.config.limits.body_idle_timeout();
    let service = ServiceBuilder::new().layer(RequestIdLayer).service_fn(
        move |request: Request<Incoming>| {
            let state = state.clone();
            let request = request.map(|body| crate::body::client_body(body, body_idle_timeout));
            async move {
                let expected_continue = expect_continue::expects_continue(request.headers());
                let empty_body = expect_continue::declares_empty_body(request.headers());
                let mut response = serve_request(&state, scope, request).await;
                if expect_continue::must_close(expected_continue, empty_body, response.status()) {
                    expect_continue::close_connection(response.headers_mut());
                }
                Ok::<_, Infallible>(response)
            }
        },
    );
    BoxCloneService::new(service)
}

/// Tags each request of a connection with what is known of the connection.
pub fn with_connection(service: S3Service, connection: ConnectionInfo) -> S3Service {
    BoxCloneService::new(tower::util::MapRequest::new(
        service,
        move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(connection);
            request
        },
    ))
}

fn take_body(body: &mut Option<ClientBody>) -> Result<ClientBody, S3Error> {
    body.take()
        .ok_or_else(|| S3Error::internal("the request body was already taken"))
}

/// The bucket a virtual-hosted-style request names in its `Host`
/// (`<bucket>.<virtual_host_domain>[:port]`), if any.
fn virtual_host_bucket(parts: &http::request::Parts, domain: Option<&str>) -> Option<String> {
    let domain = domain?;
    let host = parts.headers.get(http::header::HOST)?.to_str().ok()?;
    let host = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    let bucket = host.strip_suffix(domain)?.strip_suffix('.')?;
    (!bucket.is_empty()).then(|| bucket.to_ascii_lowercase())
}

async fn serve_request(
    state: &AppState,
    scope: Scope,
    request: Request<ClientBody>,
) -> Response<ProxyBody> {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let is_head = request.method() == Method::HEAD;
    let resource = request.uri().path().to_string();
    let (parts, body) = request.into_parts();
    if scope == Scope::Admin {
        return super::admin::serve(state, &parts.method, parts.uri.path()).await;
    }
    if let Err(err) = crate::limits::check_request_head(&parts.headers, &state.config.limits) {
        tracing::info!(request_id = %request_id, code = %err.code, message = %err.message, "request rejected");
        return err.to_response(&resource, &request_id, is_head);
    }
    let connection = parts.extensions.get::<ConnectionInfo>().copied();
    let source_ip = connection.map(|c| c.peer.ip().to_string());
    let user_agent = crate::auth::user_agent(&parts.headers);
    let claimed_access_key_id = crate::auth::claimed_access_key_id(&parts);
    let secure_transport = connection.is_some_and(|c| c.tls);
    if scope == Scope::KmsOnly && !crate::kms::api::is_kms_request(&parts) {
        return crate::kms::api::error::ApiError::new(
            "UnknownOperationException",
            "this listener serves only the KMS API (kms.listen)",
        )
        .to_response(&request_id);
    }
    if scope != Scope::S3Only && crate::kms::api::is_kms_request(&parts) {
        let name = format!("kms:{}", crate::kms::api::operation_name(&parts));
        let caller_transport = crate::kms::Transport {
            source_ip,
            secure: secure_transport,
        };
        let mut response =
            crate::kms::api::serve(state, &request_id, parts, body, caller_transport).await;
        response.extensions_mut().insert(OperationName(name));
        return response;
    }
    let mut operation = None;
    // What the audit record of the answer names, as far as it got.
    let mut target: Option<(Option<String>, Option<String>)> = None;
    let mut principal = None;
    let origin = crate::audit::RequestOrigin {
        request_id: request_id.clone(),
        source_ip: source_ip.clone(),
        user_agent: user_agent.clone(),
    };
    let drain_if_rejected = !expect_continue::expects_continue(&parts.headers);
    // Handed to the handler once the request is authenticated; still here if
    // it was rejected before that.
    let mut unread_body = Some(body);
    let result: Result<Response<ProxyBody>, S3Error> = async {
        let virtual_bucket =
            virtual_host_bucket(&parts, state.config.server.virtual_host_domain.as_deref());
        let s3 = route::resolve_for_host(
            &parts.method,
            &parts.uri,
            parts.headers.contains_key("x-amz-copy-source"),
            virtual_bucket.as_deref(),
        )?;
        operation = Some(s3.operation.name());
        target = Some((s3.bucket.clone(), s3.key.clone()));
        if s3.operation == route::Operation::PostObject {
            let client = s3::post_object::Client {
                request_id: &request_id,
                source_ip,
                secure_transport,
                user_agent,
            };
            let body = take_body(&mut unread_body)?;
            return s3::post_object::serve(state, client, s3, parts, body).await;
        }
        let auth = state.auth.authenticate(&parts, "s3", SystemTime::now())?;
        principal = Some(auth.principal.clone());
        state.rate_limits.check(&auth.principal.name)?;
        let body = take_body(&mut unread_body)?;
        let ctx = RequestContext {
            source_ip,
            user_agent,
            secure_transport,
            chunk_signing: auth.chunk_signing,
            request_id: request_id.clone(),
            principal: auth.principal,
            auth_method: auth.method,
            payload: auth.payload,
            s3,
        };
        s3::handle(state, &ctx, parts, body).await
    }
    .await;
    if let (Err(_), Some(body), true) = (&result, unread_body, drain_if_rejected) {
        expect_continue::drain_rejected_body(body).await;
    }
    let (bucket, key) = target.unwrap_or_default();
    let outline = s3::audit::Outline {
        operation: operation.as_deref().unwrap_or("Unknown"),
        principal: principal.as_ref(),
        claimed_access_key_id,
        origin,
        bucket: bucket.as_deref(),
        key: key.as_deref(),
    };
    let result = record_outcome(state, outline, result).await;
    let mut response = match result {
        Ok(response) => response,
        Err(err) => {
            let level_is_error = err.code.status().is_server_error();
            if level_is_error {
                tracing::error!(request_id = %request_id, code = %err.code, message = %err.message, "request failed");
            } else {
                tracing::info!(request_id = %request_id, code = %err.code, message = %err.message, "request rejected");
            }
            err.to_response(&resource, &request_id, is_head)
        }
    };
    if let Some(name) = operation {
        response.extensions_mut().insert(OperationName(name));
    }
    response
}

/// Records a refused request or a bucket security change in the audit log
/// before it is answered. A change that cannot be recorded still happened:
/// the client is told it failed (500) so it checks and retries.
async fn record_outcome(
    state: &AppState,
    outline: s3::audit::Outline<'_>,
    result: Result<Response<ProxyBody>, S3Error>,
) -> Result<Response<ProxyBody>, S3Error> {
    let event = match &result {
        Err(err) if s3::audit::is_denial(err) => s3::audit::denial_event(state, outline, err),
        Ok(response)
            if response.status().is_success()
                && s3::audit::is_security_change(outline.operation) =>
        {
            s3::audit::change_event(state, outline)
        }
        _ => return result,
    };
    s3::audit::record(state, event).await?;
    result
}
