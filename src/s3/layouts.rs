//! Where the streams of a sealed object lie: the [`SealedLayout`] that range
//! and part reads, sizes and listings of multipart objects need.
//!
//! A single-part object's layout is its one header (read with the first
//! ranged request). A multipart object's metadata cannot hold its layout (the
//! metadata is written before the parts exist), so s3seal records the layout
//! when the upload completes, under the object id in the metadata. The record
//! is an optimisation and a check, never the only copy: every stream header
//! carries its part number and length, so a missing record is rebuilt by
//! walking the headers (one 36-byte ranged GET per part) and recorded again.
//! Only a layout recorded at completion can tell that trailing parts were
//! dropped on the upstream; docs/format.md spells this out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::checksums::ObjectChecksum;
use super::upstream_response;
use crate::error::{S3Error, S3ErrorCode};
use crate::seal::layout::HEADER_LEN;
use crate::seal::object_layout::next_header_offset;
use crate::seal::{SealError, SealedLayout, StreamHeader};
use crate::state::AppState;
use crate::upstream::UpstreamRequest;

/// S3 allows at most 10,000 parts.
pub const MAX_PARTS: usize = 10_000;
/// Header fetches in flight at once when the offsets are known.
const PARALLEL_HEADER_READS: usize = 8;

/// Why a layout record exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutOrigin {
    /// Recorded by CompleteMultipartUpload: the parts the client completed.
    Completed,
    /// Rebuilt from the stored headers after the record was missing.
    Rebuilt,
}

#[derive(Debug, Serialize, Deserialize)]
struct LayoutRecord {
    origin: LayoutOrigin,
    /// Every stream header, base64 of its 36 bytes, in stored order.
    headers: Vec<String>,
    /// The object's checksum, combined from its parts' at completion (or
    /// from their sealed records on the first checksum read after a rebuild).
    #[serde(default)]
    checksum: Option<ObjectChecksum>,
}

/// One stored version of an object, as the reads of its headers must pin it.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    /// The ETag the reads are pinned to with `If-Match`.
    pub etag: Option<HeaderValue>,
    pub stored_size: u64,
}

/// The layout of a multipart object: recorded, else rebuilt (and recorded).
pub async fn multipart_layout(
    state: &AppState,
    object: &StoredObject,
    object_id: &str,
) -> Result<SealedLayout, S3Error> {
    let layout = match recorded_layout(state, object_id) {
        Some(layout) => layout,
        None => {
            let layout = walk_headers(state, object).await?;
            record_layout(state, object_id, &layout, LayoutOrigin::Rebuilt, None);
            tracing::info!(
                bucket = %object.bucket,
                key = %object.key,
                parts = layout.streams().len(),
                "rebuilt a multipart object's layout from its stream headers"
            );
            layout
        }
    };
    check_stored_size(&layout, object.stored_size)?;
    Ok(layout)
}

/// The layout of a single-stream object from its header, checked against the metadata.
pub fn single_part_layout(
    header: StreamHeader,
    plaintext_len: u64,
) -> Result<SealedLayout, S3Error> {
    if header.plaintext_len != plaintext_len || header.part_number != 0 {
        return Err(SealError::HeaderMismatch("stream header disagrees with metadata").into());
    }
    Ok(SealedLayout::new(vec![header])?)
}

pub fn check_stored_size(layout: &SealedLayout, stored_size: u64) -> Result<(), S3Error> {
    if layout.sealed_len() != stored_size {
        return Err(S3Error::internal(format!(
            "the stored object is {stored_size} bytes but its layout requires {}: parts were dropped, added or altered on the upstream",
            layout.sealed_len()
        )));
    }
    Ok(())
}

/// The multipart object's checksum as recorded with its layout, if it was.
pub fn recorded_checksum(state: &AppState, object_id: &str) -> Option<ObjectChecksum> {
    let record = state.store.get_layout::<LayoutRecord>(object_id).ok()??;
    record.checksum
}

/// Adds a checksum computed after the fact to a recorded layout.
pub fn record_checksum(state: &AppState, object_id: &str, checksum: &ObjectChecksum) {
    let Ok(Some(mut record)) = state.store.get_layout::<LayoutRecord>(object_id) else {
        return;
    };
    record.checksum = Some(checksum.clone());
    if let Err(err) = state.store.put_layout(object_id, &record) {
        tracing::warn!(error = %err, object_id, "could not record a multipart checksum");
    }
}

