//! The HTTP server: accepts connections, runs each request through the tower
//! stack, and shuts down gracefully.
//!
//! On SIGTERM or SIGINT the listener closes at once; requests in flight get
//! `server.shutdown_grace_seconds` to finish before connections are dropped.

pub mod expect_continue;
pub mod request_id;
pub mod service;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::state::AppState;

/// A client that sends no request head within this time is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until a shutdown signal arrives: S3 (and the KMS API) on
/// `server.listen`, or the KMS API alone on `kms.listen` when that is set.
pub async fn run(state: Arc<AppState>) -> std::io::Result<()> {
    let listener = TcpListener::bind(state.config.server.listen).await?;
    tokio::spawn(key_maintenance(state.clone()));
    let Some(kms_address) = state.config.kms.listen else {
        return serve(listener, state, Scope::S3AndKms, shutdown_signal()).await;
    };
    let kms_listener = TcpListener::bind(kms_address).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let (s3, kms) = tokio::join!(
        serve(
            listener,
            state.clone(),
            Scope::S3Only,
            wait(stopped.clone())
        ),
        serve(kms_listener, state, Scope::KmsOnly, wait(stopped)),
    );
    s3.and(kms)
}

pub use service::Scope;

/// How often due key rotations and deletions are carried out.
const KEY_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// Rotates KMS keys whose automatic rotation is due and destroys keys whose
/// deletion date passed, once a minute (and once at start).
async fn key_maintenance(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(KEY_MAINTENANCE_INTERVAL);
    loop {
        ticker.tick().await;
        let kms_state = state.clone();
        let outcome =
            tokio::task::spawn_blocking(move || kms_state.kms.run_due_work(s3seal_now())).await;
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "KMS key maintenance failed"),
            Err(err) => tracing::error!(error = %err, "KMS key maintenance panicked"),
        }
    }
}

fn s3seal_now() -> i64 {
    crate::kms::manager::unix_now()
}

/// Serves on `listener` until `shutdown` completes (exposed for tests).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    scope: Scope,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let local: SocketAddr = listener.local_addr()?;
    tracing::info!(address = %local, serves = ?scope, upstream = %state.config.upstream.url, "s3seal listening");
    let grace = Duration::from_secs(state.config.server.shutdown_grace_seconds);
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let service = service::build(state, scope);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = TowerToHyperService::new(service::with_peer(service.clone(), peer));
                let connection = builder.serve_connection(TokioIo::new(stream), svc);
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(err) = watched.await {
                        tracing::debug!(error = %err, %peer, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: waiting for in-flight requests"
    );
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("grace period over; dropping remaining connections"),
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
