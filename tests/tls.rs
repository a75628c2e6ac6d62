//! TLS, end to end: the aws CLI and boto3 over HTTPS (with botocore's
//! aws-chunked trailer checksums), `aws:SecureTransport` in bucket policies,
//! certificate reload on SIGHUP without dropping connections, the KMS
//! listener over HTTPS, and an `https://` upstream verified with
//! `upstream.ca_bundle`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::certs::TestCa;
use common::tls_relay::TlsRelay;
use common::*;

fn start_tls() -> S3seal {
    S3seal::start_with(S3sealOptions {
        tls: true,
        ..Default::default()
    })
}

#[test]
fn aws_cli_over_https_with_ca_bundle() {
    let s3seal = start_tls();
    let b = bucket("tls-cli");
    ok(&s3seal.aws_https(&["s3", "mb", &format!("s3://{b}")]));
    let dir = tempfile::tempdir().unwrap();

    // A single PutObject (botocore sends an aws-chunked body with a CRC32
    // trailer over HTTPS) and a 9 MiB multipart upload (each part likewise).
    let small = test_data(300_000, 1);
    let big = test_data(9 * 1024 * 1024 + 1234, 2);
    for (key, data) in [("small.bin", &small), ("big.bin", &big)] {
        let file = temp_file(dir.path(), key, data);
        ok(&s3seal.aws_https(&[
            "s3",
            "cp",
            file.to_str().unwrap(),
            &format!("s3://{b}/{key}"),
        ]));
        let back = dir.path().join(format!("{key}.back"));
        ok(&s3seal.aws_https(&[
            "s3",
            "cp",
            &format!("s3://{b}/{key}"),
            back.to_str().unwrap(),
        ]));
        assert!(read(&back) == *data, "{key} read back over HTTPS differs");
        let stored = stored_bytes(&b, key, dir.path());
        assert!(
            !contains(&stored, PLAINTEXT_MARKER),
            "{key} stored in clear"
        );
    }
    let head =
        json(&s3seal.aws_https(&["s3api", "head-object", "--bucket", &b, "--key", "big.bin"]));
    assert_eq!(head["ContentLength"], big.len() as u64, "{head}");

    // s3api put-object with an explicit algorithm, checksum echoed back.
    let file = temp_file(dir.path(), "sha.bin", &small);
    let put = json(&s3seal.aws_https(&[
        "s3api",
        "put-object",
        "--bucket",
        &b,
        "--key",
        "sha.bin",
        "--body",
        file.to_str().unwrap(),
        "--checksum-algorithm",
        "SHA256",
    ]));
    assert!(put["ChecksumSHA256"].is_string(), "{put}");

    // Without the CA bundle, the CLI does not trust s3seal's certificate.
    let untrusted = aws_cli(
        &s3seal.https_endpoint(),
        CLIENT_KEY,
        CLIENT_SECRET,
        REGION,
        &["s3", "ls", &format!("s3://{b}")],
    );
    fails_with(&untrusted, "CERTIFICATE_VERIFY_FAILED");
}

/// boto3 over HTTPS with `request_checksum_calculation` `mode`: every
/// algorithm right (stored, read back) and wrong in the trailer (BadDigest,
/// nothing stored).
fn boto3_checksums_over_https(mode: &str) {
    let s3seal = start_tls();
    let b = bucket("tls-boto");
    ok(&s3seal.aws_https(&["s3", "mb", &format!("s3://{b}")]));
    let out: serde_json::Value =
        serde_json::from_str(&ok(&s3seal.python("tls_checksums.py", &["run", &b, mode]))).unwrap();
    for algorithm in ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] {
        let result = &out[algorithm];
        assert_trailer_checksum(
            result,
            &format!("x-amz-checksum-{}", algorithm.to_lowercase()),
        );
        assert!(result["echo"].is_string(), "{algorithm}: {result}");
    }
    // No algorithm named: when_supported defaults to a CRC32 trailer,
    // when_required sends no checksum at all (PutObject does not require one).
    let default = &out["default"];
    if mode == "when_supported" {
        assert_trailer_checksum(default, "x-amz-checksum-crc32");
    } else {
        assert_eq!(default["read_back"], true, "{default}");
        assert_ne!(
            default["sent"]["payload"], "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "{default}"
        );
        assert!(default["sent"]["trailer"].is_null(), "{default}");
    }
}

