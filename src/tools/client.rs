//! [`S3Client`]: the tools' S3 client for s3seal, a thin layer over
//! [`UpstreamClient`] (which signs with SigV4 and streams bodies), with the
//! few operations the tools need.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use sha2::Digest;

use super::{Connection, ToolError};
use crate::body::{self, ProxyBody};
use crate::s3::xml::{CompleteMultipartUpload, CompletedPart, parse_xml};
use crate::upstream::{UpstreamBody, UpstreamClient, UpstreamPayload, UpstreamRequest};

/// The most of an error or result document the tools read.
const MAX_SMALL_BODY: usize = 1024 * 1024;

/// A streamed request body, its length, and how its payload is signed.
pub struct UploadBody {
    pub body: ProxyBody,
    pub len: u64,
    pub payload: UpstreamPayload,
}

impl UploadBody {
    /// A body sent as `UNSIGNED-PAYLOAD` (the tools copy through s3seal,
    /// whose sealing authenticates every byte).
    pub fn unsigned(body: ProxyBody, len: u64) -> Self {
        UploadBody {
            body,
            len,
            payload: UpstreamPayload::Unsigned,
        }
    }
}

pub struct S3Client {
    inner: UpstreamClient,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
}

/// One page of ListObjectsV2.
#[derive(Debug)]
pub struct ListPage {
    pub objects: Vec<ListedObject>,
    /// Where the next page starts, if the listing goes on.
    pub continuation: Option<String>,
}

#[derive(Deserialize)]
struct ListBucketResult {
    #[serde(rename = "Contents", default)]
    contents: Vec<Contents>,
    #[serde(rename = "IsTruncated", default)]
    is_truncated: bool,
    #[serde(rename = "NextContinuationToken")]
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
struct Contents {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Size", default)]
    size: u64,
}

#[derive(Deserialize)]
struct ErrorDocument {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
}

#[derive(Deserialize)]
struct InitiateResult {
    #[serde(rename = "UploadId")]
    upload_id: String,
}

/// What HEAD tells about an object.
#[derive(Debug, Clone)]
pub struct ObjectHead {
    pub headers: HeaderMap,
}

impl ObjectHead {
    pub fn etag(&self) -> Option<&HeaderValue> {
        self.headers.get(http::header::ETAG)
    }

    pub fn content_length(&self) -> Result<u64, ToolError> {
        self.headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .ok_or_else(|| ToolError::Malformed {
                what: "HEAD answer",
                detail: "no Content-Length".into(),
            })
    }

    /// Sealed objects carry `x-amz-server-side-encryption`; plaintext ones do not.
    pub fn is_sealed(&self) -> bool {
        self.headers.contains_key("x-amz-server-side-encryption")
    }

    /// The ARN of the KMS key that wraps the object's data key.
    pub fn kms_key_arn(&self) -> Option<&str> {
        self.headers
            .get("x-amz-server-side-encryption-aws-kms-key-id")
            .and_then(|v| v.to_str().ok())
    }
}

impl S3Client {
    pub fn new(connection: &Connection) -> Result<Self, ToolError> {
        let inner = UpstreamClient::new(&connection.client_config()).map_err(ToolError::Usage)?;
        Ok(S3Client { inner })
    }

    /// One page of ListObjectsV2 under `prefix`, after `start_after` or from `continuation`.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
    ) -> Result<ListPage, ToolError> {
        let mut query = vec![("list-type".to_string(), "2".to_string())];
        if !prefix.is_empty() {
            query.push(("prefix".into(), prefix.into()));
        }
        match (continuation, start_after) {
            (Some(token), _) => query.push(("continuation-token".into(), token.into())),
            (None, Some(after)) => query.push(("start-after".into(), after.into())),
            (None, None) => {}
        }
        let request = small_request(Method::GET, bucket, None, query);
        let xml = self.read_small(request, "ListObjectsV2").await?;
        let result: ListBucketResult = parse_xml(&xml).map_err(|e| ToolError::Malformed {
            what: "ListObjectsV2 result",
            detail: e.to_string(),
        })?;
        let objects = result
            .contents
            .into_iter()
            .map(|c| ListedObject {
                key: c.key,
                size: c.size,
            })
            .collect();
        let continuation = result
            .next_continuation_token
            .filter(|_| result.is_truncated);
        Ok(ListPage {
            objects,
            continuation,
        })
    }

