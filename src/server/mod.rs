//! The HTTP server: binds the listeners, accepts connections (terminating
//! TLS where configured), runs each request through the tower stack, and
//! shuts down gracefully.
//!
//! Listeners: `server.listen` (plain HTTP, unless `server.plain_http = false`)
//! and `tls.listen` (HTTPS) serve S3 and the KMS API; `kms.listen` (HTTPS
//! with `kms.tls`) serves the KMS API alone, and takes it off the other two;
//! `server.admin_listen` serves the operator's health endpoints ([`admin`]).
//!
//! On SIGTERM or SIGINT the listeners close at once; requests in flight get
//! `server.shutdown_grace_seconds` to finish before connections are dropped.
//! On SIGHUP the TLS certificate is reloaded ([`tls`]). Connections close
//! lingeringly ([`lingering_close`]): a client still sending a refused body
//! gets its answer, not a reset.

pub mod admin;
pub mod expect_continue;
pub mod lingering_close;
pub mod request_id;
pub mod service;
mod shed;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use self::service::{ConnectionInfo, S3Service};
use self::tls::{ServedCertificate, ServerTlsError};
use crate::limits::{ConnectionGate, ConnectionPermit};
use crate::state::AppState;

/// A client that does not complete its TLS handshake within this time is
/// disconnected (the handshake runs before the header timeout starts).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {address} ({setting}): {source}")]
    Bind {
        address: SocketAddr,
        setting: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] ServerTlsError),
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A bound socket and what it serves.
struct Listener {
    socket: TcpListener,
    scope: Scope,
    tls: Option<TlsAcceptor>,
}

/// Serves on every configured listener until a shutdown signal arrives.
pub async fn run(state: Arc<AppState>) -> Result<(), ServerError> {
    let certificate = match state.config.tls.files() {
        Some((cert, key)) => Some(ServedCertificate::load(cert, key)?),
        None => None,
    };
    let listeners = bind_listeners(&state, certificate.as_ref()).await?;
    tokio::spawn(key_maintenance(state.clone()));
    tokio::spawn(replica_sync(state.clone()));
    tokio::spawn(tls::reload_on_sighup(certificate));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    // One budget of connections for every client listener together.
    let gate = ConnectionGate::new(state.config.limits.max_connections);
    let served = listeners.into_iter().map(|listener| {
        let gate = (listener.scope != Scope::Admin).then(|| gate.clone());
        let mut stopped = stopped.clone();
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        serve(
            listener.socket,
            state.clone(),
            listener.scope,
            listener.tls,
            gate,
            shutdown,
        )
    });
    let outcomes = futures_util::future::join_all(served).await;
    // Sign what the log holds unsigned, so a stopped log verifies as closed.
    let closing = state.clone();
    match tokio::task::spawn_blocking(move || closing.audit.close()).await {
        Ok(Ok(())) => tracing::info!("audit log closed and signed"),
        Ok(Err(err)) => tracing::error!(error = %err, "cannot close the audit log"),
        Err(err) => tracing::error!(error = %err, "closing the audit log panicked"),
    }
    for outcome in outcomes {
        outcome?;
    }
    Ok(())
}

/// Binds `server.listen`, `tls.listen`, `kms.listen` and
/// `server.admin_listen`, as configured.
async fn bind_listeners(
    state: &AppState,
    certificate: Option<&Arc<ServedCertificate>>,
) -> Result<Vec<Listener>, ServerError> {
    let config = &state.config;
    let acceptor = certificate.map(|c| c.acceptor()).transpose()?;
    // With its own listener, the KMS API is served there only.
    let s3_scope = match config.kms.listen {
        Some(_) => Scope::S3Only,
        None => Scope::S3AndKms,
    };
    let mut wanted = Vec::new();
    if config.server.plain_http {
        wanted.push((config.server.listen, "server.listen", s3_scope, None));
    }
    if let Some(address) = config.tls.listen {
        wanted.push((address, "tls.listen", s3_scope, acceptor.clone()));
    }
    if let Some(address) = config.kms.listen {
        let tls = if config.kms.tls {
            acceptor.clone()
        } else {
            None
        };
        wanted.push((address, "kms.listen", Scope::KmsOnly, tls));
    }
    if let Some(address) = config.server.admin_listen {
        wanted.push((address, "server.admin_listen", Scope::Admin, None));
    }
    let mut listeners = Vec::with_capacity(wanted.len());
    for (address, setting, scope, tls) in wanted {
        let socket = TcpListener::bind(address)
            .await
            .map_err(|source| ServerError::Bind {
                address,
                setting,
                source,
            })?;
        listeners.push(Listener { socket, scope, tls });
    }
    Ok(listeners)
}

pub use service::Scope;

/// Rotates KMS keys whose automatic rotation is due and destroys keys whose
/// deletion date passed, every `kms.maintenance_interval_seconds` (a
/// minute by default, and once at start).
async fn key_maintenance(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(state.config.kms.maintenance_interval());
    loop {
        ticker.tick().await;
        let kms_state = state.clone();
        let outcome =
            tokio::task::spawn_blocking(move || kms_state.kms.run_due_work(s3seal_now())).await;
        match outcome {
            Ok(Ok(done)) => {
                if !done.rotated.is_empty() {
                    // Rotated multi-Region primaries have replicas to update.
                    state.replication.wake();
                }
                record_due_work(&state, done).await
            }
            Ok(Err(err)) => tracing::error!(error = %err, "KMS key maintenance failed"),
            Err(err) => tracing::error!(error = %err, "KMS key maintenance panicked"),
        }
    }
}

