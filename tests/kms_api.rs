//! The KMS API end to end: the aws CLI and boto3 against s3seal's key service.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const SECOND_KEY: &str = "AKIAS3SEALSECOND0001";
const SECOND_SECRET: &str = "second-principal-secret-000000000000000";
const ADMIN_ARN: &str = "arn:aws:iam::000000000000:user/tester";
const SECOND_ARN: &str = "arn:aws:iam::000000000000:user/bob";

fn with_second_principal() -> S3seal {
    S3seal::start_with(S3sealOptions {
        extra_config: format!(
            "[[auth.credentials]]\naccess_key_id = \"{SECOND_KEY}\"\nsecret_access_key = \"{SECOND_SECRET}\"\nprincipal = \"bob\"\n"
        ),
        ..Default::default()
    })
}

fn principals_env() -> [(&'static str, &'static str); 4] {
    [
        ("SECOND_KEY", SECOND_KEY),
        ("SECOND_SECRET", SECOND_SECRET),
        ("ADMIN_ARN", ADMIN_ARN),
        ("SECOND_ARN", SECOND_ARN),
    ]
}

#[test]
fn key_lifecycle_with_boto3() {
    let s3seal = S3seal::start();
    ok(&s3seal.python("kms_scenarios.py", &["lifecycle"]));
    let log = s3seal.log();
    assert!(log.contains("KMS key used"), "key uses are audited");
    assert!(log.contains(r#"operation="kms:Decrypt""#), "{log}");
}

#[test]
fn key_lifecycle_with_the_aws_cli() {
    let s3seal = S3seal::start();
    let dir = tempfile::tempdir().unwrap();
    let created = json(&s3seal.aws(&["kms", "create-key", "--description", "cli"]));
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&s3seal.aws(&[
        "kms",
        "create-alias",
        "--alias-name",
        "alias/cli",
        "--target-key-id",
        &key_id,
    ]));
    let plain = temp_file(dir.path(), "plain", b"attack at dawn");
    let encrypted = json(&s3seal.aws(&[
        "kms",
        "encrypt",
        "--key-id",
        "alias/cli",
        "--plaintext",
        &format!("fileb://{}", plain.display()),
        "--encryption-context",
        "app=test",
    ]));
    let blob = base64_decode(encrypted["CiphertextBlob"].as_str().unwrap());
    let blob_file = temp_file(dir.path(), "blob", &blob);
    let decrypted = json(&s3seal.aws(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", blob_file.display()),
        "--encryption-context",
        "app=test",
    ]));
    assert_eq!(
        base64_decode(decrypted["Plaintext"].as_str().unwrap()),
        b"attack at dawn"
    );
    assert!(decrypted["KeyId"].as_str().unwrap().ends_with(&key_id));
    fails_with(
        &s3seal.aws(&[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", blob_file.display()),
            "--encryption-context",
            "app=other",
        ]),
        "InvalidCiphertextException",
    );
    let keys = json(&s3seal.aws(&["kms", "list-keys"]));
    assert!(
        keys["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["KeyId"] == key_id.as_str())
    );
    let aliases = ok(&s3seal.aws(&["kms", "list-aliases"]));
    assert!(
        aliases.contains("alias/cli") && aliases.contains("alias/aws/s3"),
        "{aliases}"
    );
    // Authentication failures in KMS's vocabulary.
    fails_with(
        &s3seal.aws_as(CLIENT_KEY, "wrong-secret", &["kms", "list-keys"]),
        "InvalidSignatureException",
    );
    fails_with(
        &s3seal.aws_as("AKIAUNKNOWN000000000", "x", &["kms", "list-keys"]),
        "UnrecognizedClientException",
    );
}

#[test]
fn key_policies_and_grants_are_enforced() {
    let s3seal = with_second_principal();
    ok(&s3seal.python_with("kms_scenarios.py", &["policies"], &principals_env()));
}

#[test]
fn s3_reads_need_kms_decrypt_on_the_objects_key() {
    let s3seal = with_second_principal();
    let b = bucket("kmsdeny");
    ok(&s3seal.python_with("kms_scenarios.py", &["s3-denied", &b], &principals_env()));
}

/// `kill -9` while keys are created and rotated: the store opens again and
/// every ciphertext the service returned still decrypts.
#[test]
fn store_survives_kill_during_key_creation_and_rotation() {
    let mut s3seal = S3seal::start();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ciphertexts.jsonl");
    for round in 0..5u64 {
        let mut load = Command::new("python3")
            .arg(repo_path("tests/python/kms_scenarios.py"))
            .args(["crash-load", ledger.to_str().unwrap()])
            .envs(s3seal.python_env())
            .spawn()
            .unwrap();
        // Kill mid-load: once the load has recorded new ciphertexts (on a
        // busy machine that takes a while), then a little later each round.
        wait_for_ledger_growth(&ledger, ledger_lines(&ledger) + 3);
        std::thread::sleep(Duration::from_millis(100 + 150 * round));
        let state = s3seal.kill();
        let _ = load.kill();
        let _ = load.wait();
        s3seal = S3seal::start_with(S3sealOptions {
            dir: Some(state),
            ..Default::default()
        });
        let verified = json(&s3seal.python(
            "kms_scenarios.py",
            &["crash-verify", ledger.to_str().unwrap()],
        ));
        assert!(
            verified["verified"].as_u64().unwrap() > 0,
            "round {round}: {verified}"
        );
    }
}

fn ledger_lines(ledger: &std::path::Path) -> usize {
    std::fs::read_to_string(ledger).map_or(0, |s| s.lines().count())
}

fn wait_for_ledger_growth(ledger: &std::path::Path, lines: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ledger_lines(ledger) < lines {
        assert!(
            std::time::Instant::now() < deadline,
            "the KMS load recorded no ciphertexts within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_kms_api_can_have_its_own_listener() {
    let kms_port = free_port();
    let s3seal = S3seal::start_with(S3sealOptions {
        env: vec![("S3SEAL_KMS_LISTEN".into(), format!("127.0.0.1:{kms_port}"))],
        ..Default::default()
    });
    wait_for_port(
        kms_port,
        "s3seal KMS listener",
        &s3seal.dir.join("s3seal.log"),
    );
    let kms_endpoint = format!("http://127.0.0.1:{kms_port}");
    let on_kms = aws_cli(
        &kms_endpoint,
        CLIENT_KEY,
        CLIENT_SECRET,
        REGION,
        &["kms", "list-aliases"],
    );
    assert!(ok(&on_kms).contains("alias/aws/s3"));
    // Only there: the S3 listener no longer answers KMS, and the KMS one no S3.
    assert!(!s3seal.aws(&["kms", "list-aliases"]).status.success());
    fails_with(
        &aws_cli(
            &kms_endpoint,
            CLIENT_KEY,
            CLIENT_SECRET,
            REGION,
            &["s3api", "list-buckets"],
        ),
        "(400)",
    );
    ok(&s3seal.aws(&["s3api", "list-buckets"]));
}

#[test]
fn asymmetric_and_hmac_keys_interoperate_with_openssl() {
    let s3seal = S3seal::start();
    let dir = tempfile::tempdir().unwrap();
    let out = json(&s3seal.python(
        "kms_scenarios.py",
        &["asymmetric", dir.path().to_str().unwrap()],
    ));
    assert!(out["openssl_verified"].as_u64().unwrap() >= 17, "{out}");
}

#[test]
fn imported_key_material_follows_the_aws_openssl_procedure() {
    let s3seal = S3seal::start();
    let dir = tempfile::tempdir().unwrap();
    let out = json(&s3seal.python("kms_scenarios.py", &["byok", dir.path().to_str().unwrap()]));
    // The imported key protects S3 objects like any other.
    let key = out["key"].as_str().unwrap();
    let b = make_bucket(&s3seal, "byok");
    let src = temp_file(dir.path(), "obj", b"sealed under imported material");
    ok(&s3seal.put_file(
        &b,
        "obj",
        &src,
        &[
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-key-id",
            key,
        ],
    ));
    let back = dir.path().join("back");
    ok(&s3seal.get_file(&b, "obj", &back));
    assert_eq!(read(&back), b"sealed under imported material");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