    /// HEAD; `None` if the object does not exist.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>, ToolError> {
        let request = small_request(Method::HEAD, bucket, Some(key), Vec::new());
        let response = self.inner.send(request).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = expect_success(response, "HeadObject").await?;
        Ok(Some(ObjectHead {
            headers: response.headers().clone(),
        }))
    }

    /// GET of the whole object, or of `range` (first and last byte), pinned to `etag`.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&HeaderValue>,
        range: Option<(u64, u64)>,
    ) -> Result<Response<UpstreamBody>, ToolError> {
        let mut request = small_request(Method::GET, bucket, Some(key), Vec::new());
        if let Some(etag) = etag {
            request.headers.insert(http::header::IF_MATCH, etag.clone());
        }
        if let Some((first, last)) = range {
            request.headers.insert(
                http::header::RANGE,
                header_value(&format!("bytes={first}-{last}"))?,
            );
        }
        let response = self.inner.send(request).await?;
        expect_success(response, "GetObject").await
    }

    /// The object's tags as an `x-amz-tagging` value; `None` when it has none
    /// or the store does not implement tagging (Garage).
    pub async fn tagging(&self, bucket: &str, key: &str) -> Result<Option<String>, ToolError> {
        let query = vec![("tagging".to_string(), String::new())];
        let request = small_request(Method::GET, bucket, Some(key), query);
        let response = self.inner.send(request).await?;
        if response.status() == StatusCode::NOT_IMPLEMENTED {
            return Ok(None);
        }
        let response = expect_success(response, "GetObjectTagging").await?;
        let xml = collect(response.into_body()).await?;
        let tags = crate::s3::tags::parse_tagging(&xml).map_err(|e| ToolError::Malformed {
            what: "GetObjectTagging result",
            detail: e.to_string(),
        })?;
        Ok((!tags.is_empty()).then(|| tagging_header(&tags)))
    }

    /// PUT of a streamed body with `headers`.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        mut headers: HeaderMap,
        upload: UploadBody,
    ) -> Result<Response<UpstreamBody>, ToolError> {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(upload.len));
        let request = UpstreamRequest {
            method: Method::PUT,
            bucket: Some(bucket.into()),
            key: Some(key.into()),
            query: Vec::new(),
            headers,
            body: upload.body,
            payload: upload.payload,
        };
        let response = self.inner.send(request).await?;
        expect_success(response, "PutObject").await
    }

    /// CreateMultipartUpload with `headers`; returns the upload id.
    pub async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        headers: HeaderMap,
    ) -> Result<String, ToolError> {
        let query = vec![("uploads".to_string(), String::new())];
        let mut request = small_request(Method::POST, bucket, Some(key), query);
        request.headers = headers;
        let xml = self.read_small(request, "CreateMultipartUpload").await?;
        let result: InitiateResult = parse_xml(&xml).map_err(|e| ToolError::Malformed {
            what: "CreateMultipartUpload result",
            detail: e.to_string(),
        })?;
        Ok(result.upload_id)
    }

    /// UploadPart of a streamed body; returns the part's ETag.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        (upload_id, part_number): (&str, u32),
        upload: UploadBody,
    ) -> Result<String, ToolError> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(upload.len));
        let request = UpstreamRequest {
            method: Method::PUT,
            bucket: Some(bucket.into()),
            key: Some(key.into()),
            query: vec![
                ("partNumber".into(), part_number.to_string()),
                ("uploadId".into(), upload_id.into()),
            ],
            headers,
            body: upload.body,
            payload: upload.payload,
        };
        let response = self.inner.send(request).await?;
        let response = expect_success(response, "UploadPart").await?;
        response
            .headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| ToolError::Malformed {
                what: "UploadPart answer",
                detail: "no ETag".into(),
            })
    }

    /// CompleteMultipartUpload of `parts` (number, ETag) with extra `headers`.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        headers: HeaderMap,
    ) -> Result<(), ToolError> {
        let query = vec![("uploadId".to_string(), upload_id.to_string())];
        let xml = completion_document(parts)?;
        let mut request = xml_request(Method::POST, bucket, key, query, xml);
        request.headers.extend(headers);
        let answer = self.read_small(request, "CompleteMultipartUpload").await?;
        // S3 may report a failed completion as 200 with an <Error> document.
        match parse_xml::<ErrorDocument>(&answer) {
            Ok(error) if error.code.is_some() => Err(status_error(
                "CompleteMultipartUpload",
                StatusCode::OK,
                error,
            )),
            _ => Ok(()),
        }
    }

    /// AbortMultipartUpload (best effort: a leftover upload only costs space).
    pub async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) {
        let query = vec![("uploadId".to_string(), upload_id.to_string())];
        let request = small_request(Method::DELETE, bucket, Some(key), query);
        if let Err(err) = self.inner.send(request).await {
            tracing::warn!(bucket, key, upload_id, error = %err, "could not abort an upload");
        }
    }

    /// UpdateObjectEncryption (`PUT ?encryption`) to SSE-KMS under `kms_key_arn`.
    pub async fn update_encryption(
        &self,
        bucket: &str,
        key: &str,
        kms_key_arn: &str,
    ) -> Result<(), ToolError> {
        let query = vec![("encryption".to_string(), String::new())];
        let xml = format!(
            "<ObjectEncryption xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><SSE-KMS><KMSKeyArn>{}</KMSKeyArn></SSE-KMS></ObjectEncryption>",
            xml_escape(kms_key_arn)
        );
        let request = xml_request(Method::PUT, bucket, key, query, xml);
        self.read_small(request, "UpdateObjectEncryption").await?;
        Ok(())
    }

    /// Sends a request whose answer is a small document, and reads it.
    async fn read_small(
        &self,
        request: UpstreamRequest,
        operation: &'static str,
    ) -> Result<Bytes, ToolError> {
        let response = self.inner.send(request).await?;
        let response = expect_success(response, operation).await?;
        collect(response.into_body()).await
    }
}

