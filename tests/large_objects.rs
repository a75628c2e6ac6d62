//! Large objects end to end: multipart uploads, ranged and part reads,
//! listings, copies and re-keying, against real Garage with the aws CLI and boto3.

mod common;

use common::*;

const MIB: usize = 1024 * 1024;

/// The aws CLI's part size (and multipart threshold).
const CLI_PART: usize = 8 * MIB;

/// Stored size of an object the aws CLI uploaded: one stream per 8 MiB part.
fn cli_stored_len(size: usize) -> u64 {
    if size < CLI_PART {
        return sealed_len(size as u64);
    }
    let full = size / CLI_PART;
    let rest = size % CLI_PART;
    full as u64 * sealed_len(CLI_PART as u64) + if rest > 0 { sealed_len(rest as u64) } else { 0 }
}

fn listed_sizes(s3seal: &S3seal, bucket: &str) -> Vec<(String, u64)> {
    let listing = json(&s3seal.aws(&["s3api", "list-objects-v2", "--bucket", bucket]));
    listing["Contents"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["Key"].as_str().unwrap().to_string(),
                        e["Size"].as_u64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn aws_cli_copies_large_files_both_ways() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "large");
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0, CLI_PART - 1, CLI_PART, CLI_PART + 1, 100 * MIB];
    for (i, size) in sizes.iter().enumerate() {
        let key = format!("f{size}");
        let data = test_data(*size, 100 + i as u64);
        let src = temp_file(dir.path(), &key, &data);
        ok(&s3seal.aws(&[
            "s3",
            "cp",
            "--only-show-errors",
            src.to_str().unwrap(),
            &format!("s3://{b}/{key}"),
        ]));
        let dst = dir.path().join(format!("{key}.down"));
        ok(&s3seal.aws(&[
            "s3",
            "cp",
            "--only-show-errors",
            &format!("s3://{b}/{key}"),
            dst.to_str().unwrap(),
        ]));
        assert!(read(&dst) == data, "{key}: downloaded bytes differ");

        let head = json(&s3seal.head(&b, &key));
        assert_eq!(head["ContentLength"], *size as u64, "{key}");
        let raw = json(&upstream_head(&b, &key));
        assert_eq!(
            raw["ContentLength"],
            cli_stored_len(*size),
            "{key}: stored size"
        );
        if *size >= CLI_PART {
            let stored = stored_bytes(&b, &key, dir.path());
            assert!(
                !contains(&stored, PLAINTEXT_MARKER),
                "{key}: plaintext at rest"
            );
            assert!(
                head["ETag"].as_str().unwrap().contains('-'),
                "multipart ETag: {head}"
            );
        }
        std::fs::remove_file(&dst).unwrap();
    }
    let listed = listed_sizes(&s3seal, &b);
    for size in sizes {
        assert!(
            listed.contains(&(format!("f{size}"), size as u64)),
            "{listed:?}"
        );
    }
    let log = s3seal.log();
    assert!(
        log.contains(r#"operation="UploadPart" status=200"#),
        "the CLI uploaded parts"
    );
    assert!(
        log.matches(r#"operation="GetObject" status=206"#).count() >= 13,
        "the CLI downloaded with parallel ranged GETs"
    );
}

#[test]
fn boto3_multipart_uploads_ranges_and_part_reads() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "mpu");
    ok(&s3seal.python("multipart_scenarios.py", &["uploads", &b]));
}

#[test]
fn tampered_multipart_objects_fail_to_read() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "mptamper");
    ok(&s3seal.python("multipart_scenarios.py", &["tamper", &b]));
}

#[test]
fn upload_part_copy_with_ranges() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "partcopy");
    ok(&s3seal.python("multipart_scenarios.py", &["part-copy", &b]));
}