fn recorded_layout(state: &AppState, object_id: &str) -> Option<SealedLayout> {
    let record = match state.store.get_layout::<LayoutRecord>(object_id) {
        Ok(record) => record?,
        Err(err) => {
            tracing::warn!(error = %err, "layout record unreadable; rebuilding from the object");
            return None;
        }
    };
    let headers: Option<Vec<StreamHeader>> = record
        .headers
        .iter()
        .map(|h| {
            B64.decode(h)
                .ok()
                .and_then(|b| StreamHeader::decode(&b).ok())
        })
        .collect();
    headers.and_then(|h| SealedLayout::new(h).ok())
}

/// Records a layout. A failure is logged, not returned: the layout can be rebuilt.
pub fn record_layout(
    state: &AppState,
    object_id: &str,
    layout: &SealedLayout,
    origin: LayoutOrigin,
    checksum: Option<&ObjectChecksum>,
) {
    let record = LayoutRecord {
        origin,
        headers: layout.headers().map(|h| B64.encode(h.encode())).collect(),
        checksum: checksum.cloned(),
    };
    if let Err(err) = state.store.put_layout(object_id, &record) {
        tracing::warn!(error = %err, object_id, "could not record a multipart layout");
    }
}

/// Rebuilds a layout by reading each stream header in turn; each header says
/// where the next one starts.
pub async fn walk_headers(
    state: &AppState,
    object: &StoredObject,
) -> Result<SealedLayout, S3Error> {
    let mut headers = Vec::new();
    let mut offset = 0;
    while offset < object.stored_size {
        if headers.len() == MAX_PARTS {
            return Err(S3Error::internal(
                "a sealed object holds more than 10,000 streams",
            ));
        }
        let header = fetch_header(state, object, offset).await?;
        offset = next_header_offset(offset, &header)?;
        headers.push(header);
    }
    Ok(SealedLayout::new(headers)?)
}

/// Reads the stream headers at known offsets, several at a time.
pub async fn headers_at(
    state: &AppState,
    object: &StoredObject,
    offsets: &[u64],
) -> Result<Vec<StreamHeader>, S3Error> {
    futures_util::stream::iter(offsets.iter().copied())
        .map(|offset| fetch_header(state, object, offset))
        .buffered(PARALLEL_HEADER_READS)
        .try_collect()
        .await
}

async fn fetch_header(
    state: &AppState,
    object: &StoredObject,
    offset: u64,
) -> Result<StreamHeader, S3Error> {
    let end = offset
        .checked_add(HEADER_LEN - 1)
        .filter(|end| *end < object.stored_size)
        .ok_or_else(|| {
            S3Error::from(SealError::Truncated {
                expected: offset.saturating_add(HEADER_LEN),
                actual: object.stored_size,
            })
        })?;
    let body = read_stored_range(state, object, offset, end).await?;
    let bytes = upstream_response::collect_limited(body, HEADER_LEN as usize).await?;
    Ok(StreamHeader::decode(&bytes)?)
}

/// Stored bytes `first..=last` of the very version `object` describes
/// (pinned with `If-Match`): a changed object is a retryable error, never a
/// mix of two versions.
pub async fn read_stored_range(
    state: &AppState,
    object: &StoredObject,
    first: u64,
    last: u64,
) -> Result<crate::upstream::UpstreamBody, S3Error> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::RANGE,
        HeaderValue::try_from(format!("bytes={first}-{last}"))
            .map_err(|e| S3Error::internal(e.to_string()))?,
    );
    if let Some(etag) = &object.etag {
        headers.insert(http::header::IF_MATCH, etag.clone());
    }
    let request = UpstreamRequest::bodyless(
        Method::GET,
        Some(object.bucket.clone()),
        Some(object.key.clone()),
        object
            .version_id
            .iter()
            .map(|v| ("versionId".to_string(), v.clone()))
            .collect(),
    )
    .with_headers(headers);
    let response = state.upstream.send(request).await?;
    match response.status() {
        StatusCode::PARTIAL_CONTENT => Ok(response.into_body()),
        StatusCode::PRECONDITION_FAILED | StatusCode::NOT_FOUND => Err(S3Error::new(
            S3ErrorCode::ServiceUnavailable,
            "the object changed while it was being read; retry the request",
        )),
        status => Err(S3Error::internal(format!(
            "the upstream answered a ranged read with {status}"
        ))),
    }
}
