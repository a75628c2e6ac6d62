//! End to end: aws CLI / boto3 → s3seal → real Garage, ciphertext at rest.

mod common;

use common::*;

#[test]
fn round_trips_of_every_boundary_size_with_ciphertext_at_rest() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "sizes");
    let dir = tempfile::tempdir().unwrap();
    for (i, size) in [0usize, 1, 65535, 65536, 65537, 1 << 20, 20 << 20]
        .into_iter()
        .enumerate()
    {
        let data = test_data(size, i as u64 + 1);
        let key = format!("obj-{size}");
        let src = temp_file(dir.path(), &key, &data);
        ok(&s3seal.put_file(&b, &key, &src, &[]));
        let dst = dir.path().join(format!("{key}.out"));
        let meta = json(&s3seal.get_file(&b, &key, &dst));
        assert_eq!(read(&dst), data, "size {size}: GET returned other bytes");
        assert_eq!(meta["ContentLength"], size as u64, "size {size}");
        // No SSE header: the bucket's default encryption, SSE-S3 as on AWS
        // (sealed under s3seal's default key all the same).
        assert_eq!(meta["ServerSideEncryption"], "AES256");
        assert!(meta.get("SSEKMSKeyId").is_none(), "{meta}");

        let raw = stored_bytes(&b, &key, dir.path());
        assert_eq!(
            raw.len() as u64,
            sealed_len(size as u64),
            "size {size}: stored length"
        );
        assert!(
            !contains(&raw, PLAINTEXT_MARKER),
            "size {size}: plaintext marker found in the stored object"
        );
        if size >= 64 {
            assert!(
                !contains(&raw, &data[size / 2..size / 2 + 32]),
                "size {size}: plaintext bytes found upstream"
            );
        }
    }
}

#[test]
fn aws_s3_cp_below_the_multipart_threshold_round_trips() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "cp");
    let dir = tempfile::tempdir().unwrap();
    for (name, size) in [
        ("empty", 0usize),
        ("small.txt", 10),
        ("seven-mib.bin", 7 << 20),
    ] {
        let data = test_data(size, 99);
        let src = temp_file(dir.path(), name, &data);
        ok(&s3seal.aws(&[
            "s3",
            "cp",
            src.to_str().unwrap(),
            &format!("s3://{b}/dir/{name}"),
        ]));
        let dst = dir.path().join(format!("{name}.down"));
        ok(&s3seal.aws(&[
            "s3",
            "cp",
            &format!("s3://{b}/dir/{name}"),
            dst.to_str().unwrap(),
        ]));
        assert_eq!(read(&dst), data, "{name}");
    }
    let listing = ok(&s3seal.aws(&["s3", "ls", &format!("s3://{b}/dir/")]));
    assert!(listing.contains("seven-mib.bin"), "{listing}");
}

#[test]
fn head_reports_plaintext_size_sse_and_client_metadata_only() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "head");
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", &test_data(100_000, 5));
    ok(&s3seal.put_file(
        &b,
        "k",
        &src,
        &[
            "--content-type",
            "text/x-s3seal",
            "--cache-control",
            "no-cache",
            "--content-disposition",
            "inline",
            "--content-language",
            "fr",
            "--metadata",
            "color=blue, team=platform",
            "--server-side-encryption",
            "aws:kms",
        ],
    ));
    let head = json(&s3seal.head(&b, "k"));
    assert_eq!(head["ContentLength"], 100_000);
    assert_eq!(head["ContentType"], "text/x-s3seal");
    assert_eq!(head["CacheControl"], "no-cache");
    assert_eq!(head["ContentDisposition"], "inline");
    assert_eq!(head["ContentLanguage"], "fr");
    assert_eq!(head["ServerSideEncryption"], "aws:kms");
    assert_eq!(head["SSEKMSKeyId"], s3seal.default_key_arn.as_str());
    assert_eq!(
        head["Metadata"],
        serde_json::json!({"color": "blue", "team": "platform"}),
        "internal metadata must be hidden"
    );

    // The same object seen directly on Garage: ciphertext size and s3seal's metadata.
    let raw = json(&upstream_head(&b, "k"));
    assert_eq!(raw["ContentLength"], sealed_len(100_000));
    assert_eq!(raw["Metadata"]["s3seal-len"], "100000");
    assert_eq!(
        raw["ETag"], head["ETag"],
        "s3seal reports the upstream ETag (not an MD5 of the plaintext)"
    );
}

