//! `s3seal audit verify`: checks log files record by record and names where
//! they were tampered with.
//!
//! What is checked, in chain order: every line parses and carries a link;
//! each link follows the previous record (sequence + 1, hash of its line);
//! every digest's signature verifies with the audit key's public key; every
//! closed file ends with a digest; the log ends with a digest (unless the
//! caller accepts an open tail) and reaches the chain head s3seal saved in
//! its store. A broken link is classified from its neighbours: an edited
//! record (the next one links to a different hash), a deleted one (a gap in
//! sequences), an inserted one (the record after it links past it), a swapped
//! pair, a record out of order.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use super::chain::{self, ChainHead, ChainLink, GENESIS_HASH, LINK_FIELD};
use super::files;
use super::signer::DigestVerifier;
use super::{AuditError, DIGEST_EVENT_TYPE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.file.file_name().unwrap_or(self.file.as_os_str());
        write!(f, "{}:{}", name.to_string_lossy(), self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Unreadable,
    Edited,
    Deleted,
    Inserted,
    Reordered,
    BadSignature,
    TruncatedTail,
    UnsignedTail,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Unreadable => "unreadable",
            Problem::Edited => "edited",
            Problem::Deleted => "deleted",
            Problem::Inserted => "inserted",
            Problem::Reordered => "reordered",
            Problem::BadSignature => "bad signature",
            Problem::TruncatedTail => "truncated tail",
            Problem::UnsignedTail => "unsigned tail",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub location: Location,
    pub sequence: Option<u64>,
    pub problem: Problem,
    pub detail: String,
    /// Position in the files, to report in log order.
    order: (usize, usize),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sequence {
            Some(seq) => write!(
                f,
                "{} (sequence {seq}): {}: {}",
                self.location,
                self.problem.as_str(),
                self.detail
            ),
            None => write!(
                f,
                "{}: {}: {}",
                self.location,
                self.problem.as_str(),
                self.detail
            ),
        }
    }
}

/// What to check against.
#[derive(Default)]
pub struct VerifyOptions {
    /// The audit key's public key; without it signatures are not checked.
    pub verifier: Option<DigestVerifier>,
    /// The signing key the digests must name.
    pub signing_key_arn: Option<String>,
    /// The chain head s3seal saved at its last digest.
    pub signed_head: Option<ChainHead>,
    /// Accept records after the last digest (a log s3seal is writing).
    pub open_tail: bool,
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub files: usize,
    pub records: usize,
    pub digests_verified: usize,
    /// In log order: the first is the first bad record.
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty()
    }
}

struct Record {
    location: Location,
    order: (usize, usize),
    link: ChainLink,
    hash: String,
    value: Value,
}

impl Record {
    fn is_digest(&self) -> bool {
        self.value["eventType"].as_str() == Some(DIGEST_EVENT_TYPE)
    }
}

pub fn verify_files(
    paths: &[PathBuf],
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let mut logs = Vec::with_capacity(paths.len());
    for path in paths {
        let lines = files::read_lines(path)
            .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
        logs.push((path.clone(), lines));
    }
    Ok(verify_logs(&logs, options))
}

/// [`verify_files`] of files already read and split into lines.
pub fn verify_logs(logs: &[(PathBuf, files::FileLines)], options: &VerifyOptions) -> VerifyReport {
    let mut report = VerifyReport {
        files: logs.len(),
        ..Default::default()
    };
    let mut records = Vec::new();
    for (index, (path, lines)) in logs.iter().enumerate() {
        let last_file = index + 1 == logs.len();
        read_file(index, path, lines, last_file, &mut records, &mut report);
    }
    report.records = records.len();
    check_chain(&records, &mut report);
    check_digests(&records, options, &mut report);
    check_tail(&records, options, &mut report);
    if options.verifier.is_none() {
        report
            .notes
            .push("digest signatures were not checked (no public key given)".into());
    }
    report.findings.sort_by_key(|f| f.order);
    report
}

