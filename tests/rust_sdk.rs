//! The official AWS SDK for Rust (`aws-sdk-s3`) → s3seal → real Garage.
//!
//! Put/get/head of boundary sizes, the SDK's default and explicit flexible
//! checksums (as a header for in-memory bodies, as a signed aws-chunked
//! trailer for streamed bodies), ranged reads, multipart uploads, SSE-KMS
//! with a named key, and the SDK's typed errors.
//!
//! An interceptor records every request as the SDK put it on the wire (after
//! signing), so each test also asserts *how* the SDK sent its body: if a
//! future SDK changed its checksum or streaming behaviour, these tests say so
//! instead of silently covering less.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_s3::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use sha2::{Digest, Sha256};

/// One request as the SDK sent it.
#[derive(Debug, Clone)]
struct Sent {
    method: String,
    headers: Vec<(String, String)>,
}

impl Sent {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Records the requests a client sends, headers as signed.
#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<Sent>>>);

impl Recorder {
    /// The requests sent since the last call.
    fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The one PUT sent since the last call (other requests are dropped).
    #[track_caller]
    fn put(&self) -> Sent {
        let mut puts: Vec<Sent> = self
            .take()
            .into_iter()
            .filter(|s| s.method == "PUT")
            .collect();
        assert_eq!(puts.len(), 1, "expected exactly one PUT: {puts:#?}");
        puts.remove(0)
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "Recorder"
    }

    // Runs after signing and after the body was wrapped for aws-chunked: the
    // headers are exactly those on the wire.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let sent = Sent {
            method: request.method().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        };
        self.0.lock().unwrap().push(sent);
        Ok(())
    }
}

/// An SDK client for `s3seal` signing with the test key and `secret`.
fn sdk_client(s3seal: &S3seal, secret: &str, recorder: &Recorder) -> Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(s3seal.endpoint())
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            CLIENT_KEY,
            secret,
            None,
            None,
            "s3seal-tests",
        ))
        // The SDK's own hyper 1 client, without a TLS stack (s3seal listens
        // on plain HTTP here): what `default-https-client` builds, minus
        // rustls. `build_http` is public but doc-hidden; the documented way,
        // a TLS provider, would compile rustls and ring or aws-lc for nothing.
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        // One attempt per call: a retry must not hide a failure.
        .retry_config(RetryConfig::disabled())
        .interceptor(recorder.clone())
        .build();
    Client::from_conf(config)
}

/// Panics with the SDK error's whole chain (the default Display is one line).
trait Expect<T> {
    fn or_fail(self, what: &str) -> T;
}

impl<T, E: std::error::Error + 'static, R: std::fmt::Debug> Expect<T>
    for Result<T, SdkError<E, R>>
{
    #[track_caller]
    fn or_fail(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("{what}: {}", DisplayErrorContext(&e)))
    }
}

fn crc32_b64(data: &[u8]) -> String {
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, data) as u32;
    B64.encode(crc.to_be_bytes())
}

fn crc32c_b64(data: &[u8]) -> String {
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32;
    B64.encode(crc.to_be_bytes())
}

