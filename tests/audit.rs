//! The audit log against real Garage and the real aws CLI: a known sequence
//! of S3 and KMS calls leaves exactly the expected events, `s3seal audit
//! verify` passes on the untouched log and names the first bad record for
//! each kind of tampering, and `s3seal audit query` filters.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use serde_json::Value;

const SECRET_CONTENT: &str = "audit-test-secret-object-content";
/// "kms-plaintext-audit" in base64: what `aws kms encrypt` sends.
const KMS_PLAINTEXT_B64: &str = "a21zLXBsYWludGV4dC1hdWRpdA==";

fn s3seal_cli(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(args)
        .arg("--config")
        .arg(dir.join("s3seal.toml"))
        .env_remove("S3SEAL_CONFIG")
        .output()
        .unwrap()
}

/// The S3 and KMS calls of the test, run against a fresh s3seal; returns
/// its (stopped) directory, the bucket, the created key's ARN and the
/// request id the client got for its GetObject.
fn run_known_sequence() -> (PathBuf, String, String, String) {
    let s3seal = S3seal::start();
    let bucket = make_bucket(&s3seal, "audit");
    let file = temp_file(&s3seal.dir, "object", SECRET_CONTENT.as_bytes());
    ok(&s3seal.put_file(&bucket, "doc.txt", &file, &[]));
    let back = s3seal.dir.join("back");
    let get = s3seal.aws(&[
        "s3api",
        "get-object",
        "--bucket",
        &bucket,
        "--key",
        "doc.txt",
        back.to_str().unwrap(),
        "--debug",
    ]);
    ok(&get);
    let get_request_id = response_request_id(&String::from_utf8_lossy(&get.stderr));
    let key = json(&s3seal.aws(&["kms", "create-key", "--description", "audited"]));
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    ok(&s3seal.aws(&[
        "kms",
        "encrypt",
        "--key-id",
        &key_arn,
        "--plaintext",
        KMS_PLAINTEXT_B64,
        "--encryption-context",
        "purpose=audit-test",
    ]));
    // A key policy that denies this very caller, then a refused key use.
    let key_policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/tester"},"Action":"kms:Encrypt","Resource":"*"}]}"#;
    ok(&s3seal.aws(&[
        "kms",
        "put-key-policy",
        "--key-id",
        &key_arn,
        "--policy-name",
        "default",
        "--policy",
        key_policy,
    ]));
    fails_with(
        &s3seal.aws(&[
            "kms",
            "encrypt",
            "--key-id",
            &key_arn,
            "--plaintext",
            KMS_PLAINTEXT_B64,
        ]),
        "AccessDenied",
    );
    fails_with(
        &s3seal.aws_as(
            CLIENT_KEY,
            "wrong-secret",
            &[
                "s3api",
                "put-object",
                "--bucket",
                &bucket,
                "--key",
                "x",
                "--body",
                file.to_str().unwrap(),
            ],
        ),
        "SignatureDoesNotMatch",
    );
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{bucket}/denied/*"}}]}}"#
    );
    ok(&s3seal.aws(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        &bucket,
        "--policy",
        &policy,
    ]));
    fails_with(
        &s3seal.put_file(&bucket, "denied/x", &file, &[]),
        "AccessDenied",
    );
    (s3seal.stop(), bucket, key_arn, get_request_id)
}

/// The `x-amz-request-id` of the response in botocore's `--debug` output.
fn response_request_id(debug: &str) -> String {
    let marker = "'x-amz-request-id': '";
    let start = debug
        .rfind(marker)
        .unwrap_or_else(|| panic!("no x-amz-request-id in the debug output:\n{debug}"))
        + marker.len();
    debug[start..].split('\'').next().unwrap().to_string()
}

#[test]
fn audit_log_records_verifies_and_answers_queries() {
    let (dir, bucket, key_arn, get_request_id) = run_known_sequence();
    let events = audit_events(&dir);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "CreateKey",       // the audit signing key, made on first start
            "CreateKey",       // the default key, by `s3seal kms default-key`
            "GenerateDataKey", // PutObject sealed doc.txt
            "Decrypt",         // GetObject unsealed it
            "CreateKey",
            "Encrypt",
            "PutKeyPolicy",
            "Encrypt",   // refused by the key policy
            "PutObject", // refused: bad signature
            "PutBucketPolicy",
            "PutObject", // refused by the bucket policy
        ],
        "{events:#?}"
    );
    // (The first two: keys_s3seal_creates_for_itself_are_audited.)
    let events = &events[2..];
    check_key_uses(&events[..2], &bucket);
    // The client's request id, the audit event's and the access log's agree.
    assert_eq!(events[1]["requestID"], get_request_id.as_str());
    check_kms_calls(&events[2..4], &key_arn);
    check_key_policy_denial(&events[4..6], &key_arn);
    check_denials_and_changes(&events[6..], &bucket);
    // Nothing secret anywhere in the log.
    let raw: String = audit_files(&dir)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(!raw.contains(SECRET_CONTENT));
    assert!(!raw.contains(KMS_PLAINTEXT_B64));
    assert!(!raw.contains(CLIENT_SECRET));
    assert!(!raw.contains("CiphertextBlob") && !raw.contains("ciphertextBlob"));

    check_verify(&dir);
    check_query(&dir, &bucket, &key_arn);
    check_offline_change(&dir, &key_arn);
}

/// The operator's offline key commands are audited too, continuing the chain
/// in a new file.
fn check_offline_change(dir: &Path, key_arn: &str) {
    let out = s3seal_cli(dir, &["kms", "disable-key", key_arn]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = audit_events(dir).pop().unwrap();
    assert_eq!(last["eventName"], "DisableKey");
    assert_eq!(last["userIdentity"]["invokedBy"], "s3seal-cli");
    assert_eq!(last["resources"][0]["ARN"], key_arn);
    assert_eq!(audit_files(dir).len(), 3);
    let (passed, text) = verify(dir, &dir.join("audit"));
    assert!(passed, "{text}");
    assert!(text.contains("3 files"), "{text}");
}

fn check_key_uses(events: &[Value], bucket: &str) {
    for event in events {
        assert_eq!(event["eventSource"], "kms.amazonaws.com");
        assert_eq!(event["userIdentity"]["invokedBy"], "s3.amazonaws.com");
        assert_eq!(event["userIdentity"]["accessKeyId"], CLIENT_KEY);
        assert_eq!(event["sourceIPAddress"], "127.0.0.1");
        assert!(
            event["userAgent"].as_str().unwrap().contains("aws-cli"),
            "{event}"
        );
        assert_eq!(event["eventCategory"], "Data");
        assert_eq!(
            event["requestParameters"]["encryptionContext"]["aws:s3:arn"],
            format!("arn:aws:s3:::{bucket}/doc.txt")
        );
        assert_eq!(event["requestParameters"]["bucketName"], bucket);
        assert!(event["requestID"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(event["eventID"].as_str().is_some_and(|id| id.len() == 36));
        let resources = event["resources"].as_array().unwrap();
        assert!(
            resources.iter().any(|r| r["type"] == "AWS::KMS::Key"),
            "{event}"
        );
        assert!(
            resources
                .iter()
                .any(|r| r["ARN"] == format!("arn:aws:s3:::{bucket}/doc.txt"))
        );
        assert!(event.get("errorCode").is_none());
    }
}

fn check_kms_calls(events: &[Value], key_arn: &str) {
    let (create, encrypt) = (&events[0], &events[1]);
    assert_eq!(create["eventCategory"], "Management");
    assert_eq!(create["requestParameters"]["description"], "audited");
    assert_eq!(create["responseElements"]["keyMetadata"]["Arn"], key_arn);
    assert_eq!(encrypt["requestParameters"]["keyId"], key_arn);
    assert_eq!(
        encrypt["requestParameters"]["encryptionContext"]["purpose"],
        "audit-test"
    );
    assert!(encrypt["requestParameters"].get("plaintext").is_none());
    assert_eq!(encrypt["responseElements"], Value::Null);
    assert_eq!(encrypt["resources"][0]["ARN"], key_arn);
    assert_eq!(encrypt["userIdentity"]["userName"], "tester");
}

fn check_key_policy_denial(events: &[Value], key_arn: &str) {
    let (policy, denied) = (&events[0], &events[1]);
    assert_eq!(policy["requestParameters"]["keyId"], key_arn);
    assert!(
        policy["requestParameters"]["policy"]
            .as_str()
            .unwrap()
            .contains("Deny")
    );
    assert!(policy.get("errorCode").is_none());
    assert_eq!(denied["errorCode"], "AccessDeniedException");
    assert_eq!(denied["userIdentity"]["userName"], "tester");
    assert_eq!(denied["resources"][0]["ARN"], key_arn);
}

fn check_denials_and_changes(events: &[Value], bucket: &str) {
    let (bad_signature, policy, denied) = (&events[0], &events[1], &events[2]);
    assert_eq!(bad_signature["errorCode"], "SignatureDoesNotMatch");
    assert_eq!(bad_signature["userIdentity"]["type"], "Unknown");
    assert_eq!(bad_signature["userIdentity"]["accessKeyId"], CLIENT_KEY);
    assert_eq!(policy["eventSource"], "s3.amazonaws.com");
    assert_eq!(policy["requestParameters"]["bucketName"], bucket);
    assert!(policy.get("errorCode").is_none());
    assert_eq!(denied["errorCode"], "AccessDenied");
    assert!(
        denied["userIdentity"]["arn"]
            .as_str()
            .unwrap()
            .ends_with(":user/tester")
    );
    assert_eq!(denied["requestParameters"]["key"], "denied/x");
}

/// The server run's audit file: the second, after the one of the
/// `s3seal kms default-key` run that created the keys.
fn server_run_file(dir: &Path) -> PathBuf {
    let files = audit_files(dir);
    assert_eq!(files.len(), 2, "one file per run: {files:?}");
    files[1].clone()
}

/// The sequence number of line `line` (from 1) of the server run's file.
fn sequence_of_line(dir: &Path, line: u64) -> u64 {
    let file = server_run_file(dir);
    let name = file.file_stem().unwrap().to_str().unwrap();
    let first: u64 = name.trim_start_matches("audit-").parse().unwrap();
    first + line - 1
}

/// A copy of the server run's audit file with `edit` applied to its lines.
fn tampered(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let file = server_run_file(dir);
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    edit(&mut lines);
    let copy = dir.join(format!("tampered-{name}"));
    std::fs::create_dir_all(&copy).unwrap();
    let path = copy.join(file.file_name().unwrap());
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn verify(dir: &Path, file: &Path) -> (bool, String) {
    let out = s3seal_cli(
        dir,
        &["audit", "verify", "--use-store", file.to_str().unwrap()],
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn first_failure(dir: &Path, file: &Path) -> String {
    let (passed, text) = verify(dir, file);
    assert!(!passed, "tampering went unnoticed:\n{text}");
    text.lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string()
}

fn check_verify(dir: &Path) {
    let (passed, text) = verify(dir, &dir.join("audit"));
    assert!(passed, "{text}");
    assert!(
        text.contains("OK:") && text.contains("signed digests verified"),
        "{text}"
    );

    let seq = |line| sequence_of_line(dir, line);
    let edited = tampered(dir, "edited", |l| {
        l[1] = l[1].replace("\"Decrypt\"", "\"Encrypt\"")
    });
    let failure = first_failure(dir, &edited);
    let expected = format!(":2 (sequence {}): edited", seq(2));
    assert!(failure.contains(&expected), "{failure}");

    let deleted = tampered(dir, "deleted", |l| {
        l.remove(2);
    });
    let failure = first_failure(dir, &deleted);
    let expected = format!(":3 (sequence {}): deleted", seq(4));
    assert!(
        failure.contains(&expected) && failure.contains(&format!("sequence {}", seq(3))),
        "{failure}"
    );

    let swapped = tampered(dir, "swapped", |l| l.swap(1, 2));
    let failure = first_failure(dir, &swapped);
    let expected = format!(":2 (sequence {}): reordered", seq(3));
    assert!(failure.contains(&expected), "{failure}");

    let inserted = tampered(dir, "inserted", |l| {
        let forged = l[3].replace("\"audited\"", "\"forged\"");
        l.insert(4, forged);
    });
    let failure = first_failure(dir, &inserted);
    let expected = format!(":5 (sequence {}): inserted", seq(4));
    assert!(failure.contains(&expected), "{failure}");

    let truncated = tampered(dir, "truncated", |l| {
        l.truncate(l.len() - 2);
    });
    let failure = first_failure(dir, &truncated);
    let lines = std::fs::read_to_string(server_run_file(dir)).unwrap();
    let last = lines.lines().count() - 2;
    assert!(
        failure.contains(&format!(":{last} ")) && failure.contains("truncated tail"),
        "{failure}"
    );
}

fn query(dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "query"];
    all.extend_from_slice(args);
    let out = s3seal_cli(dir, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["eventName"].as_str().unwrap().to_string())
        .collect()
}

fn check_query(dir: &Path, bucket: &str, key_arn: &str) {
    assert_eq!(names(&query(dir, &["--event", "decrypt"])), ["Decrypt"]);
    assert_eq!(
        names(&query(dir, &["--key", key_arn])),
        ["CreateKey", "Encrypt", "PutKeyPolicy", "Encrypt"]
    );
    let key_id = key_arn.rsplit('/').next().unwrap();
    assert_eq!(
        names(&query(dir, &["--key", key_id, "--event", "Encrypt"])),
        ["Encrypt", "Encrypt"]
    );
    assert_eq!(
        names(&query(dir, &["--bucket", bucket])),
        [
            "GenerateDataKey",
            "Decrypt",
            "PutObject",
            "PutBucketPolicy",
            "PutObject"
        ]
    );
    assert_eq!(query(dir, &["--principal", "tester"]).len(), 8);
    assert_eq!(query(dir, &["--since", "2999-01-01T00:00:00Z"]).len(), 0);
    // Every event: the two key creations of the first start and the nine above.
    assert_eq!(query(dir, &["--until", "2999-01-01T00:00:00Z"]).len(), 11);
}

/// The `CreateKey` events of `dir`'s audit log: (who, key ARN).
fn key_creations(dir: &Path) -> Vec<(String, String)> {
    audit_events(dir)
        .into_iter()
        .filter(|e| e["eventName"] == "CreateKey")
        .map(|e| {
            let who = format!(
                "{} {}",
                e["eventType"].as_str().unwrap(),
                e["userIdentity"]["invokedBy"].as_str().unwrap_or("-")
            );
            (who, e["resources"][0]["ARN"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn keys_s3seal_creates_for_itself_are_audited() {
    // The test harness starts every instance after `s3seal kms default-key`:
    // opening the audit log creates its signing key (s3seal's own doing),
    // then the command creates the default key (the operator's).
    let s3seal = S3seal::start();
    let audit_key = json(&s3seal.aws(&["kms", "describe-key", "--key-id", "alias/s3seal-audit"]));
    let audit_key_arn = audit_key["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let default_key_arn = s3seal.default_key_arn.clone();
    let dir = s3seal.stop();
    assert_eq!(
        key_creations(&dir),
        [
            ("AwsServiceEvent s3seal".to_string(), audit_key_arn),
            ("AwsApiCall s3seal-cli".to_string(), default_key_arn)
        ]
    );

    // A server's first start on an empty store creates both by itself.
    std::fs::remove_file(dir.join("store.redb")).unwrap();
    std::fs::remove_dir_all(dir.join("audit")).unwrap();
    let config = std::fs::read_to_string(dir.join("s3seal.toml")).unwrap();
    let port: u16 = config
        .split("listen = \"127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|port| port.parse().ok())
        .expect("the listen port in s3seal.toml");
    let log = dir.join("fresh-start.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(["serve", "--config"])
        .arg(dir.join("s3seal.toml"))
        .env_remove("S3SEAL_CONFIG")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    wait_for_port(port, "s3seal", &log);
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    server.wait().unwrap();
    let created = key_creations(&dir);
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(
        created
            .iter()
            .all(|(who, _)| who == "AwsServiceEvent s3seal"),
        "{created:?}"
    );
    assert_ne!(created[0].1, created[1].1);
    // Restarting creates nothing, so records nothing more.
    let again = S3seal::start_with(S3sealOptions {
        dir: Some(dir.clone()),
        port: Some(port),
        ..Default::default()
    });
    let dir = again.stop();
    assert_eq!(key_creations(&dir), created);
    let (passed, text) = verify(&dir, &dir.join("audit"));
    assert!(passed, "{text}");
}
