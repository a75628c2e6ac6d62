//! Several s3seal instances over one PostgreSQL store (issue: scale out).
//!
//! Real PostgreSQL (Debian's), real Garage, the real aws CLI and boto3. Two
//! instances A and B share one database: what one writes or changes, the
//! other serves and enforces, within the documented bound (1 s); concurrent
//! changes through both lose nothing; the store moves between backends with
//! `s3seal store export|import`; and with PostgreSQL down, requests fail
//! closed.

mod common;

use std::path::Path;
use std::process::Command;

use common::postgres::{PrivatePostgres, postgres};
use common::*;

fn on_postgres(url: &str) -> S3seal {
    S3seal::start_with(S3sealOptions {
        postgres_url: Some(url.to_string()),
        ..Default::default()
    })
}

/// Instances A and B over one fresh database.
fn pair(prefix: &str) -> (S3seal, S3seal) {
    let url = postgres().create_database(prefix);
    (on_postgres(&url), on_postgres(&url))
}

/// Runs a tests/python/shared_store.py scenario with A and B's endpoints.
fn scenario(a: &S3seal, b: &S3seal, args: &[&str]) -> serde_json::Value {
    let out = a.python_with(
        "shared_store.py",
        args,
        &[("S3SEAL_B_ENDPOINT", b.endpoint().as_str())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scenario {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON line")
}

fn s3seal_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(args)
        .env_remove("S3SEAL_CONFIG")
        .output()
        .expect("running s3seal")
}

#[test]
fn an_object_written_through_one_instance_reads_through_the_other() {
    let (a, b) = pair("rw");
    assert_eq!(a.default_key_arn, b.default_key_arn, "one default key");
    let bucket = make_bucket(&a, "shared");
    let dir = tempfile::tempdir().unwrap();
    for (name, len) in [("small", 1000), ("multipart", 9 * 1024 * 1024 + 17)] {
        let data = test_data(len, len as u64);
        let src = temp_file(dir.path(), name, &data);
        ok(&a.put_file(
            &bucket,
            name,
            &src,
            &["--server-side-encryption", "aws:kms"],
        ));
        let dst = dir.path().join(format!("{name}.back"));
        ok(&b.get_file(&bucket, name, &dst));
        assert_eq!(read(&dst), data, "{name} read through B");
        assert_ne!(
            stored_bytes(&bucket, name, dir.path()),
            data,
            "upstream holds ciphertext"
        );
        let head = json(&b.head(&bucket, name));
        assert_eq!(head["ContentLength"], len);
        assert_eq!(head["SSEKMSKeyId"], a.default_key_arn.as_str());
    }
    // A multipart upload started on A completes on B (the upload's data
    // key is in the shared store).
    let key = "split-upload";
    let created = json(&a.aws(&[
        "s3api",
        "create-multipart-upload",
        "--bucket",
        &bucket,
        "--key",
        key,
    ]));
    let upload_id = created["UploadId"].as_str().unwrap();
    let part = temp_file(dir.path(), "part", &test_data(6 * 1024 * 1024, 7));
    let part_a = json(&a.upload_part(&bucket, key, upload_id, 1, &part));
    let last = temp_file(dir.path(), "last", b"tail");
    let part_b = json(&b.upload_part(&bucket, key, upload_id, 2, &last));
    let parts = serde_json::json!({"Parts": [
        {"PartNumber": 1, "ETag": part_a["ETag"]},
        {"PartNumber": 2, "ETag": part_b["ETag"]},
    ]});
    ok(&b.aws(&[
        "s3api",
        "complete-multipart-upload",
        "--bucket",
        &bucket,
        "--key",
        key,
        "--upload-id",
        upload_id,
        "--multipart-upload",
        &parts.to_string(),
    ]));
    let back = dir.path().join("split.back");
    ok(&a.get_file(&bucket, key, &back));
    let mut expected = test_data(6 * 1024 * 1024, 7);
    expected.extend_from_slice(b"tail");
    assert_eq!(read(&back), expected);
    // Listings through either instance show plaintext sizes.
    for instance in [&a, &b] {
        let listing = json(&instance.aws(&["s3api", "list-objects-v2", "--bucket", &bucket]));
        let sizes: Vec<(String, u64)> = listing["Contents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["Key"].as_str().unwrap().to_string(),
                    o["Size"].as_u64().unwrap(),
                )
            })
            .collect();
        assert!(sizes.contains(&("small".into(), 1000)), "{sizes:?}");
        assert!(
            sizes.contains(&("split-upload".into(), expected.len() as u64)),
            "{sizes:?}"
        );
    }
}

