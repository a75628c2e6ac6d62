//! The operator's bucket tools (`s3seal migrate`, `rewrap`, `verify`) run
//! against a real s3seal in front of real Garage, as an operator runs them.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const MIB: usize = 1024 * 1024;

/// `s3seal <args> --endpoint-url <s3seal>` with the client credentials, run in `dir`.
fn tool_command(s3seal: &S3seal, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_s3seal"));
    cmd.args(args)
        .args(["--endpoint-url", &s3seal.endpoint()])
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", CLIENT_KEY)
        .env("AWS_SECRET_ACCESS_KEY", CLIENT_SECRET)
        .env_remove("S3SEAL_CONFIG")
        .stdin(Stdio::null());
    cmd
}

fn tool(s3seal: &S3seal, dir: &Path, args: &[&str]) -> Output {
    tool_command(s3seal, dir, args)
        .output()
        .expect("running s3seal")
}

/// Runs a tool with `--report` and returns (exit code, report, stderr).
fn tool_report(s3seal: &S3seal, dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let mut all = args.to_vec();
    all.extend(["--report", report.to_str().unwrap()]);
    let out = tool(s3seal, dir, &all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "no report from {args:?} ({}):\nstdout: {}\nstderr: {stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&text).unwrap(),
        stderr,
    )
}

fn python_ok(s3seal: &S3seal, args: &[&str]) -> Value {
    serde_json::from_str(&ok(&s3seal.python("operator_tools.py", args))).unwrap()
}

/// The object's metadata as stored in Garage (s3seal's `s3seal-*` fields included).
fn stored_metadata(bucket: &str, key: &str) -> Value {
    json(&upstream_head(bucket, key))["Metadata"].clone()
}

fn checkpoint_key(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["done_through"].as_str().map(str::to_string)
}