fn sha256_b64(data: &[u8]) -> String {
    B64.encode(Sha256::digest(data))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A body as the SDK sends it: in memory (checksum in a header, payload
/// hash signed) or streamed from a file (aws-chunked).
async fn body(data: &[u8], streamed: bool, dir: &Path, name: &str) -> ByteStream {
    if streamed {
        ByteStream::from_path(temp_file(dir, name, data))
            .await
            .expect("file body")
    } else {
        ByteStream::from(data.to_vec())
    }
}

/// Asserts how the SDK sent a PutObject/UploadPart body with `algorithm`.
#[track_caller]
fn assert_sent_checksum(sent: &Sent, algorithm: &str, data: &[u8], streamed: bool) {
    assert_eq!(sent.method, "PUT", "{sent:#?}");
    let header = format!("x-amz-checksum-{}", algorithm.to_ascii_lowercase());
    if streamed {
        // Over plain HTTP the SDK signs every chunk and the trailer.
        assert_eq!(
            sent.header("x-amz-content-sha256"),
            Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
            "{sent:#?}"
        );
        assert_eq!(sent.header("content-encoding"), Some("aws-chunked"));
        assert_eq!(sent.header("x-amz-trailer"), Some(header.as_str()));
        assert_eq!(
            sent.header("x-amz-decoded-content-length"),
            Some(data.len().to_string().as_str())
        );
        assert_eq!(sent.header(&header), None, "the value is in the trailer");
    } else {
        assert_eq!(
            sent.header("x-amz-content-sha256"),
            Some(sha256_hex(data).as_str()),
            "{sent:#?}"
        );
        assert_eq!(sent.header("content-encoding"), None, "{sent:#?}");
        assert!(sent.header(&header).is_some(), "{sent:#?}");
    }
}

/// Asserts an object's bytes on Garage are sealed: sealed length, no plaintext.
#[track_caller]
fn assert_sealed_at_rest(bucket: &str, key: &str, plaintext: &[u8], dir: &Path) {
    let raw = stored_bytes(bucket, key, dir);
    assert_eq!(
        raw.len() as u64,
        sealed_len(plaintext.len() as u64),
        "{key}: stored length"
    );
    assert!(
        !contains(&raw, PLAINTEXT_MARKER),
        "{key}: plaintext marker at rest"
    );
    if plaintext.len() >= 64 {
        let middle = plaintext.len() / 2 - 32;
        assert!(
            !contains(&raw, &plaintext[middle..middle + 64]),
            "{key}: plaintext at rest"
        );
    }
}

async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let got = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .or_fail(key);
    got.body.collect().await.expect("GET body").to_vec()
}

#[tokio::test]
async fn put_get_head_of_boundary_sizes_in_memory_and_streamed() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "sdk-sizes");
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::default();
    let client = sdk_client(&s3seal, CLIENT_SECRET, &rec);
    let metadata = HashMap::from([
        ("color".to_string(), "blue".to_string()),
        ("team".to_string(), "platform".to_string()),
    ]);

    for (i, size) in [0usize, 1, 65536, 65537, 3 << 20].into_iter().enumerate() {
        let data = test_data(size, 40 + i as u64);
        for streamed in [false, true] {
            let key = format!(
                "obj-{size}-{}",
                if streamed { "streamed" } else { "memory" }
            );
            let put = client
                .put_object()
                .bucket(&b)
                .key(&key)
                .body(body(&data, streamed, dir.path(), &key).await)
                .content_type("application/x-s3seal-test")
                .set_metadata(Some(metadata.clone()))
                .send()
                .await
                .or_fail(&key);
            // The SDK's default: a CRC32 of every upload.
            let sent = rec.put();
            assert_sent_checksum(&sent, "CRC32", &data, streamed);
            assert_eq!(
                put.checksum_crc32(),
                Some(crc32_b64(&data).as_str()),
                "{key}: s3seal answers the verified checksum"
            );
            // No SSE header and no bucket default: SSE-S3, as on AWS.
            assert_eq!(
                put.server_side_encryption(),
                Some(&ServerSideEncryption::Aes256),
                "{key}"
            );

            let got = client
                .get_object()
                .bucket(&b)
                .key(&key)
                .send()
                .await
                .or_fail(&key);
            assert_eq!(got.content_length(), Some(size as i64), "{key}");
            assert_eq!(got.content_type(), Some("application/x-s3seal-test"));
            assert_eq!(got.metadata(), Some(&metadata), "{key}");
            assert_eq!(
                got.server_side_encryption(),
                Some(&ServerSideEncryption::Aes256)
            );
            assert_eq!(got.ssekms_key_id(), None);
            assert_eq!(got.e_tag(), put.e_tag(), "{key}");
            let bytes = got.body.collect().await.expect("GET body").to_vec();
            assert!(bytes == data, "{key}: GET returned other bytes");

            let head = client
                .head_object()
                .bucket(&b)
                .key(&key)
                .send()
                .await
                .or_fail(&key);
            assert_eq!(head.content_length(), Some(size as i64), "{key}");
            assert_eq!(head.content_type(), Some("application/x-s3seal-test"));
            assert_eq!(head.metadata(), Some(&metadata), "{key}");
            assert_eq!(
                head.server_side_encryption(),
                Some(&ServerSideEncryption::Aes256)
            );

            assert_sealed_at_rest(&b, &key, &data, dir.path());
        }
    }

    // Ranged reads of the 3 MiB object: inside one 64 KiB segment, across a
    // segment boundary, and a suffix.
    let data = test_data(3 << 20, 44);
    for (range, start, end) in [
        ("bytes=100-199", 100usize, 199usize),
        ("bytes=65500-65600", 65500, 65600),
        ("bytes=-10", (3 << 20) - 10, (3 << 20) - 1),
    ] {
        let got = client
            .get_object()
            .bucket(&b)
            .key("obj-3145728-streamed")
            .range(range)
            .send()
            .await
            .or_fail(range);
        assert_eq!(got.content_length(), Some((end - start + 1) as i64));
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {start}-{end}/{}", 3 << 20).as_str()),
        );
        let bytes = got.body.collect().await.expect("ranged body").to_vec();
        assert!(bytes == data[start..=end], "{range}: other bytes");
    }
}

