//! Browser POST uploads (POST Object with a signed policy): forms signed by
//! botocore's generate_presigned_post (SigV4 and SigV2), posted with curl the
//! way a browser posts them (fields in order, the file last), sealed at rest
//! on a real Garage and read back through s3seal.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{Value, json};

/// A signed form: where to post it and its fields, in order.
struct Form {
    url: String,
    fields: Vec<(String, String)>,
}

impl Form {
    fn set(&mut self, name: &str, value: &str) -> &mut Self {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value.to_string(),
            None => self.fields.push((name.to_string(), value.to_string())),
        }
        self
    }

    fn remove(&mut self, name: &str) -> &mut Self {
        self.fields.retain(|(n, _)| n != name);
        self
    }
}

/// Form fields signed by botocore (`version`: "sigv4" or "sigv2").
fn signed_form(
    s3seal: &S3seal,
    version: &str,
    bucket: &str,
    key: &str,
    expires_in: i64,
    fields: Value,
    conditions: Value,
) -> Form {
    let out = ok(&s3seal.python(
        "post_form.py",
        &[
            "sign",
            version,
            bucket,
            key,
            &expires_in.to_string(),
            &fields.to_string(),
            &conditions.to_string(),
        ],
    ));
    let signed: Value = serde_json::from_str(&out).expect("post_form.py printed JSON");
    Form {
        url: signed["url"].as_str().unwrap().to_string(),
        fields: signed["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_string(),
                    pair[1].as_str().unwrap().to_string(),
                )
            })
            .collect(),
    }
}

/// What curl got back.
#[derive(Debug)]
struct Posted {
    status: u16,
    headers: String,
    body: String,
}

impl Posted {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    #[track_caller]
    fn fails_with(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            self.body.contains(&format!("<Code>{code}</Code>")),
            "expected {code}: {self:?}"
        );
        self
    }
}

/// Posts `form` like a browser: `multipart/form-data`, every field as given
/// (`--form-string`: no curl interpretation), then the file.
fn post(form: &Form, file: Option<(&Path, &str)>, extra: &[&str]) -> Posted {
    let dir = tempfile::tempdir().unwrap();
    let (body, headers) = (dir.path().join("body"), dir.path().join("headers"));
    let mut curl = Command::new("curl");
    curl.args(["-s", "-S", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code}"])
        .args(extra);
    for (name, value) in &form.fields {
        curl.arg("--form-string").arg(format!("{name}={value}"));
    }
    if let Some((path, filename)) = file {
        curl.arg("-F")
            .arg(format!("file=@{};filename={filename}", path.display()));
    }
    let out = curl.arg(&form.url).output().expect("running curl");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "curl failed: {out:?}");
    Posted {
        status: status.trim().parse().unwrap_or(0),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        body: std::fs::read_to_string(&body).unwrap_or_default(),
    }
}

/// The process's peak resident memory (`VmHWM`).
fn peak_rss_kib(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

fn plaintext_get(s3seal: &S3seal, bucket: &str, key: &str, dir: &Path) -> (Vec<u8>, Value) {
    let dst = dir.join("got");
    let meta = json(&s3seal.get_file(bucket, key, &dst));
    (read(&dst), meta)
}

#[track_caller]
fn assert_nothing_stored(bucket: &str, key: &str) {
    fails_with(&upstream_head(bucket, key), "404");
}

#[track_caller]
fn assert_sealed_at_rest(bucket: &str, key: &str, data: &[u8], dir: &Path) {
    let raw = stored_bytes(bucket, key, dir);
    assert!(
        raw.starts_with(b"S3SL"),
        "the stored object is not a sealed stream"
    );
    assert!(
        !contains(&raw, PLAINTEXT_MARKER),
        "plaintext found in the stored object"
    );
    if data.len() >= 64 {
        assert!(!contains(&raw, &data[data.len() / 2..data.len() / 2 + 32]));
    }
}

#[test]
fn sigv4_browser_post_with_curl_is_sealed_and_reads_back() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "post-v4");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(100_000, 1);
    let src = temp_file(dir.path(), "upload.bin", &data);

    let form = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "uploads/${filename}",
        300,
        json!({"Content-Type": "text/plain", "x-amz-meta-color": "blue"}),
        json!([
            ["starts-with", "$Content-Type", "text/"],
            {"x-amz-meta-color": "blue"},
            ["content-length-range", 1, 1048576]
        ]),
    );
    let posted = post(&form, Some((&src, "C:\\My Files\\hello.txt")), &[]);
    assert_eq!(posted.status, 204, "{posted:?}");
    let etag = posted.header("etag").expect("an ETag");
    assert_eq!(
        posted.header("x-amz-server-side-encryption").as_deref(),
        Some("AES256")
    );
    assert_eq!(
        posted.header("location"),
        Some(format!("{}/uploads/hello.txt", form.url))
    );

    // ${filename} became the file's name, without its directory.
    let key = "uploads/hello.txt";
    assert_sealed_at_rest(&b, key, &data, dir.path());
    let raw = json(&upstream_head(&b, key));
    assert_eq!(raw["ContentLength"], sealed_len(data.len() as u64));
    let (got, meta) = plaintext_get(&s3seal, &b, key, dir.path());
    assert_eq!(got, data);
    assert_eq!(meta["ContentType"], "text/plain");
    assert_eq!(meta["Metadata"], json!({"color": "blue"}));
    assert_eq!(meta["ServerSideEncryption"], "AES256");
    assert_eq!(meta["ETag"], etag);
    // Listings report the plaintext size.
    let listed = json(&s3seal.aws(&["s3api", "list-objects-v2", "--bucket", &b]));
    assert_eq!(listed["Contents"][0]["Size"], data.len() as u64);
}

