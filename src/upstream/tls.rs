//! The connector for the upstream client: plain TCP for an `http://`
//! upstream, TLS (rustls) for an `https://` one.
//!
//! An HTTPS upstream's certificate is verified against the system's trust
//! store, or, when `upstream.ca_bundle` is set, against exactly the CA
//! certificates in that file (as `aws --ca-bundle` and `curl --cacert` do):
//! a private store signed by a private CA should not also be reachable
//! through a certificate any public CA could issue for its name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;

use super::quick_ack::QuickAckConnector;
use crate::config::UpstreamConfig;
use crate::tls::PemFileError;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    #[error("upstream.ca_bundle: {0}")]
    CaBundle(#[from] PemFileError),
    #[error("upstream.ca_bundle {}: no usable CA certificate: {reason}", path.display())]
    UnusableCa { path: PathBuf, reason: String },
    #[error(
        "no CA certificates in the system trust store (install ca-certificates, or set upstream.ca_bundle)"
    )]
    NoSystemRoots,
    #[error("TLS settings for the upstream: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The connector the upstream client sends every request through.
pub type UpstreamConnector = HttpsConnector<QuickAckConnector>;

/// A connector for `config.url`'s scheme, with `config`'s timeouts.
pub fn connector(
    config: &UpstreamConfig,
    https: bool,
) -> Result<UpstreamConnector, UpstreamTlsError> {
    https_connector(
        config.connect_timeout_seconds,
        config.ca_bundle.as_deref(),
        https,
    )
}

/// A connector that speaks TLS when `https`, trusting `ca_bundle`'s CAs (or
/// the system's); also used for peer deployments' KMS APIs.
pub fn https_connector(
    connect_timeout_seconds: u64,
    ca_bundle: Option<&Path>,
    https: bool,
) -> Result<UpstreamConnector, UpstreamTlsError> {
    let mut tcp = HttpConnector::new();
    tcp.set_connect_timeout(Some(Duration::from_secs(connect_timeout_seconds)));
    tcp.set_nodelay(true);
    // The TLS layer above decides the scheme; the TCP layer must accept https URIs.
    tcp.enforce_http(false);
    let roots = if https {
        trusted_roots(ca_bundle)?
    } else {
        // A plain-HTTP upstream never starts a handshake; the TLS settings
        // exist only because the connector type is the same for both.
        RootCertStore::empty()
    };
    let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let builder = HttpsConnectorBuilder::new().with_tls_config(tls);
    let builder = if https {
        builder.https_only()
    } else {
        builder.https_or_http()
    };
    Ok(builder
        .enable_http1()
        .wrap_connector(QuickAckConnector::new(tcp)))
}

/// The CA certificates an HTTPS upstream's certificate must chain to (also
/// used for the PostgreSQL store's TLS connections).
pub(crate) fn trusted_roots(ca_bundle: Option<&Path>) -> Result<RootCertStore, UpstreamTlsError> {
    let mut roots = RootCertStore::empty();
    match ca_bundle {
        Some(path) => {
            for certificate in crate::tls::read_certificates(path)? {
                roots
                    .add(certificate)
                    .map_err(|e| UpstreamTlsError::UnusableCa {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })?;
            }
        }
        None => {
            let system = rustls_native_certs::load_native_certs();
            for error in &system.errors {
                tracing::warn!(error = %error, "skipping part of the system trust store");
            }
            let (added, ignored) = roots.add_parsable_certificates(system.certs);
            if ignored > 0 {
                tracing::warn!(
                    ignored,
                    "skipped unparsable certificates in the system trust store"
                );
            }
            if added == 0 {
                return Err(UpstreamTlsError::NoSystemRoots);
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca.pem");
        std::fs::write(&bundle, "").unwrap();
        let err = trusted_roots(Some(&bundle)).unwrap_err().to_string();
        assert!(
            err.contains("upstream.ca_bundle") && err.contains("ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn a_bundle_is_all_that_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let bundle = dir.path().join("ca.pem");
        std::fs::write(&bundle, ca.cert.pem()).unwrap();
        assert_eq!(trusted_roots(Some(&bundle)).unwrap().len(), 1);
    }
}
