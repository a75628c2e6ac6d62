//! GetObject and HeadObject: fetch from upstream, unseal on the way back.
//!
//! The first upstream request (the *probe*) tells whether the object is
//! sealed and how: a whole GET streams its body, a HEAD reads only headers,
//! and a GET of a range or a part reads only the first stream header. The
//! client's conditional headers ride on the probe and are evaluated by the
//! upstream: s3seal reports the upstream's ETag and Last-Modified unchanged,
//! so they mean the same thing. Objects without s3seal metadata were written
//! to the upstream directly and are relayed as stored.
//!
//! For a sealed object the stored size is checked against its layout before
//! any header is sent, so a truncated object fails with an error status
//! rather than a short body. A range or part read then fetches only the
//! segments it needs, pinned to the probed version with `If-Match`.

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::RequestContext;
use super::checksums::{self, ObjectChecksum};
use super::headers::{Forward, forward_request_headers};
use super::layouts::{self, StoredObject};
use super::range::{ByteRange, SatisfiedRange};
use super::sse;
use super::upstream_response;
use crate::body::{self, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::kms::{DataKey, EncryptionContext};
use crate::seal::layout::{HEADER_LEN, StreamLayout};
use crate::seal::{
    ReadPlan, SealedLayout, SealedObjectMetadata, SealedShape, StreamHeader, UnsealingBody,
};
use crate::state::AppState;
use crate::upstream::{UpstreamPayload, UpstreamRequest};

/// Which bytes of the object the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Whole,
    Range(ByteRange),
    /// `partNumber=N`, 1-based.
    Part(u32),
}

/// What the response serves, once the object's size is known.
struct Window {
    status: StatusCode,
    /// Plaintext bytes served and, for a partial response, which ones.
    len: u64,
    range: Option<SatisfiedRange>,
    /// `partNumber` reads: the 0-based stream, and the parts count to report.
    part: Option<(usize, Option<usize>)>,
}

/// One object of the upstream, as a read addresses it.
#[derive(Debug, Clone)]
pub struct ObjectAddress {
    pub bucket: String,
    pub key: String,
    /// Query parameters forwarded upstream (`versionId`, `response-*`, …).
    pub query: Vec<(String, String)>,
}

impl ObjectAddress {
    fn of_request(ctx: &RequestContext) -> Result<Self, S3Error> {
        let (bucket, key) = ctx.bucket_and_key()?;
        Ok(ObjectAddress {
            bucket: bucket.to_string(),
            key: key.to_string(),
            query: ctx.s3.query.clone(),
        })
    }

    fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub async fn get_or_head_object(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
) -> Result<Response<ProxyBody>, S3Error> {
    sse::check_read_headers(&parts.headers)?;
    let selection = selection(&parts, ctx)?;
    let address = ObjectAddress::of_request(ctx)?;
    read_object(
        state,
        ctx,
        &address,
        &parts.method,
        &parts.headers,
        selection,
    )
    .await
}

/// Reads an object as a client sees it: sealed objects unsealed, others as stored.
/// `headers` are the client's (conditionals ride along); `ctx` names who asks, for the audit log.
pub async fn read_object(
    state: &AppState,
    ctx: &RequestContext,
    address: &ObjectAddress,
    method: &Method,
    client_headers: &HeaderMap,
    selection: Selection,
) -> Result<Response<ProxyBody>, S3Error> {
    let is_head = *method == Method::HEAD;
    let reads_header_first = !is_head && selection != Selection::Whole;

    let mut headers = forward_request_headers(client_headers, Forward::SealedRead);
    headers.remove(http::header::RANGE);
    if reads_header_first {
        headers.insert(http::header::RANGE, range_header(0, HEADER_LEN - 1)?);
    }
    let probe = state
        .upstream
        .send(upstream_read(address, method.clone(), headers, true))
        .await?;
    let status = probe.status();
    // 416 on the header read means an object shorter than a stream header: not sealed.
    if reads_header_first && status == StatusCode::RANGE_NOT_SATISFIABLE {
        return forward_plaintext(state, address, method, client_headers).await;
    }
    if status.is_client_error() || status.is_server_error() {
        return upstream_response::relay_error(probe).await;
    }
    let Some(metadata) = SealedObjectMetadata::from_headers(probe.headers())? else {
        if selection == Selection::Whole {
            return upstream_response::relay(probe).await;
        }
        // The probe changed the client's request; ask again with it unchanged.
        drop(probe);
        return forward_plaintext(state, address, method, client_headers).await;
    };
    let (head, probe_body) = probe.into_parts();
    let mut out_headers = sse::sealed_response_headers(&state.kms, &head.headers, &metadata);
    if !status.is_success() {
        // 304 Not Modified and friends.
        return Ok(with_parts(body::empty(), status, out_headers));
    }

    let object = stored_object(address, &head.headers)?;
    let mut probe_body = Some(probe_body);
    let layout = match &metadata.shape {
        SealedShape::SinglePart { plaintext_len } if reads_header_first => {
            let bytes = match probe_body.take() {
                Some(b) => upstream_response::collect_limited(b, 4096).await?,
                None => return Err(S3Error::internal("probe body already consumed")),
            };
            let header = StreamHeader::decode(&bytes)?;
            let layout = layouts::single_part_layout(header, *plaintext_len)?;
            layouts::check_stored_size(&layout, object.stored_size)?;
            ObjectLayout::Known(layout)
        }
        SealedShape::SinglePart { plaintext_len } => {
            check_single_part_size(*plaintext_len, object.stored_size)?;
            ObjectLayout::SingleUnread(*plaintext_len)
        }
        SealedShape::Multipart { object_id } => {
            ObjectLayout::Known(layouts::multipart_layout(state, &object, object_id).await?)
        }
    };
    let window = window(selection, &layout)?;
    add_window_headers(&mut out_headers, &window, layout.plaintext_len());
    // S3 reports checksums of whole objects and parts, never of ranges.
    let wants_checksum =
        checksums::checksum_mode(client_headers) && !matches!(selection, Selection::Range(_));
    if is_head && !wants_checksum {
        return Ok(with_parts(body::empty(), window.status, out_headers));
    }
    let reason = if is_head { "checksum" } else { "content" };
    let data_key = unwrap_key_to_read(state, ctx, &object, &metadata, reason).await?;
    if wants_checksum {
        let found = ObjectChecksumSource {
            object: &object,
            metadata: &metadata,
            layout: &layout,
            data_key: &data_key,
        };
        if let Some(checksum) = found.read(state).await? {
            add_checksum_headers(&mut out_headers, &checksum, selection);
        }
    }
    if is_head {
        return Ok(with_parts(body::empty(), window.status, out_headers));
    }

    let plan = layout.read_plan(&window)?;
    let stored = match (plan.sealed_range, probe_body.take()) {
        // A whole GET: the probe's body is the object.
        (None, Some(whole)) => whole,
        (Some((first, last)), _) => layouts::read_stored_range(state, &object, first, last).await?,
        (None, None) => return Err(S3Error::internal("no body to unseal")),
    };
    let body = body::boxed(UnsealingBody::new(stored, data_key, plan));
    Ok(with_parts(body, window.status, out_headers))
}

/// Where a sealed object's checksum comes from.
struct ObjectChecksumSource<'a> {
    object: &'a StoredObject,
    metadata: &'a SealedObjectMetadata,
    layout: &'a ObjectLayout,
    data_key: &'a DataKey,
}

impl ObjectChecksumSource<'_> {
    async fn read(&self, state: &AppState) -> Result<Option<ObjectChecksum>, S3Error> {
        match (&self.metadata.shape, self.layout) {
            (SealedShape::Multipart { object_id }, ObjectLayout::Known(layout)) => {
                checksums::multipart_checksum(state, self.object, object_id, layout, self.data_key)
                    .await
            }
            (SealedShape::SinglePart { .. }, ObjectLayout::Known(layout)) => {
                checksums::single_part_checksum(state, self.object, layout, self.data_key).await
            }
            (SealedShape::SinglePart { .. }, ObjectLayout::SingleUnread(len)) => {
                checksums::unread_single_part_checksum(state, self.object, *len, self.data_key)
                    .await
            }
            (SealedShape::Multipart { .. }, ObjectLayout::SingleUnread(_)) => Ok(None),
        }
    }
}

/// `x-amz-checksum-*`: the object's checksum, or for a `partNumber` read of
/// a multipart object, that part's.
fn add_checksum_headers(headers: &mut HeaderMap, checksum: &ObjectChecksum, selection: Selection) {
    match selection {
        Selection::Part(number) if !checksum.parts.is_empty() => {
            if let Some(value) = checksum.part(number as usize - 1) {
                checksums::insert_checksum_headers(
                    headers,
                    checksum.algorithm,
                    value,
                    checksum.object_type,
                );
            }
        }
        _ => checksum.insert_headers(headers),
    }
}

/// What is known of the object's streams.
enum ObjectLayout {
    /// Every stream header (multipart objects, and reads that fetched the header).
    Known(SealedLayout),
    /// A single-part object of this plaintext length whose header is still unread.
    SingleUnread(u64),
}