/// Scheduled rotations and destructions are key lifecycle changes: audited
/// as CloudTrail records AWS's own (`RotateKey`, `DeleteKey` service events).
async fn record_due_work(state: &AppState, done: crate::kms::manager::DueWork) {
    let events = done
        .rotated
        .iter()
        .map(|key_id| ("RotateKey", key_id))
        .chain(done.destroyed.iter().map(|key_id| ("DeleteKey", key_id)));
    for (name, key_id) in events {
        let event = crate::audit::AuditEvent::service_event(
            name,
            &state.config.server.region,
            &state.config.server.account_id,
        )
        .with_resource(
            crate::audit::event::KMS_KEY_RESOURCE,
            state.kms.key_arn(key_id),
        );
        if let Err(err) = state.audit.record(event).await {
            tracing::error!(error = %err, kms_key_id = %key_id, "cannot record scheduled key work in the audit log");
        }
    }
}

/// Brings multi-Region replicas up to date: at once when a KMS call or a
/// rotation changed what a primary shares, and every
/// `kms.maintenance_interval_seconds` for replicas whose deployment could not
/// be reached before.
async fn replica_sync(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(state.config.kms.maintenance_interval());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = state.replication.woken() => {}
        }
        for outcome in state.replication.sync_pending(&state.kms).await {
            record_sync(&state, outcome).await;
        }
    }
}

/// Every attempt to update a replica is logged and audited as the
/// `SynchronizeMultiRegionKey` service event AWS records for the same work.
async fn record_sync(state: &AppState, outcome: crate::kms::replication::replicator::SyncOutcome) {
    let mut event = crate::audit::AuditEvent::service_event(
        "SynchronizeMultiRegionKey",
        &state.config.server.region,
        &state.config.server.account_id,
    )
    .with_resource(
        crate::audit::event::KMS_KEY_RESOURCE,
        state.kms.key_arn(&outcome.key_id),
    )
    .with_parameters(serde_json::json!({"replicaRegion": outcome.region}));
    match &outcome.result {
        Ok(generation) => {
            tracing::info!(kms_key_id = %outcome.key_id, replica_region = %outcome.region, generation, "brought a multi-Region replica up to date");
            event = event.with_parameters_entry("generation", serde_json::json!(generation));
        }
        Err(err) => {
            tracing::warn!(kms_key_id = %outcome.key_id, replica_region = %outcome.region, error = %err, "cannot bring a multi-Region replica up to date; retrying at the next maintenance tick");
            let kind = crate::kms::api::error::replication_exception_name(err);
            event = event.with_error(kind, &err.to_string());
        }
    }
    if let Err(err) = state.audit.record(event).await {
        tracing::error!(error = %err, kms_key_id = %outcome.key_id, "cannot record a replica update in the audit log");
    }
}

fn s3seal_now() -> i64 {
    crate::kms::manager::unix_now()
}

/// Serves on `listener` until `shutdown` completes, over TLS when `tls` is
/// given, admitting connections through `gate` when given.
async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    scope: Scope,
    tls: Option<TlsAcceptor>,
    gate: Option<ConnectionGate>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let local: SocketAddr = listener.local_addr()?;
    let protocol = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %local, protocol, serves = ?scope, upstream = %state.config.upstream.url, "s3seal listening");
    let grace = Duration::from_secs(state.config.server.shutdown_grace_seconds);
    let graceful = GracefulShutdown::new();
    let limits = &state.config.limits;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout())
        // A hard stop far above limits.max_header_count, which the service
        // checks to answer with S3's error rather than hyper's bare 431.
        .max_headers(limits.max_header_count.saturating_mul(2).max(100))
        .keep_alive(true);
    let shed = shed::service();
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
                let (service, permit) = match gate.as_ref().map(ConnectionGate::admit) {
                    None => (service.clone(), None),
                    Some(ConnectionPermit::Serve(permit)) => (service.clone(), Some(permit)),
                    Some(ConnectionPermit::Shed(permit)) => (shed.clone(), Some(permit)),
                    Some(ConnectionPermit::Drop) => {
                        crate::metrics::connection_shed();
                        continue;
                    }
                };
                let connection = Connection {
                    builder: builder.clone(),
                    service,
                    watcher: graceful.watcher(),
                    peer,
                    _permit: permit,
                };
                // The handshake runs in the connection's own task, so a slow
                // client cannot hold up accepting others.
                tokio::spawn(connection.run(stream, tls.clone()));
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(
        address = %local,
        grace_seconds = grace.as_secs(),
        "shutting down: waiting for in-flight requests"
    );
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!(address = %local, "all connections closed"),
        Err(_) => {
            tracing::warn!(address = %local, "grace period over; dropping remaining connections")
        }
    }
    Ok(())
}

/// One accepted connection, before its (optional) TLS handshake.
struct Connection {
    builder: http1::Builder,
    service: S3Service,
    watcher: Watcher,
    peer: SocketAddr,
    /// Its place in `limits.max_connections`, given back when it closes.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let Some(acceptor) = tls else {
            return self.serve(stream, false).await;
        };
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve(stream, true).await,
            // Scanners and clients that distrust the certificate end up here:
            // not s3seal's error, so not worth more than a debug line.
            Ok(Err(err)) => {
                tracing::debug!(error = %err, peer = %self.peer, "TLS handshake failed");
            }
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }

    /// Serves HTTP/1.1 on the (possibly decrypted) stream until it closes.
    async fn serve<IO>(self, io: IO, tls: bool)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let info = ConnectionInfo {
            peer: self.peer,
            tls,
        };
        let service = TowerToHyperService::new(service::with_connection(self.service, info));
        let io = TokioIo::new(lingering_close::LingeringClose::new(io));
        let connection = self.builder.serve_connection(io, service);
        let _open = crate::metrics::connection_opened();
        if let Err(err) = self.watcher.watch(connection).await {
            tracing::debug!(error = %err, peer = %self.peer, "connection ended with an error");
        }
    }
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
