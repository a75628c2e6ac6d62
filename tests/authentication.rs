//! Client authentication against real clients: wrong secret, unknown key, skewed clock.

mod common;

use common::*;

#[test]
fn wrong_secret_unknown_key_and_skewed_clock_are_rejected() {
    let s3seal = S3seal::start();
    let b = bucket("auth");
    ok(&s3seal.aws(&["s3", "mb", &format!("s3://{b}")]));

    let out = s3seal.aws_as(
        CLIENT_KEY,
        "not-the-secret",
        &["s3api", "list-objects-v2", "--bucket", &b],
    );
    fails_with(&out, "SignatureDoesNotMatch");
    let out = s3seal.aws_as(
        "AKIAUNKNOWNKEY000000",
        CLIENT_SECRET,
        &["s3api", "list-objects-v2", "--bucket", &b],
    );
    fails_with(&out, "InvalidAccessKeyId");

    // A wrong secret on a PUT stores nothing.
    let dir = tempfile::tempdir().unwrap();
    let src = temp_file(dir.path(), "f", b"data");
    let out = s3seal.aws_as(
        CLIENT_KEY,
        "not-the-secret",
        &[
            "s3api",
            "put-object",
            "--bucket",
            &b,
            "--key",
            "k",
            "--body",
            src.to_str().unwrap(),
        ],
    );
    fails_with(&out, "SignatureDoesNotMatch");
    fails_with(&upstream_head(&b, "k"), "404");

    let result: serde_json::Value = serde_json::from_str(&ok(
        &s3seal.python("raw_requests.py", &["skewed-clock", &b, "k"])
    ))
    .unwrap();
    assert_eq!(result["status"], 403, "{result}");
    assert!(
        result["body"]
            .as_str()
            .unwrap()
            .contains("RequestTimeTooSkewed"),
        "{result}"
    );

    // Secrets and signatures never reach the log.
    let log = s3seal.log();
    assert!(
        !log.contains(CLIENT_SECRET) && !log.contains("not-the-secret"),
        "secret in log"
    );
    assert!(!log.contains("Signature="), "signature in log");
}

#[test]
fn expect_100_continue_keeps_connections_usable() {
    let s3seal = S3seal::start();
    let b = bucket("expect");
    ok(&s3seal.aws(&["s3", "mb", &format!("s3://{b}")]));
    let out: serde_json::Value = serde_json::from_str(&ok(
        &s3seal.python("raw_requests.py", &["expect-continue", &b, "k"])
    ))
    .unwrap();
    // A body is only sent after "100 Continue", and the connection stays
    // usable. An empty body is answered directly with the final status (RFC
    // 9110 §10.1.1) and `Connection: close`: botocore would otherwise misread
    // the next response on that pooled connection.
    assert_eq!(out["1000"]["interim"], "HTTP/1.1 100 Continue", "{out}");
    for size in ["0", "1000"] {
        assert_eq!(out[size]["final"], "HTTP/1.1 200 OK", "{size} bytes: {out}");
    }
    assert_eq!(
        out["1000"]["next_on_same_connection"], "HTTP/1.1 200 OK",
        "{out}"
    );
    assert_eq!(out["0"]["interim"], serde_json::Value::Null, "{out}");
    assert_eq!(out["0"]["closed"], true, "{out}");
}

/// A request refused before its body is read, whose client sends the body
/// without waiting: s3seal reads the (small) rest first, so the client gets
/// the answer and can go on using the connection.
#[test]
fn rejected_uploads_are_answered_and_keep_the_connection() {
    let s3seal = S3seal::start();
    let b = bucket("rejected");
    ok(&s3seal.aws(&["s3", "mb", &format!("s3://{b}")]));
    let out: serde_json::Value = serde_json::from_str(&ok(
        &s3seal.python("raw_requests.py", &["rejected-body", &b, "k"])
    ))
    .unwrap();
    assert_eq!(out["rejected"], "HTTP/1.1 403 Forbidden", "{out}");
    assert_eq!(out["closes"], false, "{out}");
    assert_eq!(
        out["next_on_same_connection"], "HTTP/1.1 404 Not Found",
        "{out}"
    );
    fails_with(&upstream_head(&b, "k"), "404");
}

/// A refused upload far larger than what s3seal reads before answering: the
/// connection closes, but gracefully (lingering close), so the client gets
/// the 403 instead of a reset in the middle of sending.
#[test]
fn large_refused_uploads_get_their_answer_not_a_reset() {
    let s3seal = S3seal::start();
    let b = bucket("rejected-large");
    ok(&s3seal.aws(&["s3", "mb", &format!("s3://{b}")]));
    let out: serde_json::Value = serde_json::from_str(&ok(
        &s3seal.python("raw_requests.py", &["rejected-large-body", &b, "k"])
    ))
    .unwrap();
    assert_eq!(out["status"], "HTTP/1.1 403 Forbidden", "{out}");
    assert_eq!(out["sent_all"], true, "{out}");
    fails_with(&upstream_head(&b, "k"), "404");
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let s3seal = S3seal::start();
    let b = bucket("shutdown");
    ok(&s3seal.aws(&["s3", "mb", &format!("s3://{b}")]));
    let mut slow = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/slow_upload.py"
        ))
        .args([&b, "slow"])
        .env("S3SEAL_ENDPOINT", s3seal.endpoint())
        .env("S3SEAL_KEY", CLIENT_KEY)
        .env("S3SEAL_SECRET", CLIENT_SECRET)
        .env("S3SEAL_REGION", REGION)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::{BufRead, Write};
    let mut lines = std::io::BufReader::new(slow.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "half-sent");
    unsafe {
        libc::kill(s3seal.pid() as i32, libc::SIGTERM);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // New connections are refused while the in-flight upload continues.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", s3seal.port)).is_err(),
        "listener still open after SIGTERM"
    );
    slow.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let status = lines.next().and_then(Result::ok);
    let finished = slow.wait_with_output().unwrap();
    assert_eq!(
        status.as_deref(),
        Some("200"),
        "the in-flight upload must complete; client stderr: {}",
        String::from_utf8_lossy(&finished.stderr)
    );
    let raw = json(&upstream_head(&b, "slow"));
    assert_eq!(raw["Metadata"]["s3seal-len"], "200000");
}

#[test]
fn presigned_urls_work_with_curl_and_expire() {
    let s3seal = S3seal::start();
    ok(&s3seal.python("presigned.py", &["run", &bucket("presigned")]));
}

#[test]
fn virtual_hosted_style_requests_name_the_bucket_in_the_host() {
    let s3seal = S3seal::start_with(S3sealOptions {
        env: vec![(
            "S3SEAL_SERVER_VIRTUAL_HOST_DOMAIN".into(),
            "s3.localhost".into(),
        )],
        ..Default::default()
    });
    ok(&s3seal.python(
        "virtual_hosted.py",
        &["run", "s3.localhost", &bucket("vhost")],
    ));
}
