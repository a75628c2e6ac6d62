//! Security checks against a real s3seal over a real Garage: requests and
//! presigned URLs used outside their time, object keys that look like paths
//! or encodings (S3 takes every key literally, up to 1024 bytes), and what
//! must never leave s3seal: plaintext, the client's credentials, data keys
//! and the root key (checked in what the upstream receives and stores, in
//! s3seal's log and in its audit log).
//!
//! Covered elsewhere and not repeated here: a request freshly signed with a
//! skewed clock (tests/authentication.rs, `raw_requests.py skewed-clock`), a
//! presigned GET used after it expired and tampered presigned URLs
//! (`presigned.py`), secrets in the Debug output of each type holding one
//! (unit tests beside them).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use serde_json::{Value, json};

/// Runs a scenario of tests/python/security.py and returns what it printed.
fn scenario(s3seal: &S3seal, args: &[&str]) -> Value {
    scenario_as(s3seal, args, &[])
}

fn scenario_as(s3seal: &S3seal, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = ok(&s3seal.python_with("security.py", args, env));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A request captured and sent again later: as on AWS, a replay is accepted
/// while its `x-amz-date` is within 15 minutes of s3seal's clock (SigV4 has
/// no nonce), and refused with RequestTimeTooSkewed from then on.
#[test]
fn a_replayed_request_is_refused_once_outside_the_time_window() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "replay");
    let out = scenario(&s3seal, &["replay", &b]);
    assert_eq!(out["first"], 200, "{out}");
    assert_eq!(out["replayed"], 403, "{out}");
    let body = out["replayed_body"].as_str().unwrap();
    assert!(body.contains("<Code>RequestTimeTooSkewed</Code>"), "{out}");
}

/// Presigned URLs past their expiry: a PUT stores nothing, and moving the
/// expiry or the date does not revive a URL (both are signed). X-Amz-Expires
/// may not exceed seven days.
#[test]
fn presigned_urls_cannot_be_used_or_revived_after_expiry() {
    let s3seal = S3seal::start();
    scenario(&s3seal, &["presigned", &bucket("presigned-expiry")]);
}

/// Keys that look like paths (`..`, `./`, `//`), encodings (`%2F`, `%2e%2e`,
/// `%25`), spaces, XML specials and Unicode in both normalisation forms:
/// each is stored upstream, listed and read back under exactly its name, in
/// its own bucket (`../<other bucket>/x` is a key, not a way out). A key
/// beginning with `/` is refused (Garage would store it as another key).
#[test]
fn object_keys_are_taken_literally_and_stay_in_their_bucket() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "keys");
    let other = bucket("keys-other");
    let out = scenario(&s3seal, &["keys", &b, &other]);
    let names = &out["names"];
    assert!(
        names
            .as_array()
            .unwrap()
            .contains(&json!(format!("../{other}/x"))),
        "{out}"
    );
    assert_eq!(&out["listed"], names, "ListObjectsV2: {out}");
    assert_eq!(&out["listed_v1"], names, "ListObjects: {out}");
    assert_eq!(&out["stored"], names, "what Garage holds: {out}");
    assert_eq!(out["other_bucket"], json!([]), "{out}");
    assert_eq!(out["left_after_delete"], json!([]), "{out}");
    // S3 keeps a leading slash; Garage drops it, so `/x` would act on `x`
    // past the policies s3seal checked for `/x`: refused.
    assert_eq!(out["leading_slash"], "InvalidArgument", "{out}");

    // The same, as a client may encode them on the wire: each decodes once.
    let w = make_bucket(&s3seal, "wire-keys");
    let out = scenario(&s3seal, &["wire-keys", &w]);
    assert_eq!(
        out,
        json!({
            "../wire-dots": "%2e%2e/wire-dots",
            ".././wire-upper": "%2E%2E/%2E/wire-upper",
            "a/b-wire": "a%2Fb-wire",
            "%252F-wire": "%25252F-wire",
            "caf\u{e9}-wire": "caf%C3%A9-wire",
        })
    );
}

