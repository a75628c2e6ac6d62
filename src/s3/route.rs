//! Request routing: method + path + query → [`S3Request`] with a typed [`Operation`].
//!
//! Path-style addressing: `/bucket/key`. The operation decides which handler
//! family serves the request ([`Operation::family`]); anything s3seal cannot
//! serve without bypassing encryption is [`Family::Refused`], never forwarded.

use http::{Method, Uri};

use crate::error::{S3Error, S3ErrorCode};

/// Who handles an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Object bytes pass through the seal/unseal pipeline.
    SealedObject,
    /// No object content involved: forwarded and relayed faithfully.
    PassThrough,
    /// Would read or write object bytes around the encryption: refused.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    GetBucketLocation,
    DeleteObjects,
    PostObject,
    /// `GET|PUT|DELETE /bucket?<subresource>` bucket configuration (tagging, versioning, …).
    BucketConfig {
        method: Method,
        subresource: &'static str,
    },
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
    CopyObject,
    /// `GET|PUT|DELETE /bucket/key?<subresource>` (tagging, acl, retention, legal-hold).
    ObjectConfig {
        method: Method,
        subresource: &'static str,
    },
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    GetObjectAttributes,
    SelectObjectContent,
    RestoreObject,
    GetObjectTorrent,
    UpdateObjectEncryption,
    /// A method/subresource combination S3 does not define.
    Unknown,
}

/// Bucket configuration subresources that carry no object content.
const BUCKET_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "logging",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "versioning",
    "website",
];
const OBJECT_SUBRESOURCES: &[&str] = &["acl", "legal-hold", "retention", "tagging"];

impl Operation {
    pub fn family(&self) -> Family {
        use Operation::*;
        match self {
            PutObject
            | GetObject
            | HeadObject
            | CreateMultipartUpload
            | UploadPart
            | UploadPartCopy
            | CompleteMultipartUpload
            | AbortMultipartUpload
            | ListParts
            | CopyObject
            | PostObject
            | UpdateObjectEncryption
            | GetObjectAttributes => Family::SealedObject,
            ListBuckets
            | CreateBucket
            | DeleteBucket
            | HeadBucket
            | ListObjects
            | ListObjectsV2
            | ListObjectVersions
            | ListMultipartUploads
            | GetBucketLocation
            | DeleteObjects
            | BucketConfig { .. }
            | DeleteObject
            | ObjectConfig { .. }
            | RestoreObject => Family::PassThrough,
            SelectObjectContent | GetObjectTorrent | Unknown => Family::Refused,
        }
    }

    /// The S3 API name of the operation (for logs and error messages).
    pub fn name(&self) -> String {
        match self {
            Operation::BucketConfig {
                method,
                subresource,
            } => format!("{}Bucket{}", verb(method), camel(subresource)),
            Operation::ObjectConfig {
                method,
                subresource,
            } => format!("{}Object{}", verb(method), camel(subresource)),
            other => format!("{other:?}"),
        }
    }
}

fn verb(method: &Method) -> &'static str {
    match *method {
        Method::GET => "Get",
        Method::PUT => "Put",
        Method::DELETE => "Delete",
        _ => "Unknown",
    }
}

fn camel(subresource: &str) -> String {
    subresource
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A routed S3 request.
#[derive(Debug, Clone)]
pub struct S3Request {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// Decoded query parameters in request order.
    pub query: Vec<(String, String)>,
    pub operation: Operation,
}

impl S3Request {
    pub fn has_query(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `<Resource>` of error responses: `/bucket/key`.
    pub fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".into(),
        }
    }
}

/// Routes a path-style request.
pub fn resolve(method: &Method, uri: &Uri, has_copy_source: bool) -> Result<S3Request, S3Error> {
    resolve_for_host(method, uri, has_copy_source, None)
}

