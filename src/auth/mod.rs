//! Client authentication: AWS Signature Version 4 against s3seal's own credentials.
//!
//! [`Authenticator::authenticate`] checks the `Authorization` header of a
//! request, or a presigned URL's query parameters, and yields the
//! [`Principal`] plus what the client declared about its payload
//! ([`PayloadHash`]), which [`crate::integrity`] then verifies as the body streams.
//! Browser POST uploads sign a policy document carried in their form instead
//! ([`post_form`]); the POST handler reads the form and asks for that check.

pub mod credentials;
pub mod post_form;
pub mod sigv4;
#[cfg(test)]
mod sigv4_vectors;

use std::time::{Duration, SystemTime};

use http::request::Parts;
use time::OffsetDateTime;
use time::macros::format_description;

pub use credentials::{ClientCredential, CredentialStore, Principal, Secret};

/// The access key id a request claims (header or presigned query), read
/// without verifying anything: for the audit record of a failed attempt.
pub fn claimed_access_key_id(parts: &http::request::Parts) -> Option<String> {
    let from_header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1));
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("X-Amz-Credential="))
    });
    let credential = from_header.or(from_query)?;
    let decoded = percent_encoding::percent_decode_str(credential).decode_utf8_lossy();
    let key_id = decoded.split(['/', ',']).next()?.trim();
    (!key_id.is_empty() && key_id.len() <= 128).then(|| key_id.to_string())
}

/// Whether two strings derived from secrets (signatures, tokens, digests
/// of key material) are equal, in constant time: only their length, which
/// is public, decides early.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The client's `User-Agent`, bounded, for the audit record.
pub fn user_agent(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect())
}

use crate::error::{S3Error, S3ErrorCode};
use sigv4::AuthorizationHeader;

/// Maximum difference between the request time and s3seal's clock (as on AWS).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// What `x-amz-content-sha256` said about the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadHash {
    /// The hex SHA-256 of the body; the body must match it.
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// One of the `STREAMING-…` aws-chunked modes.
    Streaming(String),
}

/// How a request proved who sent it. Bucket policies see it as the
/// `s3:authType` and `s3:signatureversion` condition keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// SigV4 in the `Authorization` header.
    Header,
    /// A presigned URL: SigV4 in the query parameters.
    QueryString,
    /// A browser POST form: a policy signed with SigV4, or with SigV2 when `sigv2`.
    PostForm { sigv2: bool },
}

impl AuthMethod {
    /// The value of `s3:authType`.
    pub fn auth_type(self) -> &'static str {
        match self {
            AuthMethod::Header => "REST-HEADER",
            AuthMethod::QueryString => "REST-QUERY-STRING",
            AuthMethod::PostForm { .. } => "POST",
        }
    }

    /// The value of `s3:signatureversion`: `AWS` for SigV2.
    pub fn signature_version(self) -> &'static str {
        match self {
            AuthMethod::PostForm { sigv2: true } => "AWS",
            _ => sigv4::ALGORITHM,
        }
    }
}

/// The outcome of authenticating a request.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub principal: Principal,
    pub method: AuthMethod,
    pub payload: PayloadHash,
    /// For `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` bodies: what
    /// verifying each chunk's signature needs.
    pub chunk_signing: Option<crate::integrity::aws_chunked::ChunkSigning>,
}

pub struct Authenticator {
    credentials: CredentialStore,
    region: String,
}

impl Authenticator {
    pub fn new(credentials: CredentialStore, region: &str) -> Self {
        Authenticator {
            credentials,
            region: region.to_string(),
        }
    }

    /// The secret of a configured access key id: it keys the MAC on the
    /// answers to peer deployments ([`crate::kms::replication::peer`]).
    pub fn secret_of(&self, access_key_id: &str) -> Option<&Secret> {
        self.credentials
            .lookup(access_key_id)
            .map(|(secret, _)| secret)
    }