impl ObjectLayout {
    fn plaintext_len(&self) -> u64 {
        match self {
            ObjectLayout::Known(layout) => layout.plaintext_len(),
            ObjectLayout::SingleUnread(len) => *len,
        }
    }

    /// `x-amz-mp-parts-count` for multipart objects; `None` for single-part ones.
    fn parts_count(&self) -> Option<usize> {
        match self {
            ObjectLayout::Known(layout) if layout.streams()[0].header.part_number != 0 => {
                Some(layout.streams().len())
            }
            _ => None,
        }
    }

    fn read_plan(&self, window: &Window) -> Result<ReadPlan, S3Error> {
        match (self, window.part, window.range) {
            (ObjectLayout::Known(layout), Some((index, _)), _) => layout
                .plan_stream(index)
                .ok_or_else(|| S3Error::internal("part outside the layout")),
            (ObjectLayout::Known(layout), None, Some(range)) => {
                Ok(layout.plan_range(range.first, range.last)?)
            }
            (ObjectLayout::Known(layout), None, None) => Ok(layout.plan_whole()),
            (ObjectLayout::SingleUnread(len), None, None) => {
                Ok(ReadPlan::whole_single_stream(0, *len))
            }
            (ObjectLayout::SingleUnread(_), _, _) => {
                Err(S3Error::internal("a partial read needs the stream header"))
            }
        }
    }
}

/// The client's Range header or partNumber (S3 refuses both at once).
fn selection(parts: &http::request::Parts, ctx: &RequestContext) -> Result<Selection, S3Error> {
    let range = parts
        .headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse);
    let part = ctx.s3.query_value("partNumber");
    match (part, range) {
        (Some(_), Some(_)) if parts.headers.contains_key(http::header::RANGE) => Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter",
        )),
        (Some(n), _) => match n.parse::<u32>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(Selection::Part(n)),
            _ => Err(S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )),
        },
        (None, Some(range)) => Ok(Selection::Range(range)),
        (None, None) => Ok(Selection::Whole),
    }
}

fn window(selection: Selection, layout: &ObjectLayout) -> Result<Window, S3Error> {
    let total = layout.plaintext_len();
    match selection {
        Selection::Whole => Ok(Window {
            status: StatusCode::OK,
            len: total,
            range: None,
            part: None,
        }),
        Selection::Range(range) => {
            let satisfied = range.satisfy(total).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidRange,
                    "The requested range is not satisfiable",
                )
                .with_detail("ActualObjectSize", total.to_string())
            })?;
            Ok(Window {
                status: StatusCode::PARTIAL_CONTENT,
                len: satisfied.len(),
                range: Some(satisfied),
                part: None,
            })
        }
        Selection::Part(number) => part_window(layout, number),
    }
}

/// A `partNumber` read: one stream of a multipart object, or all of a
/// single-part object for part 1 (as S3 answers).
fn part_window(layout: &ObjectLayout, number: u32) -> Result<Window, S3Error> {
    let index = (number - 1) as usize;
    let not_satisfiable = || {
        S3Error::new(
            S3ErrorCode::InvalidPartNumber,
            "The requested partnumber is not satisfiable",
        )
    };
    let (offset, len) = match layout {
        ObjectLayout::Known(l) => {
            let extent = l.streams().get(index).ok_or_else(not_satisfiable)?;
            (extent.plaintext_offset, extent.header.plaintext_len)
        }
        ObjectLayout::SingleUnread(len) if index == 0 => (0, *len),
        ObjectLayout::SingleUnread(_) => return Err(not_satisfiable()),
    };
    let range = (len > 0).then(|| SatisfiedRange {
        first: offset,
        last: offset + len - 1,
    });
    Ok(Window {
        status: if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        },
        len,
        range,
        part: Some((index, layout.parts_count())),
    })
}

fn add_window_headers(headers: &mut HeaderMap, window: &Window, total: u64) {
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(window.len));
    if let Some(range) = window.range
        && let Ok(v) = HeaderValue::try_from(range.content_range(total))
    {
        headers.insert(http::header::CONTENT_RANGE, v);
    }
    if let Some((_, Some(count))) = window.part {
        headers.insert("x-amz-mp-parts-count", HeaderValue::from(count));
    }
}

/// An upstream GET/HEAD of this object. `partNumber` is s3seal's to answer for
/// sealed objects (its parts are streams), so the probe leaves it out.
fn upstream_read(
    address: &ObjectAddress,
    method: Method,
    headers: HeaderMap,
    without_part_number: bool,
) -> UpstreamRequest {
    UpstreamRequest {
        method,
        bucket: Some(address.bucket.clone()),
        key: Some(address.key.clone()),
        query: address
            .query
            .iter()
            .filter(|(name, _)| !(without_part_number && name == "partNumber"))
            .cloned()
            .collect(),
        headers,
        body: body::empty(),
        payload: UpstreamPayload::empty(),
    }
}

