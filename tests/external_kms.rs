//! An external KMS backend against real Garage and the real aws CLI:
//! instance C seals objects under bucket keys of instance D's KMS API
//! (`[kms.external]`). Objects round-trip through C, the upstream holds only
//! ciphertext, HEAD reports D's key and bucket keys, D sees one
//! GenerateDataKey per bucket and cache period, and C fails closed when D's
//! key is disabled or D is down, with cached keys serving until their TTL.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// D: a plain s3seal whose KMS API C uses, and a key created in it.
fn start_d(port: Option<u16>, dir: Option<std::path::PathBuf>) -> S3seal {
    S3seal::start_with(S3sealOptions {
        port,
        dir,
        ..Default::default()
    })
}

fn create_key(d: &S3seal, alias: &str) -> String {
    let arn = ok(&d.aws(&[
        "kms",
        "create-key",
        "--description",
        "bucket keys of s3seal C",
        "--query",
        "KeyMetadata.Arn",
        "--output",
        "text",
    ]))
    .trim()
    .to_string();
    ok(&d.aws(&[
        "kms",
        "create-alias",
        "--alias-name",
        alias,
        "--target-key-id",
        &arn,
    ]));
    arn
}

/// C: an s3seal whose `[kms.external]` is D's KMS API (D accepts the test
/// client credentials), with an admin listener for readiness.
fn start_c(d_endpoint: &str, key_arn: &str, ttl_seconds: u64) -> (S3seal, String) {
    let admin_port = free_port();
    let c = S3seal::start_with(S3sealOptions {
        extra_config: format!(
            r#"
[kms.external]
endpoint = "{d_endpoint}"
region = "{REGION}"
access_key_id = "{CLIENT_KEY}"
secret_access_key = "{CLIENT_SECRET}"
default_key_id = "{key_arn}"
cache_ttl_seconds = {ttl_seconds}
cache_size = 16
connect_timeout_seconds = 2
attempt_timeout_seconds = 3
max_attempts = 2
"#
        ),
        env: vec![(
            "S3SEAL_SERVER_ADMIN_LISTEN".into(),
            format!("127.0.0.1:{admin_port}"),
        )],
        ..Default::default()
    });
    wait_for_port(admin_port, "C's admin listener", &c.dir.join("s3seal.log"));
    (c, format!("http://127.0.0.1:{admin_port}"))
}

/// The KMS calls named `name` in `dir`'s audit log for `bucket`'s bucket key.
fn bucket_key_calls(dir: &Path, name: &str, bucket: &str) -> Vec<Value> {
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    audit_events(dir)
        .into_iter()
        .filter(|e| {
            e["eventName"] == name
                && e["requestParameters"]["encryptionContext"]["aws:s3:arn"] == bucket_arn.as_str()
        })
        .collect()
}

/// The readiness answer's `external_kms` check.
fn external_kms_check(admin: &str) -> (u16, Value) {
    let (status, body) = http_get(&format!("{admin}/health/ready"));
    let ready: Value = serde_json::from_str(&body).unwrap();
    let check = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "external_kms")
        .unwrap_or_else(|| panic!("no external_kms check: {ready}"))
        .clone();
    (status, check)
}

fn round_trips(c: &S3seal, bucket: &str, key: &str, data: &[u8], dir: &Path) {
    let out = dir.join(format!("{key}.out"));
    ok(&c.get_file(bucket, key, &out));
    assert!(read(&out) == data, "{key} did not round-trip byte for byte");
}

fn upstream_has(bucket: &str, key: &str) -> bool {
    upstream_head(bucket, key).status.success()
}