/// Like [`resolve`], for a request whose `Host` names its bucket
/// (virtual-hosted style): `virtual_bucket` is that bucket, and the whole path is the key.
pub fn resolve_for_host(
    method: &Method,
    uri: &Uri,
    has_copy_source: bool,
    virtual_bucket: Option<&str>,
) -> Result<S3Request, S3Error> {
    let query = parse_query(uri.query())?;
    let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
    let (bucket, key) = match (virtual_bucket, path.split_once('/')) {
        (Some(bucket), _) => (bucket, (!path.is_empty()).then_some(path)),
        (None, Some((bucket, key))) => (bucket, Some(key)),
        (None, None) => (path, None),
    };
    let bucket = match (bucket, virtual_bucket) {
        ("", _) => None,
        (b, Some(_)) => Some(b.to_string()),
        (b, None) => Some(decode(b)?),
    };
    if let Some(b) = &bucket {
        validate_bucket_name(b)?;
    }
    let key = match key {
        None | Some("") => None,
        Some(k) => Some(check_key(decode(k)?)?),
    };
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let operation = match (&bucket, &key) {
        (None, _) => match *method {
            Method::GET => Operation::ListBuckets,
            _ => Operation::Unknown,
        },
        (Some(_), None) => bucket_operation(method, &has),
        (Some(_), Some(_)) => object_operation(method, &has, has_copy_source),
    };
    Ok(S3Request {
        bucket,
        key,
        query,
        operation,
    })
}

fn bucket_operation(method: &Method, has: &dyn Fn(&str) -> bool) -> Operation {
    let subresource = BUCKET_SUBRESOURCES.iter().copied().find(|s| has(s));
    match (method.clone(), subresource) {
        (Method::GET, _) if has("location") => Operation::GetBucketLocation,
        (Method::GET, _) if has("uploads") => Operation::ListMultipartUploads,
        (Method::GET, _) if has("versions") => Operation::ListObjectVersions,
        (Method::GET | Method::PUT | Method::DELETE, Some(subresource)) => {
            Operation::BucketConfig {
                method: method.clone(),
                subresource,
            }
        }
        (Method::GET, None) if has("list-type") => Operation::ListObjectsV2,
        (Method::GET, None) => Operation::ListObjects,
        (Method::PUT, None) => Operation::CreateBucket,
        (Method::DELETE, None) => Operation::DeleteBucket,
        (Method::HEAD, _) => Operation::HeadBucket,
        (Method::POST, _) if has("delete") => Operation::DeleteObjects,
        (Method::POST, None) => Operation::PostObject,
        _ => Operation::Unknown,
    }
}

fn object_operation(
    method: &Method,
    has: &dyn Fn(&str) -> bool,
    has_copy_source: bool,
) -> Operation {
    let subresource = OBJECT_SUBRESOURCES.iter().copied().find(|s| has(s));
    match method.clone() {
        Method::PUT if has("partNumber") && has("uploadId") => {
            if has_copy_source {
                Operation::UploadPartCopy
            } else {
                Operation::UploadPart
            }
        }
        Method::PUT | Method::GET | Method::DELETE if subresource.is_some() => {
            Operation::ObjectConfig {
                method: method.clone(),
                subresource: subresource.unwrap_or_default(),
            }
        }
        Method::PUT if has("encryption") => Operation::UpdateObjectEncryption,
        Method::PUT if has_copy_source => Operation::CopyObject,
        Method::PUT if has("renameObject") => Operation::Unknown,
        Method::PUT => Operation::PutObject,
        Method::GET if has("uploadId") => Operation::ListParts,
        Method::GET if has("attributes") => Operation::GetObjectAttributes,
        Method::GET if has("torrent") => Operation::GetObjectTorrent,
        Method::GET => Operation::GetObject,
        Method::HEAD => Operation::HeadObject,
        Method::DELETE if has("uploadId") => Operation::AbortMultipartUpload,
        Method::DELETE => Operation::DeleteObject,
        Method::POST if has("uploads") => Operation::CreateMultipartUpload,
        Method::POST if has("uploadId") => Operation::CompleteMultipartUpload,
        Method::POST if has("select") => Operation::SelectObjectContent,
        Method::POST if has("restore") => Operation::RestoreObject,
        _ => Operation::Unknown,
    }
}

fn decode(raw: &str) -> Result<String, S3Error> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            S3Error::new(
                S3ErrorCode::InvalidURI,
                "Couldn't parse the specified URI: it is not valid UTF-8 once decoded.",
            )
        })
}

