//! Test certificates: a throwaway CA and server certificates it signs for
//! 127.0.0.1 and localhost, written as PEM files (generated with rcgen, so
//! no openssl CLI is needed).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate as a PEM file (what clients pass as `--ca-bundle`).
    pub bundle: PathBuf,
}

/// A server certificate and key written to disk.
pub struct ServerCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The certificate's DER, to recognise it in a handshake.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A new CA, its certificate written to `dir/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("s3seal test CA {name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let bundle = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&bundle, issuer.pem()).unwrap();
        TestCa { issuer, bundle }
    }

    /// A server certificate for 127.0.0.1 and localhost, written to
    /// `dir/<name>.crt` and `dir/<name>.key`.
    pub fn server_cert(&self, dir: &Path, name: &str) -> ServerCert {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("s3seal test server {name}"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let written = ServerCert {
            cert_file: dir.join(format!("{name}.crt")),
            key_file: dir.join(format!("{name}.key")),
            der: cert.der().to_vec(),
        };
        std::fs::write(&written.cert_file, cert.pem()).unwrap();
        std::fs::write(&written.key_file, key.serialize_pem()).unwrap();
        written
    }
}