#[test]
fn listings_and_sync_with_multipart_and_direct_objects() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "mplist");
    let dir = tempfile::tempdir().unwrap();
    let single = temp_file(dir.path(), "single", &test_data(MIB + 3, 1));
    ok(&s3seal.put_file(&b, "single", &single, &[]));
    let multi = temp_file(dir.path(), "multi", &test_data(20 * MIB + 5, 2));
    ok(&s3seal.aws(&[
        "s3",
        "cp",
        "--only-show-errors",
        multi.to_str().unwrap(),
        &format!("s3://{b}/multi"),
    ]));
    let direct = temp_file(dir.path(), "direct", &test_data(12345, 3));
    ok(&upstream_put_file(&b, "direct", &direct, &[]));
    let expected = vec![
        ("direct".to_string(), 12345),
        ("multi".to_string(), 20 * MIB as u64 + 5),
        ("single".to_string(), MIB as u64 + 3),
    ];
    assert_eq!(listed_sizes(&s3seal, &b), expected);
    let ls = ok(&s3seal.aws(&["s3", "ls", &format!("s3://{b}/")]));
    assert!(ls.contains(&format!("{} multi", 20 * MIB + 5)), "{ls}");
    // The direct object is served as stored.
    let back = dir.path().join("direct.back");
    ok(&s3seal.get_file(&b, "direct", &back));
    assert_eq!(read(&back), test_data(12345, 3));

    // Listings need no upstream request per object once indexed.
    let heads_before = s3seal.log().matches("HEAD").count();
    assert_eq!(listed_sizes(&s3seal, &b), expected);
    assert_eq!(s3seal.log().matches("HEAD").count(), heads_before);

    // A second sync of an unchanged tree (with a 30 MiB file) transfers nothing.
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for (i, size) in [0usize, 10, 70_000, 9 * MIB, 30 * MIB].iter().enumerate() {
        std::fs::write(tree.join(format!("f{i}")), test_data(*size, 60 + i as u64)).unwrap();
    }
    let sync_up = || {
        ok(&s3seal.aws(&[
            "s3",
            "sync",
            "--no-progress",
            tree.to_str().unwrap(),
            &format!("s3://{b}/tree"),
        ]))
    };
    assert_eq!(sync_up().matches("upload:").count(), 5);
    let second = sync_up();
    assert!(
        !second.contains("upload:"),
        "second sync re-uploaded: {second}"
    );
    let down = dir.path().join("down");
    let sync_down = || {
        ok(&s3seal.aws(&[
            "s3",
            "sync",
            "--no-progress",
            &format!("s3://{b}/tree"),
            down.to_str().unwrap(),
        ]))
    };
    assert_eq!(sync_down().matches("download:").count(), 5);
    let again = sync_down();
    assert!(
        !again.contains("download:"),
        "second download sync transferred: {again}"
    );
    assert!(read(&down.join("f4")) == test_data(30 * MIB, 64));
}

#[test]
fn layouts_are_rebuilt_after_the_index_is_lost() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "rebuild");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(3 * CLI_PART + 77, 9);
    let src = temp_file(dir.path(), "big", &data);
    ok(&s3seal.aws(&[
        "s3",
        "cp",
        "--only-show-errors",
        src.to_str().unwrap(),
        &format!("s3://{b}/big"),
    ]));
    let state = s3seal.stop();
    let reset = std::process::Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(["reset-index", "--config"])
        .arg(state.join("s3seal.toml"))
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(String::from_utf8_lossy(&reset.stdout).contains("dropped"));

    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(state),
        ..Default::default()
    });
    assert_eq!(
        listed_sizes(&s3seal, &b),
        vec![("big".to_string(), data.len() as u64)]
    );
    assert!(s3seal.log().contains("rebuilt a multipart object's layout"));
    let dst = dir.path().join("big.down");
    ok(&s3seal.aws(&[
        "s3",
        "cp",
        "--only-show-errors",
        &format!("s3://{b}/big"),
        dst.to_str().unwrap(),
    ]));
    assert!(read(&dst) == data);
    let part = json(&s3seal.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        &b,
        "--key",
        "big",
        "--part-number",
        "4",
    ]));
    assert_eq!(part["ContentLength"], 77);
    assert_eq!(part["PartsCount"], 4);
}