fn stored_object(address: &ObjectAddress, headers: &HeaderMap) -> Result<StoredObject, S3Error> {
    Ok(StoredObject {
        bucket: address.bucket.clone(),
        key: address.key.clone(),
        version_id: address.query_value("versionId").map(str::to_string),
        etag: headers.get(http::header::ETAG).cloned(),
        stored_size: stored_size(headers)
            .ok_or_else(|| S3Error::internal("the upstream did not report the object's size"))?,
    })
}

fn range_header(first: u64, last: u64) -> Result<HeaderValue, S3Error> {
    HeaderValue::try_from(format!("bytes={first}-{last}"))
        .map_err(|e| S3Error::internal(e.to_string()))
}

/// Serves an object that is not sealed exactly as the upstream stores it,
/// with the client's request unchanged (Range and partNumber included).
async fn forward_plaintext(
    state: &AppState,
    address: &ObjectAddress,
    method: &Method,
    client_headers: &HeaderMap,
) -> Result<Response<ProxyBody>, S3Error> {
    let headers = forward_request_headers(client_headers, Forward::SealedRead);
    let response = state
        .upstream
        .send(upstream_read(address, method.clone(), headers, false))
        .await?;
    if SealedObjectMetadata::from_headers(response.headers())?.is_some() {
        // Replaced by a sealed object between the two requests.
        return Err(S3Error::new(
            S3ErrorCode::ServiceUnavailable,
            "the object changed while it was being read; retry the request",
        ));
    }
    upstream_response::relay(response).await
}

fn with_parts(body: ProxyBody, status: StatusCode, headers: HeaderMap) -> Response<ProxyBody> {
    let mut out = Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// Unwraps an object's data key to read its content or its checksum, and
/// logs that key use (who, which key, which object, why).
pub async fn unwrap_key_to_read(
    state: &AppState,
    ctx: &RequestContext,
    object: &StoredObject,
    metadata: &SealedObjectMetadata,
    reason: &'static str,
) -> Result<DataKey, S3Error> {
    let data_key = unwrap_object_key(state, ctx, &object.bucket, &object.key, metadata).await?;
    tracing::info!(
        request_id = %ctx.request_id,
        kms_key_id = %metadata.data_key.kms_key_name(),
        principal = %ctx.principal.arn,
        bucket = %object.bucket,
        key = %object.key,
        reason,
        "unwrapped a data key to read an object"
    );
    Ok(data_key)
}

/// Unwraps the data key of the object stored at `bucket`/`key`: its encryption
/// context names that very object, so a wrapped key moved elsewhere fails.
pub async fn unwrap_object_key(
    state: &AppState,
    ctx: &RequestContext,
    bucket: &str,
    key: &str,
    metadata: &SealedObjectMetadata,
) -> Result<DataKey, S3Error> {
    let context = read_context(bucket, key, metadata)?;
    super::key_use::unwrap_data_key(
        state,
        ctx,
        &metadata.data_key,
        &context,
        super::key_use::ObjectRef { bucket, key },
    )
    .await
}

/// The context the data key was wrapped with: the object's ARN plus the client's pairs.
pub fn read_context(
    bucket: &str,
    key: &str,
    metadata: &SealedObjectMetadata,
) -> Result<EncryptionContext, S3Error> {
    let client = metadata
        .client_context
        .as_deref()
        .map(sse::parse_context)
        .transpose()?;
    sse::object_context(bucket, key, client.as_ref())
}

/// The object's stored size, from `Content-Range: bytes a-b/SIZE` or `Content-Length`.
pub fn stored_size(headers: &HeaderMap) -> Option<u64> {
    if let Some(range) = headers
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        return range.rsplit('/').next().and_then(|n| n.parse().ok());
    }
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn check_single_part_size(plaintext_len: u64, stored: u64) -> Result<(), S3Error> {
    let current = StreamLayout::default_layout();
    let expected = current.sealed_len(plaintext_len)?;
    // Objects written before checksum records (format 1) are shorter.
    let format_1 = current.without_record().sealed_len(plaintext_len)?;
    if stored != expected && stored != format_1 {
        return Err(S3Error::internal(format!(
            "the stored object is {stored} bytes but its metadata requires {expected}: it was truncated or altered on the upstream"
        )));
    }
    Ok(())
}
