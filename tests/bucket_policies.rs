//! Bucket policies and default bucket encryption, kept and enforced by s3seal
//! (Garage has neither), driven with the real aws CLI.

mod common;

use std::path::Path;

use common::*;

const BOB_KEY: &str = "AKIAS3SEALBOB0000001";
const BOB_SECRET: &str = "bob-secret-bob-secret-bob-secret-0000000";
const BOB_ARN: &str = "arn:aws:iam::000000000000:user/bob";

/// s3seal with a second principal, `bob`, who owns no bucket.
fn with_bob() -> S3seal {
    S3seal::start_with(S3sealOptions {
        extra_config: format!(
            "[[auth.credentials]]\naccess_key_id = \"{BOB_KEY}\"\nsecret_access_key = \"{BOB_SECRET}\"\nprincipal = \"bob\"\nbuckets = []\n"
        ),
        ..Default::default()
    })
}

fn put_policy(
    s3seal: &S3seal,
    bucket: &str,
    dir: &Path,
    policy: &serde_json::Value,
) -> std::process::Output {
    let file = temp_file(dir, "policy.json", policy.to_string().as_bytes());
    s3seal.aws(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        bucket,
        "--policy",
        &format!("file://{}", file.display()),
    ])
}

fn cp(s3seal: &S3seal, src: &Path, dst: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["s3", "cp", "--only-show-errors", src.to_str().unwrap(), dst];
    args.extend_from_slice(extra);
    s3seal.aws(&args)
}

fn stored_upstream(bucket: &str, key: &str) -> bool {
    upstream_head(bucket, key).status.success()
}

