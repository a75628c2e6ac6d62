//! AWS Signature Version 4: canonicalisation and signature computation.
//!
//! Pure functions over the request *as received*, so that a verifier rebuilds
//! exactly the canonical request the client signed. (The `aws-sigv4` crate is a
//! signer that canonicalises its own view of a request; s3seal uses it for
//! upstream requests.) S3 flavour: the canonical URI is the path as sent,
//! without normalisation or double encoding.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

impl<'a> AuthorizationHeader<'a> {
    /// Parses the text after `AWS4-HMAC-SHA256 `. Returns a human-readable
    /// reason when the header is malformed.
    pub fn parse(rest: &'a str) -> Result<Self, &'static str> {
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            let (name, value) = part
                .split_once('=')
                .ok_or("each component must be name=value")?;
            let slot = match name.trim() {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err("unknown component in the Authorization header"),
            };
            if slot.replace(value.trim()).is_some() {
                return Err("repeated component in the Authorization header");
            }
        }
        let credential = credential.ok_or("missing Credential")?;
        let signed = signed.ok_or("missing SignedHeaders")?;
        let signature = signature.ok_or("missing Signature")?;
        let scope = Credential::parse(credential)?;
        if signed.is_empty() {
            return Err("missing SignedHeaders");
        }
        Ok(AuthorizationHeader {
            access_key_id: scope.access_key_id,
            date: scope.date,
            region: scope.region,
            service: scope.service,
            terminator: scope.terminator,
            signed_headers: signed.split(';').collect(),
            signature,
        })
    }

    /// The credential the header names.
    pub fn credential(&self) -> Credential<'a> {
        Credential {
            access_key_id: self.access_key_id,
            date: self.date,
            region: self.region,
            service: self.service,
            terminator: self.terminator,
        }
    }

    pub fn scope(&self) -> String {
        self.credential().scope()
    }
}

/// A SigV4 credential: `<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request`,
/// as in the `Authorization` header, `X-Amz-Credential` (presigned URLs) and
/// the `x-amz-credential` field of POST forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
}