#[tokio::test]
async fn explicit_checksum_algorithms_are_verified_and_a_wrong_one_stores_nothing() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "sdk-checksums");
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::default();
    let client = sdk_client(&s3seal, CLIENT_SECRET, &rec);
    let data = test_data(200_000, 7);

    for streamed in [false, true] {
        let key = format!("sha256-{streamed}");
        let put = client
            .put_object()
            .bucket(&b)
            .key(&key)
            .body(body(&data, streamed, dir.path(), &key).await)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .or_fail(&key);
        let sent = rec.put();
        assert_sent_checksum(&sent, "SHA256", &data, streamed);
        assert_eq!(sent.header("x-amz-sdk-checksum-algorithm"), Some("SHA256"));
        assert_eq!(put.checksum_sha256(), Some(sha256_b64(&data).as_str()));
        assert_eq!(put.checksum_crc32(), None);
        assert!(get_bytes(&client, &b, &key).await == data, "{key}");

        let key = format!("crc32c-{streamed}");
        let put = client
            .put_object()
            .bucket(&b)
            .key(&key)
            .body(body(&data, streamed, dir.path(), &key).await)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .send()
            .await
            .or_fail(&key);
        let sent = rec.put();
        assert_sent_checksum(&sent, "CRC32C", &data, streamed);
        assert_eq!(sent.header("x-amz-sdk-checksum-algorithm"), Some("CRC32C"));
        assert_eq!(put.checksum_crc32_c(), Some(crc32c_b64(&data).as_str()));
        assert!(get_bytes(&client, &b, &key).await == data, "{key}");
    }

    // A checksum value set by the caller goes as a header, never as a
    // trailer; with a streamed body the payload is then UNSIGNED-PAYLOAD, so
    // the checksum is all that protects it.
    let key = "given-sha256";
    let put = client
        .put_object()
        .bucket(&b)
        .key(key)
        .body(body(&data, true, dir.path(), key).await)
        .checksum_sha256(sha256_b64(&data))
        .send()
        .await
        .or_fail(key);
    let sent = rec.put();
    assert_eq!(
        sent.header("x-amz-content-sha256"),
        Some("UNSIGNED-PAYLOAD")
    );
    assert_eq!(sent.header("content-encoding"), None);
    assert_eq!(put.checksum_sha256(), Some(sha256_b64(&data).as_str()));
    assert!(get_bytes(&client, &b, key).await == data);

    // A wrong value: BadDigest, and nothing stored (neither through s3seal
    // nor on Garage), whether the payload is signed or not.
    for streamed in [false, true] {
        let key = format!("wrong-crc32-{streamed}");
        let err = client
            .put_object()
            .bucket(&b)
            .key(&key)
            .body(body(&data, streamed, dir.path(), &key).await)
            .checksum_crc32("AAAAAA==")
            .send()
            .await
            .expect_err("a wrong CRC32 must be refused");
        assert_eq!(
            err.code(),
            Some("BadDigest"),
            "{key}: {}",
            DisplayErrorContext(&err)
        );
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
        let sent = rec.put();
        assert_eq!(sent.header("x-amz-checksum-crc32"), Some("AAAAAA=="));
        let head = client.head_object().bucket(&b).key(&key).send().await;
        let err = head
            .expect_err("nothing may be stored")
            .into_service_error();
        assert!(err.is_not_found(), "{key}: {err:?}");
        assert!(
            !upstream_head(&b, &key).status.success(),
            "{key}: an object reached Garage"
        );
    }
}