#[test]
fn upload_naming_a_key_uses_it_and_aes256_uses_the_default_key() {
    let dir_probe = S3seal::start();
    let state_dir = dir_probe.stop();
    let key_arn = S3seal::kms_cli(&state_dir, &["create-key", "--description", "payments"]);
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(state_dir),
        ..Default::default()
    });
    let b = make_bucket(&s3seal, "keys");
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", b"named key data");
    let put = json(&s3seal.put_file(
        &b,
        "named",
        &src,
        &[
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-key-id",
            &key_arn,
        ],
    ));
    assert_eq!(put["SSEKMSKeyId"], key_arn.as_str());
    let head = json(&s3seal.head(&b, "named"));
    assert_eq!(head["SSEKMSKeyId"], key_arn.as_str());

    // By bare key id and by alias.
    let key_id = key_arn.rsplit('/').next().unwrap();
    ok(&s3seal.put_file(
        &b,
        "by-id",
        &src,
        &[
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-key-id",
            key_id,
        ],
    ));
    ok(&s3seal.put_file(
        &b,
        "by-alias",
        &src,
        &[
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-key-id",
            "alias/aws/s3",
        ],
    ));

    ok(&s3seal.put_file(&b, "sse-s3", &src, &["--server-side-encryption", "AES256"]));
    let head = json(&s3seal.head(&b, "sse-s3"));
    assert_eq!(head["ServerSideEncryption"], "AES256");
    let raw = json(&upstream_head(&b, "sse-s3"));
    assert_eq!(
        format!(
            "arn:aws:kms:us-east-1:000000000000:key/{}",
            raw["Metadata"]["s3seal-key-id"].as_str().unwrap()
        ),
        s3seal.default_key_arn
    );

    // An encryption context travels with the object and is reported back.
    let ctx = "eyJwcm9qZWN0IjoiczNzZWFsIn0="; // {"project":"s3seal"}
    ok(&s3seal.put_file(
        &b,
        "ctx",
        &src,
        &[
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-encryption-context",
            ctx,
        ],
    ));
    let dst = dir.path().join("ctx.out");
    ok(&s3seal.get_file(&b, "ctx", &dst));
    assert_eq!(read(&dst), b"named key data");
}

#[test]
fn unknown_or_disabled_keys_store_nothing() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "badkey");
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", b"secret");
    let missing = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000";
    let out = s3seal.put_file(
        &b,
        "k",
        &src,
        &[
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-key-id",
            missing,
        ],
    );
    fails_with(&out, "KMS.NotFoundException");
    fails_with(&upstream_head(&b, "k"), "404");

    let out = s3seal.put_file(&b, "k", &src, &["--ssekms-key-id", missing]);
    fails_with(&out, "InvalidArgument");

    // Disable a key (offline tool), restart: uploads and reads under it fail.
    ok(&s3seal.put_file(&b, "before", &src, &[]));
    let state = s3seal.stop();
    let default_key = S3seal::kms_cli(&state, &["default-key"]);
    S3seal::kms_cli(&state, &["disable-key", &default_key]);
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(state.clone()),
        ..Default::default()
    });
    let out = s3seal.put_file(&b, "k2", &src, &[]);
    fails_with(&out, "KMS.DisabledException");
    fails_with(&upstream_head(&b, "k2"), "404");
    let dst = dir.path().join("before.out");
    fails_with(
        &s3seal.get_file(&b, "before", &dst),
        "KMS.DisabledException",
    );
    let state = s3seal.stop();
    S3seal::kms_cli(&state, &["enable-key", &default_key]);
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(state),
        ..Default::default()
    });
    ok(&s3seal.get_file(&b, "before", &dst));
    assert_eq!(read(&dst), b"secret");
}

/// Replaces an object on Garage with other bytes, keeping its metadata.
fn replace_stored(
    bucket: &str,
    key: &str,
    bytes: &[u8],
    metadata: &serde_json::Value,
    dir: &std::path::Path,
) {
    let path = temp_file(dir, "tampered", bytes);
    let meta: Vec<String> = metadata
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect();
    ok(&upstream_put_file(
        bucket,
        key,
        &path,
        &["--metadata", &meta.join(",")],
    ));
}