/// The upload used an aws-chunked body with `trailer`, read back intact, and
/// the same upload with a wrong trailer value was refused and not stored.
#[track_caller]
fn assert_trailer_checksum(result: &serde_json::Value, trailer: &str) {
    assert_eq!(result["read_back"], true, "{result}");
    for sent in [&result["sent"], &result["wrong_sent"]] {
        assert_eq!(
            sent["payload"], "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "{result}"
        );
        assert_eq!(sent["encoding"], "aws-chunked", "{result}");
        assert_eq!(sent["trailer"], trailer, "{result}");
    }
    assert_eq!(
        result["wrong"],
        serde_json::json!(["BadDigest", 400]),
        "{result}"
    );
    assert_eq!(result["wrong_stored"], false, "{result}");
}

#[test]
fn boto3_over_https_when_supported() {
    boto3_checksums_over_https("when_supported");
}

#[test]
fn boto3_over_https_when_required() {
    boto3_checksums_over_https("when_required");
}

#[test]
fn secure_transport_reflects_the_connection() {
    let s3seal = start_tls();
    let b = bucket("tls-policy");
    ok(&s3seal.aws_https(&["s3", "mb", &format!("s3://{b}")]));
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    })
    .to_string();
    ok(&s3seal.aws_https(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        &b,
        "--policy",
        &policy,
    ]));
    let dir = tempfile::tempdir().unwrap();
    let file = temp_file(dir.path(), "doc.txt", b"over TLS only");
    let target = format!("s3://{b}/doc.txt");

    fails_with(
        &s3seal.aws(&["s3", "cp", file.to_str().unwrap(), &target]),
        "AccessDenied",
    );
    ok(&s3seal.aws_https(&["s3", "cp", file.to_str().unwrap(), &target]));
    fails_with(&s3seal.aws(&["s3", "cp", &target, "-"]), "Forbidden");
    assert_eq!(
        ok(&s3seal.aws_https(&["s3", "cp", &target, "-"])),
        "over TLS only"
    );
    assert!(
        s3seal.log().contains("DenyInsecureTransport"),
        "the denial names the statement"
    );
}

/// A keep-alive HTTPS connection (rustls, trusting only the test CA), to see
/// which certificate a handshake got and that the connection stays usable.
struct HttpsConnection {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl HttpsConnection {
    fn open(port: u16, ca_bundle: &std::path::Path) -> HttpsConnection {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca_bundle).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut stream = rustls::StreamOwned::new(connection, socket);
        // Complete the handshake so the peer certificate is known.
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock).unwrap();
        }
        HttpsConnection { stream }
    }

    fn peer_certificate(&self) -> Vec<u8> {
        self.stream.conn.peer_certificates().unwrap()[0].to_vec()
    }

    /// An unsigned `HEAD /` (s3seal answers 403 without a body); returns the
    /// response head. The connection is kept alive.
    fn head(&mut self) -> String {
        self.stream
            .write_all(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        let mut byte = [0u8; 1];
        while !response.ends_with(b"\r\n\r\n") {
            self.stream.read_exact(&mut byte).unwrap();
            response.push(byte[0]);
        }
        String::from_utf8(response).unwrap()
    }
}