#[test]
fn copies_rewrap_keys_and_rekey_in_place() {
    let probe = S3seal::start();
    let state = probe.stop();
    let other_key = S3seal::kms_cli(&state, &["create-key", "--description", "rekey"]);
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(state),
        ..Default::default()
    });
    let b = make_bucket(&s3seal, "copysrc");
    let b2 = make_bucket(&s3seal, "copydst");
    let dir = tempfile::tempdir().unwrap();
    let small = test_data(3 * MIB + 1, 11);
    let big = test_data(2 * CLI_PART + 5, 12);
    // Both buckets default to SSE-KMS under s3seal's default key, so uploads and
    // copies without SSE headers report that key.
    for bucket in [&b, &b2] {
        let kms_default = serde_json::json!({"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]});
        ok(&s3seal.put_bucket_encryption(bucket, &kms_default));
    }
    let small_file = temp_file(dir.path(), "small", &small);
    let big_file = temp_file(dir.path(), "big", &big);
    ok(&s3seal.put_file(
        &b,
        "small",
        &small_file,
        &["--metadata", "color=blue", "--content-type", "text/x-small"],
    ));
    ok(&s3seal.aws(&[
        "s3",
        "cp",
        "--only-show-errors",
        big_file.to_str().unwrap(),
        &format!("s3://{b}/big"),
    ]));
    let direct = test_data(2 * MIB, 13);
    ok(&upstream_put_file(
        &b,
        "direct",
        &temp_file(dir.path(), "direct", &direct),
        &[],
    ));

    let expect_object = |bucket: &str, key: &str, data: &[u8], key_arn: &str| {
        let dst = dir.path().join(format!("{bucket}-{key}.check"));
        ok(&s3seal.aws(&[
            "s3",
            "cp",
            "--only-show-errors",
            &format!("s3://{bucket}/{key}"),
            dst.to_str().unwrap(),
        ]));
        assert!(read(&dst) == data, "{bucket}/{key}: bytes differ");
        let head = json(&s3seal.head(bucket, key));
        assert_eq!(head["SSEKMSKeyId"], key_arn, "{bucket}/{key}");
        assert_eq!(head["ContentLength"], data.len() as u64);
        let stored = stored_bytes(bucket, key, dir.path());
        assert!(
            !contains(&stored, PLAINTEXT_MARKER),
            "{bucket}/{key}: plaintext at rest"
        );
        head
    };
    let copy = |args: &[&str]| {
        let mut all = vec!["s3api", "copy-object"];
        all.extend_from_slice(args);
        json(&s3seal.aws(&all))
    };
    let default_key = s3seal.default_key_arn.clone();

    // Within a bucket, metadata COPY: the user metadata and content type come along.
    copy(&[
        "--bucket",
        &b,
        "--key",
        "small-copy",
        "--copy-source",
        &format!("{b}/small"),
    ]);
    let head = expect_object(&b, "small-copy", &small, &default_key);
    assert_eq!(head["Metadata"]["color"], "blue");
    assert_eq!(head["ContentType"], "text/x-small");
    // Across buckets, REPLACE, under another key; the multipart source keeps its layout.
    let out = copy(&[
        "--bucket",
        &b2,
        "--key",
        "big-copy",
        "--copy-source",
        &format!("{b}/big"),
        "--metadata-directive",
        "REPLACE",
        "--metadata",
        "color=green",
        "--server-side-encryption",
        "aws:kms",
        "--ssekms-key-id",
        &other_key,
    ]);
    assert_eq!(out["SSEKMSKeyId"], other_key.as_str());
    let head = expect_object(&b2, "big-copy", &big, &other_key);
    assert_eq!(head["Metadata"], serde_json::json!({"color": "green"}));
    let part = json(&s3seal.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        &b2,
        "--key",
        "big-copy",
        "--part-number",
        "3",
    ]));
    assert_eq!(part["ContentLength"], 5);
    // The upstream copied the ciphertext itself: same stored bytes.
    assert!(stored_bytes(&b2, "big-copy", dir.path()) == stored_bytes(&b, "big", dir.path()));
    // A plaintext object written directly is sealed on its way through.
    copy(&[
        "--bucket",
        &b2,
        "--key",
        "direct-copy",
        "--copy-source",
        &format!("{b}/direct"),
    ]);
    expect_object(&b2, "direct-copy", &direct, &default_key);
    // Copying onto itself without changing anything is refused, as on S3.
    fails_with(
        &s3seal.aws(&[
            "s3api",
            "copy-object",
            "--bucket",
            &b,
            "--key",
            "small",
            "--copy-source",
            &format!("{b}/small"),
        ]),
        "InvalidRequest",
    );

    // Re-keying in place with the aws CLI (the big one goes through UploadPartCopy).
    for key in ["small", "big"] {
        ok(&s3seal.aws(&[
            "s3",
            "cp",
            "--only-show-errors",
            &format!("s3://{b}/{key}"),
            &format!("s3://{b}/{key}"),
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            &other_key,
        ]));
    }
    expect_object(&b, "small", &small, &other_key);
    expect_object(&b, "big", &big, &other_key);

    // UpdateObjectEncryption re-wraps in place: same ETag, same bytes, the new key.
    for key in ["small", "big"] {
        let before = json(&s3seal.head(&b, key));
        ok(&s3seal.aws(&[
            "s3api",
            "update-object-encryption",
            "--bucket",
            &b,
            "--key",
            key,
            "--object-encryption",
            &format!(r#"{{"SSEKMS":{{"KMSKeyArn":"{default_key}"}}}}"#),
        ]));
        let after = expect_object(
            &b,
            key,
            if key == "small" { &small } else { &big },
            &default_key,
        );
        assert_eq!(before["ETag"], after["ETag"], "{key}: ETag kept");
        assert_eq!(after["ServerSideEncryption"], "aws:kms");
    }
    fails_with(
        &s3seal.aws(&[
            "s3api",
            "update-object-encryption",
            "--bucket",
            &b,
            "--key",
            "direct",
            "--object-encryption",
            &format!(r#"{{"SSEKMS":{{"KMSKeyArn":"{default_key}"}}}}"#),
        ]),
        "InvalidRequest",
    );
    fails_with(
        &s3seal.aws(&[
            "s3api", "update-object-encryption", "--bucket", &b, "--key", "small",
            "--object-encryption",
            r#"{"SSEKMS":{"KMSKeyArn":"arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000"}}"#,
        ]),
        "KMS.NotFoundException",
    );
}
