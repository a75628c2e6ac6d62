//! The upstream S3 store: a pooled HTTP client that re-signs every request.
//!
//! Clients' credentials never leave s3seal: each request to the upstream is
//! built afresh (path-style or virtual-hosted addressing), carries only the
//! headers the handler chose to forward, and is signed with `aws-sigv4` under
//! s3seal's own upstream credentials. Bodies stream; object bodies are signed
//! as `UNSIGNED-PAYLOAD` (they are ciphertext authenticated by AES-GCM),
//! small XML bodies with their precomputed SHA-256. An `https://` upstream
//! is reached over TLS ([`tls`]), over TCP connections that do not delay
//! their acknowledgements ([`quick_ack`]). An upstream that stops answering
//! is given up on after `upstream.idle_timeout_seconds` ([`idle`]).

pub mod idle;
pub mod quick_ack;
pub mod tls;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_http::timeout::TimeoutBody;

use crate::auth::sigv4::uri_encode;
use crate::body::ProxyBody;
use crate::config::UpstreamConfig;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to the upstream: {0}")]
    Unreachable(String),
    #[error("the upstream store did not answer for {0} s")]
    Timeout(u64),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("signing the upstream request failed: {0}")]
    Signing(String),
    #[error("the upstream request failed: {0}")]
    Protocol(String),
}

/// How the upstream request's payload is declared in its signature.
#[derive(Debug, Clone)]
pub enum UpstreamPayload {
    /// Streamed and not hashed in advance.
    Unsigned,
    /// The hex SHA-256 of a body known in full (empty bodies included).
    Sha256Hex(String),
}

impl UpstreamPayload {
    pub fn empty() -> Self {
        UpstreamPayload::Sha256Hex(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        )
    }
}

/// A request to the upstream, before addressing and signing.
pub struct UpstreamRequest {
    pub method: Method,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// Decoded query parameters, forwarded in this order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: ProxyBody,
    pub payload: UpstreamPayload,
}

impl UpstreamRequest {
    /// A request without a body (HEAD, GET, DELETE, a copy's PUT, ...).
    pub fn bodyless(
        method: Method,
        bucket: Option<String>,
        key: Option<String>,
        query: Vec<(String, String)>,
    ) -> Self {
        UpstreamRequest {
            method,
            bucket,
            key,
            query,
            headers: HeaderMap::new(),
            body: crate::body::empty(),
            payload: UpstreamPayload::empty(),
        }
    }

    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }
}

/// A response body from the upstream. It fails (with
/// [`tower_http::timeout::TimeoutError`]) when the upstream sends nothing for
/// `upstream.idle_timeout_seconds` while s3seal waits for the next bytes.
/// (Boxed and pinned: the timer inside is `!Unpin`, and readers poll the
/// body by reference.)
pub type UpstreamBody = std::pin::Pin<Box<TimeoutBody<Incoming>>>;

pub struct UpstreamClient {
    client: Client<tls::UpstreamConnector, ProxyBody>,
    /// How long the upstream may be waited on without progress ([`idle`]).
    idle_timeout: Duration,
    scheme: String,
    authority: String,
    region: String,
    identity: Identity,
    path_style: bool,
    /// The SigV4 service name requests are signed for: `s3`, or `kms` for
    /// the load generator's KMS calls ([`crate::bench`]).
    service: &'static str,
}

impl UpstreamClient {
    pub fn new(config: &UpstreamConfig) -> Result<Self, String> {
        Self::for_service(config, "s3")
    }

    /// A client that signs for another SigV4 `service` than `s3`.
    pub fn for_service(config: &UpstreamConfig, service: &'static str) -> Result<Self, String> {
        let uri: Uri = config
            .url
            .parse()
            .map_err(|e| format!("upstream.url: {e}"))?;
        let authority = uri
            .authority()
            .ok_or("upstream.url has no host")?
            .to_string();
        let https = uri.scheme_str() == Some("https");
        let connector = tls::connector(config, https).map_err(|e| e.to_string())?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        let credentials = Credentials::new(
            config.access_key_id.clone(),
            config.secret_access_key.expose().to_string(),
            None,
            None,
            "s3seal-upstream",
        );
        Ok(UpstreamClient {
            client,
            idle_timeout: Duration::from_secs(config.idle_timeout_seconds.max(1)),
            scheme: uri.scheme_str().unwrap_or("http").to_string(),
            authority,
            region: config.region.clone(),
            identity: credentials.into(),
            path_style: config.path_style,
            service,
        })
    }