#[test]
fn deny_uploads_that_are_not_sse_kms() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "classic1");
    let dir = tempfile::tempdir().unwrap();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyUnencryptedObjectUploads",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{b}/*"),
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
        }]
    });
    ok(&put_policy(&s3seal, &b, dir.path(), &policy));
    let small = temp_file(dir.path(), "small", &test_data(1000, 1));
    let big = temp_file(dir.path(), "big", &test_data(9 << 20, 2));
    // Without the header (the CLI's default) and with AES256: 403, nothing stored.
    fails_with(
        &cp(&s3seal, &small, &format!("s3://{b}/small"), &[]),
        "AccessDenied",
    );
    fails_with(
        &cp(
            &s3seal,
            &small,
            &format!("s3://{b}/small"),
            &["--sse", "AES256"],
        ),
        "AccessDenied",
    );
    assert!(!stored_upstream(&b, "small"));
    // Multipart uploads are refused at CreateMultipartUpload: no upload is left behind.
    fails_with(
        &cp(&s3seal, &big, &format!("s3://{b}/big"), &[]),
        "AccessDenied",
    );
    let uploads = ok(&upstream_aws(&[
        "s3api",
        "list-multipart-uploads",
        "--bucket",
        &b,
    ]));
    assert!(!uploads.contains("big"), "{uploads}");
    assert!(!stored_upstream(&b, "big"));
    // With SSE-KMS both succeed.
    ok(&cp(
        &s3seal,
        &small,
        &format!("s3://{b}/small"),
        &["--sse", "aws:kms"],
    ));
    ok(&cp(
        &s3seal,
        &big,
        &format!("s3://{b}/big"),
        &["--sse", "aws:kms"],
    ));
    assert_eq!(
        json(&s3seal.head(&b, "big"))["ServerSideEncryption"],
        "aws:kms"
    );
    assert!(
        s3seal
            .log()
            .contains(r#"sid="DenyUnencryptedObjectUploads""#),
        "denials are logged with the Sid"
    );

    // The round trip returns the same policy.
    let got = json(&s3seal.aws(&["s3api", "get-bucket-policy", "--bucket", &b]));
    let text: serde_json::Value = serde_json::from_str(got["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(text, policy);
    let status = json(&s3seal.aws(&["s3api", "get-bucket-policy-status", "--bucket", &b]));
    assert_eq!(status["PolicyStatus"]["IsPublic"], false);
    ok(&s3seal.aws(&["s3api", "delete-bucket-policy", "--bucket", &b]));
    fails_with(
        &s3seal.aws(&["s3api", "get-bucket-policy", "--bucket", &b]),
        "NoSuchBucketPolicy",
    );
    ok(&cp(&s3seal, &small, &format!("s3://{b}/after"), &[]));
}

#[test]
fn deny_uploads_under_another_kms_key() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "classic2");
    let dir = tempfile::tempdir().unwrap();
    let required = json(&s3seal.aws(&["kms", "create-key", "--description", "required"]));
    let required_arn = required["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let required_id = required["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&s3seal.aws(&[
        "kms",
        "create-alias",
        "--alias-name",
        "alias/required",
        "--target-key-id",
        &required_id,
    ]));
    let other = json(&s3seal.aws(&["kms", "create-key", "--description", "other"]));
    let other_arn = other["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "RequireKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{b}/*"),
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": required_arn}}
        }]
    });
    ok(&put_policy(&s3seal, &b, dir.path(), &policy));
    let f = temp_file(dir.path(), "f", b"data");
    fails_with(
        &cp(
            &s3seal,
            &f,
            &format!("s3://{b}/k1"),
            &["--sse", "aws:kms", "--sse-kms-key-id", &other_arn],
        ),
        "AccessDenied",
    );
    fails_with(
        &cp(&s3seal, &f, &format!("s3://{b}/k2"), &["--sse", "aws:kms"]),
        "AccessDenied",
    );
    assert!(!stored_upstream(&b, "k1") && !stored_upstream(&b, "k2"));
    ok(&cp(
        &s3seal,
        &f,
        &format!("s3://{b}/k3"),
        &["--sse", "aws:kms", "--sse-kms-key-id", &required_arn],
    ));
    // The same key named by id or alias is the same key.
    ok(&cp(
        &s3seal,
        &f,
        &format!("s3://{b}/k4"),
        &["--sse", "aws:kms", "--sse-kms-key-id", "alias/required"],
    ));
    assert_eq!(
        json(&s3seal.head(&b, "k4"))["SSEKMSKeyId"],
        required_arn.as_str()
    );
}

#[test]
fn deny_everything_without_secure_transport() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "classic3");
    let dir = tempfile::tempdir().unwrap();
    let f = temp_file(dir.path(), "f", b"data");
    ok(&cp(&s3seal, &f, &format!("s3://{b}/k"), &[]));
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
    });
    ok(&put_policy(&s3seal, &b, dir.path(), &policy));
    // s3seal serves plain HTTP, so every request is denied...
    fails_with(
        &s3seal.aws(&[
            "s3api",
            "get-object",
            "--bucket",
            &b,
            "--key",
            "k",
            "/dev/null",
        ]),
        "AccessDenied",
    );
    fails_with(
        &s3seal.aws(&["s3api", "list-objects-v2", "--bucket", &b]),
        "AccessDenied",
    );
    fails_with(
        &cp(&s3seal, &f, &format!("s3://{b}/k2"), &["--sse", "aws:kms"]),
        "AccessDenied",
    );
    // ...except that the bucket's owners can still manage the policy.
    ok(&s3seal.aws(&["s3api", "get-bucket-policy", "--bucket", &b]));
    ok(&s3seal.aws(&["s3api", "delete-bucket-policy", "--bucket", &b]));
    ok(&s3seal.aws(&[
        "s3api",
        "get-object",
        "--bucket",
        &b,
        "--key",
        "k",
        "/dev/null",
    ]));
}

#[test]
fn a_second_principal_may_only_read_a_prefix() {
    let s3seal = with_bob();
    let b = make_bucket(&s3seal, "classic4");
    let dir = tempfile::tempdir().unwrap();
    let f = temp_file(dir.path(), "f", b"shared data");
    ok(&cp(&s3seal, &f, &format!("s3://{b}/public/a.txt"), &[]));
    ok(&cp(&s3seal, &f, &format!("s3://{b}/private/b.txt"), &[]));
    let bob = |args: &[&str]| s3seal.aws_as(BOB_KEY, BOB_SECRET, args);
    // bob owns nothing: without a policy, nothing.
    fails_with(
        &bob(&[
            "s3api",
            "get-object",
            "--bucket",
            &b,
            "--key",
            "public/a.txt",
            "/dev/null",
        ]),
        "AccessDenied",
    );
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BobReadsPublic",
            "Effect": "Allow",
            "Principal": {"AWS": [BOB_ARN]},
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{b}/public/*")
        }]
    });
    ok(&put_policy(&s3seal, &b, dir.path(), &policy));
    let out = dir.path().join("out");
    ok(&bob(&[
        "s3api",
        "get-object",
        "--bucket",
        &b,
        "--key",
        "public/a.txt",
        out.to_str().unwrap(),
    ]));
    assert_eq!(read(&out), b"shared data");
    fails_with(
        &bob(&[
            "s3api",
            "get-object",
            "--bucket",
            &b,
            "--key",
            "private/b.txt",
            "/dev/null",
        ]),
        "AccessDenied",
    );
    fails_with(
        &bob(&[
            "s3api",
            "put-object",
            "--bucket",
            &b,
            "--key",
            "public/new",
            "--body",
            f.to_str().unwrap(),
        ]),
        "AccessDenied",
    );
    fails_with(
        &bob(&["s3api", "list-objects-v2", "--bucket", &b]),
        "AccessDenied",
    );
    fails_with(
        &bob(&[
            "s3api",
            "delete-object",
            "--bucket",
            &b,
            "--key",
            "public/a.txt",
        ]),
        "AccessDenied",
    );
    fails_with(
        &bob(&[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            &b,
            "--policy",
            "{}",
        ]),
        "AccessDenied",
    );
    fails_with(
        &bob(&[
            "s3api",
            "delete-objects",
            "--bucket",
            &b,
            "--delete",
            "Objects=[{Key=public/a.txt}]",
        ]),
        "AccessDenied",
    );
    assert!(stored_upstream(&b, "public/a.txt"));
    // The owner still does everything the policy does not deny.
    ok(&s3seal.aws(&["s3api", "list-objects-v2", "--bucket", &b]));
}

#[test]
fn malformed_policies_are_rejected_with_reasons() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "malformed");
    let dir = tempfile::tempdir().unwrap();
    let statement = |action: &str, resource: String, condition: serde_json::Value| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": action, "Resource": resource, "Condition": condition}]})
    };
    let cases = [
        (
            statement(
                "s3:GetObjectz",
                format!("arn:aws:s3:::{b}/*"),
                serde_json::json!({}),
            ),
            "invalid action",
        ),
        (
            statement(
                "s3:GetObject",
                format!("arn:aws:s3:::{b}/*"),
                serde_json::json!({"StringEqualz": {"a": "b"}}),
            ),
            "unknown condition operator",
        ),
        (
            statement(
                "s3:GetObject",
                "arn:aws:s3:::some-other-bucket/*".into(),
                serde_json::json!({}),
            ),
            "invalid resource",
        ),
    ];
    for (policy, needle) in cases {
        let err = fails_with(
            &put_policy(&s3seal, &b, dir.path(), &policy),
            "MalformedPolicy",
        );
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let bad_json = temp_file(
        dir.path(),
        "bad.json",
        b"{\"Version\": \"2012-10-17\", \"Statement\": [",
    );
    let err = fails_with(
        &s3seal.aws(&[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            &b,
            "--policy",
            &format!("file://{}", bad_json.display()),
        ]),
        "MalformedPolicy",
    );
    assert!(err.contains("not valid JSON"), "{err}");
    fails_with(
        &s3seal.aws(&["s3api", "get-bucket-policy", "--bucket", &b]),
        "NoSuchBucketPolicy",
    );
    fails_with(
        &s3seal.aws(&[
            "s3api",
            "get-bucket-policy",
            "--bucket",
            "no-such-bucket-here",
        ]),
        "NoSuchBucket",
    );
}

#[test]
fn default_bucket_encryption_applies_to_uploads_without_headers() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "defaultenc");
    let dir = tempfile::tempdir().unwrap();
    // Every bucket starts with SSE-S3, as on AWS.
    let initial = json(&s3seal.aws(&["s3api", "get-bucket-encryption", "--bucket", &b]));
    assert_eq!(
        initial["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
            ["SSEAlgorithm"],
        "AES256"
    );
    let key = json(&s3seal.aws(&["kms", "create-key", "--description", "bucket default"]));
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let config = serde_json::json!({"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": true
    }]});
    ok(&s3seal.put_bucket_encryption(&b, &config));
    let got = json(&s3seal.aws(&["s3api", "get-bucket-encryption", "--bucket", &b]));
    let rule = &got["ServerSideEncryptionConfiguration"]["Rules"][0];
    assert_eq!(
        rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "aws:kms"
    );
    assert_eq!(
        rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"],
        key_arn.as_str()
    );
    assert_eq!(rule["BucketKeyEnabled"], true);

    let f = temp_file(dir.path(), "f", b"defaulted");
    let big = temp_file(dir.path(), "big", &test_data(9 << 20, 3));
    ok(&cp(&s3seal, &f, &format!("s3://{b}/small"), &[]));
    ok(&cp(&s3seal, &big, &format!("s3://{b}/big"), &[]));
    for k in ["small", "big"] {
        let head = json(&s3seal.head(&b, k));
        assert_eq!(head["ServerSideEncryption"], "aws:kms", "{k}");
        assert_eq!(head["SSEKMSKeyId"], key_arn.as_str(), "{k}");
        assert_eq!(head["BucketKeyEnabled"], true, "{k}");
    }
    // Explicit headers still win over the default.
    ok(&cp(
        &s3seal,
        &f,
        &format!("s3://{b}/explicit"),
        &["--sse", "AES256"],
    ));
    assert_eq!(
        json(&s3seal.head(&b, "explicit"))["ServerSideEncryption"],
        "AES256"
    );
    // A key that does not exist cannot become the default.
    let bogus = serde_json::json!({"Rules": [{"ApplyServerSideEncryptionByDefault": {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000"}}]});
    fails_with(
        &s3seal.put_bucket_encryption(&b, &bogus),
        "KMS.NotFoundException",
    );
    // Deleting the configuration brings SSE-S3 back.
    ok(&s3seal.aws(&["s3api", "delete-bucket-encryption", "--bucket", &b]));
    ok(&cp(&s3seal, &f, &format!("s3://{b}/after"), &[]));
    assert_eq!(
        json(&s3seal.head(&b, "after"))["ServerSideEncryption"],
        "AES256"
    );
    // Nothing of this reached the upstream (Garage has no bucket encryption).
    assert!(stored_upstream(&b, "after"));
}
