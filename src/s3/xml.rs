//! The small S3 XML documents s3seal reads or writes itself (quick-xml + serde).
//!
//! Listings are rewritten as event streams in [`super::listing`]; the
//! documents here are small enough to read whole: bodies of multipart
//! requests and the results the upstream returns for them.

use serde::{Deserialize, Serialize};

use super::checksums::ObjectChecksum;
use crate::error::S3Error;
use crate::integrity::ChecksumAlgorithm;

const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A client's `CompleteMultipartUpload` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CompletedPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
    /// The client's checksums of the part's plaintext (never sent upstream).
    #[serde(rename = "ChecksumCRC32", default, skip_serializing)]
    pub checksum_crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C", default, skip_serializing)]
    pub checksum_crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME", default, skip_serializing)]
    pub checksum_crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1", default, skip_serializing)]
    pub checksum_sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256", default, skip_serializing)]
    pub checksum_sha256: Option<String>,
}

impl CompletedPart {
    pub fn new(part_number: u32, etag: String) -> Self {
        CompletedPart {
            part_number,
            etag,
            checksum_crc32: None,
            checksum_crc32c: None,
            checksum_crc64nvme: None,
            checksum_sha1: None,
            checksum_sha256: None,
        }
    }

    /// The checksums the client listed for this part.
    pub fn declared_checksums(&self) -> impl Iterator<Item = (ChecksumAlgorithm, &str)> {
        [
            (ChecksumAlgorithm::Crc32, &self.checksum_crc32),
            (ChecksumAlgorithm::Crc32c, &self.checksum_crc32c),
            (ChecksumAlgorithm::Crc64Nvme, &self.checksum_crc64nvme),
            (ChecksumAlgorithm::Sha1, &self.checksum_sha1),
            (ChecksumAlgorithm::Sha256, &self.checksum_sha256),
        ]
        .into_iter()
        .filter_map(|(algorithm, value)| value.as_deref().map(|v| (algorithm, v.trim())))
    }
}

impl CompleteMultipartUpload {
    pub fn parse(xml: &[u8]) -> Result<Self, S3Error> {
        parse(xml).map_err(|e| {
            S3Error::new(
                crate::error::S3ErrorCode::MalformedXML,
                format!("The XML you provided was not well-formed or did not validate against our published schema: {e}"),
            )
        })
    }

    /// The body sent upstream: part numbers and ETags only. The client's
    /// per-part checksums describe plaintext; the upstream holds ciphertext.
    pub fn upstream_body(&self) -> Result<String, S3Error> {
        #[derive(Serialize)]
        #[serde(rename = "CompleteMultipartUpload")]
        struct Body<'a> {
            #[serde(rename = "@xmlns")]
            xmlns: &'static str,
            #[serde(rename = "Part")]
            parts: &'a [CompletedPart],
        }
        quick_xml::se::to_string(&Body {
            xmlns: S3_NAMESPACE,
            parts: &self.parts,
        })
        .map_err(|e| S3Error::internal(format!("cannot write CompleteMultipartUpload: {e}")))
    }
}

/// The upstream's answer to CreateMultipartUpload.
#[derive(Debug, Deserialize)]
pub struct InitiateMultipartUploadResult {
    #[serde(rename = "UploadId")]
    pub upload_id: String,
}

/// The upstream's answer to CompleteMultipartUpload (S3 may answer 200 with
/// an `<Error>` document instead, which does not parse as this).
#[derive(Debug, Deserialize)]
pub struct CompleteMultipartUploadResult {
    #[serde(rename = "Location", default)]
    pub location: Option<String>,
    #[serde(rename = "Bucket", default)]
    pub bucket: Option<String>,
    #[serde(rename = "Key", default)]
    pub key: Option<String>,
    #[serde(rename = "ETag")]
    pub etag: String,
}