#[tokio::test]
async fn multipart_upload_list_parts_complete_and_abort() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "sdk-multipart");
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::default();
    let client = sdk_client(&s3seal, CLIENT_SECRET, &rec);
    let sizes = [5usize << 20, 5 << 20, (1 << 20) + 7];
    let data = test_data(sizes.iter().sum(), 11);
    let (one, rest) = data.split_at(sizes[0]);
    let (two, three) = rest.split_at(sizes[1]);
    let key = "big/multipart";

    let created = client
        .create_multipart_upload()
        .bucket(&b)
        .key(key)
        .content_type("application/x-s3seal-multipart")
        .metadata("kind", "multipart")
        .send()
        .await
        .or_fail("CreateMultipartUpload");
    let upload_id = created.upload_id().expect("an upload id").to_string();
    assert_eq!(
        created.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );

    // Parts 1 and 2 from memory, concurrently; part 3 streamed from a slice
    // of a file, as the SDK's file uploads do (aws-chunked).
    let upload = |n: i32, part: &[u8]| {
        client
            .upload_part()
            .bucket(&b)
            .key(key)
            .upload_id(&upload_id)
            .part_number(n)
            .body(ByteStream::from(part.to_vec()))
            .send()
    };
    let (r1, r2) = tokio::join!(upload(1, one), upload(2, two));
    let (r1, r2) = (r1.or_fail("part 1"), r2.or_fail("part 2"));
    let file = temp_file(dir.path(), "whole", &data);
    let streamed = ByteStream::read_from()
        .path(&file)
        .offset((sizes[0] + sizes[1]) as u64)
        .length(Length::Exact(sizes[2] as u64))
        .build()
        .await
        .expect("file slice");
    let r3 = client
        .upload_part()
        .bucket(&b)
        .key(key)
        .upload_id(&upload_id)
        .part_number(3)
        .body(streamed)
        .send()
        .await
        .or_fail("part 3");
    let sent = rec.take();
    let part_puts: Vec<&Sent> = sent.iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(part_puts.len(), 3, "{sent:#?}");
    for s in &part_puts[..2] {
        assert!(s.header("x-amz-checksum-crc32").is_some(), "{s:#?}");
    }
    assert_sent_checksum(part_puts[2], "CRC32", three, true);
    for (r, part) in [(&r1, one), (&r2, two), (&r3, three)] {
        assert_eq!(r.checksum_crc32(), Some(crc32_b64(part).as_str()));
    }
    let etags = [&r1, &r2, &r3].map(|r| r.e_tag().expect("a part ETag").to_string());

    // Before completion: the parts' plaintext sizes.
    let listed = client
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&upload_id)
        .send()
        .await
        .or_fail("ListParts");
    let parts: Vec<(Option<i32>, Option<i64>, Option<&str>)> = listed
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size(), p.e_tag()))
        .collect();
    assert_eq!(
        parts,
        vec![
            (Some(1), Some(sizes[0] as i64), Some(etags[0].as_str())),
            (Some(2), Some(sizes[1] as i64), Some(etags[1].as_str())),
            (Some(3), Some(sizes[2] as i64), Some(etags[2].as_str())),
        ]
    );

    let completed_parts: Vec<CompletedPart> = etags
        .iter()
        .zip(1..)
        .map(|(etag, n)| CompletedPart::builder().part_number(n).e_tag(etag).build())
        .collect();
    let done = client
        .complete_multipart_upload()
        .bucket(&b)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed_parts))
                .build(),
        )
        .send()
        .await
        .or_fail("CompleteMultipartUpload");
    let etag = done.e_tag().expect("an ETag").to_string();
    assert!(etag.ends_with("-3\""), "multipart ETag: {etag}");

    let got = client
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .or_fail("GET");
    assert_eq!(got.content_length(), Some(data.len() as i64));
    assert_eq!(got.content_type(), Some("application/x-s3seal-multipart"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("kind"))
            .map(String::as_str),
        Some("multipart")
    );
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    let bytes = got.body.collect().await.expect("GET body").to_vec();
    assert!(
        bytes == data,
        "GET of the whole object returned other bytes"
    );

    let head = client
        .head_object()
        .bucket(&b)
        .key(key)
        .part_number(2)
        .send()
        .await
        .or_fail("HEAD part 2");
    assert_eq!(head.content_length(), Some(sizes[1] as i64));
    assert_eq!(head.parts_count(), Some(3));
    let last = client
        .get_object()
        .bucket(&b)
        .key(key)
        .part_number(3)
        .send()
        .await
        .or_fail("GET part 3");
    assert_eq!(last.parts_count(), Some(3));
    assert_eq!(last.content_length(), Some(sizes[2] as i64));
    let bytes = last.body.collect().await.expect("part 3 body").to_vec();
    assert!(bytes == three, "GET partNumber=3 returned other bytes");

    let raw = stored_bytes(&b, key, dir.path());
    assert!(raw.len() > data.len(), "sealed parts are longer");
    assert!(!contains(&raw, PLAINTEXT_MARKER), "plaintext at rest");

    // Another upload, aborted: its parts are gone.
    let other = client
        .create_multipart_upload()
        .bucket(&b)
        .key("aborted")
        .send()
        .await
        .or_fail("CreateMultipartUpload");
    let other_id = other.upload_id().expect("an upload id");
    client
        .upload_part()
        .bucket(&b)
        .key("aborted")
        .upload_id(other_id)
        .part_number(1)
        .body(ByteStream::from(one.to_vec()))
        .send()
        .await
        .or_fail("UploadPart");
    client
        .abort_multipart_upload()
        .bucket(&b)
        .key("aborted")
        .upload_id(other_id)
        .send()
        .await
        .or_fail("AbortMultipartUpload");
    let err = client
        .list_parts()
        .bucket(&b)
        .key("aborted")
        .upload_id(other_id)
        .send()
        .await
        .expect_err("the upload was aborted");
    assert_eq!(
        err.code(),
        Some("NoSuchUpload"),
        "{}",
        DisplayErrorContext(&err)
    );
    let err = client
        .head_object()
        .bucket(&b)
        .key("aborted")
        .send()
        .await
        .expect_err("an aborted upload stores nothing");
    assert!(err.into_service_error().is_not_found());
}