/// S3's limit on an object key: 1024 bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// Refuses the object keys s3seal cannot serve as what they name:
/// - longer than S3 allows: KeyTooLongError, as S3 answers (Garage has no
///   such limit of its own, and would store them);
/// - beginning with `/`: S3 keeps such a key as it is, but Garage removes
///   the leading slashes, so `/x` would reach the object `x`, past every
///   bucket policy statement s3seal evaluated for `/x` (a Deny on `x` would
///   not stop an overwrite or a delete of `x` through `/x`).
pub fn check_key(key: String) -> Result<String, S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(
            S3ErrorCode::KeyTooLongError,
            "Your key is too long",
        ));
    }
    if key.starts_with('/') {
        return Err(S3Error::invalid_argument(
            "Object keys beginning with '/' are not supported: the upstream store removes leading slashes, so the key would name another object",
        ));
    }
    Ok(key)
}

fn parse_query(raw: Option<&str>) -> Result<Vec<(String, String)>, S3Error> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        // A presigned URL's authentication parameters are s3seal's, not the operation's.
        .filter(|pair: &Result<(String, String), S3Error>| {
            pair.as_ref().map_or(true, |(k, _)| {
                !crate::auth::PRESIGN_PARAMS.contains(&k.as_str())
            })
        })
        .collect()
}

