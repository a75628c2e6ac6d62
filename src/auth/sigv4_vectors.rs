//! Runs AWS's published Signature Version 4 test suite through [`super::sigv4`].
//!
//! The vectors live in `tests/data/sigv4-test-suite/<name>/<name>.{req,creq,sts,authz}`
//! (see the README there for their origin and for the vectors left out: the
//! ones that expect path normalisation or path encoding, which the S3 flavour
//! of SigV4 does not do). For each vector the `.req` request is parsed, the
//! canonical request is built with the `SignedHeaders` of the `.authz` file and
//! compared byte for byte with `.creq`, then the string to sign with `.sts`,
//! then the signature with the one in `.authz`.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::sigv4::{
    ALGORITHM, AuthorizationHeader, canonical_query, canonical_request, signature, signing_key,
    string_to_sign,
};

/// Credentials and scope of the test suite.
const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const DATE: &str = "20150830";
const AMZ_DATE: &str = "20150830T123600Z";
const REGION: &str = "us-east-1";
const SERVICE: &str = "service";

/// How many vector directories `tests/data/sigv4-test-suite` holds; the test
/// fails if fewer run (a vector silently disappearing must not go unnoticed).
const MIN_VECTORS: usize = 23;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4-test-suite")
}

/// A request of a `.req` file.
#[derive(Debug)]
struct Request {
    method: String,
    /// The request target before `?`, as written.
    path: String,
    /// The request target after the first `?`, as written.
    query: Option<String>,
    /// Lowercase name and raw value (everything after the first `:`, untrimmed),
    /// in file order; a repeated header appears once per line.
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Parses `METHOD target HTTP/1.1`, header lines up to the first blank line,
/// then the body (kept byte for byte). Accepts `\n` and `\r\n` line endings.
fn parse_request(raw: &[u8]) -> Result<Request, String> {
    let blank_lf = find(raw, b"\n\n").map(|i| (i, 2));
    let blank_crlf = find(raw, b"\r\n\r\n").map(|i| (i, 4));
    let (head, body) = match [blank_lf, blank_crlf].into_iter().flatten().min() {
        Some((at, len)) => (&raw[..at], raw[at + len..].to_vec()),
        None => (raw, Vec::new()),
    };
    let head = std::str::from_utf8(head).map_err(|e| format!("request head is not UTF-8: {e}"))?;
    let mut lines = head
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty());

    let request_line = lines.next().ok_or("empty .req file")?;
    let (method, rest) = request_line
        .split_once(' ')
        .ok_or("request line has no target")?;
    // The target may itself contain spaces in some vectors; the version is the last word.
    let (target, version) = rest
        .rsplit_once(' ')
        .ok_or("request line has no HTTP version")?;
    if !version.starts_with("HTTP/") {
        return Err(format!(
            "request line does not end in an HTTP version: {request_line:?}"
        ));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };

    let mut headers = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(format!(
                "obs-fold continuation line {line:?} is not supported"
            ));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without ':': {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.as_bytes().to_vec()));
    }
    Ok(Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Expected-output files: `\r\n` read as `\n`, trailing line breaks dropped
/// (no expected file ends in a line break of its own).
fn read_expected(path: &Path) -> Result<String, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .replace("\r\n", "\n")
        .trim_end_matches(['\n', '\r'])
        .to_string())
}