#[test]
fn sigv2_browser_post_answers_201_with_a_post_response() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "post-v2");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(5000, 2);
    let src = temp_file(dir.path(), "f", &data);
    let form = signed_form(
        &s3seal,
        "sigv2",
        &b,
        "v2/object.bin",
        300,
        json!({"success_action_status": "201", "acl": "private"}),
        json!([{"success_action_status": "201"}, {"acl": "private"}]),
    );
    assert!(form.fields.iter().any(|(n, _)| n == "AWSAccessKeyId"));
    let posted = post(&form, Some((&src, "object.bin")), &[]);
    assert_eq!(posted.status, 201, "{posted:?}");
    let etag = posted.header("etag").unwrap();
    assert!(
        posted.body.contains(&format!("<Bucket>{b}</Bucket>")),
        "{posted:?}"
    );
    assert!(
        posted.body.contains("<Key>v2/object.bin</Key>"),
        "{posted:?}"
    );
    assert!(
        posted.body.contains(&format!("<ETag>{etag}</ETag>")),
        "{posted:?}"
    );
    assert!(
        posted
            .body
            .contains(&format!("<Location>{}/v2/object.bin</Location>", form.url)),
        "{posted:?}"
    );
    assert_sealed_at_rest(&b, "v2/object.bin", &data, dir.path());
    assert_eq!(
        plaintext_get(&s3seal, &b, "v2/object.bin", dir.path()).0,
        data
    );

    // A wrong SigV2 signature, and an unknown access key.
    let mut bad = signed_form(&s3seal, "sigv2", &b, "v2/bad", 300, json!({}), json!([]));
    bad.set("signature", "0RavWzkygo6QX9caELEqKi9kDbU=");
    post(&bad, Some((&src, "f")), &[]).fails_with(403, "SignatureDoesNotMatch");
    bad.set("AWSAccessKeyId", "AKIAUNKNOWN000000000");
    post(&bad, Some((&src, "f")), &[]).fails_with(403, "InvalidAccessKeyId");
    assert_nothing_stored(&b, "v2/bad");
}