impl CompleteMultipartUploadResult {
    /// The result as s3seal answers it: the upstream's, plus the object's
    /// plaintext checksum (a checksum element named after its algorithm).
    pub fn to_xml(&self, checksum: Option<&ObjectChecksum>) -> Result<String, S3Error> {
        #[derive(Serialize)]
        #[serde(rename = "CompleteMultipartUploadResult")]
        struct Out<'a> {
            #[serde(rename = "@xmlns")]
            xmlns: &'static str,
            #[serde(rename = "Location", skip_serializing_if = "Option::is_none")]
            location: Option<&'a str>,
            #[serde(rename = "Bucket", skip_serializing_if = "Option::is_none")]
            bucket: Option<&'a str>,
            #[serde(rename = "Key", skip_serializing_if = "Option::is_none")]
            key: Option<&'a str>,
            #[serde(rename = "ETag")]
            etag: &'a str,
            #[serde(rename = "$value", skip_serializing_if = "Vec::is_empty")]
            checksum: Vec<ChecksumElement>,
        }
        let out = Out {
            xmlns: S3_NAMESPACE,
            location: self.location.as_deref(),
            bucket: self.bucket.as_deref(),
            key: self.key.as_deref(),
            etag: &self.etag,
            checksum: checksum.map(ChecksumElement::of).unwrap_or_default(),
        };
        with_declaration(quick_xml::se::to_string(&out))
    }
}

/// `<ChecksumCRC32>…</ChecksumCRC32>` (named after the algorithm) and `<ChecksumType>`.
#[derive(Debug, Serialize)]
pub enum ChecksumElement {
    ChecksumCRC32(String),
    ChecksumCRC32C(String),
    ChecksumCRC64NVME(String),
    ChecksumSHA1(String),
    ChecksumSHA256(String),
    ChecksumType(&'static str),
}

impl ChecksumElement {
    pub fn value(algorithm: ChecksumAlgorithm, value: String) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::ChecksumCRC32(value),
            ChecksumAlgorithm::Crc32c => Self::ChecksumCRC32C(value),
            ChecksumAlgorithm::Crc64Nvme => Self::ChecksumCRC64NVME(value),
            ChecksumAlgorithm::Sha1 => Self::ChecksumSHA1(value),
            ChecksumAlgorithm::Sha256 => Self::ChecksumSHA256(value),
        }
    }

    /// The object's checksum value and type.
    pub fn of(checksum: &ObjectChecksum) -> Vec<Self> {
        vec![
            Self::value(checksum.algorithm, checksum.value()),
            Self::ChecksumType(checksum.object_type.name()),
        ]
    }
}

/// One page of the upstream's ListParts.
#[derive(Debug, Deserialize)]
pub struct ListPartsResult {
    #[serde(rename = "Part", default)]
    pub parts: Vec<ListedPart>,
    #[serde(rename = "IsTruncated")]
    pub is_truncated: Option<bool>,
    #[serde(rename = "NextPartNumberMarker")]
    pub next_part_number_marker: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListedPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "Size")]
    pub size: u64,
}

/// A client's DeleteObjects body (the keys; s3seal authorises each).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeleteRequest {
    #[serde(rename = "Quiet", default)]
    pub quiet: bool,
    #[serde(rename = "Object", default)]
    pub objects: Vec<DeleteRequestObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct DeleteRequestObject {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "VersionId", skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

impl DeleteRequest {
    /// The body sent upstream, written from what s3seal parsed and
    /// authorised: the upstream deletes exactly those keys, whatever its own
    /// XML parser would have made of the client's document (duplicate or
    /// unknown elements, comments, entities).
    pub fn upstream_body(&self) -> Result<String, S3Error> {
        #[derive(Serialize)]
        #[serde(rename = "Delete")]
        struct Body<'a> {
            #[serde(rename = "@xmlns")]
            xmlns: &'static str,
            #[serde(rename = "Quiet")]
            quiet: bool,
            #[serde(rename = "Object")]
            objects: &'a [DeleteRequestObject],
        }
        quick_xml::se::to_string(&Body {
            xmlns: S3_NAMESPACE,
            quiet: self.quiet,
            objects: &self.objects,
        })
        .map(with_line_ends_as_references)
        .map_err(|e| S3Error::internal(format!("cannot write a DeleteObjects body: {e}")))
    }
}

