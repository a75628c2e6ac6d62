//! ListObjects, ListObjectsV2 and ListObjectVersions with plaintext sizes.
//!
//! The upstream listing is rewritten event by event with quick-xml: every
//! event is written back unchanged except the `<Size>` of each `<Contents>` /
//! `<Version>` entry, which becomes the object's plaintext size. Sizes come
//! from the [object index](super::object_index) on the common path; an entry
//! the index does not know (an object written directly to the upstream, or an
//! index that was lost) costs one HEAD, whose answer is then indexed.

use crate::body::ClientBody;
use bytes::Bytes;
use http::{HeaderValue, Method, Response};
use quick_xml::events::{BytesText, Event};

use super::RequestContext;
use super::layouts::{self, StoredObject};
use super::object_get::stored_size;
use super::object_index::IndexEntry;
use super::passthrough::exchange;
use super::upstream_response;
use crate::body::{self, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::seal::{SealedObjectMetadata, SealedShape};
use crate::state::AppState;
use crate::upstream::UpstreamRequest;

/// Upper bound on an upstream listing page (1000 entries with 1 KiB keys fit easily).
const MAX_LISTING_BODY: usize = 16 * 1024 * 1024;

pub async fn list(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let response = exchange(state, ctx, parts, body).await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    let (head, incoming) = response.into_parts();
    let xml = upstream_response::collect_limited(incoming, MAX_LISTING_BODY).await?;
    let bucket = ctx.s3.bucket.as_deref().unwrap_or_default();
    let url_encoded = ctx.s3.query_value("encoding-type") == Some("url");
    let rewritten = rewrite_sizes(&xml, &[b"Contents", b"Version"], |entry| {
        resolve_size(state, bucket, url_encoded, entry)
    })
    .await?;
    let mut out = Response::new(body::full(rewritten.clone()));
    *out.status_mut() = head.status;
    *out.headers_mut() = super::headers::relay_response_headers(&head.headers, false);
    out.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(rewritten.len()),
    );
    Ok(out)
}

/// What the listing says about one object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    pub key: String,
    pub etag: String,
    pub version_id: Option<String>,
    pub size: u64,
    /// ListParts' `<PartNumber>`.
    pub part_number: Option<u32>,
}

/// What to write for one entry: its `<Size>`, and elements to append to it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EntryRewrite {
    pub size: u64,
    pub extra: Vec<(&'static str, String)>,
}

/// Rewrites the `<Size>` of every entry element named in `entries` (such as
/// `<Contents>` and `<Version>`, or ListParts' `<Part>`) with `size_of(entry)`.
pub async fn rewrite_sizes<F, Fut>(
    xml: &[u8],
    entries: &[&[u8]],
    mut size_of: F,
) -> Result<Bytes, S3Error>
where
    F: FnMut(ListedEntry) -> Fut,
    Fut: std::future::Future<Output = Result<u64, S3Error>>,
{
    rewrite_entries(xml, entries, |entry| {
        let size = size_of(entry);
        async move {
            Ok(EntryRewrite {
                size: size.await?,
                extra: Vec::new(),
            })
        }
    })
    .await
}