fn small_request(
    method: Method,
    bucket: &str,
    key: Option<&str>,
    query: Vec<(String, String)>,
) -> UpstreamRequest {
    UpstreamRequest::bodyless(method, Some(bucket.into()), key.map(str::to_string), query)
}

fn xml_request(
    method: Method,
    bucket: &str,
    key: &str,
    query: Vec<(String, String)>,
    xml: String,
) -> UpstreamRequest {
    let hash = hex::encode(sha2::Sha256::digest(xml.as_bytes()));
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(xml.len()));
    UpstreamRequest {
        method,
        bucket: Some(bucket.into()),
        key: Some(key.into()),
        query,
        headers,
        body: body::full(xml),
        payload: UpstreamPayload::Sha256Hex(hash),
    }
}

/// The CompleteMultipartUpload document, as the proxy writes it upstream.
fn completion_document(parts: &[(u32, String)]) -> Result<String, ToolError> {
    let document = CompleteMultipartUpload {
        parts: parts
            .iter()
            .map(|(number, etag)| CompletedPart::new(*number, etag.clone()))
            .collect(),
    };
    document
        .upstream_body()
        .map_err(|e| ToolError::Body(e.message))
}

fn xml_escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// `k=v&k2=v2`, URL-encoded, as `x-amz-tagging` takes tags.
fn tagging_header(tags: &[(String, String)]) -> String {
    let encode = |s: &str| crate::auth::sigv4::uri_encode(s.as_bytes(), false);
    tags.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn header_value(value: &str) -> Result<HeaderValue, ToolError> {
    HeaderValue::try_from(value).map_err(|e| ToolError::Usage(format!("{value:?}: {e}")))
}

pub fn header_name(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

/// The response if it is a success; otherwise its S3 error, read from its body.
async fn expect_success(
    response: Response<UpstreamBody>,
    operation: &'static str,
) -> Result<Response<UpstreamBody>, ToolError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == StatusCode::PRECONDITION_FAILED {
        return Err(ToolError::Changed);
    }
    let body = collect(response.into_body()).await.unwrap_or_default();
    let document = parse_xml::<ErrorDocument>(&body).unwrap_or(ErrorDocument {
        code: None,
        message: None,
    });
    Err(status_error(operation, status, document))
}

fn status_error(operation: &'static str, status: StatusCode, error: ErrorDocument) -> ToolError {
    ToolError::Status {
        operation,
        status: status.as_u16(),
        code: error.code,
        message: error.message,
    }
}

async fn collect(body: UpstreamBody) -> Result<Bytes, ToolError> {
    http_body_util::Limited::new(body, MAX_SMALL_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ToolError::Body(format!("reading an answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_an_encoded_header() {
        let tags = vec![
            ("a b".to_string(), "x&y".to_string()),
            ("k".into(), "".into()),
        ];
        assert_eq!(tagging_header(&tags), "a%20b=x%26y&k=");
    }

    #[test]
    fn completion_lists_parts_in_order() {
        let xml = completion_document(&[(1, "\"e1\"".into()), (2, "\"e2\"".into())]).unwrap();
        assert_eq!(
            xml,
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag></Part></CompleteMultipartUpload>"
        );
    }
}