/// Waits until the log contains `needle` `count` times.
fn wait_for_log(s3seal: &S3seal, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while s3seal.log().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{}",
            s3seal.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sighup(s3seal: &S3seal) {
    let sent = unsafe { libc::kill(s3seal.pid() as i32, libc::SIGHUP) };
    assert_eq!(sent, 0, "kill -HUP");
}

#[test]
fn certificate_reloads_on_sighup_without_dropping_connections() {
    let s3seal = start_tls();
    let tls = s3seal.tls.as_ref().unwrap();
    let port = tls.port;
    let mut kept = HttpsConnection::open(port, &tls.ca.bundle);
    assert_eq!(kept.peer_certificate(), tls.served.der);
    assert!(kept.head().starts_with("HTTP/1.1 403"));

    // Renewed files alone change nothing: s3seal reloads on SIGHUP.
    let tls_dir = tls.served.cert_file.parent().unwrap();
    let renewed = tls.ca.server_cert(tls_dir, "renewed");
    std::fs::copy(&renewed.cert_file, &tls.served.cert_file).unwrap();
    std::fs::copy(&renewed.key_file, &tls.served.key_file).unwrap();
    let before = HttpsConnection::open(port, &tls.ca.bundle);
    assert_eq!(before.peer_certificate(), tls.served.der);

    sighup(&s3seal);
    wait_for_log(&s3seal, "TLS certificate reloaded", 1);
    let after = HttpsConnection::open(port, &tls.ca.bundle);
    assert_eq!(
        after.peer_certificate(),
        renewed.der,
        "new handshakes get the new certificate"
    );
    // The connection opened before the reload is still served.
    assert!(kept.head().starts_with("HTTP/1.1 403"));
    assert_eq!(kept.peer_certificate(), tls.served.der);

    // A broken certificate file is refused; the renewed one stays in service.
    std::fs::write(&tls.served.cert_file, "not a certificate").unwrap();
    sighup(&s3seal);
    wait_for_log(&s3seal, "TLS certificate not reloaded", 1);
    let still = HttpsConnection::open(port, &tls.ca.bundle);
    assert_eq!(still.peer_certificate(), renewed.der);
    assert!(kept.head().starts_with("HTTP/1.1 403"));
    ok(&s3seal.aws_https(&["s3", "ls"]));
}

#[test]
fn https_only_when_plain_http_is_off() {
    let s3seal = S3seal::start_with(S3sealOptions {
        https_only: true,
        ..Default::default()
    });
    ok(&s3seal.aws_https(&["s3", "ls"]));
    // Nothing listens on server.listen. (The log, not a connection attempt,
    // says so: another test may have taken that free port meanwhile.)
    let log = s3seal.log();
    assert!(log.contains(r#"protocol="https""#), "{log}");
    assert!(!log.contains(r#"protocol="http""#), "{log}");
}

#[test]
fn kms_listener_over_https() {
    let kms_port = free_port();
    let s3seal = S3seal::start_with(S3sealOptions {
        tls: true,
        env: vec![
            ("S3SEAL_KMS_LISTEN".into(), format!("127.0.0.1:{kms_port}")),
            ("S3SEAL_KMS_TLS".into(), "true".into()),
        ],
        ..Default::default()
    });
    wait_for_port(
        kms_port,
        "s3seal (kms.listen)",
        &s3seal.dir.join("s3seal.log"),
    );
    let bundle = s3seal.ca_bundle().to_str().unwrap();
    let keys = json(&aws_cli(
        &format!("https://127.0.0.1:{kms_port}"),
        CLIENT_KEY,
        CLIENT_SECRET,
        REGION,
        &["--ca-bundle", bundle, "kms", "list-keys"],
    ));
    assert!(!keys["Keys"].as_array().unwrap().is_empty(), "{keys}");
    // The KMS API has moved off the S3 listeners.
    fails_with(
        &s3seal.aws_https(&["kms", "list-keys"]),
        "AuthorizationHeaderMalformed",
    );
}

#[test]
fn https_upstream_verified_with_ca_bundle() {
    let garage = garage();
    let dir = tempfile::tempdir().unwrap();
    let upstream_ca = TestCa::new(dir.path(), "upstream");
    let relay_cert = upstream_ca.server_cert(dir.path(), "relay");
    let relay = TlsRelay::start(&relay_cert, ([127, 0, 0, 1], garage.s3_port).into());
    let upstream_env = |bundle: &std::path::Path| {
        vec![
            (
                "S3SEAL_UPSTREAM_URL".to_string(),
                format!("https://127.0.0.1:{}", relay.port),
            ),
            (
                "S3SEAL_UPSTREAM_CA_BUNDLE".to_string(),
                bundle.display().to_string(),
            ),
        ]
    };

    let s3seal = S3seal::start_with(S3sealOptions {
        env: upstream_env(&upstream_ca.bundle),
        ..Default::default()
    });
    let b = make_bucket(&s3seal, "tls-upstream");
    let data = test_data(200_000, 3);
    let file = temp_file(dir.path(), "up.bin", &data);
    ok(&s3seal.put_file(&b, "up.bin", &file, &[]));
    let back = dir.path().join("up.back");
    ok(&s3seal.get_file(&b, "up.bin", &back));
    assert!(read(&back) == data);
    assert!(relay.handshakes() > 0, "s3seal reached Garage through TLS");
    assert!(!contains(
        &stored_bytes(&b, "up.bin", dir.path()),
        PLAINTEXT_MARKER
    ));

    // A CA that did not sign the upstream's certificate: nothing is sent.
    let other_ca = TestCa::new(dir.path(), "other");
    let distrusting = S3seal::start_with(S3sealOptions {
        env: upstream_env(&other_ca.bundle),
        ..Default::default()
    });
    let handshakes = relay.handshakes();
    fails_with(
        &distrusting.aws(&["s3", "ls", &format!("s3://{b}")]),
        "ServiceUnavailable",
    );
    assert_eq!(
        relay.handshakes(),
        handshakes,
        "no TLS session with an untrusted upstream"
    );
    assert!(
        distrusting.log().contains("UnknownIssuer"),
        "the log says why: {}",
        distrusting.log()
    );
}