/// Rewrites every entry element named in `entries`: its `<Size>`, plus
/// elements appended to it, as `rewrite_of(entry)` says.
pub async fn rewrite_entries<F, Fut>(
    xml: &[u8],
    entries: &[&[u8]],
    mut rewrite_of: F,
) -> Result<Bytes, S3Error>
where
    F: FnMut(ListedEntry) -> Fut,
    Fut: std::future::Future<Output = Result<EntryRewrite, S3Error>>,
{
    let malformed = |e: &dyn std::fmt::Display| {
        S3Error::internal(format!("the upstream listing is not valid XML: {e}"))
    };
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(xml.len() + 64));
    // Events of the entry being read, buffered until its size is known.
    let mut entry: Option<(Vec<Event<'static>>, ListedEntry)> = None;
    let mut depth_in_entry = 0usize;
    let mut field: Option<Vec<u8>> = None;
    let mut text = String::new();
    loop {
        let event = reader.read_event().map_err(|e| malformed(&e))?;
        match &event {
            Event::Eof => break,
            Event::Start(start)
                if entry.is_none() && entries.contains(&start.local_name().as_ref()) =>
            {
                entry = Some((vec![event.clone().into_owned()], ListedEntry::default()));
                depth_in_entry = 0;
                continue;
            }
            _ => {}
        }
        let Some((events, listed)) = entry.as_mut() else {
            writer.write_event(event).map_err(|e| malformed(&e))?;
            continue;
        };
        match &event {
            Event::Start(start) => {
                depth_in_entry += 1;
                if depth_in_entry == 1 {
                    field = Some(start.local_name().as_ref().to_vec());
                    text.clear();
                }
            }
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| malformed(&e))?)
            }
            Event::GeneralRef(r) if field.is_some() => {
                let name = r.decode().map_err(|e| malformed(&e))?;
                text.push_str(
                    &resolve_entity(&name)
                        .ok_or_else(|| malformed(&format!("unknown entity &{name};")))?,
                );
            }
            Event::End(end) if depth_in_entry == 0 => {
                // The entry ends: resolve its size, then write it with the new <Size>.
                events.push(Event::End(end.clone().into_owned()));
                let (events, listed) = entry.take().expect("inside an entry");
                let rewrite = rewrite_of(listed).await?;
                write_entry(&mut writer, events, &rewrite).map_err(|e| malformed(&e))?;
                continue;
            }
            Event::End(_) => {
                if depth_in_entry == 1 {
                    match field.take().as_deref() {
                        Some(b"Key") => listed.key = std::mem::take(&mut text),
                        Some(b"ETag") => listed.etag = std::mem::take(&mut text),
                        Some(b"VersionId") => listed.version_id = Some(std::mem::take(&mut text)),
                        Some(b"PartNumber") => listed.part_number = text.trim().parse().ok(),
                        Some(b"Size") => {
                            listed.size = text
                                .trim()
                                .parse()
                                .map_err(|_| malformed(&"a <Size> is not a number"))?
                        }
                        _ => {}
                    }
                }
                depth_in_entry = depth_in_entry.saturating_sub(1);
            }
            _ => {}
        }
        events.push(event.into_owned());
    }
    if entry.is_some() {
        return Err(malformed(&"the listing ends inside an entry"));
    }
    Ok(Bytes::from(writer.into_inner()))
}

/// Writes a buffered entry, replacing the text of its `<Size>` child and
/// appending the extra elements before its end.
fn write_entry(
    writer: &mut quick_xml::Writer<Vec<u8>>,
    events: Vec<Event<'static>>,
    rewrite: &EntryRewrite,
) -> Result<(), quick_xml::Error> {
    let size = rewrite.size;
    let mut in_size = false;
    let mut depth = 0usize;
    for event in events {
        match &event {
            Event::Start(s) => {
                depth += 1;
                if depth == 2 && s.local_name().as_ref() == b"Size" {
                    writer.write_event(event)?;
                    writer.write_event(Event::Text(BytesText::new(&size.to_string())))?;
                    in_size = true;
                    continue;
                }
            }
            Event::End(_) => {
                if depth == 1 {
                    for (name, value) in &rewrite.extra {
                        writer
                            .create_element(*name)
                            .write_text_content(BytesText::new(value))?;
                    }
                }
                depth = depth.saturating_sub(1);
                in_size = false;
            }
            Event::Text(_) | Event::GeneralRef(_) if in_size => continue,
            _ => {}
        }
        writer.write_event(event)?;
    }
    Ok(())
}

fn resolve_entity(name: &str) -> Option<String> {
    match name {
        "amp" => Some("&".into()),
        "lt" => Some("<".into()),
        "gt" => Some(">".into()),
        "quot" => Some("\"".into()),
        "apos" => Some("'".into()),
        _ => {
            let code = name
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| name.strip_prefix('#').map(|d| d.parse()))?;
            char::from_u32(code.ok()?).map(String::from)
        }
    }
}

/// The plaintext size of a listed object: from the index, else from one HEAD.
/// Public only for the listing benchmark (benches/listing.rs).
#[doc(hidden)]
pub async fn resolve_size(
    state: &AppState,
    bucket: &str,
    url_encoded: bool,
    listed: ListedEntry,
) -> Result<u64, S3Error> {
    let key = if url_encoded {
        decode_url_key(&listed.key)?
    } else {
        listed.key.clone()
    };
    if listed.version_id.is_none()
        && let Some(entry) = state.index.lookup(bucket, &key, &listed.etag)
    {
        return Ok(entry.plaintext_size.unwrap_or(listed.size));
    }
    let query = listed
        .version_id
        .iter()
        .map(|v| ("versionId".to_string(), v.clone()))
        .collect();
    let request = UpstreamRequest::bodyless(
        Method::HEAD,
        Some(bucket.to_string()),
        Some(key.clone()),
        query,
    );
    let head = state.upstream.send(request).await?;
    if !head.status().is_success() {
        // Deleted since the listing was made (or a delete marker): keep the listed size.
        return Ok(listed.size);
    }
    let etag = head
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let object = StoredObject {
        bucket: bucket.to_string(),
        key: key.clone(),
        version_id: listed.version_id.clone(),
        etag: head.headers().get(http::header::ETAG).cloned(),
        stored_size: stored_size(head.headers()).unwrap_or(listed.size),
    };
    let plaintext_size = match plaintext_size(state, &object, head.headers()).await {
        Ok(size) => size,
        Err(err) => {
            // One unreadable object must not break the listing: report it as stored.
            tracing::warn!(bucket, key = %key, error = %err.message, "cannot size a sealed object for a listing");
            return Ok(listed.size);
        }
    };
    if listed.version_id.is_none() && etag == listed.etag {
        let entry = IndexEntry {
            etag,
            plaintext_size,
        };
        state.index.record(bucket, &key, &entry);
    }
    Ok(plaintext_size.unwrap_or(listed.size))
}