/// Bucket names become path segments (and host labels upstream): allow only
/// the characters S3 has ever allowed.
fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let ok = (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(S3Error::new(
            S3ErrorCode::InvalidBucketName,
            "The specified bucket is not valid.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, uri: &str) -> Operation {
        resolve(&method, &uri.parse().unwrap(), false)
            .unwrap()
            .operation
    }

    #[test]
    fn virtual_hosted_requests_take_the_bucket_from_the_host() {
        let uri: Uri = "/dir/a%20b.txt?tagging".parse().unwrap();
        let r = resolve_for_host(&Method::GET, &uri, false, Some("photos")).unwrap();
        assert_eq!(r.bucket.as_deref(), Some("photos"));
        assert_eq!(r.key.as_deref(), Some("dir/a b.txt"));
        let root: Uri = "/?list-type=2".parse().unwrap();
        let r = resolve_for_host(&Method::GET, &root, false, Some("photos")).unwrap();
        assert_eq!(
            (r.bucket.as_deref(), r.key.as_deref()),
            (Some("photos"), None)
        );
        assert_eq!(r.operation, Operation::ListObjectsV2);
        assert!(resolve_for_host(&Method::GET, &root, false, Some("Bad Bucket!")).is_err());
    }

    #[test]
    fn routing_table() {
        use Operation::*;
        let table: Vec<(Method, &str, Operation)> = vec![
            (Method::GET, "/", ListBuckets),
            (Method::PUT, "/b", CreateBucket),
            (Method::PUT, "/b/", CreateBucket),
            (Method::DELETE, "/b", DeleteBucket),
            (Method::HEAD, "/b", HeadBucket),
            (Method::GET, "/b", ListObjects),
            (Method::GET, "/b?list-type=2&prefix=a", ListObjectsV2),
            (Method::GET, "/b?versions", ListObjectVersions),
            (Method::GET, "/b?uploads", ListMultipartUploads),
            (Method::GET, "/b?location", GetBucketLocation),
            (Method::POST, "/b?delete", DeleteObjects),
            (Method::POST, "/b", PostObject),
            (
                Method::PUT,
                "/b?tagging",
                BucketConfig {
                    method: Method::PUT,
                    subresource: "tagging",
                },
            ),
            (
                Method::GET,
                "/b?versioning",
                BucketConfig {
                    method: Method::GET,
                    subresource: "versioning",
                },
            ),
            (Method::PUT, "/b/k", PutObject),
            (Method::GET, "/b/k", GetObject),
            (
                Method::GET,
                "/b/k?versionId=3&response-content-type=x",
                GetObject,
            ),
            (Method::HEAD, "/b/k", HeadObject),
            (Method::DELETE, "/b/k", DeleteObject),
            (
                Method::PUT,
                "/b/k?tagging",
                ObjectConfig {
                    method: Method::PUT,
                    subresource: "tagging",
                },
            ),
            (Method::POST, "/b/k?uploads", CreateMultipartUpload),
            (Method::PUT, "/b/k?partNumber=1&uploadId=u", UploadPart),
            (Method::POST, "/b/k?uploadId=u", CompleteMultipartUpload),
            (Method::DELETE, "/b/k?uploadId=u", AbortMultipartUpload),
            (Method::GET, "/b/k?uploadId=u", ListParts),
            (Method::GET, "/b/k?attributes", GetObjectAttributes),
            (
                Method::POST,
                "/b/k?select&select-type=2",
                SelectObjectContent,
            ),
            (Method::PUT, "/b/k?encryption", UpdateObjectEncryption),
            (Method::PATCH, "/b/k", Unknown),
            (Method::POST, "/", Unknown),
        ];
        for (method, uri, expected) in table {
            assert_eq!(op(method.clone(), uri), expected, "{method} {uri}");
        }
        let copy = resolve(&Method::PUT, &"/b/k".parse().unwrap(), true).unwrap();
        assert_eq!(copy.operation, CopyObject);
        let part_copy = resolve(
            &Method::PUT,
            &"/b/k?partNumber=2&uploadId=u".parse().unwrap(),
            true,
        )
        .unwrap();
        assert_eq!(part_copy.operation, UploadPartCopy);
    }

    /// A leading slash would be lost upstream: refused, path-style and
    /// virtual-hosted; inner and trailing slashes are kept.
    #[test]
    fn keys_beginning_with_a_slash_are_refused() {
        for (uri, host) in [
            ("/b//x", None),
            ("/b///x", None),
            ("/b/%2Fx", None),
            ("//x", Some("b")),
        ] {
            let err =
                resolve_for_host(&Method::PUT, &uri.parse().unwrap(), false, host).unwrap_err();
            assert_eq!(err.code, S3ErrorCode::InvalidArgument, "{uri}");
        }
        let r = resolve(&Method::PUT, &"/b/a//b/".parse().unwrap(), false).unwrap();
        assert_eq!(r.key.as_deref(), Some("a//b/"));
    }

    /// 1024 bytes of UTF-8, counted in bytes as S3 does.
    #[test]
    fn keys_over_1024_bytes_are_too_long() {
        let path = |key: &str| {
            format!(
                "/b/{}",
                crate::auth::sigv4::uri_encode(key.as_bytes(), true)
            )
        };
        let at_limit = format!("{}é", "k".repeat(1022));
        let r = resolve(&Method::PUT, &path(&at_limit).parse().unwrap(), false).unwrap();
        assert_eq!(r.key.as_deref(), Some(at_limit.as_str()));
        for too_long in [format!("{}é", "k".repeat(1023)), "k".repeat(1025)] {
            for method in [Method::PUT, Method::GET, Method::HEAD, Method::DELETE] {
                let err = resolve(&method, &path(&too_long).parse().unwrap(), false).unwrap_err();
                assert_eq!(err.code, S3ErrorCode::KeyTooLongError);
            }
        }
    }

    #[test]
    fn families() {
        assert_eq!(Operation::PutObject.family(), Family::SealedObject);
        assert_eq!(Operation::ListObjectsV2.family(), Family::PassThrough);
        assert_eq!(Operation::CopyObject.family(), Family::SealedObject);
        assert_eq!(Operation::UploadPart.family(), Family::SealedObject);
        assert_eq!(Operation::PostObject.family(), Family::SealedObject);
        assert_eq!(Operation::Unknown.family(), Family::Refused);
    }

    #[test]
    fn keys_are_decoded_and_names_validated() {
        let r = resolve(
            &Method::GET,
            &"/b/dir/a%20b%2Bc/%C3%BC".parse().unwrap(),
            false,
        )
        .unwrap();
        assert_eq!(r.bucket.as_deref(), Some("b"));
        assert_eq!(r.key.as_deref(), Some("dir/a b+c/ü"));
        assert_eq!(r.resource(), "/b/dir/a b+c/ü");
        assert!(resolve(&Method::GET, &"/b/%FF".parse().unwrap(), false).is_err());
        assert!(resolve(&Method::GET, &"/b%2Fx/k".parse().unwrap(), false).is_err());
        // Dot segments and encoded slashes stay in the key: no key leaves its bucket.
        for (path, key) in [
            ("/b/../other/x", "../other/x"),
            ("/b/%2e%2e/other/x", "../other/x"),
            ("/b/a%2Fb", "a/b"),
            ("/b/./x", "./x"),
            ("/b/%252F", "%2F"),
        ] {
            let r = resolve(&Method::GET, &path.parse().unwrap(), false).unwrap();
            assert_eq!(
                (r.bucket.as_deref(), r.key.as_deref()),
                (Some("b"), Some(key)),
                "{path}"
            );
        }
        assert_eq!(
            Operation::BucketConfig {
                method: Method::GET,
                subresource: "object-lock"
            }
            .name(),
            "GetBucketObjectLock"
        );
    }
}