/// `SignedHeaders` and `Signature` of an `.authz` file, read independently of
/// [`AuthorizationHeader::parse`] (which is then checked against them).
fn authz_parts(authz: &str) -> Result<(Vec<String>, String), String> {
    let component = |name: &str| {
        authz
            .split([',', ' '])
            .find_map(|part| part.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
            .ok_or_else(|| format!("no {name} in the .authz file"))
    };
    let signed = component("SignedHeaders")?
        .split(';')
        .map(str::to_string)
        .collect();
    Ok((signed, component("Signature")?))
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// Checks one vector; the error says which step differs and how.
fn check_vector(dir: &Path, name: &str) -> Result<(), String> {
    let file = |ext: &str| dir.join(format!("{name}.{ext}"));
    let raw = fs::read(file("req")).map_err(|e| format!("cannot read .req: {e}"))?;
    let request = parse_request(&raw)?;
    let expected_creq = read_expected(&file("creq"))?;
    let expected_sts = read_expected(&file("sts"))?;
    let authz = read_expected(&file("authz"))?;

    let (signed_headers, expected_signature) = authz_parts(&authz)?;
    let signed_headers: Vec<&str> = signed_headers.iter().map(String::as_str).collect();

    // The header parser of sigv4 must read the same thing out of the header.
    let rest = authz
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or("the .authz file does not start with the algorithm")?;
    let parsed = AuthorizationHeader::parse(rest)
        .map_err(|e| format!("AuthorizationHeader::parse failed: {e}"))?;
    let scope = format!("{DATE}/{REGION}/{SERVICE}/aws4_request");
    if parsed.access_key_id != ACCESS_KEY_ID
        || parsed.scope() != scope
        || parsed.signed_headers != signed_headers
        || parsed.signature != expected_signature
    {
        return Err(format!(
            "AuthorizationHeader::parse read {parsed:?} out of {authz:?}"
        ));
    }

    let amz_date = match request.header_values("x-amz-date").as_slice() {
        [value] => std::str::from_utf8(value)
            .map_err(|_| "x-amz-date is not UTF-8")?
            .trim()
            .to_string(),
        other => {
            return Err(format!(
                "expected one x-amz-date header, found {}",
                other.len()
            ));
        }
    };
    if amz_date != AMZ_DATE {
        return Err(format!(
            "x-amz-date is {amz_date:?}, the suite uses {AMZ_DATE:?}"
        ));
    }

    let payload_hash = hex::encode(Sha256::digest(&request.body));
    let query = canonical_query(request.query.as_deref(), None);
    let creq = canonical_request(
        &request.method,
        &request.path,
        &query,
        &signed_headers,
        |name| request.header_values(name),
        &payload_hash,
    );
    if creq != expected_creq.as_bytes() {
        return Err(format!(
            "canonical request differs\n    expected: {}\n    actual:   {}",
            show(expected_creq.as_bytes()),
            show(&creq)
        ));
    }

    let sts = string_to_sign(&amz_date, &scope, &creq);
    if sts != expected_sts {
        return Err(format!(
            "string to sign differs\n    expected: {expected_sts:?}\n    actual:   {sts:?}"
        ));
    }

    let key = signing_key(SECRET, DATE, REGION, SERVICE);
    let computed = signature(&key, &sts);
    if computed != expected_signature {
        return Err(format!(
            "signature differs\n    expected: {expected_signature}\n    actual:   {computed}"
        ));
    }
    Ok(())
}

#[test]
fn aws_sigv4_test_suite() {
    let root = suite_dir();
    let mut names: Vec<String> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();

    let failures: Vec<String> = names
        .iter()
        .filter_map(|name| {
            check_vector(&root.join(name), name)
                .err()
                .map(|e| format!("{name}: {e}"))
        })
        .collect();

    assert!(
        failures.is_empty(),
        "{} of {} SigV4 test-suite vectors failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
    assert!(
        names.len() >= MIN_VECTORS,
        "only {} SigV4 vectors ran ({names:?}); expected at least {MIN_VECTORS}",
        names.len()
    );
}

/// The signing key of AWS's "derive a signing key" example (same secret, date
/// and region, service `iam`).
#[test]
fn documented_signing_key_example() {
    assert_eq!(
        hex::encode(signing_key(SECRET, DATE, REGION, "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
}

#[test]
fn request_parser_handles_crlf_duplicates_spaces_and_bodies() {
    let crlf = parse_request(
        b"POST /a/b?x=1&y HTTP/1.1\r\nHost:example.amazonaws.com\r\nMy-Header1: v1 \r\nMY-HEADER1:v2\r\n\r\nline1\r\nline2",
    )
    .unwrap();
    assert_eq!(crlf.method, "POST");
    assert_eq!(crlf.path, "/a/b");
    assert_eq!(crlf.query.as_deref(), Some("x=1&y"));
    assert_eq!(
        crlf.header_values("my-header1"),
        vec![&b" v1 "[..], &b"v2"[..]]
    );
    assert_eq!(crlf.body, b"line1\r\nline2");

    let lf =
        parse_request(b"GET /?p aram1=val ue1 HTTP/1.1\nHost:h\nX-Amz-Date:20150830T123600Z\n")
            .unwrap();
    assert_eq!(lf.path, "/");
    assert_eq!(lf.query.as_deref(), Some("p aram1=val ue1"));
    assert_eq!(
        lf.header_values("x-amz-date"),
        vec![&b"20150830T123600Z"[..]]
    );
    assert!(lf.body.is_empty());

    assert!(parse_request(b"GET / HTTP/1.1\nMy-Header1:value1\n  value2\n").is_err());
}