/// The plaintext size of a stored object from its HEAD: `None` if it is not sealed.
pub async fn plaintext_size(
    state: &AppState,
    object: &StoredObject,
    head: &http::HeaderMap,
) -> Result<Option<u64>, S3Error> {
    match SealedObjectMetadata::from_headers(head)? {
        None => Ok(None),
        Some(metadata) => match metadata.shape {
            SealedShape::SinglePart { plaintext_len } => Ok(Some(plaintext_len)),
            SealedShape::Multipart { object_id } => {
                let layout = layouts::multipart_layout(state, object, &object_id).await?;
                Ok(Some(layout.plaintext_len()))
            }
        },
    }
}

/// Keys of `encoding-type=url` listings are form-encoded.
fn decode_url_key(key: &str) -> Result<String, S3Error> {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            S3Error::new(
                S3ErrorCode::InternalError,
                "the upstream listing holds a key that is not valid UTF-8",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(xml: &str, sizes: impl Fn(&ListedEntry) -> u64) -> (String, Vec<ListedEntry>) {
        let seen = std::cell::RefCell::new(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt
            .block_on(rewrite_sizes(
                xml.as_bytes(),
                &[b"Contents", b"Version"],
                |e| {
                    let size = sizes(&e);
                    seen.borrow_mut().push(e);
                    async move { Ok(size) }
                },
            ))
            .unwrap();
        (String::from_utf8(out.to_vec()).unwrap(), seen.into_inner())
    }

    const V2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>2</KeyCount><Contents><Key>a &amp; b.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>52</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>plain</Key><ETag>"e2"</ETag><Size>10</Size><Owner><ID>x</ID><DisplayName>Size</DisplayName></Owner></Contents><IsTruncated>false</IsTruncated></ListBucketResult>"#;

    #[test]
    fn extra_elements_are_appended_to_entries() {
        let xml = br#"<ListPartsResult><Part><PartNumber>2</PartNumber><ETag>"p"</ETag><Size>108</Size></Part></ListPartsResult>"#;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt
            .block_on(rewrite_entries(xml, &[b"Part"], |e| async move {
                assert_eq!(e.part_number, Some(2));
                Ok(EntryRewrite {
                    size: 1,
                    extra: vec![("ChecksumCRC32", "AAAAAA==".to_string())],
                })
            }))
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"<ListPartsResult><Part><PartNumber>2</PartNumber><ETag>"p"</ETag><Size>1</Size><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></ListPartsResult>"#
        );
    }

    #[test]
    fn only_sizes_change() {
        let (out, seen) = run(V2, |e| if e.key == "plain" { e.size } else { 0 });
        assert_eq!(
            seen[0],
            ListedEntry {
                key: "a & b.txt".into(),
                etag: "\"e1\"".into(),
                version_id: None,
                size: 52,
                part_number: None,
            }
        );
        assert_eq!(seen[1].etag, "\"e2\"");
        assert_eq!(
            out,
            V2.replace("<Size>52</Size>", "<Size>0</Size>"),
            "everything else is byte-identical"
        );
    }

    #[test]
    fn versions_and_markers() {
        let xml = r#"<ListVersionsResult><Version><Key>k</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest><ETag>"e"</ETag><Size>100</Size></Version><DeleteMarker><Key>k</Key><VersionId>v0</VersionId></DeleteMarker></ListVersionsResult>"#;
        let (out, seen) = run(xml, |_| 48);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].version_id.as_deref(), Some("v1"));
        assert!(out.contains("<Size>48</Size>") && out.contains("<DeleteMarker><Key>k</Key>"));
    }

    #[test]
    fn malformed_listings_are_errors() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for bad in [
            "<L><Contents><Key>k</Key><Size>x</Size></Contents></L>",
            "<L><Contents><Key>k</Key>",
            "<L><Contents><Key>&bogus;</Key></Contents></L>",
        ] {
            let result = rt.block_on(rewrite_sizes(bad.as_bytes(), &[b"Contents"], |_| async {
                Ok(0)
            }));
            assert!(result.is_err(), "{bad}");
        }
        assert_eq!(decode_url_key("a+b%2Bc%2F").unwrap(), "a b+c/");
    }
}
