//! SigV4 verification per request.
//!
//! Every client request is authenticated before anything else happens, so
//! this is a fixed cost on each one, and what bounds the request rate of
//! small objects and of HEAD/LIST traffic. Requests are signed once with
//! `aws-sigv4` (through [`s3seal::upstream::sign_request`], as s3seal signs
//! its own requests, with the settings S3 clients use) and then verified by
//! the server's [`Authenticator`]: parsing the `Authorization` header, the
//! canonical request, its SHA-256, the signing key (four HMACs) and the
//! signature (one more).
//!
//! - `get`: a header-signed GET of an object (empty-payload hash);
//! - `put_signed_payload`: a PUT whose `x-amz-content-sha256` is the body's
//!   hash, with the headers an SDK upload carries (the body itself is hashed
//!   as it streams, elsewhere: not part of this figure);
//! - `get_presigned`: a presigned-URL GET (the signature in the query).

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::request::Parts;
use s3seal::auth::{Authenticator, ClientCredential, CredentialStore, Secret};
use s3seal::upstream::{SigningScope, sign_request};
use sha2::{Digest, Sha256};

const ACCESS_KEY_ID: &str = "S3SEALBENCHKEY000001";
const SECRET: &str = "bench-secret-0123456789abcdefghijklmnopqrstuv";
const REGION: &str = "us-east-1";
const HOST: &str = "127.0.0.1:8080";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn authenticator() -> Authenticator {
    let credential = ClientCredential {
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: Secret::new(SECRET),
        principal: "app".into(),
        buckets: vec!["*".into()],
    };
    Authenticator::new(
        CredentialStore::new(&[credential], "000000000000").unwrap(),
        REGION,
    )
}

/// What S3 SDKs sign with: the payload hash header, single URI encoding.
fn client_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings
}

/// Signs `request` as a client would, and returns it as s3seal's listener
/// receives it: origin-form URI, same headers.
fn signed(mut request: http::Request<()>, settings: SigningSettings, body: SignableBody) -> Parts {
    let identity: Identity = Credentials::new(ACCESS_KEY_ID, SECRET, None, None, "bench").into();
    let scope = SigningScope {
        identity: &identity,
        region: REGION,
        service: "s3",
    };
    sign_request(&mut request, &scope, settings, body).unwrap();
    let (mut parts, ()) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap();
    parts.uri = path.parse().unwrap();
    parts
}

fn get() -> Parts {
    let request = http::Request::get(format!(
        "http://{HOST}/bench-bucket/data/2026/01/15/object-000123.bin"
    ))
    .header("host", HOST)
    .header("range", "bytes=0-1048575")
    .header("user-agent", "aws-sdk-rust/1.0 os/linux lang/rust")
    .body(())
    .unwrap();
    signed(
        request,
        client_settings(),
        SignableBody::Precomputed(EMPTY_SHA256.into()),
    )
}

fn put_signed_payload() -> Parts {
    let body = vec![0x5au8; 64 * 1024];
    let hash = hex::encode(Sha256::digest(&body));
    let request = http::Request::put(format!(
        "http://{HOST}/bench-bucket/data/2026/01/15/object-000124.bin"
    ))
    .header("host", HOST)
    .header("content-length", body.len().to_string())
    .header("content-type", "application/octet-stream")
    .header("user-agent", "aws-sdk-rust/1.0 os/linux lang/rust")
    .header("x-amz-server-side-encryption", "aws:kms")
    .header("x-amz-meta-owner", "etl-pipeline")
    .header("x-amz-meta-source", "bench")
    .header("x-amz-storage-class", "STANDARD")
    .body(())
    .unwrap();
    signed(request, client_settings(), SignableBody::Precomputed(hash))
}

fn get_presigned() -> Parts {
    let request = http::Request::get(format!(
        "http://{HOST}/bench-bucket/data/2026/01/15/object-000125.bin?response-content-type=text%2Fplain"
    ))
    .header("host", HOST)
    .body(())
    .unwrap();
    let mut settings = client_settings();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.expires_in = Some(Duration::from_secs(3600));
    signed(request, settings, SignableBody::UnsignedPayload)
}

fn verification(c: &mut Criterion) {
    let auth = authenticator();
    let now = SystemTime::now();
    let mut group = c.benchmark_group("sigv4");
    group.throughput(Throughput::Elements(1));
    for (name, parts) in [
        ("get", get()),
        ("put_signed_payload", put_signed_payload()),
        ("get_presigned", get_presigned()),
    ] {
        // A benchmark of a rejection would measure the wrong path.
        let verified = auth.authenticate(&parts, "s3", now);
        assert!(verified.is_ok(), "{name}: {:?}", verified.err());
        group.bench_function(name, |b| {
            b.iter(|| auth.authenticate(black_box(&parts), "s3", now).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = verification
}
criterion_main!(benches);
