//! Prometheus metrics, served as text on `server.admin_listen` at `/metrics`.
//!
//! One process-wide registry: the places that count (the request log, the
//! sealing and unsealing bodies, the key manager, the upstream client, the
//! accept loop) are far apart, and a counter is cheap to reach globally.
//! Labels are bounded: operation names, status codes, KMS actions, outcomes.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Latency buckets, in seconds: 1 ms to ~1 min.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    bytes_sealed: IntCounter,
    bytes_unsealed: IntCounter,
    kms_operations: IntCounterVec,
    external_kms_calls: IntCounterVec,
    bucket_key_cache: IntCounterVec,
    upstream_requests: IntCounterVec,
    upstream_seconds: HistogramVec,
    active_connections: IntGauge,
    shed_connections: IntCounterVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)
                .expect("a valid metric definition");
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let histogram_vec = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            let metric = HistogramVec::new(opts, labels).expect("a valid metric definition");
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let counter = |name: &str, help: &str| {
            let metric = IntCounter::new(name, help).expect("a valid metric definition");
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let active_connections = IntGauge::new(
            "s3seal_active_connections",
            "Client connections currently open.",
        )
        .expect("a valid metric definition");
        let _ = registry.register(Box::new(active_connections.clone()));
        Metrics {
            requests: counter_vec(
                "s3seal_requests_total",
                "Requests served, by operation and HTTP status.",
                &["operation", "status"],
            ),
            request_seconds: histogram_vec(
                "s3seal_request_duration_seconds",
                "Time to the response head, by operation.",
                &["operation"],
            ),
            bytes_sealed: counter(
                "s3seal_bytes_sealed_total",
                "Plaintext bytes encrypted on their way to the upstream.",
            ),
            bytes_unsealed: counter(
                "s3seal_bytes_unsealed_total",
                "Plaintext bytes decrypted and released to clients.",
            ),
            kms_operations: counter_vec(
                "s3seal_kms_operations_total",
                "Key uses (encrypt/decrypt under a KMS key), by action and result.",
                &["action", "result"],
            ),
            external_kms_calls: counter_vec(
                "s3seal_external_kms_calls_total",
                "Calls to the external KMS ([kms.external]), by action and result.",
                &["action", "result"],
            ),
            bucket_key_cache: counter_vec(
                "s3seal_bucket_key_cache_total",
                "Bucket key cache lookups (cache: upload or read), by result (hit or miss).",
                &["cache", "result"],
            ),
            upstream_requests: counter_vec(
                "s3seal_upstream_requests_total",
                "Requests to the upstream store, by outcome (status code, or error).",
                &["outcome"],
            ),
            upstream_seconds: histogram_vec(
                "s3seal_upstream_duration_seconds",
                "Time to the upstream's response head.",
                &["method"],
            ),
            active_connections,
            shed_connections: counter_vec(
                "s3seal_shed_connections_total",
                "Connections refused past limits.max_connections, by how (answered 503 SlowDown, or closed unanswered).",
                &["how"],
            ),
            registry,
        }
    }
}

pub fn record_request(operation: &str, status: u16, elapsed: Duration) {
    let m = &*METRICS;
    m.requests
        .with_label_values(&[operation, &status.to_string()])
        .inc();
    m.request_seconds
        .with_label_values(&[operation])
        .observe(elapsed.as_secs_f64());
}

pub fn bytes_sealed(n: u64) {
    METRICS.bytes_sealed.inc_by(n);
}

pub fn bytes_unsealed(n: u64) {
    METRICS.bytes_unsealed.inc_by(n);
}

pub fn kms_operation(action: &str, ok: bool) {
    METRICS
        .kms_operations
        .with_label_values(&[action, if ok { "ok" } else { "error" }])
        .inc();
}

/// A call to the external KMS (`GenerateDataKey`, `Decrypt`).
pub fn external_kms_call(action: &str, ok: bool) {
    METRICS
        .external_kms_calls
        .with_label_values(&[action, if ok { "ok" } else { "error" }])
        .inc();
}

/// A bucket key lookup in the `upload` or `read` cache.
pub fn bucket_key_cache(cache: &str, hit: bool) {
    METRICS
        .bucket_key_cache
        .with_label_values(&[cache, if hit { "hit" } else { "miss" }])
        .inc();
}

/// `outcome`: the status code, or a short error kind.
pub fn upstream_request(method: &str, outcome: &str, elapsed: Duration) {
    let m = &*METRICS;
    m.upstream_requests.with_label_values(&[outcome]).inc();
    m.upstream_seconds
        .with_label_values(&[method])
        .observe(elapsed.as_secs_f64());
}

/// A connection past `limits.max_connections` answered `503 SlowDown`.
pub fn connection_answered_slow_down() {
    METRICS
        .shed_connections
        .with_label_values(&["slow_down"])
        .inc();
}

/// A connection closed unanswered: too many were being shed already.
pub fn connection_shed() {
    METRICS
        .shed_connections
        .with_label_values(&["closed"])
        .inc();
}

/// Counts a connection as open until the guard drops.
pub fn connection_opened() -> ConnectionGuard {
    METRICS.active_connections.inc();
    ConnectionGuard
}

pub struct ConnectionGuard;

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        METRICS.active_connections.dec();
    }
}

/// Every metric in Prometheus' text format.
pub fn render() -> String {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&METRICS.registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}