fn read_file(
    index: usize,
    path: &Path,
    (lines, rest): &files::FileLines,
    last_file: bool,
    records: &mut Vec<Record>,
    report: &mut VerifyReport,
) {
    let first_in_file = records.len();
    for (number, line) in lines.iter().enumerate() {
        let location = Location {
            file: path.to_path_buf(),
            line: number + 1,
        };
        let order = (index, number + 1);
        match parse_record(line) {
            Some((link, value)) => records.push(Record {
                location,
                order,
                hash: chain::line_hash(line),
                link,
                value,
            }),
            None => report.findings.push(Finding {
                location,
                sequence: None,
                problem: Problem::Unreadable,
                detail: "not an audit record (not JSON, or no chain link): edited".into(),
                order,
            }),
        }
    }
    if let Some(rest) = rest {
        let line = lines.len() + 1;
        report.findings.push(Finding {
            location: Location {
                file: path.to_path_buf(),
                line,
            },
            sequence: None,
            problem: Problem::TruncatedTail,
            detail: format!(
                "the file ends inside a record ({} bytes, no newline): cut off",
                rest.len()
            ),
            order: (index, line),
        });
    }
    let closed = records[first_in_file..]
        .last()
        .is_some_and(Record::is_digest);
    if !last_file && !closed && records.len() > first_in_file {
        let last = &records[records.len() - 1];
        report.findings.push(Finding {
            location: last.location.clone(),
            sequence: Some(last.link.sequence),
            problem: Problem::TruncatedTail,
            detail: "a closed log file must end with a signed digest: records after this one were cut off".into(),
            order: last.order,
        });
    }
}

fn parse_record(line: &[u8]) -> Option<(ChainLink, Value)> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let link = serde_json::from_value(value.get(LINK_FIELD)?.clone()).ok()?;
    Some((link, value))
}

fn links(a: &Record, b: &Record) -> bool {
    b.link.sequence == a.link.sequence + 1 && b.link.previous_hash == a.hash
}

fn finding(record: &Record, problem: Problem, detail: String) -> Finding {
    Finding {
        location: record.location.clone(),
        sequence: Some(record.link.sequence),
        problem,
        detail,
        order: record.order,
    }
}

/// Walks the chain, classifying each broken link from its neighbours.
fn check_chain(r: &[Record], report: &mut VerifyReport) {
    let Some(first) = r.first() else {
        return;
    };
    if first.link.sequence == 1 && first.link.previous_hash != GENESIS_HASH {
        report.findings.push(finding(
            first,
            Problem::Edited,
            "the first record does not link to the start of the chain".into(),
        ));
    } else if first.link.sequence != 1 {
        report.notes.push(format!(
            "the files given start at sequence {} (older files not checked)",
            first.link.sequence
        ));
    }
    let mut accepted = 0;
    let mut i = 1;
    while i < r.len() {
        let (a, b) = (&r[accepted], &r[i]);
        if links(a, b) {
            accepted = i;
            i += 1;
            continue;
        }
        let next = r.get(i + 1);
        if let Some(c) = next.filter(|c| links(a, c) && links(c, b)) {
            report.findings.push(finding(
                b,
                Problem::Reordered,
                format!(
                    "sequences {} and {} are swapped (lines {} and {})",
                    c.link.sequence, b.link.sequence, b.location.line, c.location.line
                ),
            ));
            accepted = i;
            i += 2;
        } else if next.is_some_and(|c| links(a, c)) {
            report.findings.push(finding(
                b,
                Problem::Inserted,
                format!(
                    "not part of the chain: the record after it links straight to {}",
                    a.location
                ),
            ));
            accepted = i + 1;
            i += 2;
        } else if b.link.sequence == a.link.sequence && b.link.previous_hash == a.link.previous_hash
        {
            report.findings.push(finding(
                a,
                Problem::Inserted,
                format!(
                    "not part of the chain: {} claims the same place and the chain continues from it",
                    b.location
                ),
            ));
            accepted = i;
            i += 1;
        } else if b.link.sequence == a.link.sequence + 1 {
            report.findings.push(finding(
                a,
                Problem::Edited,
                format!(
                    "its content changed: the next record ({}) links to a different hash",
                    b.location
                ),
            ));
            accepted = i;
            i += 1;
        } else if b.link.sequence > a.link.sequence + 1 {
            let (from, to) = (a.link.sequence + 1, b.link.sequence - 1);
            report.findings.push(finding(
                b,
                Problem::Deleted,
                match from == to {
                    true => format!("the record with sequence {from} before it is missing"),
                    false => {
                        format!("the records with sequences {from}..{to} before it are missing")
                    }
                },
            ));
            accepted = i;
            i += 1;
        } else {
            report.findings.push(finding(
                b,
                Problem::Reordered,
                format!(
                    "sequence {} comes after {}",
                    b.link.sequence, a.link.sequence
                ),
            ));
            i += 1;
        }
    }
}

