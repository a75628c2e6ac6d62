//! CreateBucket and GetBucketLocation: the two operations that name a region.
//!
//! Clients see s3seal's region (`server.region`); the upstream has its own
//! (`upstream.region`, e.g. Garage's "garage"). A client's LocationConstraint
//! must name s3seal's region (as on AWS, where it must match the endpoint's),
//! and GetBucketLocation reports s3seal's region, never the upstream's.

use crate::body::ClientBody;
use bytes::Bytes;
use http::{HeaderValue, Response};

use super::RequestContext;
use super::passthrough::{exchange, read_small_body, send};
use super::upstream_response;
use crate::body::{self, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::state::AppState;

pub async fn create_bucket(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let bytes = read_small_body(&parts, ctx, body).await?;
    let region = &state.config.server.region;
    match location_constraint(&bytes)? {
        None => {}
        Some(requested) if &requested == region => {}
        Some(requested) if requested.is_empty() && region == "us-east-1" => {}
        Some(requested) => {
            return Err(S3Error::new(
                S3ErrorCode::IllegalLocationConstraintException,
                format!(
                    "The {requested} location constraint is incompatible for the region specific endpoint this request was sent to ({region})."
                ),
            ));
        }
    }
    // The upstream gets no configuration: its buckets live in its own region.
    let mut parts = parts;
    parts.headers.remove("content-md5");
    for algorithm in crate::integrity::ChecksumAlgorithm::ALL {
        parts.headers.remove(algorithm.header_name());
    }
    let response = send(state, ctx, parts, Bytes::new()).await?;
    upstream_response::relay(response).await
}

pub async fn get_bucket_location(
    state: &AppState,
    ctx: &RequestContext,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let response = exchange(state, ctx, parts, body).await?;
    if !response.status().is_success() {
        return upstream_response::relay_error(response).await;
    }
    // us-east-1 is reported as an empty constraint, as AWS does.
    let region = &state.config.server.region;
    let value = if region == "us-east-1" {
        String::new()
    } else {
        quick_xml::escape::escape(region.as_str()).into_owned()
    };
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{value}</LocationConstraint>"#
    );
    let mut out = Response::new(body::full(xml.clone()));
    out.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    out.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(xml.len()));
    Ok(out)
}

/// The `<LocationConstraint>` of a CreateBucketConfiguration body, if any.
pub fn location_constraint(xml: &[u8]) -> Result<Option<String>, S3Error> {
    use quick_xml::events::Event;
    if xml.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let malformed = || {
        S3Error::new(
            S3ErrorCode::InvalidRequest,
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    };
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut inside = false;
    let mut found = None;
    loop {
        match reader.read_event().map_err(|_| malformed())? {
            Event::Start(e) if e.local_name().as_ref() == b"LocationConstraint" => {
                inside = true;
                found.get_or_insert_with(String::new);
            }
            Event::Text(t) if inside => {
                found = Some(t.decode().map_err(|_| malformed())?.trim().to_string());
            }
            Event::End(e) if e.local_name().as_ref() == b"LocationConstraint" => inside = false,
            Event::Eof => return Ok(found),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_location_constraints() {
        let xml = br#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#;
        assert_eq!(
            location_constraint(xml).unwrap().as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(location_constraint(b"").unwrap(), None);
        assert_eq!(
            location_constraint(b"<CreateBucketConfiguration/>").unwrap(),
            None
        );
        assert_eq!(
            location_constraint(b"<C><LocationConstraint></LocationConstraint></C>")
                .unwrap()
                .as_deref(),
            Some("")
        );
        assert!(location_constraint(b"<C><LocationConstraint>x</Other></C>").is_err());
    }
}
