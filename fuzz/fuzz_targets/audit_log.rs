//! Untrusted input: audit log files, which whoever tampers with them writes.
//! `s3seal audit verify` and `query` must hold on any bytes, and every
//! finding must point inside the files it was given.
#![no_main]
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use s3seal::audit::files::split_lines;
use s3seal::audit::query::EventFilter;
use s3seal::audit::verify::{VerifyOptions, verify_logs};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    // Two files, cut where the first byte says.
    let cut = (split as usize * rest.len()) / 256;
    let logs = vec![
        (PathBuf::from("audit-1.jsonl"), split_lines(&rest[..cut])),
        (PathBuf::from("audit-2.jsonl"), split_lines(&rest[cut..])),
    ];
    let options = VerifyOptions {
        open_tail: split % 2 == 0,
        ..Default::default()
    };
    let report = verify_logs(&logs, &options);
    for finding in &report.findings {
        let (lines, tail) = &logs[if finding.location.file.ends_with("audit-1.jsonl") {
            0
        } else {
            1
        }]
        .1;
        assert!(finding.location.line >= 1);
        assert!(finding.location.line <= lines.len() + usize::from(tail.is_some()));
        let _ = finding.to_string();
    }
    let filter = EventFilter {
        key: Some("k".into()),
        bucket: Some("b".into()),
        ..Default::default()
    };
    for (_, (lines, _)) in &logs {
        for line in lines {
            if let Ok(event) = serde_json::from_slice(line) {
                let _ = filter.matches(&event);
            }
        }
    }
});