#[tokio::test]
async fn sse_kms_with_a_named_key_and_the_default_key() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "sdk-kms");
    let rec = Recorder::default();
    let client = sdk_client(&s3seal, CLIENT_SECRET, &rec);
    let created = json(&s3seal.aws(&["kms", "create-key", "--description", "rust-sdk"]));
    let key_arn = created["KeyMetadata"]["Arn"]
        .as_str()
        .expect("a key ARN")
        .to_string();
    assert_ne!(key_arn, s3seal.default_key_arn);
    let data = test_data(100_000, 3);

    let put = client
        .put_object()
        .bucket(&b)
        .key("named")
        .body(ByteStream::from(data.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_arn)
        .send()
        .await
        .or_fail("PUT with a named key");
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(put.ssekms_key_id(), Some(key_arn.as_str()));
    let head = client
        .head_object()
        .bucket(&b)
        .key("named")
        .send()
        .await
        .or_fail("HEAD");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key_arn.as_str()));
    assert!(get_bytes(&client, &b, "named").await == data);

    // aws:kms without a key: s3seal's default key.
    let put = client
        .put_object()
        .bucket(&b)
        .key("default")
        .body(ByteStream::from(data.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .or_fail("PUT aws:kms");
    assert_eq!(put.ssekms_key_id(), Some(s3seal.default_key_arn.as_str()));

    // A multipart upload under the named key, as the SDK's transfer tools
    // do it: a CRC32 announced at creation, each part's (streamed, so
    // trailer) checksum taken from the UploadPart answer into the completion.
    let dir = tempfile::tempdir().unwrap();
    let created = client
        .create_multipart_upload()
        .bucket(&b)
        .key("named-multipart")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_arn)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .or_fail("CreateMultipartUpload");
    assert_eq!(created.ssekms_key_id(), Some(key_arn.as_str()));
    let upload_id = created.upload_id().expect("an upload id");
    rec.take();
    let part = client
        .upload_part()
        .bucket(&b)
        .key("named-multipart")
        .upload_id(upload_id)
        .part_number(1)
        .body(body(&data, true, dir.path(), "part").await)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .or_fail("UploadPart");
    assert_sent_checksum(&rec.put(), "CRC32", &data, true);
    assert_eq!(part.checksum_crc32(), Some(crc32_b64(&data).as_str()));
    assert_eq!(part.ssekms_key_id(), Some(key_arn.as_str()));
    client
        .complete_multipart_upload()
        .bucket(&b)
        .key("named-multipart")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().expect("a part ETag"))
                        .set_checksum_crc32(part.checksum_crc32().map(str::to_string))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .or_fail("CompleteMultipartUpload");
    let head = client
        .head_object()
        .bucket(&b)
        .key("named-multipart")
        .send()
        .await
        .or_fail("HEAD");
    assert_eq!(head.ssekms_key_id(), Some(key_arn.as_str()));
    assert!(get_bytes(&client, &b, "named-multipart").await == data);
}