#[test]
fn tampered_or_truncated_ciphertext_never_yields_plaintext() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "tamper");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(200_000, 11);
    let src = temp_file(dir.path(), "f", &data);
    for key in ["flip", "trunc", "trunc-consistent", "moved-src"] {
        ok(&s3seal.put_file(&b, key, &src, &[]));
    }
    let raw = stored_bytes(&b, "flip", dir.path());
    let meta = json(&upstream_head(&b, "flip"))["Metadata"].clone();
    let dst = dir.path().join("out");

    // One flipped bit in the middle of the second segment.
    let mut flipped = raw.clone();
    flipped[36 + 65536 + 16 + 1000] ^= 0x01;
    replace_stored(&b, "flip", &flipped, &meta, dir.path());
    let out = s3seal.get_file(&b, "flip", &dst);
    assert!(!out.status.success(), "GET of a tampered object must fail");
    assert_ne!(std::fs::read(&dst).unwrap_or_default(), data);

    // Truncated: the stored length no longer matches the metadata → error before any byte.
    let raw = stored_bytes(&b, "trunc", dir.path());
    let meta = json(&upstream_head(&b, "trunc"))["Metadata"].clone();
    replace_stored(&b, "trunc", &raw[..raw.len() - 65552], &meta, dir.path());
    fails_with(&s3seal.get_file(&b, "trunc", &dst), "InternalError");

    // Truncated with metadata edited to match: the authenticated header disagrees.
    let raw = stored_bytes(&b, "trunc-consistent", dir.path());
    let mut meta = json(&upstream_head(&b, "trunc-consistent"))["Metadata"].clone();
    let short = 2 * 65536;
    meta["s3seal-len"] = serde_json::json!(short.to_string());
    replace_stored(
        &b,
        "trunc-consistent",
        &raw[..36 + 2 * (65536 + 16)],
        &meta,
        dir.path(),
    );
    let out = s3seal.get_file(&b, "trunc-consistent", &dst);
    assert!(
        !out.status.success(),
        "a consistently truncated object must not be served"
    );

    // An object copied to another key on the upstream does not decrypt there (context binds the key).
    let raw = stored_bytes(&b, "moved-src", dir.path());
    let meta = json(&upstream_head(&b, "moved-src"))["Metadata"].clone();
    replace_stored(&b, "moved-dst", &raw, &meta, dir.path());
    fails_with(&s3seal.get_file(&b, "moved-dst", &dst), "InternalError");

    // The untouched original still reads fine.
    ok(&s3seal.get_file(&b, "moved-src", &dst));
    assert_eq!(read(&dst), data);
}

#[test]
fn body_not_matching_its_signed_hash_stores_nothing() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "hash");
    // A previous version must survive a failed overwrite.
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", b"previous version");
    ok(&s3seal.put_file(&b, "kept", &src, &[]));

    for key in ["new", "kept"] {
        let out = s3seal.python("raw_requests.py", &["bad-payload-hash", &b, key]);
        let result: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
        assert_eq!(result["status"], 400, "{result}");
        assert!(
            result["body"]
                .as_str()
                .unwrap()
                .contains("XAmzContentSHA256Mismatch"),
            "{result}"
        );
    }
    fails_with(&upstream_head(&b, "new"), "404");
    let dst = dir.path().join("kept.out");
    ok(&s3seal.get_file(&b, "kept", &dst));
    assert_eq!(read(&dst), b"previous version");

    // Control: the same raw client with a matching body succeeds.
    let result: serde_json::Value = serde_json::from_str(&ok(
        &s3seal.python("raw_requests.py", &["good-put", &b, "good"])
    ))
    .unwrap();
    assert_eq!(result["status"], 200, "{result}");
}

/// botocore answers `Expect: 100-continue` on empty PUTs; a final response
/// instead of `100 Continue` used to leave its pooled connection misreading
/// the next response (no ETag).
#[test]
fn empty_puts_do_not_break_the_clients_pooled_connection() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "expect");
    let out: serde_json::Value = serde_json::from_str(&ok(
        &s3seal.python("boto3_scenarios.py", &["empty-then-sized", &b])
    ))
    .unwrap();
    let etags = out["etags"].as_array().unwrap();
    assert_eq!(etags.len(), 6, "{out}");
    assert!(
        etags
            .iter()
            .all(|e| e.as_str().is_some_and(|e| e.starts_with('"'))),
        "{out}"
    );
}