impl<'a> Credential<'a> {
    pub fn parse(text: &'a str) -> Result<Self, &'static str> {
        // Split from the right: an access key id could in theory contain '/'.
        let mut scope = text.rsplitn(5, '/');
        let mut next = || scope.next().ok_or("malformed credential scope");
        let (terminator, service, region, date, access_key_id) =
            (next()?, next()?, next()?, next()?, next()?);
        if access_key_id.is_empty() || date.len() != 8 {
            return Err("malformed credential scope");
        }
        Ok(Credential {
            access_key_id,
            date,
            region,
            service,
            terminator,
        })
    }

    /// `<date>/<region>/<service>/aws4_request`, the scope line of the string to sign.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

/// AWS URI encoding: every byte except `A-Za-z0-9-_.~` as `%XX` (uppercase);
/// `/` kept when `keep_slash`.
pub fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len() * 3);
    for &b in input {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Canonical query string from a raw query: each name and value decoded, then
/// AWS-encoded, pairs sorted by name then value. `skip` drops a parameter
/// (the signature itself, for presigned URLs).
pub fn canonical_query(raw_query: Option<&str>, skip: Option<&str>) -> String {
    let Some(raw) = raw_query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
            let value: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
            (uri_encode(&name, false), uri_encode(&value, false))
        })
        .filter(|(name, _)| skip != Some(name.as_str()))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// A header value in canonical form: trimmed, inner runs of spaces collapsed.
fn canonical_header_value(value: &[u8], out: &mut Vec<u8>) {
    let mut previous_space = false;
    let trimmed = value.trim_ascii();
    for &b in trimmed {
        let is_space = b == b' ' || b == b'\t';
        if is_space {
            if !previous_space {
                out.push(b' ');
            }
        } else {
            out.push(b);
        }
        previous_space = is_space;
    }
}

/// Builds the canonical request. `header_values(name)` returns every value of
/// the (lowercase) header `name` in the order received.
pub fn canonical_request<'h>(
    method: &str,
    raw_path: &str,
    canonical_query: &str,
    signed_headers: &[&str],
    header_values: impl Fn(&str) -> Vec<&'h [u8]>,
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(if raw_path.is_empty() {
        b"/"
    } else {
        raw_path.as_bytes()
    });
    out.push(b'\n');
    out.extend_from_slice(canonical_query.as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in header_values(name).into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            canonical_header_value(value, &mut out);
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The derived signing key for a date (YYYYMMDD), region and service. It
/// and every intermediate key (and the `AWS4<secret>` copy of the secret)
/// are zeroized when dropped.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Zeroizing<[u8; 32]> {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = Zeroizing::new(hmac(&k_secret, date.as_bytes()));
    let k_region = Zeroizing::new(hmac(&k_date[..], region.as_bytes()));
    let k_service = Zeroizing::new(hmac(&k_region[..], service.as_bytes()));
    Zeroizing::new(hmac(&k_service[..], b"aws4_request"))
}

/// Hex signature of `string_to_sign` (or any chained string, e.g. a chunk's).
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// Compares a provided signature with the computed one in constant time:
/// every SigV4 check (header, presigned URL, POST form, aws-chunked chunk
/// and trailer signatures) goes through here. Only the length, which is
/// public (64 hex digits), decides early.
pub fn signatures_match(provided: &str, computed: &str) -> bool {
    super::secrets_equal(provided, computed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorization_header() {
        let h = AuthorizationHeader::parse(
            "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(h.access_key_id, "AKIDEXAMPLE");
        assert_eq!(h.scope(), "20150830/us-east-1/service/aws4_request");
        assert_eq!(h.signed_headers, vec!["host", "x-amz-date"]);
        assert!(
            AuthorizationHeader::parse(
                "Credential=AK/2015/us/s3/aws4_request,SignedHeaders=host,Signature=a"
            )
            .is_err()
        );
        assert!(AuthorizationHeader::parse("Credential=a/b").is_err());
        assert!(AuthorizationHeader::parse("SignedHeaders=host, Signature=x").is_err());
        assert!(AuthorizationHeader::parse("Credential=AK/20150830/r/s/aws4_request, Credential=x, SignedHeaders=host, Signature=x").is_err());
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query(Some("b=2&a=1&a=0"), None), "a=0&a=1&b=2");
        assert_eq!(canonical_query(Some("uploads"), None), "uploads=");
        assert_eq!(
            canonical_query(Some("prefix=a%2Fb c&x=%7e"), None),
            "prefix=a%2Fb%20c&x=~"
        );
        assert_eq!(
            canonical_query(Some("X-Amz-Signature=zz&a=1"), Some("X-Amz-Signature")),
            "a=1"
        );
        assert_eq!(canonical_query(None, None), "");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let mut out = Vec::new();
        canonical_header_value(b"  a   b  c ", &mut out);
        assert_eq!(out, b"a b c");
    }

    /// The example from AWS's SigV4 documentation (GET object with a range).
    #[test]
    fn aws_s3_documentation_example_get_object() {
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            (
                "x-amz-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let signed = ["host", "range", "x-amz-content-sha256", "x-amz-date"];
        let creq = canonical_request(
            "GET",
            "/test.txt",
            "",
            &signed,
            |name| {
                headers
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_bytes())
                    .collect()
            },
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
        let sts = string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &creq,
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        assert_eq!(
            signature(&key, &sts),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(signatures_match(
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            &signature(&key, &sts)
        ));
        assert!(!signatures_match("f0e8", &signature(&key, &sts)));
    }

    /// A signature differing from the expected one in its first or last
    /// byte, or only in case, or a prefix or extension of it, is refused.
    #[test]
    fn signatures_match_needs_every_byte() {
        let good = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        assert!(signatures_match(good, good));
        let first = format!("e{}", &good[1..]);
        let last = format!("{}0", &good[..63]);
        let upper = good.to_ascii_uppercase();
        for bad in [
            first.as_str(),
            last.as_str(),
            upper.as_str(),
            &good[..63],
            &format!("{good}0"),
            "",
        ] {
            assert!(!signatures_match(bad, good), "{bad:?} matched");
            assert!(!signatures_match(good, bad), "{bad:?} matched");
        }
    }

    /// The signing key depends on every part of the scope and on the secret.
    #[test]
    fn signing_key_depends_on_secret_and_scope() {
        let key = signing_key("secret", "20130524", "us-east-1", "s3");
        for other in [
            signing_key("secreT", "20130524", "us-east-1", "s3"),
            signing_key("secret", "20130525", "us-east-1", "s3"),
            signing_key("secret", "20130524", "us-east-2", "s3"),
            signing_key("secret", "20130524", "us-east-1", "kms"),
        ] {
            assert_ne!(*key, *other);
        }
    }
}