    /// The secret and principal of an access key id.
    fn credential(&self, access_key_id: &str) -> Result<(&Secret, Principal), S3Error> {
        self.credentials.lookup(access_key_id).ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            )
            .with_detail("AWSAccessKeyId", access_key_id)
        })
    }

    /// Verifies the request's SigV4 signature for `service` ("s3"): the
    /// `Authorization` header, or a presigned URL's query parameters.
    pub fn authenticate(
        &self,
        parts: &Parts,
        service: &str,
        now: SystemTime,
    ) -> Result<AuthContext, S3Error> {
        if parts.headers.get("authorization").is_none() {
            if query_param(parts, "X-Amz-Signature").is_some() {
                return self.verify_presigned(parts, service, now);
            }
            if query_param(parts, "AWSAccessKeyId").is_some() {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    "Signature Version 2 presigned URLs are not supported; presign with Signature Version 4 (aws configure set default.s3.signature_version s3v4)",
                ));
            }
        }
        self.verify(parts, service, now, None)
    }

    /// SigV4 query authentication (presigned URLs): the signature covers the
    /// URL (minus `X-Amz-Signature`) and the signed headers, with
    /// `UNSIGNED-PAYLOAD` unless an `x-amz-content-sha256` header says otherwise.
    fn verify_presigned(
        &self,
        parts: &Parts,
        service: &str,
        now: SystemTime,
    ) -> Result<AuthContext, S3Error> {
        let required = || {
            S3Error::new(
                S3ErrorCode::AccessDenied,
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            )
        };
        let param = |name: &str| query_param(parts, name).ok_or_else(required);
        if param("X-Amz-Algorithm")? != sigv4::ALGORITHM {
            return Err(S3Error::new(
                S3ErrorCode::AuthorizationHeaderMalformed,
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            ));
        }
        let credential = param("X-Amz-Credential")?;
        let signed_headers = param("X-Amz-SignedHeaders")?;
        let signature = param("X-Amz-Signature")?;
        let header_text = format!(
            "Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"
        );
        let auth = AuthorizationHeader::parse(&header_text).map_err(malformed)?;
        let (secret, principal) = self.credential(auth.access_key_id)?;
        let date_text = param("X-Amz-Date")?;
        let at = time::PrimitiveDateTime::parse(
            &date_text,
            format_description!("[year][month][day]T[hour][minute][second]Z"),
        )
        .map_err(|_| {
            malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        })?
        .assume_utc();
        let expires: i64 = param("X-Amz-Expires")?
            .parse()
            .ok()
            .filter(|e| (1..=604_800).contains(e))
            .ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::AuthorizationHeaderMalformed,
                    "X-Amz-Expires must be between 1 and 604800 seconds",
                )
            })?;
        let now_at = OffsetDateTime::from(now);
        if now_at > at + time::Duration::seconds(expires) {
            return Err(
                S3Error::new(S3ErrorCode::AccessDenied, "Request has expired")
                    .with_detail("X-Amz-Expires", expires.to_string())
                    .with_detail(
                        "Expires",
                        (at + time::Duration::seconds(expires)).to_string(),
                    ),
            );
        }
        if at > now_at + MAX_CLOCK_SKEW {
            return Err(S3Error::new(
                S3ErrorCode::AccessDenied,
                "Request is not valid yet",
            ));
        }
        let amz_date = RequestTime {
            text: date_text.clone(),
            at,
        };
        self.check_scope(&auth, &amz_date, service)?;
        if !auth.signed_headers.contains(&"host") {
            return Err(malformed("the host header must be signed"));
        }
        check_all_amz_headers_signed(parts, &auth.signed_headers)?;
        let payload_hash_text = match single_header(parts, "x-amz-content-sha256")? {
            Some(v) => std::str::from_utf8(v)
                .map_err(|_| bad_content_sha256())?
                .to_string(),
            None => "UNSIGNED-PAYLOAD".to_string(),
        };
        let payload = parse_payload_hash(&payload_hash_text)?;
        let canonical_query = sigv4::canonical_query(parts.uri.query(), Some("X-Amz-Signature"));
        let (key, sts, _) = expected_signing(
            parts,
            &auth,
            &amz_date.text,
            secret,
            &canonical_query,
            &payload_hash_text,
        );
        if !sigv4::signatures_match(auth.signature, &sigv4::signature(&key, &sts)) {
            return Err(S3Error::new(
                S3ErrorCode::SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            )
            .with_detail("AWSAccessKeyId", auth.access_key_id));
        }
        if matches!(payload, PayloadHash::Streaming(_)) {
            return Err(S3Error::not_implemented(
                "aws-chunked bodies with presigned URLs",
            ));
        }
        Ok(AuthContext {
            principal,
            method: AuthMethod::QueryString,
            payload,
            chunk_signing: None,
        })
    }

    /// Verifies a request of a service whose clients sign the body's hash
    /// without sending it (KMS): `body_sha256_hex` is the hash of the body read.
    pub fn authenticate_with_body(
        &self,
        parts: &Parts,
        service: &str,
        now: SystemTime,
        body_sha256_hex: &str,
    ) -> Result<AuthContext, S3Error> {
        self.verify(parts, service, now, Some(body_sha256_hex))
    }

    fn verify(
        &self,
        parts: &Parts,
        service: &str,
        now: SystemTime,
        body_sha256_hex: Option<&str>,
    ) -> Result<AuthContext, S3Error> {
        let header = single_header(parts, "authorization")?.ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::AccessDenied,
                "Anonymous access is not allowed; sign requests with AWS Signature Version 4",
            )
        })?;
        let header = std::str::from_utf8(header)
            .map_err(|_| malformed("the Authorization header is not ASCII"))?;
        let rest = match header.split_once(' ') {
            Some((sigv4::ALGORITHM, rest)) => rest,
            Some(("AWS", _)) => {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
                ));
            }
            _ => return Err(S3Error::invalid_argument("Unsupported Authorization Type")),
        };
        let auth = AuthorizationHeader::parse(rest).map_err(malformed)?;

        let (secret, principal) = self.credential(auth.access_key_id)?;

        let amz_date = request_time(parts)?;
        check_skew(&amz_date, now)?;
        self.check_scope(&auth, &amz_date, service)?;
        if !auth.signed_headers.contains(&"host") {
            return Err(malformed("the host header must be signed"));
        }
        check_all_amz_headers_signed(parts, &auth.signed_headers)?;

        let payload_hash_text = match (
            single_header(parts, "x-amz-content-sha256")?,
            body_sha256_hex,
        ) {
            (Some(v), _) => std::str::from_utf8(v).map_err(|_| bad_content_sha256())?,
            (None, Some(hash)) => hash,
            (None, None) => {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    "Missing required header for this request: x-amz-content-sha256",
                ));
            }
        };
        let payload = parse_payload_hash(payload_hash_text)?;

        let canonical_query = sigv4::canonical_query(parts.uri.query(), None);
        let (key, sts, creq) = expected_signing(
            parts,
            &auth,
            &amz_date.text,
            secret,
            &canonical_query,
            payload_hash_text,
        );
        if !sigv4::signatures_match(auth.signature, &sigv4::signature(&key, &sts)) {
            return Err(S3Error::new(
                S3ErrorCode::SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            )
            .with_detail("AWSAccessKeyId", auth.access_key_id)
            .with_detail("StringToSign", sts)
            .with_detail("CanonicalRequest", String::from_utf8_lossy(&creq).into_owned()));
        }
        let chunk_signing = match &payload {
            PayloadHash::Streaming(mode)
                if mode.starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") =>
            {
                Some(crate::integrity::aws_chunked::ChunkSigning {
                    signing_key: key,
                    amz_date: amz_date.text.clone(),
                    scope: auth.scope(),
                    seed_signature: auth.signature.to_string(),
                })
            }
            _ => None,
        };
        Ok(AuthContext {
            principal,
            method: AuthMethod::Header,
            payload,
            chunk_signing,
        })
    }

    fn check_scope(
        &self,
        auth: &AuthorizationHeader<'_>,
        amz_date: &RequestTime,
        service: &str,
    ) -> Result<(), S3Error> {
        if !amz_date.text.starts_with(auth.date) {
            return Err(malformed(
                "Invalid credential date. Date is not the same as X-Amz-Date.",
            ));
        }
        if auth.region != self.region {
            return Err(S3Error::new(
                S3ErrorCode::AuthorizationHeaderMalformed,
                format!("The authorization header is malformed; the region '{}' is wrong; expecting '{}'", auth.region, self.region),
            )
            .with_detail("Region", self.region.clone()));
        }
        if auth.service != service || auth.terminator != "aws4_request" {
            return Err(malformed(
                "the credential scope must end in /<service>/aws4_request for this endpoint",
            ));
        }
        Ok(())
    }
}

