//! TLS termination: the certificate s3seal serves, and reloading it.
//!
//! [`ServedCertificate`] holds the certificate chain and key from
//! `tls.cert_file` and `tls.key_file`. Every new handshake reads the current
//! pair (an atomic pointer load, no lock); [`ServedCertificate::reload`]
//! swaps in a freshly read pair. Connections already established keep the
//! session they negotiated, so a reload drops nothing. A pair that fails to
//! load (unreadable file, key not matching the certificate, ...) is refused
//! and the previous one stays in service.
//!
//! [`reload_on_sighup`] calls `reload` on every SIGHUP, so certificate
//! renewal is "replace both files, then `kill -HUP`".

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::tls::PemFileError;

#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    #[error("tls.cert_file: {0}")]
    Certificate(PemFileError),
    #[error("tls.key_file: {0}")]
    Key(PemFileError),
    #[error("tls.key_file {} does not fit tls.cert_file {}: {reason}", key.display(), cert.display())]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("TLS settings: {0}")]
    Settings(#[from] rustls::Error),
}

/// The certificate and key new TLS handshakes are served with.
#[derive(Debug)]
pub struct ServedCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl ServedCertificate {
    /// Loads the pair; s3seal does not start without a usable one.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<Self>, ServerTlsError> {
        let pair = load_pair(cert_file, key_file)?;
        Ok(Arc::new(ServedCertificate {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current: ArcSwap::from_pointee(pair),
        }))
    }

    /// Reads both files again and serves the new pair to new handshakes; on
    /// an error the current pair stays.
    pub fn reload(&self) -> Result<(), ServerTlsError> {
        let pair = load_pair(&self.cert_file, &self.key_file)?;
        self.current.store(Arc::new(pair));
        Ok(())
    }

    /// A TLS acceptor serving this certificate, offering HTTP/1.1 over ALPN.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, ServerTlsError> {
        let mut config = ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        // s3seal's server speaks HTTP/1.1 only; saying so lets a client that
        // offers h2 fall back instead of failing after the handshake.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for ServedCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn load_pair(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, ServerTlsError> {
    let chain = crate::tls::read_certificates(cert_file).map_err(ServerTlsError::Certificate)?;
    let key = crate::tls::read_private_key(key_file).map_err(ServerTlsError::Key)?;
    CertifiedKey::from_der(chain, key, &crate::tls::provider()).map_err(|e| ServerTlsError::Pair {
        cert: cert_file.to_path_buf(),
        key: key_file.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reloads `certificate` on every SIGHUP, for as long as s3seal runs.
/// Without TLS there is nothing to reload, but SIGHUP is still caught: its
/// default action would end the process, and `systemctl reload` sends it.
pub async fn reload_on_sighup(certificate: Option<Arc<ServedCertificate>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGHUP: TLS certificates will not be reloaded");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let Some(certificate) = &certificate else {
            tracing::info!("SIGHUP: no TLS certificate configured, nothing to reload");
            continue;
        };
        match certificate.reload() {
            Ok(()) => tracing::info!(
                cert_file = %certificate.cert_file.display(),
                "SIGHUP: TLS certificate reloaded; new connections use it"
            ),
            Err(err) => tracing::error!(
                error = %err,
                "SIGHUP: TLS certificate not reloaded; still serving the previous one"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        (cert, key, generated.cert.der().to_vec())
    }

    fn served_der(served: &ServedCertificate) -> Vec<u8> {
        served.current.load().cert[0].to_vec()
    }

    #[test]
    fn reload_swaps_the_pair_and_keeps_it_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, first) = write_pair(dir.path(), "served");
        let served = ServedCertificate::load(&cert, &key).unwrap();
        assert_eq!(served_der(&served), first);

        // A key from another pair: refused, the first pair stays.
        let (_, other_key, _) = write_pair(dir.path(), "other");
        std::fs::copy(&other_key, &key).unwrap();
        let err = served.reload().unwrap_err();
        assert!(matches!(err, ServerTlsError::Pair { .. }), "{err}");
        assert_eq!(served_der(&served), first);

        // A broken certificate file: refused, the first pair stays.
        std::fs::write(&cert, "garbage").unwrap();
        assert!(matches!(
            served.reload(),
            Err(ServerTlsError::Certificate(_))
        ));
        assert_eq!(served_der(&served), first);

        // A complete new pair: served.
        let (new_cert, new_key, second) = write_pair(dir.path(), "renewed");
        std::fs::copy(&new_cert, &cert).unwrap();
        std::fs::copy(&new_key, &key).unwrap();
        served.reload().unwrap();
        assert_eq!(served_der(&served), second);
    }

    #[test]
    fn a_missing_file_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let err = ServedCertificate::load(&dir.path().join("c.pem"), &dir.path().join("k.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("tls.cert_file") && err.contains("c.pem"),
            "{err}"
        );
    }
}