#[test]
fn a_key_disabled_through_one_instance_is_refused_by_the_other_within_the_bound() {
    let (a, b) = pair("disable");
    let timing = scenario(&a, &b, &["propagation-disable"]);
    eprintln!("propagation: {timing}");
    // The same through S3: an upload through B under a key A disabled.
    let bucket = make_bucket(&b, "disabled");
    let key = json(&a.aws(&["kms", "create-key"]))["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "obj", b"payload");
    let sse = [
        "--server-side-encryption",
        "aws:kms",
        "--ssekms-key-id",
        key.as_str(),
    ];
    ok(&b.put_file(&bucket, "before", &src, &sse));
    ok(&a.aws(&["kms", "disable-key", "--key-id", &key]));
    std::thread::sleep(std::time::Duration::from_secs(1));
    fails_with(
        &b.put_file(&bucket, "after", &src, &sse),
        "KMS.DisabledException",
    );
    fails_with(
        &b.get_file(&bucket, "before", &dir.path().join("x")),
        "KMS.DisabledException",
    );
    assert!(
        !upstream_aws(&[
            "s3api",
            "head-object",
            "--bucket",
            &bucket,
            "--key",
            "after"
        ])
        .status
        .success(),
        "nothing was stored"
    );
}

#[test]
fn a_bucket_policy_put_through_one_instance_is_enforced_by_the_other() {
    let (a, b) = pair("policy");
    let bucket = make_bucket(&a, "policy");
    let dir = tempfile::tempdir().unwrap();
    ok(&a.put_file(
        &bucket,
        "doc",
        &temp_file(dir.path(), "doc", b"secret"),
        &[],
    ));
    let timing = scenario(&a, &b, &["propagation-policy", &bucket, "doc"]);
    eprintln!("propagation: {timing}");
}

#[test]
fn concurrent_operations_through_both_instances_leave_a_consistent_store() {
    let (a, b) = pair("concurrent");
    let summary = scenario(&a, &b, &["concurrent-ops"]);
    assert_eq!(summary["operations"], 200);
    assert_eq!(summary["problems"], serde_json::json!([]));
}

/// Embedded → PostgreSQL → embedded, with s3seal serving from each.
#[test]
fn a_store_moves_between_backends() {
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(300_000, 3);
    let src = temp_file(dir.path(), "obj", &data);

    // 1. An instance on the embedded store: a key, an alias, a bucket
    //    policy and an object under the key.
    let embedded = S3seal::start();
    let bucket = make_bucket(&embedded, "moved");
    let key = json(&embedded.aws(&["kms", "create-key"]))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&embedded.aws(&[
        "kms",
        "create-alias",
        "--alias-name",
        "alias/moved",
        "--target-key-id",
        &key,
    ]));
    ok(&embedded.put_file(
        &bucket,
        "obj",
        &src,
        &[
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-key-id",
            "alias/moved",
        ],
    ));
    let deny_deletes = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
        "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    ok(&embedded.aws(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        &bucket,
        "--policy",
        &deny_deletes.to_string(),
    ]));
    let embedded_dir = embedded.stop();

    // 2. Export it and import into a fresh PostgreSQL database.
    let export = dir.path().join("store.jsonl");
    let config = embedded_dir.join("s3seal.toml");
    store_ok("export", &config, Some(&export));
    let url = postgres().create_database("moved");
    let pg_config = config_with_store(
        &config,
        dir.path(),
        &format!(
            "backend = \"postgres\"\npostgres_url = \"{url}\"\n[audit]\ndir = \"{}/audit\"",
            dir.path().display()
        ),
    );
    store_ok("import", &pg_config, Some(&export));
    // A second import is refused: the target is no longer empty.
    let again = store_cli("import", &pg_config, Some(&export));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty store"));

    // 3. An instance on PostgreSQL serves everything the embedded one held.
    let shared = on_postgres(&url);
    let back = dir.path().join("back");
    ok(&shared.get_file(&bucket, "obj", &back));
    assert_eq!(read(&back), data);
    let described = json(&shared.aws(&["kms", "describe-key", "--key-id", "alias/moved"]));
    assert_eq!(described["KeyMetadata"]["KeyId"], key.as_str());
    fails_with(
        &shared.aws(&["s3", "rm", &format!("s3://{bucket}/obj")]),
        "AccessDenied",
    );

    // 4. And back: PostgreSQL (exported while serving) → a new embedded file.
    let second = dir.path().join("second.jsonl");
    store_ok("export", &pg_config, Some(&second));
    let first_records = records(&export);
    let second_records = records(&second);
    for record in &first_records {
        assert!(
            second_records.contains(record),
            "lost in the round trip: {record}"
        );
    }
    let embedded_again = config_with_store(
        &config,
        dir.path(),
        &format!("path = \"{}/again.redb\"", dir.path().display()),
    );
    store_ok("import", &embedded_again, Some(&second));
    let out = store_ok("export", &embedded_again, None);
    let third = record_lines(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        third, second_records,
        "embedded holds exactly what PostgreSQL held"
    );
}