#[test]
fn boto3_round_trips_metadata_and_verifies_digests() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "boto");
    let out: serde_json::Value =
        serde_json::from_str(&ok(&s3seal.python("boto3_scenarios.py", &["roundtrip", &b])))
            .unwrap();
    assert_eq!(out["sizes"].as_array().unwrap().len(), 6);

    let out: serde_json::Value = serde_json::from_str(&ok(
        &s3seal.python("boto3_scenarios.py", &["bad-md5", &b, "md5"])
    ))
    .unwrap();
    assert_eq!(out["put"], serde_json::json!(["BadDigest", 400]), "{out}");
    assert_eq!(out["upstream_head"][1], 404, "{out}");

    let out: serde_json::Value =
        serde_json::from_str(&ok(&s3seal.python("boto3_scenarios.py", &["checksums", &b])))
            .unwrap();
    for algo in ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] {
        assert_eq!(out[algo]["ok"], true, "{algo}: {out}");
        assert!(
            out[algo]["echo"].is_string(),
            "{algo}: checksum echoed in the PUT response: {out}"
        );
    }
    assert_eq!(
        out["wrong_crc32"],
        serde_json::json!(["BadDigest", 400]),
        "{out}"
    );
    assert_eq!(out["wrong_stored"][1], 404, "{out}");
}

#[test]
fn range_reads_fetch_segments_and_match_s3_semantics() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "ranges");
    let out: serde_json::Value =
        serde_json::from_str(&ok(&s3seal.python("boto3_scenarios.py", &["ranges", &b]))).unwrap();
    assert_eq!(out["checked"], 200, "{out}");
    assert_eq!(
        out["unsatisfiable"],
        serde_json::json!(["InvalidRange", 416]),
        "{out}"
    );
    assert_eq!(out["head_length"], 10, "{out}");
    assert_eq!(out["head_range"], "bytes 10-19/300000", "{out}");
    assert_eq!(
        out["multi_range_length"], 300_000,
        "several ranges are ignored, as on S3: {out}"
    );
    assert_eq!(out["direct"], "234", "{out}");

    // The aws CLI downloads objects above 8 MiB with parallel ranged GETs.
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(20 << 20, 21);
    let src = temp_file(dir.path(), "big", &data);
    ok(&s3seal.put_file(&b, "big", &src, &[]));
    let dst = dir.path().join("big.down");
    ok(&s3seal.aws(&["s3", "cp", &format!("s3://{b}/big"), dst.to_str().unwrap()]));
    assert_eq!(read(&dst), data);
    assert!(
        s3seal.log().matches("status=206").count() >= 2,
        "the CLI used ranged GETs"
    );
}

#[test]
fn listings_report_plaintext_sizes_and_sync_transfers_nothing_twice() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "list");
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0usize, 1, 65_536, 100_000, 3 << 20];
    for (i, size) in sizes.iter().enumerate() {
        let src = temp_file(dir.path(), &format!("f{i}"), &test_data(*size, i as u64));
        ok(&s3seal.put_file(&b, &format!("dir/with space & amp {size}"), &src, &[]));
    }
    let plain = temp_file(dir.path(), "plain", b"0123456789");
    ok(&upstream_put_file(&b, "dir/direct", &plain, &[]));

    let expect_sizes = |listing: &serde_json::Value, field: &str| {
        let entries = listing[field]
            .as_array()
            .unwrap_or_else(|| panic!("no {field}: {listing}"));
        for e in entries {
            let key = e["Key"].as_str().unwrap();
            let expected = if key == "dir/direct" {
                10
            } else {
                key.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
            };
            assert_eq!(e["Size"], expected, "{key}");
        }
        assert_eq!(entries.len(), sizes.len() + 1);
    };
    expect_sizes(
        &json(&s3seal.aws(&["s3api", "list-objects-v2", "--bucket", &b])),
        "Contents",
    );
    expect_sizes(
        &json(&s3seal.aws(&["s3api", "list-objects", "--bucket", &b])),
        "Contents",
    );
    let ls = ok(&s3seal.aws(&["s3", "ls", &format!("s3://{b}/dir/")]));
    assert!(
        ls.contains(" 3145728 dir") || ls.contains("3145728 with space & amp 3145728"),
        "{ls}"
    );
    assert!(
        !ls.contains(&sealed_len(100_000).to_string()),
        "ciphertext size listed: {ls}"
    );

    // Another s3seal with an empty index rebuilds the sizes from the objects.
    let fresh = S3seal::start();
    expect_sizes(
        &json(&fresh.aws(&["s3api", "list-objects-v2", "--bucket", &b])),
        "Contents",
    );

    // aws s3 sync trusts listed sizes: a second sync of an unchanged tree transfers nothing.
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    for (i, size) in [0usize, 10, 70_000, 1 << 20, 5 << 20].iter().enumerate() {
        std::fs::write(
            tree.join(if i % 2 == 0 {
                format!("f{i}")
            } else {
                format!("sub/f{i}")
            }),
            test_data(*size, 50 + i as u64),
        )
        .unwrap();
    }
    let first = ok(&s3seal.aws(&[
        "s3",
        "sync",
        tree.to_str().unwrap(),
        &format!("s3://{b}/tree"),
    ]));
    assert_eq!(first.matches("upload:").count(), 5, "{first}");
    let second = ok(&s3seal.aws(&[
        "s3",
        "sync",
        tree.to_str().unwrap(),
        &format!("s3://{b}/tree"),
    ]));
    assert!(
        !second.contains("upload:"),
        "second sync re-uploaded: {second}"
    );
    let back = dir.path().join("back");
    ok(&s3seal.aws(&[
        "s3",
        "sync",
        &format!("s3://{b}/tree"),
        back.to_str().unwrap(),
    ]));
    let again = ok(&s3seal.aws(&[
        "s3",
        "sync",
        &format!("s3://{b}/tree"),
        back.to_str().unwrap(),
    ]));
    assert!(
        !again.contains("download:"),
        "second download sync transferred: {again}"
    );
    assert_eq!(read(&back.join("sub/f3")), test_data(1 << 20, 53));
}