fn malformed(reason: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::AuthorizationHeaderMalformed,
        format!("The authorization header is malformed; {reason}"),
    )
}

/// What a correct signature is computed from: the signing key, the string
/// to sign and the canonical request (the last two are reported on mismatch).
fn expected_signing(
    parts: &Parts,
    auth: &AuthorizationHeader<'_>,
    amz_date: &str,
    secret: &Secret,
    canonical_query: &str,
    payload_hash: &str,
) -> (zeroize::Zeroizing<[u8; 32]>, String, Vec<u8>) {
    let creq = sigv4::canonical_request(
        parts.method.as_str(),
        parts.uri.path(),
        canonical_query,
        &auth.signed_headers,
        |name| {
            parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| v.as_bytes())
                .collect()
        },
        payload_hash,
    );
    let sts = sigv4::string_to_sign(amz_date, &auth.scope(), &creq);
    let key = sigv4::signing_key(secret.expose(), auth.date, auth.region, auth.service);
    (key, sts, creq)
}

/// Query parameters that carry a presigned URL's authentication.
pub const PRESIGN_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// One decoded query parameter.
fn query_param(parts: &Parts, name: &str) -> Option<String> {
    parts.uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn bad_content_sha256() -> S3Error {
    S3Error::invalid_argument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
    )
}

