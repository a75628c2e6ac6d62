//! The operator's endpoints on `server.admin_listen`: liveness, readiness
//! and Prometheus metrics (`/metrics`, see [`crate::metrics`]).
//!
//! They have their own listener because every path on the S3 listeners is a
//! bucket or an object (`/health/live` is object `live` of bucket `health`),
//! and because an orchestrator's probes need no credentials.
//!
//! - `GET /health/live`: 200 while the process serves requests.
//! - `GET /health/ready`: 200 only when the key store answers, the root of
//!   trust unwraps key material (a round trip through the default KMS key),
//!   the upstream answers an HTTP request, and, with `[kms.external]`, the
//!   external KMS describes its default key as enabled; else 503, naming
//!   what failed.

use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Response, StatusCode};
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::audit::event::KMS_KEY_RESOURCE;
use crate::body::{self, ProxyBody};
use crate::kms::EncryptionContext;
use crate::kms::external::ExternalKms;
use crate::state::AppState;
use crate::upstream::UpstreamRequest;

/// How long the upstream (or the external KMS) may take to answer a readiness probe.
const UPSTREAM_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// One readiness check's outcome.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    elapsed_ms: f64,
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    checks: Vec<Check>,
}

pub async fn serve(state: &AppState, method: &Method, path: &str) -> Response<ProxyBody> {
    match (method, path) {
        (&Method::GET, "/metrics") => {
            let mut response =
                Response::new(body::full(bytes::Bytes::from(crate::metrics::render())));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        (&Method::GET | &Method::HEAD, "/health/live") => {
            json(StatusCode::OK, &serde_json::json!({"live": true}))
        }
        (&Method::GET | &Method::HEAD, "/health/ready") => {
            let mut checks = vec![
                timed("store", || check_store(state)),
                timed("root_of_trust", || check_root_of_trust(state)),
                timed_async("upstream", check_upstream(state)).await,
            ];
            if let Some(external) = &state.external_kms {
                checks.push(timed_async("external_kms", check_external_kms(state, external)).await);
            }
            let ready = checks.iter().all(|c| c.ok);
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(status, &Readiness { ready, checks })
        }
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "unknown admin endpoint; see /health/live, /health/ready, /metrics"}),
        ),
    }
}

fn check_store(state: &AppState) -> Result<(), String> {
    state.store.check_ready().map_err(|e| e.to_string())
}

/// Encrypts and decrypts a probe under the default key: that needs the key
/// store and the root key (or HSM) that protects the keys' material.
fn check_root_of_trust(state: &AppState) -> Result<(), String> {
    let operator = state.kms.operator();
    let context = EncryptionContext::new();
    let (blob, _) = state
        .kms
        .encrypt(
            &operator,
            "kms:Encrypt",
            &state.default_kms_key_id,
            b"s3seal readiness probe",
            &context,
        )
        .map_err(|e| e.to_string())?;
    let (plaintext, _, _) = state
        .kms
        .decrypt(&operator, "kms:Decrypt", &blob, &context)
        .map_err(|e| e.to_string())?;
    if plaintext.as_slice() != b"s3seal readiness probe" {
        return Err("the probe did not decrypt to itself".into());
    }
    Ok(())
}

/// Any HTTP answer from the upstream counts (even 403): it is reachable.
async fn check_upstream(state: &AppState) -> Result<(), String> {
    let request = UpstreamRequest::bodyless(Method::GET, None, None, Vec::new());
    match tokio::time::timeout(UPSTREAM_PROBE_TIMEOUT, state.upstream.send(request)).await {
        Ok(Ok(response)) if response.status().is_server_error() => {
            Err(format!("the upstream answered {}", response.status()))
        }
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            UPSTREAM_PROBE_TIMEOUT.as_secs()
        )),
    }
}

/// DescribeKey of the external default key: the KMS answers, accepts
/// s3seal's credentials, and the key is enabled. The call is recorded in the
/// audit log like every call to the external KMS.
async fn check_external_kms(state: &AppState, external: &ExternalKms) -> Result<(), String> {
    let answer = tokio::time::timeout(UPSTREAM_PROBE_TIMEOUT, external.describe_default_key())
        .await
        .map_err(|_| {
            format!(
                "the external KMS at {} gave no answer within {} s",
                external.endpoint(),
                UPSTREAM_PROBE_TIMEOUT.as_secs()
            )
        });
    let mut event = AuditEvent::service_event(
        "DescribeKey",
        &state.config.server.region,
        &state.config.server.account_id,
    )
    .with_parameters(serde_json::json!({"keyId": external.default_key_id()}));
    event.additional_event_data = Some(
        serde_json::json!({"externalKmsEndpoint": external.endpoint(), "readinessProbe": true}),
    );
    let outcome = match answer {
        Ok(Ok((arn, true))) => {
            event = event.with_resource(KMS_KEY_RESOURCE, arn);
            Ok(())
        }
        Ok(Ok((arn, false))) => Err(format!("the external default key {arn} is not enabled")),
        Ok(Err(err)) => {
            event = event.with_error(err.audit_code(), &err.to_string());
            Err(err.to_string())
        }
        Err(timeout) => {
            event = event.with_error("KMSUnreachable", &timeout);
            Err(timeout)
        }
    };
    state.audit.record(event).await.map_err(|e| e.to_string())?;
    outcome
}

fn timed(name: &'static str, check: impl FnOnce() -> Result<(), String>) -> Check {
    let started = Instant::now();
    let outcome = check();
    finish(name, outcome, started)
}

async fn timed_async(
    name: &'static str,
    check: impl std::future::Future<Output = Result<(), String>>,
) -> Check {
    let started = Instant::now();
    let outcome = check.await;
    finish(name, outcome, started)
}

fn finish(name: &'static str, outcome: Result<(), String>, started: Instant) -> Check {
    Check {
        name,
        ok: outcome.is_ok(),
        error: outcome.err(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<ProxyBody> {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    let mut response = Response::new(body::full(bytes::Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