    /// The URI for a bucket/key/query on the upstream, S3-encoded.
    fn uri_for(
        &self,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> (String, String) {
        let (host, mut path) = match (bucket, self.path_style) {
            (Some(bucket), true) => (
                self.authority.clone(),
                format!("/{}", uri_encode(bucket.as_bytes(), false)),
            ),
            (Some(bucket), false) => (format!("{bucket}.{}", self.authority), String::new()),
            (None, _) => (self.authority.clone(), String::new()),
        };
        match key {
            Some(key) => {
                path.push('/');
                path.push_str(&uri_encode(key.as_bytes(), true));
            }
            None if path.is_empty() => path.push('/'),
            None => {}
        }
        if !query.is_empty() {
            path.push('?');
            let encoded: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        uri_encode(k.as_bytes(), false),
                        uri_encode(v.as_bytes(), false)
                    )
                })
                .collect();
            path.push_str(&encoded.join("&"));
        }
        let uri = format!("{}://{host}{path}", self.scheme);
        (host, uri)
    }

    /// Addresses, signs and sends `request`.
    pub async fn send(
        &self,
        request: UpstreamRequest,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let (host, uri) = self.uri_for(
            request.bucket.as_deref(),
            request.key.as_deref(),
            &request.query,
        );
        let mut http_request = Request::builder()
            .method(request.method)
            .uri(&uri)
            .body(request.body)
            .map_err(|e| {
                UpstreamError::InvalidRequest(format!("cannot build the upstream request: {e}"))
            })?;
        *http_request.headers_mut() = request.headers;
        let host_value = HeaderValue::try_from(host)
            .map_err(|e| UpstreamError::InvalidRequest(e.to_string()))?;
        http_request
            .headers_mut()
            .insert(http::header::HOST, host_value);
        self.sign(&mut http_request, &request.payload)?;
        let progress = idle::Progress::new();
        let http_request =
            http_request.map(|body| BodyExt::boxed(idle::TrackedBody::new(body, progress.clone())));
        let method = http_request.method().clone();
        let started = std::time::Instant::now();
        let sent = idle::await_response(
            self.client.request(http_request),
            &progress,
            self.idle_timeout,
        )
        .await;
        let result = match sent {
            Err(idle::UpstreamIdle) => Err(UpstreamError::Timeout(self.idle_timeout.as_secs())),
            Ok(Err(e)) if e.is_connect() => Err(UpstreamError::Unreachable(error_chain(&e))),
            Ok(Err(e)) => Err(UpstreamError::Protocol(error_chain(&e))),
            Ok(Ok(response)) => {
                Ok(response.map(|body| Box::pin(TimeoutBody::new(self.idle_timeout, body))))
            }
        };
        let outcome = match &result {
            Ok(response) => response.status().as_u16().to_string(),
            Err(UpstreamError::Unreachable(_)) => "unreachable".to_string(),
            Err(UpstreamError::Timeout(_)) => "timeout".to_string(),
            Err(_) => "error".to_string(),
        };
        crate::metrics::upstream_request(method.as_str(), &outcome, started.elapsed());
        result
    }

    fn sign(
        &self,
        request: &mut Request<ProxyBody>,
        payload: &UpstreamPayload,
    ) -> Result<(), UpstreamError> {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let body = match payload {
            UpstreamPayload::Unsigned => SignableBody::UnsignedPayload,
            UpstreamPayload::Sha256Hex(hash) => SignableBody::Precomputed(hash.clone()),
        };
        let scope = SigningScope {
            identity: &self.identity,
            region: &self.region,
            service: self.service,
        };
        sign_request(request, &scope, settings, body)
    }
}

/// Who signs, for which Region and service.
pub struct SigningScope<'a> {
    pub identity: &'a Identity,
    pub region: &'a str,
    pub service: &'a str,
}

/// Signs `request` (its headers as they are, `body` as its payload) with
/// SigV4 and adds the signature headers. Shared by the upstream client and
/// the calls to peer deployments' KMS APIs ([`crate::kms::replication`]).
pub fn sign_request<B>(
    request: &mut Request<B>,
    scope: &SigningScope,
    settings: SigningSettings,
    body: SignableBody<'_>,
) -> Result<(), UpstreamError> {
    let params = v4::SigningParams::builder()
        .identity(scope.identity)
        .region(scope.region)
        .name(scope.service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| UpstreamError::Signing(e.to_string()))?
        .into();
    let mut headers = Vec::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        let value = value.to_str().map_err(|_| {
            UpstreamError::InvalidRequest(format!(
                "header {name} must be visible ASCII (encode non-ASCII metadata per RFC 2047)"
            ))
        })?;
        headers.push((name.as_str(), value));
    }
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(request.method().as_str(), uri, headers.into_iter(), body)
        .map_err(|e| UpstreamError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| UpstreamError::Signing(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// The error and its sources, for logs and messages.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Secret;

    fn client(path_style: bool) -> UpstreamClient {
        UpstreamClient::new(&UpstreamConfig {
            url: "http://127.0.0.1:3900".into(),
            region: "garage".into(),
            access_key_id: "GK".into(),
            secret_access_key: Secret::new("s"),
            path_style,
            connect_timeout_seconds: 1,
            idle_timeout_seconds: 120,
            ca_bundle: None,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn addressing() {
        let c = client(true);
        let (host, uri) = c.uri_for(Some("b"), Some("a b/ü+%"), &[("uploads".into(), "".into())]);
        assert_eq!(host, "127.0.0.1:3900");
        assert_eq!(uri, "http://127.0.0.1:3900/b/a%20b/%C3%BC%2B%25?uploads=");
        assert_eq!(c.uri_for(None, None, &[]).1, "http://127.0.0.1:3900/");
        assert_eq!(c.uri_for(Some("b"), None, &[]).1, "http://127.0.0.1:3900/b");
        let v = client(false);
        assert_eq!(
            v.uri_for(Some("b"), Some("k"), &[]).1,
            "http://b.127.0.0.1:3900/k"
        );
    }
}