fn parse_payload_hash(value: &str) -> Result<PayloadHash, S3Error> {
    match value {
        "UNSIGNED-PAYLOAD" => Ok(PayloadHash::Unsigned),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
        | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER" => {
            Ok(PayloadHash::Streaming(value.to_string()))
        }
        "" => Ok(PayloadHash::Unsigned),
        hex_text => {
            let mut digest = [0u8; 32];
            if hex_text.len() != 64 || hex::decode_to_slice(hex_text, &mut digest).is_err() {
                return Err(bad_content_sha256());
            }
            Ok(PayloadHash::Sha256(digest))
        }
    }
}

/// The request time as signed: the `x-amz-date` text and its instant.
struct RequestTime {
    text: String,
    at: OffsetDateTime,
}

fn request_time(parts: &Parts) -> Result<RequestTime, S3Error> {
    let missing = || {
        S3Error::new(
            S3ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    };
    if let Some(value) = single_header(parts, "x-amz-date")? {
        let text = std::str::from_utf8(value).map_err(|_| missing())?;
        let format = format_description!("[year][month][day]T[hour][minute][second]Z");
        let at = time::PrimitiveDateTime::parse(text, format)
            .map_err(|_| missing())?
            .assume_utc();
        return Ok(RequestTime {
            text: text.to_string(),
            at,
        });
    }
    let value = single_header(parts, "date")?.ok_or_else(missing)?;
    let parsed = httpdate::parse_http_date(std::str::from_utf8(value).map_err(|_| missing())?)
        .map_err(|_| missing())?;
    let at = OffsetDateTime::from(parsed);
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    Ok(RequestTime {
        text: at.format(format).map_err(|_| missing())?,
        at,
    })
}

fn check_skew(request: &RequestTime, now: SystemTime) -> Result<(), S3Error> {
    let now = OffsetDateTime::from(now);
    let skew = (now - request.at).unsigned_abs();
    if skew > MAX_CLOCK_SKEW {
        let iso = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        return Err(S3Error::new(
            S3ErrorCode::RequestTimeTooSkewed,
            "The difference between the request time and the current time is too large.",
        )
        .with_detail("RequestTime", request.text.clone())
        .with_detail("ServerTime", now.format(iso).unwrap_or_default())
        .with_detail(
            "MaxAllowedSkewMilliseconds",
            MAX_CLOCK_SKEW.as_millis().to_string(),
        ));
    }
    Ok(())
}

/// AWS refuses requests carrying `x-amz-*` headers the signature does not cover.
fn check_all_amz_headers_signed(parts: &Parts, signed: &[&str]) -> Result<(), S3Error> {
    let unsigned: Vec<&str> = parts
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-") && !signed.contains(k))
        .collect();
    if unsigned.is_empty() {
        return Ok(());
    }
    Err(S3Error::new(
        S3ErrorCode::AccessDenied,
        "There were headers present in the request which were not signed",
    )
    .with_detail("HeadersNotSigned", unsigned.join(", ")))
}

/// The value of a header that must appear at most once.
fn single_header<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a [u8]>, S3Error> {
    let mut values = parts.headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(S3Error::invalid_argument(format!(
            "the {name} header must appear only once"
        )));
    }
    Ok(first.map(|v| v.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn authenticator() -> Authenticator {
        let cred = ClientCredential {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new(SECRET),
            principal: "alice".into(),
            buckets: vec!["*".into()],
        };
        Authenticator::new(
            CredentialStore::new(&[cred], "000000000000").unwrap(),
            "us-east-1",
        )
    }

    /// The GET-object example of AWS's S3 SigV4 documentation.
    fn example_request(signature: &str) -> Parts {
        let (parts, _) = http::Request::get("/test.txt")
            .header("host", "examplebucket.s3.amazonaws.com")
            .header("range", "bytes=0-9")
            .header("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            .header("x-amz-date", "20130524T000000Z")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={signature}"
                ),
            )
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    fn at_example_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600 + 60)
    }

    #[test]
    fn accepts_the_aws_example_and_rejects_variations() {
        let good = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        let auth = authenticator()
            .authenticate(&example_request(good), "s3", at_example_time())
            .unwrap();
        assert_eq!(auth.principal.name, "alice");
        assert!(matches!(auth.payload, PayloadHash::Sha256(_)));

        // Wrong in the last byte, in the first byte, or only in case.
        for bad in [
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42",
            "e0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            "F0E8BDB87C964420E857BD35B5D6ED310BD44F0170ABA48DD91039C6036BDB41",
        ] {
            let err = authenticator()
                .authenticate(&example_request(bad), "s3", at_example_time())
                .unwrap_err();
            assert_eq!(err.code, S3ErrorCode::SignatureDoesNotMatch, "{bad}");
        }

        // The same request, replayed: accepted up to 15 minutes either side
        // of its x-amz-date, refused beyond.
        let signed_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        for inside in [signed_at + MAX_CLOCK_SKEW, signed_at - MAX_CLOCK_SKEW] {
            assert!(
                authenticator()
                    .authenticate(&example_request(good), "s3", inside)
                    .is_ok()
            );
        }
        for outside in [
            signed_at + MAX_CLOCK_SKEW + Duration::from_secs(1),
            signed_at - MAX_CLOCK_SKEW - Duration::from_secs(1),
            at_example_time() + Duration::from_secs(16 * 60),
        ] {
            let err = authenticator()
                .authenticate(&example_request(good), "s3", outside)
                .unwrap_err();
            assert_eq!(err.code, S3ErrorCode::RequestTimeTooSkewed);
        }

        let mut parts = example_request(good);
        parts
            .headers
            .insert("x-amz-meta-sneaky", "1".parse().unwrap());
        let err = authenticator()
            .authenticate(&parts, "s3", at_example_time())
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::AccessDenied);

        let err = authenticator()
            .authenticate(&example_request(good), "kms", at_example_time())
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::AuthorizationHeaderMalformed);
    }

    /// The seed request of AWS's aws-chunked example ("Transferring Payload
    /// in Multiple Chunks"): its authentication carries the signing key for
    /// the chunks, which Debug output must never show.
    #[test]
    fn debug_of_a_streaming_auth_context_hides_the_signing_key() {
        let (parts, _) = http::Request::put("/examplebucket/chunkObject.txt")
            .header("host", "s3.amazonaws.com")
            .header("x-amz-date", "20130524T000000Z")
            .header("x-amz-storage-class", "REDUCED_REDUNDANCY")
            .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
            .header("content-encoding", "aws-chunked")
            .header("x-amz-decoded-content-length", "66560")
            .header("content-length", "66824")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            )
            .body(())
            .unwrap()
            .into_parts();
        let auth = authenticator()
            .authenticate(&parts, "s3", at_example_time())
            .unwrap();
        let signing = auth
            .chunk_signing
            .as_ref()
            .expect("a signed streaming body");
        let key = sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(*signing.signing_key, *key);
        let shown = format!("{auth:?}");
        for form in [
            hex::encode(*key),
            format!("{:?}", &key[..4]).trim_end_matches(']').to_string(),
            SECRET.to_string(),
        ] {
            assert!(!shown.contains(&form), "{form} in {shown}");
        }
        assert!(shown.contains("alice"), "{shown}");
    }

    #[test]
    fn unknown_key_anonymous_and_sigv2() {
        let mut parts = example_request("00");
        let text = parts.headers["authorization"]
            .to_str()
            .unwrap()
            .replace("AKIAIOSFODNN7EXAMPLE", "NOPE");
        parts.headers.insert("authorization", text.parse().unwrap());
        let err = authenticator()
            .authenticate(&parts, "s3", at_example_time())
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidAccessKeyId);

        parts.headers.remove("authorization");
        let err = authenticator()
            .authenticate(&parts, "s3", at_example_time())
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::AccessDenied);

        parts.headers.insert(
            "authorization",
            "AWS AKIAIOSFODNN7EXAMPLE:abc".parse().unwrap(),
        );
        let err = authenticator()
            .authenticate(&parts, "s3", at_example_time())
            .unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidRequest);
    }

    #[test]
    fn payload_hash_values() {
        assert_eq!(
            parse_payload_hash("UNSIGNED-PAYLOAD").unwrap(),
            PayloadHash::Unsigned
        );
        assert!(matches!(
            parse_payload_hash("STREAMING-UNSIGNED-PAYLOAD-TRAILER").unwrap(),
            PayloadHash::Streaming(_)
        ));
        assert!(parse_payload_hash("abc").is_err());
        assert!(parse_payload_hash(&"g".repeat(64)).is_err());
    }
}