#[test]
fn content_free_operations_pass_through_and_others_are_refused() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "pass");
    ok(&s3seal.aws(&["s3api", "head-bucket", "--bucket", &b]));
    let buckets = ok(&s3seal.aws(&["s3api", "list-buckets"]));
    assert!(buckets.contains(&b), "{buckets}");
    let location = json(&s3seal.aws(&["s3api", "get-bucket-location", "--bucket", &b]));
    assert!(
        location["LocationConstraint"].is_null(),
        "us-east-1 is reported as a null constraint, as on AWS: {location}"
    );

    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", b"x");
    for key in ["a", "b", "c"] {
        ok(&s3seal.put_file(&b, key, &src, &[]));
    }
    ok(&s3seal.aws(&["s3api", "delete-object", "--bucket", &b, "--key", "a"]));
    let deleted = json(&s3seal.aws(&[
        "s3api",
        "delete-objects",
        "--bucket",
        &b,
        "--delete",
        "Objects=[{Key=b},{Key=c}]",
    ]));
    assert_eq!(deleted["Deleted"].as_array().unwrap().len(), 2, "{deleted}");
    let listing = json(&s3seal.aws(&["s3api", "list-objects-v2", "--bucket", &b]));
    assert!(listing.get("Contents").is_none(), "{listing}");

    // Attributes describe the plaintext, never the ciphertext.
    ok(&s3seal.put_file(&b, "a", &src, &[]));
    let attributes = json(&s3seal.aws(&[
        "s3api",
        "get-object-attributes",
        "--bucket",
        &b,
        "--key",
        "a",
        "--object-attributes",
        "ObjectSize",
    ]));
    assert_eq!(attributes["ObjectSize"], 1, "{attributes}");
    ok(&s3seal.aws(&["s3api", "delete-object", "--bucket", &b, "--key", "a"]));

    // Objects written directly to the upstream are served as stored.
    ok(&upstream_put_file(&b, "plain", &src, &[]));
    let dst = dir.path().join("plain.out");
    let head = json(&s3seal.get_file(&b, "plain", &dst));
    assert_eq!(read(&dst), b"x");
    assert!(head.get("ServerSideEncryption").is_none(), "{head}");

    ok(&s3seal.aws(&["s3", "rm", &format!("s3://{b}/plain")]));
    ok(&s3seal.aws(&["s3api", "delete-bucket", "--bucket", &b]));
    fails_with(
        &s3seal.aws(&["s3api", "head-bucket", "--bucket", &b]),
        "404",
    );
}

#[test]
fn aws_chunked_uploads_are_decoded_and_verified() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "chunked");
    ok(&s3seal.python("chunked_uploads.py", &["run", &b]));
}

#[test]
fn reserved_metadata_and_sse_c_are_rejected() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "reserved");
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", b"x");
    fails_with(
        &s3seal.put_file(&b, "k", &src, &["--metadata", "s3seal-len=1"]),
        "InvalidArgument",
    );
    fails_with(
        &s3seal.put_file(
            &b,
            "k",
            &src,
            &[
                "--sse-customer-algorithm",
                "AES256",
                "--sse-customer-key",
                "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
            ],
        ),
        "NotImplemented",
    );
    fails_with(&upstream_head(&b, "k"), "404");
}