#[tokio::test]
async fn errors_are_the_sdks_typed_errors() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "sdk-errors");
    let rec = Recorder::default();
    let client = sdk_client(&s3seal, CLIENT_SECRET, &rec);

    let err = client
        .get_object()
        .bucket(&b)
        .key("missing")
        .send()
        .await
        .expect_err("no such key");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    let err = err.into_service_error();
    assert!(err.is_no_such_key(), "{err:?}");
    let err = client
        .head_object()
        .bucket(&b)
        .key("missing")
        .send()
        .await
        .expect_err("no such key")
        .into_service_error();
    assert!(err.is_not_found(), "{err:?}");

    // Signed with the wrong secret: refused before anything is stored, for a
    // body in memory and a streamed (aws-chunked) one.
    let dir = tempfile::tempdir().unwrap();
    let wrong = sdk_client(&s3seal, "not-the-secret-key-0000000000000000000000", &rec);
    let data = test_data(1 << 20, 5);
    for streamed in [false, true] {
        let key = format!("forged-{streamed}");
        let err = wrong
            .put_object()
            .bucket(&b)
            .key(&key)
            .body(body(&data, streamed, dir.path(), &key).await)
            .send()
            .await
            .expect_err("a wrong secret must be refused");
        assert_eq!(
            err.code(),
            Some("SignatureDoesNotMatch"),
            "{key}: {}",
            DisplayErrorContext(&err)
        );
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
        assert!(!upstream_head(&b, &key).status.success(), "{key} stored");
    }
    let err = wrong
        .get_object()
        .bucket(&b)
        .key("missing")
        .send()
        .await
        .expect_err("a wrong secret must be refused");
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
}