/// 1024 bytes of UTF-8 is S3's limit on a key: such keys work (put, get,
/// copy, list); one byte more is KeyTooLongError, as on S3, before anything
/// reaches the upstream (Garage itself would store it). Against a Garage on
/// SQLite: on LMDB, Garage's default, keys over 479 bytes fail in Garage.
#[test]
fn keys_of_1024_bytes_work_and_longer_ones_are_refused() {
    let garage = sqlite_garage();
    let s3seal = S3seal::start_with(S3sealOptions {
        upstream: Some(garage),
        ..Default::default()
    });
    let b = bucket("long-keys");
    let out = scenario(&s3seal, &["long-keys", &b]);
    assert_eq!(out["listed"], json!([1024, 1024, 1024]), "{out}");
    let refused = out["refused"].as_object().unwrap();
    assert_eq!(refused.len(), 8, "{out}");
    for (what, code) in refused {
        assert_eq!(code, "KeyTooLongError", "{what}: {out}");
    }
    let stored = json(&garage.aws(&["s3api", "list-objects-v2", "--bucket", &b]));
    let lengths: Vec<usize> = stored["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap().len())
        .collect();
    assert_eq!(lengths, [1024, 1024, 1024], "{stored}");
}

const ACCESS_KEY: &str = "AKIASECURITYCHECK7Q2Z";
const SECRET: &str = "SecurityCheck/secret+Zx81Lq0Vb7Tn3Wm5Rk9Pd2Hf6Jc4Ng0";

/// Everything the upstream receives and holds, s3seal's log (at debug
/// level) and its audit log, after uploads of every kind (single PUT,
/// multipart, copy, signed aws-chunked, presigned) and reads under a
/// distinctive credential and root key: none holds the plaintext, the
/// client's secret, a data key or the root key, in any encoding. The
/// upstream never sees the client's access key id either (the audit log
/// records it, by design).
#[test]
fn neither_plaintext_nor_secrets_reach_the_upstream_or_the_logs() {
    let relay = RecordingRelay::start(garage().s3_port);
    // The harness keeps a root key it finds in the instance's directory.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root_key = random_bytes(32);
    std::fs::write(dir.path().join("root.key"), B64.encode(&root_key)).unwrap();
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(dir.path().to_path_buf()),
        upstream_url: Some(relay.url()),
        extra_config: format!(
            "[[auth.credentials]]\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET}\"\nprincipal = \"security-check\"\n"
        ),
        env: vec![("S3SEAL_LOG_LEVEL".into(), "debug".into())],
        ..Default::default()
    });
    let aws = |args: &[&str]| s3seal.aws_as(ACCESS_KEY, SECRET, args);
    let b = bucket("secrets");
    ok(&aws(&["s3", "mb", &format!("s3://{b}")]));
    // A customer key as the bucket's default, so that the test can open the
    // objects' data keys with KMS Decrypt.
    let kms_key = ok(&aws(&[
        "kms",
        "create-key",
        "--query",
        "KeyMetadata.KeyId",
        "--output",
        "text",
    ]));
    let kms_key = kms_key.trim();
    ok(&s3seal.put_bucket_encryption(
        &b,
        &json!({"Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}}]}),
    ));

    let tmp = tempfile::tempdir().unwrap();
    let small = [DISTINCTIVE.repeat(50), test_data(20_000, 7)].concat();
    let big = test_data(9 * 1024 * 1024, 11);
    let small_file = temp_file(tmp.path(), "small", &small);
    let big_file = temp_file(tmp.path(), "big", &big);
    let s3_url = |key: &str| format!("s3://{b}/{key}");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    ok(&aws(&[
        "s3api",
        "put-object",
        "--bucket",
        &b,
        "--key",
        "small",
        "--body",
        &path(&small_file),
    ]));
    ok(&aws(&["s3", "cp", &path(&big_file), &s3_url("big")]));
    // A server-side copy (CopyObject): the data key is re-wrapped for the copy.
    ok(&aws(&["s3", "cp", &s3_url("small"), &s3_url("small-copy")]));
    let env = [("S3SEAL_KEY", ACCESS_KEY), ("S3SEAL_SECRET", SECRET)];
    let traffic = scenario_as(&s3seal, &["traffic", &b], &env);
    for (key, expected) in [("small-copy", &small), ("big", &big)] {
        let got = tmp.path().join(format!("got-{key}"));
        ok(&aws(&["s3", "cp", &s3_url(key), &path(&got)]));
        assert!(read(&got) == *expected, "{key} read back wrong");
    }
    ok(&aws(&["s3api", "list-objects-v2", "--bucket", &b]));
    let generated = json(&aws(&[
        "kms",
        "generate-data-key",
        "--key-id",
        kms_key,
        "--key-spec",
        "AES_256",
    ]));

    // What the upstream holds, and the data key of each object.
    let mut keys = vec!["small", "big", "small-copy"];
    keys.extend(
        traffic["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap()),
    );
    let mut upstream_holds: Vec<(String, Vec<u8>)> = Vec::new();
    let mut wrapped_keys = Vec::new();
    let mut data_keys = vec![
        B64.decode(generated["Plaintext"].as_str().unwrap())
            .unwrap(),
    ];
    for key in &keys {
        let head = ok(&upstream_head(&b, key));
        let wrapped = serde_json::from_str::<Value>(&head).unwrap()["Metadata"]["s3seal-dk"]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is not sealed: {head}"))
            .to_string();
        let blob = temp_file(
            tmp.path(),
            &format!("dk-{key}"),
            &B64.decode(&wrapped).unwrap(),
        );
        let opened = json(&s3seal.aws(&[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", path(&blob)),
            "--encryption-context",
            &format!("aws:s3:arn=arn:aws:s3:::{b}/{key}"),
        ]));
        let data_key = B64.decode(opened["Plaintext"].as_str().unwrap()).unwrap();
        assert_eq!(data_key.len(), 32, "{key}");
        data_keys.push(data_key);
        wrapped_keys.push(wrapped);
        upstream_holds.push((format!("{key}: metadata"), head.into_bytes()));
        upstream_holds.push((format!("{key}: body"), stored_bytes(&b, key, tmp.path())));
    }

    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("the plaintext marker".into(), PLAINTEXT_MARKER.to_vec()),
        (
            "the distinctive plaintext".into(),
            DISTINCTIVE[..32].to_vec(),
        ),
        ("the client's secret".into(), SECRET.as_bytes().to_vec()),
    ];
    secrets.extend(encodings("the root key", &root_key));
    for (n, data_key) in data_keys.iter().enumerate() {
        secrets.extend(encodings(&format!("data key {n}"), data_key));
    }

    // What the upstream received, as requests on the wire.
    let received = relay.sent.lock().unwrap().clone();
    assert!(
        contains(&received, garage().key_id.as_bytes())
            && contains(&received, format!("PUT /{b}/big?").as_bytes()),
        "the relay recorded no signed upstream request"
    );
    // It did see the metadata s3seal writes: each wrapped data key.
    for wrapped in &wrapped_keys {
        assert!(
            contains(&received, wrapped.as_bytes()),
            "{wrapped} not sent"
        );
    }
    let client_key: (String, Vec<u8>) = ("the client's access key id".into(), ACCESS_KEY.into());
    upstream_holds.push(("requests to the upstream".into(), received));
    for (place, bytes) in &upstream_holds {
        for (what, needle) in secrets.iter().chain([&client_key]) {
            assert!(!contains(bytes, needle), "{what} found in {place}");
        }
    }

    // s3seal's own log and its audit log.
    let log = s3seal.log();
    assert!(log.contains("DEBUG"), "the log is not at debug level");
    let audit: String = audit_files(&s3seal.dir)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(audit.contains(ACCESS_KEY) && audit.contains("security-check"));
    for (place, text) in [("s3seal's log", &log), ("the audit log", &audit)] {
        for (what, needle) in &secrets {
            assert!(
                !contains(text.as_bytes(), needle),
                "{what} found in {place}"
            );
        }
    }
}

const DISTINCTIVE: &[u8] =
    b"s3seal security check: this plaintext must never leave s3seal in clear. ";

/// A secret as raw bytes, base64 and hex (both cases).
fn encodings(what: &str, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        (format!("{what} (bytes)"), bytes.to_vec()),
        (format!("{what} (base64)"), B64.encode(bytes).into_bytes()),
        (format!("{what} (hex)"), hex.clone().into_bytes()),
        (format!("{what} (HEX)"), hex.to_uppercase().into_bytes()),
    ]
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    bytes
}

/// A TCP relay between s3seal and Garage keeping a copy of every byte
/// s3seal sends: what the upstream receives, headers and bodies.
struct RecordingRelay {
    port: u16,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl RecordingRelay {
    fn start(target_port: u16) -> RecordingRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(store) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let (mut from_client, mut to_client) = (client.try_clone().unwrap(), client);
                let (mut to_store, mut from_store) = (store.try_clone().unwrap(), store);
                let record = record.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = from_client.read(&mut buf) {
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                        if to_store.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_store.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_store, &mut to_client);
                    let _ = to_client.shutdown(Shutdown::Write);
                });
            }
        });
        RecordingRelay { port, sent }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
