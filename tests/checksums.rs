//! Flexible checksums kept (sealed) with objects and reported as S3 reports
//! them: checksum-mode GET/HEAD, GetObjectAttributes, multipart composite and
//! full-object checksums, against real Garage with boto3 and the aws CLI.

mod common;

use common::*;

fn scenario(s3seal: &S3seal, name: &str, bucket: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&s3seal.python("checksum_scenarios.py", &[name, bucket]))).unwrap()
}

#[test]
fn single_part_checksums_are_kept_and_reported() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "sums");
    let out = scenario(&s3seal, "single", &b);
    assert_eq!(out["checked"].as_array().unwrap().len(), 6, "{out}");
    // The checksum is sealed: the upstream object carries no plaintext checksum.
    let raw = json(&upstream_aws(&[
        "s3api",
        "head-object",
        "--bucket",
        &b,
        "--key",
        "single-SHA256",
        "--checksum-mode",
        "ENABLED",
    ]));
    assert!(raw.get("ChecksumSHA256").is_none(), "{raw}");
    // A checksum read is a key use, and audited as one.
    assert!(
        s3seal.log().contains("reason=\"checksum\"")
            || s3seal.log().contains("\"reason\":\"checksum\"")
    );
}

#[test]
fn multipart_checksums_combine_and_survive_a_lost_layout_record() {
    let s3seal = S3seal::start();
    let b = make_bucket(&s3seal, "mpsums");
    let out = scenario(&s3seal, "multipart", &b);
    assert_eq!(out["wrong_part_checksum"], "InvalidPart", "{out}");
    assert_eq!(out["wrong_object_checksum"], "BadDigest", "{out}");
    assert_eq!(out["wrong_stored"], "404", "{out}");
    assert_eq!(out["other_algorithm"], "InvalidRequest", "{out}");
    let composite = out["composite"].as_str().unwrap().to_string();

    // Without s3seal's layout records, the checksum is computed again from
    // the parts' sealed records.
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
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(state),
        ..Default::default()
    });
    let head = json(&s3seal.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        &b,
        "--key",
        "mp-sha256",
        "--checksum-mode",
        "ENABLED",
    ]));
    assert_eq!(head["ChecksumSHA256"], composite.as_str(), "{head}");
    assert_eq!(head["ChecksumType"], "COMPOSITE", "{head}");
    assert!(s3seal.log().contains("rebuilt a multipart object's layout"));
}