/// `s3seal store export|import --config CONFIG [--output|--input FILE]`.
fn store_cli(action: &str, config: &Path, file: Option<&Path>) -> std::process::Output {
    let mut args = vec!["store", action, "--config", config.to_str().unwrap()];
    if let Some(file) = file {
        let flag = if action == "export" {
            "--output"
        } else {
            "--input"
        };
        args.extend([flag, file.to_str().unwrap()]);
    }
    s3seal_cli(&args)
}

fn store_ok(action: &str, config: &Path, file: Option<&Path>) -> std::process::Output {
    let out = store_cli(action, config, file);
    assert!(
        out.status.success(),
        "store {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Records of an export file (without its header, which names the source,
/// and its trailer, which counts them).
fn records(path: &Path) -> Vec<String> {
    record_lines(&std::fs::read_to_string(path).unwrap())
}

fn record_lines(export: &str) -> Vec<String> {
    export
        .lines()
        .skip(1)
        .filter(|line| !line.starts_with("{\"end\""))
        .map(String::from)
        .collect()
}

/// A copy of `config` whose `[store]` section is `store`.
fn config_with_store(config: &Path, dir: &Path, store: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    let start = text.find("[store]\n").unwrap() + "[store]\n".len();
    let end = start + text[start..].find('\n').unwrap();
    let rewritten = format!("{}{store}{}", &text[..start], &text[end..]);
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = dir.join(format!(
        "config-{}.toml",
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::write(&path, rewritten).unwrap();
    path
}

#[test]
fn with_postgres_down_requests_fail_closed_and_recover() {
    let mut pg = PrivatePostgres::start("down");
    let url = pg.server.create_database("down");
    let instance = S3seal::start_with(S3sealOptions {
        postgres_url: Some(url),
        ..Default::default()
    });
    let bucket = make_bucket(&instance, "down");
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "obj", b"before the outage");
    ok(&instance.put_file(&bucket, "before", &src, &[]));

    pg.kill();
    // Past the staleness bound nothing cached is trusted any more.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    fails_with(
        &instance.put_file(&bucket, "during", &src, &[]),
        "ServiceUnavailable",
    );
    assert!(
        !upstream_aws(&[
            "s3api",
            "head-object",
            "--bucket",
            &bucket,
            "--key",
            "during"
        ])
        .status
        .success(),
        "nothing was stored"
    );
    fails_with(
        &instance.get_file(&bucket, "before", &dir.path().join("x")),
        "ServiceUnavailable",
    );
    fails_with(
        &instance.aws(&["kms", "list-keys"]),
        "DependencyTimeoutException",
    );

    pg.resume();
    // The pool reconnects on the next request; the listener within a second.
    let mut recovered = false;
    for _ in 0..50 {
        if instance
            .put_file(&bucket, "after", &src, &[])
            .status
            .success()
        {
            recovered = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        recovered,
        "s3seal serves again once PostgreSQL is back:\n{}",
        instance.log()
    );
    let back = dir.path().join("back");
    ok(&instance.get_file(&bucket, "before", &back));
    assert_eq!(read(&back), b"before the outage");
}
