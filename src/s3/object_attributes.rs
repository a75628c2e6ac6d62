//! GetObjectAttributes (`GET /bucket/key?attributes`): an object's ETag,
//! plaintext size, checksum and parts, without its body.
//!
//! A sealed object's size and parts come from its metadata and layout; its
//! checksum is the plaintext checksum sealed in its streams, so reading it
//! unwraps the data key (an audited key use, as for a checksum-mode HEAD).
//! An object written to the upstream directly is described from its HEAD.

use http::{HeaderMap, Method, Response, StatusCode};
use serde::Serialize;

use super::RequestContext;
use super::checksums::{self, ObjectChecksum};
use super::layouts::{self, StoredObject};
use super::object_get::{stored_size, unwrap_key_to_read};
use super::upstream_response;
use super::xml::{self, ChecksumElement};
use crate::body::ProxyBody;
use crate::error::S3Error;
use crate::seal::{SealedLayout, SealedObjectMetadata, SealedShape};
use crate::state::AppState;
use crate::upstream::UpstreamRequest;

const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// S3's default and maximum `x-amz-max-parts`.
const MAX_PARTS: usize = 1000;

/// The attributes a client asked for in `x-amz-object-attributes`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Wanted {
    etag: bool,
    checksum: bool,
    object_parts: bool,
    storage_class: bool,
    object_size: bool,
}

impl Wanted {
    fn from_headers(headers: &HeaderMap) -> Result<Self, S3Error> {
        let mut wanted = Wanted::default();
        for value in headers.get_all("x-amz-object-attributes") {
            let text = value
                .to_str()
                .map_err(|_| S3Error::invalid_argument("Invalid attribute name specified."))?;
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                match name {
                    "ETag" => wanted.etag = true,
                    "Checksum" => wanted.checksum = true,
                    "ObjectParts" => wanted.object_parts = true,
                    "StorageClass" => wanted.storage_class = true,
                    "ObjectSize" => wanted.object_size = true,
                    _ => {
                        return Err(S3Error::invalid_argument(format!(
                            "Invalid attribute name specified: {name}"
                        )));
                    }
                }
            }
        }
        if wanted == Wanted::default() {
            return Err(S3Error::invalid_argument(
                "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
            ));
        }
        Ok(wanted)
    }
}

/// Which page of the parts list to report.
#[derive(Debug, Clone, Copy)]
struct PartsPage {
    max_parts: usize,
    marker: u32,
}

impl PartsPage {
    fn from_headers(headers: &HeaderMap) -> Result<Self, S3Error> {
        let number = |name: &str| -> Result<Option<u64>, S3Error> {
            match headers.get(name) {
                None => Ok(None),
                Some(v) => v
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .map(Some)
                    .ok_or_else(|| S3Error::invalid_argument(format!("{name} must be a number"))),
            }
        };
        let max_parts =
            number("x-amz-max-parts")?.map_or(MAX_PARTS, |n| (n as usize).min(MAX_PARTS));
        let marker = number("x-amz-part-number-marker")?.unwrap_or(0);
        Ok(PartsPage {
            max_parts,
            marker: u32::try_from(marker).unwrap_or(u32::MAX),
        })
    }
}

pub async fn get_object_attributes(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
) -> Result<Response<ProxyBody>, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let wanted = Wanted::from_headers(&parts.headers)?;
    let page = PartsPage::from_headers(&parts.headers)?;
    let version_id = ctx.s3.query_value("versionId").map(str::to_string);
    let head = state
        .upstream
        .send(UpstreamRequest::bodyless(
            Method::HEAD,
            Some(bucket.to_string()),
            Some(key.to_string()),
            version_id
                .iter()
                .map(|v| ("versionId".to_string(), v.clone()))
                .collect(),
        ))
        .await?;
    if !head.status().is_success() {
        return upstream_response::relay_error(head).await;
    }
    let headers = head.headers().clone();
    let object = StoredObject {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id,
        etag: headers.get(http::header::ETAG).cloned(),
        stored_size: stored_size(&headers)
            .ok_or_else(|| S3Error::internal("the upstream did not report the object's size"))?,
    };
    let described = match SealedObjectMetadata::from_headers(&headers)? {
        None => Described::plain(object.stored_size),
        Some(metadata) => describe_sealed(state, ctx, &object, &metadata, wanted.checksum).await?,
    };
    let document = attributes_document(&headers, &described, wanted, page);
    let mut out_headers = HeaderMap::new();
    for name in [
        http::header::LAST_MODIFIED.as_str(),
        "x-amz-version-id",
        "x-amz-delete-marker",
    ] {
        if let Some(value) = headers.get(name) {
            out_headers.insert(http::HeaderName::from_static(name), value.clone());
        }
    }
    let body = xml::to_document(&document)?;
    Ok(xml::response(StatusCode::OK, out_headers, body))
}

/// What s3seal knows of an object for its attributes.
struct Described {
    plaintext_size: u64,
    /// The streams of a multipart object.
    layout: Option<SealedLayout>,
    checksum: Option<ObjectChecksum>,
}

impl Described {
    fn plain(size: u64) -> Self {
        Described {
            plaintext_size: size,
            layout: None,
            checksum: None,
        }
    }
}