/// The upstream's answer to DeleteObjects (only what s3seal needs from it).
#[derive(Debug, Deserialize)]
pub struct DeleteResult {
    #[serde(rename = "Deleted", default)]
    pub deleted: Vec<DeletedObject>,
}

#[derive(Debug, Deserialize)]
pub struct DeletedObject {
    #[serde(rename = "Key")]
    pub key: String,
}

/// The upstream's answer to CopyObject / UploadPartCopy.
#[derive(Debug, Deserialize)]
pub struct CopyResult {
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "LastModified")]
    pub last_modified: Option<String>,
}

/// UploadPartCopy's response to the client.
pub fn copy_part_result(etag: &str, last_modified: &str) -> Result<String, S3Error> {
    #[derive(Serialize)]
    #[serde(rename = "CopyPartResult")]
    struct Result<'a> {
        #[serde(rename = "@xmlns")]
        xmlns: &'static str,
        #[serde(rename = "ETag")]
        etag: &'a str,
        #[serde(rename = "LastModified")]
        last_modified: &'a str,
    }
    with_declaration(quick_xml::se::to_string(&Result {
        xmlns: S3_NAMESPACE,
        etag,
        last_modified,
    }))
}

/// CopyObject's response to the client.
pub fn copy_object_result(etag: &str, last_modified: &str) -> Result<String, S3Error> {
    #[derive(Serialize)]
    #[serde(rename = "CopyObjectResult")]
    struct Result<'a> {
        #[serde(rename = "@xmlns")]
        xmlns: &'static str,
        #[serde(rename = "ETag")]
        etag: &'a str,
        #[serde(rename = "LastModified")]
        last_modified: &'a str,
    }
    with_declaration(quick_xml::se::to_string(&Result {
        xmlns: S3_NAMESPACE,
        etag,
        last_modified,
    }))
}

/// UpdateObjectEncryption's request body.
#[derive(Debug, Deserialize)]
pub struct ObjectEncryption {
    #[serde(rename = "SSE-KMS")]
    pub sse_kms: Option<SseKmsEncryption>,
}

#[derive(Debug, Deserialize)]
pub struct SseKmsEncryption {
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: String,
    #[serde(rename = "BucketKeyEnabled")]
    pub bucket_key_enabled: Option<bool>,
}

impl ObjectEncryption {
    pub fn parse(xml: &[u8]) -> Result<Self, S3Error> {
        parse(xml).map_err(|e| {
            S3Error::new(
                crate::error::S3ErrorCode::MalformedXML,
                format!("The XML you provided was not well-formed or did not validate against our published schema: {e}"),
            )
        })
    }
}

/// An XML response: the document, its length and type, and `headers`.
pub fn response(
    status: http::StatusCode,
    mut headers: http::HeaderMap,
    xml: impl Into<bytes::Bytes>,
) -> http::Response<crate::body::ProxyBody> {
    let xml = xml.into();
    headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(xml.len()),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    let mut out = http::Response::new(crate::body::full(xml));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// Parses a document from the upstream, whose failure is s3seal's problem.
pub fn parse_upstream<T: serde::de::DeserializeOwned>(
    xml: &[u8],
    what: &str,
) -> Result<T, S3Error> {
    parse(xml).map_err(|e| S3Error::internal(format!("the upstream's {what} is not valid: {e}")))
}

/// Parses a small XML document into `T`.
pub fn parse_xml<T: serde::de::DeserializeOwned>(xml: &[u8]) -> Result<T, quick_xml::DeError> {
    parse(xml)
}

fn parse<T: serde::de::DeserializeOwned>(xml: &[u8]) -> Result<T, quick_xml::DeError> {
    let text = std::str::from_utf8(xml)
        .map_err(|e| quick_xml::DeError::Custom(format!("not UTF-8: {e}")))?;
    quick_xml::de::from_str(&as_xml10_line_ends(text))
}

/// Characters XML 1.1 reads as line ends but XML 1.0 (S3's) keeps as they are.
const XML11_ONLY_LINE_ENDS: [(char, &str); 2] = [('\u{85}', "&#133;"), ('\u{2028}', "&#8232;")];

/// quick-xml's deserializer normalises line ends as XML 1.1 does, which
/// would turn U+0085 and U+2028 in a key into `\n`; as character references
/// they survive, as XML 1.0 keeps them. (Inside a CDATA section a reference
/// is not expanded; S3 clients do not write keys there.)
fn as_xml10_line_ends(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\u{85}', '\u{2028}']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for (ch, reference) in XML11_ONLY_LINE_ENDS {
        out = out.replace(ch, reference);
    }
    std::borrow::Cow::Owned(out)
}