/// Waits until the checkpoint records a key at or past `key`, then SIGKILLs the run.
fn kill_when_checkpoint_passes(mut child: Child, state: &Path, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(done) = checkpoint_key(state).filter(|done| done.as_str() >= key) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run finished before it could be killed"
            );
            child.kill().unwrap();
            child.wait().unwrap();
            return done;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before reaching {key}"
        );
        assert!(Instant::now() < deadline, "no progress to {key} in 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn migrate_seals_a_bucket_in_place_resumes_after_a_kill_and_is_idempotent() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "migrate");
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    let populated = python_ok(
        &s3seal,
        &["populate", &b, "500", manifest.to_str().unwrap()],
    );
    assert_eq!(populated["multipart"].as_array().unwrap().len(), 5);
    // Garage 2.5 keeps no object tags, so tags cannot survive here; the
    // migration must get past GetObjectTagging's NotImplemented (the tags
    // header itself is unit-tested in src/tools/client.rs).
    assert_eq!(populated["tagging"], "NotImplemented", "{populated}");
    let target = format!("s3://{b}");

    // A dry run lists and reports, and writes nothing.
    let (code, report, _) = tool_report(&s3seal, dir.path(), &["migrate", &target, "--dry-run"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["would_do"]["objects"], 500, "{report}");
    assert_eq!(report["done"]["objects"], 0, "{report}");
    assert!(
        stored_metadata(&b, "obj-0001")
            .get("s3seal-format")
            .is_none()
    );
    assert!(
        stored_metadata(&b, "obj-0050")
            .get("s3seal-format")
            .is_none()
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("checkpoint")),
        "a dry run wrote a checkpoint"
    );

    // Killed halfway (SIGKILL), then run again: it resumes and completes.
    let state = dir.path().join("migrate.state");
    let small_parts = ["--multipart-threshold", "8388608", "--part-size", "5242880"];
    let mut first_args = vec!["migrate", &target, "--concurrency", "2", "--state"];
    first_args.push(state.to_str().unwrap());
    first_args.extend(small_parts);
    let child = tool_command(&s3seal, dir.path(), &first_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed_at = kill_when_checkpoint_passes(child, &state, "obj-0200");
    assert!(killed_at.as_str() < "obj-0499", "{killed_at}");

    let mut resume_args = vec!["migrate", &target, "--state", state.to_str().unwrap()];
    resume_args.extend(small_parts);
    let (code, report, stderr) = tool_report(&s3seal, dir.path(), &resume_args);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert!(stderr.contains("resuming after"), "{stderr}");
    let resumed_after = report["resumed_after"].as_str().unwrap();
    assert!(resumed_after >= "obj-0200", "{report}");
    let listed = report["listed"].as_u64().unwrap();
    assert!(
        listed < 300,
        "the resumed run listed from the start: {report}"
    );
    let migrated = report["done"]["objects"].as_u64().unwrap();
    let sealed = report["already_sealed"].as_u64().unwrap();
    assert_eq!(migrated + sealed, listed, "{report}");
    assert!(report["failed"].as_array().unwrap().is_empty(), "{report}");
    assert!(!state.exists(), "a completed run leaves its checkpoint");

    // Every object is sealed in Garage and reads back as it was written.
    let checked = python_ok(&s3seal, &["check", &b, manifest.to_str().unwrap()]);
    assert_eq!(checked["checked"], 500);

    // A second run migrates nothing.
    let (code, report, _) = tool_report(&s3seal, dir.path(), &["migrate", &target]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["listed"], 500, "{report}");
    assert_eq!(report["done"]["objects"], 0, "{report}");
    assert_eq!(report["already_sealed"], 500, "{report}");
}

#[test]
fn writes_with_a_stale_if_match_fail_and_change_nothing() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "ifmatch");
    let dir = tempfile::tempdir().unwrap();
    let original = temp_file(dir.path(), "original", &test_data(10_000, 1));
    let other = temp_file(dir.path(), "other", &test_data(20_000, 2));
    let put = json(&s3seal.put_file(&b, "k", &original, &[]));
    let etag = put["ETag"].as_str().unwrap().to_string();

    let stale = s3seal.put_file(&b, "k", &other, &["--if-match", "\"0123456789abcdef\""]);
    fails_with(&stale, "PreconditionFailed");
    let exists = s3seal.put_file(&b, "k", &other, &["--if-none-match", "*"]);
    fails_with(&exists, "PreconditionFailed");
    let back = dir.path().join("back");
    ok(&s3seal.get_file(&b, "k", &back));
    assert_eq!(
        read(&back),
        read(&original),
        "a failed conditional PUT wrote"
    );

    ok(&s3seal.put_file(&b, "k", &other, &["--if-match", &etag]));
    ok(&s3seal.get_file(&b, "k", &back));
    assert_eq!(read(&back), read(&other));
    ok(&s3seal.put_file(&b, "new", &other, &["--if-none-match", "*"]));
    fails_with(
        &s3seal.put_file(&b, "absent", &other, &["--if-match", &etag]),
        "NoSuchKey",
    );

    // CompleteMultipartUpload honours If-Match as well.
    let upload = json(&s3seal.aws(&[
        "s3api",
        "create-multipart-upload",
        "--bucket",
        &b,
        "--key",
        "k",
    ]));
    let upload_id = upload["UploadId"].as_str().unwrap();
    let part = json(&s3seal.upload_part(&b, "k", upload_id, 1, &original));
    let parts = serde_json::json!({"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]});
    let complete = s3seal.aws(&[
        "s3api",
        "complete-multipart-upload",
        "--bucket",
        &b,
        "--key",
        "k",
        "--upload-id",
        upload_id,
        "--multipart-upload",
        &parts.to_string(),
        "--if-match",
        &etag,
    ]);
    fails_with(&complete, "PreconditionFailed");
    ok(&s3seal.get_file(&b, "k", &back));
    assert_eq!(read(&back), read(&other));
}

#[test]
fn migrate_skips_an_object_changed_during_its_migration() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "changed");
    let dir = tempfile::tempdir().unwrap();
    let old = temp_file(dir.path(), "old", &test_data(50_000, 3));
    let new = temp_file(dir.path(), "new", &test_data(60_000, 4));
    ok(&upstream_put_file(&b, "busy", &old, &[]));
    ok(&upstream_put_file(&b, "quiet", &old, &[]));

    // The hook writes a new version of `busy` straight to Garage after the
    // migration read it and before it writes its sealed copy.
    let g = garage();
    let hook = dir.path().join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n[ \"$2\" = busy ] || exit 0\nexport AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION=garage AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null\nexec aws --endpoint-url {} s3api put-object --bucket \"$1\" --key \"$2\" --body {} >/dev/null\n",
            g.key_id,
            g.secret,
            g.endpoint(),
            new.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let target = format!("s3://{b}");
    let (code, report, _) = tool_report(
        &s3seal,
        dir.path(),
        &[
            "migrate",
            &target,
            "--hook-before-write",
            hook.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{report}");
    assert_eq!(report["changed"], serde_json::json!(["busy"]), "{report}");
    assert_eq!(report["done"]["objects"], 1, "{report}");
    // The new version is intact: not overwritten with the old content.
    let raw = stored_bytes(&b, "busy", dir.path());
    assert_eq!(raw, read(&new));

    // A re-run migrates it, here under a key named on the command line.
    let key_arn = create_key(&s3seal, "migrate target");
    let (code, report, _) = tool_report(
        &s3seal,
        dir.path(),
        &["migrate", &target, "--kms-key-id", &key_arn],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["done"]["objects"], 1, "{report}");
    assert_eq!(report["already_sealed"], 1, "{report}");
    let back = dir.path().join("back");
    ok(&s3seal.get_file(&b, "busy", &back));
    assert_eq!(read(&back), read(&new));
    let head = json(&s3seal.head(&b, "busy"));
    assert_eq!(head["SSEKMSKeyId"], key_arn.as_str(), "{head}");
    assert_eq!(head["ServerSideEncryption"], "aws:kms", "{head}");
}

/// Creates a KMS key through s3seal's KMS API; returns its ARN.
fn create_key(s3seal: &S3seal, description: &str) -> String {
    let key = json(&s3seal.aws(&["kms", "create-key", "--description", description]));
    key["KeyMetadata"]["Arn"].as_str().unwrap().to_string()
}

fn set_default_key(s3seal: &S3seal, bucket: &str, key_arn: &str) {
    let config = serde_json::json!({"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    }]});
    ok(&s3seal.put_bucket_encryption(bucket, &config));
}

/// Writes `count` objects through s3seal (the last one a 12 MiB multipart
/// upload); returns their keys and plaintexts.
fn sealed_objects(
    s3seal: &S3seal,
    bucket: &str,
    dir: &Path,
    count: usize,
) -> Vec<(String, Vec<u8>)> {
    let mut objects = Vec::new();
    for i in 0..count {
        let size = if i + 1 == count { 12 * MIB } else { i * 3000 };
        let data = test_data(size, 100 + i as u64);
        let key = format!("doc-{i:02}");
        let file = temp_file(dir, &key, &data);
        if size > 8 * MIB {
            ok(&s3seal.aws(&[
                "s3",
                "cp",
                file.to_str().unwrap(),
                &format!("s3://{bucket}/{key}"),
            ]));
        } else {
            ok(&s3seal.put_file(bucket, &key, &file, &[]));
        }
        objects.push((key, data));
    }
    objects
}

fn assert_reads_back(s3seal: &S3seal, bucket: &str, dir: &Path, objects: &[(String, Vec<u8>)]) {
    let back = dir.join("read-back");
    for (key, data) in objects {
        ok(&s3seal.get_file(bucket, key, &back));
        assert!(read(&back) == *data, "{key} reads back differently");
    }
}

#[test]
fn rewrap_follows_rotation_and_moves_objects_to_another_key() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "rewrap");
    let dir = tempfile::tempdir().unwrap();
    let first_key = create_key(&s3seal, "rewrap first");
    set_default_key(&s3seal, &b, &first_key);
    let objects = sealed_objects(&s3seal, &b, dir.path(), 8);
    let plain = temp_file(dir.path(), "plain", b"never sealed");
    ok(&upstream_put_file(&b, "plain", &plain, &[]));
    for (key, _) in &objects {
        assert_eq!(stored_metadata(&b, key)["s3seal-key-version"], "1", "{key}");
    }
    let target = format!("s3://{b}");

    ok(&s3seal.aws(&["kms", "rotate-key-on-demand", "--key-id", &first_key]));
    let (code, report, _) = tool_report(&s3seal, dir.path(), &["rewrap", &target]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["done"]["objects"], 8, "{report}");
    assert_eq!(
        report["plaintext"],
        serde_json::json!(["plain"]),
        "{report}"
    );
    for (key, _) in &objects {
        assert_eq!(stored_metadata(&b, key)["s3seal-key-version"], "2", "{key}");
    }
    assert_reads_back(&s3seal, &b, dir.path(), &objects);

    let second_key = create_key(&s3seal, "rewrap second");
    let (code, report, _) = tool_report(
        &s3seal,
        dir.path(),
        &["rewrap", &target, "--to-key", &second_key],
    );
    assert_eq!(code, 0, "{report}");
    for (key, _) in &objects {
        let head = json(&s3seal.head(&b, key));
        assert_eq!(head["SSEKMSKeyId"], second_key.as_str(), "{key}");
    }
    assert_reads_back(&s3seal, &b, dir.path(), &objects);

    // Again: every object is already wrapped so, and nothing is copied.
    let before: Vec<Value> = objects
        .iter()
        .map(|(k, _)| json(&upstream_head(&b, k)))
        .collect();
    let (code, report, _) = tool_report(
        &s3seal,
        dir.path(),
        &["rewrap", &target, "--to-key", &second_key],
    );
    assert_eq!(code, 0, "{report}");
    for ((key, _), before) in objects.iter().zip(before) {
        let after = json(&upstream_head(&b, key));
        assert_eq!(
            after["Metadata"]["s3seal-dk"], before["Metadata"]["s3seal-dk"],
            "{key}"
        );
        assert_eq!(after["LastModified"], before["LastModified"], "{key}");
    }
}

/// Rewrites an object in Garage with one ciphertext byte flipped, keeping its metadata.
fn corrupt(bucket: &str, key: &str, dir: &Path) {
    let mut raw = stored_bytes(bucket, key, dir);
    let middle = raw.len() / 2;
    raw[middle] ^= 0x01;
    let file = temp_file(dir, "corrupted", &raw);
    let metadata = stored_metadata(bucket, key).to_string();
    ok(&upstream_put_file(
        bucket,
        key,
        &file,
        &["--metadata", &metadata],
    ));
}

#[test]
fn verify_reads_everything_and_names_a_corrupted_object() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "verify");
    let dir = tempfile::tempdir().unwrap();
    let objects = sealed_objects(&s3seal, &b, dir.path(), 6);
    let plain = temp_file(dir.path(), "plain", b"never sealed");
    ok(&upstream_put_file(&b, "plain", &plain, &[]));
    let target = format!("s3://{b}");

    let (code, report, _) = tool_report(&s3seal, dir.path(), &["verify", &target]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["done"]["objects"], 6, "{report}");
    let total: usize = objects.iter().map(|(_, d)| d.len()).sum();
    assert_eq!(report["done"]["bytes"], total, "{report}");
    assert_eq!(
        report["plaintext"],
        serde_json::json!(["plain"]),
        "{report}"
    );
    let (code, report, _) = tool_report(
        &s3seal,
        dir.path(),
        &["verify", &target, "--require-sealed"],
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["failed"][0]["key"], "plain", "{report}");

    corrupt(&b, "doc-03", dir.path());
    let (code, report, _) = tool_report(&s3seal, dir.path(), &["verify", &target]);
    assert_eq!(code, 1, "{report}");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["key"], "doc-03", "{report}");
    assert_eq!(report["done"]["objects"], 5, "{report}");

    let (_, report, _) = tool_report(&s3seal, dir.path(), &["verify", &target, "--sample", "3"]);
    assert_eq!(report["listed"], 3, "{report}");

    // Without --endpoint-url, the endpoint is server.listen of --config; a
    // prefix narrows the run.
    let out = Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(["verify", &format!("s3://{b}/pla"), "--config"])
        .arg(s3seal.dir.join("s3seal.toml"))
        .env("AWS_ACCESS_KEY_ID", CLIENT_KEY)
        .env("AWS_SECRET_ACCESS_KEY", CLIENT_SECRET)
        .output()
        .unwrap();
    let summary = ok(&out);
    assert!(summary.contains("1 objects listed"), "{summary}");
    assert!(summary.contains("still plaintext: 1"), "{summary}");

    // A listing that fails is reported, and fails the run.
    let missing = format!("s3://{b}-missing");
    let (code, report, _) = tool_report(&s3seal, dir.path(), &["verify", &missing]);
    assert_eq!(code, 1, "{report}");
    let error = report["listing_error"].as_str().unwrap_or_default();
    assert!(error.contains("NoSuchBucket"), "{report}");
}