fn check_digests(records: &[Record], options: &VerifyOptions, report: &mut VerifyReport) {
    for (index, record) in records.iter().enumerate().filter(|(_, r)| r.is_digest()) {
        let previous = index.checked_sub(1).map(|p| &records[p]);
        match digest_problem(record, previous, options) {
            Some(detail) => report
                .findings
                .push(finding(record, Problem::BadSignature, detail)),
            None if options.verifier.is_some() => report.digests_verified += 1,
            None => {}
        }
    }
}

/// Why a digest record does not vouch for the records before it, if it does not.
fn digest_problem(
    record: &Record,
    previous: Option<&Record>,
    options: &VerifyOptions,
) -> Option<String> {
    let digest = &record.value["digest"];
    let first = digest["firstSequence"].as_u64()?;
    let covered = format!(
        "records {first}..{}",
        record.link.sequence.saturating_sub(1)
    );
    if digest["lastRecordHash"].as_str() != Some(record.link.previous_hash.as_str())
        || digest["lastSequence"].as_u64() != Some(record.link.sequence.saturating_sub(1))
    {
        return Some(format!(
            "its fields disagree with its chain link; {covered} are in doubt"
        ));
    }
    if previous.is_some_and(|p| p.hash != record.link.previous_hash) {
        // Reported as a broken link already.
        return None;
    }
    if let Some(expected) = &options.signing_key_arn
        && digest["signingKeyId"].as_str() != Some(expected.as_str())
    {
        return Some(format!(
            "signed by {} instead of the audit key {expected}",
            digest["signingKeyId"]
        ));
    }
    let verifier = options.verifier.as_ref()?;
    let event_time = record.value["eventTime"].as_str().unwrap_or_default();
    let message = chain::digest_message(&record.link, first, event_time);
    let signature = digest["signature"]
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .unwrap_or_default();
    (!verifier.verifies(&message, &signature)).then(|| {
        format!("the signature does not verify: {covered} were rewritten, or the digest forged")
    })
}

fn check_tail(records: &[Record], options: &VerifyOptions, report: &mut VerifyReport) {
    let Some(last) = records.last() else {
        return;
    };
    if let Some(signed) = &options.signed_head {
        if last.link.sequence < signed.sequence {
            report.findings.push(finding(
                last,
                Problem::TruncatedTail,
                format!(
                    "the log ends here but s3seal signed up to sequence {}: records {}..{} were cut off",
                    signed.sequence,
                    last.link.sequence + 1,
                    signed.sequence
                ),
            ));
            return;
        }
        if let Some(at_head) = records.iter().find(|r| r.link.sequence == signed.sequence)
            && at_head.hash != signed.hash
        {
            report.findings.push(finding(
                at_head,
                Problem::Edited,
                "differs from the record s3seal signed at this sequence".into(),
            ));
        }
    }
    if !last.is_digest() && !options.open_tail {
        let first_unsigned = records
            .iter()
            .rev()
            .take_while(|r| !r.is_digest())
            .last()
            .map_or(last.link.sequence, |r| r.link.sequence);
        report.findings.push(finding(
            last,
            Problem::UnsignedTail,
            format!(
                "the log ends without a signed digest after records {first_unsigned}..{}: its tail was cut off (or s3seal is still writing it: --open-tail)",
                last.link.sequence
            ),
        ));
    }
}

#[cfg(test)]
mod tests;