#[test]
fn objects_are_sealed_under_bucket_keys_of_another_s3seal() {
    let d = start_d(None, None);
    let key_arn = create_key(&d, "alias/c-objects");
    let (c, admin) = start_c(&d.endpoint(), &key_arn, 300);
    let tmp = tempfile::tempdir().unwrap();
    let b = make_bucket(&c, "extkms");

    let (status, check) = external_kms_check(&admin);
    assert_eq!((status, &check["ok"]), (200, &Value::Bool(true)), "{check}");

    // Several sizes, named every way: the default (AES256, no header),
    // aws:kms without a key, by alias, by key id; and a multipart upload.
    let key_id = key_arn.rsplit('/').next().unwrap();
    let small = test_data(1000, 1);
    let medium = test_data(300_000, 2);
    let big = test_data(9 * 1024 * 1024 + 123, 3);
    let cases: [(&str, &[u8], Vec<&str>); 5] = [
        ("empty", b"", vec![]),
        ("small", &small, vec!["--server-side-encryption", "aws:kms"]),
        (
            "by-alias",
            &small,
            vec![
                "--server-side-encryption",
                "aws:kms",
                "--ssekms-key-id",
                "alias/c-objects",
            ],
        ),
        (
            "by-id",
            &medium,
            vec![
                "--server-side-encryption",
                "aws:kms",
                "--ssekms-key-id",
                key_id,
            ],
        ),
        ("medium", &medium, vec![]),
    ];
    for (key, data, extra) in &cases {
        let file = temp_file(tmp.path(), key, data);
        let put = json(&c.put_file(&b, key, &file, extra));
        assert_eq!(put["BucketKeyEnabled"], true, "{key}: {put}");
    }
    let big_file = temp_file(tmp.path(), "big", &big);
    ok(&c.aws(&[
        "s3",
        "cp",
        big_file.to_str().unwrap(),
        &format!("s3://{b}/big"),
        "--sse",
        "aws:kms",
    ]));

    for (key, data, extra) in &cases {
        round_trips(&c, &b, key, data, tmp.path());
        let head = json(&c.head(&b, key));
        assert_eq!(head["BucketKeyEnabled"], true, "{key}: {head}");
        assert_eq!(head["ContentLength"], data.len(), "{key}: {head}");
        // As on AWS, an AES256 object reports no KMS key (s3seal seals it
        // under the external default key all the same, see below).
        let (sse, reported_key) = if extra.is_empty() {
            ("AES256", Value::Null)
        } else {
            ("aws:kms", Value::from(key_arn.as_str()))
        };
        assert_eq!(head["ServerSideEncryption"], sse, "{key}: {head}");
        assert_eq!(head["SSEKMSKeyId"], reported_key, "{key}: {head}");
        // The upstream holds only ciphertext, and says which format.
        let stored = stored_bytes(&b, key, tmp.path());
        assert_eq!(stored.len() as u64, sealed_len(data.len() as u64), "{key}");
        assert!(
            !contains(&stored, PLAINTEXT_MARKER),
            "{key}: plaintext upstream"
        );
        let raw = json(&upstream_head(&b, key));
        assert_eq!(raw["Metadata"]["s3seal-format"], "2", "{key}: {raw}");
        assert_eq!(raw["Metadata"]["s3seal-key-id"], key_arn.as_str());
    }
    round_trips(&c, &b, "big", &big, tmp.path());
    let head = json(&c.head(&b, "big"));
    assert_eq!(
        (&head["SSEKMSKeyId"], &head["BucketKeyEnabled"]),
        (&Value::from(key_arn.as_str()), &Value::Bool(true)),
        "{head}"
    );
    let stored = stored_bytes(&b, "big", tmp.path());
    assert!(
        !contains(&stored, PLAINTEXT_MARKER),
        "multipart plaintext upstream"
    );

    // Copies re-wrap the data key under the destination's bucket key, in
    // this bucket and another; UpdateObjectEncryption re-wraps in place.
    let other = make_bucket(&c, "extkms-dest");
    ok(&c.aws(&[
        "s3",
        "cp",
        &format!("s3://{b}/small"),
        &format!("s3://{b}/small-copy"),
    ]));
    ok(&c.aws(&[
        "s3",
        "cp",
        &format!("s3://{b}/big"),
        &format!("s3://{other}/big"),
    ]));
    round_trips(&c, &b, "small-copy", &small, tmp.path());
    round_trips(&c, &other, "big", &big, tmp.path());
    // By the alias's ARN in D (the CLI wants an ARN here).
    let alias_arn = format!("{}alias/c-objects", key_arn.split("key/").next().unwrap());
    let before = json(&c.head(&b, "medium"));
    ok(&c.aws(&[
        "s3api",
        "update-object-encryption",
        "--bucket",
        &b,
        "--key",
        "medium",
        "--object-encryption",
        &format!(r#"{{"SSEKMS":{{"KMSKeyArn":"{alias_arn}"}}}}"#),
    ]));
    let after = json(&c.head(&b, "medium"));
    assert_eq!(before["ETag"], after["ETag"]);
    assert_eq!(after["ServerSideEncryption"], "aws:kms", "{after}");
    assert_eq!(after["SSEKMSKeyId"], key_arn.as_str(), "{after}");
    round_trips(&c, &b, "medium", &medium, tmp.path());

    // One bucket key per bucket and key reference: D saw one GenerateDataKey
    // for this bucket's default key (and one each for the alias and id
    // references), not one per object; the reads hit C's cache.
    let d_calls = bucket_key_calls(&d.dir, "GenerateDataKey", &b);
    let by_key: Vec<&str> = d_calls
        .iter()
        .map(|e| e["requestParameters"]["keyId"].as_str().unwrap())
        .collect();
    assert_eq!(
        by_key.iter().filter(|k| **k == key_arn).count(),
        1,
        "{by_key:?}"
    );
    assert_eq!(d_calls.len(), 4, "ARN, alias, id and alias ARN: {by_key:?}");
    assert!(bucket_key_calls(&d.dir, "Decrypt", &b).is_empty());
    // C recorded the same calls, naming D's endpoint and key.
    let c_calls = bucket_key_calls(&c.dir, "GenerateDataKey", &b);
    assert_eq!(c_calls.len(), 4);
    for call in &c_calls {
        assert_eq!(
            call["additionalEventData"]["externalKmsEndpoint"],
            d.endpoint()
        );
        assert!(
            call["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["ARN"] == key_arn.as_str()),
            "{call}"
        );
    }

    // The metrics count the cache hits (uploads and reads that needed no
    // KMS call) and misses, and the calls themselves.
    let (_, scrape) = http_get(&format!("{admin}/metrics"));
    let metric = |name: &str| -> u64 {
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{scrape}"))
    };
    assert_eq!(
        metric(r#"s3seal_bucket_key_cache_total{cache="upload",result="hit"}"#),
        4,
        "small, medium, the multipart upload and the copy within the bucket"
    );
    assert!(metric(r#"s3seal_bucket_key_cache_total{cache="read",result="hit"}"#) >= 7);
    assert_eq!(
        metric(r#"s3seal_bucket_key_cache_total{cache="upload",result="miss"}"#),
        5,
        "four references in this bucket, one in the other"
    );
    assert_eq!(
        metric(r#"s3seal_external_kms_calls_total{action="GenerateDataKey",result="ok"}"#),
        5
    );

    // An object moved on the upstream does not decrypt: to another key of
    // the bucket (the local wrap), or to another bucket (the bucket key).
    ok(&upstream_aws(&[
        "s3",
        "cp",
        &format!("s3://{b}/small"),
        &format!("s3://{b}/moved"),
    ]));
    fails_with(
        &c.get_file(&b, "moved", &tmp.path().join("x")),
        "moved or altered",
    );
    ok(&upstream_aws(&[
        "s3",
        "cp",
        &format!("s3://{b}/small"),
        &format!("s3://{other}/moved"),
    ]));
    fails_with(
        &c.get_file(&other, "moved", &tmp.path().join("y")),
        "moved or altered",
    );
}

#[test]
fn fails_closed_when_the_external_key_is_disabled_or_the_kms_is_down() {
    // Long enough for a few aws CLI runs on a loaded machine.
    const TTL: u64 = 20;
    let d_port = free_port();
    let d = start_d(Some(d_port), None);
    let key_arn = create_key(&d, "alias/c-failures");
    let d_endpoint = d.endpoint();
    let (c, admin) = start_c(&d_endpoint, &key_arn, TTL);
    let tmp = tempfile::tempdir().unwrap();
    let b = make_bucket(&c, "extkms-fail");
    let cold = make_bucket(&c, "extkms-cold");
    let data = test_data(70_000, 4);
    let file = temp_file(tmp.path(), "data", &data);
    let put = |bucket: &str, key: &str| -> Output { c.put_file(bucket, key, &file, &[]) };
    let get = |bucket: &str, key: &str| -> Output {
        c.get_file(bucket, key, &tmp.path().join(format!("{bucket}-{key}.out")))
    };
    let wait_past = |cached_at: Instant| {
        let deadline = cached_at + Duration::from_secs(TTL + 1);
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    };

    // A key disabled in D: once C's cached bucket key expires, uploads and
    // reads under it are refused as the built-in KMS refuses them.
    ok(&put(&b, "first"));
    let cached_at = Instant::now();
    ok(&d.aws(&["kms", "disable-key", "--key-id", &key_arn]));
    wait_past(cached_at);
    fails_with(&put(&b, "refused"), "KMS.DisabledException");
    assert!(!upstream_has(&b, "refused"), "nothing stored");
    fails_with(&get(&b, "first"), "KMS.DisabledException");
    ok(&d.aws(&["kms", "enable-key", "--key-id", &key_arn]));

    // Fresh bucket keys for uploads and for reading "first", then D dies
    // (killed: a graceful stop would wait for C's idle connections).
    let cached_from = Instant::now();
    ok(&put(&b, "second"));
    ok(&get(&b, "first"));
    let cached_at = Instant::now();
    let d_dir = d.kill();

    // Cached bucket keys keep serving uploads and reads within the TTL.
    ok(&put(&b, "while-down"));
    ok(&get(&b, "first"));
    ok(&get(&b, "second"));
    assert!(
        cached_from.elapsed() < Duration::from_secs(TTL),
        "the checks above took longer than the cache TTL; they prove nothing"
    );
    // No cached bucket key: refused at once, clearly, nothing stored.
    let refused = fails_with(&put(&cold, "nothing"), "ServiceUnavailable");
    assert!(
        refused.contains(&d_endpoint),
        "names the endpoint: {refused}"
    );
    assert!(!upstream_has(&cold, "nothing"), "nothing stored");
    let (status, check) = external_kms_check(&admin);
    assert_eq!(
        (status, &check["ok"]),
        (503, &Value::Bool(false)),
        "{check}"
    );

    // After the TTL, uploads and reads fail closed.
    wait_past(cached_at);
    let refused = fails_with(&put(&b, "after-ttl"), "ServiceUnavailable");
    assert!(refused.contains(&d_endpoint), "{refused}");
    assert!(!upstream_has(&b, "after-ttl"), "nothing stored");
    fails_with(&get(&b, "second"), "ServiceUnavailable");

    // D back (same store, same port): everything works again.
    let d = start_d(Some(d_port), Some(d_dir));
    ok(&put(&b, "after-ttl"));
    ok(&put(&cold, "nothing"));
    for key in ["first", "second", "while-down", "after-ttl"] {
        round_trips(&c, &b, key, &data, tmp.path());
    }
    let (status, check) = external_kms_check(&admin);
    assert_eq!((status, &check["ok"]), (200, &Value::Bool(true)), "{check}");
    drop(d);
}