#[test]
fn forms_the_policy_does_not_allow_store_nothing() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "post-deny");
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", &test_data(2000, 3));
    let sign = |key: &str, expires_in: i64, fields: Value, conditions: Value| {
        signed_form(&s3seal, "sigv4", &b, key, expires_in, fields, conditions)
    };

    let expired = sign("k-expired", -60, json!({}), json!([]));
    let out = post(&expired, Some((&src, "f")), &[]);
    out.fails_with(403, "AccessDenied");
    assert!(
        out.body
            .contains("Invalid according to Policy: Policy expired."),
        "{out:?}"
    );

    let mut forged = sign("k-forged", 300, json!({}), json!([]));
    let signature = forged
        .fields
        .iter()
        .find(|(n, _)| n == "x-amz-signature")
        .unwrap()
        .1
        .clone();
    let last = if signature.ends_with('0') { '1' } else { '0' };
    forged.set("x-amz-signature", &format!("{}{last}", &signature[..63]));
    post(&forged, Some((&src, "f")), &[]).fails_with(403, "SignatureDoesNotMatch");

    // starts-with: the key must be under user/.
    let mut outside = sign("user/${filename}", 300, json!({}), json!([]));
    outside.set("key", "admin/f");
    let out = post(&outside, Some((&src, "f")), &[]);
    out.fails_with(403, "AccessDenied");
    assert!(
        out.body.contains(
            "Policy Condition failed: [&quot;starts-with&quot;,&quot;$key&quot;,&quot;user/&quot;]"
        ) || out
            .body
            .contains(r#"Policy Condition failed: ["starts-with","$key","user/"]"#),
        "{out:?}"
    );

    // eq: the content type is pinned.
    let mut retyped = sign(
        "k-type",
        300,
        json!({"Content-Type": "image/png"}),
        json!([["eq", "$Content-Type", "image/png"]]),
    );
    retyped.set("Content-Type", "text/html");
    post(&retyped, Some((&src, "f")), &[]).fails_with(403, "AccessDenied");

    // A field the policy does not name.
    let mut extra = sign("k-extra", 300, json!({}), json!([]));
    extra.set("x-amz-meta-sneaky", "1");
    let out = post(&extra, Some((&src, "f")), &[]);
    out.fails_with(403, "AccessDenied");
    assert!(
        out.body.contains("Extra input fields: x-amz-meta-sneaky"),
        "{out:?}"
    );

    // content-length-range: the file is larger than allowed.
    let small_only = sign(
        "k-range",
        300,
        json!({}),
        json!([["content-length-range", 0, 1000]]),
    );
    post(&small_only, Some((&src, "f")), &[]).fails_with(400, "EntityTooLarge");
    let large_only = sign(
        "k-range",
        300,
        json!({}),
        json!([["content-length-range", 3000, 9000]]),
    );
    post(&large_only, Some((&src, "f")), &[]).fails_with(400, "EntityTooSmall");

    // No signature at all: anonymous, which s3seal never allows.
    let mut anonymous = sign("k-anon", 300, json!({}), json!([]));
    for name in [
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-algorithm",
        "x-amz-date",
        "policy",
    ] {
        anonymous.remove(name);
    }
    post(&anonymous, Some((&src, "f")), &[]).fails_with(403, "AccessDenied");

    // No file.
    let no_file = sign("k-nofile", 300, json!({}), json!([]));
    post(&no_file, None, &[]).fails_with(400, "IncorrectNumberOfFilesInPostRequest");

    // Not a form at all.
    let out = Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            "--data-binary",
            "x=1",
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
        ])
        .arg(format!("{}/{b}", s3seal.endpoint()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("RequestIsNotMultiPartContent"),
        "{out:?}"
    );

    for key in [
        "k-expired",
        "k-forged",
        "admin/f",
        "k-type",
        "k-extra",
        "k-range",
        "k-anon",
        "k-nofile",
    ] {
        assert_nothing_stored(&b, key);
    }
}