async fn describe_sealed(
    state: &AppState,
    ctx: &RequestContext,
    object: &StoredObject,
    metadata: &SealedObjectMetadata,
    with_checksum: bool,
) -> Result<Described, S3Error> {
    let data_key = match with_checksum {
        true => Some(unwrap_key_to_read(state, ctx, object, metadata, "checksum").await?),
        false => None,
    };
    match &metadata.shape {
        SealedShape::SinglePart { plaintext_len } => {
            let checksum = match &data_key {
                None => None,
                Some(data_key) => {
                    checksums::unread_single_part_checksum(state, object, *plaintext_len, data_key)
                        .await?
                }
            };
            Ok(Described {
                plaintext_size: *plaintext_len,
                layout: None,
                checksum,
            })
        }
        SealedShape::Multipart { object_id } => {
            let layout = layouts::multipart_layout(state, object, object_id).await?;
            let checksum = match &data_key {
                None => None,
                Some(data_key) => {
                    checksums::multipart_checksum(state, object, object_id, &layout, data_key)
                        .await?
                }
            };
            Ok(Described {
                plaintext_size: layout.plaintext_len(),
                layout: Some(layout),
                checksum,
            })
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename = "GetObjectAttributesResponse")]
struct AttributesDocument {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "ETag", skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(rename = "Checksum", skip_serializing_if = "Option::is_none")]
    checksum: Option<ChecksumDocument>,
    #[serde(rename = "ObjectParts", skip_serializing_if = "Option::is_none")]
    object_parts: Option<ObjectPartsDocument>,
    #[serde(rename = "StorageClass", skip_serializing_if = "Option::is_none")]
    storage_class: Option<String>,
    #[serde(rename = "ObjectSize", skip_serializing_if = "Option::is_none")]
    object_size: Option<u64>,
}

#[derive(Debug, Serialize)]
struct ChecksumDocument {
    #[serde(rename = "$value")]
    elements: Vec<ChecksumElement>,
}

#[derive(Debug, Serialize)]
struct ObjectPartsDocument {
    #[serde(rename = "PartsCount")]
    total_parts_count: usize,
    #[serde(rename = "PartNumberMarker")]
    part_number_marker: u32,
    #[serde(rename = "NextPartNumberMarker")]
    next_part_number_marker: u32,
    #[serde(rename = "MaxParts")]
    max_parts: usize,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Part", default)]
    parts: Vec<PartDocument>,
}

#[derive(Debug, Serialize)]
struct PartDocument {
    #[serde(rename = "$value")]
    checksum: Vec<ChecksumElement>,
    #[serde(rename = "PartNumber")]
    part_number: u32,
    #[serde(rename = "Size")]
    size: u64,
}

fn attributes_document(
    headers: &HeaderMap,
    described: &Described,
    wanted: Wanted,
    page: PartsPage,
) -> AttributesDocument {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    AttributesDocument {
        xmlns: S3_NAMESPACE,
        // GetObjectAttributes reports the ETag without its quotes.
        etag: wanted
            .etag
            .then(|| text("etag").map(|e| e.trim_matches('"').to_string()))
            .flatten(),
        checksum: wanted
            .checksum
            .then_some(described.checksum.as_ref())
            .flatten()
            .map(|c| ChecksumDocument {
                elements: ChecksumElement::of(c),
            }),
        object_parts: wanted
            .object_parts
            .then(|| object_parts(described, page))
            .flatten(),
        storage_class: wanted.storage_class.then(|| {
            text("x-amz-storage-class")
                .unwrap_or("STANDARD")
                .to_string()
        }),
        object_size: wanted.object_size.then_some(described.plaintext_size),
    }
}

/// The parts of a multipart object, one page of them (single-part objects have none).
fn object_parts(described: &Described, page: PartsPage) -> Option<ObjectPartsDocument> {
    let layout = described.layout.as_ref()?;
    let all: Vec<(usize, u32, u64)> = layout
        .streams()
        .iter()
        .enumerate()
        .map(|(i, e)| (i, e.header.part_number, e.header.plaintext_len))
        .filter(|(_, number, _)| *number > page.marker)
        .collect();
    let shown = &all[..all.len().min(page.max_parts)];
    let parts = shown
        .iter()
        .map(|(index, number, size)| PartDocument {
            checksum: described
                .checksum
                .as_ref()
                .and_then(|c| {
                    c.part(*index)
                        .map(|v| ChecksumElement::value(c.algorithm, v.to_string()))
                })
                .into_iter()
                .collect(),
            part_number: *number,
            size: *size,
        })
        .collect();
    Some(ObjectPartsDocument {
        total_parts_count: layout.streams().len(),
        part_number_marker: page.marker,
        next_part_number_marker: shown.last().map_or(page.marker, |(_, n, _)| *n),
        max_parts: page.max_parts,
        is_truncated: all.len() > shown.len(),
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn attribute_names_are_checked() {
        let wanted =
            Wanted::from_headers(&headers(&[("x-amz-object-attributes", "ETag, ObjectSize")]))
                .unwrap();
        assert!(wanted.etag && wanted.object_size && !wanted.checksum);
        assert!(Wanted::from_headers(&headers(&[])).is_err());
        assert!(Wanted::from_headers(&headers(&[("x-amz-object-attributes", "Size")])).is_err());
    }
}