/// Text written into a request document as character references where a
/// parser would otherwise normalise it (`\r` and the XML 1.1 line ends), so
/// the upstream reads the exact string s3seal wrote.
fn with_line_ends_as_references(xml: String) -> String {
    if !xml.contains(['\r', '\u{85}', '\u{2028}']) {
        return xml;
    }
    let mut out = xml.replace('\r', "&#13;");
    for (ch, reference) in XML11_ONLY_LINE_ENDS {
        out = out.replace(ch, reference);
    }
    out
}

/// Serializes a response document, with the XML declaration.
pub fn to_document<T: Serialize>(document: &T) -> Result<String, S3Error> {
    with_declaration(quick_xml::se::to_string(document))
}

fn with_declaration(body: Result<String, quick_xml::SeError>) -> Result<String, S3Error> {
    body.map(|b| format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{b}"))
        .map_err(|e| S3Error::internal(format!("cannot write XML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_body_keeps_parts_and_drops_checksums() {
        let xml = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a&amp;1"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>AAAA</ChecksumCRC32></Part><Part><PartNumber>3</PartNumber><ETag>"b"</ETag></Part></CompleteMultipartUpload>"#;
        let parsed = CompleteMultipartUpload::parse(xml).unwrap();
        assert_eq!(parsed.parts.len(), 2);
        assert_eq!(parsed.parts[0].etag, "\"a&1\"");
        assert_eq!(parsed.parts[1].part_number, 3);
        let out = parsed.upstream_body().unwrap();
        assert!(!out.contains("Checksum"));
        let again = CompleteMultipartUpload::parse(out.as_bytes()).unwrap();
        let numbered = |c: &CompleteMultipartUpload| -> Vec<(u32, String)> {
            c.parts
                .iter()
                .map(|p| (p.part_number, p.etag.clone()))
                .collect()
        };
        assert_eq!(numbered(&again), numbered(&parsed));
        let declared: Vec<_> = parsed.parts[0].declared_checksums().collect();
        assert_eq!(declared, vec![(ChecksumAlgorithm::Crc32, "AAAA")]);
        assert_eq!(parsed.parts[1].declared_checksums().count(), 0);
    }

    #[test]
    fn delete_body_is_rewritten_from_the_authorised_keys() {
        let xml = br#"<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><!-- x --><Object><Key> a &amp; &lt;b&gt; </Key></Object><Object><Key>../c</Key><VersionId>v1</VersionId><Extra>1</Extra></Object></Delete>"#;
        let parsed: DeleteRequest = parse_xml(xml).unwrap();
        assert!(parsed.quiet);
        assert_eq!(parsed.objects[0].key, " a & <b> ");
        assert_eq!(parsed.objects[1].version_id.as_deref(), Some("v1"));
        let out = parsed.upstream_body().unwrap();
        assert!(!out.contains("Extra") && !out.contains("<!--"), "{out}");
        let again: DeleteRequest = parse_xml(out.as_bytes()).unwrap();
        assert_eq!(again, parsed);
    }

    proptest::proptest! {
        #[test]
        fn delete_body_round_trips(
            keys in proptest::collection::vec(("[ -~\\r\\n\\t\\u{85}\\u{a0}-\\u{2fff}]{1,40}", proptest::option::of("[A-Za-z0-9._-]{1,20}")), 1..20),
            quiet: bool,
        ) {
            let request = DeleteRequest {
                quiet,
                objects: keys
                    .into_iter()
                    .map(|(key, version_id)| DeleteRequestObject { key, version_id })
                    .collect(),
            };
            let body = request.upstream_body().unwrap();
            let again: DeleteRequest = parse_xml(body.as_bytes()).unwrap();
            proptest::prop_assert_eq!(again, request);
        }
    }

    #[test]
    fn complete_result_reports_the_object_checksum() {
        let result = CompleteMultipartUploadResult {
            location: Some("http://x/b/k".into()),
            bucket: Some("b".into()),
            key: Some("k".into()),
            etag: "\"e-2\"".into(),
        };
        let checksum = ObjectChecksum {
            algorithm: ChecksumAlgorithm::Crc32,
            object_type: crate::integrity::ChecksumType::Composite,
            digest: "AAAAAA==".into(),
            parts: vec!["AQIDBA==".into(), "BQYHCA==".into()],
        };
        let xml = result.to_xml(Some(&checksum)).unwrap();
        assert!(
            xml.contains("<ETag>\"e-2\"</ETag><ChecksumCRC32>AAAAAA==-2</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType>"),
            "{xml}"
        );
        let plain = result.to_xml(None).unwrap();
        assert!(
            !plain.contains("Checksum") && plain.contains("<Key>k</Key>"),
            "{plain}"
        );
    }

    #[test]
    fn malformed_bodies_are_malformed_xml() {
        for bad in [
            &b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>"[..],
            b"<CompleteMultipartUpload><Part>",
            b"\xff\xfe",
            b"",
        ] {
            let err = CompleteMultipartUpload::parse(bad).unwrap_err();
            assert_eq!(err.code, crate::error::S3ErrorCode::MalformedXML);
        }
        let empty = CompleteMultipartUpload::parse(b"<CompleteMultipartUpload/>").unwrap();
        assert!(empty.parts.is_empty());
    }

    #[test]
    fn upstream_results() {
        let r: InitiateMultipartUploadResult = parse_upstream(
            br#"<?xml version="1.0"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>"#,
            "x",
        )
        .unwrap();
        assert_eq!(r.upload_id, "u-1");
        let e = parse_upstream::<CompleteMultipartUploadResult>(
            b"<Error><Code>InternalError</Code></Error>",
            "x",
        );
        assert!(e.is_err());
        let c: CopyResult = parse_upstream(
            br#"<CopyObjectResult><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag></CopyObjectResult>"#,
            "x",
        )
        .unwrap();
        assert_eq!(c.etag, "\"e\"");
        let out = copy_part_result("\"e\"", "2026-01-01T00:00:00.000Z").unwrap();
        assert!(out.starts_with("<?xml"), "{out}");
        assert!(out.contains("<CopyPartResult xmlns="), "{out}");
        let etag: CopyResult = parse_upstream(out.as_bytes(), "x").unwrap();
        assert_eq!(etag.etag, "\"e\"");
    }

    #[test]
    fn delete_results() {
        let r: DeleteResult = parse_upstream(
            br#"<DeleteResult><Deleted><Key>a &amp; b</Key></Deleted><Error><Key>c</Key><Code>AccessDenied</Code></Error><Deleted><Key>d</Key><VersionId>v</VersionId></Deleted></DeleteResult>"#,
            "x",
        )
        .unwrap();
        let keys: Vec<_> = r.deleted.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["a & b", "d"]);
    }

    #[test]
    fn object_encryption_body() {
        let body = br#"<ObjectEncryption xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><SSE-KMS><KMSKeyArn>arn:aws:kms:us-east-1:000000000000:key/k</KMSKeyArn><BucketKeyEnabled>true</BucketKeyEnabled></SSE-KMS></ObjectEncryption>"#;
        let parsed = ObjectEncryption::parse(body).unwrap();
        let kms = parsed.sse_kms.unwrap();
        assert!(kms.kms_key_arn.ends_with("key/k"));
        assert_eq!(kms.bucket_key_enabled, Some(true));
    }
}