#[test]
fn large_files_stream_as_two_sealed_parts() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "post-large");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(20 << 20, 4);
    let src = temp_file(dir.path(), "big.bin", &data);
    let form = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "big.bin",
        300,
        json!({}),
        json!([["content-length-range", 0, 100 << 20]]),
    );
    let peak_before = peak_rss_kib(s3seal.pid());
    let posted = post(&form, Some((&src, "big.bin")), &[]);
    assert_eq!(posted.status, 204, "{posted:?}");
    // The file streamed: s3seal's peak memory did not grow by anything like its size.
    let growth = peak_rss_kib(s3seal.pid()) - peak_before;
    eprintln!("peak RSS grew by {growth} KiB during a 20 MiB POST");
    assert!(
        growth < 10 * 1024,
        "peak RSS grew by {growth} KiB during a 20 MiB POST"
    );
    assert_sealed_at_rest(&b, "big.bin", &data, dir.path());
    let raw = json(&upstream_head(&b, "big.bin"));
    assert!(raw["ETag"].as_str().unwrap().ends_with("-2\""), "{raw}");
    assert!(raw["Metadata"].get("s3seal-mpu").is_some(), "{raw}");
    let (got, meta) = plaintext_get(&s3seal, &b, "big.bin", dir.path());
    assert_eq!(meta["ContentLength"], data.len() as u64);
    assert!(got == data, "GET returned other bytes");
    // A range across the two parts' boundary (the request's length less 64 KiB or so).
    let dst = dir.path().join("range");
    let start = data.len() - 70_000;
    ok(&s3seal.aws(&[
        "s3api",
        "get-object",
        "--bucket",
        &b,
        "--key",
        "big.bin",
        "--range",
        &format!("bytes={start}-{}", start + 9_999),
        dst.to_str().unwrap(),
    ]));
    assert!(
        read(&dst) == data[start..start + 10_000],
        "ranged GET across parts"
    );

    // Over content-length-range by a byte: part 1 is already upstream when the
    // size is known; the upload is aborted and nothing is stored.
    let tight = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "tight.bin",
        300,
        json!({}),
        json!([["content-length-range", 0, data.len() - 1]]),
    );
    post(&tight, Some((&src, "big.bin")), &[]).fails_with(400, "EntityTooLarge");
    assert_nothing_stored(&b, "tight.bin");
    let uploads = json(&upstream_aws(&[
        "s3api",
        "list-multipart-uploads",
        "--bucket",
        &b,
    ]));
    assert!(
        uploads
            .get("Uploads")
            .is_none_or(|u| u.as_array().is_none_or(Vec::is_empty)),
        "an aborted POST left an upload behind: {uploads}"
    );

    // Refused before the file is read: the client still gets the error document.
    let mut forged = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "forged.bin",
        300,
        json!({}),
        json!([]),
    );
    forged.set("x-amz-date", "20200101T000000Z");
    post(&forged, Some((&src, "big.bin")), &[]).fails_with(400, "InvalidArgument");
    assert_nothing_stored(&b, "forged.bin");

    // A checksum that does not match aborts it too.
    let mut wrong_sum = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "sum.bin",
        300,
        json!({"x-amz-checksum-crc32": "AAAAAA=="}),
        json!([{"x-amz-checksum-crc32": "AAAAAA=="}]),
    );
    post(&wrong_sum, Some((&src, "big.bin")), &[]).fails_with(400, "BadDigest");
    assert_nothing_stored(&b, "sum.bin");
    wrong_sum.set("x-amz-checksum-crc32", "x");
    post(&wrong_sum, Some((&src, "big.bin")), &[]).fails_with(403, "AccessDenied");
}

