//! Each kind of tampering, on a log built the way the writer builds it.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::*;
use crate::audit::chain::{ChainHead, digest_message};
use crate::audit::signer::SIGNING_KEY_SPEC;
use crate::audit::writer::linked_line;
use crate::kms::asymmetric::{self, KeySpec, MessageType};

struct TestKey {
    spec: KeySpec,
    private: Arc<Zeroizing<Vec<u8>>>,
}

impl TestKey {
    fn new() -> Self {
        let spec = KeySpec::parse(SIGNING_KEY_SPEC).unwrap();
        TestKey {
            spec,
            private: Arc::new(asymmetric::generate_private_key(spec).unwrap()),
        }
    }

    fn verifier(&self) -> DigestVerifier {
        let der = asymmetric::public_key_der(self.spec, &self.private).unwrap();
        DigestVerifier::from_public_key(&der).unwrap()
    }
}

/// `events` events with a digest after every `digest_every`, and one at the end.
fn build_log(key: &TestKey, events: usize, digest_every: usize) -> Vec<Vec<u8>> {
    let mut head = ChainHead::genesis();
    let mut lines = Vec::new();
    let mut first_unsigned = 1;
    let mut push = |record: &mut Value, head: &mut ChainHead| {
        let link = head.next_link();
        let line = linked_line(record, &link).unwrap();
        *head = ChainHead::after(&link, &line);
        lines.push(line);
    };
    for n in 1..=events {
        let mut event =
            json!({"eventName": "Decrypt", "n": n, "requestParameters": {"keyId": "k"}});
        push(&mut event, &mut head);
        if n % digest_every == 0 || n == events {
            let link = head.next_link();
            let time = format!("2026-11-23T00:00:{n:02}Z");
            let signature = asymmetric::sign(
                key.spec,
                &key.private,
                "ECDSA_SHA_256",
                &digest_message(&link, first_unsigned, &time),
                MessageType::Raw,
            )
            .unwrap();
            let mut digest = json!({
                "eventType": DIGEST_EVENT_TYPE,
                "eventTime": time,
                "digest": {
                    "firstSequence": first_unsigned,
                    "lastSequence": head.sequence,
                    "lastRecordHash": head.hash,
                    "signingKeyId": "arn:audit",
                    "signature": base64::engine::general_purpose::STANDARD.encode(signature),
                }
            });
            push(&mut digest, &mut head);
            first_unsigned = head.sequence + 1;
        }
    }
    lines
}

fn check(lines: &[Vec<u8>], key: &TestKey) -> VerifyReport {
    check_raw(&join(lines), key, false)
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect()
}

fn check_raw(content: &[u8], key: &TestKey, open_tail: bool) -> VerifyReport {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit-00000000000000000001.jsonl");
    std::fs::write(&path, content).unwrap();
    let options = VerifyOptions {
        verifier: Some(key.verifier()),
        signing_key_arn: Some("arn:audit".into()),
        open_tail,
        ..Default::default()
    };
    verify_files(&[path], &options).unwrap()
}

fn first(report: &VerifyReport) -> (Problem, usize) {
    let f = report
        .findings
        .first()
        .unwrap_or_else(|| panic!("no finding: {report:?}"));
    (f.problem, f.location.line)
}

#[test]
fn an_untouched_log_verifies() {
    let key = TestKey::new();
    let lines = build_log(&key, 12, 5);
    let report = check(&lines, &key);
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 15);
    assert_eq!(report.digests_verified, 3);
}

#[test]
fn an_edited_field_names_the_edited_record() {
    let key = TestKey::new();
    let mut lines = build_log(&key, 12, 5);
    lines[3] = String::from_utf8(lines[3].clone())
        .unwrap()
        .replace("\"keyId\":\"k\"", "\"keyId\":\"x\"")
        .into_bytes();
    assert_eq!(first(&check(&lines, &key)), (Problem::Edited, 4));
}

#[test]
fn a_deleted_line_names_the_gap() {
    let key = TestKey::new();
    let mut lines = build_log(&key, 12, 5);
    lines.remove(2);
    let report = check(&lines, &key);
    assert_eq!(first(&report), (Problem::Deleted, 3));
    assert!(
        report.findings[0].detail.contains("sequence 3"),
        "{}",
        report.findings[0]
    );
}

#[test]
fn a_swapped_pair_is_named() {
    let key = TestKey::new();
    let mut lines = build_log(&key, 12, 5);
    lines.swap(6, 7);
    let report = check(&lines, &key);
    assert_eq!(first(&report), (Problem::Reordered, 7));
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
}

#[test]
fn an_inserted_forged_line_is_named() {
    let key = TestKey::new();
    let lines = build_log(&key, 12, 5);
    // A copy of an event with a changed field, slipped in after it.
    let forged = String::from_utf8(lines[4].clone())
        .unwrap()
        .replace("\"n\":5", "\"n\":99")
        .into_bytes();
    let mut after = lines.clone();
    after.insert(5, forged.clone());
    assert_eq!(first(&check(&after, &key)), (Problem::Inserted, 6));
    // ... or before it.
    let mut before = lines.clone();
    before.insert(4, forged);
    assert_eq!(first(&check(&before, &key)), (Problem::Inserted, 5));
    // A line of garbage.
    let mut junk = lines;
    junk.insert(2, b"{\"eventName\":\"Decrypt\"}".to_vec());
    assert_eq!(first(&check(&junk, &key)), (Problem::Unreadable, 3));
}

#[test]
fn a_truncated_tail_is_named() {
    let key = TestKey::new();
    let lines = build_log(&key, 12, 5);
    // The closing digest and nothing else removed: records 13 and 14 remain.
    let report = check(&lines[..lines.len() - 1], &key);
    assert_eq!(first(&report), (Problem::UnsignedTail, 14));
    assert!(
        report.findings[0].detail.contains("13..14"),
        "{}",
        report.findings[0]
    );
    // Accepted as the open tail of a live log ...
    assert!(check_raw(&join(&lines[..lines.len() - 1]), &key, true).is_intact());
    // ... but a cut inside a record never is.
    let mut cut = join(&lines);
    cut.truncate(cut.len() - 20);
    assert_eq!(
        first(&check_raw(&cut, &key, true)),
        (Problem::TruncatedTail, 15)
    );
}

#[test]
fn a_rewritten_chain_fails_its_signature() {
    let key = TestKey::new();
    let other = TestKey::new();
    // Consistent links, but signed by a key the verifier does not trust.
    let forged = build_log(&other, 12, 5);
    let report = check(&forged, &key);
    assert_eq!(first(&report), (Problem::BadSignature, 6));
    assert_eq!(report.findings.len(), 3);
}

#[test]
fn the_signed_head_catches_a_cut_back_to_a_digest() {
    let key = TestKey::new();
    let lines = build_log(&key, 12, 5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit-00000000000000000001.jsonl");
    // Cut right after the second digest: every remaining record is signed.
    std::fs::write(&path, join(&lines[..12])).unwrap();
    let full_head = {
        let last = &lines[lines.len() - 1];
        let value: Value = serde_json::from_slice(last).unwrap();
        ChainHead {
            sequence: value[LINK_FIELD]["sequence"].as_u64().unwrap(),
            hash: chain::line_hash(last),
        }
    };
    let options = VerifyOptions {
        verifier: Some(key.verifier()),
        signed_head: Some(full_head),
        ..Default::default()
    };
    let report = verify_files(&[path], &options).unwrap();
    assert_eq!(first(&report), (Problem::TruncatedTail, 12));
    assert!(
        report.findings[0].detail.contains("13..15"),
        "{}",
        report.findings[0]
    );
}
