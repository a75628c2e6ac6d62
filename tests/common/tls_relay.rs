//! A TLS-terminating TCP relay, standing in for an HTTPS S3 store: Garage
//! speaks plain HTTP only, so tests of an `https://` upstream put this in
//! front of it. Bytes are relayed unchanged (the `Host` s3seal signed
//! included), so Garage verifies s3seal's signatures as usual.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::certs::ServerCert;

pub struct TlsRelay {
    pub port: u16,
    /// TLS sessions completed so far (proof that traffic went through TLS).
    handshakes: Arc<AtomicUsize>,
}

impl TlsRelay {
    /// Relays TLS connections on a free port to `target`, serving `cert`.
    /// The relay runs on its own thread until the test process exits.
    pub fn start(cert: &ServerCert, target: SocketAddr) -> TlsRelay {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert.cert_file)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&cert.key_file).unwrap();
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counter = handshakes.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(relay(listener, acceptor, target, counter));
        });
        TlsRelay { port, handshakes }
    }

    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

async fn relay(
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    target: SocketAddr,
    handshakes: Arc<AtomicUsize>,
) {
    let listener = TcpListener::from_std(listener).unwrap();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            // A client that rejects the certificate ends here; that is a
            // test outcome, not a relay failure.
            let Ok(mut client) = acceptor.accept(client).await else {
                return;
            };
            handshakes.fetch_add(1, Ordering::SeqCst);
            let Ok(mut server) = TcpStream::connect(target).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}