#[test]
fn sse_fields_default_encryption_and_bucket_policies_apply() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "post-sse");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(30_000, 5);
    let src = temp_file(dir.path(), "f", &data);

    // A named KMS key (by alias) and an encryption context, as form fields.
    let key_id = json(&s3seal.aws(&["kms", "create-key", "--description", "post"]))["KeyMetadata"]
        ["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&s3seal.aws(&[
        "kms",
        "create-alias",
        "--alias-name",
        "alias/post-uploads",
        "--target-key-id",
        &key_id,
    ]));
    let context = "eyJwcm9qZWN0IjoicG9zdCJ9"; // {"project":"post"}
    let sse = json!({
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "alias/post-uploads",
        "x-amz-server-side-encryption-context": context,
    });
    let conditions = json!([
        {"x-amz-server-side-encryption": "aws:kms"},
        {"x-amz-server-side-encryption-aws-kms-key-id": "alias/post-uploads"},
        {"x-amz-server-side-encryption-context": context},
    ]);
    let form = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "kms.bin",
        300,
        sse.clone(),
        conditions.clone(),
    );
    let posted = post(&form, Some((&src, "f")), &[]);
    assert_eq!(posted.status, 204, "{posted:?}");
    assert_eq!(
        posted.header("x-amz-server-side-encryption").as_deref(),
        Some("aws:kms")
    );
    let head = json(&s3seal.head(&b, "kms.bin"));
    assert_eq!(head["ServerSideEncryption"], "aws:kms");
    assert!(
        head["SSEKMSKeyId"].as_str().unwrap().ends_with(&key_id),
        "{head}"
    );
    assert_eq!(plaintext_get(&s3seal, &b, "kms.bin", dir.path()).0, data);
    let raw = json(&upstream_head(&b, "kms.bin"));
    assert_eq!(raw["Metadata"]["s3seal-key-id"], key_id.as_str());

    // s3seal's own metadata cannot be set from a form either.
    let forged = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "forged.bin",
        300,
        json!({"x-amz-meta-s3seal-len": "1"}),
        json!([{"x-amz-meta-s3seal-len": "1"}]),
    );
    post(&forged, Some((&src, "f")), &[]).fails_with(400, "InvalidArgument");
    assert_nothing_stored(&b, "forged.bin");

    // Without SSE fields, the bucket's default encryption applies.
    let config = json!({"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}]});
    ok(&s3seal.put_bucket_encryption(&b, &config));
    let plain = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "default.bin",
        300,
        json!({}),
        json!([]),
    );
    assert_eq!(post(&plain, Some((&src, "f")), &[]).status, 204);
    let head = json(&s3seal.head(&b, "default.bin"));
    assert_eq!(head["ServerSideEncryption"], "aws:kms");
    assert!(
        head["SSEKMSKeyId"].as_str().unwrap().ends_with(&key_id),
        "{head}"
    );

    // A bucket policy that denies uploads not asking for aws:kms sees the
    // form's SSE field as the request's header (the default does not count, as on AWS).
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyUnencrypted",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{b}/*"),
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
        }]
    });
    ok(&s3seal.aws(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        &b,
        "--policy",
        &policy.to_string(),
    ]));
    let unencrypted = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "denied.bin",
        300,
        json!({}),
        json!([]),
    );
    post(&unencrypted, Some((&src, "f")), &[]).fails_with(403, "AccessDenied");
    assert_nothing_stored(&b, "denied.bin");
    let big = temp_file(dir.path(), "big", &test_data(6 << 20, 6));
    post(&unencrypted, Some((&big, "big")), &[]).fails_with(403, "AccessDenied");
    let uploads = json(&upstream_aws(&[
        "s3api",
        "list-multipart-uploads",
        "--bucket",
        &b,
    ]));
    assert!(
        uploads
            .get("Uploads")
            .is_none_or(|u| u.as_array().is_none_or(Vec::is_empty)),
        "{uploads}"
    );
    let encrypted = signed_form(&s3seal, "sigv4", &b, "allowed.bin", 300, sse, conditions);
    assert_eq!(post(&encrypted, Some((&src, "f")), &[]).status, 204);
    assert_eq!(
        plaintext_get(&s3seal, &b, "allowed.bin", dir.path()).0,
        data
    );
}

#[test]
fn success_action_redirect_answers_303() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "post-redirect");
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", b"redirected");
    let form = signed_form(
        &s3seal,
        "sigv4",
        &b,
        "r/${filename}",
        300,
        json!({"success_action_redirect": "https://app.example/done?step=2"}),
        json!([[
            "starts-with",
            "$success_action_redirect",
            "https://app.example/"
        ]]),
    );
    let posted = post(&form, Some((&src, "a b.txt")), &[]);
    assert_eq!(posted.status, 303, "{posted:?}");
    let etag = json(&s3seal.head(&b, "r/a b.txt"))["ETag"]
        .as_str()
        .unwrap()
        .to_string();
    let location = posted.header("location").unwrap();
    assert_eq!(
        location,
        format!(
            "https://app.example/done?step=2&bucket={b}&key=r%2Fa%20b.txt&etag=%22{}%22",
            etag.trim_matches('"')
        )
    );
}

#[test]
fn virtual_hosted_posts_name_the_bucket_in_the_host() {
    let s3seal = S3seal::start_with(S3sealOptions {
        env: vec![(
            "S3SEAL_SERVER_VIRTUAL_HOST_DOMAIN".into(),
            "s3.localhost".into(),
        )],
        ..Default::default()
    });
    let b = make_bucket(&s3seal, "post-vhost");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(1000, 7);
    let src = temp_file(dir.path(), "f", &data);
    let mut form = signed_form(&s3seal, "sigv4", &b, "vh.bin", 300, json!({}), json!([]));
    form.url = format!("{}/", s3seal.endpoint());
    let host = format!("Host: {b}.s3.localhost:{}", s3seal.port);
    let posted = post(&form, Some((&src, "f")), &["-H", &host]);
    assert_eq!(posted.status, 204, "{posted:?}");
    assert_eq!(
        posted.header("location"),
        Some(format!("http://{b}.s3.localhost:{}/vh.bin", s3seal.port))
    );
    assert_eq!(plaintext_get(&s3seal, &b, "vh.bin", dir.path()).0, data);
}
