//! TLS material shared by both sides of s3seal: the one crypto provider, and
//! reading PEM certificates and private keys from files.
//!
//! The listener ([`crate::server::tls`]) and the upstream client
//! ([`crate::upstream::tls`]) both use rustls with `ring`. Naming the provider
//! explicitly (instead of relying on rustls's process-wide default) keeps a
//! second provider from being picked up silently if a dependency enables one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum PemFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "{} holds no PEM private key (expected PKCS#8, PKCS#1 or SEC1: -----BEGIN PRIVATE KEY-----)",
        path.display()
    )]
    NoPrivateKey { path: PathBuf },
}

/// The crypto provider every TLS configuration in s3seal uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file, in file order (for a served chain: the
/// server's own certificate first, then intermediates).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemFileError> {
    let read_error = |source| PemFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    if certificates.is_empty() {
        return Err(PemFileError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// The first private key in a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemFileError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => PemFileError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        source => PemFileError::Read {
            path: path.to_path_buf(),
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = read_certificates(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        assert!(matches!(
            read_certificates(&empty),
            Err(PemFileError::NoCertificate { .. })
        ));
        assert!(matches!(
            read_private_key(&empty),
            Err(PemFileError::NoPrivateKey { .. })
        ));
    }

    #[test]
    fn reads_a_generated_pair() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert_file, key_file) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_file, cert.cert.pem()).unwrap();
        std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
        assert_eq!(read_certificates(&cert_file).unwrap().len(), 1);
        read_private_key(&key_file).unwrap();
    }
}
